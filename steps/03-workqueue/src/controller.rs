//! The controller loop: informer → workqueue → workers → reconcile.
//!
//! This is the anatomy of every client-go controller (kubernetes/sample-controller), in Rust:
//!
//! | sample-controller       | here                 |
//! |-------------------------|----------------------|
//! | `NewController`         | [`Controller::new`]  |
//! | `Run`                   | [`Controller::run`]  |
//! | event handlers, `enqueue` | the handler task in `run`, with the caller's `keys_for` |
//! | `runWorker`             | `run_worker`         |
//! | `processNextWorkItem`   | `process_next`       |
//! | `syncHandler`           | [`Reconciler::reconcile`] |
//!
//! Two rules hold it together. Handlers only *enqueue keys*; they never call the API server,
//! so a slow reconcile can never stall the watch. And workers start only once the cache has
//! synced, so a reconcile never mistakes "not listed yet" for "does not exist".
// Starter code: the imports, parameters and helpers that the TODOs below need are unused
// until you write them. Once they are done, delete the `allow` below: the compiler then
// checks that you left none.
#![allow(unused_imports, unused_variables, dead_code)]

use std::fmt::{Debug, Display};
use std::future::Future;
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use informer::{Informer, Notification};
use kube::Resource;
use tokio::sync::{broadcast, oneshot};
use tokio::time::Instant;
use tracing::Instrument;

use crate::WorkQueue;

// ANCHOR: reconciler
/// The work a controller does for one key. Implemented by each step's controller.
pub trait Reconciler: Send + Sync + 'static {
    type Error: Display + Send;

    /// Makes the world match what the object named `key` (`namespace/name`) asks for. Called
    /// again for the same key after any change, and after a failure; it must be safe to repeat.
    fn reconcile(&self, key: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
// ANCHOR_END: reconciler

/// What happened to one reconcile. The controller broadcasts these; step 03's program prints
/// them as a timeline, and step 08 turns them into metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub key: String,
    /// 1 for the first try, 2 for the first retry, and so on (reset by a success).
    pub attempt: u32,
    /// Why it failed, if it did.
    pub error: Option<String>,
    /// For a failure: how long the key waits before the next try.
    pub retry_in: Option<Duration>,
    /// When the reconcile started.
    pub started: Instant,
    /// How long the reconcile took.
    pub took: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the watch ended before the cache synced")]
    NeverSynced,
    #[error("a worker stopped abnormally: {0}")]
    Worker(#[from] tokio::task::JoinError),
}

/// An informer, a workqueue of `namespace/name` keys, and the reconciler its workers call.
pub struct Controller<K, R>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    informer: Informer<K>,
    reconciler: Arc<R>,
    queue: WorkQueue<String>,
    outcomes: broadcast::Sender<Outcome>,
}

impl<K, R> Debug for Controller<K, R>
where
    K: Resource + Clone + 'static,
    K::DynamicType: Eq + Hash + Clone,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Controller")
            .field("queue", &self.queue)
            .finish_non_exhaustive()
    }
}

