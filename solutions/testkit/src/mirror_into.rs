//! The end-to-end suite of the mirror into another namespace (step 05, `--into`): the
//! companion of `A/colors` is `B/colors-synced`, and every managed source carries the
//! finalizer `workshop.io/companion-cleanup`.
//!
//! Each test makes two namespaces, a source namespace and its `-copies`, binds the
//! `configmap-mirror-into` ServiceAccount's two roles of `manifests/rbac/mirror.yaml` in
//! them (RoleBindings, as an operator would), and runs the controller under test as that
//! ServiceAccount. A request the API server refuses it (403 Forbidden) fails the waiting
//! test at once, with the refusal. Some tests stop the controller, as a crash or an
//! uninstall would, and start it again.
//! A step's `tests/e2e.rs` adds one line: `workshop_testkit::mirror_into_suite!(start);`.

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};

use crate::mirror::{
    CHECKSUM, FAST, MANAGED, RBAC, SA_NAMESPACE, is_checksum,
    reports_companion_exists, same_content,
};
use crate::under_test::{ControllerUnderTest, GaveUp};
use crate::{
    TestNamespace, apply_manifest, bind_cluster_role, clean_up,
    service_account_client, wait_until,
};

/// Starts a mirror into another namespace with `client`: sources from the first namespace,
/// companions in the second. Runs until the returned future is dropped.
pub type StartInto =
    fn(Client, String, String) -> BoxFuture<'static, anyhow::Result<()>>;

const SA_NAME: &str = "configmap-mirror-into";
/// Bound in the source namespace: the finalizer needs `patch` there.
const SOURCE_ROLE: &str = "configmap-mirror-into-source";
/// Bound in the target namespace: the companions are written there.
const TARGET_ROLE: &str = "configmap-mirror-into-target";
const FINALIZER: &str = "workshop.io/companion-cleanup";
/// Another controller's finalizer, on one of the sources.
pub const OTHER_FINALIZER: &str = "example.com/other-controller";
const SOURCE_NAMESPACE_LABEL: &str = "workshop.io/source-namespace";
const SOURCE_UID_LABEL: &str = "workshop.io/source-uid";
const SOURCE_NAME_ANNOTATION: &str = "workshop.io/source-name";
/// How long a test watches for something that must not happen.
const A_WHILE: Duration = Duration::from_secs(3);
/// A Role of a test's own in the target namespace, granting the controller less than
/// [`TARGET_ROLE`] for a while ([`Harness::grant_in_target_without`]).
const LIMITED_ROLE: &str = "configmap-mirror-into-limited";

/// Two namespaces, and the controller under test mirroring from the first into the second,
/// as its ServiceAccount.
pub struct Harness {
    pub admin: Client,
    pub source_ns: TestNamespace,
    pub target_ns: TestNamespace,
    /// The source namespace's ConfigMaps, as a user (admin).
    pub sources: Api<ConfigMap>,
    /// The target namespace's ConfigMaps, as a user (admin).
    pub targets: Api<ConfigMap>,
    start: StartInto,
    controller: ControllerUnderTest,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("source_ns", &self.source_ns)
            .field("target_ns", &self.target_ns)
            .finish_non_exhaustive()
    }
}

impl Harness {
    /// Two fresh namespaces, the roles bound in them, and the controller running.
    pub async fn start(start: StartInto, prefix: &str) -> anyhow::Result<Self> {
        let admin = crate::client().await;
        apply_manifest(RBAC).await;
        let source_ns = TestNamespace::create(&admin, prefix).await?;
        let target_ns =
            TestNamespace::create(&admin, &format!("{prefix}-copies")).await?;
        for (ns, role) in [(&source_ns, SOURCE_ROLE), (&target_ns, TARGET_ROLE)] {
            bind_cluster_role(&admin, ns.name(), role, SA_NAMESPACE, SA_NAME).await?;
        }
        // The API server's authorizer learns of a new RoleBinding a moment after it is
        // created: until then, the controller's first requests would be refused.
        let as_controller = service_account_client(SA_NAMESPACE, SA_NAME).await;
        wait_until(
            "the RoleBindings to take effect",
            Duration::from_secs(10),
            || async {
                for ns in [&source_ns, &target_ns] {
                    let api: Api<ConfigMap> =
                        Api::namespaced(as_controller.clone(), ns.name());
                    api.list(&ListParams::default().limit(1)).await?;
                }
                Ok(Some(()))
            },
        )
        .await?;
        let mut harness = Self {
            sources: Api::namespaced(admin.clone(), source_ns.name()),
            targets: Api::namespaced(admin.clone(), target_ns.name()),
            admin,
            source_ns,
            target_ns,
            start,
            controller: ControllerUnderTest::default(),
        };
        harness.start_controller().await;
        Ok(harness)
    }

    /// Starts the controller, as the ServiceAccount `configmap-mirror-into`.
    pub async fn start_controller(&mut self) {
        let as_controller = service_account_client(SA_NAMESPACE, SA_NAME).await;
        let controller = (self.start)(
            as_controller,
            self.source_ns.name().to_string(),
            self.target_ns.name().to_string(),
        );
        self.controller.start(controller);
    }

