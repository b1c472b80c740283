//! `kubectl task`: start a Task, follow the run, list runs, read their logs.
//!
//! kubectl has a plugin mechanism with no API at all: `kubectl task start hello` runs
//! the first program called `kubectl-task` on your PATH with the arguments
//! `start hello`. So a plugin is an ordinary program that talks to the API server
//! like any client, with the flags people expect from kubectl (`-n`, `--context`,
//! `--kubeconfig`). Install it with
//! `cargo install --path solutions/07-taskrun --bin kubectl-task`.
//!
//! This module is the whole plugin; `src/bin/kubectl-task.rs` only parses the flags
//! and turns the outcome into an exit status, so tests can run every command
//! without starting a process.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use crds::{Param, Task, TaskRun, TaskRunPhase, TaskRunStatus};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, LogParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::watcher;
use kube::{Api, Client, Config, ResourceExt};

use crate::params;
use crate::status::succeeded_condition;

// ANCHOR: cli
/// The command line:
/// `kubectl task [-n NS] [--context CTX] [--kubeconfig FILE] <command>`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "kubectl-task",
    bin_name = "kubectl task",
    about = "Start, follow and list the runs of the Mini Task Runner's Tasks"
)]
pub struct Cli {
    /// The namespace (default: the context's namespace, else "default").
    #[arg(short, long, global = true)]
    pub namespace: Option<String>,
    /// The kubeconfig context to use (default: the current context).
    #[arg(long, global = true)]
    pub context: Option<String>,
    /// The kubeconfig file to use (default: $KUBECONFIG, else ~/.kube/config).
    #[arg(long, global = true)]
    pub kubeconfig: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Start a run of a Task, and with --follow, wait for its outcome.
    Start {
        /// The Task to run.
        task: String,
        /// A parameter value, NAME=VALUE (repeat for several).
        #[arg(
            short = 'p',
            long = "param",
            value_name = "NAME=VALUE",
            value_parser = parse_param
        )]
        params: Vec<Param>,
        /// How long the run may take, such as 30s, 5m or 1h30m (default: no limit).
        #[arg(long)]
        timeout: Option<String>,
        /// Follow the run until it finishes; exit 0 if it succeeded, 1 if it failed.
        #[arg(short, long)]
        follow: bool,
    },
    /// List the runs, oldest first.
    List {
        /// Only the runs of this Task.
        #[arg(long)]
        task: Option<String>,
    },
    /// Print the output of each step of a run.
    Logs {
        /// The run.
        run: String,
    },
}
// ANCHOR_END: cli

/// How a command ended, when it ended without an error: the plugin's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done (for `start --follow`: the run succeeded). Exit status 0.
    Done,
    /// `start --follow` only: the run failed. Exit status 1.
    RunFailed,
}

/// What can go wrong, each with a message that says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot use the kubeconfig: {0}")]
    Kubeconfig(String),
    #[error(
        "no Task named {task} in namespace {namespace} (kubectl get tasks -n {namespace})"
    )]
    NoTask { task: String, namespace: String },
    #[error("cannot start {task}: {source}")]
    Params {
        task: String,
        source: params::ParamError,
    },
    #[error("run {0} has no Pod yet: {1}")]
    NoPod(String, String),
    #[error("run {0} was deleted")]
    RunDeleted(String),
    #[error(
        "the TaskRun and Task kinds are not installed: run `kubectl apply -f manifests/crds/`"
    )]
    CrdsMissing,
    #[error("the API server refused the request: {0}")]
    Api(String),
    #[error("the request failed: {0}")]
    Request(String),
    #[error("the watch failed: {0}")]
    Watch(String),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

impl From<kube::Error> for Error {
    fn from(err: kube::Error) -> Self {
        match err {
            // A kind the API server does not serve answers a plain
            // 404, not a NotFound Status.
            kube::Error::Api(status)
                if status.code == 404 && status.reason != "NotFound" =>
            {
                Error::CrdsMissing
            }
            kube::Error::Api(status) => Error::Api(one_line(&format!(
                "{} ({} {})",
                status.message, status.code, status.reason
            ))),
            err => Error::Request(one_line(&err.to_string())),
        }
    }
}

