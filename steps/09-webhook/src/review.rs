//! The admission decision: may this TaskRun be created?
//!
//! The API server sends the webhook an `AdmissionReview`: who asks to do what
//! (`operation`) to which object (`object`), in which namespace. The webhook answers
//! allowed, or denied with a message that the API server hands to the user word for
//! word, after `admission webhook "<name>" denied the request: `.
//!
//! This module is the decision alone: a function of the request and of what a
//! [`TaskLookup`] says about Tasks. The lookup is passed in, so the decision is tested
//! with a list of pretend Tasks, without a cluster; [`crate::tasks`] is the real one.
// Starter code: the imports, parameters and helpers that the TODOs below need are
// unused until you write them. Once they are done, delete the `allow` below: the
// compiler then checks that you left none.
#![allow(unused_imports, unused_variables, dead_code)]

use std::future::Future;

use crds::TaskRun;
use kube::core::admission::{AdmissionRequest, Operation};

/// What the decision needs to know about Tasks: does the Task `namespace/name` exist?
pub trait TaskLookup {
    /// `Ok(true)`: it exists; `Ok(false)`: it certainly does not; `Err`: the lookup
    /// failed, so nobody knows.
    fn exists(
        &self,
        namespace: &str,
        name: &str,
    ) -> impl Future<Output = Result<bool, LookupError>> + Send;
}

/// A lookup that could not tell whether a Task exists.
#[derive(Debug, thiserror::Error)]
#[error("cannot tell whether Task {namespace}/{name} exists: {source}")]
pub struct LookupError {
    pub namespace: String,
    pub name: String,
    #[source]
    pub source: kube::Error,
}

// ANCHOR: verdict
/// The webhook's answer to one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Let it through.
    Allowed,
    /// Refuse it; the message goes to the user.
    Denied(String),
    /// No answer: the webhook could not find out (why, for the log). The server
    /// then answers with an HTTP error, and the API server treats the request
    /// exactly as if the webhook were down: its `failurePolicy` decides.
    Unknown(String),
}
// ANCHOR_END: verdict

// ANCHOR: message
/// The message of a refused run: it names the Task and the namespace, and says what
/// to do about it.
pub fn missing_task_message(namespace: &str, task: &str) -> String {
    format!(
        "Task \"{task}\" not found in namespace \"{namespace}\"; create the Task \
         first, or correct spec.taskRef.name"
    )
}
// ANCHOR_END: message

