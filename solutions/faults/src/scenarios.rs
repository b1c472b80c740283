//! The scenarios. Each tells one story of a real cluster hurting a controller, and
//! ends with the independent checker listing the cluster.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, ensure};
use crds::{Param, Step, Task, TaskRun, TaskRunPhase, TaskSpec};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{ListParams, PostParams};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;
use workshop_testkit::proxy::Proxy;
use workshop_testkit::{
    ServiceAccountKubeconfig, TestNamespace, apply_manifest, bind_cluster_role,
    wait_until,
};

use crate::Figures;
use crate::check::{self, Foreign};
use crate::churn::{self, Counter};
use crate::cluster::{self, Kwok};
use crate::process::Process;

/// Every scenario: its name (for `--only`) and what it does.
pub const ALL: [(&str, &str); 8] = [
    (
        "apiserver",
        "the API server restarted in the middle of churn: steps 04, 05, 07 reconnect and converge",
    ),
    (
        "etcd",
        "etcd restarted in the middle of churn: steps 04, 05, 07 reconnect and converge",
    ),
    (
        "sigkill",
        "steps 04 and 07 killed with SIGKILL ten times each during churn, restarted each time",
    ),
    (
        "relist",
        "forced re-lists during churn, the last one with changes only it can deliver",
    ),
    (
        "partition",
        "the step 08 leader cut off from the API server while its standby is not",
    ),
    (
        "rival-writer",
        "another writer updating the same sources and companions at the same time",
    ),
    (
        "finalizer",
        "sources deleted while step 05's mirror into another namespace is killed: none left behind",
    ),
    (
        "bad-input",
        "ConfigMaps at the size limit, binary, 10 000 keys, unicode; odd Tasks and params",
    ),
];

const SA_NAMESPACE: &str = "workshop-system";
const MIRROR_SA: &str = "configmap-mirror";
/// Step 05's mirror into another namespace, and its two roles (one per namespace).
const MIRROR_INTO_SA: &str = "configmap-mirror-into";
const MIRROR_INTO_ROLES: [&str; 2] = [
    "configmap-mirror-into-source",
    "configmap-mirror-into-target",
];
const TASKRUN_SA: &str = "taskrun-controller";
/// How long the controllers may take to put everything right once the churn stops.
const CONVERGE: Duration = Duration::from_secs(90);
/// The same after an API server restart. A watch that failed while the API server was
/// away has backed off: kube-runtime's default backoff doubles up to 30 s and adds up
/// to as much again of random jitter, so a controller may wait a minute before it
/// looks again (measured: 71 s).
const CONVERGE_AFTER_RESTART: Duration = Duration::from_secs(180);

/// What every scenario needs.
pub struct Ctx {
    admin: Client,
    bin_dir: PathBuf,
    log_dir: PathBuf,
    cluster: String,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx")
            .field("bin_dir", &self.bin_dir)
            .field("cluster", &self.cluster)
            .finish_non_exhaustive()
    }
}

impl Ctx {
    pub async fn new(
        bin_dir: &Path,
        cluster: &str,
        log_dir: &Path,
    ) -> anyhow::Result<Self> {
        for binary in [
            "solution-04-mirror",
            "solution-05-controller",
            "solution-07-taskrun",
            "solution-08-production",
        ] {
            ensure!(
                bin_dir.join(binary).is_file(),
                "{} is missing: build it first (scripts/test-faults.sh does)",
                bin_dir.join(binary).display()
            );
        }
        let admin = workshop_testkit::client().await;
        workshop_testkit::install_task_crds(&admin).await?;
        for rbac in [
            "rbac/mirror.yaml",
            "rbac/taskrun.yaml",
            "deploy/10-rbac.yaml",
        ] {
            apply_manifest(rbac).await;
        }
        Ok(Self {
            admin,
            bin_dir: bin_dir.to_path_buf(),
            log_dir: log_dir.to_path_buf(),
            cluster: cluster.to_string(),
        })
    }

    fn program(&self, package: &str) -> PathBuf {
        self.bin_dir.join(package)
    }

    /// Step 04's or 05's mirror (`package`), in namespace `ns` only.
    fn mirror(&self, package: &str, ns: &str, name: &str) -> anyhow::Result<Process> {
        let kubeconfig = ServiceAccountKubeconfig::create(SA_NAMESPACE, MIRROR_SA)?;
        let program = self.program(package);
        Process::start(
            name,
            &program,
            &["--namespace", ns],
            kubeconfig,
            &self.log_dir,
        )
    }

