//! End-to-end tests of the Mini Task Runner against a real API server.
//!
//! Run them with `scripts/check.sh 07` (or
//! `cargo test -p step-07-taskrun -- --include-ignored` with a cluster in
//! your kubeconfig). Each test works in a namespace of its own, with the
//! controller started in the test process, scoped to that namespace, and
//! running as the `taskrun-controller` ServiceAccount of
//! `manifests/rbac/taskrun.yaml` (impersonation).

mod common;

use std::time::Duration;

use common::{
    FINISH, Harness, REACT, SA_NAME, SA_NAMESPACE, containers_really_run, reason_of,
};
use crds::{Param, Step, TaskRunPhase, TaskRunStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, ResourceExt};
use taskrun::pod::{MANAGED_BY_LABEL, RUN_LABEL, TASK_LABEL};
use taskrun::reconcile::save_status;
use taskrun::status::reason;
use workshop_testkit::under_test::Graceful;
use workshop_testkit::{service_account_client, wait_until};

// ANCHOR: e2e_success
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_run_goes_pending_running_succeeded() -> anyhow::Result<()> {
    let h = Harness::start("taskrun-ok").await?;
    let task = h
        .task(
            "greet",
            &[
                ("hello", "echo \"Hello, $(params.who)!\""),
                ("wait", "sleep 1"),
                ("bye", "echo bye"),
            ],
        )
        .await?;
    let run = h.run_of("greet-1", "greet", vec![Param::new("who", "e2e")]);
    let (phases, run) = h.create_and_watch(&run, FINISH).await?;
    assert_eq!(
        phases,
        [
            TaskRunPhase::Pending,
            TaskRunPhase::Running,
            TaskRunPhase::Succeeded
        ]
    );

    let status = run.status.clone().unwrap_or_default();
    assert_eq!(status.pod_name.as_deref(), Some("greet-1-pod"));
    let (start, end) = (status.start_time.clone(), status.completion_time.clone());
    assert!(
        matches!((&start, &end), (Some(s), Some(e)) if s <= e),
        "startTime {start:?} then completionTime {end:?}"
    );
    let steps: Vec<_> = status
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.exit_code, s.reason.as_deref()))
        .collect();
    assert_eq!(
        steps,
        [
            ("hello", Some(0), Some("Completed")),
            ("wait", Some(0), Some("Completed")),
            ("bye", Some(0), Some("Completed")),
        ]
    );
    assert_eq!(
        reason_of(&run),
        (reason::SUCCEEDED.into(), "all 3 steps succeeded".into())
    );
    assert_eq!(status.observed_generation, run.metadata.generation);
    assert_eq!(status.task_spec.as_ref(), Some(&task.spec), "the snapshot");

    // The Pod: the steps in order, the parameter in place, owned by
    // and labelled with the run.
    let pod = h.pods.get("greet-1-pod").await?;
    let spec = pod.spec.clone().unwrap_or_default();
    let init: Vec<_> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(init, ["hello", "wait"]);
    assert_eq!(spec.containers[0].name, "bye");
    assert_eq!(spec.restart_policy.as_deref(), Some("Never"));
    let hello = spec.init_containers.iter().flatten().next();
    assert_eq!(
        hello.and_then(|c| c.command.clone()),
        Some(vec![
            "sh".into(),
            "-c".into(),
            "echo \"Hello, e2e!\"".into()
        ])
    );
    let owner = pod.owner_references().first().cloned().unwrap_or_default();
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str()),
        ("TaskRun", run.uid().unwrap_or_default().as_str())
    );
    assert_eq!(owner.controller, Some(true));
    let labels = pod.labels();
    assert_eq!(labels.get(RUN_LABEL).map(String::as_str), Some("greet-1"));
    assert_eq!(labels.get(TASK_LABEL).map(String::as_str), Some("greet"));
    assert_eq!(
        labels.get(MANAGED_BY_LABEL).map(String::as_str),
        Some("taskrun-controller")
    );

    // An Event for each transition, on the run.
    let events: Api<Event> = Api::namespaced(h.admin.clone(), h.ns.name());
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| {
            e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some("greet-1")
        })
        .filter_map(|e| e.reason)
        .collect();
    for expected in [reason::PENDING, reason::RUNNING, reason::SUCCEEDED] {
        assert!(
            reasons.iter().any(|r| r == expected),
            "Event {expected} in {reasons:?}"
        );
    }

    // Final means final: with its Pod deleted, a Succeeded run is left as it is.
    h.pods
        .delete("greet-1-pod", &DeleteParams::default())
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = h.runs.get("greet-1").await?;
    assert_eq!(
        after.resource_version(),
        run.resource_version(),
        "a final run was written to"
    );
    h.assert_running();
    Ok(())
}
// ANCHOR_END: e2e_success

