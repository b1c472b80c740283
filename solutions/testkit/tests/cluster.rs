//! End-to-end tests of the local cluster itself: the things every later step relies on.
//!
//! If one of these fails, no step can pass, and the message says which piece of the control
//! plane is missing: the API server, a Ready node, the scheduler and the fake kubelet (KWOK), or
//! the garbage collector in kube-controller-manager.

use std::process::Command;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Node, Pod};
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use workshop_testkit::{TestNamespace, wait_until};

/// Runs kubectl against the same kubeconfig the tests use, returning its stdout.
fn kubectl(args: &[&str]) -> anyhow::Result<String> {
    let output = Command::new("kubectl").args(args).output()?;
    anyhow::ensure!(
        output.status.success(),
        "kubectl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/test.sh runs it)"]
async fn kubectl_reads_the_server_version() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    let raw: serde_json::Value =
        serde_json::from_str(&kubectl(&["get", "--raw", "/version"])?)?;
    let from_kube = client.apiserver_version().await?;
    assert_eq!(raw["gitVersion"], from_kube.git_version.as_str());
    assert!(from_kube.git_version.starts_with("v1."), "{raw}");
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/test.sh runs it)"]
async fn the_cluster_has_a_ready_node() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    let names = kubectl(&["get", "nodes", "-o", "name"])?;
    assert!(!names.trim().is_empty(), "kubectl get nodes listed none");
    let nodes = Api::<Node>::all(client)
        .list(&ListParams::default())
        .await?;
    let ready = nodes.items.iter().any(|node| {
        node.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .into_iter()
            .flatten()
            .any(|c| c.type_ == "Ready" && c.status == "True")
    });
    assert!(ready, "no node is Ready: {names}");
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/test.sh runs it)"]
async fn a_pod_is_scheduled_and_reaches_running() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    let ns = TestNamespace::create(&client, "cluster-pod").await?;
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns.name());
    let pod: Pod = serde_json::from_value(serde_json::json!({
        "metadata": { "name": "hello" },
        "spec": { "containers": [{ "name": "main", "image": "busybox:1.36", "command": ["true"] }] }
    }))?;
    pods.create(&PostParams::default(), &pod).await?;

    let (node, _) = wait_until(
        "the pod to be scheduled",
        Duration::from_secs(30),
        || async {
            let pod = pods.get("hello").await?;
            Ok(pod.spec.and_then(|s| s.node_name))
        },
    )
    .await?;
    let nodes = Api::<Node>::all(client.clone());
    assert!(
        nodes.get_opt(&node).await?.is_some(),
        "scheduled to unknown node {node}"
    );
    wait_until("the pod to be Running", Duration::from_secs(30), || async {
        let phase = pods.get("hello").await?.status.and_then(|s| s.phase);
        Ok((phase.as_deref() == Some("Running")).then_some(()))
    })
    .await?;
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/test.sh runs it)"]
async fn deleting_an_owner_garbage_collects_its_dependents() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    let ns = TestNamespace::create(&client, "cluster-gc").await?;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns.name());
    let owner: ConfigMap = serde_json::from_value(
        serde_json::json!({ "metadata": { "name": "owner" } }),
    )?;
    let owner = configmaps.create(&PostParams::default(), &owner).await?;
    let owner_ref = owner
        .controller_owner_ref(&())
        .ok_or_else(|| anyhow::anyhow!("the created owner has no uid"))?;
    let mut dependent: ConfigMap = serde_json::from_value(
        serde_json::json!({ "metadata": { "name": "dependent" } }),
    )?;
    dependent.owner_references_mut().push(owner_ref);
    configmaps
        .create(&PostParams::default(), &dependent)
        .await?;

    // Background propagation: the owner goes at once, the garbage collector removes the rest.
    configmaps
        .delete("owner", &DeleteParams::background())
        .await?;
    let (_, took) = wait_until(
        "the garbage collector to delete the dependent",
        Duration::from_secs(30),
        || async {
            Ok(configmaps
                .get_opt("dependent")
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await?;
    eprintln!("garbage collector removed the dependent in {took:?}");
    Ok(())
}

/// The CRDs the tests install, applied again as the book tells a learner to: kubectl has nothing
/// to warn about (the tests apply the same way), and nothing changes.
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/test.sh runs it)"]
async fn the_books_kubectl_apply_after_the_tests_warns_of_nothing()
-> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    workshop_testkit::install_task_crds(&client).await?;
    let crds = workshop_testkit::manifests_dir().join("crds");
    let output = Command::new("kubectl")
        .args(["apply", "-f"])
        .arg(&crds)
        .output()?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    anyhow::ensure!(output.status.success(), "kubectl apply failed: {stderr}");
    assert!(
        stderr.trim().is_empty(),
        "`kubectl apply -f manifests/crds/` after the tests printed on stderr:\n{stderr}"
    );
    for line in stdout.lines() {
        assert!(
            line.ends_with(" unchanged"),
            "after the tests installed the CRDs, the book's apply changed something: {line}"
        );
    }
    Ok(())
}
