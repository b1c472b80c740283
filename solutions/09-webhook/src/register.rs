//! The registration: a `ValidatingWebhookConfiguration` that tells the API server
//! when to call the webhook, where, whom to trust, and what to do when it cannot.
//!
//! A ValidatingWebhookConfiguration is cluster-scoped: one object for the whole
//! cluster, seen by every API request. On a cluster shared by a room of learners,
//! three things keep one learner's webhook out of everybody else's way:
//!
//! - its name is per namespace (`taskrun-webhook-<namespace>`), so registrations
//!   never overwrite each other;
//! - its `namespaceSelector` matches the learner's namespace only, so it never judges
//!   another namespace's runs, and when it is down it blocks nobody else;
//! - its `rules` match creating TaskRuns, and nothing else the cluster does.
//!
//! The program writes it with server-side apply at every start: the first start
//! creates it, later starts update it, the new `caBundle` above all.

use k8s_openapi::api::admissionregistration::v1::{
    RuleWithOperations, ValidatingWebhook, ValidatingWebhookConfiguration,
    WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

/// The webhook's name inside its configuration: the API server quotes it when it
/// refuses a request (`admission webhook "task-exists.workshop.io" denied the
/// request: ...`).
pub const WEBHOOK_NAME: &str = "task-exists.workshop.io";

/// The path the API server posts AdmissionReviews to.
pub const PATH: &str = "/validate";

/// The label the API server puts on every namespace, whose value is the namespace's
/// name (since Kubernetes 1.21): the way to select one namespace by name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

/// How long the API server waits for an answer before it gives up on the webhook (and
/// applies the failure policy). The default is 10 s; a lookup takes milliseconds.
pub const TIMEOUT_SECONDS: i32 = 5;

/// The field manager of the program's server-side apply.
const FIELD_MANAGER: &str = "taskrun-webhook";

/// The name of the configuration of the webhook that guards `namespace`.
pub fn configuration_name(namespace: &str) -> String {
    format!("taskrun-webhook-{namespace}")
}

// ANCHOR: failure_policy
/// What the API server does with a request when the webhook cannot answer (it is
/// down, too slow, its certificate is refused, or it answers with an HTTP error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
#[value(rename_all = "PascalCase")]
pub enum FailurePolicy {
    /// Refuse the request ("fail closed"): no run gets in unchecked.
    Fail,
    /// Admit the request unchecked ("fail open"): nobody is blocked.
    Ignore,
}
// ANCHOR_END: failure_policy

impl std::fmt::Display for FailurePolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FailurePolicy::Fail => "Fail",
            FailurePolicy::Ignore => "Ignore",
        })
    }
}

// ANCHOR: rules
/// Which requests the API server sends the webhook.
pub fn rules() -> Vec<RuleWithOperations> {
    // DIAGNOSE 9.5: While the webhook is down, runs already admitted stop changing.
    // `while_the_webhook_is_down_only_new_runs_are_refused` fails: with failurePolicy
    // Fail and the webhook stopped, creating a run is refused, as it should be, but
    // so is something the webhook was never meant to stop. Find what, and why the
    // API server asks the webhook about it at all.
    // Proved by: while_the_webhook_is_down_only_new_runs_are_refused
    // Needs: 9.1, 9.2, 9.3, 9.4
    // Path: stretch, 15 min
    // Book: "Step 09 > Exercise 9.5: runs that stop changing"
    // BEGIN SOLUTION
    vec![RuleWithOperations {
        api_groups: Some(vec!["workshop.io".into()]),
        api_versions: Some(vec!["v1alpha1".into()]),
        // A run's spec cannot change once it exists (step 06's CEL rule), so only
        // creating a run can bring in a missing Task.
        operations: Some(vec!["CREATE".into()]),
        // Not `taskruns/status`: the controller writes it, and must go on writing it
        // while this webhook is down.
        resources: Some(vec!["taskruns".into()]),
        scope: Some("Namespaced".into()),
    }]
    // STARTER
    // vec![RuleWithOperations {
    //     api_groups: Some(vec!["workshop.io".into()]),
    //     api_versions: Some(vec!["v1alpha1".into()]),
    //     // A run must name an existing Task whenever it is written, not only when
    //     // it is created.
    //     operations: Some(vec!["CREATE".into(), "UPDATE".into()]),
    //     resources: Some(vec!["taskruns".into(), "taskruns/status".into()]),
    //     scope: Some("Namespaced".into()),
    // }]
    // END SOLUTION
}
// ANCHOR_END: rules

