//! The mirror into another namespace: `--namespace A --into B` keeps the companion of
//! `A/colors` in `B/colors-synced`.
//!
//! An owner reference cannot cross namespaces. The garbage collector looks for the
//! owner in the companion's own namespace, finds nothing, takes the reference for one
//! whose owner is gone, and deletes the companion. So the companion carries no owner
//! reference, only labels naming its source, and nothing deletes it when its source
//! goes, unless this controller does. It can only if it sees the deletion: a deleted
//! object is gone from the watch, and a deleted root is not reconciled. Hence a
//! *finalizer* on every managed source, `workshop.io/companion-cleanup`: the API
//! server keeps a source that has one, marked with a `deletionTimestamp`
//! (Terminating), until the controller has deleted the companion and taken its
//! finalizer off.
//!
//! Three decisions are yours (exercises 5.5 to 5.7): which sources carry the
//! finalizer, when it comes off again, and what a cleanup that finds nothing to clean
//! up means.

use std::future::Future;
use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::controller::{self, Action};
use kube::runtime::finalizer::{self, finalizer};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{Controller, WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};
use mirror::Mirror;
use mirror::desired::{self, InvalidSource, Plan};
use workqueue::ObjectBackoff;
use workqueue::reconcile::FailFirst;

use crate::{BASE_DELAY, Error, MAX_DELAY, lean_watch};

// ANCHOR: into_constants
/// On every managed source: this controller's promise to delete the source's
/// companion before the source goes.
pub const FINALIZER: &str = "workshop.io/companion-cleanup";
/// On a companion: the namespace of its source (`kubectl get cm -l` selects by it).
pub const SOURCE_NAMESPACE_LABEL: &str = "workshop.io/source-namespace";
/// On a companion: the uid of its source. A source deleted and created again under
/// the same name is another object, with another uid, and does not control the
/// companion of the first.
pub const SOURCE_UID_LABEL: &str = "workshop.io/source-uid";
/// On a companion: the name of its source (an annotation: a ConfigMap's name can be
/// too long for a label value, which holds at most 63 characters).
pub const SOURCE_NAME_ANNOTATION: &str = "workshop.io/source-name";
// ANCHOR_END: into_constants

// ANCHOR: into_desired
/// The companion `source` should have in `namespace`: step 04's, moved there, with
/// labels and an annotation that name its source instead of an owner reference.
pub fn desired_companion(
    source: &ConfigMap,
    namespace: &str,
) -> Result<ConfigMap, InvalidSource> {
    let mut companion = desired::desired_companion(source)?;
    companion.metadata.namespace = Some(namespace.into());
    companion.metadata.owner_references = None;
    let labels = companion.labels_mut();
    labels.insert(
        SOURCE_NAMESPACE_LABEL.into(),
        source.namespace().unwrap_or_default(),
    );
    labels.insert(SOURCE_UID_LABEL.into(), source.uid().unwrap_or_default());
    companion
        .annotations_mut()
        .insert(SOURCE_NAME_ANNOTATION.into(), source.name_any());
    Ok(companion)
}

/// Whether `companion` is the one `source` made: it names the source's uid.
pub fn controls(source: &ConfigMap, companion: &ConfigMap) -> bool {
    source
        .uid()
        .is_some_and(|uid| companion.labels().get(SOURCE_UID_LABEL) == Some(&uid))
}

/// What to do about the companion of a managed source that is not being deleted (the
/// only kind the finalizer helper hands to `apply`): step 04's plan, across
/// namespaces. `companion` is the cached `namespace/<name>-synced`, if any.
pub fn plan(
    source: &ConfigMap,
    companion: Option<&ConfigMap>,
    namespace: &str,
) -> Plan {
    let mut desired = match desired_companion(source, namespace) {
        Ok(desired) => desired,
        Err(invalid) => return Plan::Invalid(invalid),
    };
    let Some(actual) = companion else {
        return Plan::Create(desired);
    };
    if !controls(source, actual) {
        return Plan::Blocked {
            companion: format!("{namespace}/{}", actual.name_any()),
        };
    }
    if desired::same_content(actual, &desired) {
        return Plan::Nothing;
    }
    desired.metadata.resource_version = actual.resource_version();
    Plan::Update(desired)
}