impl From<watcher::Error> for Error {
    fn from(err: watcher::Error) -> Self {
        match err {
            watcher::Error::InitialListFailed(err)
            | watcher::Error::WatchStartFailed(err)
            | watcher::Error::WatchFailed(err) => match Error::from(err) {
                Error::Api(message) | Error::Request(message) => {
                    Error::Watch(message)
                }
                other => other,
            },
            err => Error::Watch(one_line(&err.to_string())),
        }
    }
}

/// An error as one line a person can read: kube's own `Display` of a refused request
/// appends the whole `Status` in Debug form, so the API server's message is picked
/// out instead, and any line breaks are joined.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Reads `NAME=VALUE` (the value may contain `=`).
fn parse_param(text: &str) -> Result<Param, String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok(Param::new(name, value)),
        _ => Err(format!("expected NAME=VALUE, got {text:?}")),
    }
}

// ANCHOR: client
/// A client as kubectl would build it from the same flags, and
/// the namespace to work in.
pub async fn client(cli: &Cli) -> Result<(Client, String), Error> {
    let options = KubeConfigOptions {
        context: cli.context.clone(),
        ..KubeConfigOptions::default()
    };
    let config = match &cli.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).map_err(|err| {
                Error::Kubeconfig(format!("{}: {err}", path.display()))
            })?;
            Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        // $KUBECONFIG (a list of files, merged) or
        // ~/.kube/config, as kubectl reads them.
        None => Config::from_kubeconfig(&options).await,
    }
    .map_err(|err| Error::Kubeconfig(err.to_string()))?;
    let namespace = cli
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client =
        Client::try_from(config).map_err(|err| Error::Kubeconfig(err.to_string()))?;
    Ok((client, namespace))
}
// ANCHOR_END: client

/// Runs the command `cli` asks for, printing to `out`.
pub async fn run(cli: Cli, out: &mut impl Write) -> Result<Exit, Error> {
    let (client, namespace) = client(&cli).await?;
    match cli.command {
        Command::Start {
            task,
            params,
            timeout,
            follow,
        } => {
            let run = create_run(&client, &namespace, &task, params, timeout).await?;
            writeln!(out, "taskrun.workshop.io/{} created", run.name_any())?;
            if !follow {
                return Ok(Exit::Done);
            }
            watch_run(&client, &namespace, &run.name_any(), out).await
        }
        Command::List { task } => {
            list(&client, &namespace, task.as_deref(), out).await?;
            Ok(Exit::Done)
        }
        Command::Logs { run } => {
            logs(&client, &namespace, &run, out).await?;
            Ok(Exit::Done)
        }
    }
}

// ANCHOR: start
/// Creates a run of `task` with `params`, after checking that the Task exists
/// and takes those parameters (the controller would fail the run anyway; this
/// says so before creating it).
pub async fn create_run(
    client: &Client,
    namespace: &str,
    task: &str,
    params: Vec<Param>,
    timeout: Option<String>,
) -> Result<TaskRun, Error> {
    let tasks: Api<Task> = Api::namespaced(client.clone(), namespace);
    let Some(found) = tasks.get_opt(task).await? else {
        return Err(Error::NoTask {
            task: task.into(),
            namespace: namespace.into(),
        });
    };
    params::resolve(&found.spec.params, &params).map_err(|source| Error::Params {
        task: task.into(),
        source,
    })?;
    let mut run = TaskRun::for_task(task, params);
    run.spec.timeout = timeout;
    let runs: Api<TaskRun> = Api::namespaced(client.clone(), namespace);
    Ok(runs.create(&PostParams::default(), &run).await?)
}
// ANCHOR_END: start