    /// Step 05's mirror from namespace `ns` into namespace `into`, as its own
    /// ServiceAccount, whose roles are bound in those two namespaces.
    async fn mirror_into(
        &self,
        ns: &str,
        into: &str,
        name: &str,
    ) -> anyhow::Result<Process> {
        for (namespace, role) in [ns, into].into_iter().zip(MIRROR_INTO_ROLES) {
            bind_cluster_role(
                &self.admin,
                namespace,
                role,
                SA_NAMESPACE,
                MIRROR_INTO_SA,
            )
            .await?;
        }
        // The authorizer learns of new RoleBindings a moment later: wait for it, so that
        // the controller's first list is not refused.
        let as_controller =
            workshop_testkit::service_account_client(SA_NAMESPACE, MIRROR_INTO_SA)
                .await;
        wait_until("the RoleBindings to take effect", CONVERGE, || async {
            for namespace in [ns, into] {
                let api: Api<ConfigMap> =
                    Api::namespaced(as_controller.clone(), namespace);
                api.list(&ListParams::default().limit(1)).await?;
            }
            Ok(Some(()))
        })
        .await?;
        let kubeconfig =
            ServiceAccountKubeconfig::create(SA_NAMESPACE, MIRROR_INTO_SA)?;
        let program = self.program("solution-05-controller");
        Process::start(
            name,
            &program,
            &["--namespace", ns, "--into", into],
            kubeconfig,
            &self.log_dir,
        )
    }

    /// Step 07's Task Runner, in namespace `ns` only.
    fn taskrun(&self, ns: &str, name: &str) -> anyhow::Result<Process> {
        let kubeconfig = ServiceAccountKubeconfig::create(SA_NAMESPACE, TASKRUN_SA)?;
        let program = self.program("solution-07-taskrun");
        Process::start(
            name,
            &program,
            &["--namespace", ns],
            kubeconfig,
            &self.log_dir,
        )
    }
}

pub async fn run(name: &str, ctx: &Ctx) -> anyhow::Result<Figures> {
    match name {
        "apiserver" => restart(ctx, "kube-apiserver").await,
        "etcd" => restart(ctx, "etcd").await,
        "sigkill" => sigkill(ctx).await,
        "relist" => relist(ctx).await,
        "partition" => partition(ctx).await,
        "rival-writer" => rival_writer(ctx).await,
        "finalizer" => finalizer(ctx).await,
        "bad-input" => bad_input(ctx).await,
        other => bail!("no scenario named {other}"),
    }
}

/// A mirror namespace: its Api, and a source mirrored once, which
/// proves the controller is up.
async fn warm_mirror(
    api: &Api<ConfigMap>,
    controller: &Process,
) -> anyhow::Result<()> {
    let counter = Counter::default();
    let data = BTreeMap::from([("warm".to_string(), "up".to_string())]);
    churn::create_cm(api, &churn::source("warm", data), &counter).await?;
    wait_until("the mirror to start", Duration::from_secs(60), || async {
        controller.ensure_healthy()?;
        Ok(api.get_opt("warm-synced").await?.map(|_| ()))
    })
    .await
    .map(|_| ())
}

/// The Task `nap`, and one run of it finished, which proves the Task Runner is up.
async fn warm_taskrun(
    tasks: &Api<Task>,
    runs: &Api<TaskRun>,
    controller: &Process,
) -> anyhow::Result<()> {
    let counter = Counter::default();
    churn::nap_task(tasks, &counter).await?;
    churn::create_run(runs, "warm", "nap", Vec::new(), &counter).await?;
    wait_until(
        "the Task Runner to start",
        Duration::from_secs(60),
        || async {
            controller.ensure_healthy()?;
            let run = runs.get("warm").await?;
            Ok(run.phase().filter(|p| p.is_terminal()).map(|_| ()))
        },
    )
    .await
    .map(|_| ())
}

/// Both checks of one namespace of mirrors and one of runs,
/// as one list of violations.
async fn all_wrong(
    mirrors: &[(&Api<ConfigMap>, &Foreign)],
    runs: Option<(&Api<TaskRun>, &Api<Pod>)>,
) -> anyhow::Result<Vec<String>> {
    let mut wrong = Vec::new();
    for (api, foreign) in mirrors {
        wrong.extend(check::mirror(api, foreign).await?);
    }
    if let Some((runs, pods)) = runs {
        wrong.extend(check::taskruns(runs, pods, true).await?);
    }
    Ok(wrong)
}

/// A user's ConfigMap `guard-synced` beside the managed source `guard`.
async fn guarded(api: &Api<ConfigMap>, counter: &Counter) -> anyhow::Result<Foreign> {
    let (name, version) = churn::foreign_companion(api, "guard", counter).await?;
    Ok(Foreign(BTreeMap::from([(name, version)])))
}

