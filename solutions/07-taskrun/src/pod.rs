//! The Pod that runs a TaskRun: desired state, as a pure
//! function of the run and its Task.
//!
//! One run, one Pod, and its steps in order. Kubernetes already knows how to run
//! containers one after the other: *init containers* run sequentially, each only
//! after the one before exited 0, and the main containers start only when all of them
//! are done. So every step but the last becomes an init container, and the last step
//! the Pod's one main container. With `restartPolicy: Never` a failing step fails the
//! Pod, and the steps after it never start.
//!
//! The Pod's name is not random: it is `<run>-pod`, always. That makes creating it
//! idempotent. If the controller crashes after creating the Pod but before recording
//! it, the next attempt asks for the same name and the API server answers "already
//! exists": there can never be two Pods for one run.

use std::collections::BTreeMap;

use crds::{Step, TaskRun, TaskSpec};
use k8s_openapi::api::core::v1::{Container, EnvVar, Pod, PodSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Resource, ResourceExt};

use crate::params::{self, ParamError, Values};

// ANCHOR: constants
/// The label on a run's Pod that names the run.
pub const RUN_LABEL: &str = "workshop.io/taskrun";
/// The label on a run's Pod that names the Task it runs.
pub const TASK_LABEL: &str = "workshop.io/task";
/// Who made the Pod:
/// `kubectl get pods -l app.kubernetes.io/managed-by=taskrun-controller`.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
/// This controller's name: the value of [`MANAGED_BY_LABEL`] and
/// the reporter of its Events.
pub const CONTROLLER_NAME: &str = "taskrun-controller";
/// The Pod of run `x` is `x-pod`.
pub const POD_SUFFIX: &str = "-pod";
/// A label value is at most 63 characters; the run and Task
/// names become label values.
const MAX_LABEL_VALUE: usize = 63;
// ANCHOR_END: constants

/// Why a run cannot have a Pod at all. Final: the run fails with reason `InvalidRun`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidRun {
    #[error(transparent)]
    Param(#[from] ParamError),
    #[error(
        "the {what} name {name:?} is longer than {MAX_LABEL_VALUE} characters, so it cannot label the Pod"
    )]
    NameTooLong { what: &'static str, name: String },
    #[error("the run has no uid yet (it was never stored by the API server)")]
    NotPersisted,
}

/// The name of the Pod of the run named `run_name`.
pub fn pod_name(run_name: &str) -> String {
    format!("{run_name}{POD_SUFFIX}")
}

/// The labels of the Pod of `run`: which run, which Task, who manages it.
pub fn pod_labels(run_name: &str, task_name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (RUN_LABEL.to_string(), run_name.to_string()),
        (TASK_LABEL.to_string(), task_name.to_string()),
        (MANAGED_BY_LABEL.to_string(), CONTROLLER_NAME.to_string()),
    ])
}

// ANCHOR: step_container
/// One step as a container, with every `$(params.<name>)` replaced.
///
/// A step with a script runs `sh -c <script>`; otherwise its own command
/// and args. Environment values and the working directory are
/// substituted too; the image is not.
pub fn step_container(step: &Step, values: &Values) -> Result<Container, ParamError> {
    let sub = |text: &String| params::substitute(text, values);
    let command = match &step.script {
        Some(script) => vec!["sh".to_string(), "-c".to_string(), sub(script)?],
        None => step.command.iter().map(sub).collect::<Result<_, _>>()?,
    };
    let args: Vec<String> = step.args.iter().map(sub).collect::<Result<_, _>>()?;
    let env = step
        .env
        .iter()
        .map(|var| {
            Ok(EnvVar {
                name: var.name.clone(),
                value: var.value.as_ref().map(sub).transpose()?,
                ..EnvVar::default()
            })
        })
        .collect::<Result<Vec<_>, ParamError>>()?;
    Ok(Container {
        name: step.name.clone(),
        image: Some(step.image.clone()),
        command: (!command.is_empty()).then_some(command),
        args: (!args.is_empty()).then_some(args),
        env: (!env.is_empty()).then_some(env),
        working_dir: step.working_dir.as_ref().map(sub).transpose()?,
        ..Container::default()
    })
}
// ANCHOR_END: step_container

