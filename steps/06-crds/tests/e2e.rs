//! End-to-end tests of step 06 against a real API server.
//!
//! Run them with `scripts/check.sh 06` (or
//! `cargo test -p step-06-crds -- --include-ignored` with a cluster in your
//! kubeconfig). Each test installs the CRDs from `manifests/crds/` (`kubectl apply`,
//! as the book does, so installing twice changes nothing) and works in a namespace of
//! its own.
//!
//! What they pin down: the API server stores Tasks and TaskRuns exactly as the Rust
//! types write them; `kubectl` prints, explains and groups them as the CRD says; the
//! status is a subresource; bad objects are rejected with a message naming the field;
//! and nothing acts on a run (that is step 07).

use std::time::Duration;

use crds::{Param, Task, TaskRun, TaskRunPhase, TaskRunStatus};
use kube::api::{DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, CustomResourceExt, ResourceExt};
use serde_json::json;
use workshop_testkit::{TestNamespace, wait_until};

use workshop_testkit::install_task_crds;

/// Runs kubectl against the test cluster and returns what it printed.
async fn kubectl(args: &[&str]) -> anyhow::Result<String> {
    let output = tokio::process::Command::new("kubectl")
        .args(args)
        .output()
        .await
        .map_err(|err| anyhow::anyhow!("cannot run kubectl: {err}"))?;
    anyhow::ensure!(
        output.status.success(),
        "kubectl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)?)
}

/// The column names of a `kubectl get` table.
fn header(table: &str) -> Vec<&str> {
    table
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect()
}

// ANCHOR: e2e_program
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 06 runs it)"]
async fn the_program_creates_a_task_and_a_run_that_nothing_acts_on()
-> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    install_task_crds(&client).await?;
    let ns = TestNamespace::create(&client, "crds-program").await?;

    // Twice: the second run reuses the Task and starts a second TaskRun.
    let mut outputs = Vec::new();
    for _ in 0..2 {
        let mut out = Vec::new();
        crds::run(client.clone(), ns.name(), &mut out).await?;
        outputs.push(String::from_utf8(out)?);
    }
    for out in &outputs {
        let expected =
            format!("task {}/hello: steps greet, count, goodbye", ns.name());
        assert!(out.contains(&expected), "output:\n{out}");
        let created = format!("created taskrun {}/hello-", ns.name());
        assert!(out.contains(&created), "output:\n{out}");
        assert!(
            out.lines()
                .last()
                .is_some_and(|l| l.starts_with("status: none.")),
            "output:\n{out}"
        );
    }

    let tasks: Api<Task> = Api::namespaced(client.clone(), ns.name());
    let all_tasks = tasks.list(&ListParams::default()).await?.items;
    assert_eq!(
        all_tasks.len(),
        1,
        "one Task, however often the program runs"
    );
    assert_eq!(all_tasks[0].spec, crds::hello_task().spec);

    let runs: Api<TaskRun> = Api::namespaced(client.clone(), ns.name());
    let all_runs = runs.list(&ListParams::default()).await?.items;
    assert_eq!(all_runs.len(), 2, "one TaskRun per program run");
    assert_ne!(all_runs[0].name_any(), all_runs[1].name_any());
    for run in &all_runs {
        assert_eq!(run.spec.task_ref.name, "hello");
        assert_eq!(run.spec.params, vec![Param::new("who", "workshop")]);
        assert_eq!(run.status, None, "nothing writes a TaskRun's status yet");
    }
    Ok(())
}
// ANCHOR_END: e2e_program

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 06 runs it)"]
async fn tasks_and_runs_round_trip_through_typed_apis() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    install_task_crds(&client).await?;
    let ns = TestNamespace::create(&client, "crds-roundtrip").await?;
    let tasks: Api<Task> = Api::namespaced(client.clone(), ns.name());
    let runs: Api<TaskRun> = Api::namespaced(client.clone(), ns.name());

    // Every field of a step, so a field the schema forgot (and the API server would
    // prune) shows up as a difference.
    let mut task = crds::hello_task();
    task.spec.steps.push(crds::Step {
        name: "everything".into(),
        image: "busybox:1.37".into(),
        script: None,
        command: vec!["sh".into(), "-c".into()],
        args: vec!["echo \"$GREETING from $(pwd)\"".into()],
        env: vec![crds::StepEnv {
            name: "GREETING".into(),
            value: Some("hi $(params.who)".into()),
        }],
        working_dir: Some("/tmp".into()),
    });
    let created = crds::ensure_task(&tasks, &task).await?;
    assert_eq!(created.spec, task.spec, "the Task as stored");
    assert!(created.uid().is_some(), "the API server gives it a uid");
    let again = crds::ensure_task(&tasks, &task).await?;
    assert_eq!(
        again.uid(),
        created.uid(),
        "ensure_task reuses an existing Task"
    );

    let mut run = TaskRun::for_task("hello", vec![Param::new("who", "typed")]);
    run.spec.timeout = Some("1h30m".into());
    let created = runs.create(&PostParams::default(), &run).await?;
    let name = created.name_any();
    assert!(
        name.starts_with("hello-"),
        "{name}: named from generateName"
    );
    let stored = runs.get(&name).await?;
    assert_eq!(stored.spec, run.spec, "the TaskRun as stored");
    assert_eq!(stored.spec.timeout(), Ok(Some(Duration::from_secs(5400))));
    assert_eq!(stored.status, None);

    // The selectable field: the runs of one Task, filtered by the API server.
    let of_hello = ListParams::default().fields("spec.taskRef.name=hello");
    assert_eq!(runs.list(&of_hello).await?.items.len(), 1);
    let of_other = ListParams::default().fields("spec.taskRef.name=other");
    assert_eq!(runs.list(&of_other).await?.items.len(), 0);
    Ok(())
}