// ANCHOR: restart
/// The API server (or etcd) is killed and started again while users create,
/// change and delete hundreds of objects. The controllers see their connections
/// fail and their watches end; they must reconnect by themselves, re-list what
/// they missed, and converge.
async fn restart(ctx: &Ctx, component: &str) -> anyhow::Result<Figures> {
    let kwok = Kwok::new(&ctx.cluster)?;
    let admin = &ctx.admin;
    let ns4 = TestNamespace::create(admin, "faults-m4").await?;
    let ns5 = TestNamespace::create(admin, "faults-m5").await?;
    let nst = TestNamespace::create(admin, "faults-tr").await?;
    let api4: Api<ConfigMap> = Api::namespaced(admin.clone(), ns4.name());
    let api5: Api<ConfigMap> = Api::namespaced(admin.clone(), ns5.name());
    let runs: Api<TaskRun> = Api::namespaced(admin.clone(), nst.name());
    let pods: Api<Pod> = Api::namespaced(admin.clone(), nst.name());
    let tasks: Api<Task> = Api::namespaced(admin.clone(), nst.name());
    let mut m4 = ctx.mirror(
        "solution-04-mirror",
        ns4.name(),
        &format!("{component}-mirror04"),
    )?;
    let mut m5 = ctx.mirror(
        "solution-05-controller",
        ns5.name(),
        &format!("{component}-mirror05"),
    )?;
    let mut tr = ctx.taskrun(nst.name(), &format!("{component}-taskrun07"))?;
    let counter = churn::counter();
    let foreign4 = guarded(&api4, &counter).await?;
    let foreign5 = guarded(&api5, &counter).await?;
    warm_mirror(&api4, &m4).await?;
    warm_mirror(&api5, &m5).await?;
    warm_taskrun(&tasks, &runs, &tr).await?;

    let components = kwok.components()?;
    let served_at_start = cluster::requests_served(admin).await?;
    let churn = async {
        tokio::try_join!(
            churn::mirror(&api4, "src", 150, 16, Duration::from_millis(50), &counter),
            churn::mirror(&api5, "src", 150, 16, Duration::from_millis(50), &counter),
            churn::runs(&runs, "run", 20, Duration::from_millis(100), &counter),
        )
    };
    let fault = async {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let served_before = cluster::requests_served(admin).await?;
        kwok.restart(component)?;
        let down = cluster::wait_healthy(admin, Duration::from_secs(120)).await?;
        Ok::<_, anyhow::Error>((served_before, down))
    };
    // The suite plays the kubelet of a real control plane: a component that exits
    // (the controller-manager and the scheduler do, when they cannot renew their
    // leases in time) is started again.
    let mut revived = Vec::new();
    let supervise = async {
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            revived.extend(kwok.revive(&components)?);
        }
    };
    let churned = async {
        let ((), (served_before, down)) =
            tokio::try_join!(async { churn.await.map(|_| ()) }, fault)?;
        let mirrors = [(&api4, &foreign4), (&api5, &foreign5)];
        let bound = CONVERGE_AFTER_RESTART;
        let converge =
            check::until_clean("the controllers to converge", bound, || {
                all_wrong(&mirrors, Some((&runs, &pods)))
            })
            .await?;
        Ok::<_, anyhow::Error>((served_before, down, converge))
    };
    let (served_before, down, converge) = tokio::select! {
        done = churned => done?,
        failed = supervise => return failed,
    };
    for controller in [&mut m4, &mut m5, &mut tr] {
        controller.ensure_healthy()?;
    }
    let served_at_end = cluster::requests_served(admin).await?;
    // A restarted API server counts from 0 again.
    let served = if component == "kube-apiserver" {
        served_before - served_at_start + served_at_end
    } else {
        served_at_end - served_at_start
    };
    Ok(Figures {
        churned: counter.changes(),
        faults: 1,
        converge,
        requests: served.saturating_sub(counter.requests()),
        note: if revived.is_empty() {
            format!("back {:.1} s after the kill", down.as_secs_f64())
        } else {
            format!(
                "back {:.1} s after; restarted {}",
                down.as_secs_f64(),
                revived.join(", ")
            )
        },
    })
}
// ANCHOR_END: restart

/// A namespace for the mirror (`-m`) and one for the Task Runner (`-t`), with the APIs a
/// scenario that runs both reads and writes in each.
struct Sides {
    nsm: TestNamespace,
    nst: TestNamespace,
    api: Api<ConfigMap>,
    runs: Api<TaskRun>,
    pods: Api<Pod>,
    tasks: Api<Task>,
}

impl Sides {
    async fn create(admin: &Client, prefix: &str) -> anyhow::Result<Self> {
        let nsm = TestNamespace::create(admin, &format!("{prefix}-m")).await?;
        let nst = TestNamespace::create(admin, &format!("{prefix}-t")).await?;
        Ok(Self {
            api: Api::namespaced(admin.clone(), nsm.name()),
            runs: Api::namespaced(admin.clone(), nst.name()),
            pods: Api::namespaced(admin.clone(), nst.name()),
            tasks: Api::namespaced(admin.clone(), nst.name()),
            nsm,
            nst,
        })
    }
}