impl<K, R> Controller<K, R>
where
    K: Resource + Clone + Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + Hash + Clone,
    R: Reconciler,
{
    pub fn new(informer: Informer<K>, reconciler: Arc<R>) -> Self {
        Self {
            informer,
            reconciler,
            queue: WorkQueue::new(),
            // Slow subscribers miss old outcomes rather than slowing the workers down.
            outcomes: broadcast::channel(1024).0,
        }
    }

    /// The controller's queue (for its metrics).
    pub fn queue(&self) -> WorkQueue<String> {
        self.queue.clone()
    }

    /// A receiver of every reconcile's [`Outcome`], from now on.
    pub fn outcomes(&self) -> broadcast::Receiver<Outcome> {
        self.outcomes.subscribe()
    }

    // ANCHOR: run
    /// Runs until `shutdown` completes: the handlers put the keys `keys_for` names into the
    /// queue, and once the cache has synced, `workers` workers reconcile them. On shutdown the
    /// queue stops taking keys and the workers finish what they hold.
    pub async fn run<F>(
        self,
        workers: usize,
        keys_for: F,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), Error>
    where
        F: Fn(&Notification<K>) -> Vec<String> + Send + 'static,
    {
        let Self {
            mut informer,
            reconciler,
            queue,
            outcomes,
        } = self;

        // The event handlers: turn notifications into keys, and nothing else.
        let (synced_tx, synced_rx) = oneshot::channel();
        let handlers = tokio::spawn({
            let queue = queue.clone();
            async move {
                let mut synced_tx = Some(synced_tx);
                while let Some(next) = informer.next().await {
                    match next {
                        Ok(Notification::Synced) => {
                            tracing::info!(cached = informer.store().len(), "cache synced");
                            if let Some(tx) = synced_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        Ok(notification) => keys_for(&notification)
                            .into_iter()
                            .for_each(|key| queue.add(key)),
                        // The watcher retries by itself, with backoff.
                        Err(err) => tracing::warn!(error = %err, "watch failed; retrying"),
                    }
                }
            }
        });

        tokio::pin!(shutdown);
        tokio::select! {
            () = &mut shutdown => {
                handlers.abort();
                return Ok(());
            }
            synced = synced_rx => synced.map_err(|_| Error::NeverSynced)?,
        }

        let workers: Vec<_> = (0..workers.max(1))
            .map(|_| {
                tokio::spawn(run_worker(
                    queue.clone(),
                    reconciler.clone(),
                    outcomes.clone(),
                ))
            })
            .collect();
        shutdown.await;
        tracing::info!("shutting down: no new keys, finishing the ones in progress");
        handlers.abort();
        queue.shut_down_with_drain().await;
        for worker in workers {
            worker.await?;
        }
        Ok(())
    }
    // ANCHOR_END: run
}

// ANCHOR: run_worker
/// One worker: process keys until the queue shuts down.
async fn run_worker<R: Reconciler>(
    queue: WorkQueue<String>,
    reconciler: Arc<R>,
    outcomes: broadcast::Sender<Outcome>,
) {
    while let Some(outcome) = process_next(&queue, reconciler.as_ref()).await {
        match &outcome.error {
            None => tracing::debug!(key = outcome.key, took = ?outcome.took, "reconciled"),
            Some(error) => {
                tracing::warn!(key = outcome.key, attempt = outcome.attempt, retry_in = ?outcome.retry_in, error, "reconcile failed")
            }
        }
        // Nobody listening is fine.
        let _ = outcomes.send(outcome);
    }
}
// ANCHOR_END: run_worker

// ANCHOR: process_next
/// Takes one key, reconciles it, and tells the queue how it went. `None` once the queue has
/// shut down and is empty.
async fn process_next<R: Reconciler>(queue: &WorkQueue<String>, reconciler: &R) -> Option<Outcome> {
    // TODO(exercise 3.5): Process one key, as client-go's processNextWorkItem does.
    // `queue.get().await` (None: return None). Note the attempt (`queue.num_requeues(&key) + 1`)
    // and the time (`Instant::now()`), then `reconciler.reconcile(&key)` inside a span:
    // `.instrument(tracing::info_span!("reconcile", key = %key))`. On success `queue.forget(&key)`
    // (reset its backoff); on failure `queue.add_rate_limited(key.clone())`, which returns the
    // wait. In both cases `queue.done(&key)`: without it the key can never be processed again.
    // Book: "Step 03 > Workers".
    todo!("Exercise 3.5: Process one key, as client-go's processNextWorkItem does.")
}
// ANCHOR_END: process_next

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Fails the first `fail` tries of every key, and records each key it was called with.
    struct Flaky {
        fail: u32,
        calls: Mutex<Vec<String>>,
    }

    impl Reconciler for Flaky {
        type Error = String;
        async fn reconcile(&self, key: &str) -> Result<(), String> {
            let mut calls = self
                .calls
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            calls.push(key.to_string());
            let tries = calls.iter().filter(|k| *k == key).count() as u32;
            if tries <= self.fail {
                Err(format!("failure {tries}"))
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_key_backs_off_exponentially_then_succeeds() {
        let queue = WorkQueue::new();
        let flaky = Flaky {
            fail: 3,
            calls: Mutex::new(Vec::new()),
        };
        queue.add("ns/a".to_string());
        let mut outcomes = Vec::new();
        let start = Instant::now();
        let mut times = Vec::new();
        while outcomes.last().is_none_or(|o: &Outcome| o.error.is_some()) {
            let outcome = process_next(&queue, &flaky)
                .await
                .expect("the queue is open");
            times.push(start.elapsed());
            outcomes.push(outcome);
        }
        let attempts: Vec<_> = outcomes.iter().map(|o| o.attempt).collect();
        assert_eq!(attempts, [1, 2, 3, 4]);
        let waits: Vec<_> = outcomes.iter().map(|o| o.retry_in).collect();
        let ms = Duration::from_millis;
        assert_eq!(waits, [Some(ms(5)), Some(ms(10)), Some(ms(20)), None]);
        // On the paused clock the retries come exactly when promised: 5, 15, 35 ms.
        assert_eq!(times, [ms(0), ms(5), ms(15), ms(35)]);
        assert_eq!(
            queue.num_requeues(&"ns/a".to_string()),
            0,
            "success resets the backoff"
        );
        assert!(queue.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn process_next_says_none_once_shut_down() {
        let queue: WorkQueue<String> = WorkQueue::new();
        queue.shut_down();
        let flaky = Flaky {
            fail: 0,
            calls: Mutex::new(Vec::new()),
        };
        assert_eq!(process_next(&queue, &flaky).await, None);
    }
}