/// One line of progress: the phase, and the condition's message.
fn progress(status: Option<&TaskRunStatus>) -> Option<(TaskRunPhase, String)> {
    let status = status?;
    let phase = status.phase?;
    // "Running  step count is running", "Failed  StepFailed: step second failed...":
    // the reason is shown when it says more than the phase.
    let message = succeeded_condition(status)
        .map(|c| match c.reason == phase.to_string() {
            true => c.message.clone(),
            false => format!("{}: {}", c.reason, c.message),
        })
        .unwrap_or_default();
    Some((phase, message))
}

/// How long to wait for a first status before suggesting the
/// controller may not be running.
const NO_STATUS_HINT_AFTER: Duration = Duration::from_secs(10);

// ANCHOR: follow
/// Prints each change of the run's progress until it finishes; then its steps.
pub async fn watch_run(
    client: &Client,
    namespace: &str,
    name: &str,
    out: &mut impl Write,
) -> Result<Exit, Error> {
    let runs: Api<TaskRun> = Api::namespaced(client.clone(), namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut events = watcher(runs, config).boxed();
    let mut last = None;
    let mut hinted = false;
    loop {
        let event = match tokio::time::timeout(
            NO_STATUS_HINT_AFTER,
            events.try_next(),
        )
        .await
        {
            Ok(event) => event?,
            Err(_) => {
                if last.is_none() && !hinted {
                    writeln!(
                        out,
                        "{name}: no status yet. Is the controller running? (cargo run -p step-07-taskrun)"
                    )?;
                    hinted = true;
                }
                continue;
            }
        };
        let run = match event {
            Some(watcher::Event::Apply(run) | watcher::Event::InitApply(run)) => run,
            Some(watcher::Event::Delete(_)) | None => {
                return Err(Error::RunDeleted(name.into()));
            }
            Some(_) => continue,
        };
        let Some((phase, message)) = progress(run.status.as_ref()) else {
            continue;
        };
        if last.as_ref() != Some(&(phase, message.clone())) {
            // (Padding needs a String: the phase's Display writes its name as it is.)
            writeln!(out, "{name}: {:<9} {message}", phase.to_string())?;
            last = Some((phase, message));
        }
        if phase.is_terminal() {
            print_steps(run.status.as_ref(), out)?;
            return Ok(match phase {
                TaskRunPhase::Succeeded => Exit::Done,
                _ => Exit::RunFailed,
            });
        }
    }
}
// ANCHOR_END: follow

/// The steps of a finished run, one per line, with their exit codes.
fn print_steps(
    status: Option<&TaskRunStatus>,
    out: &mut impl Write,
) -> Result<(), Error> {
    for step in status.map(|s| s.steps.as_slice()).unwrap_or_default() {
        let outcome = match (step.exit_code, &step.reason) {
            (Some(code), Some(reason)) => format!("exit code {code} ({reason})"),
            (Some(code), None) => format!("exit code {code}"),
            (None, _) => "did not run".to_string(),
        };
        writeln!(out, "  step {:<16} {outcome}", step.name)?;
    }
    Ok(())
}

/// Whole seconds as `45s`, `2m5s` or `1h2m`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        _ => format!("{}h{}m", secs / 3600, secs % 3600 / 60),
    }
}

