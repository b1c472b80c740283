//! A run's status: what the controller reports, computed from what it observed. Pure functions.
//!
//! The status is a report, never a memory the controller relies on to decide what to do next
//! (that comes from the world: the Pod, the Task). Every function here takes the run as it is and
//! what was observed, and returns the whole status the run should have now. Called twice with the
//! same inputs they return the same status, so the caller can compare it with the stored one and
//! write only a real change. Two habits make that hold:
//!
//! - times come from the world where possible (the Pod's creation for `startTime`, its
//!   containers' end for `completionTime`), and a time set once is kept;
//! - a condition's `lastTransitionTime` moves only when its `status` changes (True, False,
//!   Unknown), as the Kubernetes API conventions ask, not when its message does.
//!
//! The phase only moves forward: Pending, Running, then Succeeded or Failed, which are final.

use crds::taskrun::SUCCEEDED_CONDITION;
use crds::{StepResult, TaskRun, TaskRunPhase, TaskRunStatus, TaskSpec};
use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::runtime::events::EventType;

// ANCHOR: reasons
/// The reasons of the `Succeeded` condition: one word a program can match on. The message
/// beside it is for humans.
pub mod reason {
    /// The run's Task does not exist (yet): the run waits for it.
    pub const TASK_NOT_FOUND: &str = "TaskNotFound";
    /// A Pod with the name of the run's Pod exists and belongs to something else: the run waits
    /// until it is gone, and never takes it over.
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
    /// Somebody deleted the Pod before it finished. The run is not silently run again.
    pub const POD_DELETED: &str = "PodDeleted";
    /// The run took longer than its `timeout`; its Pod was deleted.
    pub const TIMED_OUT: &str = "TimedOut";
    /// The run can never start: a parameter without a value, a name too long to label the Pod...
    pub const INVALID_RUN: &str = "InvalidRun";
}
// ANCHOR_END: reasons

/// Now, to the second: the precision of Kubernetes timestamps. A time with nanoseconds would
/// come back from the API server truncated, differ from what we computed, and cause a write on
/// every reconcile.
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
fn container_status<'a>(pod: &'a Pod, name: &str) -> Option<&'a ContainerStatus> {
    let status = pod.status.as_ref()?;
    let init = status.init_container_statuses.iter().flatten();
    let main = status.container_statuses.iter().flatten();
    init.chain(main).find(|container| container.name == name)
}

// ANCHOR: phase_of
/// The run's phase, read off its Pod's.
///
/// The Pod's phase decides, with one refinement: a Pod stays `Pending` while its init containers
/// run, but for the run that is running already, as soon as a step has started.
pub fn phase_of(pod: &Pod) -> TaskRunPhase {
    // EXERCISE 7.1: Map the Pod's phase to the run's.
    // Succeeded, Failed and Running Pods make runs of the same phase. A Pod that is Pending
    // (its init containers, which are our steps, run while it is), Unknown, or has no phase yet
    // makes a Running run once one of its steps has started (a container runs, or ran and
    // ended), and a Pending run until then.
    // Proved by: the_run_phase_follows_the_pod_phase_once_a_step_started
    // Book: "Step 07 > Reading the Pod"
    // BEGIN SOLUTION
    let Some(status) = pod.status.as_ref() else {
        return TaskRunPhase::Pending;
    };
    let containers = status.init_container_statuses.iter().flatten();
    let started = containers
        .chain(status.container_statuses.iter().flatten())
        .filter_map(|container| container.state.as_ref())
        .any(|state| state.running.is_some() || state.terminated.is_some());
    match status.phase.as_deref() {
        Some("Succeeded") => TaskRunPhase::Succeeded,
        Some("Failed") => TaskRunPhase::Failed,
        Some("Running") => TaskRunPhase::Running,
        _ if started => TaskRunPhase::Running,
        _ => TaskRunPhase::Pending,
    }
    // END SOLUTION
}
// ANCHOR_END: phase_of

