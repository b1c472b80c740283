//! End-to-end tests of step 05: the very same mirror suite as step 04, run against the
//! Controller-based implementation, and the suite of the mirror into another namespace
//! (`--into`), whose sources carry a finalizer. The suites are test code, not a solution:
//! read them in the test kit, solutions/testkit/src/mirror.rs and mirror_into.rs. And one test
//! of what only this step has: the failure counts it keeps per source, because kube-runtime
//! keeps none.
//! Run with `scripts/check.sh 05`.

use std::sync::Arc;
use std::time::Duration;

use controller::into::FINALIZER;
use futures::StreamExt;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
// Step 04's crate (`::mirror`), not the test kit's suite of the same name (`mirror`).
use ::mirror::desired::MANAGED_LABEL;
use workshop_testkit::mirror_into::{Harness, OTHER_FINALIZER};
use workshop_testkit::under_test::Graceful;
use workshop_testkit::{
    TestNamespace, apply_manifest, configmap, mirror, service_account_client,
    wait_until,
};

/// Runs this step's mirror, scoped to `namespace`, until dropped.
fn start(
    client: Client,
    namespace: String,
) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        controller::start(client, Some(&namespace), 2, 0, std::future::pending())
            .await;
        Ok(())
    })
}

workshop_testkit::mirror_suite!(start);

/// How many sources each round creates, makes fail, and deletes.
const CHURN: usize = 50;
const ROUNDS: usize = 2;

// ANCHOR: churn_test
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 05 runs it)"]
async fn the_backoff_forgets_sources_that_are_gone() -> anyhow::Result<()> {
    let admin = workshop_testkit::client().await;
    apply_manifest("rbac/mirror.yaml").await;
    let ns = TestNamespace::create(&admin, "mirror-churn").await?;
    let api: Api<ConfigMap> = Api::namespaced(admin.clone(), ns.name());
    let events: Api<Event> = Api::namespaced(admin.clone(), ns.name());
    let as_controller =
        service_account_client("workshop-system", "configmap-mirror").await;
    let namespace = ns.name().to_string();
    let running = Graceful::start(|shutdown| async move {
        controller::start(as_controller, Some(&namespace), 2, 0, shutdown).await
    });

    // Each round: CHURN sources that fail (a foreign ConfigMap holds each one's
    // companion name: Blocked, retried with backoff), then deleted. Every name is new.
    let post = PostParams::default();
    for round in 0..ROUNDS {
        let names: Vec<String> =
            (0..CHURN).map(|i| format!("churn-{round}-{i}")).collect();
        for name in &names {
            api.create(&post, &configmap(&format!("{name}-synced"), &[]))
                .await?;
            let source = mirror::managed_configmap(name, &[("a", "1")]);
            api.create(&post, &source).await?;
        }
        // Each has failed once the controller has said why (the Event comes just
        // before the failure is counted).
        let what = format!("round {round}: a CompanionExists Event on each source");
        wait_until(&what, Duration::from_secs(60), || async {
            let list = events.list(&ListParams::default()).await?;
            let blocked = names.iter().all(|name| {
                list.items
                    .iter()
                    .any(|e| mirror::reports_companion_exists(e, name))
            });
            Ok(blocked.then_some(()))
        })
        .await?;
        for name in &names {
            api.delete(name, &DeleteParams::default()).await?;
            api.delete(&format!("{name}-synced"), &DeleteParams::default())
                .await?;
        }
    }
    // A last source, and its companion: the watch reports in order, so once the
    // controller has acted on this one, it has heard of every deletion before it.
    let last = mirror::managed_configmap("last", &[("a", "1")]);
    api.create(&post, &last).await?;
    wait_until(
        "last-synced to be created",
        Duration::from_secs(30),
        || async { Ok(api.get_opt("last-synced").await?.map(|_| ())) },
    )
    .await?;

    let entries = running.stop().await?.backoff_entries();
    eprintln!(
        "{} sources created, failed and deleted: the backoff holds {entries} entries",
        CHURN * ROUNDS
    );
    assert_eq!(
        entries,
        0,
        "{} sources were created, failed (Blocked) and deleted, and the backoff still \
         holds a failure count for {entries} of them. kube-runtime never reconciles an \
         object that left its cache, so nothing resets those counts: the map grows with \
         every source that failed once, and a source created again under one of those \
         names would start from the old count. A source's count must go when the source \
         does",
        CHURN * ROUNDS
    );
    Ok(())
}
// ANCHOR_END: churn_test

// ANCHOR: lean_watch_tests
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 05 runs it)"]
async fn the_cache_holds_no_managed_fields() -> anyhow::Result<()> {
    let admin = workshop_testkit::client().await;
    let ns = TestNamespace::create(&admin, "lean-cache").await?;
    let api: Api<ConfigMap> = Api::namespaced(admin.clone(), ns.name());
    let stored = api
        .create(
            &PostParams::default(),
            &mirror::managed_configmap("colors", &[("red", "#f00")]),
        )
        .await?;
    assert!(
        !stored.managed_fields().is_empty(),
        "the API server records who wrote colors in its managedFields"
    );

    // The watch, run until its first list is in the cache.
    let (cache, writer) = reflector::store();
    let mut events =
        controller::lean_watch(api.clone(), watcher::Config::default(), writer);
    tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            if let Ok(watcher::Event::InitDone) = event {
                return;
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("the watch listed nothing within 30 s"))?;

    let cached = cache
        .get(&ObjectRef::new("colors").within(ns.name()))
        .ok_or_else(|| anyhow::anyhow!("the cache does not hold colors"))?;
    let fields = cached.managed_fields().len();
    assert_eq!(
        fields, 0,
        "the cache holds colors with its {fields} managedFields entries: the cache must \
         hold every ConfigMap without them (the events passed on may lack them, but what \
         counts is what the store keeps). Drop them before the objects reach the store"
    );
    Ok(())
}

