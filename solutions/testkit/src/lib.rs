//! The test kit every step's end-to-end tests share.
//!
//! End-to-end tests talk to a real API server: the cluster that `KUBECONFIG` (or
//! `~/.kube/config`) points at. `scripts/test.sh` and `scripts/check.sh` set that up; running
//! `cargo test -- --include-ignored` by hand uses whatever cluster your kubeconfig selects.
//!
//! Three rules keep the tests honest and independent:
//! - **No cluster is a failure, never a skip.** [`client`] panics with a message that says what
//!   to run, so a green run always means the tests really ran against an API server.
//! - **Each test gets its own namespace** ([`TestNamespace`]), so tests can run in parallel and
//!   leave nothing behind.
//! - **Every wait is bounded** ([`wait_until`]): a test that waits for the cluster fails with what
//!   it was waiting for, instead of hanging the suite.

use std::future::Future;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

pub mod bench;
pub mod log;
pub mod mirror;
pub mod mirror_into;
pub mod proxy;
pub mod under_test;

/// The label put on every namespace a test creates, so leftovers are easy to find and delete:
/// `kubectl delete ns -l workshop.io/test=true`.
pub const TEST_LABEL: &str = "workshop.io/test";

/// A ConfigMap named `name` that holds `data`, and nothing else yet: what a test starts
/// from, in a unit test or against a cluster.
pub fn configmap(name: &str, data: &[(&str, &str)]) -> ConfigMap {
    let mut cm = ConfigMap {
        data: Some(
            data.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        ..ConfigMap::default()
    };
    cm.metadata.name = Some(name.into());
    cm
}

/// A client for the cluster the tests run against, checked to be reachable.
///
/// # Panics
/// When no cluster can be reached: an end-to-end test that cannot reach a cluster must fail
/// loudly, with what to do about it.
pub async fn client() -> Client {
    let hint = "end-to-end tests need a running cluster: start one with scripts/cluster-up.sh, \
                or run scripts/check.sh / scripts/test.sh, which bring one up";
    let client = match Client::try_default().await {
        Ok(client) => client,
        Err(err) => panic!("no usable kubeconfig ({err}); {hint}"),
    };
    match tokio::time::timeout(Duration::from_secs(10), client.apiserver_version())
        .await
    {
        Ok(Ok(_)) => client,
        Ok(Err(err)) => panic!("the API server did not answer ({err}); {hint}"),
        Err(_) => panic!("the API server did not answer within 10s; {hint}"),
    }
}

/// The repository's `manifests/` directory.
pub fn manifests_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../manifests")
}

/// Every object in the YAML file `manifests/<relative>`, as JSON values: what a test that
/// checks the manifests without a cluster reads.
///
/// # Panics
/// When the file cannot be read or is not YAML.
pub fn manifest_objects(relative: &str) -> Vec<serde_json::Value> {
    use serde::Deserialize as _;
    let path = manifests_dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| {
            let value = serde_yaml::Value::deserialize(document)
                .unwrap_or_else(|err| panic!("{relative} is not YAML: {err}"));
            serde_json::to_value(value).expect("YAML maps to JSON")
        })
        .collect()
}

