//! Step 09 end to end: the webhook, run as its ServiceAccount
//! (`manifests/rbac/webhook.yaml`, by impersonation), registered with the real API
//! server, which calls it at `https://127.0.0.1:<port>/validate`: the cluster's API
//! server runs on this machine. (On kind the API server runs in a container: set
//! `WEBHOOK_HOST` to this machine's address on kind's network, and the webhook listens
//! on every interface.)
//!
//! Each test registers its own configuration, `taskrun-webhook-<its namespace>`, and
//! deletes it at the end, pass or fail.

use std::net::TcpListener;
use std::time::Duration;

use crds::{Step, Task, TaskRun, TaskSpec};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::runtime::reflector;
use kube::{Api, Client, ResourceExt};
use webhook::review::TaskLookup;
use webhook::tasks::Tasks;
use webhook::{FailurePolicy, Options};
use workshop_testkit::{
    TestNamespace, apply_manifest, service_account_client, wait_until,
};

const RBAC: &str = "rbac/webhook.yaml";
const SA_NAMESPACE: &str = "workshop-system";
const SA_NAME: &str = "taskrun-webhook";
/// How long the API server may take to start calling a webhook just registered (it
/// reads configurations through a watch of its own).
const EFFECTIVE: Duration = Duration::from_secs(20);

/// The webhook under test, in a task of its own, and how to stop it.
struct Running {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), webhook::Error>>,
}

/// A namespace, a webhook that guards it, and the admin's Apis to play the user.
struct Harness {
    admin: Client,
    ns: TestNamespace,
    tasks: Api<Task>,
    runs: Api<TaskRun>,
    failure_policy: FailurePolicy,
    webhook: Option<Running>,
    /// Deletes the configuration when the test ends.
    _registration: Registration,
}

impl Harness {
    /// A fresh namespace and its webhook, running and called by the API server.
    async fn start(
        prefix: &str,
        failure_policy: FailurePolicy,
    ) -> anyhow::Result<Self> {
        let admin = workshop_testkit::client().await;
        check_reachable()?;
        workshop_testkit::install_task_crds(&admin).await?;
        apply_manifest(RBAC).await;
        let ns = TestNamespace::create(&admin, prefix).await?;
        let mut harness = Self {
            tasks: Api::namespaced(admin.clone(), ns.name()),
            runs: Api::namespaced(admin.clone(), ns.name()),
            _registration: Registration(webhook::register::configuration_name(
                ns.name(),
            )),
            admin,
            ns,
            failure_policy,
            webhook: None,
        };
        harness.start_webhook().await?;
        Ok(harness)
    }

    fn options(&self) -> Options {
        Options {
            namespace: self.ns.name().to_string(),
            host: host(),
            service: None,
            failure_policy: self.failure_policy,
            configuration: None,
        }
    }

    /// Starts the webhook as its ServiceAccount, and waits until the API server calls
    /// it: until a run of a missing Task, sent as a dry run, is refused by it. Fails at
    /// once, with the webhook's error, if the webhook stops.
    async fn start_webhook(&mut self) -> anyhow::Result<()> {
        let listen = if std::env::var_os("WEBHOOK_HOST").is_some() {
            "0.0.0.0:0"
        } else {
            "127.0.0.1:0"
        };
        let listener = TcpListener::bind(listen)?;
        let client = service_account_client(SA_NAMESPACE, SA_NAME).await;
        let options = self.options();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let mut task = tokio::spawn(async move {
            webhook::serve(client, &options, listener, async {
                let _ = stopped.await;
            })
            .await
        });
        let probe = TaskRun::for_task("probe-of-a-missing-task", vec![]);
        let dry_run = PostParams {
            dry_run: true,
            ..PostParams::default()
        };
        let called = wait_until(
            "the API server to call the webhook (a dry run of a missing Task's run refused)",
            EFFECTIVE,
            || async {
                match self.runs.create(&dry_run, &probe).await {
                    Err(kube::Error::Api(status))
                        if status
                            .message
                            .contains(webhook::register::WEBHOOK_NAME)
                            && status.message.contains("denied the request") =>
                    {
                        Ok(Some(()))
                    }
                    Err(err) => Err(err.into()),
                    Ok(_) => Ok(None),
                }
            },
        );
        tokio::select! {
            called = called => {
                called.map_err(|err| anyhow::anyhow!(
                    "{err}. Does the configuration's namespaceSelector match namespace {} \
                     (its label {}), and do its rules match creating taskruns?",
                    self.ns.name(),
                    webhook::register::NAMESPACE_NAME_LABEL
                ))?;
                self.webhook = Some(Running { stop, task });
                Ok(())
            }
            ended = &mut task => match ended {
                Ok(Err(err)) => anyhow::bail!("the webhook stopped: {err}"),
                Ok(Ok(())) => anyhow::bail!("the webhook returned before it was called"),
                Err(panic) => anyhow::bail!("the webhook panicked: {}", panic_message(panic)),
            },
        }
    }

