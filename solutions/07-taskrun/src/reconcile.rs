//! Reconcile: bring one TaskRun forward, from what the world looks like now.
//!
//! A run goes through two stages, and reconcile asks which one it is in by looking at
//! the run's status for the Task spec it started with:
//!
//! - **not started**: read the Task (missing: report `TaskNotFound` and wait; the
//!   Task watch wakes us when it appears), create the Pod, record it with a
//!   snapshot of the Task's spec;
//! - **started**: read the Pod and report what it says; a Pod gone before it
//!   finished fails the run (`PodDeleted`), a run past its `timeout` loses its
//!   Pod and fails (`TimedOut`).
//!
//! Succeeded and Failed are final: such a run is never touched again.
//!
//! Every step can be interrupted (a crash, a restart) and repeated safely. The Pod's
//! name is fixed, so creating it twice is impossible: the second attempt finds it and
//! adopts it. Every status write carries the run's resourceVersion, so a write based
//! on an out-of-date copy of the run (the cache lags behind our own writes) is
//! refused with a conflict and simply retried on the fresh copy: the controller never
//! overwrites news it has not seen.

use std::sync::Arc;
use std::time::Duration;

use crds::{Task, TaskRun, TaskRunStatus, TaskSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::events::{Event, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource, ResourceExt};
use workqueue::ObjectBackoff;

use crate::pod::{self, CONTROLLER_NAME};
use crate::status::{self, reason};

/// Why a reconcile failed. Every one of these is retried, with backoff per run.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the TaskRun has no namespace")]
    NoNamespace,
    #[error(
        "a Pod named {0} exists but does not belong to this run; retrying until it is gone"
    )]
    PodNotOurs(String),
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
}

impl Error {
    /// A conflict is routine: our copy of the run was out of date.
    /// The retry uses a fresh one.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Api(kube::Error::Api(status)) if status.is_conflict())
    }
}

// ANCHOR: context
/// What every reconcile shares: a client for writes, the Pod cache for reads, a
/// recorder for Events, and the per-run failure count that kube-runtime does
/// not keep (as in step 05).
pub struct Context {
    client: Client,
    pods: Store<Pod>,
    recorder: Recorder,
    backoff: ObjectBackoff<TaskRun>,
}
// ANCHOR_END: context

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("cached_pods", &self.pods.len())
            .finish_non_exhaustive()
    }
}

/// client-go's defaults, as in steps 03 and 05: 5 ms, doubling, at most 1000 s.
const BASE_DELAY: Duration = Duration::from_millis(5);
const MAX_DELAY: Duration = Duration::from_secs(1000);

impl Context {
    /// A context over the Pod cache `pods` and the run cache `runs` (the backoff
    /// keeps a count only for runs that are in it).
    pub fn new(client: Client, pods: Store<Pod>, runs: Store<TaskRun>) -> Arc<Self> {
        let recorder = Recorder::new(client.clone(), CONTROLLER_NAME.into());
        Arc::new(Self {
            client,
            pods,
            recorder,
            backoff: ObjectBackoff::new(runs, BASE_DELAY, MAX_DELAY),
        })
    }

    /// Drops the failure counts of the runs that `event` says are gone. Call it with
    /// every event of the watch that fills the run cache: the runtime never
    /// reconciles a run that is gone, so nothing else would.
    pub fn observe(&self, event: &watcher::Event<TaskRun>) {
        self.backoff.observe(event);
    }

    /// How many runs the backoff holds a failure count for.
    pub fn backoff_entries(&self) -> usize {
        self.backoff.len()
    }
}