/// Exercise 6.3's last rule: only "there is no such Task" leads to a create. The client
/// acts as a ServiceAccount that may create Tasks but not read them, so its `get` fails
/// with 403 Forbidden, not 404. `ensure_task` must hand that failure back, and no Task may
/// appear: code that takes every failure of the `get` for "missing" creates one instead.
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 06 runs it)"]
async fn a_failure_other_than_not_found_is_returned_and_creates_nothing()
-> anyhow::Result<()> {
    use k8s_openapi::api::rbac::v1::{
        PolicyRule, Role, RoleBinding, RoleRef, Subject,
    };
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    let admin = workshop_testkit::client().await;
    install_task_crds(&admin).await?;
    let ns = TestNamespace::create(&admin, "crds-forbidden").await?;
    let meta = |name: &str| ObjectMeta {
        name: Some(name.into()),
        ..ObjectMeta::default()
    };
    let role = Role {
        metadata: meta("create-tasks-only"),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["workshop.io".into()]),
            resources: Some(vec!["tasks".into()]),
            verbs: vec!["create".into()],
            ..PolicyRule::default()
        }]),
    };
    Api::<Role>::namespaced(admin.clone(), ns.name())
        .create(&PostParams::default(), &role)
        .await?;
    let binding = RoleBinding {
        metadata: meta("create-tasks-only"),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: "create-tasks-only".into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: "task-creator".into(),
            namespace: Some(ns.name().into()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(admin.clone(), ns.name())
        .create(&PostParams::default(), &binding)
        .await?;

    let creator =
        workshop_testkit::service_account_client(ns.name(), "task-creator").await;
    let tasks: Api<Task> = Api::namespaced(creator, ns.name());
    // The API server authorizes with the new Role once its cache holds it: until the
    // creator's create goes through, a wrong `ensure_task` would fail too, for another
    // reason, and pass.
    let probe = Task::new("probe", crds::hello_task().spec);
    wait_until(
        "the Role to let the creator create Tasks",
        Duration::from_secs(10),
        || async {
            match tasks.create(&PostParams::default(), &probe).await {
                Ok(_) => Ok(Some(())),
                Err(kube::Error::Api(status)) if status.is_already_exists() => {
                    Ok(Some(()))
                }
                Err(err) => Err(err.into()),
            }
        },
    )
    .await?;

    let result = crds::ensure_task(&tasks, &crds::hello_task()).await;
    match result {
        Err(kube::Error::Api(status)) => assert_eq!(
            status.code, 403,
            "ensure_task should return the get's failure as it is: {status:?}"
        ),
        other => panic!(
            "the account cannot read Tasks, so ensure_task cannot know whether `hello` \
             exists and must return the get's 403 Forbidden; it returned {:?}",
            other.map(|task| format!("the Task {}", task.name_any()))
        ),
    }
    let as_admin: Api<Task> = Api::namespaced(admin.clone(), ns.name());
    assert!(
        as_admin.get_opt("hello").await?.is_none(),
        "a get that failed for another reason than 404 must not lead to a create"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 06 runs it)"]
async fn kubectl_shows_the_printer_columns_short_names_and_category()
-> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    install_task_crds(&client).await?;
    let ns = TestNamespace::create(&client, "crds-kubectl").await?;
    let tasks: Api<Task> = Api::namespaced(client.clone(), ns.name());
    let runs: Api<TaskRun> = Api::namespaced(client.clone(), ns.name());
    crds::ensure_task(&tasks, &crds::hello_task()).await?;
    let run = runs
        .create(
            &PostParams::default(),
            &TaskRun::for_task("hello", Vec::new()),
        )
        .await?;

    let table = kubectl(&["get", "taskruns.workshop.io", "-n", ns.name()]).await?;
    assert_eq!(
        header(&table),
        ["NAME", "TASK", "PHASE", "POD", "AGE"],
        "{table}"
    );
    assert!(table.contains(&run.name_any()), "{table}");
    let table = kubectl(&["get", "tasks.workshop.io", "-n", ns.name()]).await?;
    assert_eq!(header(&table), ["NAME", "DESCRIPTION", "AGE"], "{table}");
    assert!(table.contains("Greets someone"), "{table}");

    // Short names, and the category that lists both kinds at once.
    let short = kubectl(&["get", "tsk,tr", "-n", ns.name(), "-o", "name"]).await?;
    let workshop =
        kubectl(&["get", "workshop", "-n", ns.name(), "-o", "name"]).await?;
    for listing in [short, workshop] {
        assert!(listing.contains("task.workshop.io/hello"), "{listing}");
        let run_name = format!("taskrun.workshop.io/{}", run.name_any());
        assert!(listing.contains(&run_name), "{listing}");
    }
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 06 runs it)"]
async fn kubectl_explain_shows_the_doc_comments() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    install_task_crds(&client).await?;
    let cases = [
        (
            vec!["explain", "tasks.spec.steps"],
            "The steps, run in this order, each in its own container of the run's Pod.",
        ),
        (
            vec!["explain", "tasks.spec.steps.name"],
            "The step's name, unique in the Task: a DNS-1123 label",
        ),
        (
            vec!["explain", "taskruns.spec.timeout"],
            "How long the run may take, from the moment it starts",
        ),
    ];
    for (args, expected) in cases {
        let args: Vec<&str> = args
            .into_iter()
            .chain(["--api-version", "workshop.io/v1alpha1"])
            .collect();
        // The API server publishes a new CRD's OpenAPI a
        // moment after it is Established.
        wait_until(
            &format!("`kubectl {}` to show {expected:?}", args.join(" ")),
            Duration::from_secs(30),
            || async {
                let text = kubectl(&args).await?;
                // kubectl wraps the text to its own width: compare words, not lines.
                let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
                Ok(words.contains(expected).then_some(()))
            },
        )
        .await?;
    }
    Ok(())
}

