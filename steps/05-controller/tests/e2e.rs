//! End-to-end tests of step 05: the very same mirror suite as step 04, run against the
//! Controller-based implementation, and the suite of the mirror into another namespace
//! (`--into`), whose sources carry a finalizer. The suites are test code, not a solution:
//! read them in the test kit, solutions/testkit/src/mirror.rs and mirror_into.rs. And one test
//! of what only this step has: the failure counts it keeps per source, because kube-runtime
//! keeps none.
//! Run with `scripts/check.sh 05`.

use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::events::v1::Event;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};
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