// ANCHOR: reconcile
/// Brings one run forward. The runtime calls this for every change to a run, to its
/// Pod, and to a Task that runs are waiting for.
pub async fn reconcile(
    run: Arc<TaskRun>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    // DIAGNOSE 7.6: A run that failed can come back to life:
    //     find out how, and fix it.
    // With the exercises done, three end-to-end tests still fail. In two, a run fails
    // before it starts, and must stay failed once its Task is fixed: when the Task's
    // change wakes the run up, and when a restarted controller, which reconciles
    // every run it lists, comes across it. In the third, a run fails at a step, and
    // must keep its story when its Pod is deleted. Follow those runs through
    // reconcile, and say what the controller did wrong before you change anything.
    // Proved by: a_failed_run_stays_failed_when_its_task_is_fixed,
    //   a_failed_run_stays_failed_after_a_restart,
    //   a_failed_run_stays_failed_when_its_pod_is_deleted,
    //   a_run_goes_pending_running_succeeded
    // Needs: 7.1, 7.2, 7.3, 7.4, 7.5
    // Path: stretch, 15 min
    // Book: "Step 07 > Exercise 7.6: after the end"
    // BEGIN SOLUTION
    // Succeeded and Failed are final: whatever happens to its Task or its Pod
    // now, the run's story is told.
    if run.phase().is_some_and(|phase| phase.is_terminal()) {
        ctx.backoff.forget(run.as_ref());
        return Ok(Action::await_change());
    }
    let namespace = run.namespace().ok_or(Error::NoNamespace)?;
    // STARTER
    // let namespace = run.namespace().ok_or(Error::NoNamespace)?;
    // END SOLUTION
    let now = status::now();
    let started = run.status.as_ref().and_then(|s| s.task_spec.clone());
    let action = match started {
        None => start_run(&run, &namespace, &ctx, &now).await?,
        Some(spec) => follow_run(&run, &spec, &namespace, &ctx, &now).await?,
    };
    ctx.backoff.forget(run.as_ref());
    Ok(action)
}
// ANCHOR_END: reconcile

// ANCHOR: error_policy
/// Decides when a failed reconcile is tried again: 5 ms, 10 ms, 20 ms, ... per run.
pub fn error_policy(run: Arc<TaskRun>, error: &Error, ctx: Arc<Context>) -> Action {
    let wait = ctx.backoff.when(run.as_ref());
    let name = run.name_any();
    if error.is_conflict() {
        tracing::debug!(name, retry_in = ?wait, "run changed meanwhile; retrying");
    } else {
        tracing::warn!(name, %error, retry_in = ?wait, "reconcile failed");
    }
    Action::requeue(wait)
}
// ANCHOR_END: error_policy

/// A run that has not started: find its Task, create its Pod, record both.
async fn start_run(
    run: &TaskRun,
    namespace: &str,
    ctx: &Context,
    now: &Time,
) -> Result<Action, Error> {
    // One read from the API server per run, when it starts: a cache of Tasks could
    // lag behind a Task created a moment ago and report it missing.
    let tasks: Api<Task> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(task) = tasks.get_opt(&run.spec.task_ref.name).await? else {
        write_status(run, status::waiting_for_task(run, now), ctx).await?;
        // No requeue: creating the Task triggers this run (see `waits_for`).
        return Ok(Action::await_change());
    };
    let timeout = match run.spec.timeout() {
        Ok(timeout) => timeout,
        Err(err) => {
            return fail(run, reason::INVALID_RUN, err.to_string(), ctx, now).await;
        }
    };
    let desired = match pod::desired_pod(run, &task.spec) {
        Ok(desired) => desired,
        Err(err) => {
            return fail(run, reason::INVALID_RUN, err.to_string(), ctx, now).await;
        }
    };
    let pod = match create_pod(&ctx.client, run, &desired).await {
        Ok(pod) => pod,
        // Somebody else's Pod has this run's Pod's name. Say so in the run's status
        // (and an Event), never take that Pod over nor delete it, and retry with
        // backoff until it is gone.
        Err(Error::PodNotOurs(name)) => {
            write_status(run, status::blocked_by_pod(run, &name, now), ctx).await?;
            return Err(Error::PodNotOurs(name));
        }
        // The API server refused the Pod as invalid (an image name with a leading
        // space, say): no retry can help, only a new run of a fixed Task.
        Err(Error::Api(kube::Error::Api(status))) if status.is_invalid() => {
            let message =
                format!("the API server refused its Pod: {}", status.message);
            return fail(run, reason::INVALID_RUN, message, ctx, now).await;
        }
        Err(err) => return Err(err),
    };
    let status = status::from_pod(run, &task.spec, &pod, now);
    let action = requeue_for_timeout(&status, timeout, now);
    write_status(run, status, ctx).await?;
    Ok(action)
}

