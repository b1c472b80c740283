//! A run's status: what the controller reports, computed from what it
//! observed. Pure functions.
//!
//! The status is a report, never a memory the controller relies on to decide what to
//! do next (that comes from the world: the Pod, the Task). Every function here takes
//! the run as it is and what was observed, and returns the whole status the run
//! should have now. Called twice with the same inputs they return the same status,
//! so the caller can compare it with the stored one and write only a real change.
//! Two habits make that hold:
//!
//! - times come from the world where possible (the Pod's creation for `startTime`,
//!   its containers' end for `completionTime`), and a time set once is kept;
//! - a condition's `lastTransitionTime` moves only when its `status`
//!   changes (True, False, Unknown), as the Kubernetes API conventions ask,
//!   not when its message does.
//!
//! The phase only moves forward: Pending, Running, then Succeeded
//! or Failed, which are final.

use crds::taskrun::SUCCEEDED_CONDITION;
use crds::{StepResult, TaskRun, TaskRunPhase, TaskRunStatus, TaskSpec};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::events::EventType;

// ANCHOR: reasons
/// The reasons of the `Succeeded` condition: one word a program can match on. The
/// message beside it is for humans.
pub mod reason {
    /// The run's Task does not exist (yet): the run waits for it.
    pub const TASK_NOT_FOUND: &str = "TaskNotFound";
    /// A Pod with the name of the run's Pod exists and belongs to something else: the
    /// run waits until it is gone, and never takes it over.
    pub const POD_NAME_TAKEN: &str = "PodNameTaken";
    /// The Pod exists, but no step has started (scheduling, pulling images).
    pub const PENDING: &str = "Pending";
    /// A step is running.
    pub const RUNNING: &str = "Running";
    /// Every step exited 0.
    pub const SUCCEEDED: &str = "Succeeded";
    /// A step exited non-zero: the condition's message names it.
    pub const STEP_FAILED: &str = "StepFailed";
    /// The Pod failed with no step to blame (evicted, say).
    pub const POD_FAILED: &str = "PodFailed";
    /// Somebody deleted the Pod before it finished. The run
    /// is not silently run again.
    pub const POD_DELETED: &str = "PodDeleted";
    /// The run took longer than its `timeout`; its Pod was deleted.
    pub const TIMED_OUT: &str = "TimedOut";
    /// The run can never start: a parameter without a value, a name
    /// too long to label the Pod...
    pub const INVALID_RUN: &str = "InvalidRun";
}
// ANCHOR_END: reasons

/// Now, to the second: the precision of Kubernetes timestamps. A time with
/// nanoseconds would come back from the API server truncated, differ from what we
/// computed, and cause a write on every reconcile.
pub fn now() -> Time {
    let now = Timestamp::now();
    Time(Timestamp::from_second(now.as_second()).unwrap_or(now))
}

// ANCHOR: observed
/// What a run's Pod says about the run.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    pub phase: TaskRunPhase,
    /// One result per step, in the Task's order.
    pub steps: Vec<StepResult>,
    /// The `Succeeded` condition's reason and message.
    pub reason: &'static str,
    pub message: String,
    /// When the last container ended, if any did.
    pub finished_at: Option<Time>,
}
// ANCHOR_END: observed

/// The status the kubelet reports for the container of step `name`, init or main.
pub fn container_status<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    let init = status.init_container_statuses.iter().flatten();
    let main = status.container_statuses.iter().flatten();
    init.chain(main).find(|container| container.name == name)
}

/// Whether a container has started: it runs, or it ran and ended. One that waits
/// (`PodInitializing`, `ContainerCreating`) or has no status yet has not.
pub fn has_started(container: &ContainerStatus) -> bool {
    container
        .state
        .as_ref()
        .is_some_and(|state| state.running.is_some() || state.terminated.is_some())
}