// ANCHOR: list
/// Prints the runs as a table, oldest first.
pub async fn list(
    client: &Client,
    namespace: &str,
    task: Option<&str>,
    out: &mut impl Write,
) -> Result<(), Error> {
    let runs: Api<TaskRun> = Api::namespaced(client.clone(), namespace);
    let mut params = ListParams::default();
    if let Some(task) = task {
        // The CRD declares spec.taskRef.name selectable: the
        // API server filters for us.
        params = params.fields(&format!("spec.taskRef.name={task}"));
    }
    let mut items = runs.list(&params).await?.items;
    items.sort_by(|a, b| {
        (a.creation_timestamp(), a.name_any())
            .cmp(&(b.creation_timestamp(), b.name_any()))
    });
    if items.is_empty() {
        writeln!(out, "No runs in namespace {namespace}.")?;
        return Ok(());
    }
    let now = crate::status::now();
    let rows: Vec<[String; 5]> = items
        .iter()
        .map(|run| {
            let status = run.status.as_ref();
            let phase = run.phase().map(|p| p.to_string()).unwrap_or_default();
            let reason = status
                .and_then(succeeded_condition)
                .map(|c| c.reason.clone())
                .unwrap_or_default();
            let duration = match status.and_then(|s| s.start_time.as_ref()) {
                Some(start) => {
                    let end = status
                        .and_then(|s| s.completion_time.as_ref())
                        .unwrap_or(&now);
                    human_duration(end.0.as_second() - start.0.as_second())
                }
                None => String::new(),
            };
            [
                run.name_any(),
                run.spec.task_ref.name.clone(),
                phase,
                reason,
                duration,
            ]
        })
        .collect();
    let header = ["NAME", "TASK", "PHASE", "REASON", "DURATION"].map(String::from);
    let mut widths = [0; 5];
    for row in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    for row in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        writeln!(out, "{}", line.join("   ").trim_end())?;
    }
    Ok(())
}
// ANCHOR_END: list

// ANCHOR: logs
/// Prints the output of each step of run `name`, in order, under a header per step.
pub async fn logs(
    client: &Client,
    namespace: &str,
    name: &str,
    out: &mut impl Write,
) -> Result<(), Error> {
    let runs: Api<TaskRun> = Api::namespaced(client.clone(), namespace);
    let run = runs.get(name).await?;
    let status = run.status.clone().unwrap_or_default();
    let Some(pod_name) = status.pod_name.clone() else {
        let why = succeeded_condition(&status)
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "the controller has not seen it yet".into());
        return Err(Error::NoPod(name.into(), why));
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let steps = status
        .task_spec
        .as_ref()
        .map(|spec| spec.step_names().into_iter().map(String::from).collect())
        .unwrap_or_else(|| {
            status
                .steps
                .iter()
                .map(|s| s.name.clone())
                .collect::<Vec<_>>()
        });
    // The Pod says which steps never started: asking for their logs would only get
    // the kubelet's "waiting to start: PodInitializing".
    let pod = pods.get_opt(&pod_name).await?;
    let finished = status.phase.is_some_and(|phase| phase.is_terminal());
    for step in steps {
        writeln!(out, "==> step {step} <==")?;
        if let Some(note) = pod
            .as_ref()
            .and_then(|pod| not_started(pod, &step, finished))
        {
            writeln!(out, "({note})")?;
            continue;
        }
        let params = LogParams {
            container: Some(step.clone()),
            ..LogParams::default()
        };
        match pods.logs(&pod_name, &params).await {
            Ok(text) => write!(out, "{text}")?,
            // A step that has not started, a Pod that is gone, a cluster with no real
            // containers (the Docker-free one): say so, and go on with the next step.
            Err(kube::Error::Api(status)) => {
                writeln!(out, "(no logs: {})", status.message)?
            }
            Err(err) => writeln!(out, "(no logs: {err})")?,
        }
    }
    Ok(())
}
// ANCHOR_END: logs

