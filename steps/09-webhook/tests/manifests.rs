//! The in-cluster manifests (`manifests/webhook/`), checked without a cluster: the
//! Deployment calls itself through the Service the manifests define, on the ports they
//! define, as one replica. (The end-to-end tests send them to the API server;
//! `scripts/test.sh` deploys them on the real node.)

use serde_json::Value;
use workshop_testkit::{find_object, manifest_objects};

/// The value of `--flag=value` among a container's args.
fn flag<'a>(args: &'a [Value], name: &str) -> &'a str {
    args.iter()
        .filter_map(|a| a.as_str()?.strip_prefix(&format!("--{name}=")))
        .next()
        .unwrap_or_else(|| panic!("--{name} is not set"))
}

#[test]
fn the_deployment_calls_itself_through_its_own_service() {
    let services = manifest_objects("webhook/10-service.yaml");
    let service = find_object(&services, "Service", "taskrun-webhook");
    let deployments = manifest_objects("webhook/20-deployment.yaml");
    let deployment = find_object(&deployments, "Deployment", "taskrun-webhook");
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let args = container["args"].as_array().expect("args");

    let namespace = service["metadata"]["namespace"].as_str().unwrap();
    assert_eq!(
        flag(args, "service"),
        format!("{namespace}/taskrun-webhook")
    );
    assert_eq!(
        service["spec"]["ports"][0]["port"],
        u64::from(webhook::tls::SERVICE_PORT)
    );
    // Service -> the container port named https -> the port the program listens on.
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "https");
    assert_eq!(container["ports"][0]["name"], "https");
    let port = container["ports"][0]["containerPort"].as_u64().unwrap();
    assert!(flag(args, "listen").ends_with(&format!(":{port}")));
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["template"]["metadata"]["labels"]
    );
    assert_eq!(deployment["metadata"]["namespace"], namespace);
}

#[test]
fn one_replica_that_never_overlaps_its_successor() {
    let deployments = manifest_objects("webhook/20-deployment.yaml");
    let deployment = find_object(&deployments, "Deployment", "taskrun-webhook");
    // Each process registers a caBundle of its own: two would overwrite each other's.
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(deployment["spec"]["strategy"]["type"], "Recreate");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "taskrun-webhook");
    let container = &pod["containers"][0];
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(container[probe]["httpGet"]["scheme"], "HTTPS", "{probe}");
        assert_eq!(container[probe]["httpGet"]["path"], "/healthz", "{probe}");
    }
    let rbac = manifest_objects("rbac/webhook.yaml");
    find_object(&rbac, "ServiceAccount", "taskrun-webhook");
}