// ANCHOR: e2e_failure
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn the_second_of_three_steps_fails_and_the_third_never_runs()
-> anyhow::Result<()> {
    let h = Harness::start("taskrun-fail").await?;
    h.task(
        "flaky",
        &[
            ("first", "echo one"),
            ("second", "echo failing; exit 3"),
            ("third", "echo three"),
        ],
    )
    .await?;
    let run = h.run_of("flaky-1", "flaky", Vec::new());
    let (seen, run) = h.create_and_record(&run, FINISH).await?;
    assert_eq!(
        seen.last().map(|s| s.0),
        Some(TaskRunPhase::Failed),
        "{seen:?}"
    );
    // No status ever claims that a step after the failing one runs: it never does.
    for (phase, message) in &seen {
        assert!(
            !message.contains("third"),
            "{phase}: {message} (in {seen:?})"
        );
    }
    assert_eq!(
        reason_of(&run),
        (
            reason::STEP_FAILED.into(),
            "step second failed with exit code 3 (Error)".into()
        )
    );
    let status = run.status.unwrap_or_default();
    let codes: Vec<_> = status
        .steps
        .iter()
        .map(|s| (s.name.as_str(), s.exit_code))
        .collect();
    assert_eq!(
        codes,
        [("first", Some(0)), ("second", Some(3)), ("third", None)]
    );
    assert!(status.completion_time.is_some());
    h.assert_running();
    Ok(())
}
// ANCHOR_END: e2e_failure

// ANCHOR: e2e_task_not_found
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_run_created_before_its_task_waits_for_it() -> anyhow::Result<()> {
    let h = Harness::start("taskrun-later").await?;
    h.run("early-1", "later", None).await?;
    let run = h
        .wait_for("early-1", "Pending with TaskNotFound", REACT, |run| {
            run.phase() == Some(TaskRunPhase::Pending)
                && reason_of(run).0 == reason::TASK_NOT_FOUND
        })
        .await?;
    let (_, message) = reason_of(&run);
    assert!(message.contains("Task later not found"), "{message}");
    assert!(
        h.pods_of("early-1").await?.is_empty(),
        "no Pod without a Task"
    );

    h.task("later", &[("only", "echo at last")]).await?;
    let run = h
        .wait_for_phase("early-1", TaskRunPhase::Succeeded, FINISH)
        .await?;
    assert_eq!(h.pods_of("early-1").await?.len(), 1);
    assert_eq!(reason_of(&run).0, reason::SUCCEEDED);
    h.assert_running();
    Ok(())
}
// ANCHOR_END: e2e_task_not_found

// ANCHOR: e2e_pod_deleted
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_deleted_pod_fails_the_run_and_is_not_replaced() -> anyhow::Result<()> {
    let h = Harness::start("taskrun-podgone").await?;
    h.task("long", &[("sleep", "sleep 3600")]).await?;
    h.run("long-1", "long", None).await?;
    h.wait_for_phase("long-1", TaskRunPhase::Running, FINISH)
        .await?;
    let pod = h.pods.get("long-1-pod").await?;

    h.pods
        .delete("long-1-pod", &DeleteParams::default())
        .await?;
    let run = h
        .wait_for_phase("long-1", TaskRunPhase::Failed, REACT)
        .await?;
    assert_eq!(
        reason_of(&run),
        (
            reason::POD_DELETED.into(),
            "Pod long-1-pod was deleted before the run finished".into()
        )
    );
    // Give a (wrong) controller time to make another Pod: there must be none.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for other in h.pods_of("long-1").await? {
        assert_eq!(other.uid(), pod.uid(), "a second Pod was created");
    }
    h.assert_running();
    Ok(())
}
// ANCHOR_END: e2e_pod_deleted