// ANCHOR: e2e_status
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 06 runs it)"]
async fn the_status_is_a_subresource() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    install_task_crds(&client).await?;
    let ns = TestNamespace::create(&client, "crds-status").await?;
    let runs: Api<TaskRun> = Api::namespaced(client.clone(), ns.name());
    let run = runs
        .create(
            &PostParams::default(),
            &TaskRun::for_task("hello", Vec::new()),
        )
        .await?;
    let name = run.name_any();

    // A whole status, as step 07's controller will write it:
    // every field must survive.
    let status: TaskRunStatus = serde_json::from_value(json!({
        "phase": "Running",
        "podName": format!("{name}-pod"),
        "startTime": "2026-01-02T03:04:05Z",
        "conditions": [{
            "type": "Succeeded",
            "status": "Unknown",
            "reason": "Running",
            "message": "step greet is running",
            "lastTransitionTime": "2026-01-02T03:04:05Z",
        }],
        "steps": [{ "name": "greet" }],
        "observedGeneration": 1,
        "taskSpec": crds::hello_task().spec,
    }))?;
    let patched = runs
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await?;
    assert_eq!(patched.status.as_ref(), Some(&status));
    assert_eq!(patched.phase(), Some(TaskRunPhase::Running));
    assert_eq!(
        patched.metadata.generation, run.metadata.generation,
        "a status change is not a new generation"
    );

    // Through the main resource, the status cannot change (and the spec cannot
    // either, being immutable; the labels can).
    let mut edited = runs.get(&name).await?;
    edited.labels_mut().insert("edited".into(), "yes".into());
    if let Some(status) = edited.status.as_mut() {
        status.phase = Some(TaskRunPhase::Succeeded);
    }
    let replaced = runs.replace(&name, &PostParams::default(), &edited).await?;
    assert_eq!(
        replaced.labels().get("edited").map(String::as_str),
        Some("yes")
    );
    assert_eq!(
        replaced.phase(),
        Some(TaskRunPhase::Running),
        "an update of the main resource ignores the status"
    );

    // And through the status subresource, the spec cannot change.
    let patched = runs
        .patch_status(
            &name,
            &PatchParams::default(),
            &Patch::Merge(json!({
                "spec": { "taskRef": { "name": "other" } },
                "status": { "phase": "Succeeded" },
            })),
        )
        .await?;
    assert_eq!(patched.spec.task_ref.name, "hello");
    assert_eq!(patched.phase(), Some(TaskRunPhase::Succeeded));
    Ok(())
}
// ANCHOR_END: e2e_status

