//! The controller loop: informer → workqueue → workers → reconcile.
//!
//! This is the anatomy of every client-go controller
//! (kubernetes/sample-controller), in Rust:
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
//! Two rules hold it together. Handlers only *enqueue keys*; they never call the
//! API server, so a slow reconcile can never stall the watch. And workers start
//! only once the cache has synced, so a reconcile never mistakes "not listed
//! yet" for "does not exist".
// Starter code: the imports, parameters and helpers that the TODOs below need are
// unused until you write them. Once they are done, delete the `allow` below: the
// compiler then checks that you left none.
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

    /// Makes the world match what the object named `key` (`namespace/name`) asks
    /// for. Called again for the same key after any change, and after a failure;
    /// it must be safe to repeat.
    fn reconcile(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;
}
// ANCHOR_END: reconciler

/// What happened to one reconcile. The controller broadcasts these; step 03's
/// program prints them as a timeline, and the tests read them to see the
/// retries and their delays.
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

/// An informer, a workqueue of `namespace/name` keys, and the
/// reconciler its workers call.
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
            // Slow subscribers miss old outcomes rather than
            // slowing the workers down.
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
    /// Runs until `shutdown` completes: the handlers put the keys `keys_for`
    /// names into the queue, and once the cache has synced, `workers` workers
    /// reconcile them. On shutdown the queue stops taking keys and the
    /// workers finish what they hold.
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
                            tracing::info!(
                                cached = informer.store().len(),
                                "cache synced"
                            );
                            if let Some(tx) = synced_tx.take() {
                                let _ = tx.send(());
                            }
                        }
                        Ok(notification) => {
                            let keys = keys_for(&notification);
                            let version = notification
                                .object()
                                .and_then(|obj| obj.meta().resource_version.clone());
                            tracing::debug!(%notification, ?version, ?keys, "queued");
                            keys.into_iter().for_each(|key| queue.add(key));
                        }
                        // The watcher retries by itself, with backoff.
                        Err(err) => {
                            tracing::warn!(error = %err, "watch failed; retrying")
                        }
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

        let mut running = tokio::task::JoinSet::new();
        for _ in 0..workers.max(1) {
            running.spawn(run_worker(
                queue.clone(),
                reconciler.clone(),
                outcomes.clone(),
            ));
        }
        // A worker ends before the shutdown only if its reconcile panicked.
        // Carrying on with fewer workers would hide the bug; like client-go's
        // `HandleCrash`, stop instead, and let whatever restarts the process
        // (the kubelet) restart it.
        let crashed = tokio::select! {
            () = &mut shutdown => None,
            Some(ended) = running.join_next() => Some(ended),
        };
        tracing::info!("shutting down: no new keys, finishing the ones in progress");
        handlers.abort();
        queue.shut_down_with_drain().await;
        if let Some(ended) = crashed {
            ended?;
        }
        while let Some(ended) = running.join_next().await {
            ended?;
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
            None => {
                tracing::debug!(key = outcome.key, took = ?outcome.took, "reconciled")
            }
            Some(error) => {
                tracing::warn!(
                    key = outcome.key,
                    attempt = outcome.attempt,
                    retry_in = ?outcome.retry_in,
                    error,
                    "reconcile failed"
                )
            }
        }
        // Nobody listening is fine.
        let _ = outcomes.send(outcome);
    }
}
// ANCHOR_END: run_worker

// ANCHOR: done_on_drop
/// Gives a key back to the queue (`done`) when dropped: at the end of `process_next`,
/// and also when the reconcile panics or its future is dropped half-way. Without it,
/// a panic would leave the key in `processing` for good: never processed again, and a
/// drain waiting for it forever. This is Rust's form of client-go's
/// `defer c.workqueue.Done(key)`.
struct DoneOnDrop<'a>(&'a WorkQueue<String>, String);

impl Drop for DoneOnDrop<'_> {
    fn drop(&mut self) {
        self.0.done(&self.1);
    }
}
// ANCHOR_END: done_on_drop

// ANCHOR: process_next
/// Takes one key, reconciles it, and tells the queue how it went. `None` once the
/// queue has shut down and is empty.
async fn process_next<R: Reconciler>(
    queue: &WorkQueue<String>,
    reconciler: &R,
) -> Option<Outcome> {
    // TODO(exercise 3.5): Process one key, as client-go's processNextWorkItem does.
    // Take a key (`None` once the queue has shut down and is empty), reconcile it
    // inside a tracing span that names the key, and report the `Outcome`. A success
    // resets the key's backoff; a failure schedules its retry after the backoff, and
    // the outcome says when. On every path, a panicking reconcile too, the key goes
    // back to the queue with `done`.
    // Proved by: controller::tests::, a_change_is_reconciled_after_backing_off
    // Needs: 3.1, 3.2, 3.3
    // Path: stretch, 15 min
    // Book: "Step 03 > Workers"
    todo!("Exercise 3.5: Process one key, as client-go's processNextWorkItem does.")
}
// ANCHOR_END: process_next

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// Fails the first `fail` tries of every key, and records
    /// each key it was called with.
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
            // Bounded, so that a queue that loses the key fails the test
            // instead of hanging it (on the paused clock the hour passes at
            // once when nothing else can run).
            let outcome = tokio::time::timeout(
                Duration::from_secs(3600),
                process_next(&queue, &flaky),
            )
            .await
            .expect("process_next waited an hour for the key it had to retry")
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

    /// Panics on every key, as a reconcile with a bug (an `unwrap` on bad data) does.
    struct Panics;

    impl Reconciler for Panics {
        type Error = String;
        async fn reconcile(&self, key: &str) -> Result<(), String> {
            panic!("reconcile of {key} panicked");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_reconcile_gives_its_key_back() {
        let queue = WorkQueue::new();
        queue.add("ns/a".to_string());
        let worker = tokio::spawn({
            let queue = queue.clone();
            async move { process_next(&queue, &Panics).await }
        });
        let ended = worker.await.expect_err("the reconcile panicked");
        assert!(ended.is_panic());
        // The object changes again: its key must be queued, not
        // stuck behind a dead worker.
        queue.add("ns/a".to_string());
        assert_eq!(
            queue.len(),
            1,
            "a key added after its reconcile panicked must be queued again"
        );
        tokio::time::timeout(Duration::from_secs(60), queue.shut_down_with_drain())
            .await
            .expect("the drain waits for no worker once the panicked one gave its key back");
    }

    #[tokio::test(start_paused = true)]
    async fn a_panicking_worker_stops_the_controller_with_an_error() {
        use futures::StreamExt;
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::runtime::watcher::Event;

        let mut cm = ConfigMap::default();
        cm.metadata.name = Some("a".into());
        cm.metadata.namespace = Some("ns".into());
        cm.metadata.resource_version = Some("1".into());
        // One object listed, then a watch that stays open.
        let events = futures::stream::iter([
            Event::Init,
            Event::InitApply(cm),
            Event::InitDone,
        ])
        .map(Ok)
        .chain(futures::stream::pending());
        let controller =
            Controller::new(Informer::from_events(events), Arc::new(Panics));
        // The shutdown signal never comes: the controller must stop by itself.
        let run = controller.run(
            2,
            |n| n.key().into_iter().collect(),
            std::future::pending(),
        );
        let result = tokio::time::timeout(Duration::from_secs(600), run)
            .await
            .expect("run returns once a worker has panicked, without waiting for a signal");
        assert!(
            matches!(&result, Err(Error::Worker(err)) if err.is_panic()),
            "expected Error::Worker for the panic, got {result:?}"
        );
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