// ANCHOR: desired_pod
/// The Pod that runs `run` with the Task spec `spec`: steps in order, never
/// restarted, owned by the run (so deleting the run deletes it), labelled
/// with the run and the Task.
pub fn desired_pod(run: &TaskRun, spec: &TaskSpec) -> Result<Pod, InvalidRun> {
    let run_name = run.name_any();
    let task_name = &run.spec.task_ref.name;
    for (what, name) in [("TaskRun", &run_name), ("Task", task_name)] {
        if name.len() > MAX_LABEL_VALUE {
            return Err(InvalidRun::NameTooLong {
                what,
                name: name.clone(),
            });
        }
    }
    let values = params::resolve(&spec.params, &run.spec.params)?;
    let mut containers = spec
        .steps
        .iter()
        .map(|step| step_container(step, &values))
        .collect::<Result<Vec<_>, _>>()?;
    // All steps but the last run one by one as init containers; the last is the main
    // container. (The schema guarantees at least one step; an empty list would give a
    // Pod the API server rejects, with its own clear message.)
    let last = containers.pop().into_iter().collect();

    let mut owner = run
        .controller_owner_ref(&())
        .ok_or(InvalidRun::NotPersisted)?;
    owner.block_owner_deletion = Some(true);

    Ok(Pod {
        metadata: ObjectMeta {
            name: Some(pod_name(&run_name)),
            namespace: run.namespace(),
            labels: Some(pod_labels(&run_name, task_name)),
            owner_references: Some(vec![owner]),
            ..ObjectMeta::default()
        },
        spec: Some(PodSpec {
            init_containers: (!containers.is_empty()).then_some(containers),
            containers: last,
            restart_policy: Some("Never".into()),
            // Steps run scripts; they have no business calling the API server.
            automount_service_account_token: Some(false),
            ..PodSpec::default()
        }),
        status: None,
    })
}
// ANCHOR_END: desired_pod

#[cfg(test)]
mod tests {
    use super::*;
    use crds::{Param, ParamSpec, StepEnv};

    fn run(name: &str, params: Vec<Param>) -> TaskRun {
        let mut run = TaskRun::for_task("hello", params);
        run.metadata.generate_name = None;
        run.metadata.name = Some(name.into());
        run.metadata.namespace = Some("ns".into());
        run.metadata.uid = Some(format!("uid-{name}"));
        run
    }