/// What to print instead of the logs of a step whose container never started: in a
/// finished run it did not run (an earlier step failed, or the run was stopped
/// first); in a run still going it has not started yet. None for a step that
/// started: it has logs to show.
pub fn not_started(pod: &Pod, step: &str, finished: bool) -> Option<&'static str> {
    let started = crate::status::container_status(pod, step)
        .is_some_and(crate::status::has_started);
    match (started, finished) {
        (true, _) => None,
        (false, true) => Some("did not run"),
        (false, false) => Some("not started yet"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn a_refused_request_is_one_line_with_the_api_servers_message() {
        let status = kube::core::Status::failure(
            "TaskRun.workshop.io \"hello-x\" is invalid: spec.timeout: Invalid value: \"0s\"",
            "Invalid",
        )
        .with_code(422);
        let shown = Error::from(kube::Error::Api(status.boxed())).to_string();
        assert_eq!(
            shown,
            "the API server refused the request: TaskRun.workshop.io \"hello-x\" is invalid: \
             spec.timeout: Invalid value: \"0s\" (422 Invalid)"
        );
        let status =
            kube::core::Status::failure("too old\nresource version", "Expired")
                .with_code(410);
        let watch = watcher::Error::WatchFailed(kube::Error::Api(status.boxed()));
        assert_eq!(
            Error::from(watch).to_string(),
            "the watch failed: too old resource version (410 Expired)"
        );
    }

    #[test]
    fn the_flags_are_well_formed() {
        <Cli as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn kubectl_style_flags_go_anywhere() {
        let cli = Cli::try_parse_from([
            "kubectl-task",
            "start",
            "hello",
            "-p",
            "who=you",
            "--param",
            "expr=a=b",
            "-n",
            "team",
            "--follow",
            "--context",
            "kind-workshop",
        ])
        .expect("valid flags");
        assert_eq!(cli.namespace.as_deref(), Some("team"));
        assert_eq!(cli.context.as_deref(), Some("kind-workshop"));
        let Command::Start {
            task,
            params,
            follow,
            timeout,
        } = cli.command
        else {
            panic!("not a start command: {:?}", cli.command);
        };
        assert_eq!(task, "hello");
        assert_eq!(
            params,
            [Param::new("who", "you"), Param::new("expr", "a=b")]
        );
        assert!(follow);
        assert_eq!(timeout, None);
    }

    #[test]
    fn a_param_without_a_name_is_refused() {
        for bad in ["novalue", "=x"] {
            let parsed =
                Cli::try_parse_from(["kubectl-task", "start", "hello", "-p", bad]);
            assert!(parsed.is_err(), "{bad}");
        }
    }

    /// A Pod as the real kubelet reports it after the second of three steps exited 3:
    /// the third step's container still waits, with the reason `PodInitializing`.
    fn failed_at_the_second_step() -> Pod {
        use k8s_openapi::api::core::v1::{
            ContainerState, ContainerStateTerminated, ContainerStateWaiting,
            ContainerStatus, PodStatus,
        };
        let exited = |name: &str, code| ContainerStatus {
            name: name.into(),
            state: Some(ContainerState {
                terminated: Some(ContainerStateTerminated {
                    exit_code: code,
                    ..ContainerStateTerminated::default()
                }),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        };
        let waiting = ContainerStatus {
            name: "three".into(),
            state: Some(ContainerState {
                waiting: Some(ContainerStateWaiting {
                    reason: Some("PodInitializing".into()),
                    message: None,
                }),
                ..ContainerState::default()
            }),
            ..ContainerStatus::default()
        };
        Pod {
            status: Some(PodStatus {
                phase: Some("Failed".into()),
                init_container_statuses: Some(vec![
                    exited("one", 0),
                    exited("two", 3),
                ]),
                container_statuses: Some(vec![waiting]),
                ..PodStatus::default()
            }),
            ..Pod::default()
        }
    }

    #[test]
    fn a_step_that_never_started_did_not_run() {
        let pod = failed_at_the_second_step();
        assert_eq!(not_started(&pod, "one", true), None, "it ran: its logs");
        assert_eq!(not_started(&pod, "two", true), None, "it failed: its logs");
        assert_eq!(not_started(&pod, "three", true), Some("did not run"));
        assert_eq!(not_started(&pod, "three", false), Some("not started yet"));
        assert_eq!(
            not_started(&Pod::default(), "one", false),
            Some("not started yet")
        );
    }

    #[test]
    fn durations_read_like_kubectl_ages() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(59), "59s");
        assert_eq!(human_duration(125), "2m5s");
        assert_eq!(human_duration(3720), "1h2m");
        assert_eq!(human_duration(-3), "0s");
    }
}
