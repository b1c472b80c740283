//! The program where there is no kubeconfig: in a Pod, say. It needs no cluster: it runs
//! this package's program with the environment of a Pod whose ServiceAccount files are
//! missing, and reads what it says.

use std::process::Command;

/// The program under test: this package's binary (the step's or the solution's).
fn program() -> &'static str {
    option_env!("CARGO_BIN_EXE_solution-01-connect")
        .or(option_env!("CARGO_BIN_EXE_step-01-connect"))
        .expect("the package's binary is built for its tests")
}

#[test]
fn without_a_kubeconfig_the_in_cluster_configuration_is_tried() {
    // No kubeconfig: KUBECONFIG names a file that does not exist, and HOME is an empty
    // directory (no ~/.kube/config). The variables a Pod gets are set, so the program
    // believes it runs in one; the ServiceAccount's files (its namespace, CA and token,
    // under /var/run/secrets) are not there, so the in-cluster configuration fails too.
    let home = std::env::temp_dir()
        .join(format!("connect-no-kubeconfig-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("a temporary directory");
    let output = Command::new(program())
        .env("KUBECONFIG", home.join("no-such-kubeconfig"))
        .env("HOME", &home)
        .env("KUBERNETES_SERVICE_HOST", "10.96.0.1")
        .env("KUBERNETES_SERVICE_PORT", "443")
        .env_remove("RUST_LOG")
        .output()
        .expect("the program runs");
    let _ = std::fs::remove_dir_all(&home);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success(),
        "with no kubeconfig and no ServiceAccount files, the program cannot connect, yet it \
         exited with success; it printed:\n{stdout}{stderr}"
    );
    // kube's in-cluster configuration fails here reading the ServiceAccount's namespace
    // file; `Config::infer` reports both attempts, the in-cluster one by that name.
    let said = stderr.to_lowercase();
    let tried = ["in-cluster", "incluster", "default namespace"]
        .iter()
        .any(|words| said.contains(words));
    assert!(
        tried,
        "run with no kubeconfig, as in a Pod (KUBECONFIG names a missing file; \
         KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are set), the program said:\n\
         {stderr}\nThat names no in-cluster attempt: `load_config` with no context must fall \
         back to the in-cluster configuration when there is no kubeconfig (that is how the \
         same program runs in a Pod), and when that fails too, its message says so"
    );
}