    /// Stops the controller at once, wherever it is: as a crash, or an uninstall, would.
    pub async fn stop_controller(&mut self) {
        self.controller.stop().await;
    }

    /// Creates a ConfigMap with `data` in the source namespace, managed or not.
    pub async fn create(
        &self,
        name: &str,
        managed: bool,
        data: &[(&str, &str)],
    ) -> anyhow::Result<ConfigMap> {
        crate::mirror::create(&self.sources, name, managed, data).await
    }

    /// [`Harness::start`], with the managed source `colors` created and mirrored: where
    /// most tests begin.
    pub async fn with_colors(start: StartInto, prefix: &str) -> anyhow::Result<Self> {
        let harness = Self::start(start, prefix).await?;
        harness.create("colors", true, &[("red", "#f00")]).await?;
        harness.converged("colors").await?;
        Ok(harness)
    }

    /// Deletes the source `name` as a user would; while it carries a finalizer, the API
    /// server only marks it Terminating.
    pub async fn delete_source(&self, name: &str) -> anyhow::Result<()> {
        self.sources
            .delete(name, &DeleteParams::background())
            .await?;
        Ok(())
    }

    /// Changes `name` in `api` as a user would, with a JSON merge `patch`.
    pub async fn edit(
        api: &Api<ConfigMap>,
        name: &str,
        patch: &serde_json::Value,
    ) -> anyhow::Result<ConfigMap> {
        crate::mirror::edit(api, name, patch).await
    }

    /// `target/<name>-synced`, once it mirrors `source/<name>` exactly and the source
    /// carries the finalizer.
    pub async fn converged(&self, name: &str) -> anyhow::Result<ConfigMap> {
        let target = self.target_ns.name();
        let what = format!(
            "{target}/{name}-synced to mirror {name}, which carries {FINALIZER}"
        );
        let state = || async {
            let source = self.sources.get(name).await?;
            let companion = self.targets.get_opt(&format!("{name}-synced")).await?;
            let why = match &companion {
                None => Some(format!("there is no {target}/{name}-synced")),
                Some(companion) => mirrors(&source, companion, target)
                    .map(|why| format!("{target}/{name}-synced does not mirror {name}: {why}")),
            }
            .or_else(|| {
                (!has_finalizer(&source)).then(|| {
                    format!(
                        "{name} does not carry {FINALIZER} (it has {:?}): without it, \
                         nothing would delete the companion when {name} goes",
                        source.finalizers()
                    )
                })
            });
            anyhow::Ok((companion, why))
        };
        let waited = self
            .wait(&what, FAST, || async {
                let (companion, why) = state().await?;
                Ok(companion.filter(|_| why.is_none()))
            })
            .await;
        match waited {
            Ok((companion, _)) => Ok(companion),
            Err(err) if self.gave_up() => Err(err),
            Err(err) => match state().await {
                Ok((_, Some(why))) => Err(err.context(why)),
                _ => Err(err),
            },
        }
    }

    /// Waits until the source `name` is gone, and its companion with it; fails at once if
    /// the source is gone while its companion is still there.
    pub async fn source_and_companion_gone(
        &self,
        name: &str,
        within: Duration,
    ) -> anyhow::Result<()> {
        let target = self.target_ns.name();
        let what = format!("{name} and {target}/{name}-synced to be gone");
        let waited = self
            .wait(&what, within, || async {
                let source = self.sources.get_opt(name).await?;
                let companion = self.targets.get_opt(&format!("{name}-synced")).await?;
                Ok(match (source, companion) {
                    (None, None) => Some(Ok(())),
                    (None, Some(_)) => Some(Err(anyhow::anyhow!(
                        "{name} is gone, but its companion {target}/{name}-synced is still \
                         there, and nothing will ever delete it: no garbage collector \
                         follows a source into another namespace, so the controller must \
                         delete the companion before the source may go (the finalizer)"
                    ))),
                    (Some(_), _) => None,
                })
            })
            .await;
        match waited {
            Ok((left_behind, _)) => left_behind,
            Err(err) if self.gave_up() => Err(err),
            Err(err) => {
                let stuck = self.sources.get_opt(name).await?;
                Err(match stuck {
                    Some(source) if source.metadata.deletion_timestamp.is_some() => err
                        .context(format!(
                            "{name} is still Terminating, with the finalizers {:?}: the \
                             controller has not taken {FINALIZER} off; {}",
                            source.finalizers(),
                            self.logged()
                        )),
                    _ => err.context(self.logged()),
                })
            }
        }
    }

    /// The last warnings the controller logged, to explain a wait that timed out.
    fn logged(&self) -> String {
        let lines = self.controller.log().lines();
        if lines.is_empty() {
            return "the controller logged no warning".into();
        }
        // Without the error's debug form, which repeats its message.
        let last: Vec<&str> = lines[lines.len().saturating_sub(3)..]
            .iter()
            .map(|line| line.split(" (Status {").next().unwrap_or_default())
            .collect();
        format!(
            "the controller's last warnings ({} of {}):\n{}",
            last.len(),
            lines.len(),
            last.join("\n")
        )
    }