/// The object of kind `kind` named `name` among `objects` (from [`manifest_objects`]).
///
/// # Panics
/// When there is none.
pub fn find_object<'a>(
    objects: &'a [serde_json::Value],
    kind: &str,
    name: &str,
) -> &'a serde_json::Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// Applies a file under `manifests/` with `kubectl apply -f`, once per test process: the RBAC we
/// ship is the RBAC we test. Client-side apply, the way the book and the scripts apply the same
/// files: an object applied one way and then the other gets a warning from kubectl (server-side
/// apply writes no `last-applied-configuration` annotation, which client-side apply expects).
///
/// # Panics
/// When kubectl is missing or the API server rejects the manifest.
pub async fn apply_manifest(relative: &str) {
    static APPLIED: tokio::sync::Mutex<Vec<String>> =
        tokio::sync::Mutex::const_new(Vec::new());
    let mut applied = APPLIED.lock().await;
    if applied.iter().any(|done| done == relative) {
        return;
    }
    let path = manifests_dir().join(relative);
    let output = tokio::process::Command::new("kubectl")
        .args(["apply", "-f"])
        .arg(&path)
        .output()
        .await
        .unwrap_or_else(|err| {
            panic!("cannot run kubectl to apply {}: {err}", path.display())
        });
    assert!(
        output.status.success(),
        "kubectl apply -f {} failed: {}",
        path.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    applied.push(relative.to_string());
}

/// Applies the CRD in `manifests/<manifest>` and waits until the API server serves it (its
/// condition `Established`): before that, creating one of its objects fails with a 404.
pub async fn install_crd(
    client: &Client,
    manifest: &str,
    crd_name: &str,
) -> anyhow::Result<()> {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    apply_manifest(manifest).await;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    wait_until(
        &format!("the CRD {crd_name} to be Established"),
        Duration::from_secs(30),
        || async {
            let crd = crds.get(crd_name).await?;
            let conditions =
                crd.status.and_then(|s| s.conditions).unwrap_or_default();
            let established = conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True");
            Ok(established.then_some(()))
        },
    )
    .await?;
    Ok(())
}

/// Installs the workshop's two CRDs, Task and TaskRun (`manifests/crds/`), and waits until
/// the API server serves both.
pub async fn install_task_crds(client: &Client) -> anyhow::Result<()> {
    install_crd(client, "crds/task.yaml", "tasks.workshop.io").await?;
    install_crd(client, "crds/taskrun.yaml", "taskruns.workshop.io").await
}

/// A client that acts as the ServiceAccount `namespace/name` (impersonation): requests are
/// authorized with that account's RBAC, exactly as if the controller ran in a Pod with it.
pub async fn service_account_client(namespace: &str, name: &str) -> Client {
    let mut config = kube::Config::infer().await.unwrap_or_else(|err| {
        panic!(
            "no usable kubeconfig ({err}); start a cluster with scripts/cluster-up.sh"
        )
    });
    config.auth_info.impersonate =
        Some(format!("system:serviceaccount:{namespace}:{name}"));
    config.auth_info.impersonate_groups = Some(service_account_groups(namespace));
    Client::try_from(config)
        .unwrap_or_else(|err| panic!("cannot build an impersonating client: {err}"))
}

/// The groups a ServiceAccount's requests carry, as the API server gives them.
fn service_account_groups(namespace: &str) -> Vec<String> {
    vec![
        "system:serviceaccounts".into(),
        format!("system:serviceaccounts:{namespace}"),
        "system:authenticated".into(),
    ]
}

/// A kubeconfig file with which a controller *process* acts as the ServiceAccount
/// `namespace/name`, like [`service_account_client`] does for a client: a copy of the test
/// cluster's kubeconfig, impersonating. Removed when dropped.
#[derive(Debug)]
pub struct ServiceAccountKubeconfig {
    path: std::path::PathBuf,
}

impl ServiceAccountKubeconfig {
    pub fn create(namespace: &str, name: &str) -> anyhow::Result<Self> {
        Self::write(namespace, name, None)
    }

    /// The same, but reaching the API server through `proxy` (which must lead to it): a
    /// process that uses it can be cut off from the API server by the test.
    pub fn through(
        namespace: &str,
        name: &str,
        proxy: &proxy::Proxy,
    ) -> anyhow::Result<Self> {
        Self::write(namespace, name, Some(proxy))
    }

    fn write(
        namespace: &str,
        name: &str,
        proxy: Option<&proxy::Proxy>,
    ) -> anyhow::Result<Self> {
        let mut kubeconfig = kube::config::Kubeconfig::read()?;
        if let Some(proxy) = proxy {
            for named in &mut kubeconfig.clusters {
                let Some(cluster) = named.cluster.as_mut() else {
                    continue;
                };
                let Some(server) = cluster.server.as_deref() else {
                    continue;
                };
                // Same scheme and host, so the certificate still matches; the proxy's port.
                let url: http::Uri = server.parse()?;
                let host = url.host().unwrap_or("127.0.0.1");
                let scheme = url.scheme_str().unwrap_or("https");
                cluster.server =
                    Some(format!("{scheme}://{host}:{}", proxy.address().port()));
            }
        }
        for named in &mut kubeconfig.auth_infos {
            if let Some(auth) = named.auth_info.as_mut() {
                auth.impersonate =
                    Some(format!("system:serviceaccount:{namespace}:{name}"));
                auth.impersonate_groups = Some(service_account_groups(namespace));
            }
        }
        let path =
            std::env::temp_dir().join(format!("{}.kubeconfig", unique_name(name)));
        // JSON is YAML too: every kubeconfig reader accepts it.
        std::fs::write(&path, serde_json::to_vec(&kubeconfig)?)?;
        Ok(Self { path })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for ServiceAccountKubeconfig {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// A namespace that exists for one test and is deleted when the test ends (pass or fail).
pub struct TestNamespace {
    name: String,
}

impl TestNamespace {
    /// Creates a fresh namespace named `wt-<prefix>-<unique suffix>`.
    pub async fn create(client: &Client, prefix: &str) -> anyhow::Result<Self> {
        let name = unique_name(&format!("wt-{prefix}"));
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": { "name": name, "labels": { TEST_LABEL: "true" } }
        }))?;
        Api::<Namespace>::all(client.clone())
            .create(&PostParams::default(), &ns)
            .await?;
        Ok(Self { name })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for TestNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TestNamespace").field(&self.name).finish()
    }
}

/// Runs `work`, given a client of its own, on a thread of its own with a small runtime, and
/// waits for it: how a `Drop` deletes what a test made. Deleting is asynchronous but `drop` is
/// not, and it cannot wait on the test's runtime: that is the one blocked here waiting for
/// the thread. The client is a new one for the same reason: a `Client` drives its connections
/// from tasks on the runtime that built it. `None` when `work` gives none, or when no runtime
/// or client could be had.
pub fn clean_up<T, F, Fut>(work: F) -> Option<T>
where
    T: Send + 'static,
    F: FnOnce(Client) -> Fut + Send + 'static,
    Fut: Future<Output = Option<T>>,
{
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let client = Client::try_default().await.ok()?;
            work(client).await
        })
    })
    .join()
    .ok()
    .flatten()
}

