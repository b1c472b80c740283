//! `bench-taskrun`: how does the Mini Task Runner (step 07) cope with a burst of runs? Run it with
//! `scripts/bench.sh taskrun`.
//!
//! Starts a built TaskRun controller as a child process, scoped to a fresh namespace, against the
//! cluster in `$KUBECONFIG` (whose CRDs must be installed: `kubectl apply -f manifests/crds/`),
//! creates one Task of three `echo` steps and then 500 TaskRuns of it at once, and measures with a
//! watch on the TaskRuns:
//!
//! - **total**: from the first create until every run is terminal (Succeeded or Failed, counted);
//! - **time to Running** (p50/p99/max): from each run's create response until the watch first
//!   shows it in phase Running (or, if the watch never saw it Running, in a terminal phase);
//! - **time to Succeeded** (p50/p99/max): from each run's create response until the watch shows
//!   it Succeeded (on a real node, where its three containers really run one after the other);
//! - **memory**: the controller's peak RSS (VmHWM) once every run is terminal.
//!
//! The only target is that every run reaches a terminal phase. A benchmark reports; it is not a
//! test: it exits non-zero only when a measurement could not be made, e.g. when not every run is
//! terminal within the time bound.
//!
//! Use a throwaway cluster (`scripts/bench.sh taskrun` makes one and deletes it afterwards): on
//! the Docker-free cluster each run's Pod "runs" for about a second.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Parser;
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{
    ApiResource, DeleteParams, DynamicObject, GroupVersionKind, PostParams,
};
use kube::runtime::watcher;
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use tokio::time::Instant;
use workshop_testkit::bench::{
    ControllerProcess, Report, StampedEvents, mib, millis, percentile, progress,
    seconds, stamped_watch,
};
use workshop_testkit::{unique_name, wait_until};

const GROUP: &str = "workshop.io";
const VERSION: &str = "v1alpha1";
const TASK_NAME: &str = "bench";
const WARM_UP_RUN: &str = "warm-up";

/// Generous bound by default: past it the controller is broken, not slow, and there is no
/// figure. A real node, where every run starts real containers, needs more (--within).
const TERMINAL_BOUND: Duration = Duration::from_secs(300);
const WARM_UP_BOUND: Duration = Duration::from_secs(60);

#[derive(Debug, Parser)]
#[command(
    about = "Benchmark a TaskRun controller against the cluster in $KUBECONFIG \
             (use a throwaway cluster with the workshop's CRDs and KWOK stages)"
)]
struct Args {
    /// The built controller binary to run, e.g. target/release/solution-07-taskrun.
    #[arg(long)]
    controller: PathBuf,
    /// Where the controller's log (its stderr) goes.
    #[arg(long, default_value = "bench-taskrun-controller.log")]
    controller_log: PathBuf,
    /// Passed on to the controller as --workers (default: the controller's own default).
    #[arg(long)]
    workers: Option<usize>,
    /// TaskRuns created at once.
    #[arg(long, default_value_t = 500)]
    runs: usize,
    /// Create requests in flight at once.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How long every run may take to be terminal, in seconds (default 300).
    #[arg(long)]
    within: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    anyhow::ensure!(
        args.runs > 0 && args.concurrency > 0,
        "--runs and --concurrency must be at least 1"
    );
    let client = Client::try_default()
        .await
        .context("no usable kubeconfig: set $KUBECONFIG (scripts/bench.sh does)")?;
    client
        .apiserver_version()
        .await
        .context("the API server does not answer")?;