    /// Stops the webhook and waits until it no longer listens: from now on the API
    /// server's calls are refused, and the failure policy decides.
    async fn stop_webhook(&mut self) -> anyhow::Result<()> {
        let running = self.webhook.take().expect("a running webhook");
        let _ = running.stop.send(());
        match tokio::time::timeout(Duration::from_secs(15), running.task).await {
            Ok(Ok(result)) => Ok(result?),
            Ok(Err(panic)) => {
                anyhow::bail!("the webhook panicked: {}", panic_message(panic))
            }
            Err(_) => {
                anyhow::bail!("the webhook did not stop within 15s of being asked")
            }
        }
    }

    async fn create_task(&self, name: &str) -> anyhow::Result<Task> {
        let task = Task::new(
            name,
            TaskSpec {
                description: None,
                params: vec![],
                steps: vec![Step::script("hi", "busybox:1.37", "echo hi")],
            },
        );
        Ok(self.tasks.create(&PostParams::default(), &task).await?)
    }

    async fn create_run(&self, task: &str) -> Result<TaskRun, kube::Error> {
        self.runs
            .create(&PostParams::default(), &TaskRun::for_task(task, vec![]))
            .await
    }
}

/// On kind the API server runs in a container, where 127.0.0.1 is the container: it can
/// reach the test's webhook only at this machine's address on kind's network.
fn check_reachable() -> anyhow::Result<()> {
    let context = kube::config::Kubeconfig::read()
        .ok()
        .and_then(|config| config.current_context)
        .unwrap_or_default();
    if context.starts_with("kind-") && std::env::var_os("WEBHOOK_HOST").is_none() {
        anyhow::bail!(
            "context {context} is a kind cluster, whose API server cannot call a webhook at \
             127.0.0.1 of this machine: set WEBHOOK_HOST to this machine's address on \
             kind's Docker network (docker network inspect kind -f \
             '{{{{(index .IPAM.Config 0).Gateway}}}}')"
        );
    }
    Ok(())
}

/// The address the API server calls the test's webhook at.
fn host() -> String {
    std::env::var("WEBHOOK_HOST").unwrap_or_else(|_| "127.0.0.1".into())
}

fn panic_message(err: tokio::task::JoinError) -> String {
    match err.try_into_panic() {
        Ok(panic) => workshop_testkit::under_test::panic_message(&*panic)
            .unwrap_or_else(|| "a panic".into()),
        Err(err) => err.to_string(),
    }
}

/// The API server's refusal, as the user gets it: code and message.
fn refusal(result: Result<TaskRun, kube::Error>, what: &str) -> (u16, String) {
    match result {
        Err(kube::Error::Api(status)) => (status.code, status.message),
        Err(err) => panic!("{what}: expected the API server to refuse it, got {err}"),
        Ok(run) => {
            panic!("{what}: the API server admitted it (as {})", run.name_any())
        }
    }
}

/// A configuration deleted when the test ends (with `clean_up`, as `TestNamespace`
/// is: `drop` cannot wait on the test's runtime).
struct Registration(String);