// ANCHOR: sigkill
/// The mirror and the Task Runner are killed with SIGKILL ten times each while users
/// work, and started again each time, as a node restarts a crashed container.
/// Whatever a killed process was doing half-way, its successor must finish: no run
/// gets a second Pod, no user's ConfigMap is overwritten, every source converges.
async fn sigkill(ctx: &Ctx) -> anyhow::Result<Figures> {
    let admin = &ctx.admin;
    let Sides {
        nsm,
        nst,
        api,
        runs,
        pods,
        tasks,
    } = Sides::create(admin, "faults-kill").await?;
    let mut mirror =
        ctx.mirror("solution-04-mirror", nsm.name(), "sigkill-mirror04")?;
    let mut taskrun = ctx.taskrun(nst.name(), "sigkill-taskrun07")?;
    let counter = churn::counter();
    let mut foreign = Foreign::default();
    for i in 0..3 {
        let (name, version) =
            churn::foreign_companion(&api, &format!("guard-{i}"), &counter).await?;
        foreign.0.insert(name, version);
    }
    warm_mirror(&api, &mirror).await?;
    warm_taskrun(&tasks, &runs, &taskrun).await?;

    let served_at_start = cluster::requests_served(admin).await?;
    let churn = async {
        tokio::try_join!(
            churn::mirror(&api, "src", 200, 8, Duration::from_millis(100), &counter),
            churn::runs(&runs, "run", 30, Duration::from_millis(200), &counter),
        )
    };
    let kills = async {
        for _ in 0..10 {
            tokio::time::sleep(Duration::from_millis(600)).await;
            mirror.crash_and_restart().await?;
            taskrun.crash_and_restart().await?;
        }
        Ok::<_, anyhow::Error>(())
    };
    tokio::try_join!(churn, kills)?;
    let mirrors = [(&api, &foreign)];
    let converge =
        check::until_clean("the controllers to converge", CONVERGE, || {
            all_wrong(&mirrors, Some((&runs, &pods)))
        })
        .await?;
    mirror.ensure_healthy()?;
    taskrun.ensure_healthy()?;
    let served = cluster::requests_served(admin).await? - served_at_start;
    Ok(Figures {
        churned: counter.changes(),
        faults: 20,
        converge,
        requests: served.saturating_sub(counter.requests()),
        note: format!(
            "{} + {} processes; 3 foreign untouched",
            mirror.starts, taskrun.starts
        ),
    })
}
// ANCHOR_END: sigkill