    /// [`wait_until`], but failing at once if the controller stops (a `todo!`) or the API
    /// server refuses it a request (its RBAC lacks a verb): it would never get anywhere.
    pub async fn wait<T, F, Fut>(
        &self,
        what: &str,
        within: Duration,
        check: F,
    ) -> anyhow::Result<(T, Duration)>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        tokio::select! {
            waited = wait_until(what, within, check) => waited,
            gave_up = self.controller.gave_up() => match gave_up {
                GaveUp::Stopped(why) => anyhow::bail!(
                    "the controller under test stopped while waiting for {what}: {why} (its \
                     error or panic is above)"
                ),
                GaveUp::Refused(line) => anyhow::bail!(
                    "the API server refused the controller under test a request (403 \
                     Forbidden: the roles of manifests/{RBAC} bound in the test's \
                     namespaces do not grant it), so it cannot do its work: {line}"
                ),
            },
        }
    }

    /// Whether the controller stopped, or was refused a request: then a wait that failed
    /// says so itself, and what the cluster looks like is only a consequence.
    fn gave_up(&self) -> bool {
        self.controller.has_given_up()
    }

    /// Fails if the controller stopped.
    pub fn assert_running(&self) {
        self.controller.assert_running();
    }

    /// Adds [`OTHER_FINALIZER`], another controller's, to the source `name`, after the
    /// finalizers it has (a JSON patch that appends: it overwrites none of them).
    pub async fn add_other_finalizer(&self, name: &str) -> anyhow::Result<()> {
        let add_other = Patch::Json::<()>(serde_json::from_value(
            serde_json::json!([
                { "op": "add", "path": "/metadata/finalizers/-", "value": OTHER_FINALIZER },
            ]),
        )?);
        self.sources
            .patch(name, &PatchParams::default(), &add_other)
            .await?;
        Ok(())
    }

    /// A client that acts as the controller does: as its ServiceAccount.
    pub async fn as_controller() -> Client {
        service_account_client(SA_NAMESPACE, SA_NAME).await
    }

    /// Grants the controller, in the target namespace, what the manifest's role there
    /// grants but `left_out`, and returns once the API server applies it: how a test has
    /// some of the controller's requests fail for real (403 Forbidden), for as long as it
    /// wants. [`Harness::restore_target_grant`] gives the manifest's role back.
    pub async fn grant_in_target_without(
        &self,
        left_out: &[&str],
    ) -> anyhow::Result<()> {
        let verbs: Vec<String> = target_verbs()
            .into_iter()
            .filter(|verb| !left_out.contains(&verb.as_str()))
            .collect();
        let ns = self.target_ns.name();
        let bindings: Api<RoleBinding> = Api::namespaced(self.admin.clone(), ns);
        let roles: Api<Role> = Api::namespaced(self.admin.clone(), ns);
        let role = Role {
            metadata: ObjectMeta {
                name: Some(LIMITED_ROLE.into()),
                ..ObjectMeta::default()
            },
            rules: Some(vec![PolicyRule {
                api_groups: Some(vec![String::new()]),
                resources: Some(vec!["configmaps".into()]),
                verbs: verbs.clone(),
                ..PolicyRule::default()
            }]),
        };
        roles.create(&PostParams::default(), &role).await?;
        let binding = RoleBinding {
            metadata: ObjectMeta {
                name: Some(LIMITED_ROLE.into()),
                ..ObjectMeta::default()
            },
            role_ref: RoleRef {
                api_group: "rbac.authorization.k8s.io".into(),
                kind: "Role".into(),
                name: LIMITED_ROLE.into(),
            },
            subjects: Some(vec![Subject {
                kind: "ServiceAccount".into(),
                name: SA_NAME.into(),
                namespace: Some(SA_NAMESPACE.into()),
                ..Subject::default()
            }]),
        };
        bindings.create(&PostParams::default(), &binding).await?;
        bindings
            .delete(
                &format!("{TARGET_ROLE}-{SA_NAME}"),
                &DeleteParams::default(),
            )
            .await?;
        self.wait_for_grant(&verbs).await
    }

    /// Gives the controller the manifest's role in the target namespace back, after
    /// [`Harness::grant_in_target_without`], and returns once the API server applies it.
    pub async fn restore_target_grant(&self) -> anyhow::Result<()> {
        let ns = self.target_ns.name();
        bind_cluster_role(&self.admin, ns, TARGET_ROLE, SA_NAMESPACE, SA_NAME)
            .await?;
        let bindings: Api<RoleBinding> = Api::namespaced(self.admin.clone(), ns);
        bindings
            .delete(LIMITED_ROLE, &DeleteParams::default())
            .await?;
        self.wait_for_grant(&target_verbs()).await
    }

    /// Waits until the controller may do, of the verbs [`TARGET_ROLE`] grants on ConfigMaps
    /// in the target namespace, exactly `verbs`, as the API server's authorizer answers (it
    /// learns of a change to RBAC a moment after it is made).
    async fn wait_for_grant(&self, verbs: &[String]) -> anyhow::Result<()> {
        let reviews: Api<SubjectAccessReview> = Api::all(self.admin.clone());
        let ns = self.target_ns.name();
        let what = format!("the controller's grant in {ns} to be {verbs:?}");
        let all = target_verbs();
        wait_until(&what, Duration::from_secs(10), || async {
            for verb in &all {
                let review = SubjectAccessReview {
                    spec: SubjectAccessReviewSpec {
                        user: Some(format!(
                            "system:serviceaccount:{SA_NAMESPACE}:{SA_NAME}"
                        )),
                        resource_attributes: Some(ResourceAttributes {
                            namespace: Some(ns.into()),
                            verb: Some(verb.to_string()),
                            resource: Some("configmaps".into()),
                            ..ResourceAttributes::default()
                        }),
                        ..SubjectAccessReviewSpec::default()
                    },
                    ..SubjectAccessReview::default()
                };
                let answer = reviews.create(&PostParams::default(), &review).await?;
                let allowed = answer.status.is_some_and(|status| status.allowed);
                if allowed != verbs.contains(verb) {
                    return Ok(None);
                }
            }
            Ok(Some(()))
        })
        .await?;
        Ok(())
    }

    /// [`wait_until`], for a test that has the API server refuse the controller some
    /// requests on purpose: fails at once only if the controller stops.
    pub async fn wait_through_refusals<T, F, Fut>(
        &self,
        what: &str,
        within: Duration,
        check: F,
    ) -> anyhow::Result<(T, Duration)>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = anyhow::Result<Option<T>>>,
    {
        let stopped = async {
            while self.controller.is_running() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        tokio::select! {
            waited = wait_until(what, within, check) => waited,
            () = stopped => anyhow::bail!(
                "the controller under test stopped while waiting for {what} (its error or \
                 panic is above)"
            ),
        }
    }
}

