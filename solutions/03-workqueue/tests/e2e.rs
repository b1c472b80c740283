//! End-to-end test of step 03 against a real API server: a change to a ConfigMap reaches a
//! worker as its key, failures back off exponentially, and the key succeeds in the end.
//! Run with `scripts/check.sh 03`.

use std::time::Duration;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::api::PostParams;
use tokio::time::Instant;
use workshop_testkit::TestNamespace;

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 03 runs it)"]
async fn a_change_is_reconciled_after_backing_off_5_10_20_ms() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    let ns = TestNamespace::create(&client, "workqueue").await?;
    let args = workqueue::Args {
        watch: informer::Args {
            namespace: Some(ns.name().to_string()),
            selector: Some("workshop.io/test-object=workqueue".into()),
            context: None,
        },
        workers: 2,
        fail_first: 3,
    };
    let controller = workqueue::controller(client.clone(), &args);
    let mut outcomes = controller.outcomes();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(workqueue::run(controller, args.workers, async {
        let _ = stopped.await;
    }));

    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "queued", "labels": { "workshop.io/test-object": "workqueue" } },
        "data": { "k": "v" }
    }))?;
    api.create(&PostParams::default(), &cm).await?;

    let key = format!("{}/queued", ns.name());
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while seen
        .last()
        .is_none_or(|o: &workqueue::Outcome| o.error.is_some())
    {
        let outcome = tokio::time::timeout_at(deadline, outcomes.recv())
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "no successful reconcile of {key} within 15s; saw {seen:?}"
                )
            })??;
        if outcome.key == key {
            seen.push(outcome);
        }
    }

    let attempts: Vec<_> = seen.iter().map(|o| o.attempt).collect();
    assert_eq!(attempts, [1, 2, 3, 4], "{seen:?}");
    let ms = Duration::from_millis;
    let waits: Vec<_> = seen.iter().map(|o| o.retry_in).collect();
    assert_eq!(waits, [Some(ms(5)), Some(ms(10)), Some(ms(20)), None]);
    // Each retry really waited at least as long as promised.
    for pair in seen.windows(2) {
        let (failed, next) = (&pair[0], &pair[1]);
        let waited = next.started - (failed.started + failed.took);
        let promised = failed.retry_in.unwrap_or_default();
        assert!(
            waited >= promised,
            "retry after {waited:?}, promised {promised:?}"
        );
    }

    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(10), running).await???;
    Ok(())
}