/// The source whose companion `cm` is, when that source is in `source_namespace`: how
/// a change to a companion wakes its source, with no owner reference to follow.
pub fn source_of(
    cm: &ConfigMap,
    source_namespace: &str,
) -> Option<ObjectRef<ConfigMap>> {
    let namespace = cm.labels().get(SOURCE_NAMESPACE_LABEL)?;
    let name = cm.annotations().get(SOURCE_NAME_ANNOTATION)?;
    (namespace == source_namespace).then(|| ObjectRef::new(name).within(namespace))
}
// ANCHOR_END: into_desired

// ANCHOR: into_context
/// What every reconcile of the mirror into another namespace shares.
pub struct Context {
    /// Step 04's mirror (its writes and Events) and the per-source backoff, as in
    /// the same-namespace mirror.
    base: Arc<crate::Context>,
    /// The sources' namespace: the finalizer is added and removed there.
    sources: Api<ConfigMap>,
    /// The target namespace: companions are written and deleted there.
    target: Api<ConfigMap>,
    /// The cache of the target namespace, filled by a watch of its own.
    companions: Store<ConfigMap>,
}
// ANCHOR_END: into_context

impl Context {
    /// The context of a mirror from the namespace `namespace` into `into`, its objects
    /// read from `sources` and `companions`, the caches of the two namespaces.
    pub fn new(
        client: Client,
        namespace: &str,
        into: &str,
        sources: Store<ConfigMap>,
        companions: Store<ConfigMap>,
    ) -> Self {
        Self {
            base: Arc::new(crate::Context {
                mirror: Mirror::new(client.clone(), sources.clone()),
                backoff: ObjectBackoff::new(sources, BASE_DELAY, MAX_DELAY),
                fail_first: FailFirst::new(0),
            }),
            sources: Api::namespaced(client.clone(), namespace),
            target: Api::namespaced(client, into),
            companions,
        }
    }
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("target", &self.target.namespace())
            .finish_non_exhaustive()
    }
}

// ANCHOR: into_reconcile
/// Reconciles one ConfigMap of the source namespace.
pub async fn reconcile(
    source: Arc<ConfigMap>,
    ctx: Arc<Context>,
) -> Result<Action, Error> {
    let action = match decide(source.clone(), &ctx).await {
        // A reconcile woken while the one before it cleaned the source up (by the
        // deletion of its companion) finds the source in the cache still, cleans up
        // again (nothing left: done), and finds the source gone when it takes the
        // finalizer off: it is done too.
        Err(Error::Finalizer(err)) if finalizer_gone(&err) => Action::await_change(),
        result => result?,
    };
    ctx.base.backoff.forget(source.as_ref());
    Ok(action)
}

/// What one ConfigMap of the source namespace needs: the finalizer helper's
/// reconcile, a release, or nothing at all.
async fn decide(source: Arc<ConfigMap>, ctx: &Context) -> Result<Action, Error> {
    // EXERCISE 5.5: Put the finalizer on the managed sources, and on no
    //     other ConfigMap.
    // A managed source carries FINALIZER before its companion is first written, and
    // once it is deleted, its companion goes before it does: `apply` and `cleanup`
    // below do the work, kube-runtime's finalizer helper decides which one is due.
    // No other ConfigMap of the namespace ever gets the finalizer, nor costs a
    // request; one that still carries it from when it was managed is `release`d
    // (exercise 5.6).
    // Proved by: into_mirrors_a_source_into_the_other_namespace,
    //   into_only_managed_sources_carry_the_finalizer,
    //   into_deleting_a_source_deletes_its_companion_first,
    //   into_a_source_deleted_while_the_controller_is_down_waits_for_it
    // Needs: 5.2, 5.3
    // Path: stretch, 20 min
    // Book: "Step 05 > Exercise 5.5: which sources carry the finalizer"
    // BEGIN SOLUTION
    if desired::is_managed(&source) {
        let action = finalizer(&ctx.sources, FINALIZER, source, |event| async {
            match event {
                finalizer::Event::Apply(source) => ctx.apply(&source).await,
                finalizer::Event::Cleanup(source) => ctx.cleanup(&source).await,
            }
        })
        .await?;
        Ok(action)
    } else if source.finalizers().iter().any(|f| f == FINALIZER) {
        Ok(ctx.release(&source).await?)
    } else {
        Ok(Action::await_change())
    }
    // END SOLUTION
}