// ANCHOR: e2e_timeout
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_run_that_times_out_fails_and_loses_its_pod() -> anyhow::Result<()> {
    let h = Harness::start("taskrun-timeout").await?;
    h.task("long", &[("sleep", "sleep 3600")]).await?;
    h.run("slow-1", "long", Some("3s")).await?;
    // The clock starts with the Pod, even while its image is pulled
    // (kind): no wait for Running.
    let run = h
        .wait_for_phase("slow-1", TaskRunPhase::Failed, FINISH)
        .await?;
    assert_eq!(
        reason_of(&run),
        (
            reason::TIMED_OUT.into(),
            "the run did not finish within 3s; its Pod was deleted".into()
        )
    );
    let status = run.status.unwrap_or_default();
    if let (Some(start), Some(end)) = (status.start_time, status.completion_time) {
        let took = end.0.as_second() - start.0.as_second();
        assert!(
            (3..10).contains(&took),
            "timed out after {took}s, expected 3s"
        );
    }
    // Deleted: gone, or on a real kubelet still shutting down its containers.
    let pod = h.pods.get_opt("slow-1-pod").await?;
    assert!(
        pod.is_none_or(|p| p.metadata.deletion_timestamp.is_some()),
        "the Pod of a run that timed out is deleted"
    );
    if containers_really_run(&h.admin).await? {
        // A real `sleep 3600` was killed: the kubelet removes the Pod only once its
        // containers stopped (the default grace period of 30 seconds, then SIGKILL:
        // `sleep` as PID 1 ignores SIGTERM).
        let gone = workshop_testkit::wait_until(
            "the Pod to be gone",
            Duration::from_secs(60),
            || async {
                Ok(h.pods.get_opt("slow-1-pod").await?.is_none().then_some(()))
            },
        );
        gone.await?;
    }
    h.assert_running();
    Ok(())
}
// ANCHOR_END: e2e_timeout

// ANCHOR: e2e_restart
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_controller_restarted_mid_run_finishes_it_with_one_pod()
-> anyhow::Result<()> {
    let mut h = Harness::start("taskrun-restart").await?;
    h.task("nap", &[("nap", "sleep 4"), ("done", "echo done")])
        .await?;
    h.run("nap-1", "nap", None).await?;
    h.wait_for_phase("nap-1", TaskRunPhase::Running, FINISH)
        .await?;
    let pod = h.pods.get("nap-1-pod").await?;

    h.crash_controller().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    h.start_controller().await;

    let run = h
        .wait_for_phase("nap-1", TaskRunPhase::Succeeded, FINISH)
        .await?;
    let pods = h.pods_of("nap-1").await?;
    assert_eq!(pods.len(), 1, "exactly one Pod");
    assert_eq!(pods[0].uid(), pod.uid(), "the same Pod");
    assert_eq!(reason_of(&run).0, reason::SUCCEEDED);
    h.assert_running();
    Ok(())
}
// ANCHOR_END: e2e_restart