// ANCHOR: create_pod
/// Creates the run's Pod, or adopts it if it already exists: a crash between
/// creating the Pod and recording it, or a cache that has not yet seen our own
/// write, must never make two.
pub async fn create_pod(
    client: &Client,
    run: &TaskRun,
    desired: &Pod,
) -> Result<Pod, Error> {
    // EXERCISE 7.2: Create `desired`, or return the existing Pod of that
    //     name if it is this run's.
    // However often this is called for one run, even by a controller that crashed and
    // restarted in between, there is never more than one Pod, and the Pod a run gets
    // is its own. A Pod of that name that belongs to something else is
    // `Error::PodNotOurs`: never returned, changed or deleted. So is the Pod of an
    // earlier run of the same name (deleted, then created again): a run's name can
    // be used again, its uid never. Log what you did (created, or adopted) with the
    // Pod's and the run's names.
    // Proved by: a_pod_created_just_before_a_crash_is_adopted_not_doubled,
    //   a_controller_restarted_mid_run_finishes_it_with_one_pod,
    //   a_pod_of_that_name_that_is_not_ours_blocks_the_run,
    //   a_pod_of_an_earlier_run_of_the_same_name_is_not_adopted
    // Needs: 7.1, 7.3, 7.4; sometimes 7.5
    // Path: stretch, 12 min
    // Book: "Step 07 > Exactly one Pod"
    // BEGIN SOLUTION
    let namespace = desired.namespace().unwrap_or_default();
    let name = desired.name_any();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let params = PostParams {
        field_manager: Some(CONTROLLER_NAME.into()),
        ..PostParams::default()
    };
    match pods.create(&params, desired).await {
        Ok(created) => {
            tracing::info!(
                action = "create",
                pod = name,
                run = run.name_any(),
                "created Pod"
            );
            Ok(created)
        }
        Err(kube::Error::Api(status)) if status.is_already_exists() => {
            let existing = pods.get(&name).await?;
            let ours = existing
                .owner_references()
                .iter()
                .any(|owner| Some(&owner.uid) == run.uid().as_ref());
            if !ours {
                return Err(Error::PodNotOurs(name));
            }
            tracing::info!(
                action = "adopt",
                pod = name,
                "the Pod exists already; adopting it"
            );
            Ok(existing)
        }
        Err(err) => Err(err.into()),
    }
    // END SOLUTION
}
// ANCHOR_END: create_pod

// ANCHOR: next
/// What a run that has started must do next, from its Pod (if it still has one) and
/// the time it has left (if it has a timeout).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Next<'a> {
    /// Report what this Pod says.
    Report(&'a Pod),
    /// Out of time: fail with `TimedOut`, and delete the Pod if there is one.
    TimeOut,
    /// The Pod is gone, or going, before it finished: fail with `PodDeleted`.
    PodGone,
}