/// Whether the helper failed to take the finalizer off because the object is gone.
fn finalizer_gone(err: &finalizer::Error<mirror::Error>) -> bool {
    let finalizer::Error::RemoveFinalizer(kube::Error::Api(status)) = err else {
        return false;
    };
    status.is_not_found()
}
// ANCHOR_END: into_reconcile

/// A failed reconcile is retried as in the same-namespace mirror: 5 ms, 10 ms, 20
/// ms... per source.
pub fn error_policy(
    source: Arc<ConfigMap>,
    error: &Error,
    ctx: Arc<Context>,
) -> Action {
    crate::error_policy(source, error, ctx.base.clone())
}

/// The finalizer helper wraps the errors of `apply` and `cleanup` in its own:
/// unwrapped again, they are the mirror's own (`error_policy` logs a `CacheBehind`
/// quietly). Only the helper's own failures, adding or removing the finalizer, stay
/// wrapped.
impl From<finalizer::Error<mirror::Error>> for Error {
    fn from(err: finalizer::Error<mirror::Error>) -> Self {
        match err {
            finalizer::Error::ApplyFailed(err)
            | finalizer::Error::CleanupFailed(err) => Error::Mirror(err),
            other => Error::Finalizer(Box::new(other)),
        }
    }
}

impl Context {
    // ANCHOR: into_apply
    /// The source lives: its companion in the target namespace matches it.
    async fn apply(&self, source: &ConfigMap) -> Result<Action, mirror::Error> {
        let name = desired::companion_name(&source.name_any());
        let namespace = self.target.namespace().unwrap_or_default();
        let cached = self
            .companions
            .get(&ObjectRef::new(&name).within(namespace));
        let plan = plan(source, cached.as_deref(), namespace);
        self.base
            .mirror
            .carry_out(namespace, Some(source), plan)
            .await?;
        Ok(Action::await_change())
    }
    // ANCHOR_END: into_apply