// ANCHOR: configuration
// EXERCISE 9.4: Describe the webhook to the API server: when to call it, where, and
//     what to do when it cannot.
// One webhook, named WEBHOOK_NAME, called as `client` says, for the requests of
// `rules()`, in namespace `namespace` only (its NAMESPACE_NAME_LABEL), with
// `failure_policy`, and no side effects (so `kubectl create --dry-run=server` is
// checked too); it speaks AdmissionReview v1, and the API server waits
// TIMEOUT_SECONDS for it. The configuration is named `name`.
// Proved by: the_webhook_refuses_a_run_of_a_missing_task,
//   the_webhook_guards_its_own_namespace_only,
//   with_failure_policy_fail_a_webhook_that_is_down_refuses_runs,
//   with_failure_policy_ignore_a_webhook_that_is_down_admits_runs
// Needs: 9.1, 9.2, 9.3
// Path: stretch, 20 min
// Book: "Step 09 > Exercise 9.4: the registration"
pub fn configuration(
    name: &str,
    namespace: &str,
    client: WebhookClientConfig,
    failure_policy: FailurePolicy,
) -> ValidatingWebhookConfiguration {
    // BEGIN SOLUTION
    let only_this_namespace = LabelSelector {
        match_expressions: Some(vec![LabelSelectorRequirement {
            key: NAMESPACE_NAME_LABEL.into(),
            operator: "In".into(),
            values: Some(vec![namespace.into()]),
        }]),
        match_labels: None,
    };
    ValidatingWebhookConfiguration {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        webhooks: Some(vec![ValidatingWebhook {
            name: WEBHOOK_NAME.into(),
            client_config: client,
            rules: Some(rules()),
            namespace_selector: Some(only_this_namespace),
            failure_policy: Some(failure_policy.to_string()),
            side_effects: "None".into(),
            admission_review_versions: vec!["v1".into()],
            timeout_seconds: Some(TIMEOUT_SECONDS),
            ..ValidatingWebhook::default()
        }]),
    }
    // END SOLUTION
}
// ANCHOR_END: configuration

// ANCHOR: register
/// Creates or updates `configuration` (server-side apply: the fields this program
/// sets are its own, forced, so a restart always installs its new `caBundle`).
pub async fn register(
    client: &Client,
    configuration: &ValidatingWebhookConfiguration,
) -> Result<ValidatingWebhookConfiguration, kube::Error> {
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let name = configuration.metadata.name.clone().unwrap_or_default();
    let mut applied = configuration.clone();
    // Server-side apply wants the object's type in the body.
    applied.metadata.managed_fields = None;
    let body = serde_json::json!({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": applied.metadata,
        "webhooks": applied.webhooks,
    });
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(body),
    )
    .await
}
// ANCHOR_END: register

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configuration_is_named_after_the_namespace() {
        assert_eq!(configuration_name("team-a"), "taskrun-webhook-team-a");
    }

    #[test]
    fn the_failure_policies_are_spelt_as_the_api_spells_them() {
        assert_eq!(FailurePolicy::Fail.to_string(), "Fail");
        assert_eq!(FailurePolicy::Ignore.to_string(), "Ignore");
        let parsed = <FailurePolicy as clap::ValueEnum>::from_str("Ignore", false);
        assert_eq!(parsed, Ok(FailurePolicy::Ignore));
    }
}
