//! The workqueue: which keys need work, handed to workers one at a time.
//!
//! Informers call [`WorkQueue::add`] whenever an object changes; workers loop on
//! [`WorkQueue::get`], reconcile the key they got, and call [`WorkQueue::done`].
//! Between the two sides, the queue keeps three collections, exactly as
//! client-go's workqueue does:
//!
//! - `queue`: the keys waiting for a worker, oldest first (a
//!   FIFO, so no key starves);
//! - `dirty`: every key that needs processing. A key is dirty from its `add` until a
//!   worker takes it, so adding a dirty key again changes nothing: ten updates to one
//!   object while it waits become one reconcile;
//! - `processing`: the keys workers hold right now, between `get` and `done`.
//!
//! The interesting case is an `add` for a key a worker is busy with. The worker may
//! already have read the old state, so the key must be processed again, but not by a
//! second worker at the same time (two reconciles of one object would race each
//! other's writes). So the key is only marked dirty; `done` sees the mark and puts it
//! back on the queue. This gives the two promises a controller is built on: **a key
//! is never processed by two workers at once**, and **every change is followed by at
//! least one processing that starts after it**.
//!
//! On top of that sit delays ([`WorkQueue::add_after`]) and retries with backoff
//! ([`WorkQueue::add_rate_limited`]): the delaying queue, in
//! [`crate::delaying_queue`], as client-go keeps them in a file of their own.
//!
//! Shutting down is gentle: [`WorkQueue::get`] keeps handing out what is queued and
//! only says `None` once the queue is empty, and [`WorkQueue::shut_down_with_drain`]
//! also waits until every worker has called `done`.

use std::collections::{HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use crate::delaying_queue::Delays;
use crate::rate_limiter::{RateLimiter, default_controller_rate_limiter};

pub struct WorkQueue<K> {
    pub(crate) shared: Arc<Shared<K>>,
}

/// A snapshot of the queue's counters, named after client-go's `workqueue_*` metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// `workqueue_depth`: keys waiting to be handed to a worker. Like client-go's
    /// gauge, this counts a key added while a worker holds it, though it only
    /// joins the queue at `done`.
    pub depth: usize,
    /// `workqueue_adds_total`: adds that made a key dirty (adds of an already dirty
    /// key are free and not counted).
    pub adds_total: u64,
    /// `workqueue_retries_total`: calls to `add_after` and `add_rate_limited`.
    pub retries_total: u64,
}

/// What every handle of one queue shares.
pub(crate) struct Shared<K> {
    state: Mutex<State<K>>,
    /// Wakes a worker waiting in `get`: a key was queued, or
    /// the queue is shutting down.
    key_queued: Notify,
    /// Wakes `shut_down_with_drain` when the last worker calls `done`.
    processing_empty: Notify,
    /// How long a failed key waits (used by the delaying queue's `add_rate_limited`).
    pub(crate) rate_limiter: Box<dyn RateLimiter<K>>,
}

// ANCHOR: state
/// The three collections, and the rules that keep them consistent. Plain data, no
/// locking or waking: `WorkQueue` does that around these methods.
pub(crate) struct State<K> {
    /// Keys waiting for a worker, oldest first. Each is also in
    /// `dirty`, and appears once.
    queue: VecDeque<K>,
    /// Keys that need processing: all queued keys, plus keys added
    /// while a worker held them.
    dirty: HashSet<K>,
    /// Keys a worker holds right now, between `get` and `done`.
    processing: HashSet<K>,
    pub(crate) shutting_down: bool,
    /// Set by `shut_down_with_drain`: someone waits for `processing` to empty.
    draining: bool,
    adds_total: u64,
    /// The delaying queue's part: the delayer's channel and the retries counter.
    pub(crate) delays: Delays<K>,
}
// ANCHOR_END: state

// ANCHOR: added
/// What `State::add` did with a key.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Added {
    /// The key was dirty already: it will be processed anyway, nothing changes.
    AlreadyDirty,
    /// The key joined the queue: a waiting worker should be woken.
    Queued,
    /// A worker holds the key: it is marked dirty, and `done` will queue it.
    AfterDone,
}
// ANCHOR_END: added