impl Drop for Registration {
    fn drop(&mut self) {
        let name = std::mem::take(&mut self.0);
        workshop_testkit::clean_up(|client| async move {
            Api::<ValidatingWebhookConfiguration>::all(client)
                .delete(&name, &DeleteParams::default())
                .await
                .ok()
        });
    }
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn the_webhook_refuses_a_run_of_a_missing_task() -> anyhow::Result<()> {
    let h = Harness::start("webhook-refuses", FailurePolicy::Fail).await?;
    let (code, message) =
        refusal(h.create_run("biuld").await, "a run of a missing Task");
    let expected = format!(
        "admission webhook \"task-exists.workshop.io\" denied the request: {}",
        webhook::review::missing_task_message(h.ns.name(), "biuld")
    );
    assert_eq!(message, expected);
    assert_eq!(code, 403, "the refusal's HTTP status");
    let stored = h.runs.list(&Default::default()).await?;
    assert!(stored.items.is_empty(), "a refused run was stored");
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn a_run_of_an_existing_task_is_admitted() -> anyhow::Result<()> {
    let h = Harness::start("webhook-admits", FailurePolicy::Fail).await?;
    h.create_task("build").await?;
    // Wait until the webhook's cache has it, to prove the cache's yes too.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let run = h.create_run("build").await?;
    assert_eq!(run.spec.task_ref.name, "build");
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn a_task_created_just_before_its_run_is_not_refused() -> anyhow::Result<()> {
    let h = Harness::start("webhook-just-before", FailurePolicy::Fail).await?;
    // As `kubectl apply -f` of a file with a Task and then its run: no pause between.
    for i in 0..20 {
        let task = format!("task-{i}");
        h.create_task(&task).await?;
        if let Err(err) = h.create_run(&task).await {
            panic!(
                "a run created right after its Task ({task}, attempt {}) was refused: \
                 {err}. The webhook's cache had not seen the Task yet; only the API \
                 server can say that a Task does not exist",
                i + 1
            );
        }
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn a_task_the_cache_has_not_seen_is_asked_for() -> anyhow::Result<()> {
    let admin = workshop_testkit::client().await;
    workshop_testkit::install_task_crds(&admin).await?;
    apply_manifest(RBAC).await;
    let ns = TestNamespace::create(&admin, "webhook-lookup").await?;
    let tasks: Api<Task> = Api::namespaced(admin.clone(), ns.name());
    tasks
        .create(&PostParams::default(), &crds::hello_task())
        .await?;
    // A cache that has seen nothing: every answer must come from the API server.
    let (empty, _writer) = reflector::store::<Task>();
    let as_webhook = service_account_client(SA_NAMESPACE, SA_NAME).await;
    let lookup = Tasks::new(as_webhook, empty);
    let found = lookup.exists(ns.name(), "hello").await;
    assert!(
        matches!(found, Ok(true)),
        "Task hello exists, but is not in the cache: the lookup said {found:?}"
    );
    let missing = lookup.exists(ns.name(), "nowhere").await;
    assert!(
        matches!(missing, Ok(false)),
        "Task nowhere does not exist: the lookup said {missing:?}"
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn the_cache_is_filled_by_a_watch_as_the_service_account() -> anyhow::Result<()>
{
    let admin = workshop_testkit::client().await;
    workshop_testkit::install_task_crds(&admin).await?;
    apply_manifest(RBAC).await;
    let ns = TestNamespace::create(&admin, "webhook-cache").await?;
    let as_webhook = service_account_client(SA_NAMESPACE, SA_NAME).await;
    let (lookup, watch) = Tasks::watch(as_webhook, ns.name());
    let watching = tokio::spawn(watch);
    let tasks: Api<Task> = Api::namespaced(admin.clone(), ns.name());
    tasks
        .create(&PostParams::default(), &crds::hello_task())
        .await?;
    let cached = wait_until(
        "Task hello in the webhook's cache",
        Duration::from_secs(10),
        || {
            let found = lookup.cached(ns.name(), "hello");
            async move { Ok(found.then_some(())) }
        },
    )
    .await;
    watching.abort();
    cached?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn a_lookup_that_fails_is_not_taken_for_a_missing_task() -> anyhow::Result<()> {
    let admin = workshop_testkit::client().await;
    workshop_testkit::install_task_crds(&admin).await?;
    let ns = TestNamespace::create(&admin, "webhook-forbidden").await?;
    // An account with no permission at all: the API server answers 403 to every read.
    let nobody = service_account_client(ns.name(), "nobody").await;
    let (empty, _writer) = reflector::store::<Task>();
    let found = Tasks::new(nobody, empty).exists(ns.name(), "hello").await;
    match found {
        Err(err) => assert!(err.to_string().contains("forbidden"), "{err}"),
        Ok(answer) => panic!(
            "the API server refused the lookup (403), yet it answered Ok({answer}): a \
             failed lookup does not say that the Task is missing, it says nothing"
        ),
    }
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn the_webhook_guards_its_own_namespace_only() -> anyhow::Result<()> {
    let mut h = Harness::start("webhook-mine", FailurePolicy::Fail).await?;
    let other = TestNamespace::create(&h.admin, "webhook-theirs").await?;
    let theirs: Api<TaskRun> = Api::namespaced(h.admin.clone(), other.name());
    let run = TaskRun::for_task("not-there-either", vec![]);
    theirs
        .create(&PostParams::default(), &run)
        .await
        .map_err(|err| {
            anyhow::anyhow!(
                "a run in namespace {}, which this webhook does not guard, was refused: \
                 {err}",
                other.name()
            )
        })?;
    // Down, with failurePolicy Fail: still nobody else's business.
    h.stop_webhook().await?;
    theirs
        .create(&PostParams::default(), &run)
        .await
        .map_err(|err| {
            anyhow::anyhow!(
                "with the webhook of {} down, a run in namespace {} was refused: {err}",
                h.ns.name(),
                other.name()
            )
        })?;
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn with_failure_policy_fail_a_webhook_that_is_down_refuses_runs()
-> anyhow::Result<()> {
    let mut h = Harness::start("webhook-fail", FailurePolicy::Fail).await?;
    h.create_task("build").await?;
    h.stop_webhook().await?;
    let (code, message) = refusal(
        h.create_run("build").await,
        "with failurePolicy Fail and the webhook down, a run of an existing Task",
    );
    eprintln!("the API server answered {code}: {message}");
    assert!(
        message.contains("failed calling webhook \"task-exists.workshop.io\""),
        "{message}"
    );
    assert_eq!(code, 500, "the refusal's HTTP status");
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn with_failure_policy_ignore_a_webhook_that_is_down_admits_runs()
-> anyhow::Result<()> {
    let mut h = Harness::start("webhook-ignore", FailurePolicy::Ignore).await?;
    // While it runs, Ignore changes nothing: a run of a missing Task is refused.
    refusal(
        h.create_run("biuld").await,
        "a run of a missing Task, webhook up",
    );
    h.stop_webhook().await?;
    let run = h.create_run("biuld").await.map_err(|err| {
        anyhow::anyhow!(
            "with failurePolicy Ignore and the webhook down, a run was refused: {err}"
        )
    })?;
    eprintln!("admitted unchecked: {}", run.name_any());
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn while_the_webhook_is_down_only_new_runs_are_refused() -> anyhow::Result<()> {
    let mut h = Harness::start("webhook-down", FailurePolicy::Fail).await?;
    h.create_task("build").await?;
    let run = h.create_run("build").await?.name_any();
    // The Task goes away later: its runs must stay changeable too.
    h.tasks.delete("build", &DeleteParams::default()).await?;
    h.stop_webhook().await?;
    let blame = |what: &str, err: kube::Error| {
        anyhow::anyhow!(
            "while the webhook was down (failurePolicy Fail), {what} run {run} was \
             refused: {err}. Only creating a run needs the webhook: runs already \
             admitted must go on changing while it is down"
        )
    };
    let label = serde_json::json!({ "metadata": { "labels": { "team": "a" } } });
    h.runs
        .patch(&run, &PatchParams::default(), &Patch::Merge(&label))
        .await
        .map_err(|err| blame("labelling", err))?;
    // What step 07's controller writes as the run goes on.
    let status = serde_json::json!({ "status": { "phase": "Running" } });
    h.runs
        .patch_status(&run, &PatchParams::default(), &Patch::Merge(&status))
        .await
        .map_err(|err| blame("writing the status of", err))?;
    h.runs
        .delete(&run, &DeleteParams::default())
        .await
        .map_err(|err| blame("deleting", err))?;
    refusal(h.create_run("build").await, "a new run, webhook down");
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn a_restarted_webhook_registers_its_new_authority() -> anyhow::Result<()> {
    let mut h = Harness::start("webhook-restart", FailurePolicy::Fail).await?;
    let configurations: Api<ValidatingWebhookConfiguration> =
        Api::all(h.admin.clone());
    let name = webhook::register::configuration_name(h.ns.name());
    let before = configurations.get(&name).await?;
    h.stop_webhook().await?;
    // A new process: a new port, a new authority. Started means called (and trusted).
    h.start_webhook().await?;
    let after = configurations.get(&name).await?;
    let client = |c: &ValidatingWebhookConfiguration| {
        c.webhooks
            .as_ref()
            .and_then(|w| w.first())
            .map(|w| w.client_config.clone())
    };
    let (before, after) = (client(&before), client(&after));
    assert_ne!(
        before.as_ref().and_then(|c| c.ca_bundle.clone()),
        after.as_ref().and_then(|c| c.ca_bundle.clone()),
        "the caBundle after a restart"
    );
    refusal(
        h.create_run("biuld").await,
        "a run of a missing Task, after a restart",
    );
    Ok(())
}

#[tokio::test]
#[ignore = "needs a cluster"]
async fn the_in_cluster_manifests_are_accepted_and_their_pod_is_restricted()
-> anyhow::Result<()> {
    use anyhow::Context as _;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::{Namespace, Pod};
    let admin = workshop_testkit::client().await;
    workshop_testkit::install_task_crds(&admin).await?;
    apply_manifest(RBAC).await;
    let dir = workshop_testkit::manifests_dir().join("webhook");
    let output = tokio::process::Command::new("kubectl")
        .args(["apply", "--dry-run=server", "-f"])
        .arg(&dir)
        .output()
        .await?;
    assert!(
        output.status.success(),
        "kubectl apply --dry-run=server -f manifests/webhook/ failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // The Pod the Deployment makes passes the `restricted` Pod Security Standard.
    let ns = TestNamespace::create(&admin, "webhook-restricted").await?;
    let restricted = serde_json::json!({ "metadata": { "labels": {
        "pod-security.kubernetes.io/enforce": "restricted" } } });
    Api::<Namespace>::all(admin.clone())
        .patch(
            ns.name(),
            &PatchParams::default(),
            &Patch::Merge(&restricted),
        )
        .await?;
    let text = std::fs::read_to_string(dir.join("20-deployment.yaml"))?;
    let deployment: Deployment = serde_yaml::from_str(&text)?;
    let template = deployment.spec.context("a spec")?.template;
    let mut pod = Pod {
        metadata: template.metadata.unwrap_or_default(),
        spec: template.spec,
        status: None,
    };
    pod.metadata.name = Some("webhook".into());
    // Its ServiceAccount lives in workshop-system, not in this test's namespace.
    if let Some(spec) = pod.spec.as_mut() {
        spec.service_account_name = None;
    }
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let pods = Api::<Pod>::namespaced(admin.clone(), ns.name());
    pods.create(&dry_run, &pod)
        .await
        .context("the restricted Pod Security Standard refused the webhook's Pod")?;
    // The standard is enforced there: the same Pod, able to escalate, is refused.
    let mut lax = pod.clone();
    if let Some(context) = lax
        .spec
        .as_mut()
        .and_then(|spec| spec.containers[0].security_context.as_mut())
    {
        context.allow_privilege_escalation = Some(true);
    }
    assert!(pods.create(&dry_run, &lax).await.is_err());
    Ok(())
}