/// Decides what a started run's Pod and clock mean for it.
pub fn next_for(pod: Option<&Pod>, time_left: Option<Duration>) -> Next<'_> {
    // EXERCISE 7.3: Decide what a started run's Pod and clock mean for it.
    // A run ends as its Pod ended: a Pod that finished (failed or succeeded) is
    // reported, even if it is being deleted or the time ran out since (it finished in
    // time; we only learned it late). A run with no time left that has not finished
    // times out, whether or not it still has a Pod. A Pod that is missing, or on its
    // way out before it finished, is lost, and the run with it. Any other Pod is
    // reported.
    // Proved by: a_started_run_follows_its_pod_until_it_finishes_vanishes,
    //   a_deleted_pod_fails_the_run_and_is_not_replaced,
    //   a_run_that_times_out_fails_and_loses_its_pod
    // Needs: 7.1, 7.2, 7.4; sometimes 7.5
    // Path: stretch, 12 min
    // Book: "Step 07 > Following a run"
    // BEGIN SOLUTION
    let finished = pod.is_some_and(|pod| status::phase_of(pod).is_terminal());
    match pod {
        Some(pod) if finished => Next::Report(pod),
        _ if time_left == Some(Duration::ZERO) => Next::TimeOut,
        Some(pod) if pod.metadata.deletion_timestamp.is_none() => Next::Report(pod),
        _ => Next::PodGone,
    }
    // END SOLUTION
}
// ANCHOR_END: next

// ANCHOR: follow_run
/// A run that has started: report what its Pod says, or fail it if the Pod is gone
/// or the run is out of time.
async fn follow_run(
    run: &TaskRun,
    spec: &TaskSpec,
    namespace: &str,
    ctx: &Context,
    now: &Time,
) -> Result<Action, Error> {
    let pod_name = pod::pod_name(&run.name_any());
    let pod = find_pod(run, &pod_name, namespace, ctx).await?;
    let timeout = match run.spec.timeout() {
        Ok(timeout) => timeout,
        Err(err) => {
            return fail(run, reason::INVALID_RUN, err.to_string(), ctx, now).await;
        }
    };
    let start = run.status.as_ref().and_then(|s| s.start_time.clone());
    let left = match (timeout, start) {
        (Some(timeout), Some(start)) => Some(time_left(&start, timeout, now)),
        _ => None,
    };
    match next_for(pod.as_ref(), left) {
        Next::Report(pod) => {
            let status = status::from_pod(run, spec, pod, now);
            let action = requeue_for_timeout(&status, timeout, now);
            write_status(run, status, ctx).await?;
            Ok(action)
        }
        Next::TimeOut => {
            if let Some(pod) = &pod {
                delete_pod(&ctx.client, pod).await?;
            }
            let limit = run.spec.timeout.clone().unwrap_or_default();
            let message =
                format!("the run did not finish within {limit}; its Pod was deleted");
            fail(run, reason::TIMED_OUT, message, ctx, now).await
        }
        Next::PodGone => {
            let message =
                format!("Pod {pod_name} was deleted before the run finished");
            fail(run, reason::POD_DELETED, message, ctx, now).await
        }
    }
}
// ANCHOR_END: follow_run

/// The run's Pod: from the cache, and when the cache does not have it, from the API
/// server. A cache can lag behind (we created the Pod a moment ago), and "the Pod is
/// gone" fails the run for good, so absence is confirmed at the source. A Pod of that
/// name owned by somebody else is not ours: for this run, its Pod is gone.
async fn find_pod(
    run: &TaskRun,
    pod_name: &str,
    namespace: &str,
    ctx: &Context,
) -> Result<Option<Pod>, Error> {
    let cached = ctx
        .pods
        .get(&ObjectRef::new(pod_name).within(namespace))
        .map(|pod| (*pod).clone());
    let pod = match cached {
        Some(pod) => Some(pod),
        None => {
            let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), namespace);
            pods.get_opt(pod_name).await?
        }
    };
    Ok(pod.filter(|pod| {
        pod.owner_references()
            .iter()
            .any(|owner| Some(&owner.uid) == run.uid().as_ref())
    }))
}

/// Deletes the run's Pod (that very Pod: the uid precondition), if it is still there.
async fn delete_pod(client: &Client, pod: &Pod) -> Result<(), Error> {
    let pods: Api<Pod> =
        Api::namespaced(client.clone(), &pod.namespace().unwrap_or_default());
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: pod.uid(),
            ..Preconditions::default()
        }),
        ..DeleteParams::default()
    };
    match pods.delete(&pod.name_any(), &params).await {
        Ok(_) => {
            tracing::info!(
                action = "delete",
                pod = pod.name_any(),
                "timed out; deleted Pod"
            );
            Ok(())
        }
        Err(kube::Error::Api(status)) if status.is_not_found() => Ok(()),
        Err(err) => Err(err.into()),
    }
}