impl Drop for Harness {
    /// The controller stops, so nothing would take the finalizer off the sources that still
    /// carry it, and the source namespace would stay Terminating for ever: the harness
    /// takes every finalizer off (as an operator would) before the namespaces go.
    fn drop(&mut self) {
        // The controller stops when it is dropped.
        self.controller = ControllerUnderTest::default();
        let ns = self.source_ns.name().to_string();
        clean_up(|client| async move {
            let api: Api<ConfigMap> = Api::namespaced(client, &ns);
            let patch = serde_json::json!({ "metadata": { "finalizers": null } });
            for cm in api.list(&ListParams::default()).await.ok()? {
                if !cm.finalizers().is_empty() {
                    let params = PatchParams::default();
                    let _ = api
                        .patch(&cm.name_any(), &params, &Patch::Merge(&patch))
                        .await;
                }
            }
            Some(())
        });
    }
}

/// The verbs [`TARGET_ROLE`] grants, as `manifests/rbac/mirror.yaml` has them.
fn target_verbs() -> Vec<String> {
    let objects = crate::manifest_objects(RBAC);
    let role = crate::find_object(&objects, "ClusterRole", TARGET_ROLE);
    serde_json::from_value(role["rules"][0]["verbs"].clone())
        .expect("the target role's first rule lists its verbs")
}

fn has_finalizer(cm: &ConfigMap) -> bool {
    cm.finalizers().iter().any(|f| f == FINALIZER)
}

/// Why `companion` is not a faithful copy of `source` kept in `target`, if it is not.
fn mirrors(
    source: &ConfigMap,
    companion: &ConfigMap,
    target: &str,
) -> Option<String> {
    if !same_content(source, companion) {
        return Some("its content differs".into());
    }
    let sum = companion.annotations().get(CHECKSUM);
    if !is_checksum(sum) {
        return Some(format!("its checksum is {sum:?}"));
    }
    if companion.namespace().as_deref() != Some(target) {
        return Some("it is in another namespace".into());
    }
    if !companion.owner_references().is_empty() {
        return Some("it has an owner reference".into());
    }
    let labels = companion.labels();
    if labels.get(SOURCE_NAMESPACE_LABEL) != source.namespace().as_ref()
        || labels.get(SOURCE_UID_LABEL) != source.uid().as_ref()
        || companion.annotations().get(SOURCE_NAME_ANNOTATION)
            != Some(&source.name_any())
    {
        return Some("it does not name its source".into());
    }
    None
}

