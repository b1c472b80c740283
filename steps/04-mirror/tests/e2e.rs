//! End-to-end tests of step 04 against a real API server: the shared mirror suite
//! (solutions/testkit/src/mirror.rs), run against this step's controller, and tests of
//! `reconcile_source` acting on a cache that is behind the API server. Run with
//! `scripts/check.sh 04`.

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, PostParams};
use kube::runtime::{reflector, watcher};
use kube::{Api, Client, ResourceExt};
use mirror::{Error, Mirror, desired};
use workshop_testkit::{TestNamespace, apply_manifest, service_account_client};

/// Runs this step's mirror, scoped to `namespace`, until dropped.
fn start(
    client: Client,
    namespace: String,
) -> BoxFuture<'static, anyhow::Result<()>> {
    Box::pin(async move {
        mirror::start(client, Some(&namespace), 2, std::future::pending()).await?;
        Ok(())
    })
}

workshop_testkit::mirror_suite!(start);

/// A ConfigMap named `name` in `api`'s namespace, managed or not, as the API server stored it.
async fn create(
    api: &Api<ConfigMap>,
    name: &str,
    managed: bool,
) -> anyhow::Result<ConfigMap> {
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some(name.into());
    cm.data = Some([("a".to_string(), "1".to_string())].into());
    if managed {
        cm.labels_mut()
            .insert(desired::MANAGED_LABEL.into(), "true".into());
    }
    Ok(api.create(&PostParams::default(), &cm).await?)
}

/// A mirror, acting as the controller's ServiceAccount, whose cache holds exactly `cached`
/// (whatever the API server holds): a cache that is behind, on purpose.
async fn mirror_with_cache(cached: &[&ConfigMap]) -> std::sync::Arc<Mirror> {
    apply_manifest("rbac/mirror.yaml").await;
    let (store, mut writer) = reflector::store();
    for cm in cached {
        writer.apply_watcher_event(&watcher::Event::Apply((*cm).clone()));
    }
    Mirror::new(
        service_account_client("workshop-system", "configmap-mirror").await,
        store,
    )
}

// A source whose label was removed, while the cache still shows the companion it had: the
// companion has since been deleted, and someone created a ConfigMap of the same name. The delete
// carries the cached companion's uid as a precondition, so the API server refuses it (409) and
// the reconcile fails, to be retried with a fresh cache; the other ConfigMap is not deleted.
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 04 runs it)"]
async fn a_stale_cache_never_deletes_a_configmap_that_is_not_ours()
-> anyhow::Result<()> {
    let admin = workshop_testkit::client().await;
    let ns = TestNamespace::create(&admin, "mirror-stale-delete").await?;
    let api: Api<ConfigMap> = Api::namespaced(admin, ns.name());
    let source = create(&api, "x", false).await?;
    let someones = create(&api, "x-synced", false).await?;
    let mut gone = desired::desired_companion(&source)?;
    gone.metadata.uid = Some("uid-of-a-companion-deleted-since".into());
    let mirror = mirror_with_cache(&[&source, &gone]).await;

    let result = mirror.reconcile_source(ns.name(), "x", Some(&source)).await;
    assert!(
        matches!(&result, Err(Error::Api(kube::Error::Api(status))) if status.is_conflict()),
        "deleting with a uid precondition that no longer holds must fail with 409 Conflict, got {result:?}"
    );
    let after = api.get_opt("x-synced").await?;
    assert_eq!(
        after.map(|cm| cm.uid()),
        Some(someones.uid()),
        "x-synced, which the source does not control, was deleted"
    );

    // Once it is gone too, there is nothing left to delete: done, not an error.
    api.delete("x-synced", &DeleteParams::default()).await?;
    let result = mirror.reconcile_source(ns.name(), "x", Some(&source)).await;
    assert!(
        result.is_ok(),
        "deleting a companion that is already gone must succeed, got {result:?}"
    );
    Ok(())
}

// A managed source whose companion exists, though the cache has not seen it yet (typically the
// one this controller created a moment ago): the create answers 409 AlreadyExists, which says
// the cache is behind. Any other failed create is reported as it is.
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 04 runs it)"]
async fn a_create_that_finds_the_companion_says_the_cache_is_behind()
-> anyhow::Result<()> {
    let admin = workshop_testkit::client().await;
    let ns = TestNamespace::create(&admin, "mirror-stale-create").await?;
    let api: Api<ConfigMap> = Api::namespaced(admin, ns.name());
    let source = create(&api, "y", true).await?;
    api.create(
        &PostParams::default(),
        &desired::desired_companion(&source)?,
    )
    .await?;
    let mirror = mirror_with_cache(&[&source]).await;

    let result = mirror.reconcile_source(ns.name(), "y", Some(&source)).await;
    assert!(
        matches!(result, Err(Error::CacheBehind)),
        "a create that finds the companion must say Error::CacheBehind, got {result:?}"
    );

    // The same source in a namespace that does not exist: that create fails for another reason.
    let mut elsewhere = source.clone();
    let missing = format!("{}-missing", ns.name());
    elsewhere.metadata.namespace = Some(missing.clone());
    let mirror = mirror_with_cache(&[&elsewhere]).await;
    let result = mirror
        .reconcile_source(&missing, "y", Some(&elsewhere))
        .await;
    assert!(
        matches!(result, Err(Error::Api(_))),
        "a create that fails for another reason than AlreadyExists must say so (Error::Api), got {result:?}"
    );
    Ok(())
}
