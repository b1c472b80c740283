//! What the end-to-end tests of step 07 share: a namespace with the controller running in it as
//! its ServiceAccount, Tasks made of shell scripts, and bounded waits on runs.
//!
//! The Tasks use only `echo`, `sleep N` and `exit N` in `busybox`. On kind, and on the real node of
//! `scripts/cluster-up.sh --real-node`, they really run; on the fake node of the Docker-free
//! cluster the KWOK Stages of `manifests/local-cluster/kwok-stages.yaml` play them (a Pod lasts as
//! long as its `sleep`s, `exit N` exits N), so the same tests pass on both. What only real
//! containers can show (their output) is checked where they run (`containers_really_run`).
// Each test file uses its own part of this module.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use crds::{Param, Step, Task, TaskRun, TaskRunPhase, TaskSpec};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Container, Pod, PodSpec};
use kube::api::{ListParams, PostParams};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use workshop_testkit::under_test::{ControllerUnderTest, GaveUp};
use workshop_testkit::{
    TestNamespace, apply_manifest, service_account_client, wait_until,
};

pub const RBAC: &str = "rbac/taskrun.yaml";
pub const SA_NAMESPACE: &str = "workshop-system";
pub const SA_NAME: &str = "taskrun-controller";
pub const IMAGE: &str = "busybox:1.37";
/// How long a run may take to finish in these tests: seconds on the Docker-free cluster; on kind
/// the first run also pulls the image.
pub const FINISH: Duration = Duration::from_secs(120);
/// How long the controller may take to react to a change.
pub const REACT: Duration = Duration::from_secs(10);

/// What a wait for a run says when it times out on the Docker-free cluster while the run's
/// Pod exists and never finished: the fake node's Pods finish only by these Stages.
const KWOK_HINT: &str = "on the Docker-free cluster, Pods finish only with the KWOK Stages of \
     manifests/local-cluster/kwok-stages.yaml; scripts/cluster-up.sh warns when the cluster \
     was made without them";

/// A namespace with the controller under test running in it, as its ServiceAccount.
pub struct Harness {
    pub admin: Client,
    pub ns: TestNamespace,
    pub tasks: Api<Task>,
    pub runs: Api<TaskRun>,
    pub pods: Api<Pod>,
    /// The controller, and the warnings and errors it logged (403 Forbidden among them).
    controller: ControllerUnderTest,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("ns", &self.ns)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// A fresh namespace, and the controller running in it.
    pub async fn start(prefix: &str) -> anyhow::Result<Self> {
        let mut harness = Self::without_controller(prefix).await?;
        harness.start_controller().await;
        Ok(harness)
    }

    /// A fresh namespace, the CRDs and the RBAC installed, but no controller yet.
    pub async fn without_controller(prefix: &str) -> anyhow::Result<Self> {
        let admin = workshop_testkit::client().await;
        workshop_testkit::install_task_crds(&admin).await?;
        apply_manifest(RBAC).await;
        let ns = TestNamespace::create(&admin, prefix).await?;
        Ok(Self {
            tasks: Api::namespaced(admin.clone(), ns.name()),
            runs: Api::namespaced(admin.clone(), ns.name()),
            pods: Api::namespaced(admin.clone(), ns.name()),
            admin,
            ns,
            controller: ControllerUnderTest::default(),
        })
    }

    /// Starts the controller, scoped to this namespace, as the ServiceAccount of
    /// `manifests/rbac/taskrun.yaml`.
    pub async fn start_controller(&mut self) {
        let as_controller = service_account_client(SA_NAMESPACE, SA_NAME).await;
        let namespace = self.ns.name().to_string();
        self.controller.start(async move {
            taskrun::start(
                as_controller,
                Some(&namespace),
                2,
                std::future::pending(),
            )
            .await;
            Ok(())
        });
    }

    /// Stops the controller at once, wherever it is: as a crash would.
    pub async fn crash_controller(&mut self) {
        self.controller.stop().await;
    }

    /// Runs `work`, but fails as soon as the controller stops, with the reason it stopped,
    /// or is refused a request (its RBAC does not grant that verb on that resource, and no
    /// retry will change it), with the refusal.
    pub async fn unless_stopped<T>(
        &self,
        work: impl Future<Output = anyhow::Result<T>>,
    ) -> anyhow::Result<T> {
        tokio::select! {
            result = work => result,
            gave_up = self.controller.gave_up() => match gave_up {
                GaveUp::Stopped(why) => anyhow::bail!(
                    "the controller under test stopped: {why} (its error or panic is above)"
                ),
                GaveUp::Refused(line) => anyhow::bail!(
                    "the API server refused the controller under test a request (403 \
                     Forbidden: manifests/{RBAC} does not grant it), so it cannot do its \
                     work: {line}"
                ),
            },
        }
    }