// ANCHOR: phase_of
/// The run's phase, read off its Pod's.
///
/// The Pod's phase decides, with two refinements, both about the moments when the
/// Pod's phase lags behind its containers:
///
/// - a step that exited non-zero fails the run at once. With
///   `restartPolicy: Never` the kubelet fails the Pod for it, and the steps after
///   it never start: reading the Pod's phase alone, a status written in between
///   would report the next step as running;
/// - a Pod stays `Pending` while its init containers run, but for the run that is
///   running already, as soon as a step has started.
pub fn phase_of(pod: &Pod) -> TaskRunPhase {
    // EXERCISE 7.1: Map the Pod's phase to the run's.
    // Succeeded, Failed and Running Pods make runs of the same phase, with one
    // exception: a step whose container (an init container or the main one) ended
    // with a non-zero exit code fails the run at once, whatever the Pod's phase says
    // yet. A Pod that is Pending (its init
    // containers, our steps, run while it is), Unknown, or has no phase yet makes a
    // Running run once one of its steps has started (a container runs, or ran and
    // ended), and a Pending run until then.
    // Proved by: the_run_phase_follows_the_pod_phase,
    //   a_failed_step_fails_the_run_before_the_pod,
    //   a_failed_last_step_fails_the_run_while_the_pod_still_runs
    // Path: stretch, 10 min
    // Book: "Step 07 > Reading the Pod"
    // BEGIN SOLUTION
    let Some(status) = pod.status.as_ref() else {
        return TaskRunPhase::Pending;
    };
    let mut containers = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    let exited_non_zero = |container: &ContainerStatus| {
        let state = container.state.as_ref();
        state
            .and_then(|s| s.terminated.as_ref())
            .is_some_and(|t| t.exit_code != 0)
    };
    if containers.clone().any(exited_non_zero) {
        return TaskRunPhase::Failed;
    }
    match status.phase.as_deref() {
        Some("Succeeded") => TaskRunPhase::Succeeded,
        Some("Failed") => TaskRunPhase::Failed,
        Some("Running") => TaskRunPhase::Running,
        _ if containers.any(has_started) => TaskRunPhase::Running,
        _ => TaskRunPhase::Pending,
    }
    // END SOLUTION
}
// ANCHOR_END: phase_of

// ANCHOR: forward
/// Whether a run may go from phase `from` (none: no status yet) to `to`. The phase
/// only moves forward: Pending, Running, then Succeeded or Failed, which are
/// final. Staying is allowed.
///
/// Pods can report less than we already know: a Pod whose node stopped reporting has
/// the phase `Unknown`, and its containers may show no running step, which alone
/// reads as Pending. That must not send a Running run back to Pending.
pub fn moves_forward(from: Option<TaskRunPhase>, to: TaskRunPhase) -> bool {
    fn rank(phase: TaskRunPhase) -> u8 {
        match phase {
            TaskRunPhase::Pending => 0,
            TaskRunPhase::Running => 1,
            TaskRunPhase::Succeeded | TaskRunPhase::Failed => 2,
        }
    }
    match from {
        None => true,
        Some(from) if from == to => true,
        Some(from) if from.is_terminal() => false,
        Some(from) => rank(to) > rank(from),
    }
}
// ANCHOR_END: forward

/// Each step's result: its container's exit code and reason, once it ended.
fn step_results(spec: &TaskSpec, pod: &Pod) -> Vec<StepResult> {
    spec.steps
        .iter()
        .map(|step| {
            let terminated = container_status(pod, &step.name)
                .and_then(|s| s.state.as_ref())
                .and_then(|s| s.terminated.as_ref());
            StepResult {
                name: step.name.clone(),
                exit_code: terminated.map(|t| t.exit_code),
                reason: terminated.and_then(|t| t.reason.clone()),
            }
        })
        .collect()
}

/// When the last container ended, if any did.
fn finished_at(spec: &TaskSpec, pod: &Pod) -> Option<Time> {
    spec.steps
        .iter()
        .filter_map(|step| container_status(pod, &step.name))
        .filter_map(|status| {
            status
                .state
                .as_ref()?
                .terminated
                .as_ref()?
                .finished_at
                .clone()
        })
        .max()
}

// ANCHOR: observe
/// Reads the run's state off its Pod: the phase, each step's result, and why. One
/// function per phase says why.
pub fn observe(spec: &TaskSpec, pod: &Pod) -> Observed {
    let steps = step_results(spec, pod);
    let phase = phase_of(pod);
    let (reason, message) = match phase {
        TaskRunPhase::Pending => pending(spec, pod),
        TaskRunPhase::Running => running(spec, pod, &steps),
        TaskRunPhase::Succeeded => succeeded(&steps),
        TaskRunPhase::Failed => pod_failed(pod, &steps),
    };
    Observed {
        phase,
        finished_at: finished_at(spec, pod),
        steps,
        reason,
        message,
    }
}
// ANCHOR_END: observe

/// Why a run is Pending: its Pod has not started a step yet. A waiting reason other
/// than the usual ones says what is wrong (`ErrImagePull`...).
fn pending(spec: &TaskSpec, pod: &Pod) -> (&'static str, String) {
    let usual = ["ContainerCreating", "PodInitializing"];
    let trouble = spec.steps.iter().find_map(|step| {
        let waiting = container_status(pod, &step.name)?
            .state
            .as_ref()?
            .waiting
            .as_ref()?;
        let why = waiting
            .reason
            .as_deref()
            .filter(|why| !usual.contains(why))?;
        Some(match &waiting.message {
            Some(message) => format!(": step {}: {why}: {message}", step.name),
            None => format!(": step {}: {why}", step.name),
        })
    });
    let message = format!(
        "waiting for Pod {} to start{}",
        pod.name_any(),
        trouble.unwrap_or_default()
    );
    (reason::PENDING, message)
}

