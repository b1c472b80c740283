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

/// Fails the first `n` tries of every key on purpose (`--fail-first`), so that the backoff can be
/// watched without breaking anything. Step 05 uses it too, to compare the two backoffs.
#[derive(Debug, Default)]
pub struct FailFirst {
    n: u32,
    /// Failures injected so far, per key. With `n` = 0 it stays empty; otherwise it
    /// remembers every key it was asked about, for as long as the program runs (a flag
    /// for watching the backoff, not for production).
    failures: Mutex<HashMap<String, u32>>,
}

/// The error an injected failure reports.
#[derive(Debug, thiserror::Error)]
#[error("injected failure {n} of {of}")]
pub struct Injected {
    pub n: u32,
    pub of: u32,
}

impl FailFirst {
    pub fn new(n: u32) -> Self {
        Self {
            n,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Err` for the first `n` calls with `key`, `Ok` ever after.
    pub fn check(&self, key: &str) -> Result<(), Injected> {
        if self.n == 0 {
            return Ok(());
        }
        let mut failures =
            self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        let failed = failures.entry(key.to_string()).or_default();
        if *failed < self.n {
            *failed += 1;
            return Err(Injected {
                n: *failed,
                of: self.n,
            });
        }
        Ok(())
    }
}

/// Logs each key's cached object, after failing its first `fail_first` tries.
#[derive(Debug)]
pub struct CacheLogger {
    store: Store<ConfigMap>,
    fail_first: FailFirst,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Injected(#[from] Injected),
    #[error("invalid key {0:?} (expected namespace/name)")]
    InvalidKey(String),
}

impl CacheLogger {
    pub fn new(store: Store<ConfigMap>, fail_first: u32) -> Self {
        Self {
            store,
            fail_first: FailFirst::new(fail_first),
        }
    }
}

// ANCHOR: reconcile
impl Reconciler for CacheLogger {
    type Error = Error;

    async fn reconcile(&self, key: &str) -> Result<(), Error> {
        self.fail_first.check(key)?;
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
// ANCHOR_END: reconcile

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_first_fails_each_key_n_times_then_never() {
        let fail = FailFirst::new(2);
        assert!(matches!(fail.check("a"), Err(Injected { n: 1, of: 2 })));
        assert!(matches!(fail.check("b"), Err(Injected { n: 1, of: 2 })));
        assert!(matches!(fail.check("a"), Err(Injected { n: 2, of: 2 })));
        assert!(fail.check("a").is_ok());
        assert!(fail.check("a").is_ok());
        let never = FailFirst::new(0);
        assert!(never.check("a").is_ok());
        assert!(
            never
                .failures
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty(),
            "without failures to inject, no key is remembered"
        );
    }
}