// ANCHOR: relist
/// Step 04's mirror, run in this process so that the test owns its watch: on a signal
/// the watch is dropped, and a moment later a new watcher lists everything again,
/// exactly as after a `410 Gone`. Sources change during each gap, so the re-list is
/// the only way the controller hears of those changes; after the last one nothing
/// else changes. A controller whose workers read the cache before the re-list reached
/// it (bug 2) keeps stale companions for good.
async fn relist(ctx: &Ctx) -> anyhow::Result<Figures> {
    const SOURCES: usize = 100;
    let admin = &ctx.admin;
    let ns = TestNamespace::create(admin, "faults-relist").await?;
    let api: Api<ConfigMap> = Api::namespaced(admin.clone(), ns.name());
    let as_controller =
        workshop_testkit::service_account_client(SA_NAMESPACE, MIRROR_SA).await;
    let relist = Arc::new(Notify::new());
    let events = relisting(
        Api::namespaced(as_controller.clone(), ns.name()),
        relist.clone(),
        Duration::from_secs(2),
    );
    let informer = informer::Informer::from_events(events);
    let reconciler = mirror::Mirror::new(as_controller, informer.store());
    let (stop, stopped) = oneshot::channel::<()>();
    let controller = tokio::spawn(
        workqueue::controller::Controller::new(informer, reconciler).run(
            4,
            mirror::keys_for,
            async {
                let _ = stopped.await;
            },
        ),
    );

    let counter = churn::counter();
    let foreign = Foreign::default();
    stream::iter(0..SOURCES)
        .map(|i| {
            let data = BTreeMap::from([("round".to_string(), "0".to_string())]);
            let source = churn::source(&format!("src-{i}"), data);
            let api = &api;
            let counter = &counter;
            async move { churn::create_cm(api, &source, counter).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    check::until_clean("the first companions", CONVERGE, || {
        check::mirror(&api, &foreign)
    })
    .await?;

    let served_at_start = cluster::requests_served(admin).await?;
    let mut relists = 0;
    for round in 1..=6 {
        // Even rounds happen while the watch is down: only
        // the re-list after it tells.
        if round % 2 == 0 {
            relist.notify_one();
            relists += 1;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        stream::iter(0..SOURCES)
            .map(|i| {
                let patch = json!({ "data": { "round": round.to_string() } });
                let (api, counter) = (&api, &counter);
                async move {
                    churn::patch_cm(api, &format!("src-{i}"), patch, counter).await
                }
            })
            .buffer_unordered(16)
            .try_collect::<Vec<()>>()
            .await?;
        tokio::time::sleep(Duration::from_secs(1)).await;
        ensure!(!controller.is_finished(), "the controller stopped");
    }
    let converged = check::until_clean(
        "the companions to follow",
        Duration::from_secs(30),
        || check::mirror(&api, &foreign),
    )
    .await;
    let served = cluster::requests_served(admin).await? - served_at_start;
    let _ = stop.send(());
    let converge = converged?;
    Ok(Figures {
        churned: counter.changes(),
        faults: relists,
        converge,
        requests: served.saturating_sub(counter.requests()),
        note: format!("{SOURCES} sources; 3 of 6 rounds unwatched"),
    })
}
// ANCHOR_END: relist

/// The watch events of `api`, with a fresh list-then-watch each time
/// `relist` is notified: the current watch is dropped, and `gap` later a new
/// watcher starts with a full list.
fn relisting(
    api: Api<ConfigMap>,
    relist: Arc<Notify>,
    gap: Duration,
) -> informer::WatchEvents<ConfigMap> {
    let (tx, rx) = mpsc::unbounded_channel();
    // Small pages, as a big cluster's lists have many: a list then takes
    // several round trips, and workers run while its objects are still
    // on their way to the cache.
    let config = watcher::Config::default().page_size(10);
    tokio::spawn(async move {
        loop {
            let mut events = watcher(api.clone(), config.clone())
                .default_backoff()
                .boxed();
            loop {
                tokio::select! {
                    event = events.next() => {
                        let Some(event) = event else { return };
                        if tx.send(event).is_err() {
                            return;
                        }
                    }
                    () = relist.notified() => break,
                }
            }
            drop(events);
            tokio::time::sleep(gap).await;
        }
    });
    stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (event, rx))
    })
    .boxed()
}

// ANCHOR: partition
/// Two replicas of step 08; the leader reaches the API server only through a proxy,
/// which is then cut: its requests hang, neither failing nor answering. It must stop
/// leading within its renew deadline, before the standby may take the Lease, so that
/// at no moment do two replicas reconcile. The overlap is measured from the two
/// replicas' own log timestamps.
async fn partition(ctx: &Ctx) -> anyhow::Result<Figures> {
    const LEASE: &str = "faults-leader";
    let admin = &ctx.admin;
    let ns = TestNamespace::create(admin, "faults-part").await?;
    // Lets the Task Runner's ServiceAccount hold Leases in the test's namespace.
    let role = "taskrun-controller-leader-election";
    bind_cluster_role(admin, ns.name(), role, SA_NAMESPACE, TASKRUN_SA).await?;
    let runs: Api<TaskRun> = Api::namespaced(admin.clone(), ns.name());
    let pods: Api<Pod> = Api::namespaced(admin.clone(), ns.name());
    let tasks: Api<Task> = Api::namespaced(admin.clone(), ns.name());
    let counter = churn::counter();
    churn::nap_task(&tasks, &counter).await?;

    let proxy = Proxy::to_api_server().await?;
    let replica = |name: &str, kubeconfig| {
        let args = [
            "--namespace",
            ns.name(),
            "--identity",
            name,
            "--lease-name",
            LEASE,
            "--lease-namespace",
            ns.name(),
            "--listen",
            "127.0.0.1:0",
            "--log-format",
            "json",
            "--lease-duration",
            "4",
            "--renew-deadline",
            "3",
            "--retry-period",
            "1",
            "--shutdown-timeout",
            "2",
        ];
        let program = ctx.program("solution-08-production");
        Process::start(name, &program, &args, kubeconfig, &ctx.log_dir)
    };
    let mut a = replica(
        "partition-a",
        ServiceAccountKubeconfig::through(SA_NAMESPACE, TASKRUN_SA, &proxy)?,
    )?;
    wait_until("replica a to lead", Duration::from_secs(60), || async {
        a.ensure_healthy()?;
        Ok(logged_at(&a, "became the leader"))
    })
    .await?;
    let b = replica(
        "partition-b",
        ServiceAccountKubeconfig::create(SA_NAMESPACE, TASKRUN_SA)?,
    )?;
    wait_until("replica b to stand by", Duration::from_secs(60), || async {
        b.ensure_healthy()?;
        Ok(b.log_lines_with("serving /metrics").first().map(|_| ()))
    })
    .await?;
    churn::runs(&runs, "before", 3, Duration::ZERO, &counter).await?;
    let served_at_start = cluster::requests_served(admin).await?;

    proxy.cut();
    let cut = Timestamp::now();
    let cut_at = Instant::now();
    churn::runs(&runs, "after", 3, Duration::ZERO, &counter).await?;
    let (b_leads, _) = wait_until(
        "replica b to take over",
        Duration::from_secs(30),
        || async {
            b.ensure_healthy()?;
            Ok(logged_at(&b, "became the leader"))
        },
    )
    .await?;
    let a_stopped = wait_until(
        "replica a to stop leading",
        Duration::from_secs(5),
        || async { Ok(logged_at(&a, "no longer the leader")) },
    )
    .await
    .map(|(at, _)| at)
    .map_err(|_| {
        anyhow::anyhow!(
            "replica a still leads {:.1} s after the cut, while b has led since {:.1} s after it",
            seconds(cut, Timestamp::now()),
            seconds(cut, b_leads)
        )
    })?;
    check::until_clean("every run to finish under b", CONVERGE, || async {
        check::taskruns(&runs, &pods, true).await
    })
    .await?;
    let converge = cut_at.elapsed();
    b.ensure_healthy()?;
    let overlap = seconds(b_leads, a_stopped).max(0.0);
    ensure!(
        overlap == 0.0,
        "both replicas led for {overlap:.2} s: a stopped {:.2} s after the cut, b led {:.2} s after it",
        seconds(cut, a_stopped),
        seconds(cut, b_leads)
    );
    let served = cluster::requests_served(admin).await? - served_at_start;
    a.kill().await?;
    Ok(Figures {
        churned: counter.changes(),
        faults: 1,
        converge,
        requests: served.saturating_sub(counter.requests()),
        note: format!(
            "a stopped {:.2} s, b led {:.2} s: overlap {overlap:.2} s",
            seconds(cut, a_stopped),
            seconds(cut, b_leads)
        ),
    })
}
// ANCHOR_END: partition

/// When `process` first logged a message starting with `message`
/// (its JSON log's timestamp).
fn logged_at(process: &Process, message: &str) -> Option<Timestamp> {
    std::fs::read_to_string(process.log_path())
        .ok()?
        .lines()
        .find_map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).ok()?;
            let said = entry.get("fields")?.get("message")?.as_str()?;
            if !said.starts_with(message) {
                return None;
            }
            entry.get("timestamp")?.as_str()?.parse().ok()
        })
}

