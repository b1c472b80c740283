//! Step 06: custom resources, `Task` and `TaskRun`.
//!
//! Until now the workshop used kinds Kubernetes ships with. Here we teach the API
//! server two kinds of our own, the vocabulary of the Mini Task Runner:
//!
//! - a [`Task`](task::Task) is a recipe: steps, each a container image and a script;
//! - a [`TaskRun`](taskrun::TaskRun) asks for one run of a Task,
//!   and will record its outcome.
//!
//! The Rust types are the single source of truth. `crdgen` (src/bin/crdgen.rs) turns
//! them into the CustomResourceDefinitions in `manifests/crds/`; once those are
//! applied, the API server stores Tasks and TaskRuns, validates them against the
//! schema, and serves them to `kubectl get`, `kubectl explain` and `Api<Task>` alike.
//!
//! And then nothing happens. The program creates a Task and a TaskRun, reads the run
//! back, and shows that its status stays empty: the API server is a database with
//! validation, not an engine. Making runs *run* is the controller's job, step 07.
// Starter code: the imports, parameters and helpers that the TODOs below need are
// unused until you write them. Once they are done, delete the `allow` below: the
// compiler then checks that you left none.
#![allow(unused_imports, unused_variables, dead_code)]

pub mod task;
pub mod taskrun;

use std::io::Write;
use std::time::Duration;

use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};

pub use task::{ParamSpec, Step, StepEnv, Task, TaskSpec};
pub use taskrun::{
    Param, StepResult, TaskRef, TaskRun, TaskRunPhase, TaskRunSpec, TaskRunStatus,
    TimeoutError, parse_timeout,
};

/// Command-line flags, parsed in `main.rs`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    about = "Create a Task and a TaskRun, read them back, and see that nothing runs them"
)]
// Flattened flags bring their own group; this one needs a name of its own.
#[group(id = "crds")]
pub struct Args {
    /// Where to create the Task and the TaskRun: step 01's flags
    /// (--namespace, --context).
    #[command(flatten)]
    pub cluster: connect::Args,
}