// ANCHOR: observe
/// Reads the run's state off its Pod: the phase, each step's result, and why.
pub fn observe(spec: &TaskSpec, pod: &Pod) -> Observed {
    let pod_name = pod.name_any();
    let containers: Vec<(&str, Option<&ContainerStatus>)> = spec
        .steps
        .iter()
        .map(|step| (step.name.as_str(), container_status(pod, &step.name)))
        .collect();
    let state = |status: Option<&ContainerStatus>| status.and_then(|s| s.state.clone());
    // A step's result is its container's exit code and reason, once it ended.
    let steps: Vec<StepResult> = containers
        .iter()
        .map(|(name, status)| {
            let terminated = state(*status).and_then(|s| s.terminated);
            StepResult {
                name: name.to_string(),
                exit_code: terminated.as_ref().map(|t| t.exit_code),
                reason: terminated.and_then(|t| t.reason),
            }
        })
        .collect();
    let finished_at = containers
        .iter()
        .filter_map(|(_, status)| state(*status)?.terminated?.finished_at)
        .max();
    let phase = phase_of(pod);

    let (reason, message) = match phase {
        TaskRunPhase::Succeeded => (
            reason::SUCCEEDED,
            match steps.len() {
                1 => "the step succeeded".to_string(),
                n => format!("all {n} steps succeeded"),
            },
        ),
        // The first step that exited non-zero is to blame; the steps after it never ran.
        TaskRunPhase::Failed => match steps.iter().find(|s| s.exit_code.is_some_and(|c| c != 0)) {
            Some(step) => (
                reason::STEP_FAILED,
                format!(
                    "step {} failed with exit code {}{}",
                    step.name,
                    step.exit_code.unwrap_or_default(),
                    step.reason
                        .as_deref()
                        .map(|r| format!(" ({r})"))
                        .unwrap_or_default()
                ),
            ),
            None => {
                let pod_status = pod.status.as_ref();
                let why = pod_status
                    .and_then(|s| s.message.clone().or_else(|| s.reason.clone()))
                    .unwrap_or_else(|| "no reason given".into());
                (reason::POD_FAILED, format!("Pod {pod_name} failed: {why}"))
            }
        },
        TaskRunPhase::Running => {
            let current = steps
                .iter()
                .position(|s| s.exit_code.is_none())
                .unwrap_or(steps.len().saturating_sub(1));
            let name = steps.get(current).map(|s| s.name.as_str()).unwrap_or("?");
            (
                reason::RUNNING,
                format!(
                    "step {name} is running ({} of {})",
                    current + 1,
                    steps.len()
                ),
            )
        }
        TaskRunPhase::Pending => {
            // A waiting reason other than the usual ones says what is wrong (ErrImagePull...).
            let waiting = containers.iter().find_map(|(name, status)| {
                let waiting = state(*status)?.waiting?;
                let why = waiting.reason?;
                let usual = ["ContainerCreating", "PodInitializing"].contains(&why.as_str());
                (!usual).then(|| match waiting.message {
                    Some(message) => format!(": step {name}: {why}: {message}"),
                    None => format!(": step {name}: {why}"),
                })
            });
            (
                reason::PENDING,
                format!(
                    "waiting for Pod {pod_name} to start{}",
                    waiting.unwrap_or_default()
                ),
            )
        }
    };
    Observed {
        phase,
        steps,
        reason,
        message,
        finished_at,
    }
}
// ANCHOR_END: observe

/// The run's `Succeeded` condition, if it has one.
pub fn succeeded_condition(status: &TaskRunStatus) -> Option<&Condition> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == SUCCEEDED_CONDITION)
}

/// Sets the `Succeeded` condition. Its `lastTransitionTime` changes only with its status.
fn set_condition(
    status: &mut TaskRunStatus,
    condition_status: &str,
    reason: &str,
    message: String,
    now: &Time,
) {
    let last_transition_time = match succeeded_condition(status) {
        Some(old) if old.status == condition_status => old.last_transition_time.clone(),
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

/// The condition status of a phase: Unknown while the run goes on, then True or False.
fn condition_status(phase: TaskRunPhase) -> &'static str {
    match phase {
        TaskRunPhase::Pending | TaskRunPhase::Running => "Unknown",
        TaskRunPhase::Succeeded => "True",
        TaskRunPhase::Failed => "False",
    }
}

/// The run's current status, or an empty one, with `observedGeneration` brought up to date.
fn base(run: &TaskRun) -> TaskRunStatus {
    let mut status = run.status.clone().unwrap_or_default();
    status.observed_generation = run.metadata.generation;
    status
}

/// Sets the phase and the condition that goes with it; a final phase gets its completion time.
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
/// The status of a run whose Task does not exist: Pending, reason TaskNotFound.
pub fn waiting_for_task(run: &TaskRun, now: &Time) -> TaskRunStatus {
    let mut status = base(run);
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

/// The status of a run that cannot create its Pod, because a Pod of that name, `pod_name`, is
/// somebody else's: Pending, reason PodNameTaken.
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

/// The status of a run that has its Pod: whatever the Pod says, with the Task spec it runs.
pub fn from_pod(run: &TaskRun, spec: &TaskSpec, pod: &Pod, now: &Time) -> TaskRunStatus {
    let observed = observe(spec, pod);
    let mut status = base(run);
    status.pod_name = pod.metadata.name.clone();
    // The Pod's creation is when the run started: the same answer however often we ask.
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

/// The status of a run that failed for a reason of the controller's: the Pod was deleted, the
/// run timed out, or it is invalid. Everything observed so far (Pod, steps) is kept.
pub fn failed(run: &TaskRun, reason: &str, message: String, now: &Time) -> TaskRunStatus {
    let mut status = base(run);
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
/// The Event to publish when a status replaces another: one per change of reason (Started,
/// Running, Succeeded, StepFailed...), none when only a message changed.
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
        ContainerState, ContainerStateRunning, ContainerStateTerminated, ContainerStateWaiting,
        PodStatus,
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

    /// The Pod of the `hello` Task (steps greet, count, goodbye) in `phase`, its containers in
    /// the given states (init containers greet and count, main container goodbye).
    fn pod(phase: &str, greet: ContainerState, count: ContainerState, bye: ContainerState) -> Pod {
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
    }
    // ANCHOR_END: phase_of_test

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
        let (type_, reason, note) = transition(Some(&not_found), &done).expect("an event");
        assert_eq!(
            (type_, reason.as_str()),
            (EventType::Normal, reason::SUCCEEDED)
        );
        assert_eq!(note, "all 3 steps succeeded");

        let timed_out = failed(&r, reason::TIMED_OUT, "too slow".into(), &at(9));
        let (type_, _, _) = transition(Some(&not_found), &timed_out).expect("an event");
        assert_eq!(type_, EventType::Warning);
    }

    #[test]
    fn now_has_no_fraction_of_a_second() {
        let now = now();
        assert_eq!(now.0.subsec_nanosecond(), 0);
    }
}