/// Fails the run for good, with `reason` and `message`.
async fn fail(
    run: &TaskRun,
    reason: &str,
    message: String,
    ctx: &Context,
    now: &Time,
) -> Result<Action, Error> {
    write_status(run, status::failed(run, reason, message, now), ctx).await?;
    Ok(Action::await_change())
}

/// How long until a run that started at `start` reaches its
/// `timeout`; zero once it has.
pub fn time_left(start: &Time, timeout: Duration, now: &Time) -> Duration {
    let elapsed = now.0.as_second().saturating_sub(start.0.as_second()).max(0);
    timeout.saturating_sub(Duration::from_secs(elapsed.unsigned_abs()))
}

/// A run still going with a timeout must be looked at again when its time is up, even
/// if nothing else happens: nothing in the cluster would wake us then.
fn requeue_for_timeout(
    status: &TaskRunStatus,
    timeout: Option<Duration>,
    now: &Time,
) -> Action {
    let going = status.phase.is_some_and(|phase| !phase.is_terminal());
    match (timeout, &status.start_time) {
        (Some(timeout), Some(start)) if going => {
            // One second more: the deadline is counted in whole seconds.
            Action::requeue(time_left(start, timeout, now) + Duration::from_secs(1))
        }
        _ => Action::await_change(),
    }
}

// ANCHOR: write_status
/// Writes `status` unless the run already has exactly that status, and publishes an
/// Event when the reason changed.
async fn write_status(
    run: &TaskRun,
    status: TaskRunStatus,
    ctx: &Context,
) -> Result<(), Error> {
    if run.status.as_ref() == Some(&status) {
        return Ok(());
    }
    save_status(&ctx.client, run, &status).await?;
    tracing::info!(
        action = "status",
        name = run.name_any(),
        phase = ?status.phase,
        "updated status"
    );
    if let Some((type_, reason, note)) =
        status::transition(run.status.as_ref(), &status)
    {
        let event = Event {
            type_,
            reason,
            note: Some(note),
            action: status.phase.map(|p| p.to_string()).unwrap_or_default(),
            secondary: None,
        };
        // An Event that cannot be written is logged, never a
        // reason to fail the reconcile.
        if let Err(err) = ctx.recorder.publish(&event, &run.object_ref(&())).await {
            tracing::warn!(error = %err, "could not publish an Event");
        }
    }
    Ok(())
}
// ANCHOR_END: write_status

// ANCHOR: save_status
/// Stores `status` as the status of `run`, on condition that the run has not changed
/// since this copy of it was read.
pub async fn save_status(
    client: &Client,
    run: &TaskRun,
    status: &TaskRunStatus,
) -> Result<(), Error> {
    // EXERCISE 7.4: Store `status` as the run's status, unless the run
    //     changed since `run` was read.
    // The controller's copy of a run can be behind (its cache has not seen the last
    // write yet): a status computed from an old copy must be refused by the API
    // server with 409 Conflict, and never overwrite a newer one. Only the status
    // changes; the spec, the labels, everything the user wrote stays theirs. Write as
    // the field manager CONTROLLER_NAME.
    // Proved by: a_status_computed_from_an_old_copy_is_refused,
    //   a_run_goes_pending_running_succeeded
    // Needs: 7.1, 7.2, 7.3; sometimes 7.5
    // Path: stretch, 8 min
    // Book: "Step 07 > Writing the status"
    // BEGIN SOLUTION
    let runs: Api<TaskRun> =
        Api::namespaced(client.clone(), &run.namespace().unwrap_or_default());
    // The resourceVersion makes the patch conditional: the API server applies it only
    // to that very version of the run.
    let patch = serde_json::json!({
        "metadata": { "resourceVersion": run.resource_version() },
        "status": status,
    });
    let params = PatchParams {
        field_manager: Some(CONTROLLER_NAME.into()),
        ..PatchParams::default()
    };
    runs.patch_status(&run.name_any(), &params, &Patch::Merge(&patch))
        .await?;
    Ok(())
    // END SOLUTION
}
// ANCHOR_END: save_status

