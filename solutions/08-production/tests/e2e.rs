//! End-to-end tests of step 08: the controller as real processes against a real API server.
//!
//! Every test starts the step's own program (not a function call: `SIGKILL` and `SIGTERM` must
//! hit a process) with the permissions of `manifests/deploy/` (a kubeconfig that impersonates
//! the ServiceAccount), in a namespace of its own. The Lease is in that namespace too, granted
//! by a RoleBinding to the manifests' leader-election ClusterRole (as `workshop-system` grants
//! it), so it goes when the namespace does. The lease is short (4 s, renewed every second) so
//! that a failover takes seconds, not the default 15.
//!
//! `scripts/check.sh 08` runs them; they print the failover times they measure.

use std::net::SocketAddr;
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use crds::{Step, Task, TaskRun, TaskRunPhase, TaskSpec};
use http_body_util::BodyExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde::Deserialize as _;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use workshop_testkit::proxy::Proxy;
use workshop_testkit::{
    ServiceAccountKubeconfig, TestNamespace, apply_manifest, bind_cluster_role,
    wait_until,
};

const NAMESPACE: &str = "deploy/00-namespace.yaml";
const RBAC: &str = "deploy/10-rbac.yaml";
const SA_NAMESPACE: &str = "workshop-system";
const SA_NAME: &str = "taskrun-controller";
/// The deploy manifests' ClusterRole for the Lease.
const LEADER_ELECTION: &str = "taskrun-controller-leader-election";
const LEASE: &str = "taskrun-controller";
const LEASE_SECONDS: u64 = 4;
/// How long a run of one `echo` may take to finish (on kind, the first pulls busybox).
const FINISH: Duration = Duration::from_secs(120);
/// How long a replica may take to start serving, to win a free Lease, to sync.
const START: Duration = Duration::from_secs(30);

/// The program under test: this package's binary (the step's or the solution's).
fn program() -> &'static str {
    option_env!("CARGO_BIN_EXE_solution-08-production")
        .or(option_env!("CARGO_BIN_EXE_step-08-production"))
        .expect("the package's controller binary is built for its tests")
}

/// A namespace, the CRDs and the deploy RBAC, the right to hold a Lease in the namespace, and
/// a Task `hello`.
struct Setup {
    admin: Client,
    ns: TestNamespace,
    runs: Api<TaskRun>,
    leases: Api<Lease>,
}

impl Setup {
    async fn new(prefix: &str) -> anyhow::Result<Self> {
        let admin = workshop_testkit::client().await;
        workshop_testkit::install_task_crds(&admin).await?;
        // The namespace first: on a cluster where no earlier step's tests ran, nothing else
        // made workshop-system, and the RBAC manifest's objects live in it.
        apply_manifest(NAMESPACE).await;
        apply_manifest(RBAC).await;
        let ns = TestNamespace::create(&admin, prefix).await?;
        bind_cluster_role(&admin, ns.name(), LEADER_ELECTION, SA_NAMESPACE, SA_NAME)
            .await?;
        let tasks: Api<Task> = Api::namespaced(admin.clone(), ns.name());
        let spec = TaskSpec {
            description: Some("says hello".into()),
            params: Vec::new(),
            steps: vec![Step::script("hello", "busybox:1.37", "echo hello")],
        };
        tasks
            .create(&PostParams::default(), &Task::new("hello", spec))
            .await?;
        Ok(Self {
            runs: Api::namespaced(admin.clone(), ns.name()),
            leases: Api::namespaced(admin.clone(), ns.name()),
            admin,
            ns,
        })
    }

    /// Starts replica `name` with the deploy manifests' permissions.
    async fn replica(&self, name: &str) -> anyhow::Result<Replica> {
        let kubeconfig = ServiceAccountKubeconfig::create(SA_NAMESPACE, SA_NAME)?;
        Replica::start(name, kubeconfig, self.ns.name()).await
    }

    /// Creates a run of `hello` named `name`.
    async fn run(&self, name: &str) -> anyhow::Result<()> {
        let mut run = TaskRun::for_task("hello", Vec::new());
        run.metadata.generate_name = None;
        run.metadata.name = Some(name.into());
        self.runs.create(&PostParams::default(), &run).await?;
        Ok(())
    }

