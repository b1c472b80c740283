//! Reconcile: make one source's companion match its plan, with as few API calls as possible.
//!
//! Everything is read from the informer's cache; only changes are sent to the API server. A
//! reconcile that finds nothing to do sends nothing at all, so a controller watching thousands
//! of ConfigMaps costs the API server nothing while the world is as it should be.
// Starter code: the imports and parameters that the TODOs below need are unused until you
// write them. Once they are done, delete the `allow` below and the compiler checks you left none.
#![allow(unused)]

use std::sync::Arc;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{DeleteParams, PostParams, Preconditions};
use kube::runtime::events::{Event, EventType, Recorder};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client, Resource, ResourceExt};

use crate::desired::{self, CONTROLLER_NAME, Plan};

/// Why a reconcile failed. Every one of these is retried with backoff by the workqueue.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid key {0:?} (expected namespace/name)")]
    InvalidKey(String),
    #[error("{companion} exists and is not controlled by this source; leaving it alone")]
    Blocked { companion: String },
    #[error("the companion exists but is not in the cache yet; retrying")]
    CacheBehind,
    #[error("API request failed: {0}")]
    Api(#[from] kube::Error),
}

// ANCHOR: mirror
/// What reconcile needs: a client for writes, the cache for reads, a recorder for Events.
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
    /// The same, for a source the caller already has (or knows is gone): kube-runtime's
    /// `Controller` (step 05) hands reconcile the object itself rather than a key.
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
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), namespace);
        // TODO(exercise 4.5): Carry out the plan with the API.
        // Create: `api.create(&params, &c)`; Update: `api.replace(&name, &params, &c)` (the
        // companion carries the cached resourceVersion, so a concurrent change gives 409 and a
        // retry); a 409 AlreadyExists on create means the cache is behind: `Error::CacheBehind`;
        // Delete: `api.delete` with `DeleteParams { preconditions: Some(Preconditions {
        // uid: Some(uid), ..}), ..}` and a 404 (`kube::Error::Api(s) if s.is_not_found()`) is
        // fine; Blocked: a Warning Event on the source (`self.warn`), then `Err(Error::Blocked)`
        // so the key is retried later; Invalid: a Warning Event, then Ok (only a change to the
        // source can help). Log each write with `tracing::info!(action = "...", ...)`.
        // Book: "Step 04 > Carrying out the plan".
        todo!("Exercise 4.5: Carry out the plan with the API.")
    }
    // ANCHOR_END: reconcile_source

    // ANCHOR: warn
    /// Publishes a Warning Event on `source` (`kubectl describe configmap` shows it). An Event
    /// that cannot be written is logged, never a reason to fail the reconcile.
    async fn warn(&self, source: &ConfigMap, reason: &str, note: String) {
        let event = Event {
            type_: EventType::Warning,
            reason: reason.into(),
            note: Some(note),
            action: "Mirror".into(),
            secondary: None,
        };
        if let Err(err) = self.recorder.publish(&event, &source.object_ref(&())).await {
            tracing::warn!(error = %err, reason, "could not publish an Event");
        }
    }
    // ANCHOR_END: warn
}