// ANCHOR: waits_for
/// Whether a change to `task` concerns `run`. The Task watch maps each change of a
/// Task to the runs for which this is true.
pub fn waits_for(run: &TaskRun, task: &Task) -> bool {
    // EXERCISE 7.5: Decide whether a change to `task` concerns `run`.
    // A run that waits for its Task must start as soon as that Task is created or
    // fixed, so the Task watch wakes the runs for which this is true: every run
    // waiting for this very Task (a `hello` in another namespace is another Task),
    // and no other. A run has started once its status holds its own copy of the
    // Task's spec (`taskSpec`); later edits of the Task no longer concern it. The
    // phase does not tell: a run still waiting may already have a status (Pending),
    // and a run that has started stays Pending until its Pod runs a step. The
    // controller asks this of every run it holds on any change it sees to a Task, so
    // the checks of 7.2 to 7.4 sometimes need it too (when a Task's event comes after
    // its run's).
    // Proved by: a_run_waits_for_its_task_until_it_starts,
    //   a_run_created_before_its_task_waits_for_it
    // Needs: 7.1, 7.2, 7.3, 7.4
    // Path: stretch, 10 min
    // Book: "Step 07 > Waiting for a Task"
    // BEGIN SOLUTION
    run.namespace() == task.namespace()
        && run.spec.task_ref.name == task.name_any()
        && run.status.as_ref().is_none_or(|s| s.task_spec.is_none())
    // END SOLUTION
}
// ANCHOR_END: waits_for