// ANCHOR: e2e_adopt
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_pod_created_just_before_a_crash_is_adopted_not_doubled()
-> anyhow::Result<()> {
    // The controller created the Pod, then crashed before it could write the
    // run's status: the run has no status, its Pod exists. We stage exactly that,
    // with no controller running.
    let mut h = Harness::without_controller("taskrun-adopt").await?;
    let task = h.task("quick", &[("only", "echo quick")]).await?;
    let run = h.run("quick-1", "quick", None).await?;
    let orphan = taskrun::pod::desired_pod(&run, &task.spec)?;
    let orphan = h.pods.create(&PostParams::default(), &orphan).await?;

    h.start_controller().await;
    let run = h
        .wait_for_phase("quick-1", TaskRunPhase::Succeeded, FINISH)
        .await?;
    let pods = h.pods_of("quick-1").await?;
    assert_eq!(pods.len(), 1, "exactly one Pod");
    assert_eq!(pods[0].uid(), orphan.uid(), "the Pod that was there");
    let status = run.status.unwrap_or_default();
    assert_eq!(status.pod_name.as_deref(), Some("quick-1-pod"));
    assert_eq!(
        status.start_time, orphan.metadata.creation_timestamp,
        "started with its Pod"
    );
    h.assert_running();
    Ok(())
}
// ANCHOR_END: e2e_adopt

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_task_edited_after_the_run_started_does_not_change_the_run()
-> anyhow::Result<()> {
    let h = Harness::start("taskrun-snapshot").await?;
    let original = h.task("edit", &[("nap", "sleep 2")]).await?;
    h.run("edit-1", "edit", None).await?;
    h.wait_for_phase("edit-1", TaskRunPhase::Running, FINISH)
        .await?;

    let mut edited = h.tasks.get("edit").await?;
    edited.spec.steps = vec![Step::script("other", common::IMAGE, "exit 1")];
    h.tasks
        .replace("edit", &PostParams::default(), &edited)
        .await?;

    let run = h
        .wait_for_phase("edit-1", TaskRunPhase::Succeeded, FINISH)
        .await?;
    let status = run.status.unwrap_or_default();
    assert_eq!(
        status.task_spec,
        Some(original.spec),
        "the spec it started with"
    );
    let names: Vec<_> = status.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["nap"]);
    h.assert_running();
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn an_invalid_run_fails_without_a_pod() -> anyhow::Result<()> {
    let h = Harness::start("taskrun-invalid").await?;
    h.task("greet", &[("hello", "echo $(params.who)")]).await?;
    let run = h.run_of("typo-1", "greet", vec![Param::new("whom", "typo")]);
    h.runs.create(&PostParams::default(), &run).await?;
    let run = h
        .wait_for_phase("typo-1", TaskRunPhase::Failed, REACT)
        .await?;
    let (reason, message) = reason_of(&run);
    assert_eq!(reason, reason::INVALID_RUN);
    assert!(message.contains("\"whom\""), "{message}");
    assert!(
        h.pods_of("typo-1").await?.is_empty(),
        "no Pod for an invalid run"
    );

    // A Pod the API server refuses fails the run too, instead
    // of being retried forever.
    let mut task = h.tasks.get("greet").await?;
    task.metadata = Default::default();
    task.metadata.name = Some("spaced".into());
    task.spec.steps[0].image = " busybox:1.37".into();
    h.tasks.create(&PostParams::default(), &task).await?;
    h.run("spaced-1", "spaced", None).await?;
    let run = h
        .wait_for_phase("spaced-1", TaskRunPhase::Failed, REACT)
        .await?;
    let (reason, message) = reason_of(&run);
    assert_eq!(reason, reason::INVALID_RUN);
    assert!(
        message.contains("the API server refused its Pod"),
        "{message}"
    );
    h.assert_running();
    Ok(())
}

// ANCHOR: e2e_stale_status
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_status_computed_from_an_old_copy_is_refused() -> anyhow::Result<()> {
    // No controller: the test writes the statuses itself, as the
    // controller's ServiceAccount.
    let h = Harness::without_controller("taskrun-stale").await?;
    let old = h.run("stale-1", "nothing", None).await?;
    let as_controller = service_account_client(SA_NAMESPACE, SA_NAME).await;
    let status = |phase| TaskRunStatus {
        phase: Some(phase),
        ..TaskRunStatus::default()
    };

    // From the run as it is: stored, and only the status changed.
    save_status(&as_controller, &old, &status(TaskRunPhase::Running)).await?;
    let stored = h.runs.get("stale-1").await?;
    assert_eq!(stored.phase(), Some(TaskRunPhase::Running), "the status");
    assert_eq!(stored.spec, old.spec, "the spec is the user's");
    assert_eq!(stored.labels(), old.labels(), "the labels are the user's");

    // From the old copy: refused, and the newer status stays.
    let refused =
        save_status(&as_controller, &old, &status(TaskRunPhase::Pending)).await;
    assert!(
        matches!(&refused, Err(err) if err.is_conflict()),
        "a status computed from an old copy of the run was not refused: {refused:?}"
    );
    let now = h.runs.get("stale-1").await?;
    assert_eq!(now.phase(), Some(TaskRunPhase::Running), "overwritten");

    // From the current copy, the same write goes through.
    save_status(&as_controller, &now, &status(TaskRunPhase::Failed)).await?;
    let last = h.runs.get("stale-1").await?;
    assert_eq!(last.phase(), Some(TaskRunPhase::Failed));
    Ok(())
}
// ANCHOR_END: e2e_stale_status