    // ANCHOR: into_cleanup
    /// The source is going: its companion goes first, if it is the source's. Also
    /// called by `release`.
    async fn cleanup(&self, source: &ConfigMap) -> Result<Action, mirror::Error> {
        let name = desired::companion_name(&source.name_any());
        let namespace = self.target.namespace().unwrap_or_default();
        // DIAGNOSE 5.7: Deleted sources stay Terminating for ever: find
        //     out why, and fix it.
        // Most sources are deleted with no trouble, yet some never go: kubectl shows
        // them Terminating, with FINALIZER, for good. Find which ones, and why, from
        // the failing test and the controller's log, before you change anything.
        // Proved by: into_a_source_whose_companion_is_gone_is_deleted_all_the_same,
        //   into_a_cleanup_that_cannot_read_the_companion_keeps_the_finalizer,
        //   into_a_cleanup_reads_the_companion_from_the_api_server
        // Needs: 5.2, 5.3, 5.5
        // Path: stretch, 15 min
        // Book: "Step 05 > Exercise 5.7: sources that never go"
        // BEGIN SOLUTION
        // The last look: once the finalizer is off, nothing comes back for this
        // companion. So ask the API server, not the cache, which may not hold yet a
        // companion created a moment ago.
        let Some(companion) = self.target.get_opt(&name).await? else {
            return Ok(Action::await_change());
        };
        if !controls(source, &companion) {
            // Someone else's ConfigMap that has the companion's name: not ours.
            return Ok(Action::await_change());
        }
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: companion.uid(),
                ..Preconditions::default()
            }),
            ..DeleteParams::default()
        };
        match self.target.delete(&name, &params).await {
            Ok(_) => tracing::info!(
                action = "delete",
                companion = format!("{namespace}/{name}"),
                "deleted companion"
            ),
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(err) => return Err(err.into()),
        }
        Ok(Action::await_change())
        // STARTER
        // // The last look: once the finalizer is off, nothing comes back for
        // // this companion. So ask the API server, not the cache, which may not
        // // hold yet a companion created a moment ago.
        // let companion = self.target.get(&name).await?;
        // if !controls(source, &companion) {
        //     // Someone else's ConfigMap that has the companion's name: not ours.
        //     return Ok(Action::await_change());
        // }
        // let params = DeleteParams {
        //     preconditions: Some(Preconditions {
        //         uid: companion.uid(),
        //         ..Preconditions::default()
        //     }),
        //     ..DeleteParams::default()
        // };
        // match self.target.delete(&name, &params).await {
        //     Ok(_) => tracing::info!(
        //         action = "delete",
        //         companion = format!("{namespace}/{name}"),
        //         "deleted companion"
        //     ),
        //     Err(kube::Error::Api(status)) if status.is_not_found() => {}
        //     Err(err) => return Err(err.into()),
        // }
        // Ok(Action::await_change())
        // END SOLUTION
    }
    // ANCHOR_END: into_cleanup

    // ANCHOR: into_release
    /// A ConfigMap that is not managed, but still carries the finalizer from when it
    /// was.
    async fn release(&self, source: &ConfigMap) -> Result<Action, mirror::Error> {
        // EXERCISE 5.6: Let go of a source that is no longer managed.
        // Whether it is being deleted or not, a ConfigMap that lost its label keeps
        // no companion in the target namespace, and then no FINALIZER: its deletion
        // must never wait for this controller. The finalizers of others stay on it,
        // and a change that someone made since the cache saw it is never overwritten.
        // Proved by: into_unmanaging_removes_the_companion_then_the_finalizer,
        //   into_a_release_never_overwrites_a_change_it_has_not_seen
        // Needs: 5.2, 5.3, 5.5
        // Path: stretch, 15 min
        // Book: "Step 05 > Exercise 5.6: letting go of a source"
        // BEGIN SOLUTION
        self.cleanup(source).await?;
        // The resourceVersion makes the patch conditional: if the ConfigMap changed
        // since the cache saw it (another finalizer added, say), the API server
        // answers 409 Conflict, and the retry starts from the new version.
        let others: Vec<&String> = source
            .finalizers()
            .iter()
            .filter(|f| *f != FINALIZER)
            .collect();
        let patch = serde_json::json!({
            "metadata": {
                "finalizers": others,
                "resourceVersion": source.resource_version(),
            }
        });
        self.sources
            .patch(
                &source.name_any(),
                &PatchParams::default(),
                &Patch::Merge(&patch),
            )
            .await?;
        tracing::info!(
            action = "release",
            source = source.name_any(),
            "source no longer managed; removed the finalizer"
        );
        Ok(Action::await_change())
        // END SOLUTION
    }
    // ANCHOR_END: into_release
}

