//! Reconcile: make one source's companion match its plan, with as
//! few API calls as possible.
//!
//! Everything is read from the informer's cache; only changes are sent to the API
//! server. A reconcile that finds the companion as it should be sends nothing at all,
//! so a controller watching thousands of ConfigMaps costs the API server nothing
//! while the world is as it should be. A source the mirror cannot serve is not: it
//! gets a Warning Event (one request), and a source blocked by a ConfigMap that is
//! not its companion is retried with backoff, publishing that Event again on every
//! retry (the recorder counts the repeats in one Event's series).

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};

use crate::desired::{self, CONTROLLER_NAME, Plan};

/// Why a reconcile failed. Every one of these is retried with
/// backoff by the workqueue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid key {0:?} (expected namespace/name)")]
    InvalidKey(String),
    #[error(
        "{companion} exists and is not controlled by this source; leaving it alone"
    )]
    Blocked { companion: String },
    #[error("the companion exists but is not in the cache yet; retrying")]
    CacheBehind,
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
}

// ANCHOR: mirror
/// What reconcile needs: a client for writes, the cache for
/// reads, a recorder for Events.
pub struct Mirror {
    client: Client,
    store: Store<ConfigMap>,
    recorder: Recorder,
}
// ANCHOR_END: mirror

impl std::fmt::Debug for Mirror {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mirror")
            .field("cached", &self.store.len())
            .finish_non_exhaustive()
    }
}

impl Mirror {
    pub fn new(client: Client, store: Store<ConfigMap>) -> Arc<Self> {
        let recorder = Recorder::new(client.clone(), CONTROLLER_NAME.into());
        Arc::new(Self {
            client,
            store,
            recorder,
        })
    }

    // ANCHOR: reconcile
    /// Brings the companion of the source `namespace/name` in line with its plan.
    pub async fn reconcile(&self, key: &str) -> Result<(), Error> {
        let (namespace, name) = key
            .split_once('/')
            .ok_or_else(|| Error::InvalidKey(key.into()))?;
        let source = self.store.get(&ObjectRef::new(name).within(namespace));
        self.reconcile_source(namespace, name, source.as_deref())
            .await
    }
    // ANCHOR_END: reconcile

    // ANCHOR: reconcile_source
    /// The same, for a source the caller already has (or knows is gone):
    /// kube-runtime's `Controller` (step 05) hands reconcile the object itself rather
    /// than a key. Asks `plan` what to do, then does it with at most one request: one
    /// write, or for a source that cannot be mirrored, one Warning Event (a blocked
    /// source fails, and its every retry publishes that Event again).
    pub async fn reconcile_source(
        &self,
        namespace: &str,
        name: &str,
        source: Option<&ConfigMap>,
    ) -> Result<(), Error> {
        let companion = self
            .store
            .get(&ObjectRef::new(&desired::companion_name(name)).within(namespace));
        let plan = desired::plan(source, companion.as_deref());
        self.carry_out(namespace, source, plan).await
    }

    /// Does what `plan` says about the companion, in `namespace`: the source's own
    /// (step 05's mirror into another namespace passes the other one).
    pub async fn carry_out(
        &self,
        namespace: &str,
        source: Option<&ConfigMap>,
        plan: Plan,
    ) -> Result<(), Error> {
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        match plan {
            Plan::Nothing => Ok(()),
            Plan::Create(companion) => self.create(&api, &companion).await,
            Plan::Update(companion) => self.update(&api, &companion).await,
            Plan::Delete { name, uid } => self.delete(&api, &name, uid).await,
            Plan::Blocked { companion } => self.blocked(source, companion).await,
            Plan::Invalid(invalid) => {
                // Retrying cannot help until the source changes, and a
                // change enqueues it anyway.
                if let Some(source) = source {
                    self.warn(source, "InvalidSource", invalid.to_string())
                        .await;
                }
                tracing::warn!(error = %invalid, "cannot mirror this source");
                Ok(())
            }
        }
    }
    // ANCHOR_END: reconcile_source

    /// Names this controller as the writer of what it writes (`kubectl get -o yaml
    /// --show-managed-fields` shows it).
    fn params() -> PostParams {
        PostParams {
            field_manager: Some(CONTROLLER_NAME.into()),
            ..PostParams::default()
        }
    }

    // ANCHOR: update
    /// Replaces a drifted companion. It carries the cached `resourceVersion`: if the
    /// companion changed since the cache saw it, the API server answers 409 Conflict,
    /// `?` makes that an error, and the workqueue retries with fresh data.
    async fn update(
        &self,
        api: &Api<ConfigMap>,
        companion: &ConfigMap,
    ) -> Result<(), Error> {
        api.replace(&companion.name_any(), &Self::params(), companion)
            .await?;
        tracing::info!(
            action = "update",
            companion = companion.name_any(),
            "healed companion"
        );
        Ok(())
    }
    // ANCHOR_END: update