/// What can go wrong, each with a message that says what to do next.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "the {0} CRD is not installed in this cluster: run `kubectl apply -f manifests/crds/` first"
    )]
    CrdsMissing(&'static str),
    #[error(transparent)]
    Connect(#[from] connect::ConnectError),
    #[error("the API server refused the request: {0}")]
    Api(#[from] kube::Error),
    #[error("cannot show the TaskRun as YAML: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

/// The name of the Task the program creates (the same as in
/// manifests/samples/hello-task.yaml).
pub const HELLO: &str = "hello";

/// How long the program watches the new run for a status that never comes.
const OBSERVE_FOR: Duration = Duration::from_secs(2);

// ANCHOR: hello_task
/// The `hello` Task, built with the Rust types: the same as
/// `manifests/samples/hello-task.yaml` (a unit test keeps the two equal).
pub fn hello_task() -> Task {
    let image = "busybox:1.37";
    // Two steps run a script (`sh -c`); the last one shows a
    // command with arguments instead.
    let goodbye = Step {
        name: "goodbye".into(),
        image: image.into(),
        script: None,
        command: vec!["echo".into()],
        args: vec!["Goodbye, $(params.who).".into()],
        env: Vec::new(),
        working_dir: None,
    };
    Task::new(
        HELLO,
        TaskSpec {
            description: Some(
                "Greets someone, counts to three, and says goodbye".into(),
            ),
            params: vec![ParamSpec {
                name: "who".into(),
                description: Some("Who to greet".into()),
                default: Some("world".into()),
            }],
            steps: vec![
                Step::script("greet", image, "echo \"Hello, $(params.who)!\""),
                Step::script(
                    "count",
                    image,
                    "for i in 1 2 3; do echo \"$i\"; sleep 1; done",
                ),
                goodbye,
            ],
        },
    )
}
// ANCHOR_END: hello_task

// ANCHOR: check_crds
/// Fails with [`Error::CrdsMissing`] unless the API server serves Tasks and TaskRuns.
///
/// Listing (at most one object) is the cheapest request that needs the resource
/// type to exist: an unknown resource answers 404, while an empty or missing
/// namespace answers an empty list.
pub async fn check_crds_installed(
    client: &Client,
    namespace: &str,
) -> Result<(), Error> {
    let one = ListParams::default().limit(1);
    // Compare the code, not `is_not_found()`: for a group it does not serve at
    // all, the API server answers a plain-text "404 page not found", not a
    // Status with reason NotFound.
    let missing = |err: kube::Error, crd: &'static str| match err {
        kube::Error::Api(status) if status.code == 404 => Error::CrdsMissing(crd),
        err => Error::Api(err),
    };
    let tasks: Api<Task> = Api::namespaced(client.clone(), namespace);
    tasks
        .list_metadata(&one)
        .await
        .map_err(|err| missing(err, "tasks.workshop.io"))?;
    let runs: Api<TaskRun> = Api::namespaced(client.clone(), namespace);
    runs.list_metadata(&one)
        .await
        .map_err(|err| missing(err, "taskruns.workshop.io"))?;
    Ok(())
}
// ANCHOR_END: check_crds

// ANCHOR: ensure_task
/// Creates `task` unless a Task of that name exists, and returns the Task as the API
/// server stores it (with uid, resourceVersion, creationTimestamp...). Running the
/// program twice reuses the first one's Task.
pub async fn ensure_task(
    tasks: &Api<Task>,
    task: &Task,
) -> Result<Task, kube::Error> {
    // TODO(exercise 6.3): Make sure the Task `task` exists; return it as stored.
    // Running the program twice leaves one Task, and the second run is not an error:
    // a Task of that name is used as it is, never replaced. The caller gets the Task
    // as the API server stores it (with its uid and resourceVersion), not `task`.
    // Only "there is no such Task" may lead to creating one; any other failure is
    // returned as it is.
    // Proved by: the_program_creates_a_task_and_a_run_that_nothing_acts_on,
    //   tasks_and_runs_round_trip_through_typed_apis,
    //   a_failure_other_than_not_found_is_returned_and_creates_nothing
    // Needs: 6.2
    // Path: stretch, 8 min
    // Book: "Step 06 > Typed Apis for our kinds"
    todo!("Exercise 6.3: Make sure the Task `task` exists; return it as stored.")
}
// ANCHOR_END: ensure_task

// ANCHOR: run
/// The whole program: make sure the CRDs are there, create the `hello` Task (once)
/// and a new run of it, read the run back, and show that nobody acts on it.
pub async fn run(
    client: Client,
    namespace: &str,
    out: &mut impl Write,
) -> Result<(), Error> {
    check_crds_installed(&client, namespace).await?;
    let tasks: Api<Task> = Api::namespaced(client.clone(), namespace);
    let runs: Api<TaskRun> = Api::namespaced(client, namespace);

    let task = ensure_task(&tasks, &hello_task()).await?;
    writeln!(
        out,
        "task {namespace}/{}: steps {}",
        task.name_any(),
        task.spec.step_names().join(", ")
    )?;

    let created = runs
        .create(
            &PostParams::default(),
            &TaskRun::for_task(HELLO, vec![Param::new("who", "workshop")]),
        )
        .await?;
    let name = created.name_any();
    writeln!(out, "created taskrun {namespace}/{name}")?;

    // Give a controller, if there were one, time to notice; then read the run back.
    tokio::time::sleep(OBSERVE_FOR).await;
    let mut stored = runs.get(&name).await?;
    // managedFields (who wrote which field) would double the output;
    // they are not the point here.
    stored.metadata.managed_fields = None;
    writeln!(out, "read back after {OBSERVE_FOR:?}:")?;
    write!(out, "{}", serde_yaml::to_string(&stored)?)?;
    match &stored.status {
        None => writeln!(
            out,
            "status: none. The API server stored and validated the run, but nothing \
             runs it: that is the controller's job (step 07)."
        )?,
        Some(status) => writeln!(
            out,
            "status: phase {}. Something in this cluster acts on TaskRuns already.",
            status
                .phase
                .map(|phase| phase.to_string())
                .unwrap_or_else(|| "unset".into())
        )?,
    }
    Ok(())
}
// ANCHOR_END: run

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(file: &str) -> String {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../manifests/samples")
            .join(file);
        std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()))
    }

    #[test]
    fn the_hello_sample_is_the_task_the_program_creates() {
        let task: Task = serde_yaml::from_str(&sample("hello-task.yaml"))
            .expect("manifests/samples/hello-task.yaml is a Task");
        let expected = hello_task();
        assert_eq!(task.metadata.name, expected.metadata.name);
        assert_eq!(task.spec, expected.spec);
    }

    #[test]
    fn the_sample_run_runs_the_hello_task() {
        let run: TaskRun = serde_yaml::from_str(&sample("hello-taskrun.yaml"))
            .expect("manifests/samples/hello-taskrun.yaml is a TaskRun");
        assert_eq!(run.spec.task_ref.name, HELLO);
        assert_eq!(
            run.spec.timeout(),
            Ok(Some(Duration::from_secs(300))),
            "the sample's timeout"
        );
        let task = hello_task();
        for param in &run.spec.params {
            assert!(
                task.spec.params.iter().any(|p| p.name == param.name),
                "the sample sets {}, which the hello Task does not declare",
                param.name
            );
        }
    }
}