/// What a Running run is doing: the step whose container runs. Between two steps
/// (one ended, the next not started yet) the next one is starting. Every step before
/// it exited 0, or the run would have failed (`phase_of`), so the step named is
/// always the one really next.
fn running(
    spec: &TaskSpec,
    pod: &Pod,
    steps: &[StepResult],
) -> (&'static str, String) {
    let total = steps.len();
    let is_running = |name: &str| {
        container_status(pod, name)
            .and_then(|s| s.state.as_ref())
            .is_some_and(|s| s.running.is_some())
    };
    let runs = spec.steps.iter().position(|step| is_running(&step.name));
    let next = steps.iter().position(|s| s.exit_code.is_none());
    let message = if let Some(i) = runs {
        format!("step {} is running ({} of {total})", steps[i].name, i + 1)
    } else if let Some(i) = next {
        format!("step {} is starting ({} of {total})", steps[i].name, i + 1)
    } else {
        "every step has ended; waiting for the Pod to finish".to_string()
    };
    (reason::RUNNING, message)
}

/// A run whose every step exited 0.
fn succeeded(steps: &[StepResult]) -> (&'static str, String) {
    let message = match steps.len() {
        1 => "the step succeeded".to_string(),
        n => format!("all {n} steps succeeded"),
    };
    (reason::SUCCEEDED, message)
}

/// Why a run failed. The first step that exited non-zero is to blame; the steps
/// after it never ran. With no such step, the Pod failed on its own (evicted,
/// say), and its reason is given.
fn pod_failed(pod: &Pod, steps: &[StepResult]) -> (&'static str, String) {
    if let Some(step) = steps.iter().find(|s| s.exit_code.is_some_and(|c| c != 0)) {
        let code = step.exit_code.unwrap_or_default();
        let why = step.reason.as_ref().map(|r| format!(" ({r})"));
        let message = format!(
            "step {} failed with exit code {code}{}",
            step.name,
            why.unwrap_or_default()
        );
        return (reason::STEP_FAILED, message);
    }
    let status = pod.status.as_ref();
    let why = status
        .and_then(|s| s.message.clone().or_else(|| s.reason.clone()))
        .unwrap_or_else(|| "no reason given".into());
    (
        reason::POD_FAILED,
        format!("Pod {} failed: {why}", pod.name_any()),
    )
}

/// The run's `Succeeded` condition, if it has one.
pub fn succeeded_condition(status: &TaskRunStatus) -> Option<&Condition> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == SUCCEEDED_CONDITION)
}

/// Sets the `Succeeded` condition. Its `lastTransitionTime`
/// changes only with its status.
fn set_condition(
    status: &mut TaskRunStatus,
    condition_status: &str,
    reason: &str,
    message: String,
    now: &Time,
) {
    let last_transition_time = match succeeded_condition(status) {
        Some(old) if old.status == condition_status => {
            old.last_transition_time.clone()
        }
        _ => now.clone(),
    };
    let condition = Condition {
        type_: SUCCEEDED_CONDITION.into(),
        status: condition_status.into(),
        reason: reason.into(),
        message,
        last_transition_time,
        observed_generation: None,
    };
    status.conditions.retain(|c| c.type_ != SUCCEEDED_CONDITION);
    status.conditions.push(condition);
}

/// The condition status of a phase: Unknown while the run
/// goes on, then True or False.
fn condition_status(phase: TaskRunPhase) -> &'static str {
    match phase {
        TaskRunPhase::Pending | TaskRunPhase::Running => "Unknown",
        TaskRunPhase::Succeeded => "True",
        TaskRunPhase::Failed => "False",
    }
}

/// The run's current status, or an empty one, with
/// `observedGeneration` brought up to date.
fn base(run: &TaskRun) -> TaskRunStatus {
    let mut status = run.status.clone().unwrap_or_default();
    status.observed_generation = run.metadata.generation;
    status
}

/// Sets the phase and the condition that goes with it; a final phase gets
/// its completion time. The callers have checked that the phase moves
/// forward (`moves_forward`).
fn set_phase(
    status: &mut TaskRunStatus,
    phase: TaskRunPhase,
    reason: &str,
    message: String,
    completed: Option<Time>,
    now: &Time,
) {
    status.phase = Some(phase);
    if phase.is_terminal() && status.completion_time.is_none() {
        status.completion_time = Some(completed.unwrap_or_else(|| now.clone()));
    }
    set_condition(status, condition_status(phase), reason, message, now);
}

// ANCHOR: builders
/// The status of a run whose Task does not exist: Pending, reason TaskNotFound. (Only
/// a run that has not started waits for its Task; one that has keeps its status.)
pub fn waiting_for_task(run: &TaskRun, now: &Time) -> TaskRunStatus {
    let mut status = base(run);
    if !moves_forward(status.phase, TaskRunPhase::Pending) {
        return status;
    }
    let message = format!(
        "Task {} not found in namespace {}; the run starts when it is created",
        run.spec.task_ref.name,
        run.namespace().unwrap_or_default()
    );
    set_phase(
        &mut status,
        TaskRunPhase::Pending,
        reason::TASK_NOT_FOUND,
        message,
        None,
        now,
    );
    status
}