    /// What a wait for run `name` that timed out adds to its error: the warnings the
    /// controller logged meanwhile, and, only when the cluster's node is KWOK's fake one
    /// and the run's Pod exists but never finished, that such Pods finish only by the
    /// KWOK Stages.
    async fn timed_out(&self, name: &str, err: anyhow::Error) -> anyhow::Error {
        let mut err = err;
        let lines = self.controller.log().lines();
        if !lines.is_empty() {
            let last = &lines[lines.len().saturating_sub(5)..];
            err = err.context(format!(
                "meanwhile the controller under test logged (last {} of {} lines):\n{}",
                last.len(),
                lines.len(),
                last.join("\n")
            ));
        }
        let pods = self.pods_of(name).await.unwrap_or_default();
        let finished = |pod: &Pod| {
            let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
            matches!(phase, Some("Succeeded" | "Failed"))
        };
        if !pods.is_empty()
            && !pods.iter().any(finished)
            && only_fake_nodes(&self.admin).await
        {
            err = err.context(format!(
                "the Pod of run {name} exists but never finished; {KWOK_HINT}"
            ));
        }
        err
    }

    /// Whether the controller stopped, or was refused a request: it will not get anywhere.
    fn gave_up(&self) -> bool {
        self.controller.has_given_up()
    }

    /// Fails if the controller stopped (say, it was denied a permission it needs).
    pub fn assert_running(&self) {
        self.controller.assert_running();
    }

    /// Creates a Task named `name` whose steps are `(name, script)` pairs run in busybox, with
    /// one parameter, `who`, defaulting to `world`.
    pub async fn task(
        &self,
        name: &str,
        steps: &[(&str, &str)],
    ) -> anyhow::Result<Task> {
        let spec = TaskSpec {
            description: Some(format!("test Task {name}")),
            params: vec![crds::ParamSpec {
                name: "who".into(),
                description: None,
                default: Some("world".into()),
            }],
            steps: steps
                .iter()
                .map(|(step, script)| Step::script(step, IMAGE, script))
                .collect(),
        };
        Ok(self
            .tasks
            .create(&PostParams::default(), &Task::new(name, spec))
            .await?)
    }

    /// The TaskRun `name` of the Task `task`, not yet created.
    pub fn run_of(&self, name: &str, task: &str, params: Vec<Param>) -> TaskRun {
        let mut run = TaskRun::for_task(task, params);
        run.metadata.generate_name = None;
        run.metadata.name = Some(name.into());
        run
    }

    /// Creates a TaskRun `name` of the Task `task`, with an optional timeout.
    pub async fn run(
        &self,
        name: &str,
        task: &str,
        timeout: Option<&str>,
    ) -> anyhow::Result<TaskRun> {
        let mut run = self.run_of(name, task, Vec::new());
        run.spec.timeout = timeout.map(String::from);
        Ok(self.runs.create(&PostParams::default(), &run).await?)
    }

    /// Creates `run` and records every phase it goes through until it finishes (consecutive
    /// repeats collapsed), from a watch started before the run exists, so none is missed.
    /// Returns the phases and the finished run.
    pub async fn create_and_watch(
        &self,
        run: &TaskRun,
        within: Duration,
    ) -> anyhow::Result<(Vec<TaskRunPhase>, TaskRun)> {
        let (seen, run) = self.create_and_record(run, within).await?;
        let mut phases: Vec<TaskRunPhase> =
            seen.into_iter().map(|(phase, _)| phase).collect();
        phases.dedup();
        Ok((phases, run))
    }

    /// Like `create_and_watch`, with each status message the watch saw beside its phase.
    pub async fn create_and_record(
        &self,
        run: &TaskRun,
        within: Duration,
    ) -> anyhow::Result<(Vec<(TaskRunPhase, String)>, TaskRun)> {
        let name = run.name_any();
        let config =
            watcher::Config::default().fields(&format!("metadata.name={name}"));
        let mut events = watcher(self.runs.clone(), config).boxed();
        // The watch is running once its initial (empty) list is done.
        while let Some(event) = events.try_next().await? {
            if matches!(event, watcher::Event::InitDone) {
                break;
            }
        }
        self.runs.create(&PostParams::default(), run).await?;
        let mut phases: Vec<(TaskRunPhase, String)> = Vec::new();
        let watch = async {
            while let Some(event) = events.try_next().await? {
                let (watcher::Event::Apply(run) | watcher::Event::InitApply(run)) =
                    event
                else {
                    continue;
                };
                if let Some(phase) = run.phase() {
                    let seen = (phase, reason_of(&run).1);
                    if phases.last() != Some(&seen) {
                        phases.push(seen);
                    }
                    if phase.is_terminal() {
                        return Ok(run);
                    }
                }
            }
            anyhow::bail!("the watch of {name} ended")
        };
        match tokio::time::timeout(within, self.unless_stopped(watch)).await {
            Ok(Ok(run)) => Ok((phases, run)),
            Ok(Err(err)) => Err(err),
            Err(_) => {
                let err = anyhow::anyhow!(
                    "run {name} did not finish within {within:?} (phases so far: {phases:?})"
                );
                Err(self.timed_out(&name, err).await)
            }
        }
    }