/// Tries to create `object` (JSON, so it can be anything the Rust types
/// cannot express) and returns `None` when the API server rejects it as
/// invalid with a message containing every one of `expected`, else a line
/// saying what happened instead.
async fn check_rejected(
    api: &Api<DynamicObject>,
    what: &str,
    object: serde_json::Value,
    expected: &[&str],
) -> anyhow::Result<Option<String>> {
    let object: DynamicObject = serde_json::from_value(object)?;
    Ok(match api.create(&PostParams::default(), &object).await {
        Ok(_) => Some(format!("{what}: accepted, should be rejected")),
        Err(kube::Error::Api(status)) if status.is_invalid() => {
            let message = &status.message;
            eprintln!("{what}: {message}");
            let missing: Vec<_> =
                expected.iter().filter(|e| !message.contains(*e)).collect();
            (!missing.is_empty()).then(|| {
                format!("{what}: message {message:?} does not contain {missing:?}")
            })
        }
        Err(err) => Some(format!("{what}: expected 422 Invalid, got {err}")),
    })
}

fn task_with(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "workshop.io/v1alpha1",
        "kind": "Task",
        "metadata": { "name": name },
        "spec": spec,
    })
}

fn run_with(name: &str, spec: serde_json::Value) -> serde_json::Value {
    json!({
        "apiVersion": "workshop.io/v1alpha1",
        "kind": "TaskRun",
        "metadata": { "name": name },
        "spec": spec,
    })
}