impl<K: Clone + Eq + Hash> State<K> {
    fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            dirty: HashSet::new(),
            processing: HashSet::new(),
            shutting_down: false,
            draining: false,
            adds_total: 0,
            delays: Delays::default(),
        }
    }

    // ANCHOR: add
    /// Records that `key` needs processing.
    fn add(&mut self, key: K) -> Added {
        // EXERCISE 3.1: Record that `key` needs processing, keeping
        //     both of the queue's promises.
        // A key waits in line at most once; a key a worker holds is never handed to a
        // second worker, but is handed out again after its `done`. Keys come out in
        // the order they first went in. Return what happened (`Added`): the caller
        // wakes a worker only when a key joined the line.
        // Proved by: queue::tests::, random_workloads
        // Needs: 3.2
        // Path: core, 8 min
        // Book: "Step 03 > Three collections"
        // BEGIN SOLUTION
        if self.dirty.contains(&key) {
            return Added::AlreadyDirty;
        }
        self.dirty.insert(key.clone());
        if self.processing.contains(&key) {
            return Added::AfterDone;
        }
        self.queue.push_back(key);
        Added::Queued
        // END SOLUTION
    }
    // ANCHOR_END: add

    // ANCHOR: pop
    /// Hands the oldest queued key to a worker, if there is one.
    fn pop(&mut self) -> Option<K> {
        let key = self.queue.pop_front()?;
        // The worker will read the object's state from now on: a change from now on
        // is one it may not see, so the next `add` must mark the key dirty again.
        self.dirty.remove(&key);
        self.processing.insert(key.clone());
        Some(key)
    }
    // ANCHOR_END: pop

    // ANCHOR: done
    /// Records that a worker finished `key`. Returns whether the
    /// key went back on the queue.
    fn done(&mut self, key: &K) -> bool {
        // EXERCISE 3.2: Keep the second promise when a worker finishes `key`.
        // A change that came while a worker held `key` must be followed by a
        // processing that starts after it; no change may be lost, and none
        // processed twice at once. The worker lets go of `key` here; say whether
        // `key` joined the line (the caller then wakes a worker). A `done` from
        // nobody who holds `key` changes nothing.
        // Proved by: queue::tests::, random_workloads
        // Needs: 3.1
        // Path: core, 6 min
        // Book: "Step 03 > Three collections"
        // BEGIN SOLUTION
        if self.processing.remove(key) && self.dirty.contains(key) {
            self.queue.push_back(key.clone());
            true
        } else {
            false
        }
        // END SOLUTION
    }
    // ANCHOR_END: done
}