    let namespace = unique_name("bench-taskrun");
    create_namespace(&client, &namespace).await?;
    let mut report =
        Report::new(format!("taskrun benchmark: {}", args.controller.display()));
    let mut controller_args = vec!["--namespace".to_string(), namespace.clone()];
    if let Some(workers) = args.workers {
        controller_args.extend(["--workers".to_string(), workers.to_string()]);
    }
    let started = ControllerProcess::start(
        &args.controller,
        &controller_args,
        &args.controller_log,
    );
    let result = match started {
        Ok(mut controller) => {
            let result =
                run(&args, &client, &namespace, &mut controller, &mut report).await;
            // Always stop the controller.
            controller.stop().await;
            result
        }
        Err(err) => Err(err),
    };
    delete_namespace(&client, &namespace).await;
    print!("{}", report.table());
    result.with_context(|| {
        format!(
            "the benchmark could not finish; the controller's log is {}",
            args.controller_log.display()
        )
    })
}

fn task_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, "Task"),
        "tasks",
    )
}

fn taskrun_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, "TaskRun"),
        "taskruns",
    )
}

/// A Task of three steps that only `echo`: on the Docker-free cluster its Pod ends after 1 s.
fn task() -> DynamicObject {
    DynamicObject::new(TASK_NAME, &task_resource()).data(json!({
        "spec": {
            "description": "Three quick steps, for the benchmark",
            "steps": [
                { "name": "one", "image": "busybox:1.37", "script": "echo one" },
                { "name": "two", "image": "busybox:1.37", "script": "echo two" },
                { "name": "three", "image": "busybox:1.37", "command": ["echo"], "args": ["three"] },
            ],
        },
    }))
}

fn taskrun(name: &str) -> DynamicObject {
    DynamicObject::new(name, &taskrun_resource()).data(json!({
        "spec": { "taskRef": { "name": TASK_NAME } },
    }))
}

fn run_name(i: usize) -> String {
    format!("run-{i}")
}

fn phase(obj: &DynamicObject) -> Option<&str> {
    obj.data.get("status")?.get("phase")?.as_str()
}

fn is_terminal(phase: &str) -> bool {
    matches!(phase, "Succeeded" | "Failed")
}

async fn run(
    args: &Args,
    client: &Client,
    namespace: &str,
    controller: &mut ControllerProcess,
    report: &mut Report,
) -> anyhow::Result<()> {
    let tasks: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &task_resource());
    let runs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &taskrun_resource());
    tasks
        .create(&PostParams::default(), &task())
        .await
        .context("creating the Task (are the CRDs installed? kubectl apply -f manifests/crds/)")?;

    // Proves the controller has started, synced its caches and can run a Task, so its start-up
    // is not counted in the figures.
    runs.create(&PostParams::default(), &taskrun(WARM_UP_RUN))
        .await
        .context("creating the warm-up TaskRun")?;
    let (warm_phase, took) =
        wait_until("the warm-up TaskRun to finish", WARM_UP_BOUND, || async {
            let run = runs.get(WARM_UP_RUN).await?;
            Ok(phase(&run).filter(|p| is_terminal(p)).map(str::to_string))
        })
        .await?;
    controller.ensure_running()?;
    progress(format!(
        "controller is up (warm-up run {warm_phase} after {})",
        seconds(took)
    ));

    let mut tracker = Tracker::start(runs.clone()).await?;
    progress(format!(
        "creating {} TaskRuns in {namespace}, {} at a time",
        args.runs, args.concurrency
    ));
    let bound = args.within.map_or(TERMINAL_BOUND, Duration::from_secs);
    let began = Instant::now();
    let deadline = began + bound;
    let created = create_all(&runs, args.runs, args.concurrency);
    let all_terminal = async {
        loop {
            if tracker.terminal_count(args.runs) == args.runs {
                return Ok::<_, anyhow::Error>(());
            }
            if !tracker.next(deadline).await? {
                return Ok(());
            }
            controller.ensure_running()?;
        }
    };
    let (created, ()) = tokio::try_join!(created, all_terminal)?;
    let finished = tracker.terminal_count(args.runs);
    let (succeeded, failed) = tracker.outcomes(args.runs);
    let complete = finished == args.runs;

    if let Some(done_at) = tracker.last_terminal_at(args.runs).filter(|_| complete) {
        report.add(
            format!("total, {} runs created until all terminal", args.runs),
            seconds(done_at - began),
            None,
        );
    }
    report.add(
        "runs terminal",
        format!("{finished} of {}", args.runs),
        Some((format!("{} of {}", args.runs, args.runs), complete)),
    );
    report.add("runs Succeeded", succeeded.to_string(), None);
    report.add("runs Failed", failed.to_string(), None);

    let mut to_running = Vec::with_capacity(args.runs);
    let mut seen_running = 0;
    for (i, created_at) in created.iter().enumerate() {
        if let Some((at, running)) = tracker.started_at(&run_name(i)) {
            to_running.push(at.saturating_duration_since(*created_at));
            seen_running += usize::from(running);
        }
    }
    to_running.sort();
    if !to_running.is_empty() {
        report.add(
            "create -> Running p50",
            millis(percentile(&to_running, 50)),
            None,
        );
        report.add(
            "create -> Running p99",
            millis(percentile(&to_running, 99)),
            None,
        );
        report.add(
            "create -> Running max",
            millis(percentile(&to_running, 100)),
            None,
        );
        report.add(
            "runs the watch saw Running",
            format!("{seen_running} of {}", to_running.len()),
            None,
        );
    }

    let mut to_succeeded: Vec<Duration> = created
        .iter()
        .enumerate()
        .filter_map(|(i, created_at)| {
            let at = tracker.succeeded_at(&run_name(i))?;
            Some(at.saturating_duration_since(*created_at))
        })
        .collect();
    to_succeeded.sort();
    if !to_succeeded.is_empty() {
        for (label, p) in [("p50", 50), ("p99", 99), ("max", 100)] {
            report.add(
                format!("create -> Succeeded {label}"),
                millis(percentile(&to_succeeded, p)),
                None,
            );
        }
    }

    controller.ensure_running()?;
    let memory = controller.memory()?;
    report.add(
        format!("peak RSS (VmHWM), {} runs", args.runs),
        mib(memory.peak_mib),
        None,
    );
    report.add("RSS now (VmRSS)", mib(memory.now_mib), None);

    if !complete {
        bail!(
            "only {finished} of {} TaskRuns reached a terminal phase within {}",
            args.runs,
            seconds(bound)
        );
    }
    Ok(())
}