// ANCHOR: e2e_invalid
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 06 runs it)"]
async fn the_api_server_rejects_invalid_tasks() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    install_task_crds(&client).await?;
    let ns = TestNamespace::create(&client, "crds-bad-tasks").await?;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns.name(), &Task::api_resource());
    let step = |name: &str| json!({ "name": name, "image": "busybox:1.37" });
    let long_name = "a".repeat(64);
    let cases = [
        ("no steps", json!({}), vec!["spec.steps: Required value"]),
        (
            "empty steps",
            json!({ "steps": [] }),
            vec!["spec.steps: Invalid value", "at least 1 items"],
        ),
        (
            "a step without a name",
            json!({ "steps": [{ "image": "busybox:1.37" }] }),
            vec!["spec.steps[0].name: Required value"],
        ),
        (
            "a step name that is not a DNS-1123 label",
            json!({ "steps": [step("Say_Hello")] }),
            vec!["spec.steps[0].name: Invalid value", "should match"],
        ),
        (
            "a step name longer than 63 characters",
            json!({ "steps": [step(&long_name)] }),
            vec!["spec.steps[0].name: Too long"],
        ),
        (
            "two steps with the same name",
            json!({ "steps": [step("greet"), step("count"), step("greet")] }),
            vec!["spec.steps[2]: Duplicate value"],
        ),
        (
            "a step without an image",
            json!({ "steps": [{ "name": "greet" }] }),
            vec!["spec.steps[0].image: Required value"],
        ),
        (
            "a step with an empty image",
            json!({ "steps": [{ "name": "greet", "image": "" }] }),
            vec![
                "spec.steps[0].image: Invalid value",
                "at least 1 chars long",
            ],
        ),
        (
            "a step with both a script and a command",
            json!({ "steps": [{
                "name": "greet", "image": "busybox:1.37", "script": "echo hi",
                "command": ["echo"]
            }] }),
            vec![
                "spec.steps[0].script: Invalid value",
                "a step has a script or a command, not both",
            ],
        ),
        (
            "two params with the same name",
            json!({
                "params": [{ "name": "who" }, { "name": "who" }],
                "steps": [step("greet")]
            }),
            vec!["spec.params[1]: Duplicate value"],
        ),
        (
            "a param name with a space",
            json!({ "params": [{ "name": "who is it" }], "steps": [step("greet")] }),
            vec!["spec.params[0].name: Invalid value", "should match"],
        ),
    ];
    let mut wrong = Vec::new();
    for (i, (what, spec, expected)) in cases.into_iter().enumerate() {
        let task = task_with(&format!("bad-{i}"), spec);
        wrong.extend(check_rejected(&api, what, task, &expected).await?);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    Ok(())
}
// ANCHOR_END: e2e_invalid

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 06 runs it)"]
async fn the_api_server_rejects_invalid_runs() -> anyhow::Result<()> {
    let client = workshop_testkit::client().await;
    install_task_crds(&client).await?;
    let ns = TestNamespace::create(&client, "crds-bad-runs").await?;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), ns.name(), &TaskRun::api_resource());
    let hello = json!({ "name": "hello" });
    let cases = [
        (
            "a run without a taskRef",
            json!({}),
            vec!["spec.taskRef: Required value"],
        ),
        (
            "a run with an empty taskRef.name",
            json!({ "taskRef": { "name": "" } }),
            vec!["spec.taskRef.name: Invalid value", "at least 1 chars long"],
        ),
        (
            "a timeout that is not a duration",
            json!({ "taskRef": hello, "timeout": "5 minutes" }),
            vec!["spec.timeout: Invalid value", "should match"],
        ),
        (
            "a timeout of zero",
            json!({ "taskRef": hello, "timeout": "0s" }),
            vec!["spec.timeout: Invalid value", "must be longer than zero"],
        ),
        (
            "two values for the same param",
            json!({ "taskRef": hello, "params": [
                { "name": "who", "value": "a" }, { "name": "who", "value": "b" }
            ] }),
            vec!["spec.params[1]: Duplicate value"],
        ),
    ];
    let mut wrong = Vec::new();
    for (i, (what, spec, expected)) in cases.into_iter().enumerate() {
        let run = run_with(&format!("bad-{i}"), spec);
        wrong.extend(check_rejected(&api, what, run, &expected).await?);
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // Immutable: once created, the spec cannot change, by update or by patch.
    let runs: Api<TaskRun> = Api::namespaced(client.clone(), ns.name());
    let run = runs
        .create(
            &PostParams::default(),
            &TaskRun::for_task("hello", vec![Param::new("who", "first")]),
        )
        .await?;
    let name = run.name_any();
    let mut changed = run.clone();
    changed.spec.params = vec![Param::new("who", "second")];
    let patch = Patch::Merge(json!({ "spec": { "timeout": "5m" } }));
    let attempts = [
        (
            "changing a run's params (update)",
            runs.replace(&name, &PostParams::default(), &changed).await,
        ),
        (
            "setting a run's timeout (patch)",
            runs.patch(&name, &PatchParams::default(), &patch).await,
        ),
    ];
    for (what, result) in attempts {
        match result {
            Err(kube::Error::Api(status)) if status.is_invalid() => {
                eprintln!("{what}: {}", status.message);
                assert!(
                    status.message.contains("spec: Invalid value")
                        && status.message.contains("spec is immutable"),
                    "{what}: {}",
                    status.message
                );
            }
            other => panic!("{what}: expected 422 spec is immutable, got {other:?}"),
        }
    }
    // Metadata is not the spec: labels can still change.
    let labelled = runs
        .patch(
            &name,
            &PatchParams::default(),
            &Patch::Merge(
                json!({ "metadata": { "labels": { "team": "workshop" } } }),
            ),
        )
        .await?;
    assert_eq!(labelled.spec, run.spec);
    Ok(())
}