// ANCHOR: e2e_stranger
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_pod_of_that_name_that_is_not_ours_blocks_the_run() -> anyhow::Result<()> {
    let h = Harness::start("taskrun-stranger").await?;
    h.task("quick", &[("only", "echo quick")]).await?;
    // Somebody else's Pod, with the very name the run's Pod
    // will have, owned by nothing.
    let stranger = Pod {
        metadata: ObjectMeta {
            name: Some("blocked-1-pod".into()),
            ..ObjectMeta::default()
        },
        spec: Some(common::sleeping_pod_spec("mine")),
        ..Pod::default()
    };
    let stranger = h.pods.create(&PostParams::default(), &stranger).await?;

    h.run("blocked-1", "quick", None).await?;
    let run = h
        .wait_for("blocked-1", "Pending with PodNameTaken", REACT, |run| {
            run.phase() == Some(TaskRunPhase::Pending)
                && reason_of(run).0 == reason::POD_NAME_TAKEN
        })
        .await?;
    let (_, message) = reason_of(&run);
    assert!(message.contains("blocked-1-pod"), "{message}");
    let status = run.status.clone().unwrap_or_default();
    assert_eq!(status.pod_name, None, "the stranger's Pod is not the run's");

    // A Warning Event on the run says so too.
    let events: Api<Event> = Api::namespaced(h.admin.clone(), h.ns.name());
    wait_until("a Warning Event PodNameTaken", REACT, || async {
        let found = events
            .list(&ListParams::default())
            .await?
            .items
            .into_iter()
            .any(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref())
                    == Some("blocked-1")
                    && e.reason.as_deref() == Some(reason::POD_NAME_TAKEN)
                    && e.type_.as_deref() == Some("Warning")
            });
        Ok(found.then_some(()))
    })
    .await?;

    // The stranger's Pod is left as it was: not adopted, not deleted.
    let after = h.pods.get("blocked-1-pod").await?;
    assert_eq!(
        after.uid(),
        stranger.uid(),
        "the stranger's Pod was replaced"
    );
    assert!(
        after.owner_references().is_empty(),
        "the stranger's Pod was adopted: {:?}",
        after.owner_references()
    );

    // Once it is gone, the run starts, with a Pod of its own.
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    h.pods.delete("blocked-1-pod", &now).await?;
    let run = h
        .wait_for_phase("blocked-1", TaskRunPhase::Succeeded, FINISH)
        .await?;
    let pod = h.pods.get("blocked-1-pod").await?;
    assert_ne!(pod.uid(), stranger.uid());
    let owner = pod.owner_references().first().cloned().unwrap_or_default();
    assert_eq!(Some(owner.uid), run.uid(), "the run's own Pod");
    h.assert_running();
    Ok(())
}
// ANCHOR_END: e2e_stranger