    /// Waits until run `name` passes `check`, while `replicas` keep running; returns how long
    /// that took. A replica that exits (a panic, say) ends the wait at once, with its log; a wait
    /// that times out says what the replicas logged meanwhile.
    async fn wait_run(
        &self,
        name: &str,
        what: &str,
        within: Duration,
        check: impl Fn(&TaskRun) -> bool,
        replicas: &[&Replica],
    ) -> anyhow::Result<Duration> {
        let what = format!("run {name} to be {what}");
        let waited = wait_until(&what, within, || async {
            let run = self.runs.get(name).await?;
            Ok(check(&run).then_some(()))
        });
        let exited = async {
            loop {
                for replica in replicas {
                    replica.assert_running()?;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::select! {
            waited = waited => waited.map(|(_, took)| took).map_err(|err| {
                // What the replicas said is what a reader needs to find out why.
                let logs: Vec<String> = replicas
                    .iter()
                    .map(|replica| format!("log of {}:\n{}", replica.name, replica.log()))
                    .collect();
                anyhow::anyhow!("{err}; the replicas' logs follow\n{}", logs.join("\n"))
            }),
            exited = exited => exited,
        }
    }

    async fn succeeded(
        &self,
        name: &str,
        replicas: &[&Replica],
    ) -> anyhow::Result<Duration> {
        self.wait_run(
            name,
            "Succeeded",
            FINISH,
            |run| run.phase() == Some(TaskRunPhase::Succeeded),
            replicas,
        )
        .await
    }

    /// Who holds the Lease, per the API server.
    async fn holder(&self) -> anyhow::Result<Option<String>> {
        let lease = self.leases.get_opt(LEASE).await?;
        Ok(lease
            .and_then(|lease| lease.spec)
            .and_then(|spec| spec.holder_identity)
            .filter(|holder| !holder.is_empty()))
    }

    /// Waits until `replica` holds the Lease and says so in its metrics.
    async fn wait_leader(
        &self,
        replica: &Replica,
        within: Duration,
    ) -> anyhow::Result<Duration> {
        let what = format!("replica {} to lead", replica.name);
        let (_, took) = wait_until(&what, within, || async {
            replica.assert_running()?;
            let holds =
                self.holder().await?.as_deref() == Some(replica.name.as_str());
            Ok(
                (holds && replica.metric("taskrun_controller_leader").await? == 1.0)
                    .then_some(()),
            )
        })
        .await?;
        Ok(took)
    }
}

/// One controller process, its log lines (JSON), and the address of its HTTP server.
struct Replica {
    name: String,
    child: Child,
    address: SocketAddr,
    logs: Arc<Mutex<Vec<String>>>,
    /// Set when its stderr closes: the process has exited.
    exited: Arc<AtomicBool>,
    _kubeconfig: ServiceAccountKubeconfig,
}

impl Replica {
    async fn start(
        name: &str,
        kubeconfig: ServiceAccountKubeconfig,
        namespace: &str,
    ) -> anyhow::Result<Self> {
        let mut child = Command::new(program())
            .args(["--namespace", namespace, "--identity", name])
            .args(["--lease-name", LEASE, "--lease-namespace", namespace])
            .args(["--listen", "127.0.0.1:0"])
            .args(["--lease-duration", &LEASE_SECONDS.to_string()])
            .args(["--renew-deadline", "3", "--retry-period", "1"])
            .args(["--shutdown-timeout", "5", "--log-format", "json"])
            .env("KUBECONFIG", kubeconfig.path())
            .env("RUST_LOG", "info")
            .env_remove("POD_NAME")
            .env_remove("POD_NAMESPACE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {}", program()))?;
        let stderr = child.stderr.take().context("no stderr")?;
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (found, address) = tokio::sync::oneshot::channel();
        let lines = logs.clone();
        let exited = Arc::new(AtomicBool::new(false));
        let eof = exited.clone();
        tokio::spawn(async move {
            let mut found = Some(found);
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if let Some(address) = serving_address(&line)
                    && let Some(found) = found.take()
                {
                    let _ = found.send(address);
                }
                lines.lock().unwrap().push(line);
            }
            eof.store(true, Ordering::Release);
        });
        let address = match tokio::time::timeout(START, address).await {
            Ok(Ok(address)) => address,
            _ => anyhow::bail!(
                "replica {name} never said where it serves; its log:\n{}",
                logs.lock().unwrap().join("\n")
            ),
        };
        Ok(Self {
            name: name.into(),
            child,
            address,
            logs,
            exited,
            _kubeconfig: kubeconfig,
        })
    }

    fn assert_running(&self) -> anyhow::Result<()> {
        if self.exited.load(Ordering::Acquire) {
            let log = self.log();
            let why = panic_in(&log, false).unwrap_or_else(|| "see its log".into());
            anyhow::bail!(
                "replica {} has exited ({why}); its log:\n{log}",
                self.name
            );
        }
        Ok(())
    }

    fn log(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// When the replica first logged a message starting with `message`, by its own clock.
    fn logged_at(&self, message: &str) -> Option<Timestamp> {
        self.logs.lock().unwrap().iter().find_map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).ok()?;
            let said = entry.get("fields")?.get("message")?.as_str()?;
            if !said.starts_with(message) {
                return None;
            }
            entry.get("timestamp")?.as_str()?.parse().ok()
        })
    }

    /// GET `path` from the replica's HTTP server: status code and body.
    async fn get(&self, path: &str) -> anyhow::Result<(u16, String)> {
        let client = hyper_util::client::legacy::Client::builder(
            hyper_util::rt::TokioExecutor::new(),
        )
        .build_http::<String>();
        let uri: http::Uri = format!("http://{}{path}", self.address).parse()?;
        // A handler that panics closes the connection: its message is in the replica's log.
        let response = client.get(uri).await.with_context(|| {
            format!(
                "GET {path} from replica {} failed{}",
                self.name,
                panic_in(&self.log(), true)
                    .map(|why| format!(": {why}"))
                    .unwrap_or_default()
            )
        })?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, String::from_utf8(body.to_vec())?))
    }

    /// `/metrics`, parsed as Prometheus parses it.
    async fn scrape(&self) -> anyhow::Result<prometheus_parse::Scrape> {
        let (status, text) = self.get("/metrics").await?;
        anyhow::ensure!(status == 200, "/metrics answered {status}: {text}");
        let lines = text.lines().map(|line| Ok(line.to_string()));
        Ok(prometheus_parse::Scrape::parse(lines)?)
    }

    /// The sum of all samples of metric `name` (all label values), 0 if it has none yet.
    async fn metric(&self, name: &str) -> anyhow::Result<f64> {
        Ok(sum(&self.scrape().await?, name))
    }

    /// Waits until `/readyz` answers 200.
    async fn wait_ready(&self) -> anyhow::Result<Duration> {
        let what = format!("replica {} to be ready", self.name);
        let (_, took) = wait_until(&what, START, || async {
            self.assert_running()?;
            Ok((self.get("/readyz").await?.0 == 200).then_some(()))
        })
        .await?;
        Ok(took)
    }

    async fn reconciles(&self) -> anyhow::Result<f64> {
        self.metric("taskrun_controller_reconciles_total").await
    }

    /// Sends SIGTERM, as the kubelet does to stop a Pod.
    async fn terminate(&self) -> anyhow::Result<()> {
        let pid = self.child.id().context("the replica has exited already")?;
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        anyhow::ensure!(status.success(), "kill -TERM {pid} failed");
        Ok(())
    }

    /// Waits for the process to exit, and for its log to be read to the end.
    async fn exited(&mut self, within: Duration) -> anyhow::Result<ExitStatus> {
        let status = match tokio::time::timeout(within, self.child.wait()).await {
            Ok(status) => status?,
            Err(_) => anyhow::bail!(
                "replica {} still running after {within:?}; its log:\n{}",
                self.name,
                self.log()
            ),
        };
        // The process is gone, but the task that reads its stderr may not have read its
        // last lines yet (a test once found no "released the Lease" for that reason):
        // wait for the end of the stream, which closed when the process exited.
        let eof = self.exited.clone();
        wait_until(
            "the replica's log to be read to its end",
            Duration::from_secs(5),
            || {
                let eof = eof.clone();
                async move { Ok(eof.load(Ordering::Acquire).then_some(())) }
            },
        )
        .await?;
        Ok(status)
    }
}