/// How long the next test watches a watch that is refused.
const REFUSED_FOR: Duration = Duration::from_secs(3);
/// How many failures of a refused watch in that time are retries with backoff: kube's
/// default backoff waits 0.8 s, then twice as long each time.
const RETRIES_WITH_BACKOFF: usize = 10;

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 05 runs it)"]
async fn a_refused_watch_is_retried_with_backoff() -> anyhow::Result<()> {
    let admin = workshop_testkit::client().await;
    let ns = TestNamespace::create(&admin, "lean-refused").await?;
    // A ServiceAccount that was granted nothing: the API server refuses it the list
    // (403 Forbidden), every time.
    let nobody = service_account_client(ns.name(), "granted-nothing").await;
    let api: Api<ConfigMap> = Api::namespaced(nobody, ns.name());
    let (_cache, writer) = reflector::store();
    let mut events = controller::lean_watch(api, watcher::Config::default(), writer);
    let deadline = tokio::time::Instant::now() + REFUSED_FOR;
    let mut failures = Vec::new();
    // (A hot loop fails thousands of times in that time: stop counting well before.)
    while failures.len() <= 5 * RETRIES_WITH_BACKOFF {
        match tokio::time::timeout_at(deadline, events.next()).await {
            Err(_) | Ok(None) => break,
            // A watch announces each (re)start of its list before it asks for it.
            Ok(Some(Ok(watcher::Event::Init))) => {}
            Ok(Some(Ok(event))) => anyhow::bail!(
                "a ServiceAccount granted nothing was allowed to watch ConfigMaps: {event:?}"
            ),
            Ok(Some(Err(err))) => failures.push(err.to_string()),
        }
    }
    let first = failures.first().cloned().unwrap_or_default();
    assert!(
        !failures.is_empty(),
        "a watch the API server refuses must report its failures (the stream yields \
         them as errors), yet none came within {REFUSED_FOR:?}"
    );
    assert!(
        failures.len() <= RETRIES_WITH_BACKOFF,
        "a watch that the API server refuses ({first}) failed {}{} times within \
         {REFUSED_FOR:?}: it is retried at once, each time, a list request after \
         another, as fast as the API server answers. A watch that fails is retried with \
         backoff (kube's waits 0.8 s, then longer each time): at most \
         {RETRIES_WITH_BACKOFF} failures in that time",
        failures.len(),
        if failures.len() > 5 * RETRIES_WITH_BACKOFF {
            " or more"
        } else {
            ""
        },
    );
    Ok(())
}
// ANCHOR_END: lean_watch_tests

/// Runs this step's mirror from `namespace` into `into`, until dropped.
fn start_into(
    client: Client,
    namespace: String,
    into: String,
) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        controller::into::start(client, &namespace, &into, 2, std::future::pending())
            .await;
        Ok(())
    })
}

workshop_testkit::mirror_into_suite!(start_into);

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 05 runs it)"]
async fn into_a_release_never_overwrites_a_change_it_has_not_seen()
-> anyhow::Result<()> {
    let mut h = Harness::with_colors(start_into, "into-unseen").await?;
    h.stop_controller().await;
    // colors loses its label: what the watch brings the controller's cache.
    let unmanage =
        serde_json::json!({ "metadata": { "labels": { MANAGED_LABEL: null } } });
    let seen = Harness::edit(&h.sources, "colors", &unmanage).await?;
    // Then, before the controller's cache has it, another controller adds its
    // finalizer.
    h.add_other_finalizer("colors").await?;
    // The reconcile that the lost label woke, working from the copy it was given.
    let (sources, _) = reflector::store();
    let (companions, _) = reflector::store();
    let ctx = controller::into::Context::new(
        Harness::as_controller().await,
        h.source_ns.name(),
        h.target_ns.name(),
        sources,
        companions,
    );
    let result = controller::into::reconcile(Arc::new(seen), Arc::new(ctx)).await;
    let finalizers = h.sources.get("colors").await?.finalizers().to_vec();
    assert!(
        finalizers.iter().any(|f| f == OTHER_FINALIZER),
        "another controller added its finalizer {OTHER_FINALIZER} to colors after the \
         copy of colors the release worked from was read, and the release took it off: \
         colors now has the finalizers {finalizers:?} (the reconcile returned {result:?}). \
         A change made since the cache saw the object is never overwritten: the write \
         that removes {FINALIZER} applies only to the version it was computed from (the \
         API server answers 409 Conflict to any other, and the retry starts from the new \
         one), or changes nothing but that one entry"
    );
    Ok(())
}