    // ANCHOR: create
    /// Creates a missing companion.
    async fn create(
        &self,
        api: &Api<ConfigMap>,
        companion: &ConfigMap,
    ) -> Result<(), Error> {
        // EXERCISE 4.4: Create the companion; if it exists already,
        //     return `Error::CacheBehind`.
        // "Exists already" while the cache has no companion means the cache is behind
        // (often the companion is the one this controller created a moment ago): the
        // retry will find it in the cache. Any other failure is an `Error::Api`. Log
        // the creation with the field `action = "create"`, as `update` does.
        // Proved by: creates_a_companion_and_follows_the_source, two_hundred_sources,
        // a_create_that_finds_the_companion_says_the_cache_is_behind
        // Needs: 4.1, 4.2
        // Path: core, 7 min
        // Book: "Step 04 > Carrying out the plan"
        // BEGIN SOLUTION
        match api.create(&Self::params(), companion).await {
            Ok(_) => {
                tracing::info!(
                    action = "create",
                    companion = companion.name_any(),
                    "created companion"
                );
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.is_already_exists() => {
                Err(Error::CacheBehind)
            }
            Err(err) => Err(err.into()),
        }
        // END SOLUTION
    }
    // ANCHOR_END: create

    // ANCHOR: delete
    /// Deletes the companion of a source that is no longer managed.
    async fn delete(
        &self,
        api: &Api<ConfigMap>,
        name: &str,
        uid: String,
    ) -> Result<(), Error> {
        // EXERCISE 4.5: Delete the companion `name`, but only if it
        //     is still the object `uid`.
        // A ConfigMap that was deleted and re-created under the same name since the
        // plan was made is another object: the API server must refuse to delete it. A
        // companion that is gone already is what we wanted (success). Log the
        // deletion with `action = "delete"`.
        // Proved by: unmanaging_removes_its_companion, a_stale_cache_never_deletes
        // Needs: 4.1, 4.2, 4.4
        // Path: stretch, 7 min
        // Book: "Step 04 > Carrying out the plan"
        // BEGIN SOLUTION
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: Some(uid),
                ..Preconditions::default()
            }),
            ..DeleteParams::default()
        };
        match api.delete(name, &params).await {
            Ok(_) => tracing::info!(
                action = "delete",
                companion = name,
                "source unmanaged; deleted companion"
            ),
            Err(kube::Error::Api(status)) if status.is_not_found() => {}
            Err(err) => return Err(err.into()),
        }
        Ok(())
        // END SOLUTION
    }
    // ANCHOR_END: delete

    // ANCHOR: blocked
    /// A ConfigMap with the companion's name exists, and the source does not control
    /// it.
    async fn blocked(
        &self,
        source: Option<&ConfigMap>,
        companion: String,
    ) -> Result<(), Error> {
        // EXERCISE 4.6: Say why nothing happens, and come back later.
        // Whoever labelled the source must find out where they look first
        // (`kubectl describe` on the source) that the companion's name is taken, and
        // by which ConfigMap: an Event with the reason `CompanionExists` whose note
        // names that ConfigMap (the end-to-end test waits for it and reads the note).
        // And the controller must return to this source by itself, more slowly each
        // time, until the way is clear: deleting the foreign ConfigMap wakes nobody.
        // The foreign ConfigMap is never written.
        // Its check also needs 4.4 done.
        // Proved by: never_touches_a_foreign_companion
        // Needs: 4.1, 4.2, 4.4
        // Path: stretch, 10 min
        // Book: "Step 04 > Carrying out the plan"
        // BEGIN SOLUTION
        if let Some(source) = source {
            let note = format!(
                "{companion} already exists and is not controlled by this ConfigMap; \
                 it is left untouched"
            );
            self.warn(source, "CompanionExists", note).await;
        }
        Err(Error::Blocked { companion })
        // END SOLUTION
    }
    // ANCHOR_END: blocked

    // ANCHOR: warn
    /// Publishes a Warning Event on `source` (`kubectl describe configmap`
    /// shows it). An Event that cannot be written is logged, never a
    /// reason to fail the reconcile.
    async fn warn(&self, source: &ConfigMap, reason: &str, note: String) {
        let event = Event {
            type_: EventType::Warning,
            reason: reason.into(),
            note: Some(note),
            action: "Mirror".into(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, &source.object_ref(&())).await
        {
            tracing::warn!(error = %err, reason, "could not publish an Event");
        }
    }
    // ANCHOR_END: warn
}