pub async fn into_mirrors_a_source_into_the_other_namespace(
    start: StartInto,
) -> anyhow::Result<()> {
    let h = Harness::start(start, "into-mirror").await?;
    h.create("colors", true, &[("red", "#f00")]).await?;
    let first = h.converged("colors").await?;
    assert!(
        first.owner_references().is_empty(),
        "the companion in another namespace must have no owner reference: the garbage \
         collector deletes a ConfigMap whose owner it cannot find in its own namespace"
    );

    // It follows its source, and heals, as in the same namespace: a change to a companion
    // wakes its source through the labels that name it.
    Harness::edit(
        &h.sources,
        "colors",
        &serde_json::json!({ "data": { "red": "#ff0000" } }),
    )
    .await?;
    h.converged("colors").await?;
    h.targets
        .delete("colors-synced", &DeleteParams::default())
        .await?;
    let back = h.converged("colors").await?;
    assert_ne!(
        back.uid(),
        first.uid(),
        "a deleted companion comes back as a new object"
    );
    let edit = serde_json::json!({ "data": { "red": "edited by hand" } });
    Harness::edit(&h.targets, "colors-synced", &edit).await?;
    h.converged("colors").await?;
    h.assert_running();
    Ok(())
}

pub async fn into_only_managed_sources_carry_the_finalizer(
    start: StartInto,
) -> anyhow::Result<()> {
    let h = Harness::start(start, "into-plain").await?;
    let plain = h.create("plain", false, &[("a", "1")]).await?;
    h.create("colors", true, &[("red", "#f00")]).await?;
    h.converged("colors").await?;
    // A change to an unmanaged ConfigMap wakes the controller for it, too.
    let relabelled = Harness::edit(
        &h.sources,
        "plain",
        &serde_json::json!({ "metadata": { "labels": { "unrelated": "change" } } }),
    )
    .await?;
    tokio::time::sleep(A_WHILE).await;
    for cm in h.sources.list(&ListParams::default()).await? {
        let managed = cm.labels().get(MANAGED).is_some_and(|v| v == "true");
        assert!(
            managed || !has_finalizer(&cm),
            "{} is not managed, yet carries {FINALIZER}: there is nothing to clean up when \
             it goes, and while the controller is down its deletion would wait for nothing",
            cm.name_any()
        );
    }
    let after = h.sources.get("plain").await?;
    assert_eq!(
        after.resource_version(),
        relabelled.resource_version(),
        "plain (not managed, never was) was written to: a ConfigMap without the finalizer \
         costs no request"
    );
    assert_ne!(after.resource_version(), plain.resource_version());
    assert!(
        h.targets.get_opt("plain-synced").await?.is_none(),
        "plain is not managed: it has no companion"
    );
    h.assert_running();
    Ok(())
}

pub async fn into_deleting_a_source_deletes_its_companion_first(
    start: StartInto,
) -> anyhow::Result<()> {
    let h = Harness::with_colors(start, "into-delete").await?;
    h.delete_source("colors").await?;
    h.source_and_companion_gone("colors", FAST).await?;
    h.assert_running();
    Ok(())
}

