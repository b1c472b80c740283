//! Step 04: the ConfigMap mirror, a real controller.
//!
//! For every ConfigMap labelled `workshop.io/managed=true` (the *source*), the
//! controller keeps a *companion* `<name>-synced` in the same namespace with the same
//! content, a checksum of it, and an owner reference back to the source:
//!
//! - change the source, and the companion follows;
//! - edit or delete the companion, and it is healed;
//! - remove the label, and the companion is deleted;
//! - delete the source, and Kubernetes' garbage collector
//!   deletes the companion for us;
//! - a ConfigMap that happens to be called `<name>-synced` but is
//!   not ours is never touched.
//!
//! The pieces are the ones you built: the informer of step 02 watches ConfigMaps,
//! [`keys_for`] turns each notification into the keys of the sources it concerns,
//! step 03's workqueue and workers run [`reconcile::Mirror::reconcile`], which asks
//! [`desired::plan`] what to do.

pub mod desired;
pub mod reconcile;

use std::future::Future;

use informer::{Informer, Notification, key_of};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use workqueue::controller::{Controller, Reconciler};

pub use reconcile::{Error, Mirror};

/// Command-line flags, parsed in `main.rs`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    about = "Mirror every ConfigMap labelled workshop.io/managed=true into <name>-synced"
)]
pub struct Args {
    /// Mirror one namespace only (default: all namespaces).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long)]
    pub context: Option<String>,
    /// How many workers reconcile at once (one key is never
    /// reconciled by two at a time).
    #[arg(long, default_value_t = 2)]
    pub workers: u16,
}

// ANCHOR: keys_for
/// Which sources a notification concerns: the keys to put in the workqueue.
///
/// A source itself, when it is managed (or was, until this update removed the label).
/// And for any ConfigMap controlled by another ConfigMap, its controller: a change to
/// a companion, or its deletion, wakes up the source it belongs to, and no other
/// ConfigMap.
pub fn keys_for(notification: &Notification<ConfigMap>) -> Vec<String> {
    let (old, cm) = match notification {
        Notification::Add(cm) | Notification::Delete(cm) => (None, cm),
        Notification::Update { old, new } => (Some(old), new),
        Notification::Synced => return Vec::new(),
    };
    // DIAGNOSE 4.4: Two tests fail,
    //     `a_companion_enqueues_its_owner_through_the_owner_reference` and
    //     `a_managed_source_named_like_a_companion_enqueues_only_itself`: find out
    //     why, and fix it.
    // Wanted: the ConfigMap's own key when it is managed, or was until this update;
    // and the key of the source a companion belongs to, so that a change to a
    // companion wakes up its source. Read the failing tests and the ConfigMaps they
    // build, then the code below.
    // Proved by: enqueues_itself, removing_the_label, enqueues_its_owner,
    //   enqueues_only_itself, synced_enqueues_nothing
    // Path: stretch, 10 min
    // Book: "Step 04 > From a companion back to its source"
    // BEGIN SOLUTION
    let mut keys = Vec::new();
    if desired::is_managed(cm) || old.is_some_and(|old| desired::is_managed(old)) {
        keys.push(key_of(cm.as_ref()));
    }
    let owner = cm.owner_references().iter().find(|owner| {
        owner.controller == Some(true)
            && owner.kind == "ConfigMap"
            && owner.api_version == "v1"
    });
    if let (Some(owner), Some(namespace)) = (owner, cm.namespace()) {
        keys.push(format!("{namespace}/{}", owner.name));
    }
    keys
    // STARTER
    // let mut keys = Vec::new();
    // if desired::is_managed(cm) || old.is_some_and(|old| desired::is_managed(old)) {
    //     keys.push(key_of(cm.as_ref()));
    // }
    // // A companion is called `<source>-synced`: a change to it concerns its source.
    // if let (Some(source), Some(namespace)) = (
    //     cm.name_any().strip_suffix(desired::COMPANION_SUFFIX),
    //     cm.namespace(),
    // ) {
    //     keys.push(format!("{namespace}/{source}"));
    // }
    // keys
    // END SOLUTION
}
// ANCHOR_END: keys_for

impl Reconciler for Mirror {
    type Error = Error;

    fn reconcile(&self, key: &str) -> impl Future<Output = Result<(), Error>> + Send {
        Mirror::reconcile(self, key)
    }
}

// ANCHOR: start
/// Runs the mirror with `client` until `shutdown` completes:
/// watch, enqueue, reconcile.
pub async fn start(
    client: Client,
    namespace: Option<&str>,
    workers: u16,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), workqueue::controller::Error> {
    let api = informer::configmaps(client.clone(), namespace);
    // The cache holds every ConfigMap we can see; dropping managedFields
    // (bookkeeping of who set which field, often the largest part of small objects)
    // roughly halves its memory.
    let events = informer::watch_events(api, watcher::Config::default())
        .modify(|cm| cm.managed_fields_mut().clear());
    let informer = Informer::from_events(events);
    let mirror = Mirror::new(client, informer.store());
    Controller::new(informer, mirror)
        .run(usize::from(workers), keys_for, shutdown)
        .await
}
// ANCHOR_END: start

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use std::sync::Arc;

    fn cm(name: &str, managed: bool) -> Arc<ConfigMap> {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(name.into());
        cm.metadata.namespace = Some("ns".into());
        cm.metadata.uid = Some(format!("uid-{name}"));
        if managed {
            cm.labels_mut()
                .insert(desired::MANAGED_LABEL.into(), "true".into());
        }
        Arc::new(cm)
    }

    fn owned_by(name: &str, owner: &str, controller: bool) -> Arc<ConfigMap> {
        let mut companion = (*cm(name, false)).clone();
        companion.owner_references_mut().push(OwnerReference {
            api_version: "v1".into(),
            kind: "ConfigMap".into(),
            name: owner.into(),
            uid: format!("uid-{owner}"),
            controller: Some(controller),
            block_owner_deletion: Some(true),
        });
        Arc::new(companion)
    }

    #[test]
    fn a_managed_source_enqueues_itself() {
        assert_eq!(
            keys_for(&Notification::Add(cm("colors", true))),
            ["ns/colors"]
        );
        assert!(keys_for(&Notification::Add(cm("plain", false))).is_empty());
    }

    #[test]
    fn removing_the_label_still_enqueues_the_source() {
        let n = Notification::Update {
            old: cm("colors", true),
            new: cm("colors", false),
        };
        assert_eq!(keys_for(&n), ["ns/colors"]);
    }

    // ANCHOR: keys_for_test
    #[test]
    fn a_companion_enqueues_its_owner_through_the_owner_reference() {
        // Named like a companion of "a", but owned by "b": the owner reference wins.
        let companion = owned_by("a-synced", "b", true);
        assert_eq!(keys_for(&Notification::Delete(companion.clone())), ["ns/b"]);
        assert_eq!(
            keys_for(&Notification::Update {
                old: companion.clone(),
                new: companion
            }),
            ["ns/b"]
        );
        assert!(
            keys_for(&Notification::Add(owned_by("x-synced", "x", false))).is_empty()
        );
    }
    // ANCHOR_END: keys_for_test

    #[test]
    fn a_managed_source_named_like_a_companion_enqueues_only_itself() {
        assert_eq!(
            keys_for(&Notification::Add(cm("y-synced", true))),
            ["ns/y-synced"]
        );
    }

    #[test]
    fn synced_enqueues_nothing() {
        assert!(keys_for(&Notification::Synced).is_empty());
    }
}