    fn values(pairs: &[(&str, &str)]) -> Values {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_script_runs_with_sh_c_and_parameters_are_replaced() {
        let step =
            Step::script("greet", "busybox:1.37", "echo \"Hello, $(params.who)!\"");
        let container =
            step_container(&step, &values(&[("who", "workshop")])).expect("valid");
        assert_eq!(container.name, "greet");
        assert_eq!(container.image.as_deref(), Some("busybox:1.37"));
        assert_eq!(
            container.command,
            Some(vec![
                "sh".into(),
                "-c".into(),
                "echo \"Hello, workshop!\"".into()
            ])
        );
        assert_eq!(container.args, None);
        assert_eq!(container.env, None);
    }

    #[test]
    fn a_command_step_keeps_its_command_and_args() {
        let step = Step {
            name: "goodbye".into(),
            image: "busybox:1.37".into(),
            script: None,
            command: vec!["echo".into()],
            args: vec!["Goodbye, $(params.who).".into()],
            env: vec![StepEnv {
                name: "WHO".into(),
                value: Some("$(params.who)".into()),
            }],
            working_dir: Some("/tmp/$(params.who)".into()),
        };
        let container =
            step_container(&step, &values(&[("who", "you")])).expect("valid");
        assert_eq!(container.command, Some(vec!["echo".into()]));
        assert_eq!(container.args, Some(vec!["Goodbye, you.".into()]));
        let env = container.env.unwrap_or_default();
        assert_eq!(env.len(), 1);
        assert_eq!(env[0].name, "WHO");
        assert_eq!(env[0].value.as_deref(), Some("you"));
        assert_eq!(container.working_dir.as_deref(), Some("/tmp/you"));
    }

    #[test]
    fn a_step_without_script_or_command_runs_the_image_entrypoint() {
        let step = Step {
            command: Vec::new(),
            script: None,
            ..Step::script("default", "alpine:3", "")
        };
        let container = step_container(&step, &Values::new()).expect("valid");
        assert_eq!(container.command, None);
    }

    #[test]
    fn a_reference_to_an_undeclared_parameter_fails_the_step() {
        let step = Step::script("greet", "busybox:1.37", "echo $(params.nope)");
        assert_eq!(
            step_container(&step, &Values::new()),
            Err(ParamError::Undeclared("nope".into()))
        );
    }

    // ANCHOR: desired_pod_test
    #[test]
    fn steps_run_in_order_all_but_the_last_as_init_containers() {
        let spec = crds::hello_task().spec;
        let pod =
            desired_pod(&run("hello-abcde", Vec::new()), &spec).expect("a valid run");
        assert_eq!(pod.metadata.name.as_deref(), Some("hello-abcde-pod"));
        assert_eq!(pod.metadata.namespace.as_deref(), Some("ns"));
        let pod_spec = pod.spec.expect("a spec");
        let names = |containers: &Option<Vec<Container>>| -> Vec<String> {
            containers
                .iter()
                .flatten()
                .map(|c| c.name.clone())
                .collect()
        };
        assert_eq!(names(&pod_spec.init_containers), ["greet", "count"]);
        assert_eq!(names(&Some(pod_spec.containers.clone())), ["goodbye"]);
        assert_eq!(pod_spec.restart_policy.as_deref(), Some("Never"));
        // The default of the `who` parameter, since the run does not set it.
        assert_eq!(
            pod_spec.containers[0].args,
            Some(vec!["Goodbye, world.".into()])
        );
    }
    // ANCHOR_END: desired_pod_test

    #[test]
    fn the_pod_is_labelled_and_owned_by_the_run() {
        let pod = desired_pod(&run("r1", Vec::new()), &crds::hello_task().spec)
            .expect("valid");
        let labels = pod.metadata.labels.unwrap_or_default();
        assert_eq!(labels.get(RUN_LABEL).map(String::as_str), Some("r1"));
        assert_eq!(labels.get(TASK_LABEL).map(String::as_str), Some("hello"));
        assert_eq!(
            labels.get(MANAGED_BY_LABEL).map(String::as_str),
            Some(CONTROLLER_NAME)
        );
        let owners = pod.metadata.owner_references.unwrap_or_default();
        assert_eq!(owners.len(), 1);
        assert_eq!(owners[0].kind, "TaskRun");
        assert_eq!(owners[0].name, "r1");
        assert_eq!(owners[0].uid, "uid-r1");
        assert_eq!(owners[0].controller, Some(true));
        assert_eq!(owners[0].block_owner_deletion, Some(true));
    }

    #[test]
    fn a_single_step_task_has_no_init_containers() {
        let mut spec = crds::hello_task().spec;
        spec.steps.truncate(1);
        let pod = desired_pod(&run("r1", Vec::new()), &spec).expect("valid");
        let pod_spec = pod.spec.expect("a spec");
        assert_eq!(pod_spec.init_containers, None);
        assert_eq!(pod_spec.containers.len(), 1);
    }

    #[test]
    fn the_run_parameters_reach_every_step() {
        let pod = desired_pod(
            &run("r1", vec![Param::new("who", "workshop")]),
            &crds::hello_task().spec,
        )
        .expect("valid");
        let pod_spec = pod.spec.expect("a spec");
        let greet = &pod_spec.init_containers.unwrap_or_default()[0];
        assert_eq!(
            greet
                .command
                .as_ref()
                .and_then(|c| c.last())
                .map(String::as_str),
            Some("echo \"Hello, workshop!\"")
        );
    }

    #[test]
    fn invalid_runs_are_errors_not_panics() {
        let spec = crds::hello_task().spec;
        assert_eq!(
            desired_pod(&run("r1", vec![Param::new("whom", "x")]), &spec).err(),
            Some(InvalidRun::Param(ParamError::Unknown("whom".into())))
        );
        let mut no_default = spec.clone();
        no_default.params = vec![ParamSpec {
            name: "who".into(),
            description: None,
            default: None,
        }];
        assert_eq!(
            desired_pod(&run("r1", Vec::new()), &no_default).err(),
            Some(InvalidRun::Param(ParamError::Missing("who".into())))
        );
        let long = "r".repeat(64);
        assert!(matches!(
            desired_pod(&run(&long, Vec::new()), &spec),
            Err(InvalidRun::NameTooLong {
                what: "TaskRun",
                ..
            })
        ));
        let mut unsaved = run("r1", Vec::new());
        unsaved.metadata.uid = None;
        assert_eq!(
            desired_pod(&unsaved, &spec).err(),
            Some(InvalidRun::NotPersisted)
        );
    }
}
