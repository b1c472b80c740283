//! Step 03's reconcile: look the key up in the cache and log what is there.
//!
//! There is nothing to change in the cluster yet (that is step 04); this reconciler proves the
//! plumbing, and with `--fail-first N` it fails the first N tries of every key on purpose, so you
//! can watch the queue back off: 5 ms, 10 ms, 20 ms, ... then succeed.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::runtime::reflector::{ObjectRef, Store};

use crate::controller::Reconciler;

/// Logs each key's cached object, after failing its first `fail_first` tries.
#[derive(Debug)]
pub struct CacheLogger {
    store: Store<ConfigMap>,
    fail_first: u32,
    /// Failures injected so far, per key.
    failures: Mutex<HashMap<String, u32>>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("injected failure {n} of {of} (--fail-first)")]
    Injected { n: u32, of: u32 },
    #[error("invalid key {0:?} (expected namespace/name)")]
    InvalidKey(String),
}

impl CacheLogger {
    pub fn new(store: Store<ConfigMap>, fail_first: u32) -> Self {
        Self {
            store,
            fail_first,
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl Reconciler for CacheLogger {
    type Error = Error;

    async fn reconcile(&self, key: &str) -> Result<(), Error> {
        {
            let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
            let n = failures.entry(key.to_string()).or_default();
            if *n < self.fail_first {
                *n += 1;
                return Err(Error::Injected {
                    n: *n,
                    of: self.fail_first,
                });
            }
        }
        let (namespace, name) = key
            .split_once('/')
            .ok_or_else(|| Error::InvalidKey(key.into()))?;
        // Read from the cache, not the API server: the informer keeps it current.
        match self.store.get(&ObjectRef::new(name).within(namespace)) {
            Some(cm) => {
                let keys = cm.data.as_ref().map_or(0, |d| d.len());
                tracing::info!(key, keys, "reconciled: the ConfigMap exists");
            }
            None => tracing::info!(key, "reconciled: the ConfigMap is gone"),
        }
        Ok(())
    }
}