impl<K> WorkQueue<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    /// A queue whose retries follow client-go's default controller rate limiter.
    pub fn new() -> Self {
        Self::with_rate_limiter(default_controller_rate_limiter())
    }

    /// A queue whose retries (`add_rate_limited`) wait as
    /// long as `rate_limiter` says.
    pub fn with_rate_limiter(rate_limiter: impl RateLimiter<K> + 'static) -> Self {
        Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::new()),
                key_queued: Notify::new(),
                processing_empty: Notify::new(),
                rate_limiter: Box::new(rate_limiter),
            }),
        }
    }

    /// Says that `key` needs processing. Adding a key that is already waiting does
    /// nothing; adding one a worker holds gets it processed again after that worker's
    /// `done`. Ignored once the queue is shutting down.
    pub fn add(&self, key: K) {
        let added = {
            let mut state = self.lock();
            if state.shutting_down {
                return;
            }
            let added = state.add(key);
            if added != Added::AlreadyDirty {
                state.adds_total += 1;
            }
            added
        };
        if added == Added::Queued {
            self.shared.key_queued.notify_one();
        }
    }

    // ANCHOR: get
    /// Waits for a key and hands it to the caller, who must call
    /// [`done`](Self::done) with it once finished. Returns `None` when the queue is
    /// shutting down and nothing is left in it.
    ///
    /// Cancel-safe: dropping the future before it completes loses no key.
    pub async fn get(&self) -> Option<K> {
        loop {
            // Ask to be woken *before* looking at the queue, so that a key queued
            // between the look and the wait still wakes us. Asking afterwards leaves
            // a gap: `notify_one` keeps at most one wake-up for a worker that is not
            // waiting yet, so two workers in the gap and two new keys would leave one
            // worker asleep beside a queued key.
            let mut woken = pin!(self.shared.key_queued.notified());
            woken.as_mut().enable();
            {
                let mut state = self.lock();
                if let Some(key) = state.pop() {
                    return Some(key);
                }
                if state.shutting_down {
                    return None;
                }
            }
            woken.await;
        }
    }
    // ANCHOR_END: get

    /// Says the worker is finished with `key` (whether it succeeded or not). If the
    /// key was added again meanwhile, it goes back on the queue now.
    pub fn done(&self, key: &K) {
        let (queued_again, drained) = {
            let mut state = self.lock();
            let queued_again = state.done(key);
            (queued_again, state.draining && state.processing.is_empty())
        };
        if queued_again {
            self.shared.key_queued.notify_one();
        }
        if drained {
            self.shared.processing_empty.notify_waiters();
        }
    }

    /// How many keys wait for a worker (keys a worker holds are not counted).
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether no key waits for a worker.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops accepting keys. Workers still get what is queued; then `get` returns
    /// `None`. Returns at once, without waiting for workers to finish (see
    /// [`shut_down_with_drain`](Self::shut_down_with_drain)).
    pub fn shut_down(&self) {
        {
            let mut state = self.lock();
            state.shutting_down = true;
            state.delays.stop();
        }
        // Every waiting worker must look again: the queue may be empty for good now.
        self.shared.key_queued.notify_waiters();
    }

    /// Shuts down like [`shut_down`](Self::shut_down), then waits until every key
    /// handed out has been given back with `done`.
    pub async fn shut_down_with_drain(&self) {
        self.lock().draining = true;
        self.shut_down();
        loop {
            // As in `get`: ask to be woken before looking.
            let mut drained = pin!(self.shared.processing_empty.notified());
            drained.as_mut().enable();
            if self.lock().processing.is_empty() {
                return;
            }
            drained.await;
        }
    }

    /// Whether `shut_down` (or `shut_down_with_drain`) was called.
    pub fn is_shutting_down(&self) -> bool {
        self.lock().shutting_down
    }

    /// The counters as they are now.
    pub fn metrics(&self) -> Metrics {
        let state = self.lock();
        Metrics {
            depth: state.dirty.len(),
            adds_total: state.adds_total,
            retries_total: state.delays.retries_total,
        }
    }

    /// Locks the state, even if a thread panicked while holding the lock: every
    /// change made under it is a few set operations that cannot stop halfway,
    /// so the state is still consistent, and the queue is better kept working
    /// than failing in every worker.
    pub(crate) fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl<K> Default for WorkQueue<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    fn default() -> Self {
        Self::new()
    }
}