fn seconds(from: Timestamp, to: Timestamp) -> f64 {
    to.duration_since(from).as_secs_f64()
}

// ANCHOR: rival_writer
/// Someone else writes the same objects at the same time: every 100 ms, a rival
/// changes ten sources and edits ten companions by hand. When the rival stops, every
/// companion must hold its source's last content (no lost update), and the
/// controller must fall silent: a controller that fights back in a loop would keep
/// writing after the rival has gone.
async fn rival_writer(ctx: &Ctx) -> anyhow::Result<Figures> {
    const SOURCES: usize = 50;
    let admin = &ctx.admin;
    let ns = TestNamespace::create(admin, "faults-rival").await?;
    let api: Api<ConfigMap> = Api::namespaced(admin.clone(), ns.name());
    let controller = ctx.mirror("solution-04-mirror", ns.name(), "rival-mirror04")?;
    let counter = churn::counter();
    let foreign = Foreign::default();
    warm_mirror(&api, &controller).await?;
    for i in 0..SOURCES {
        let data = BTreeMap::from([("v".to_string(), "0".to_string())]);
        churn::create_cm(&api, &churn::source(&format!("src-{i}"), data), &counter)
            .await?;
    }
    check::until_clean("the first companions", CONVERGE, || {
        check::mirror(&api, &foreign)
    })
    .await?;

    let served_at_start = cluster::requests_served(admin).await?;
    let rival = churn::counter();
    for tick in 0..50 {
        let writes = (0..10).map(|k| {
            let i = (tick * 10 + k) % SOURCES;
            let (api, rival) = (&api, &rival);
            async move {
                let source = json!({ "data": { "v": format!("rival {tick}") } });
                churn::patch_cm(api, &format!("src-{i}"), source, rival).await?;
                let edit = json!({ "data": { "v": "overwritten by the rival" } });
                churn::patch_cm(api, &format!("src-{i}-synced"), edit, rival).await
            }
        });
        futures::future::try_join_all(writes).await?;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let converge = check::until_clean("no lost update", CONVERGE, || {
        check::mirror(&api, &foreign)
    })
    .await?;
    let served = cluster::requests_served(admin).await? - served_at_start;
    let by_controller = served.saturating_sub(rival.requests());
    // Quiet now: count what the controller still sends.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let idle = cluster::requests_served(admin).await? - served_at_start - served;
    controller.ensure_healthy()?;
    ensure!(
        idle == 0,
        "the controller sent {idle} requests in 5 s after the rival stopped: a hot loop"
    );
    ensure!(
        by_controller <= 2 * rival.requests(),
        "the controller sent {by_controller} requests for {} of the rival's: more than one answer per write",
        rival.requests()
    );
    Ok(Figures {
        churned: rival.changes(),
        // The rival's overwrites of companions: the writes that fight the controller.
        faults: rival.changes() / 2,
        converge,
        requests: by_controller,
        note: format!("{idle} requests in the 5 s after"),
    })
}
// ANCHOR_END: rival_writer

// ANCHOR: finalizer
/// Step 05's mirror into another namespace is killed while users delete sources. Each
/// deleted source stays, Terminating, held by its finalizer, and its companion stays
/// with it. Some sources are unmanaged meanwhile, some lose their companion before
/// they are deleted (their cleanup finds nothing: done), some only lose their
/// companion. Once the controller is back, and killed again in the middle of its
/// cleanups, nothing may be left behind: no source Terminating, no companion without
/// its managed source, no finalizer on a ConfigMap that is not managed.
async fn finalizer(ctx: &Ctx) -> anyhow::Result<Figures> {
    const SOURCES: usize = 100;
    const PLAIN: usize = 20;
    let admin = &ctx.admin;
    let src = TestNamespace::create(admin, "faults-fin").await?;
    let dst = TestNamespace::create(admin, "faults-fin-copies").await?;
    let sources: Api<ConfigMap> = Api::namespaced(admin.clone(), src.name());
    let copies: Api<ConfigMap> = Api::namespaced(admin.clone(), dst.name());
    let mut mirror = ctx
        .mirror_into(src.name(), dst.name(), "finalizer-mirror05")
        .await?;
    let counter = churn::counter();
    let creates = (0..SOURCES + PLAIN).map(|i| {
        let data = BTreeMap::from([("n".to_string(), i.to_string())]);
        let mut cm = churn::source(&format!("src-{i}"), data);
        if i >= SOURCES {
            cm.metadata.name = Some(format!("plain-{i}"));
            cm.labels_mut().clear();
        }
        cm
    });
    stream::iter(creates)
        .map(|cm| {
            let (sources, counter) = (&sources, &counter);
            async move { churn::create_cm(sources, &cm, counter).await }
        })
        .buffer_unordered(16)
        .try_collect::<Vec<()>>()
        .await?;
    check::until_clean("the first companions", CONVERGE, || async {
        mirror.ensure_healthy()?;
        check::mirror_into(&sources, &copies).await
    })
    .await?;

    let served_at_start = cluster::requests_served(admin).await?;
    mirror.kill().await?;
    let mut deleted = Vec::new();
    for i in 0..SOURCES {
        let name = format!("src-{i}");
        let companion = format!("{name}{}", check::SUFFIX);
        match i % 10 {
            0 | 2 | 4 | 6 | 8 => {
                churn::delete_cm(&sources, &name, &counter).await?;
                deleted.push(name);
            }
            1 => {
                let unmanage =
                    json!({ "metadata": { "labels": { check::MANAGED: null } } });
                churn::patch_cm(&sources, &name, unmanage, &counter).await?;
            }
            3 => {
                churn::delete_cm(&copies, &companion, &counter).await?;
                churn::delete_cm(&sources, &name, &counter).await?;
                deleted.push(name);
            }
            5 => churn::delete_cm(&copies, &companion, &counter).await?,
            _ => {}
        }
    }
    // While the controller is down, every deleted source waits for it.
    let mut held = 0;
    for name in &deleted {
        let source = sources.get_opt(name).await?;
        ensure!(
            source
                .as_ref()
                .is_some_and(|s| s.metadata.deletion_timestamp.is_some()),
            "{name}, deleted while the controller was down, is {}: its finalizer \
             should hold it, Terminating, until the controller is back",
            if source.is_some() {
                "not Terminating"
            } else {
                "gone already"
            }
        );
        held += 1;
    }
    let back = Instant::now();
    mirror.crash_and_restart().await?;
    // And killed again in the middle of its cleanups, once it has let the first
    // sources go: its successor finishes them, some half done (a companion deleted,
    // the finalizer still on).
    let (first_half, _) = wait_until(
        "the controller to let the first sources go",
        CONVERGE,
        || async {
            mirror.ensure_healthy()?;
            counter
                .requests
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let left = sources.list(&ListParams::default()).await?.items;
            let terminating = left
                .iter()
                .filter(|s| s.metadata.deletion_timestamp.is_some())
                .count();
            Ok((terminating < held).then_some(held - terminating))
        },
    )
    .await?;
    mirror.crash_and_restart().await?;
    check::until_clean("nothing to be left behind", CONVERGE, || async {
        mirror.ensure_healthy()?;
        check::mirror_into(&sources, &copies).await
    })
    .await?;
    let converge = back.elapsed();
    let served = cluster::requests_served(admin).await? - served_at_start;

    // The rest go with the controller running, and the namespaces can go then.
    // (kube-root-ca.crt, which the controller-manager publishes in every namespace,
    // stays.)
    let ours = |cm: &ConfigMap| cm.name_any() != "kube-root-ca.crt";
    for cm in sources.list(&ListParams::default()).await?.items {
        if ours(&cm) {
            churn::delete_cm(&sources, &cm.name_any(), &counter).await?;
        }
    }
    check::until_clean("every source to be deleted", CONVERGE, || async {
        let mut wrong = check::mirror_into(&sources, &copies).await?;
        for api in [&sources, &copies] {
            let items = api.list(&ListParams::default()).await?.items;
            let left = items.iter().filter(|cm| ours(cm)).count();
            if left > 0 {
                wrong
                    .push(format!("{left} ConfigMaps left in {:?}", api.namespace()));
            }
        }
        Ok(wrong)
    })
    .await?;
    mirror.ensure_healthy()?;
    Ok(Figures {
        churned: counter.changes(),
        faults: 2,
        converge,
        requests: served.saturating_sub(counter.requests()),
        note: format!(
            "{held} held Terminating while down; {first_half} let go before the 2nd \
             kill; 0 left behind"
        ),
    })
}
// ANCHOR_END: finalizer

// ANCHOR: bad_input
/// Input at and past the edges. The API server refuses what no controller could store
/// (a unicode key, data over 1 MiB); everything it accepts is mirrored exactly. Tasks
/// with odd scripts run as written; a run with an unknown parameter, a reference to
/// an undeclared one, or a missing Task gets a clear status, never a crash.
async fn bad_input(ctx: &Ctx) -> anyhow::Result<Figures> {
    let admin = &ctx.admin;
    let Sides {
        nsm,
        nst,
        api,
        runs,
        pods,
        tasks,
    } = Sides::create(admin, "faults-bad").await?;
    let mirror = ctx.mirror("solution-04-mirror", nsm.name(), "bad-mirror04")?;
    let taskrun = ctx.taskrun(nst.name(), "bad-taskrun07")?;
    warm_mirror(&api, &mirror).await?;
    warm_taskrun(&tasks, &runs, &taskrun).await?;
    let counter = churn::counter();
    let served_at_start = cluster::requests_served(admin).await?;

    // Accepted by the API server: the mirror must copy them exactly.
    let near_limit =
        BTreeMap::from([("big".to_string(), "x".repeat(1024 * 1024 - 64))]);
    let many = (0..10_000)
        .map(|k| (format!("key-{k:05}"), k.to_string()))
        .collect();
    let unicode = BTreeMap::from([(
        "greeting".to_string(),
        "héllo wörld, 你好, 🚀\n\t\"quoted\"".to_string(),
    )]);
    for (name, data) in [
        ("near-limit", near_limit),
        ("ten-thousand-keys", many),
        ("unicode-values", unicode),
    ] {
        churn::create_cm(&api, &churn::source(name, data), &counter).await?;
    }
    let mut binary = churn::source("binary", BTreeMap::new());
    binary.binary_data = Some(BTreeMap::from([(
        "bytes".to_string(),
        k8s_openapi::ByteString((0..=255u8).cycle().take(256 * 1024).collect()),
    )]));
    churn::create_cm(&api, &binary, &counter).await?;
    // Refused by the API server: they never reach the controller.
    let refused = [
        (
            "unicode-key",
            BTreeMap::from([("clé".to_string(), "v".to_string())]),
        ),
        (
            "over-limit",
            BTreeMap::from([("big".to_string(), "x".repeat(1024 * 1024 + 1))]),
        ),
    ];
    for (name, data) in refused {
        let answer = api
            .create(&PostParams::default(), &churn::source(name, data))
            .await;
        ensure!(
            matches!(&answer, Err(kube::Error::Api(status)) if status.code == 422),
            "the API server accepted ConfigMap {name}: {answer:?}"
        );
    }

    // Tasks with odd scripts, and runs that ask for what does not exist.
    let odd = TaskSpec {
        description: Some("scripts with quotes, unicode, and a failure".into()),
        params: Vec::new(),
        steps: vec![
            Step::script(
                "quotes",
                "busybox:1.37",
                "echo \"it's $HOME\" 'a\"b' \\\\ `date`",
            ),
            Step::script("unicode", "busybox:1.37", "echo 'ünïcødé 🚀'\necho done"),
        ],
    };
    let failing = TaskSpec {
        description: Some("fails at its second step".into()),
        params: Vec::new(),
        steps: vec![
            Step::script("fine", "busybox:1.37", "echo fine"),
            Step::script("boom", "busybox:1.37", "echo boom; exit 3"),
        ],
    };
    let undeclared = TaskSpec {
        description: Some("uses a parameter it does not declare".into()),
        params: Vec::new(),
        steps: vec![Step::script(
            "greet",
            "busybox:1.37",
            "echo $(params.nobody)",
        )],
    };
    for (name, spec) in [
        ("odd", odd),
        ("failing", failing),
        ("undeclared", undeclared),
    ] {
        tasks
            .create(&PostParams::default(), &Task::new(name, spec))
            .await?;
        counter
            .changes
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
    let expected = [
        ("odd-1", "odd", Vec::new(), TaskRunPhase::Succeeded),
        ("failing-1", "failing", Vec::new(), TaskRunPhase::Failed),
        (
            "undeclared-1",
            "undeclared",
            Vec::new(),
            TaskRunPhase::Failed,
        ),
        (
            "unknown-param-1",
            "nap",
            vec![Param::new("nobody", "x")],
            TaskRunPhase::Failed,
        ),
        (
            "no-task-1",
            "never-created",
            Vec::new(),
            TaskRunPhase::Pending,
        ),
    ];
    for (run, task, params, _) in &expected {
        churn::create_run(&runs, run, task, params.clone(), &counter).await?;
    }
    let converge =
        check::until_clean("every input to be handled", CONVERGE, || async {
            let mut wrong = check::mirror(&api, &Foreign::default()).await?;
            wrong.extend(check::taskruns(&runs, &pods, true).await?);
            for (name, _, _, phase) in &expected {
                let run = runs.get(name).await?;
                let reason = run
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.first())
                    .map(|c| c.reason.clone());
                if run.phase() != Some(*phase)
                    || reason.as_deref().unwrap_or_default().is_empty()
                {
                    wrong.push(format!(
                    "run {name} is {:?} ({reason:?}), expected {phase} with a reason",
                    run.phase()
                ));
                }
            }
            Ok(wrong)
        })
        .await?;
    mirror.ensure_healthy()?;
    taskrun.ensure_healthy()?;
    let reasons: Vec<String> = stream::iter(&expected)
        .then(|(name, ..)| {
            let runs = &runs;
            async move {
                let run = runs.get(name).await.ok()?;
                let condition = run.status?.conditions.into_iter().next()?;
                Some(format!("{name}: {}", condition.reason))
            }
        })
        .filter_map(|reason| async { reason })
        .collect()
        .await;
    println!("    {}", reasons.join(", "));
    let served = cluster::requests_served(admin).await? - served_at_start;
    Ok(Figures {
        churned: counter.changes(),
        faults: 4 + 2 + expected.len() as u64,
        converge,
        requests: served.saturating_sub(counter.requests()),
        note: format!("2 refused (422), {} runs with a reason", reasons.len()),
    })
}
// ANCHOR_END: bad_input