// ANCHOR: into_start
/// Runs the mirror from the namespace `namespace` into the namespace `into` until
/// `shutdown` completes. Two watches, each filling the cache that reconcile reads
/// its objects from: the sources', and the target namespace's.
pub async fn start(
    client: Client,
    namespace: &str,
    into: &str,
    workers: u16,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let (source_store, source_writer) = reflector::store();
    let (companions, companion_writer) = reflector::store();
    let ctx = Arc::new(Context::new(
        client,
        namespace,
        into,
        source_store.clone(),
        companions,
    ));
    let config = watcher::Config::default();
    let source_events =
        lean_watch(ctx.sources.clone(), config.clone(), source_writer);
    let companion_events = lean_watch(ctx.target.clone(), config, companion_writer);
    // A source's failure count goes when the source does (the runtime never
    // reconciles a source that is gone): the watch tells the backoff.
    let gone = ctx.clone();
    let source_events = source_events.inspect(move |event| {
        if let Ok(event) = event {
            gone.base.backoff.observe(event);
        }
    });
    let source_namespace = namespace.to_string();
    let results =
        Controller::for_stream(logged(source_events.applied_objects()), source_store)
            .watches_stream(logged(companion_events.touched_objects()), move |cm| {
                source_of(&cm, &source_namespace)
            })
            .with_config(controller::Config::default().concurrency(workers))
            .graceful_shutdown_on(connect::shareable_shutdown(shutdown))
            .run(reconcile, error_policy, ctx);
    connect::log_results(results).await;
}
// ANCHOR_END: into_start

/// The objects of a watch, its failures logged (the watcher retries by itself, with
/// backoff): a watch refused for want of a permission says so at once.
fn logged(
    objects: impl Stream<Item = Result<ConfigMap, watcher::Error>> + Send + 'static,
) -> impl Stream<Item = Result<ConfigMap, watcher::Error>> + Send + 'static {
    objects.filter_map(|object| async move {
        match object {
            Ok(cm) => Some(Ok(cm)),
            Err(err) => {
                tracing::warn!(error = %err, "watch failed; retrying");
                None
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(name: &str) -> ConfigMap {
        let mut cm = workshop_testkit::configmap(name, &[("red", "#f00")]);
        cm.metadata.namespace = Some("a".into());
        cm.metadata.uid = Some(format!("uid-{name}"));
        cm.labels_mut()
            .insert(desired::MANAGED_LABEL.into(), "true".into());
        cm
    }

    #[test]
    fn a_companion_elsewhere_has_labels_not_an_owner_reference() {
        let companion = desired_companion(&source("colors"), "b").unwrap();
        assert_eq!(companion.namespace().as_deref(), Some("b"));
        assert_eq!(companion.name_any(), "colors-synced");
        assert!(
            companion.owner_references().is_empty(),
            "an owner reference to a ConfigMap of another namespace makes the \
             garbage collector delete the companion"
        );
        assert_eq!(companion.labels()[SOURCE_NAMESPACE_LABEL], "a");
        assert_eq!(companion.labels()[SOURCE_UID_LABEL], "uid-colors");
        assert_eq!(companion.annotations()[SOURCE_NAME_ANNOTATION], "colors");
        assert_eq!(
            source_of(&companion, "a"),
            Some(ObjectRef::new("colors").within("a"))
        );
        assert_eq!(source_of(&companion, "c"), None);
    }

    #[test]
    fn the_plan_across_namespaces_creates_heals_and_never_takes_over() {
        let src = source("colors");
        let Plan::Create(mut companion) = plan(&src, None, "b") else {
            panic!("a missing companion is created");
        };
        companion.metadata.resource_version = Some("9".into());
        assert_eq!(plan(&src, Some(&companion), "b"), Plan::Nothing);
        let mut edited = companion.clone();
        edited.data = None;
        assert!(matches!(plan(&src, Some(&edited), "b"), Plan::Update(_)));
        // The same name, another source (deleted and created again): not ours.
        let mut again = src.clone();
        again.metadata.uid = Some("uid-colors-again".into());
        assert_eq!(
            plan(&again, Some(&companion), "b"),
            Plan::Blocked {
                companion: "b/colors-synced".into()
            }
        );
    }
}