/// A panic in a replica's log, with its message: the first (the cause of any that follow), or
/// the last (what a request just made it do).
fn panic_in(log: &str, last: bool) -> Option<String> {
    let lines: Vec<&str> = log.lines().collect();
    let panicked = |line: &&str| line.contains("panicked at");
    let at = if last {
        lines.iter().rposition(panicked)?
    } else {
        lines.iter().position(panicked)?
    };
    let message = lines.get(at + 1).copied().unwrap_or_default();
    Some(format!("{} {message}", lines[at].trim_end_matches(':')))
}

/// The sum of all samples of metric `name` in one scrape.
fn sum(scrape: &prometheus_parse::Scrape, name: &str) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|sample| sample.metric == name)
        .map(|sample| match sample.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => v,
            _ => 0.0,
        })
        .sum()
}

/// The address in the log line `serving /metrics, /healthz and /readyz`, in JSON.
fn serving_address(line: &str) -> Option<SocketAddr> {
    let entry: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = entry.get("fields")?;
    let message = fields.get("message")?.as_str()?;
    if !message.starts_with("serving /metrics") {
        return None;
    }
    fields.get("address")?.as_str()?.parse().ok()
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 08 runs it)"]
async fn only_the_leader_reconciles_and_the_standby_takes_over_after_a_sigkill()
-> anyhow::Result<()> {
    let setup = Setup::new("failover").await?;
    let mut a = setup.replica("replica-a").await?;
    setup.wait_leader(&a, START).await?;
    let b = setup.replica("replica-b").await?;
    b.wait_ready().await?;

    setup.run("before").await?;
    setup.succeeded("before", &[&a, &b]).await?;
    assert!(a.reconciles().await? > 0.0, "the leader reconciled nothing");
    assert_eq!(b.reconciles().await?, 0.0, "the standby reconciled");
    assert_eq!(b.metric("taskrun_controller_leader").await?, 0.0);

    // Kill the leader with no chance to release its Lease, then give the standby work at once.
    a.child.start_kill()?;
    let killed = Instant::now();
    a.exited(Duration::from_secs(10)).await?;
    setup.run("after").await?;
    setup
        .wait_run(
            "after",
            "picked up",
            FINISH,
            |run| run.phase().is_some(),
            &[&b],
        )
        .await?;
    let failover = killed.elapsed();
    eprintln!(
        "failover after SIGKILL: the standby reconciled a new run {:.2} s after the kill \
         (lease duration {LEASE_SECONDS} s)",
        failover.as_secs_f64()
    );
    assert_eq!(setup.holder().await?.as_deref(), Some("replica-b"));
    // Within the lease duration, plus a second for the API calls and the reconcile itself.
    assert!(
        failover <= Duration::from_secs(LEASE_SECONDS + 1),
        "the standby took {failover:?} to take over"
    );
    setup.succeeded("after", &[&b]).await?;
    assert!(b.reconciles().await? > 0.0);
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 08 runs it)"]
async fn a_clean_shutdown_releases_the_lease_and_hands_over_at_once()
-> anyhow::Result<()> {
    let setup = Setup::new("handover").await?;
    let mut a = setup.replica("replica-a").await?;
    setup.wait_leader(&a, START).await?;
    let b = setup.replica("replica-b").await?;
    b.wait_ready().await?;

    a.terminate().await?;
    let asked = Instant::now();
    let status = a.exited(Duration::from_secs(10)).await?;
    let stopped = asked.elapsed();
    assert!(
        status.success(),
        "replica-a exited with {status}; log:\n{}",
        a.log()
    );
    assert!(a.log().contains("released the Lease"), "log:\n{}", a.log());
    let took_over = setup.wait_leader(&b, START).await? + stopped;
    eprintln!(
        "handover after SIGTERM: the leader stopped in {:.2} s, the standby led {:.2} s after \
         the signal (lease duration {LEASE_SECONDS} s)",
        stopped.as_secs_f64(),
        took_over.as_secs_f64()
    );
    // At once: before the Lease could have expired. a renewed it at most a retry period (1 s)
    // before it let go, so a Lease it kept would run LEASE_SECONDS - 1 s past the release at
    // least. Counted from the two log lines, not from the signal: how long a takes to stop
    // depends on the machine's load, and is not what this test is about.
    let released = a
        .logged_at("released the Lease")
        .context("replica-a released the Lease but its log has no time for it")?;
    let led = b
        .logged_at("became the leader")
        .context("replica-b leads but never logged it")?;
    let after = led.duration_since(released).as_secs_f64();
    assert!(
        after < (LEASE_SECONDS - 1) as f64,
        "the standby led {after:.2} s after the Lease was released: it waited for the Lease to \
         expire instead of taking the released one"
    );
    setup.run("after").await?;
    setup.succeeded("after", &[&b]).await?;
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 08 runs it)"]
async fn readyz_is_not_ready_before_the_caches_sync_and_ready_after()
-> anyhow::Result<()> {
    let setup = Setup::new("readyz").await?;
    let ns = setup.ns.name();
    // A ServiceAccount with no permissions yet: the caches cannot sync.
    let accounts: Api<ServiceAccount> = Api::namespaced(setup.admin.clone(), ns);
    let account = ServiceAccount {
        metadata: ObjectMeta {
            name: Some("late".into()),
            ..ObjectMeta::default()
        },
        ..ServiceAccount::default()
    };
    accounts.create(&PostParams::default(), &account).await?;
    let kubeconfig = ServiceAccountKubeconfig::create(ns, "late")?;
    let replica = Replica::start("replica", kubeconfig, ns).await?;

    assert_eq!(replica.get("/healthz").await?, (200, "ok".to_string()));
    for _ in 0..3 {
        let (status, body) = replica.get("/readyz").await?;
        assert_eq!(status, 503, "ready without synced caches: {body}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }

    // Grant the deploy manifests' roles in this namespace: the watches retry and sync.
    for role in ["taskrun-controller", LEADER_ELECTION] {
        bind_cluster_role(&setup.admin, ns, role, ns, "late").await?;
    }
    let granted = Instant::now();
    wait_until("/readyz to answer 200", Duration::from_secs(60), || async {
        replica.assert_running()?;
        Ok((replica.get("/readyz").await?.0 == 200).then_some(()))
    })
    .await?;
    eprintln!(
        "ready {:.2} s after the permissions were granted (the watches retry with backoff)",
        granted.elapsed().as_secs_f64()
    );
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 08 runs it)"]
async fn metrics_parse_as_prometheus_text_and_count_the_work() -> anyhow::Result<()> {
    let setup = Setup::new("metrics").await?;
    let replica = setup.replica("replica").await?;
    setup.wait_leader(&replica, START).await?;

    let scrape = replica.scrape().await?;
    for (name, kind) in [
        ("taskrun_controller_reconciles", "counter"),
        ("taskrun_controller_reconcile_duration_seconds", "histogram"),
        ("taskrun_controller_queue_depth", "gauge"),
        ("taskrun_controller_leader", "gauge"),
    ] {
        let help = scrape.docs.get(name);
        assert!(help.is_some(), "no HELP for {name}; got {:?}", scrape.docs);
        let (_, text) = replica.get("/metrics").await?;
        assert!(
            text.contains(&format!("# TYPE {name} {kind}")),
            "{name} is not a {kind}:\n{text}"
        );
    }
    let before = replica.reconciles().await?;
    for name in ["one", "two", "three"] {
        setup.run(name).await?;
    }
    for name in ["one", "two", "three"] {
        setup.succeeded(name, &[&replica]).await?;
    }
    let scrape = replica.scrape().await?;
    let after = sum(&scrape, "taskrun_controller_reconciles_total");
    eprintln!("reconciles counted: {before} before three runs, {after} after");
    // Each run is reconciled at least twice: to start it, and to record how it finished.
    assert!(after >= before + 6.0, "{before} -> {after}");
    let timed = sum(
        &scrape,
        "taskrun_controller_reconcile_duration_seconds_count",
    );
    assert_eq!(timed, after, "every reconcile is timed");
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 08 runs it)"]
async fn the_deploy_manifests_are_accepted_by_the_api_server() -> anyhow::Result<()> {
    let setup = Setup::new("deploy").await?;
    let dir = workshop_testkit::manifests_dir().join("deploy");
    let output = Command::new("kubectl")
        .args(["apply", "--dry-run=server", "-f"])
        .arg(&dir)
        .output()
        .await?;
    let said = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "kubectl apply --dry-run=server -f manifests/deploy/ failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    for object in [
        "deployment.apps/taskrun-controller",
        "serviceaccount/taskrun-controller",
    ] {
        assert!(said.contains(object), "{object} missing from:\n{said}");
    }

    // The Pod the Deployment makes passes the `restricted` Pod Security Standard.
    let namespaces: Api<Namespace> = Api::all(setup.admin.clone());
    let restricted = serde_json::json!({ "metadata": { "labels": {
        "pod-security.kubernetes.io/enforce": "restricted" } } });
    namespaces
        .patch(
            setup.ns.name(),
            &PatchParams::default(),
            &Patch::Merge(&restricted),
        )
        .await?;
    let text = std::fs::read_to_string(dir.join("20-deployment.yaml"))?;
    let mut template = None;
    for document in serde_yaml::Deserializer::from_str(&text) {
        let value = serde_json::to_value(serde_yaml::Value::deserialize(document)?)?;
        if value["kind"] == "Deployment" {
            template = Some(value["spec"]["template"].clone());
        }
    }
    let template = template.context("no Deployment in 20-deployment.yaml")?;
    let mut spec: k8s_openapi::api::core::v1::PodSpec =
        serde_json::from_value(template["spec"].clone())?;
    // The ServiceAccount lives in workshop-system, not in this namespace.
    spec.service_account_name = None;
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("pod-security-check".into()),
            ..ObjectMeta::default()
        },
        spec: Some(spec),
        ..Pod::default()
    };
    let pods: Api<Pod> = Api::namespaced(setup.admin.clone(), setup.ns.name());
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    pods.create(&dry_run, &pod).await.context(
        "the restricted Pod Security Standard refused the controller's Pod",
    )?;

    // And the same Pod made privileged is refused: the check above can fail.
    let mut privileged = pod.clone();
    if let Some(container) = privileged
        .spec
        .as_mut()
        .and_then(|spec| spec.containers.first_mut())
    {
        container
            .security_context
            .get_or_insert_with(Default::default)
            .privileged = Some(true);
    }
    assert!(pods.create(&dry_run, &privileged).await.is_err());
    Ok(())
}