// ANCHOR: review
// TODO(exercise 9.1): Decide whether a TaskRun may be created: its Task must exist.
// A run created while its Task does not exist is denied with
// `missing_task_message(namespace, task)`; one whose Task exists is allowed. The
// namespace is the request's: the object being created may not say (kubectl sends
// none when you use -n). Only creating a run is judged: any other operation is
// allowed without a lookup (a run's spec cannot change once it exists, and a Task
// deleted later must not make its runs impossible to change or delete). When the
// lookup fails, nobody knows: say so, with the lookup's error.
// Proved by: a_run_of_an_existing_task_is_allowed,
//   a_run_of_a_missing_task_is_denied_naming_the_task_and_the_namespace,
//   the_namespace_is_the_requests_not_the_objects,
//   only_creating_a_run_is_judged, a_failed_lookup_gives_no_verdict
// Path: stretch, 15 min
// Book: "Step 09 > The decision"
pub async fn review(
    request: &AdmissionRequest<TaskRun>,
    tasks: &impl TaskLookup,
) -> Verdict {
    todo!(
        "Exercise 9.1: Decide whether a TaskRun may be created: its Task must \
         exist."
    )
}
// ANCHOR_END: review

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    use kube::core::admission::AdmissionReview;

    use super::*;

    /// Pretend Tasks: the ones that exist, every lookup asked for, and optionally a
    /// lookup that fails.
    #[derive(Default)]
    struct Pretend {
        existing: BTreeSet<(String, String)>,
        asked: Mutex<Vec<String>>,
        broken: bool,
    }

    impl Pretend {
        fn with(tasks: &[(&str, &str)]) -> Self {
            Self {
                existing: tasks
                    .iter()
                    .map(|(ns, name)| (ns.to_string(), name.to_string()))
                    .collect(),
                ..Self::default()
            }
        }

        fn asked(&self) -> Vec<String> {
            self.asked.lock().unwrap().clone()
        }
    }

    impl TaskLookup for Pretend {
        async fn exists(
            &self,
            namespace: &str,
            name: &str,
        ) -> Result<bool, LookupError> {
            self.asked
                .lock()
                .unwrap()
                .push(format!("{namespace}/{name}"));
            if self.broken {
                return Err(LookupError {
                    namespace: namespace.into(),
                    name: name.into(),
                    source: kube::Error::Api(
                        kube::core::Status::failure(
                            "tasks.workshop.io is forbidden",
                            "Forbidden",
                        )
                        .with_code(403)
                        .boxed(),
                    ),
                });
            }
            Ok(self
                .existing
                .contains(&(namespace.to_string(), name.to_string())))
        }
    }

    /// An AdmissionRequest as the API server sends it, for a run of `task`. The
    /// object has no namespace, as when kubectl creates it with `-n`.
    fn request(
        operation: &str,
        namespace: &str,
        task: &str,
    ) -> AdmissionRequest<TaskRun> {
        let run = serde_json::json!({
            "apiVersion": "workshop.io/v1alpha1",
            "kind": "TaskRun",
            "metadata": { "generateName": "run-" },
            "spec": { "taskRef": { "name": task } }
        });
        let old = (operation != "CREATE").then(|| run.clone());
        let object = (operation != "DELETE").then(|| run.clone());
        let review: AdmissionReview<TaskRun> = serde_json::from_value(serde_json::json!({
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "request": {
                "uid": "705ab4f5-6393-11e8-b7cc-42010a800002",
                "kind": { "group": "workshop.io", "version": "v1alpha1", "kind": "TaskRun" },
                "resource": {
                    "group": "workshop.io", "version": "v1alpha1", "resource": "taskruns"
                },
                "name": "",
                "namespace": namespace,
                "operation": operation,
                "userInfo": { "username": "learner" },
                "object": object,
                "oldObject": old,
                "dryRun": false
            }
        }))
        .expect("a well-formed AdmissionReview");
        review.try_into().expect("the review carries a request")
    }

    #[tokio::test]
    async fn a_run_of_an_existing_task_is_allowed() {
        let tasks = Pretend::with(&[("team-a", "build")]);
        let verdict = review(&request("CREATE", "team-a", "build"), &tasks).await;
        assert_eq!(verdict, Verdict::Allowed);
    }

    #[tokio::test]
    async fn a_run_of_a_missing_task_is_denied_naming_the_task_and_the_namespace() {
        // A Task of that name elsewhere does not count.
        let tasks = Pretend::with(&[("team-b", "biuld"), ("team-a", "test")]);
        let verdict = review(&request("CREATE", "team-a", "biuld"), &tasks).await;
        assert_eq!(
            verdict,
            Verdict::Denied(missing_task_message("team-a", "biuld"))
        );
        let message = missing_task_message("team-a", "biuld");
        assert!(message.contains("\"biuld\"") && message.contains("\"team-a\""));
    }

    #[tokio::test]
    async fn the_namespace_is_the_requests_not_the_objects() {
        let tasks = Pretend::with(&[("team-a", "build")]);
        let verdict = review(&request("CREATE", "team-a", "build"), &tasks).await;
        assert_eq!(verdict, Verdict::Allowed);
        assert_eq!(tasks.asked(), ["team-a/build"], "the lookups asked for");
    }

    #[tokio::test]
    async fn only_creating_a_run_is_judged() {
        let tasks = Pretend::default();
        for operation in ["UPDATE", "DELETE", "CONNECT"] {
            let verdict =
                review(&request(operation, "team-a", "deleted-since"), &tasks).await;
            assert_eq!(
                verdict,
                Verdict::Allowed,
                "{operation} of a run whose Task is gone"
            );
        }
        assert_eq!(
            tasks.asked(),
            Vec::<String>::new(),
            "lookups for operations other than CREATE"
        );
    }

    #[tokio::test]
    async fn a_failed_lookup_gives_no_verdict() {
        let tasks = Pretend {
            broken: true,
            ..Pretend::default()
        };
        let verdict = review(&request("CREATE", "team-a", "build"), &tasks).await;
        let Verdict::Unknown(why) = verdict else {
            panic!(
                "a lookup that failed (403) gave {verdict:?}: nobody knows whether the \
                 Task exists, so the answer is Verdict::Unknown, with the error"
            );
        };
        assert!(why.contains("forbidden"), "{why}");
    }
}
