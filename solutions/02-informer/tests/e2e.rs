//! End-to-end test of step 02 against a real API server: the informer sees exactly the changes
//! we make, in order. Run with `scripts/check.sh 02`.

use std::time::Duration;

use informer::{Informer, Notification};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use workshop_testkit::TestNamespace;

/// The next notification, or an error naming what we waited for.
async fn next(
    informer: &mut Informer<ConfigMap>,
    what: &str,
) -> anyhow::Result<Notification<ConfigMap>> {
    match tokio::time::timeout(Duration::from_secs(10), informer.next()).await {
        Ok(Some(Ok(notification))) => Ok(notification),
        Ok(Some(Err(err))) => {
            anyhow::bail!("watch error while waiting for {what}: {err}")
        }
        Ok(None) => anyhow::bail!("the watch ended while waiting for {what}"),
        Err(_) => {
            anyhow::bail!("no notification within 10s while waiting for {what}")
        }
    }
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 02 runs it)"]
async fn create_patch_delete_are_seen_as_add_update_delete_in_order()
-> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    let ns = TestNamespace::create(&client, "informer").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    // The selector keeps out the namespace's own kube-root-ca.crt, so every notification is ours.
    let selector = "workshop.io/test-object=informer";
    let mut informer =
        Informer::new(api.clone(), informer::watch_config(Some(selector)));

    let synced = next(&mut informer, "the cache to sync").await?;
    assert!(
        matches!(synced, Notification::Synced),
        "expected Synced first, got {synced}"
    );

    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "watched", "labels": { "workshop.io/test-object": "informer" } },
        "data": { "color": "red" }
    }))?;
    api.create(&PostParams::default(), &cm).await?;
    let patch = serde_json::json!({ "data": { "color": "blue" } });
    api.patch("watched", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    api.delete("watched", &DeleteParams::default()).await?;

    let key = format!("{}/watched", ns.name());
    let mut seen = Vec::new();
    for what in ["ADD", "UPDATE", "DELETE"] {
        seen.push(next(&mut informer, what).await?.to_string());
    }
    assert_eq!(
        seen,
        [
            format!("ADD {key}"),
            format!("UPDATE {key}"),
            format!("DELETE {key}")
        ]
    );

    // And nothing more: three changes, three notifications.
    let extra =
        tokio::time::timeout(Duration::from_millis(500), informer.next()).await;
    assert!(
        extra.is_err(),
        "unexpected extra notification: {:?}",
        extra.ok().flatten().map(|n| n.map(|n| n.to_string()))
    );
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 02 runs it)"]
async fn the_store_serves_reads_after_sync() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    let ns = TestNamespace::create(&client, "informer-store").await?;
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "cached" }, "data": { "k": "v" }
    }))?;
    api.create(&PostParams::default(), &cm).await?;

    let mut informer = Informer::new(api, informer::watch_config(None));
    let store = informer.store();
    loop {
        if let Notification::Synced = next(&mut informer, "the cache to sync").await?
        {
            break;
        }
    }
    let cached = store
        .get(&kube::runtime::reflector::ObjectRef::new("cached").within(ns.name()))
        .ok_or_else(|| {
            anyhow::anyhow!("the synced store does not hold the ConfigMap")
        })?;
    assert_eq!(
        cached
            .data
            .as_ref()
            .and_then(|d| d.get("k"))
            .map(String::as_str),
        Some("v")
    );
    Ok(())
}