/// The status of a run that cannot create its Pod, because a Pod of that name,
/// `pod_name`, is somebody else's: Pending, reason PodNameTaken.
pub fn blocked_by_pod(run: &TaskRun, pod_name: &str, now: &Time) -> TaskRunStatus {
    let mut status = base(run);
    let message = format!(
        "a Pod named {pod_name} exists and does not belong to this run; the run starts once \
         that Pod is gone"
    );
    set_phase(
        &mut status,
        TaskRunPhase::Pending,
        reason::POD_NAME_TAKEN,
        message,
        None,
        now,
    );
    status
}

/// The status of a run that has its Pod: whatever the Pod says, with the Task spec it
/// runs. A Pod that says less than the run already knows (it would move the phase
/// back) changes nothing: the run keeps its status.
pub fn from_pod(
    run: &TaskRun,
    spec: &TaskSpec,
    pod: &Pod,
    now: &Time,
) -> TaskRunStatus {
    let observed = observe(spec, pod);
    let mut status = base(run);
    if !moves_forward(status.phase, observed.phase) {
        return status;
    }
    status.pod_name = pod.metadata.name.clone();
    // The Pod's creation is when the run started: the same
    // answer however often we ask.
    status.start_time = status
        .start_time
        .or_else(|| pod.metadata.creation_timestamp.clone())
        .or_else(|| Some(now.clone()));
    status.task_spec = Some(spec.clone());
    status.steps = observed.steps;
    set_phase(
        &mut status,
        observed.phase,
        observed.reason,
        observed.message,
        observed.finished_at,
        now,
    );
    status
}

/// The status of a run that failed for a reason of the controller's: the Pod was
/// deleted, the run timed out, or it is invalid. Everything observed so far (Pod,
/// steps) is kept. A run that has already finished keeps its outcome.
pub fn failed(
    run: &TaskRun,
    reason: &str,
    message: String,
    now: &Time,
) -> TaskRunStatus {
    let mut status = base(run);
    if !moves_forward(status.phase, TaskRunPhase::Failed) {
        return status;
    }
    set_phase(
        &mut status,
        TaskRunPhase::Failed,
        reason,
        message,
        None,
        now,
    );
    status
}
// ANCHOR_END: builders