// Written out rather than derived: a derive would demand `K: Clone`, which
// sharing an `Arc` does not need.
impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        Self {
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<K> fmt::Debug for WorkQueue<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("WorkQueue")
            .field("queued", &state.queue.len())
            .field("processing", &state.processing.len())
            .field("shutting_down", &state.shutting_down)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// How long a test lets `get` wait. The tests run on Tokio's paused clock, where
    /// this hour passes at once as soon as nothing else can run.
    const PATIENCE: Duration = Duration::from_secs(3600);

    /// `get`, for a key that must be there: a broken queue fails the
    /// test instead of hanging it.
    async fn next(queue: &WorkQueue<&'static str>) -> Option<&'static str> {
        tokio::time::timeout(PATIENCE, queue.get())
            .await
            .expect("get waited an hour for a key that should have been there")
    }

    /// Whether `get` still waits after an hour.
    async fn get_blocks(queue: &WorkQueue<&'static str>) -> bool {
        tokio::time::timeout(PATIENCE, queue.get()).await.is_err()
    }

    #[tokio::test(start_paused = true)]
    async fn keys_come_out_in_the_order_they_went_in() {
        let queue = WorkQueue::new();
        for key in ["a", "b", "c"] {
            queue.add(key);
        }
        assert_eq!(next(&queue).await, Some("a"));
        assert_eq!(next(&queue).await, Some("b"));
        assert_eq!(next(&queue).await, Some("c"));
    }

    #[tokio::test(start_paused = true)]
    async fn adding_a_waiting_key_again_changes_nothing() {
        let queue = WorkQueue::new();
        queue.add("a");
        queue.add("b");
        queue.add("a");
        assert_eq!(queue.len(), 2);
        assert_eq!(next(&queue).await, Some("a"));
        assert_eq!(next(&queue).await, Some("b"));
        assert!(queue.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_added_while_processing_is_handed_out_again_after_done() {
        // client-go's TestReinsert / TestAddWhileProcessing.
        let queue = WorkQueue::new();
        queue.add("a");
        let key = next(&queue).await;
        assert_eq!(key, Some("a"));
        queue.add("a");
        assert_eq!(queue.len(), 0, "not queued while a worker holds it");
        queue.done(&"a");
        assert_eq!(queue.len(), 1, "queued again by done");
        assert_eq!(next(&queue).await, Some("a"));
        queue.done(&"a");
        assert_eq!(queue.len(), 0);
    }

    #[test]
    fn an_add_says_what_it_did() {
        let mut state = State::new();
        assert_eq!(state.add("a"), Added::Queued);
        assert_eq!(state.add("a"), Added::AlreadyDirty);
        assert_eq!(state.pop(), Some("a"));
        assert_eq!(state.add("a"), Added::AfterDone, "a worker holds a");
        assert_eq!(
            state.add("a"),
            Added::AlreadyDirty,
            "a worker holds a, and an add has marked it dirty already: this add changes \
             nothing. A key waiting for its worker's `done` is dirty but not in the line, \
             so it is `dirty` that says whether a key needs processing already, not the line"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn adds_while_processing_collapse_into_one() {
        // client-go's TestCollapseWhileProcessing.
        let queue = WorkQueue::new();
        queue.add("a");
        next(&queue).await;
        for _ in 0..3 {
            queue.add("a");
        }
        assert_eq!(
            queue.metrics().adds_total,
            2,
            "adds_total counts the adds that made a key dirty: the first add, and the \
             first of three while a worker held the key. The other two found it dirty \
             already (they change nothing), and a queue that counts them reports work \
             that will never happen"
        );
        queue.done(&"a");
        assert_eq!(queue.len(), 1);
        assert_eq!(next(&queue).await, Some("a"));
        queue.done(&"a");
        assert_eq!(queue.len(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_is_never_handed_to_two_workers_at_once() {
        let queue = WorkQueue::new();
        queue.add("a");
        assert_eq!(next(&queue).await, Some("a"));
        queue.add("a");
        // A second worker asking now gets nothing, however long it waits…
        assert!(get_blocks(&queue).await);
        // …but other keys still flow.
        queue.add("b");
        assert_eq!(next(&queue).await, Some("b"));
        queue.done(&"a");
        assert_eq!(next(&queue).await, Some("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn done_for_a_key_not_held_changes_nothing() {
        let queue = WorkQueue::new();
        queue.add("a");
        queue.done(&"a");
        queue.done(&"never-added");
        assert_eq!(queue.len(), 1, "a queued key is not queued twice");
        assert_eq!(next(&queue).await, Some("a"));
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiting_worker_wakes_when_a_key_arrives() {
        let queue = WorkQueue::new();
        let worker = tokio::spawn({
            let queue = queue.clone();
            async move { next(&queue).await }
        });
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(!worker.is_finished(), "nothing to get yet");
        queue.add("a");
        assert_eq!(worker.await.ok(), Some(Some("a")));
    }

    #[tokio::test(start_paused = true)]
    async fn get_returns_none_only_once_shut_down_and_empty() {
        let queue = WorkQueue::new();
        queue.add("a");
        queue.add("b");
        queue.shut_down();
        assert!(queue.is_shutting_down());
        // What was queued before the shutdown is still handed out…
        assert_eq!(next(&queue).await, Some("a"));
        assert_eq!(next(&queue).await, Some("b"));
        // …and only then does `get` say the queue is finished.
        assert_eq!(next(&queue).await, None);
        assert_eq!(next(&queue).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn an_empty_open_queue_makes_workers_wait() {
        let queue = WorkQueue::new();
        assert!(!queue.is_shutting_down());
        assert!(get_blocks(&queue).await);
    }

    #[tokio::test(start_paused = true)]
    async fn shut_down_wakes_every_waiting_worker() {
        let queue = WorkQueue::<&str>::new();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let queue = queue.clone();
                tokio::spawn(async move { next(&queue).await })
            })
            .collect();
        tokio::time::sleep(ms(10)).await;
        queue.shut_down();
        for worker in workers {
            assert_eq!(worker.await.ok(), Some(None));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn adds_after_shut_down_are_ignored() {
        let queue = WorkQueue::new();
        queue.shut_down();
        queue.add("a");
        queue.add_after("b", ms(1));
        queue.add_rate_limited("c");
        assert_eq!(queue.len(), 0);
        assert_eq!(next(&queue).await, None);
        assert_eq!(queue.metrics(), Metrics::default());
    }

    #[tokio::test(start_paused = true)]
    async fn shut_down_with_drain_waits_for_keys_being_processed() {
        // client-go's TestQueueDrainageUsingShutDownWithDrain.
        let queue = WorkQueue::new();
        queue.add("a");
        queue.add("b");
        let a = next(&queue).await;
        let b = next(&queue).await;
        let shutdown = tokio::spawn({
            let queue = queue.clone();
            async move { queue.shut_down_with_drain().await }
        });
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(queue.is_shutting_down());
        assert!(
            !shutdown.is_finished(),
            "two keys are still being processed"
        );
        queue.done(&"a");
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert!(!shutdown.is_finished(), "one key is still being processed");
        queue.done(&"b");
        tokio::time::timeout(ms(1), shutdown)
            .await
            .expect("the drain ends with the last done")
            .expect("the drain does not panic");
        assert_eq!((a, b), (Some("a"), Some("b")));
        assert_eq!(next(&queue).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn shut_down_with_drain_returns_at_once_when_nothing_is_processing() {
        let queue = WorkQueue::<&str>::new();
        tokio::time::timeout(PATIENCE, queue.shut_down_with_drain())
            .await
            .expect("nothing to drain, nothing to wait for");
        assert!(queue.is_shutting_down());
    }

    #[tokio::test(start_paused = true)]
    async fn shut_down_does_not_wait_for_keys_being_processed() {
        // client-go's TestForceQueueShutdownUsingShutDown.
        let queue = WorkQueue::new();
        queue.add("a");
        queue.add("b");
        assert_eq!(next(&queue).await, Some("a"));
        queue.shut_down();
        assert_eq!(next(&queue).await, Some("b"));
        // "a" is still being processed, yet the queue reports that it is finished.
        assert_eq!(next(&queue).await, None);
        queue.add("a");
        queue.done(&"a");
        queue.done(&"b");
        assert_eq!(next(&queue).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn metrics_count_adds_retries_and_depth() {
        let queue = WorkQueue::new();
        queue.add("a");
        queue.add("a");
        queue.add("b");
        assert_eq!(
            queue.metrics(),
            Metrics {
                depth: 2,
                adds_total: 2,
                retries_total: 0
            }
        );

        next(&queue).await;
        queue.add("a");
        assert_eq!(
            queue.metrics().depth,
            2,
            "a re-added key counts while its worker runs"
        );
        assert_eq!(queue.metrics().adds_total, 3);

        queue.add_after("c", ms(10));
        queue.add_rate_limited("d");
        assert_eq!(queue.metrics().retries_total, 2);
        tokio::time::sleep(ms(20)).await;
        assert_eq!(
            queue.metrics(),
            Metrics {
                depth: 4,
                adds_total: 5,
                retries_total: 2
            }
        );
    }
}