// ANCHOR: e2e_failed_stays_failed
#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_failed_run_stays_failed_when_its_task_is_fixed() -> anyhow::Result<()> {
    let h = Harness::start("taskrun-final").await?;
    // A Task whose parameter has no default: a run that does not set it is invalid,
    // and fails before it has a Pod or a snapshot of the Task.
    let mut task = h.task("strict", &[("hello", "echo $(params.who)")]).await?;
    task.spec.params[0].default = None;
    let mut task = h
        .tasks
        .replace("strict", &PostParams::default(), &task)
        .await?;
    h.run("strict-1", "strict", None).await?;
    let failed = h
        .wait_for_phase("strict-1", TaskRunPhase::Failed, REACT)
        .await?;
    assert_eq!(reason_of(&failed).0, reason::INVALID_RUN);

    // Fixing the Task concerns the runs waiting for it (`waits_for`): the failed run
    // is reconciled again. Its story is told: it must not start now.
    task.spec.params[0].default = Some("world".into());
    h.tasks
        .replace("strict", &PostParams::default(), &task)
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        h.pods_of("strict-1").await?.is_empty(),
        "a Pod was created for a run that had already failed"
    );
    let after = h.runs.get("strict-1").await?;
    assert_eq!(
        after.resource_version(),
        failed.resource_version(),
        "a final run was written to"
    );
    h.assert_running();
    Ok(())
}
// ANCHOR_END: e2e_failed_stays_failed

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_failed_run_stays_failed_after_a_restart() -> anyhow::Result<()> {
    let mut h = Harness::start("taskrun-final-restart").await?;
    // As in a_failed_run_stays_failed_when_its_task_is_fixed: a run that fails before
    // it has a Pod or a snapshot of its Task.
    let mut task = h.task("strict", &[("hello", "echo $(params.who)")]).await?;
    task.spec.params[0].default = None;
    let mut task = h
        .tasks
        .replace("strict", &PostParams::default(), &task)
        .await?;
    h.run("strict-1", "strict", None).await?;
    let failed = h
        .wait_for_phase("strict-1", TaskRunPhase::Failed, REACT)
        .await?;
    assert_eq!(reason_of(&failed).0, reason::INVALID_RUN);

    // The Task is fixed while no controller runs, so no Task change wakes the run. A
    // controller that starts lists every run and reconciles each once, this one too:
    // reconcile itself must leave a finished run alone, whatever brought it there.
    h.crash_controller().await;
    task.spec.params[0].default = Some("world".into());
    h.tasks
        .replace("strict", &PostParams::default(), &task)
        .await?;
    h.start_controller().await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        h.pods_of("strict-1").await?.is_empty(),
        "a Pod was created for a run that had already failed, when the restarted \
         controller reconciled it (no Task change involved: reconcile itself must \
         leave a finished run alone)"
    );
    let after = h.runs.get("strict-1").await?;
    assert_eq!(
        after.resource_version(),
        failed.resource_version(),
        "a final run was written to"
    );
    h.assert_running();
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_failed_run_stays_failed_when_its_pod_is_deleted() -> anyhow::Result<()> {
    let h = Harness::start("taskrun-final-pod").await?;
    // A run that started (it has its Pod and its snapshot of the Task), and failed.
    h.task("broken", &[("only", "echo failing; exit 3")])
        .await?;
    h.run("broken-1", "broken", None).await?;
    let failed = h
        .wait_for_phase("broken-1", TaskRunPhase::Failed, FINISH)
        .await?;
    let told = reason_of(&failed);
    assert_eq!(told.0, reason::STEP_FAILED);

    // Cleaning up its Pod changes nothing about how it ended.
    h.pods
        .delete("broken-1-pod", &DeleteParams::default())
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = h.runs.get("broken-1").await?;
    assert_eq!(
        (reason_of(&after), after.resource_version()),
        (told.clone(), failed.resource_version()),
        "run broken-1 had failed ({}: {}), and had started: it has its Task's spec. Once \
         its Pod was deleted, the controller wrote to it again. A run's story ends with \
         Succeeded or Failed, whether it started or not: reconcile must leave every \
         finished run alone",
        told.0,
        told.1
    );
    h.assert_running();
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn a_pod_of_an_earlier_run_of_the_same_name_is_not_adopted()
-> anyhow::Result<()> {
    let h = Harness::start("taskrun-reborn").await?;
    h.task("quick", &[("only", "echo quick")]).await?;
    // The Pod of an earlier run called reborn-1, deleted and created again since: its
    // owner reference names this run's name, with the uid of the run that is gone. A
    // name can be reused; a uid never is. The garbage collector deletes such a Pod
    // (its owner is gone), and would delete it before the run starts: our finalizer
    // holds it, being deleted, until the test has seen what the controller did.
    const HOLD: &str = "workshop.io/test-hold";
    let earlier = Pod {
        metadata: ObjectMeta {
            name: Some("reborn-1-pod".into()),
            finalizers: Some(vec![HOLD.into()]),
            owner_references: Some(vec![OwnerReference {
                api_version: "workshop.io/v1alpha1".into(),
                kind: "TaskRun".into(),
                name: "reborn-1".into(),
                uid: "00000000-0000-4000-8000-000000000001".into(),
                controller: Some(true),
                ..OwnerReference::default()
            }]),
            ..ObjectMeta::default()
        },
        spec: Some(common::sleeping_pod_spec("earlier")),
        ..Pod::default()
    };
    h.pods.create(&PostParams::default(), &earlier).await?;

    let run = h.run("reborn-1", "quick", None).await?;
    let seen = h
        .wait_for("reborn-1", "given a status", REACT, |run| {
            run.phase().is_some()
        })
        .await;
    // Whatever happened, let the earlier Pod go, so the namespace can be deleted.
    let release = serde_json::json!({ "metadata": { "finalizers": null } });
    h.pods
        .patch(
            "reborn-1-pod",
            &PatchParams::default(),
            &Patch::Merge(&release),
        )
        .await?;
    let seen = seen?;
    let status = seen.status.clone().unwrap_or_default();
    assert_eq!(
        (status.pod_name.as_deref(), reason_of(&seen).0.as_str()),
        (None, reason::POD_NAME_TAKEN),
        "run reborn-1 (uid {:?}) adopted the Pod of an earlier run of the same name \
         (uid 00000000-0000-4000-8000-000000000001): the owner reference's uid says \
         whose it is, not its name",
        run.uid()
    );
    h.assert_running();
    Ok(())
}

#[tokio::test]
#[ignore = "end-to-end: needs a cluster (scripts/check.sh 07 runs it)"]
async fn the_backoff_forgets_runs_that_are_gone() -> anyhow::Result<()> {
    const CHURN: usize = 25;
    const ROUNDS: usize = 2;
    let h = Harness::without_controller("taskrun-churn").await?;
    h.task("quick", &[("only", "echo quick")]).await?;
    let as_controller = service_account_client(SA_NAMESPACE, SA_NAME).await;
    let namespace = h.ns.name().to_string();
    let running = Graceful::start(|shutdown| async move {
        taskrun::start(as_controller, Some(&namespace), 2, shutdown).await
    });

    // Each round: CHURN runs that fail (somebody else's Pod holds each one's Pod
    // name: PodNameTaken, retried with backoff), then deleted. Every name is new.
    let post = PostParams::default();
    let now = DeleteParams {
        grace_period_seconds: Some(0),
        ..DeleteParams::default()
    };
    for round in 0..ROUNDS {
        let names: Vec<String> =
            (0..CHURN).map(|i| format!("churn-{round}-{i}")).collect();
        for name in &names {
            let stranger = Pod {
                metadata: ObjectMeta {
                    name: Some(format!("{name}-pod")),
                    ..ObjectMeta::default()
                },
                spec: Some(common::sleeping_pod_spec("mine")),
                ..Pod::default()
            };
            h.pods.create(&post, &stranger).await?;
            h.run(name, "quick", None).await?;
        }
        // Each has failed once its status says why (written just before the failure
        // is counted).
        let what = format!("round {round}: every run Pending with PodNameTaken");
        wait_until(&what, FINISH, || async {
            let runs = h.runs.list(&ListParams::default()).await?.items;
            let blocked = names.iter().all(|name| {
                runs.iter().any(|run| {
                    run.name_any() == *name
                        && reason_of(run).0 == reason::POD_NAME_TAKEN
                })
            });
            Ok(blocked.then_some(()))
        })
        .await?;
        for name in &names {
            h.runs.delete(name, &DeleteParams::default()).await?;
            h.pods.delete(&format!("{name}-pod"), &now).await?;
        }
    }
    // A last run: the watch reports in order, so once the controller has acted on
    // this one, it has heard of every deletion before it.
    h.run("last", "quick", None).await?;
    h.wait_for("last", "given a Pod", REACT, |run| {
        run.status.as_ref().is_some_and(|s| s.pod_name.is_some())
    })
    .await?;

    let entries = running.stop().await?.backoff_entries();
    eprintln!(
        "{} runs created, failed and deleted: the backoff holds {entries} entries",
        CHURN * ROUNDS
    );
    assert_eq!(
        entries,
        0,
        "{} runs were created, failed (PodNameTaken) and deleted, and the backoff still \
         holds a failure count for {entries} of them. kube-runtime never reconciles a \
         run that left its cache, so nothing resets those counts: the map grows with \
         every run that failed once, and a run created again under one of those names \
         would start from the old count. A run's count must go when the run does",
        CHURN * ROUNDS
    );
    Ok(())
}
