//! The `Task` custom resource: a reusable recipe of steps
//! that run one after the other.
//!
//! A Task only describes work; it never runs by itself. Creating a `TaskRun` that
//! names it is what asks for a run (see [`crate::taskrun`]). In step 07 each step
//! becomes a container of one Pod, in order.
//!
//! Everything the API server knows about this kind comes from the Rust types below:
//! `#[derive(CustomResource)]` turns [`TaskSpec`] into a `Task` type that `Api<Task>`
//! can use, and `Task::crd()` into the CustomResourceDefinition that `crdgen` writes
//! to `manifests/crds/`. The doc comments become the schema's descriptions
//! (`kubectl explain task.spec.steps` shows them), and the `#[schemars(...)]` and
//! `#[x_kube(...)]` attributes become its validation: the API server rejects a bad
//! Task before any controller sees it.

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

/// A DNS-1123 label: lower-case letters, digits and `-`, starting and ending
/// with a letter or digit, at most 63 characters. Step names become container
/// names in step 07, and container names must be DNS-1123 labels, so the schema
/// enforces it now, at the door.
pub const DNS1123_LABEL_PATTERN: &str = "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$";

/// A parameter name, as written in `$(params.<name>)`: a letter or `_`, then
/// letters, digits, `_` or `-`.
pub const PARAM_NAME_PATTERN: &str = "^[a-zA-Z_][a-zA-Z0-9_-]*$";

// ANCHOR: task_spec
/// The Task: its parameters and its steps.
//
// Validation, and why each piece is where it is:
// - `steps` has at least one item (`minItems: 1`): a Task that
//   does nothing is a mistake.
// - Step names are unique: `x-kubernetes-list-type: map` keyed by `name` (the
//   `merge_strategy` below) makes the API server reject a duplicate key. We prefer it
//   to a CEL rule such as `self.all(s, self.exists_one(t, t.name == s.name))`: it
//   costs nothing at admission (CEL rules have a cost budget, and that rule grows
//   with the square of the list), its error names the duplicate item
//   (`spec.steps[1]: Duplicate value`), and server-side apply then merges steps by
//   name instead of replacing the whole list. The price: a list-map key must be
//   required, which a step's name is anyway.
// - Lists have a `maxItems`, so the cost of the CEL rule on each step stays bounded.
#[derive(
    CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq,
)]
#[kube(
    group = "workshop.io",
    version = "v1alpha1",
    kind = "Task",
    namespaced,
    doc = "A Task is a list of steps that run one after the other, each in a \
           container of its own. A Task does nothing by itself: create a TaskRun \
           that names it to run it.",
    derive = "PartialEq",
    shortname = "tsk",
    category = "workshop",
    printcolumn(
        name = "Description",
        type_ = "string",
        json_path = ".spec.description",
        description = "What the Task does"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TaskSpec {
    /// What the Task does, in one line. `kubectl get tasks` shows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// The parameters a TaskRun can set. A step refers to one as `$(params.<name>)`
    /// in its script, command, args, env values or workingDir; the run's value, or
    /// else the default, replaces it. Names are unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub params: Vec<ParamSpec>,

    /// The steps, run in this order, each in its own container of the run's Pod. A
    /// step starts only when the one before it succeeded; the first step that fails
    /// fails the run. At least one step; step names are unique.
    #[schemars(length(min = 1, max = 20))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub steps: Vec<Step>,
}
// ANCHOR_END: task_spec

// ANCHOR: step
/// One step of a Task: a container image and what to run in it.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
// `script` runs as `sh -c <script>`, so it takes the place of `command`: allowing
// both would leave the reader (and step 07) guessing which one wins. A CEL rule
// compares two fields, which plain OpenAPI validation cannot.
#[x_kube(validation = Rule::new(
        "!has(self.script) || !has(self.command) || size(self.command) == 0"
    )
    .message("a step has a script or a command, not both")
    .field_path(".script"))]
pub struct Step {
    /// The step's name, unique in the Task: a DNS-1123 label (lower-case
    /// letters, digits and '-', at most 63 characters), because it becomes the
    /// name of the step's container.
    #[schemars(length(max = 63), pattern(DNS1123_LABEL_PATTERN))]
    pub name: String,

    /// The container image to run, for example `busybox:1.37`.
    #[schemars(length(min = 1))]
    pub image: String,

    /// A shell script, run with `sh -c`, so the image needs a shell. Use either a
    /// script or a command, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,

    /// The program to run and its first arguments, instead of the image's entrypoint.
    /// Not together with a script.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub command: Vec<String>,

    /// Arguments for the command (or for the image's entrypoint).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 256))]
    pub args: Vec<String>,

    /// Environment variables for the step's container. Names are unique.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["name".into()]))]
    pub env: Vec<StepEnv>,

    /// The directory the step runs in (default: the image's working directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}
// ANCHOR_END: step

/// An environment variable of a step.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct StepEnv {
    /// The variable's name.
    #[schemars(length(min = 1))]
    pub name: String,

    /// The variable's value (default: empty).
    /// `$(params.<name>)` is replaced here too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A parameter a Task declares.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ParamSpec {
    /// The parameter's name, as used in `$(params.<name>)`: a letter or '_', then
    /// letters, digits, '_' or '-'.
    #[schemars(length(max = 63), pattern(PARAM_NAME_PATTERN))]
    pub name: String,

    /// What the parameter means, for whoever starts a run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,

    /// The value used when a run does not set one. A parameter without a default
    /// must be set by every run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

impl Step {
    /// A step that runs `script` with `sh -c` in `image`.
    pub fn script(name: &str, image: &str, script: &str) -> Self {
        Self {
            name: name.to_string(),
            image: image.to_string(),
            script: Some(script.to_string()),
            command: Vec::new(),
            args: Vec::new(),
            env: Vec::new(),
            working_dir: None,
        }
    }
}

impl TaskSpec {
    /// The step names, in order.
    pub fn step_names(&self) -> Vec<&str> {
        self.steps.iter().map(|step| step.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn the_crd_is_namespaced_in_the_workshop_group() {
        let crd = Task::crd();
        assert_eq!(crd.metadata.name.as_deref(), Some("tasks.workshop.io"));
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(
            crd.spec.names.categories,
            Some(vec!["workshop".to_string()])
        );
        assert_eq!(crd.spec.versions[0].name, "v1alpha1");
    }

    #[test]
    fn the_schema_validates_steps() {
        let crd = serde_json::to_value(Task::crd()).expect("a CRD serializes");
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]
            ["spec"];
        let steps = &spec["properties"]["steps"];
        assert_eq!(steps["minItems"], 1);
        assert_eq!(steps["x-kubernetes-list-type"], "map");
        assert_eq!(steps["x-kubernetes-list-map-keys"][0], "name");
        let step = &steps["items"]["properties"];
        assert_eq!(step["name"]["pattern"], DNS1123_LABEL_PATTERN);
        assert_eq!(step["image"]["minLength"], 1);
        assert!(
            spec["required"]
                .as_array()
                .is_some_and(|required| required.contains(&"steps".into())),
            "{spec}"
        );
    }
}