/// The runs in `runs` waiting for `task`.
pub fn runs_waiting_for(
    task: &Task,
    runs: &Store<TaskRun>,
) -> Vec<ObjectRef<TaskRun>> {
    runs.state()
        .iter()
        .filter(|run| waits_for(run, task))
        .map(|run| ObjectRef::from_obj(run.as_ref()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crds::TaskRunPhase;
    use k8s_openapi::api::core::v1::PodStatus;
    use k8s_openapi::jiff::Timestamp;

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(1_800_000_000 + second).expect("a valid time"))
    }

    fn task(namespace: &str, name: &str) -> Task {
        let mut task = crds::hello_task();
        task.metadata.name = Some(name.into());
        task.metadata.namespace = Some(namespace.into());
        task
    }

    fn run(namespace: &str, task_name: &str) -> TaskRun {
        let mut run = TaskRun::for_task(task_name, Vec::new());
        run.metadata.name = Some("r1".into());
        run.metadata.namespace = Some(namespace.into());
        run
    }

    /// A Pod in `phase`, being deleted or not.
    fn pod_in(phase: &str, deleting: bool) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some("r1-pod".into());
        if deleting {
            pod.metadata.deletion_timestamp = Some(at(5));
        }
        pod.status = Some(PodStatus {
            phase: Some(phase.into()),
            ..PodStatus::default()
        });
        pod
    }

    // ANCHOR: next_test
    #[test]
    fn a_started_run_follows_its_pod_until_it_finishes_vanishes_or_runs_out_of_time()
    {
        let (minute, up) = (Some(Duration::from_secs(60)), Some(Duration::ZERO));
        for phase in ["Pending", "Running"] {
            let pod = pod_in(phase, false);
            assert_eq!(next_for(Some(&pod), minute), Next::Report(&pod), "{phase}");
            assert_eq!(
                next_for(Some(&pod), None),
                Next::Report(&pod),
                "{phase}, no timeout"
            );
            assert_eq!(
                next_for(Some(&pod), up),
                Next::TimeOut,
                "{phase}, out of time"
            );
            let going = pod_in(phase, true);
            assert_eq!(
                next_for(Some(&going), minute),
                Next::PodGone,
                "{phase}, deleted"
            );
            assert_eq!(
                next_for(Some(&going), up),
                Next::TimeOut,
                "{phase}, deleted, late"
            );
        }
        assert_eq!(next_for(None, minute), Next::PodGone, "no Pod");
        assert_eq!(next_for(None, None), Next::PodGone, "no Pod, no timeout");
        assert_eq!(next_for(None, up), Next::TimeOut, "no Pod, out of time");
        // A Pod that finished has the last word: late, or
        // being deleted, it is reported.
        for phase in ["Succeeded", "Failed"] {
            let done = pod_in(phase, false);
            assert_eq!(
                next_for(Some(&done), up),
                Next::Report(&done),
                "{phase}, late"
            );
            let going = pod_in(phase, true);
            assert_eq!(
                next_for(Some(&going), minute),
                Next::Report(&going),
                "{phase}, deleted"
            );
            assert_eq!(
                next_for(Some(&going), up),
                Next::Report(&going),
                "{phase}, both"
            );
        }
    }
    // ANCHOR_END: next_test

    // ANCHOR: waits_for_test
    #[test]
    fn a_run_waits_for_its_task_until_it_starts() {
        let hello = task("ns", "hello");
        let mut r = run("ns", "hello");
        assert!(waits_for(&r, &hello), "a new run");
        r.status = Some(status::waiting_for_task(&r, &at(0)));
        assert!(waits_for(&r, &hello), "a run reported TaskNotFound");
        assert!(!waits_for(&r, &task("ns", "other")), "another Task");
        assert!(
            !waits_for(&r, &task("elsewhere", "hello")),
            "another namespace"
        );
        // Started: it has a Pod, still Pending (its image is being pulled, say).
        let started = TaskRun {
            status: Some(status::from_pod(
                &r,
                &hello.spec,
                &pod_in("Pending", false),
                &at(1),
            )),
            ..r.clone()
        };
        assert_eq!(started.phase(), Some(TaskRunPhase::Pending));
        assert!(
            !waits_for(&started, &hello),
            "the run has started (its status holds the Task's spec, taskSpec, \
             and it has a Pod), though its phase is still Pending: a later edit \
             of the Task no longer concerns it. Whether a run has started is \
             read off taskSpec, not off its phase"
        );
        if let Some(status) = r.status.as_mut() {
            status.task_spec = Some(hello.spec.clone());
            status.phase = Some(TaskRunPhase::Running);
        }
        assert!(
            !waits_for(&r, &hello),
            "a run that started has its snapshot"
        );
    }
    // ANCHOR_END: waits_for_test

    #[test]
    fn time_left_counts_down_to_zero_and_stays_there() {
        let minute = Duration::from_secs(60);
        assert_eq!(time_left(&at(0), minute, &at(0)), minute);
        assert_eq!(time_left(&at(0), minute, &at(45)), Duration::from_secs(15));
        assert_eq!(time_left(&at(0), minute, &at(60)), Duration::ZERO);
        assert_eq!(time_left(&at(0), minute, &at(3600)), Duration::ZERO);
        // A clock behind the API server's: never more than the whole timeout.
        assert_eq!(time_left(&at(10), minute, &at(0)), minute);
    }

    #[test]
    fn a_running_run_with_a_timeout_is_looked_at_when_its_time_is_up() {
        let mut status = TaskRunStatus {
            phase: Some(TaskRunPhase::Running),
            start_time: Some(at(0)),
            ..TaskRunStatus::default()
        };
        let minute = Some(Duration::from_secs(60));
        assert_eq!(
            requeue_for_timeout(&status, minute, &at(20)),
            Action::requeue(Duration::from_secs(41))
        );
        assert_eq!(
            requeue_for_timeout(&status, None, &at(20)),
            Action::await_change()
        );
        status.phase = Some(TaskRunPhase::Succeeded);
        assert_eq!(
            requeue_for_timeout(&status, minute, &at(20)),
            Action::await_change()
        );
    }
}