impl Drop for TestNamespace {
    /// The delete request runs with [`clean_up`]; the API server finishes the deletion in the
    /// background.
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.name);
        let deleted = clean_up(|client| async move {
            Api::<Namespace>::all(client)
                .delete(&name, &DeleteParams::background())
                .await
                .ok()
        });
        if deleted.is_none() {
            eprintln!(
                "note: could not delete a test namespace; `kubectl delete ns -l {TEST_LABEL}=true` removes leftovers"
            );
        }
    }
}

/// A name no other test run has used: `<prefix>-<seconds since epoch, base 36>-<counter>`.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!(
        "{prefix}-{}{}-{n}",
        to_base36(secs as u64 % 36u64.pow(6)),
        to_base36(std::process::id() as u64 % 1296)
    )
}

fn to_base36(mut n: u64) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = Vec::new();
    loop {
        out.push(DIGITS[(n % 36) as usize]);
        n /= 36;
        if n == 0 {
            break;
        }
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `timeout`.
///
/// Returns the value and how long it took. On timeout the error names `what` was awaited and
/// the last error `check` reported, so a failing test explains itself.
pub async fn wait_until<T, F, Fut>(
    what: &str,
    timeout: Duration,
    mut check: F,
) -> anyhow::Result<(T, Duration)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let start = Instant::now();
    let mut last_error = None;
    loop {
        match check().await {
            Ok(Some(value)) => return Ok((value, start.elapsed())),
            Ok(None) => {}
            Err(err) => last_error = Some(err),
        }
        if start.elapsed() >= timeout {
            let why = last_error
                .map(|e| format!(" (last error: {e:#})"))
                .unwrap_or_default();
            anyhow::bail!("timed out after {timeout:?} waiting for {what}{why}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Grants the ClusterRole `role` in namespace `ns` only to the ServiceAccount
/// `sa_namespace/sa_name`, with a RoleBinding: how `manifests/deploy/` grants Leases in its own
/// namespace, and how tests keep a Lease in their own.
///
/// # Errors
/// When the API server refuses the RoleBinding.
pub async fn bind_cluster_role(
    admin: &Client,
    ns: &str,
    role: &str,
    sa_namespace: &str,
    sa_name: &str,
) -> anyhow::Result<()> {
    use k8s_openapi::api::rbac::v1::{RoleBinding, RoleRef, Subject};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    let binding = RoleBinding {
        metadata: ObjectMeta {
            name: Some(format!("{role}-{sa_name}")),
            ..ObjectMeta::default()
        },
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: role.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: sa_name.into(),
            namespace: Some(sa_namespace.into()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), ns)
        .create(&PostParams::default(), &binding)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_names_differ_and_are_valid_dns_labels() {
        let a = unique_name("wt-x");
        let b = unique_name("wt-x");
        assert_ne!(a, b);
        for name in [a, b] {
            assert!(name.len() <= 63, "{name}");
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase()
                    || c.is_ascii_digit()
                    || c == '-'),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn wait_until_returns_the_value_once_ready() {
        let mut calls = 0;
        let (value, _) = wait_until("three calls", Duration::from_secs(5), || {
            calls += 1;
            let ready = calls >= 3;
            async move { Ok(ready.then_some(42)) }
        })
        .await
        .unwrap();
        assert_eq!(value, 42);
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn wait_until_times_out_naming_what_it_waited_for() {
        let err = wait_until::<(), _, _>(
            "the impossible",
            Duration::from_millis(120),
            || async { anyhow::bail!("still broken") },
        )
        .await
        .unwrap_err()
        .to_string();
        assert!(err.contains("the impossible"), "{err}");
        assert!(err.contains("still broken"), "{err}");
    }
}