/// Creates the runs, `concurrency` at a time, and returns the instant each create response
/// arrived, by run number.
async fn create_all(
    api: &Api<DynamicObject>,
    count: usize,
    concurrency: usize,
) -> anyhow::Result<Vec<Instant>> {
    let mut created = vec![Instant::now(); count];
    let mut responses = stream::iter(0..count)
        .map(|i| async move {
            let name = run_name(i);
            api.create(&PostParams::default(), &taskrun(&name))
                .await
                .with_context(|| format!("creating TaskRun {name}"))?;
            Ok::<_, anyhow::Error>((i, Instant::now()))
        })
        .buffer_unordered(concurrency);
    while let Some((i, at)) = responses.try_next().await? {
        created[i] = at;
    }
    Ok(created)
}

/// The TaskRuns as a watch sees them, with the instant each change arrived. A task of its own
/// receives the watch and stamps each event, so a stamp is never late because the benchmark was
/// busy sending a request.
struct Tracker {
    events: StampedEvents<DynamicObject>,
    task: tokio::task::JoinHandle<()>,
    /// Run name → when the watch first saw it Running or later (and whether that was Running).
    started: HashMap<String, (Instant, bool)>,
    /// Run name → its terminal phase and when the watch first saw it.
    terminal: HashMap<String, (String, Instant)>,
    listed: bool,
}