pub async fn into_unmanaging_removes_the_companion_then_the_finalizer(
    start: StartInto,
) -> anyhow::Result<()> {
    let mut h = Harness::with_colors(start, "into-unmanage").await?;
    // Another controller's finalizer, which this one must leave alone.
    h.add_other_finalizer("colors").await?;
    // For a while, the companion cannot be deleted: the API server refuses the controller
    // that (403 Forbidden), as a crash between the two writes, or a failed request, would
    // leave it undone.
    let target = h.target_ns.name().to_string();
    h.grant_in_target_without(&["delete"]).await?;
    let unmanage = serde_json::json!({ "metadata": { "labels": { MANAGED: null } } });
    Harness::edit(&h.sources, "colors", &unmanage).await?;
    let state = || async {
        let companion = h.targets.get_opt("colors-synced").await?;
        let source = h.sources.get("colors").await?;
        anyhow::Ok((companion.is_some(), has_finalizer(&source)))
    };
    let until = tokio::time::Instant::now() + A_WHILE;
    while tokio::time::Instant::now() < until {
        let (companion, finalizer) = state().await?;
        assert!(
            finalizer || !companion,
            "{FINALIZER} came off colors while its companion {target}/colors-synced could \
             not be deleted (the test had the API server refuse the controller deletions in \
             {target} for a while, as a crash between the two writes would leave it): \
             nothing will ever delete that companion now. The companion goes first, and \
             the finalizer comes off only once it is gone"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.restore_target_grant().await?;

    let what = format!(
        "{target}/colors-synced to be deleted, and then {FINALIZER} to come off colors"
    );
    let waited = h
        .wait_through_refusals(&what, FAST, || async {
            Ok(match state().await? {
                (false, false) => Some(Ok(())),
                (true, false) => Some(Err(anyhow::anyhow!(
                    "{FINALIZER} came off colors while its companion {target}/colors-synced \
                     is still there: nothing will delete it now"
                ))),
                _ => None,
            })
        })
        .await;
    let still = match waited {
        Ok((released, _)) => released,
        Err(err) if !h.controller.is_running() => Err(err),
        Err(err) => Err(match state().await {
            Ok((companion, _)) => err.context(format!(
                "colors is no longer managed, yet it still carries {FINALIZER}{}: its \
                 deletion would wait for this controller, and for ever while it is down",
                if companion {
                    format!(", and its companion {target}/colors-synced is still there")
                } else {
                    " (its companion is gone)".to_string()
                }
            )),
            Err(_) => err,
        }),
    };
    still?;
    let finalizers = h.sources.get("colors").await?.finalizers().to_vec();
    assert_eq!(
        finalizers,
        [OTHER_FINALIZER],
        "colors must keep the finalizer of another controller, {OTHER_FINALIZER}: only \
         {FINALIZER} is this controller's to remove"
    );
    // Its deletion no longer needs this controller at all (the other one lets go too).
    h.stop_controller().await;
    let no_other = serde_json::json!({ "metadata": { "finalizers": null } });
    Harness::edit(&h.sources, "colors", &no_other).await?;
    h.delete_source("colors").await?;
    wait_until(
        "colors, no longer managed, to be deleted while the controller is down",
        A_WHILE,
        || async { Ok(h.sources.get_opt("colors").await?.is_none().then_some(())) },
    )
    .await?;
    Ok(())
}

pub async fn into_a_source_whose_companion_is_gone_is_deleted_all_the_same(
    start: StartInto,
) -> anyhow::Result<()> {
    let mut h = Harness::with_colors(start, "into-gone").await?;
    // Someone deletes the companion, then the source, while the controller is down: when
    // it is back, the cleanup finds nothing to delete. That is what it wanted.
    h.stop_controller().await;
    h.targets
        .delete("colors-synced", &DeleteParams::default())
        .await?;
    h.delete_source("colors").await?;
    h.start_controller().await;
    h.source_and_companion_gone("colors", FAST)
        .await
        .map_err(|err| {
            err.context(
                "colors was deleted while the controller was down, after someone had \
                 deleted its companion",
            )
        })?;
    h.assert_running();
    Ok(())
}

pub async fn into_a_cleanup_that_cannot_read_the_companion_keeps_the_finalizer(
    start: StartInto,
) -> anyhow::Result<()> {
    let h = Harness::with_colors(start, "into-unread").await?;
    // For a while, the controller may not read ConfigMaps in the target namespace one by
    // one: the cleanup's look at the companion fails with 403 Forbidden, as it could for
    // any reason (a timeout, an API server restarting), none of which means "gone".
    let target = h.target_ns.name().to_string();
    h.grant_in_target_without(&["get"]).await?;
    h.delete_source("colors").await?;
    let until = tokio::time::Instant::now() + A_WHILE;
    while tokio::time::Instant::now() < until {
        let source = h.sources.get_opt("colors").await?;
        let kept = source.as_ref().is_some_and(has_finalizer);
        if !kept {
            let companion = h.targets.get_opt("colors-synced").await?;
            anyhow::bail!(
                "colors was deleted, and the controller's look at its companion failed (the \
                 test had the API server refuse it `get` in {target}: 403 Forbidden); yet \
                 {FINALIZER} came off colors{}. Only a 404 Not Found says the companion is \
                 gone; any other error leaves the cleanup undone, and the finalizer on, for \
                 a retry",
                if companion.is_some() {
                    format!(", and {target}/colors-synced is left behind for good")
                } else {
                    String::new()
                }
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.restore_target_grant().await?;
    let what = format!("colors and {target}/colors-synced to be gone");
    h.wait_through_refusals(&what, FAST, || async {
        let source = h.sources.get_opt("colors").await?;
        let companion = h.targets.get_opt("colors-synced").await?;
        Ok((source.is_none() && companion.is_none()).then_some(()))
    })
    .await?;
    h.assert_running();
    Ok(())
}

pub async fn into_a_cleanup_reads_the_companion_from_the_api_server(
    start: StartInto,
) -> anyhow::Result<()> {
    let mut h = Harness::with_colors(start, "into-behind").await?;
    // The controller, started again, may read, write and delete ConfigMaps in the target
    // namespace, but not list or watch them: its cache of that namespace stays empty, as a
    // cache that is behind has not got a companion created a moment ago yet.
    h.stop_controller().await;
    let target = h.target_ns.name().to_string();
    h.grant_in_target_without(&["list", "watch"]).await?;
    h.delete_source("colors").await?;
    h.start_controller().await;
    let what = "colors to be gone".to_string();
    h.wait_through_refusals(&what, FAST, || async {
        Ok(h.sources.get_opt("colors").await?.is_none().then_some(()))
    })
    .await?;
    assert!(
        h.targets.get_opt("colors-synced").await?.is_none(),
        "colors is gone, and its companion {target}/colors-synced is left behind for good: \
         the cleanup looked for the companion in the controller's cache, which did not hold \
         it (the test kept the controller from listing {target}, as a cache that is behind \
         would not hold a companion created a moment ago). The cleanup is the last look \
         before the finalizer comes off: it asks the API server"
    );
    h.assert_running();
    Ok(())
}

pub async fn into_a_source_deleted_while_the_controller_is_down_waits_for_it(
    start: StartInto,
) -> anyhow::Result<()> {
    let mut h = Harness::with_colors(start, "into-down").await?;
    h.stop_controller().await;
    h.delete_source("colors").await?;
    tokio::time::sleep(A_WHILE).await;
    let target = h.target_ns.name();
    let Some(terminating) = h.sources.get_opt("colors").await? else {
        anyhow::bail!(
            "colors, deleted while the controller was down, is gone already, and \
             {target}/colors-synced with it? {}: the API server keeps a source that \
             carries {FINALIZER} until the controller takes it off",
            if h.targets.get_opt("colors-synced").await?.is_some() {
                "no, the companion is left behind"
            } else {
                "yes"
            }
        );
    };
    assert!(
        terminating.metadata.deletion_timestamp.is_some()
            && has_finalizer(&terminating),
        "colors, deleted while the controller is down, must wait Terminating (a \
         deletionTimestamp, and {FINALIZER} still there); it has the finalizers {:?}",
        terminating.finalizers()
    );
    assert!(
        h.targets.get_opt("colors-synced").await?.is_some(),
        "{target}/colors-synced went while the controller was down"
    );
    h.start_controller().await;
    h.source_and_companion_gone("colors", FAST).await?;
    h.assert_running();
    Ok(())
}

/// What an operator's `kubectl patch --type json` that takes the finalizer off costs: the
/// source goes at once, and its companion stays, for good.
pub async fn into_removing_the_finalizer_by_hand_leaves_the_companion_behind(
    start: StartInto,
) -> anyhow::Result<()> {
    let mut h = Harness::with_colors(start, "into-unstick").await?;
    h.stop_controller().await;
    h.delete_source("colors").await?;
    let stuck = h.sources.get("colors").await?;
    let index = stuck
        .finalizers()
        .iter()
        .position(|f| f == FINALIZER)
        .ok_or_else(|| anyhow::anyhow!("colors does not carry {FINALIZER}"))?;
    let path = format!("/metadata/finalizers/{index}");
    let unstick = Patch::Json::<()>(serde_json::from_value(serde_json::json!([
        { "op": "test", "path": path, "value": FINALIZER },
        { "op": "remove", "path": path },
    ]))?);
    h.sources
        .patch("colors", &PatchParams::default(), &unstick)
        .await?;
    wait_until("colors to go once unstuck", A_WHILE, || async {
        Ok(h.sources.get_opt("colors").await?.is_none().then_some(()))
    })
    .await?;
    h.start_controller().await;
    tokio::time::sleep(A_WHILE).await;
    assert!(
        h.targets.get_opt("colors-synced").await?.is_some(),
        "the companion of a source whose finalizer was taken off by hand is left behind: \
         the operator who did it deletes it too"
    );
    h.assert_running();
    Ok(())
}

pub async fn into_never_deletes_a_foreign_configmap_in_the_target_namespace(
    start: StartInto,
) -> anyhow::Result<()> {
    let h = Harness::start(start, "into-foreign").await?;
    let foreign = h
        .targets
        .create(
            &PostParams::default(),
            &crate::configmap("x-synced", &[("mine", "precious")]),
        )
        .await?;
    h.create("x", true, &[("a", "1")]).await?;
    let events: Api<Event> = Api::namespaced(h.admin.clone(), h.source_ns.name());
    let target = h.target_ns.name();
    let (note, _) = h
        .wait("a CompanionExists Event on x", FAST, || async {
            let list = events.list(&ListParams::default()).await?;
            Ok(list
                .items
                .into_iter()
                .find(|e| reports_companion_exists(e, "x"))
                .map(|e| e.note))
        })
        .await?;
    let note = note.unwrap_or_default();
    assert!(
        note.contains(&format!("{target}/x-synced")),
        "the CompanionExists Event must name the ConfigMap in the other namespace \
         ({target}/x-synced); its note is {note:?}"
    );
    h.delete_source("x").await?;
    h.wait("x to be deleted", FAST, || async {
        Ok(h.sources.get_opt("x").await?.is_none().then_some(()))
    })
    .await?;
    let after = h.targets.get_opt("x-synced").await?;
    assert_eq!(
        after.and_then(|cm| cm.resource_version()),
        foreign.resource_version(),
        "{target}/x-synced, which x never controlled, was written to or deleted"
    );
    h.assert_running();
    Ok(())
}

/// Every verb the controller needs works, as its ServiceAccount; every other one is
/// refused, with 403 Forbidden. Real requests, not a review: what a controller would get.
pub async fn into_the_service_account_may_do_exactly_what_it_needs(
    start: StartInto,
) -> anyhow::Result<()> {
    let h = Harness::start(start, "into-rbac").await?;
    let other = TestNamespace::create(&h.admin, "into-rbac-other").await?;
    let as_controller = service_account_client(SA_NAMESPACE, SA_NAME).await;
    let sources: Api<ConfigMap> =
        Api::namespaced(as_controller.clone(), h.source_ns.name());
    let targets: Api<ConfigMap> =
        Api::namespaced(as_controller.clone(), h.target_ns.name());
    let elsewhere: Api<ConfigMap> =
        Api::namespaced(as_controller.clone(), other.name());
    let secrets: Api<Secret> = Api::namespaced(as_controller, h.source_ns.name());
    h.create("probe", false, &[("a", "1")]).await?;
    let (lp, pp, dp) = (
        ListParams::default(),
        PostParams::default(),
        DeleteParams::default(),
    );
    let touch = serde_json::json!({ "metadata": { "labels": { "probed": "yes" } } });
    let patch = Patch::Merge(&touch);
    let pmp = PatchParams::default();
    let mut copy = crate::configmap("probe-synced", &[("a", "1")]);

    // What it needs.
    allowed(
        "list ConfigMaps in the source namespace (its cache)",
        sources.list(&lp).await,
    )?;
    allowed(
        "patch ConfigMaps in the source namespace (to add and remove the finalizer)",
        sources.patch("probe", &pmp, &patch).await,
    )?;
    allowed(
        "list ConfigMaps in the target namespace (its cache)",
        targets.list(&lp).await,
    )?;
    copy = allowed(
        "create ConfigMaps in the target namespace (a companion)",
        targets.create(&pp, &copy).await,
    )?;
    allowed(
        "get ConfigMaps in the target namespace (the cleanup's last look)",
        targets.get("probe-synced").await,
    )?;
    allowed(
        "update ConfigMaps in the target namespace (a companion that drifted)",
        targets.replace("probe-synced", &pp, &copy).await,
    )?;
    allowed(
        "delete ConfigMaps in the target namespace (a companion whose source goes)",
        targets.delete("probe-synced", &dp).await,
    )?;

    // Nothing else.
    refused(
        "get ConfigMaps in the source namespace",
        sources.get("probe").await,
    )?;
    refused(
        "create ConfigMaps in the source namespace",
        sources.create(&pp, &crate::configmap("new", &[])).await,
    )?;
    refused(
        "update ConfigMaps in the source namespace",
        sources
            .replace("probe", &pp, &h.sources.get("probe").await?)
            .await,
    )?;
    refused(
        "delete ConfigMaps in the source namespace",
        sources.delete("probe", &dp).await,
    )?;
    h.targets
        .create(&pp, &crate::configmap("theirs", &[]))
        .await?;
    refused(
        "patch ConfigMaps in the target namespace",
        targets.patch("theirs", &pmp, &patch).await,
    )?;
    refused(
        "list ConfigMaps in any other namespace",
        elsewhere.list(&lp).await,
    )?;
    refused("list Secrets", secrets.list(&lp).await)?;
    Ok(())
}

/// `result` of a request the controller needs: it must succeed.
fn allowed<T>(what: &str, result: Result<T, kube::Error>) -> anyhow::Result<T> {
    result.map_err(|err| {
        anyhow::anyhow!(
            "as {SA_NAMESPACE}/{SA_NAME}, the controller must be allowed to {what}, but the \
             API server answered: {err}. Grant it in manifests/{RBAC}."
        )
    })
}

/// `result` of a request the controller does not need: the API server must refuse it.
fn refused<T>(what: &str, result: Result<T, kube::Error>) -> anyhow::Result<()> {
    let answer = match result {
        Err(kube::Error::Api(status)) if status.is_forbidden() => return Ok(()),
        Ok(_) => "with success".to_string(),
        Err(err) => err.to_string(),
    };
    anyhow::bail!(
        "as {SA_NAMESPACE}/{SA_NAME}, the controller must not be allowed to {what} (it \
         never needs to: 403 Forbidden expected), but the API server answered {answer}. \
         Take it out of manifests/{RBAC}."
    )
}

/// Expands to one `#[tokio::test]` per test of the suite, each running `$start`.
#[macro_export]
macro_rules! mirror_into_suite {
    ($start:path) => {
        $crate::mirror_into_suite!(@tests $start,
            into_mirrors_a_source_into_the_other_namespace,
            into_only_managed_sources_carry_the_finalizer,
            into_deleting_a_source_deletes_its_companion_first,
            into_unmanaging_removes_the_companion_then_the_finalizer,
            into_a_source_whose_companion_is_gone_is_deleted_all_the_same,
            into_a_cleanup_that_cannot_read_the_companion_keeps_the_finalizer,
            into_a_cleanup_reads_the_companion_from_the_api_server,
            into_a_source_deleted_while_the_controller_is_down_waits_for_it,
            into_removing_the_finalizer_by_hand_leaves_the_companion_behind,
            into_never_deletes_a_foreign_configmap_in_the_target_namespace,
            into_the_service_account_may_do_exactly_what_it_needs,
        );
    };
    (@tests $start:path, $($name:ident,)*) => {
        $(
            #[tokio::test]
            #[ignore = "end-to-end: needs a cluster (scripts/check.sh runs it)"]
            async fn $name() -> anyhow::Result<()> {
                $crate::mirror_into::$name($start).await
            }
        )*
    };
}