    /// Waits until run `name` satisfies `check`; returns it.
    pub async fn wait_for(
        &self,
        name: &str,
        what: &str,
        within: Duration,
        check: impl Fn(&TaskRun) -> bool,
    ) -> anyhow::Result<TaskRun> {
        let what = format!("run {name} to be {what}");
        let waited = wait_until(&what, within, || async {
            let run = self.runs.get(name).await?;
            Ok(check(&run).then_some(run))
        });
        let err = match self.unless_stopped(waited).await {
            Ok((run, took)) => {
                eprintln!("{what}: {took:?}");
                return Ok(run);
            }
            // The controller stopped or was refused: that error says it all.
            Err(err) if self.gave_up() => return Err(err),
            Err(err) => err,
        };
        Err(self.timed_out(name, err).await)
    }

    /// Waits until run `name` is in `phase`.
    pub async fn wait_for_phase(
        &self,
        name: &str,
        phase: TaskRunPhase,
        within: Duration,
    ) -> anyhow::Result<TaskRun> {
        self.wait_for(name, &phase.to_string(), within, |run| {
            run.phase() == Some(phase)
        })
        .await
    }

    /// The Pods of run `name`, found by label.
    pub async fn pods_of(&self, name: &str) -> anyhow::Result<Vec<Pod>> {
        let selector = format!("{}={name}", taskrun::pod::RUN_LABEL);
        Ok(self
            .pods
            .list(&ListParams::default().labels(&selector))
            .await?
            .items)
    }
}

/// Whether containers really run in this cluster: a schedulable node that KWOK does not fake
/// (kind's, or the real node of `scripts/cluster-up.sh --real-node`). With WORKSHOP_REAL_NODE=1 in the
/// environment (scripts/test.sh sets it when it made a real node), a cluster without one fails
/// the test instead of taking the fake node's path.
pub async fn containers_really_run(client: &Client) -> anyhow::Result<bool> {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let real = nodes
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .any(|node| {
            let annotation = node.annotations().get("kwok.x-k8s.io/node");
            let fake = annotation.map(String::as_str) == Some("fake");
            let cordoned =
                node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
            !fake && !cordoned
        });
    if !real {
        anyhow::ensure!(
            std::env::var("WORKSHOP_REAL_NODE").as_deref() != Ok("1"),
            "WORKSHOP_REAL_NODE=1 but the cluster has only fake nodes (scripts/cluster-up.sh --real-node)"
        );
        eprintln!(
            "NOTE: only fake nodes here: no container runs, so the steps' output is not checked \
             (scripts/cluster-up.sh --real-node, or kind, runs them for real)"
        );
    }
    Ok(real)
}

/// Whether every schedulable node of the cluster is KWOK's fake one (the Docker-free
/// cluster's), where no container runs and Pods finish only by the KWOK Stages.
pub async fn only_fake_nodes(client: &Client) -> bool {
    let nodes: Api<k8s_openapi::api::core::v1::Node> = Api::all(client.clone());
    let Ok(nodes) = nodes.list(&ListParams::default()).await else {
        return false;
    };
    let fake = |node: &k8s_openapi::api::core::v1::Node| {
        node.annotations()
            .get("kwok.x-k8s.io/node")
            .map(String::as_str)
            == Some("fake")
    };
    nodes.items.iter().any(fake)
        && nodes.items.iter().all(|node| {
            let cordoned =
                node.spec.as_ref().and_then(|s| s.unschedulable) == Some(true);
            fake(node) || cordoned
        })
}

/// The reason of a run's `Succeeded` condition, and its message.
pub fn reason_of(run: &TaskRun) -> (String, String) {
    run.status
        .as_ref()
        .and_then(taskrun::status::succeeded_condition)
        .map(|c| (c.reason.clone(), c.message.clone()))
        .unwrap_or_default()
}

/// A Pod spec whose one container, `container`, sleeps for an hour: a Pod someone else made,
/// which the tests put where the controller's own Pod would go.
pub fn sleeping_pod_spec(container: &str) -> PodSpec {
    PodSpec {
        containers: vec![Container {
            name: container.into(),
            image: Some(IMAGE.into()),
            command: Some(vec!["sh".into(), "-c".into(), "sleep 3600".into()]),
            ..Container::default()
        }],
        restart_policy: Some("Never".into()),
        ..PodSpec::default()
    }
}