impl Tracker {
    /// Starts the watch and returns once its initial list is in, so no later change is missed.
    async fn start(api: Api<DynamicObject>) -> anyhow::Result<Self> {
        let (events, task) = stamped_watch(api);
        let mut tracker = Self {
            events,
            task,
            started: HashMap::new(),
            terminal: HashMap::new(),
            listed: false,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !tracker.listed {
            if !tracker.next(deadline).await? {
                bail!("the TaskRun watch did not list within 30 s");
            }
        }
        Ok(tracker)
    }

    /// Takes in the next watch event; false once `deadline` has passed.
    async fn next(&mut self, deadline: Instant) -> anyhow::Result<bool> {
        let Ok(received) =
            tokio::time::timeout_at(deadline, self.events.recv()).await
        else {
            return Ok(false);
        };
        let (at, event) = received.context("the TaskRun watch ended")?;
        match event {
            watcher::Event::Apply(run) | watcher::Event::InitApply(run) => {
                let name = run.name_any();
                let Some(phase) = phase(&run) else {
                    return Ok(true);
                };
                if phase == "Running" || is_terminal(phase) {
                    self.started
                        .entry(name.clone())
                        .or_insert((at, phase == "Running"));
                }
                if is_terminal(phase) {
                    self.terminal
                        .entry(name)
                        .or_insert_with(|| (phase.to_string(), at));
                }
            }
            watcher::Event::Delete(_) | watcher::Event::Init => {}
            watcher::Event::InitDone => self.listed = true,
        }
        Ok(true)
    }

    fn is_bench_run(name: &str, runs: usize) -> bool {
        name.strip_prefix("run-")
            .and_then(|i| i.parse::<usize>().ok())
            .is_some_and(|i| i < runs)
    }

    fn terminal_count(&self, runs: usize) -> usize {
        self.terminal
            .keys()
            .filter(|name| Self::is_bench_run(name, runs))
            .count()
    }

    /// (Succeeded, Failed) among the benchmark's runs.
    fn outcomes(&self, runs: usize) -> (usize, usize) {
        self.terminal
            .iter()
            .filter(|(name, _)| Self::is_bench_run(name, runs))
            .fold((0, 0), |(ok, failed), (_, (phase, _))| {
                if phase == "Succeeded" {
                    (ok + 1, failed)
                } else {
                    (ok, failed + 1)
                }
            })
    }

    fn last_terminal_at(&self, runs: usize) -> Option<Instant> {
        self.terminal
            .iter()
            .filter(|(name, _)| Self::is_bench_run(name, runs))
            .map(|(_, (_, at))| *at)
            .max()
    }

    fn started_at(&self, name: &str) -> Option<(Instant, bool)> {
        self.started.get(name).copied()
    }

    fn succeeded_at(&self, name: &str) -> Option<Instant> {
        let (phase, at) = self.terminal.get(name)?;
        (phase == "Succeeded").then_some(*at)
    }
}

impl Drop for Tracker {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn create_namespace(client: &Client, name: &str) -> anyhow::Result<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    let mut ns = Namespace::default();
    ns.metadata.name = Some(name.to_string());
    api.create(&PostParams::default(), &ns)
        .await
        .with_context(|| format!("creating namespace {name}"))?;
    Ok(())
}

/// Best effort: the API server finishes the deletion in the background.
async fn delete_namespace(client: &Client, name: &str) {
    let api: Api<Namespace> = Api::all(client.clone());
    if let Err(err) = api.delete(name, &DeleteParams::background()).await {
        eprintln!("warning: could not delete namespace {name}: {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_numbered_runs_below_the_count_are_the_benchmarks() {
        assert!(Tracker::is_bench_run("run-0", 500));
        assert!(Tracker::is_bench_run("run-499", 500));
        assert!(!Tracker::is_bench_run("run-500", 500));
        assert!(!Tracker::is_bench_run(WARM_UP_RUN, 500));
    }

    #[test]
    fn the_objects_carry_group_version_and_task_ref() {
        let run = taskrun("run-1");
        let types = run.types.as_ref().unwrap();
        assert_eq!(types.api_version, "workshop.io/v1alpha1");
        assert_eq!(types.kind, "TaskRun");
        assert_eq!(run.data["spec"]["taskRef"]["name"], TASK_NAME);
        assert_eq!(task().data["spec"]["steps"][2]["args"][0], "three");
    }
}