// ANCHOR: partition_test
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 08 runs it)"]
async fn a_leader_cut_off_from_the_api_server_stops_before_the_standby_takes_over()
-> anyhow::Result<()> {
    let setup = Setup::new("partition").await?;
    // Replica a reaches the API server only through a proxy the test can cut; b directly.
    let proxy = Proxy::to_api_server().await?;
    let kubeconfig =
        ServiceAccountKubeconfig::through(SA_NAMESPACE, SA_NAME, &proxy)?;
    let a = Replica::start("replica-a", kubeconfig, setup.ns.name()).await?;
    setup.wait_leader(&a, START).await?;
    let b = setup.replica("replica-b").await?;
    b.wait_ready().await?;

    // Every request of a's now hangs: nothing fails, nothing answers.
    proxy.cut();
    let cut = Timestamp::now();
    setup.wait_leader(&b, START).await?;
    let b_leads = b
        .logged_at("became the leader")
        .context("replica-b leads but never logged it")?;
    // Give a the whole renew deadline (3 s) and a second more to notice, counted from the cut.
    let noticed = wait_until(
        "replica-a to stop leading",
        Duration::from_secs(4),
        || async { Ok(a.logged_at("no longer the leader")) },
    )
    .await;
    let seconds =
        |from: Timestamp, to: Timestamp| to.duration_since(from).as_secs_f64();
    let Ok((a_stopped, _)) = noticed else {
        let still = a
            .metric("taskrun_controller_leader")
            .await
            .unwrap_or(f64::NAN);
        anyhow::bail!(
            "replica-a still leads {:.1} s after it was cut off (its leader gauge is {still}), \
             while replica-b has led since {:.1} s after the cut: both reconcile",
            seconds(cut, Timestamp::now()),
            seconds(cut, b_leads),
        );
    };
    let overlap = seconds(b_leads, a_stopped).max(0.0);
    eprintln!(
        "partition: the cut-off leader stopped {:.2} s after the cut, the standby led {:.2} s \
         after it; both led for {overlap:.2} s (lease {LEASE_SECONDS} s, renew deadline 3 s)",
        seconds(cut, a_stopped),
        seconds(cut, b_leads),
    );
    assert_eq!(
        overlap, 0.0,
        "replica-a stopped leading {overlap:.2} s after replica-b took over"
    );
    // And b does the work.
    setup.run("after").await?;
    setup.succeeded("after", &[&b]).await?;
    Ok(())
}
// ANCHOR_END: partition_test
