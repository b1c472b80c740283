//! The deploy manifests, checked without a cluster (the end-to-end tests send them to one).

use workshop_testkit::{find_object, manifest_objects};

#[test]
fn the_deployed_controller_has_exactly_step_07_s_permissions_over_the_cluster() {
    let deploy = manifest_objects("deploy/10-rbac.yaml");
    let step07 = manifest_objects("rbac/taskrun.yaml");
    assert_eq!(
        find_object(&deploy, "ClusterRole", "taskrun-controller")["rules"],
        find_object(&step07, "ClusterRole", "taskrun-controller")["rules"],
        "manifests/deploy/10-rbac.yaml and manifests/rbac/taskrun.yaml disagree"
    );
}

#[test]
fn leader_election_is_granted_only_in_the_controller_s_namespace() {
    let deploy = manifest_objects("deploy/10-rbac.yaml");
    let binding =
        find_object(&deploy, "RoleBinding", "taskrun-controller-leader-election");
    assert_eq!(binding["metadata"]["namespace"], "workshop-system");
    let role =
        find_object(&deploy, "ClusterRole", "taskrun-controller-leader-election");
    assert_eq!(role["rules"][0]["resources"], serde_json::json!(["leases"]));
    assert!(
        !deploy.iter().any(|o| o["kind"] == "ClusterRoleBinding"
            && o["roleRef"]["name"] == "taskrun-controller-leader-election"),
        "Leases must not be granted cluster-wide"
    );
}

#[test]
fn the_deployment_runs_two_replicas_probed_and_locked_down() {
    let deploy = manifest_objects("deploy/20-deployment.yaml");
    let deployment = find_object(&deploy, "Deployment", "taskrun-controller");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "taskrun-controller");
    let container = &pod["containers"][0];
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert!(container["resources"]["requests"]["memory"].is_string());
    assert!(container["resources"]["limits"]["memory"].is_string());
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(
        container["securityContext"]["allowPrivilegeEscalation"],
        false
    );
    // The shutdown bound fits in the grace period, so the Lease is released before SIGKILL.
    let args = container["args"].as_array().expect("args");
    let timeout: u64 = args
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix("--shutdown-timeout="))
        .map(|s| s.parse().expect("a number"))
        .next()
        .expect("--shutdown-timeout is set");
    assert!(
        timeout
            < pod["terminationGracePeriodSeconds"]
                .as_u64()
                .expect("a grace period")
    );
}