// ANCHOR: transition
/// The Event to publish when a status replaces another: one per change of
/// reason (TaskNotFound, Pending, Running, Succeeded, StepFailed...), none
/// when only a message changed.
pub fn transition(
    old: Option<&TaskRunStatus>,
    new: &TaskRunStatus,
) -> Option<(EventType, String, String)> {
    let new_condition = succeeded_condition(new)?;
    let old_reason = old.and_then(succeeded_condition).map(|c| c.reason.as_str());
    if old_reason == Some(new_condition.reason.as_str()) {
        return None;
    }
    // A failure, or a run that waits for something a person must fix.
    let warning = new_condition.status == "False"
        || [reason::TASK_NOT_FOUND, reason::POD_NAME_TAKEN]
            .contains(&new_condition.reason.as_str());
    let type_ = if warning {
        EventType::Warning
    } else {
        EventType::Normal
    };
    Some((
        type_,
        new_condition.reason.clone(),
        new_condition.message.clone(),
    ))
}
// ANCHOR_END: transition

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{
        ContainerState, ContainerStateRunning, ContainerStateTerminated,
        ContainerStateWaiting, PodStatus,
    };

    fn at(second: i64) -> Time {
        Time(Timestamp::from_second(1_800_000_000 + second).expect("a valid time"))
    }

    fn running() -> ContainerState {
        ContainerState {
            running: Some(ContainerStateRunning { started_at: None }),
            ..ContainerState::default()
        }
    }

    fn waiting(reason: &str) -> ContainerState {
        ContainerState {
            waiting: Some(ContainerStateWaiting {
                reason: Some(reason.into()),
                message: None,
            }),
            ..ContainerState::default()
        }
    }

    fn exited(code: i32, finished: i64) -> ContainerState {
        ContainerState {
            terminated: Some(ContainerStateTerminated {
                exit_code: code,
                reason: Some(if code == 0 { "Completed" } else { "Error" }.into()),
                finished_at: Some(at(finished)),
                ..ContainerStateTerminated::default()
            }),
            ..ContainerState::default()
        }
    }

    fn container(name: &str, state: ContainerState) -> ContainerStatus {
        ContainerStatus {
            name: name.into(),
            state: Some(state),
            ..ContainerStatus::default()
        }
    }

    /// The Pod of the `hello` Task (steps greet, count, goodbye) in
    /// `phase`, its containers in the given states (init containers greet
    /// and count, main container goodbye).
    fn pod(
        phase: &str,
        greet: ContainerState,
        count: ContainerState,
        bye: ContainerState,
    ) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some("r1-pod".into());
        pod.metadata.creation_timestamp = Some(at(0));
        pod.status = Some(PodStatus {
            phase: Some(phase.into()),
            init_container_statuses: Some(vec![
                container("greet", greet),
                container("count", count),
            ]),
            container_statuses: Some(vec![container("goodbye", bye)]),
            ..PodStatus::default()
        });
        pod
    }

    fn spec() -> TaskSpec {
        crds::hello_task().spec
    }

    fn run() -> TaskRun {
        let mut run = TaskRun::for_task("hello", Vec::new());
        run.metadata.name = Some("r1".into());
        run.metadata.namespace = Some("ns".into());
        run.metadata.generation = Some(1);
        run
    }

    fn codes(observed: &Observed) -> Vec<Option<i32>> {
        observed.steps.iter().map(|s| s.exit_code).collect()
    }

    // ANCHOR: phase_of_test
    #[test]
    fn the_run_phase_follows_the_pod_phase_once_a_step_started() {
        let none = waiting("PodInitializing");
        let cases = [
            (
                pod(
                    "Pending",
                    waiting("ContainerCreating"),
                    none.clone(),
                    none.clone(),
                ),
                TaskRunPhase::Pending,
            ),
            (
                pod("Pending", running(), none.clone(), none.clone()),
                TaskRunPhase::Running,
            ),
            (
                pod("Pending", exited(0, 1), running(), none.clone()),
                TaskRunPhase::Running,
            ),
            (
                pod("Running", exited(0, 1), exited(0, 2), running()),
                TaskRunPhase::Running,
            ),
            (
                pod("Succeeded", exited(0, 1), exited(0, 2), exited(0, 3)),
                TaskRunPhase::Succeeded,
            ),
            (
                pod("Failed", exited(0, 1), exited(3, 2), none.clone()),
                TaskRunPhase::Failed,
            ),
            (
                pod("Unknown", none.clone(), none.clone(), none),
                TaskRunPhase::Pending,
            ),
        ];
        for (pod, expected) in cases {
            let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
            assert_eq!(phase_of(&pod), expected, "Pod phase {phase:?}");
        }
        assert_eq!(
            phase_of(&Pod::default()),
            TaskRunPhase::Pending,
            "no status yet"
        );
        let reported_late = Pod {
            status: Some(PodStatus {
                phase: Some("Running".into()),
                ..PodStatus::default()
            }),
            ..Pod::default()
        };
        assert_eq!(
            phase_of(&reported_late),
            TaskRunPhase::Running,
            "a Running Pod whose containers are not reported yet"
        );
    }
    // ANCHOR_END: phase_of_test

    /// A Pod as the kubelet reports it before it started anything:
    /// scheduled, every container waiting with the reason `PodInitializing`
    /// (the Pod has init containers).
    fn initializing() -> Pod {
        let init = waiting("PodInitializing");
        pod("Pending", init.clone(), init.clone(), init)
    }

    // ANCHOR: real_kubelet_test
    /// The statuses a real kubelet (1.36) reported, in order, for a Pod like the
    /// `hello` Task's with its second step (count) failing with `exit 3`. The failed
    /// container's end is written while the Pod is still Pending, one status before
    /// the Pod's phase says Failed.
    fn a_failing_middle_step() -> Vec<Pod> {
        let later = waiting("PodInitializing");
        vec![
            initializing(),
            pod("Pending", running(), later.clone(), later.clone()),
            pod("Pending", exited(0, 1), later.clone(), later.clone()),
            pod("Pending", exited(0, 1), running(), later.clone()),
            pod("Pending", exited(0, 1), exited(3, 2), later.clone()),
            pod("Failed", exited(0, 1), exited(3, 2), later),
        ]
    }

    #[test]
    fn a_failed_step_fails_the_run_before_the_pod() {
        let messages: Vec<(TaskRunPhase, String)> = a_failing_middle_step()
            .iter()
            .map(|p| observe(&spec(), p))
            .map(|o| (o.phase, o.message))
            .collect();
        let failed = "step count failed with exit code 3 (Error)".to_string();
        assert_eq!(
            messages,
            [
                (
                    TaskRunPhase::Pending,
                    "waiting for Pod r1-pod to start".into()
                ),
                (
                    TaskRunPhase::Running,
                    "step greet is running (1 of 3)".into()
                ),
                (
                    TaskRunPhase::Running,
                    "step count is starting (2 of 3)".into()
                ),
                (
                    TaskRunPhase::Running,
                    "step count is running (2 of 3)".into()
                ),
                (TaskRunPhase::Failed, failed.clone()),
                (TaskRunPhase::Failed, failed),
            ]
        );
        for (_, message) in &messages {
            assert!(
                !message.contains("goodbye"),
                "the third step never ran: {message}"
            );
        }
    }
    // ANCHOR_END: real_kubelet_test

    /// The statuses a real kubelet (1.36) reported, in order, for a Pod like the
    /// `hello` Task's with its last step (goodbye, the main container) failing with
    /// `exit 3`. The Pod is already Running while that step runs, and still Running
    /// when its end is written: one status before the Pod's phase says Failed.
    fn a_failing_last_step() -> Vec<Pod> {
        let later = waiting("PodInitializing");
        vec![
            initializing(),
            pod("Pending", running(), later.clone(), later.clone()),
            pod("Pending", exited(0, 1), later.clone(), later.clone()),
            pod("Pending", exited(0, 1), running(), later.clone()),
            pod("Pending", exited(0, 1), exited(0, 2), later),
            pod("Running", exited(0, 1), exited(0, 2), running()),
            pod("Running", exited(0, 1), exited(0, 2), exited(3, 3)),
            pod("Failed", exited(0, 1), exited(0, 2), exited(3, 3)),
        ]
    }

    #[test]
    fn a_failed_last_step_fails_the_run_while_the_pod_still_runs() {
        let pods = a_failing_last_step();
        let phases: Vec<TaskRunPhase> = pods.iter().map(phase_of).collect();
        use TaskRunPhase::{Failed, Pending, Running};
        assert_eq!(
            phases[6], Failed,
            "the last step (goodbye, the Pod's main container) exited 3 while the Pod's \
             phase still said Running: the run has failed, whichever container the \
             failing step ran in (init or main)"
        );
        assert_eq!(
            phases,
            [
                Pending, Running, Running, Running, Running, Running, Failed, Failed
            ]
        );
        let failed = observe(&spec(), &pods[6]);
        assert_eq!(
            failed.message,
            "step goodbye failed with exit code 3 (Error)"
        );
    }

    #[test]
    fn between_two_steps_the_next_one_is_starting() {
        let p = pod(
            "Pending",
            exited(0, 1),
            waiting("PodInitializing"),
            waiting("PodInitializing"),
        );
        let observed = observe(&spec(), &p);
        assert_eq!(observed.phase, TaskRunPhase::Running);
        assert_eq!(observed.message, "step count is starting (2 of 3)");
    }

    #[test]
    fn phases_move_only_forward() {
        use TaskRunPhase::{Failed, Pending, Running, Succeeded};
        let all = [Pending, Running, Succeeded, Failed];
        for to in all {
            assert!(moves_forward(None, to), "a new run to {to}");
            assert!(moves_forward(Some(to), to), "staying at {to}");
        }
        let forward = [
            (Pending, Running),
            (Pending, Succeeded),
            (Pending, Failed),
            (Running, Succeeded),
            (Running, Failed),
        ];
        for from in all {
            for to in all.into_iter().filter(|to| *to != from) {
                let expected = forward.contains(&(from, to));
                assert_eq!(moves_forward(Some(from), to), expected, "{from} -> {to}");
            }
        }
    }

    // ANCHOR: unknown_test
    #[test]
    fn a_pod_phase_unknown_never_moves_a_running_run_back_to_pending() {
        let mut r = run();
        let p = pod(
            "Pending",
            exited(0, 1),
            running(),
            waiting("PodInitializing"),
        );
        r.status = Some(from_pod(&r, &spec(), &p, &at(2)));
        assert_eq!(r.phase(), Some(TaskRunPhase::Running));
        // The node stopped reporting: the Pod's phase is Unknown,
        // its containers unknown too.
        let lost = Pod {
            metadata: p.metadata.clone(),
            status: Some(PodStatus {
                phase: Some("Unknown".into()),
                ..PodStatus::default()
            }),
            ..Pod::default()
        };
        assert_eq!(observe(&spec(), &lost).phase, TaskRunPhase::Pending);
        let status = from_pod(&r, &spec(), &lost, &at(9));
        assert_eq!(
            status,
            r.status.clone().unwrap_or_default(),
            "nothing changes"
        );
    }
    // ANCHOR_END: unknown_test

    #[test]
    fn no_pod_and_no_failure_moves_a_run_backwards() {
        // Every status the kubelet reports for a failing and a succeeding
        // run, in every order, and the controller's own failures: the
        // run's phase never goes back.
        let mut pods = a_failing_middle_step();
        pods.push(pod("Running", exited(0, 1), exited(0, 2), running()));
        pods.push(pod("Succeeded", exited(0, 1), exited(0, 2), exited(0, 5)));
        let mut unknown = initializing();
        if let Some(status) = unknown.status.as_mut() {
            status.phase = Some("Unknown".into());
        }
        pods.push(unknown);
        for first in &pods {
            for second in &pods {
                let mut r = run();
                r.status = Some(from_pod(&r, &spec(), first, &at(1)));
                let before = r.phase();
                let after = from_pod(&r, &spec(), second, &at(2)).phase;
                let then_failed =
                    failed(&r, reason::POD_DELETED, "gone".into(), &at(3)).phase;
                for next in [after, then_failed].into_iter().flatten() {
                    assert!(
                        moves_forward(before, next),
                        "{before:?} -> {next} after {first:?} then {second:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn a_new_pod_is_pending() {
        let mut new = Pod::default();
        new.metadata.name = Some("r1-pod".into());
        let observed = observe(&spec(), &new);
        assert_eq!(observed.phase, TaskRunPhase::Pending);
        assert_eq!(observed.reason, reason::PENDING);
        assert_eq!(observed.message, "waiting for Pod r1-pod to start");
        assert_eq!(codes(&observed), [None, None, None]);
    }

    #[test]
    fn a_pod_pulling_an_image_that_does_not_exist_says_so() {
        let p = pod(
            "Pending",
            waiting("ErrImagePull"),
            waiting("PodInitializing"),
            waiting("PodInitializing"),
        );
        let observed = observe(&spec(), &p);
        assert_eq!(observed.phase, TaskRunPhase::Pending);
        assert_eq!(
            observed.message,
            "waiting for Pod r1-pod to start: step greet: ErrImagePull"
        );
    }

    // ANCHOR: observe_test
    #[test]
    fn a_pod_running_its_init_containers_is_a_running_run() {
        // The Pod is Pending while init containers run; the run is Running.
        let p = pod(
            "Pending",
            exited(0, 1),
            running(),
            waiting("PodInitializing"),
        );
        let observed = observe(&spec(), &p);
        assert_eq!(observed.phase, TaskRunPhase::Running);
        assert_eq!(observed.message, "step count is running (2 of 3)");
        assert_eq!(codes(&observed), [Some(0), None, None]);
    }

    #[test]
    fn the_first_failing_step_is_named_and_later_steps_did_not_run() {
        let p = pod(
            "Failed",
            exited(0, 1),
            exited(3, 2),
            waiting("PodInitializing"),
        );
        let observed = observe(&spec(), &p);
        assert_eq!(observed.phase, TaskRunPhase::Failed);
        assert_eq!(observed.reason, reason::STEP_FAILED);
        assert_eq!(
            observed.message,
            "step count failed with exit code 3 (Error)"
        );
        assert_eq!(codes(&observed), [Some(0), Some(3), None]);
        assert_eq!(observed.finished_at, Some(at(2)));
    }
    // ANCHOR_END: observe_test

    #[test]
    fn a_pod_that_succeeded_is_a_run_that_succeeded() {
        let p = pod("Succeeded", exited(0, 1), exited(0, 2), exited(0, 5));
        let observed = observe(&spec(), &p);
        assert_eq!(observed.phase, TaskRunPhase::Succeeded);
        assert_eq!(observed.reason, reason::SUCCEEDED);
        assert_eq!(observed.message, "all 3 steps succeeded");
        assert_eq!(codes(&observed), [Some(0), Some(0), Some(0)]);
        assert_eq!(
            observed.steps[2].reason.as_deref(),
            Some("Completed"),
            "the kubelet's reason"
        );
        assert_eq!(observed.finished_at, Some(at(5)));
    }

    #[test]
    fn a_pod_that_failed_without_a_failing_step_blames_the_pod() {
        let mut p = pod(
            "Failed",
            exited(0, 1),
            running(),
            waiting("PodInitializing"),
        );
        if let Some(status) = p.status.as_mut() {
            status.reason = Some("Evicted".into());
            status.message = Some("The node was low on memory.".into());
        }
        let observed = observe(&spec(), &p);
        assert_eq!(observed.phase, TaskRunPhase::Failed);
        assert_eq!(observed.reason, reason::POD_FAILED);
        assert_eq!(
            observed.message,
            "Pod r1-pod failed: The node was low on memory."
        );
    }

    #[test]
    fn from_pod_records_the_pod_the_spec_and_the_times() {
        let p = pod("Succeeded", exited(0, 1), exited(0, 2), exited(0, 5));
        let status = from_pod(&run(), &spec(), &p, &at(9));
        assert_eq!(status.phase, Some(TaskRunPhase::Succeeded));
        assert_eq!(status.pod_name.as_deref(), Some("r1-pod"));
        assert_eq!(status.start_time, Some(at(0)), "the Pod's creation");
        assert_eq!(
            status.completion_time,
            Some(at(5)),
            "the last container's end"
        );
        assert_eq!(status.task_spec, Some(spec()));
        assert_eq!(status.observed_generation, Some(1));
        let condition = succeeded_condition(&status).expect("a Succeeded condition");
        assert_eq!(condition.status, "True");
        assert_eq!(condition.reason, reason::SUCCEEDED);
        assert_eq!(condition.last_transition_time, at(9));
    }

    // ANCHOR: idempotent_test
    #[test]
    fn the_same_world_gives_the_same_status_whenever_it_is_computed() {
        let p = pod("Running", exited(0, 1), exited(0, 2), running());
        let mut r = run();
        r.status = Some(from_pod(&r, &spec(), &p, &at(3)));
        // Later, with nothing changed: the very same status, so nothing to write.
        assert_eq!(
            from_pod(&r, &spec(), &p, &at(60)),
            r.status.clone().unwrap_or_default()
        );
    }
    // ANCHOR_END: idempotent_test

    #[test]
    fn the_transition_time_moves_only_when_the_condition_status_does() {
        let mut r = run();
        let pending = pod(
            "Pending",
            waiting("PodInitializing"),
            waiting("PodInitializing"),
            waiting("PodInitializing"),
        );
        r.status = Some(from_pod(&r, &spec(), &pending, &at(1)));
        // Pending -> Running: still Unknown, so the time stays.
        let p = pod("Running", exited(0, 2), exited(0, 3), running());
        let status = from_pod(&r, &spec(), &p, &at(4));
        let condition = succeeded_condition(&status).expect("a condition");
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_str()),
            ("Unknown", reason::RUNNING)
        );
        assert_eq!(condition.last_transition_time, at(1));
        r.status = Some(status);
        // Running -> Failed: False, a new time.
        let status = failed(&r, reason::POD_DELETED, "gone".into(), &at(7));
        let condition = succeeded_condition(&status).expect("a condition");
        assert_eq!(condition.status, "False");
        assert_eq!(condition.last_transition_time, at(7));
        assert_eq!(status.completion_time, Some(at(7)));
        assert_eq!(status.pod_name.as_deref(), Some("r1-pod"), "kept");
        assert_eq!(
            status.conditions.len(),
            1,
            "one Succeeded condition, replaced"
        );
    }

    #[test]
    fn a_run_without_its_task_is_pending_with_reason_task_not_found() {
        let status = waiting_for_task(&run(), &at(0));
        assert_eq!(status.phase, Some(TaskRunPhase::Pending));
        let condition = succeeded_condition(&status).expect("a condition");
        assert_eq!(condition.status, "Unknown");
        assert_eq!(condition.reason, reason::TASK_NOT_FOUND);
        assert_eq!(
            condition.message,
            "Task hello not found in namespace ns; the run starts when it is created"
        );
        assert_eq!(status.pod_name, None);
        assert_eq!(status.start_time, None);
    }

    #[test]
    fn a_run_blocked_by_a_strangers_pod_says_so_with_a_warning() {
        let status = blocked_by_pod(&run(), "r1-pod", &at(0));
        assert_eq!(status.phase, Some(TaskRunPhase::Pending));
        assert_eq!(status.pod_name, None, "that Pod is not the run's");
        let condition = succeeded_condition(&status).expect("a condition");
        assert_eq!(condition.status, "Unknown");
        assert_eq!(condition.reason, reason::POD_NAME_TAKEN);
        assert!(
            condition.message.contains("r1-pod"),
            "{}",
            condition.message
        );
        let (type_, reason, _) = transition(None, &status).expect("an event");
        assert_eq!(
            (type_, reason.as_str()),
            (EventType::Warning, reason::POD_NAME_TAKEN)
        );
    }

    #[test]
    fn each_change_of_reason_is_one_event() {
        let mut r = run();
        let not_found = waiting_for_task(&r, &at(0));
        let (type_, reason, _) = transition(None, &not_found).expect("an event");
        assert_eq!(
            (type_, reason.as_str()),
            (EventType::Warning, reason::TASK_NOT_FOUND)
        );
        assert_eq!(transition(Some(&not_found), &not_found), None);

        r.status = Some(not_found.clone());
        let p = pod("Succeeded", exited(0, 1), exited(0, 2), exited(0, 5));
        let done = from_pod(&r, &spec(), &p, &at(9));
        let (type_, reason, note) =
            transition(Some(&not_found), &done).expect("an event");
        assert_eq!(
            (type_, reason.as_str()),
            (EventType::Normal, reason::SUCCEEDED)
        );
        assert_eq!(note, "all 3 steps succeeded");

        let timed_out = failed(&r, reason::TIMED_OUT, "too slow".into(), &at(9));
        let (type_, _, _) =
            transition(Some(&not_found), &timed_out).expect("an event");
        assert_eq!(type_, EventType::Warning);
    }

    #[test]
    fn now_has_no_fraction_of_a_second() {
        let now = now();
        assert_eq!(now.0.subsec_nanosecond(), 0);
    }
}
