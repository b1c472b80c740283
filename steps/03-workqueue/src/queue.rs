//! The workqueue: which keys need work, handed to workers one at a time.
//!
//! Informers call [`WorkQueue::add`] whenever an object changes; workers loop on
//! [`WorkQueue::get`], reconcile the key they got, and call [`WorkQueue::done`]. Between the two
//! sides, the queue keeps three collections, exactly as client-go's workqueue does:
//!
//! - `queue`: the keys waiting for a worker, oldest first (a FIFO, so no key starves);
//! - `dirty`: every key that needs processing. A key is dirty from its `add` until a worker
//!   takes it, so adding a dirty key again changes nothing: ten updates to one object while it
//!   waits become one reconcile;
//! - `processing`: the keys workers hold right now, between `get` and `done`.
//!
//! The interesting case is an `add` for a key a worker is busy with. The worker may already have
//! read the old state, so the key must be processed again, but not by a second worker at the
//! same time (two reconciles of one object would race each other's writes). So the key is only
//! marked dirty; `done` sees the mark and puts it back on the queue. This gives the two promises
//! a controller is built on: **a key is never processed by two workers at once**, and **every
//! change is followed by at least one processing that starts after it**.
//!
//! On top of that sit delays ([`WorkQueue::add_after`]) and retries with backoff
//! ([`WorkQueue::add_rate_limited`], see [`crate::rate_limiter`]). Delayed keys wait in a
//! min-heap owned by one background task, the "delayer", which sleeps until the earliest one is
//! due and then adds it: a thousand pending delays cost a thousand heap entries, not a thousand
//! timers or tasks.
//!
//! Shutting down is gentle: [`WorkQueue::get`] keeps handing out what is queued and only says
//! `None` once the queue is empty, and [`WorkQueue::shut_down_with_drain`] also waits until every
//! worker has called `done`.
// Starter code: the imports and parameters that the TODOs below need are unused until you
// write them. Once they are done, delete the `allow` below and the compiler checks you left none.
#![allow(unused)]

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::fmt;
use std::hash::Hash;
use std::pin::pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::{Notify, mpsc};
use tokio::time::Instant;

use crate::rate_limiter::{RateLimiter, default_controller_rate_limiter};

/// A delay longer than this counts as this long. No controller means to wait a year, and a truly
/// huge `Duration` (say `Duration::MAX`) cannot be added to an `Instant` at all.
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// A queue of keys (say, `namespace/name`) waiting to be processed, shared by informers and
/// workers. Cloning it is cheap and gives another handle to the same queue.
pub struct WorkQueue<K> {
    shared: Arc<Shared<K>>,
}

/// A snapshot of the queue's counters, named after client-go's `workqueue_*` metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Metrics {
    /// `workqueue_depth`: keys waiting to be handed to a worker. Like client-go's gauge, this
    /// counts a key added while a worker holds it, though it only joins the queue at `done`.
    pub depth: usize,
    /// `workqueue_adds_total`: adds that made a key dirty (adds of an already dirty key are free
    /// and not counted).
    pub adds_total: u64,
    /// `workqueue_retries_total`: calls to `add_after` and `add_rate_limited`.
    pub retries_total: u64,
}

/// What every handle of one queue shares.
struct Shared<K> {
    state: Mutex<State<K>>,
    /// Wakes a worker waiting in `get`: a key was queued, or the queue is shutting down.
    key_queued: Notify,
    /// Wakes `shut_down_with_drain` when the last worker calls `done`.
    processing_empty: Notify,
    rate_limiter: Box<dyn RateLimiter<K>>,
}

// ANCHOR: state
/// The three collections, and the rules that keep them consistent. Plain data, no locking or
/// waking: `WorkQueue` does that around these methods.
struct State<K> {
    /// Keys waiting for a worker, oldest first. Each is also in `dirty`, and appears once.
    queue: VecDeque<K>,
    /// Keys that need processing: all queued keys, plus keys added while a worker held them.
    dirty: HashSet<K>,
    /// Keys a worker holds right now, between `get` and `done`.
    processing: HashSet<K>,
    shutting_down: bool,
    /// Set by `shut_down_with_drain`: someone waits for `processing` to empty.
    draining: bool,
    adds_total: u64,
    retries_total: u64,
    /// Where `add_after` sends delayed keys; the delayer task starts with the first of them.
    delayer: Option<mpsc::UnboundedSender<Delayed<K>>>,
}
// ANCHOR_END: state

/// What `State::add` did with a key.
#[derive(Debug, PartialEq, Eq)]
enum Added {
    /// The key was dirty already: it will be processed anyway, nothing changes.
    AlreadyDirty,
    /// The key joined the queue: a waiting worker should be woken.
    Queued,
    /// A worker holds the key: it is marked dirty, and `done` will queue it.
    AfterDone,
}

impl<K: Clone + Eq + Hash> State<K> {
    fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            dirty: HashSet::new(),
            processing: HashSet::new(),
            shutting_down: false,
            draining: false,
            adds_total: 0,
            retries_total: 0,
            delayer: None,
        }
    }

    // ANCHOR: add
    /// Records that `key` needs processing.
    fn add(&mut self, key: K) -> Added {
        // TODO(exercise 3.1): Mark `key` dirty and queue it, unless it is dirty already or a worker is processing it.
        // The rules, in order: a key already in `self.dirty` changes nothing (`Added::AlreadyDirty`).
        // Otherwise insert it into `self.dirty`; then, if `self.processing` holds it, stop there
        // (`Added::AfterDone`: `done` will queue it), else push it on the back of `self.queue`
        // (`Added::Queued`). Book: "Step 03 > Three collections".
        todo!(
            "Exercise 3.1: Mark `key` dirty and queue it, unless it is dirty already or a worker is processing it."
        )
    }
    // ANCHOR_END: add

    // ANCHOR: pop
    /// Hands the oldest queued key to a worker, if there is one.
    fn pop(&mut self) -> Option<K> {
        // TODO(exercise 3.2): Take the oldest key off the queue and move it from dirty to processing.
        // `self.queue.pop_front()` gives the key (no key: return `None`, the `?` operator does it).
        // A worker holds it from now on: insert it into `self.processing`, and remove it from
        // `self.dirty` so that the next `add` marks it again. Book: "Step 03 > Three collections".
        todo!(
            "Exercise 3.2: Take the oldest key off the queue and move it from dirty to processing."
        )
    }
    // ANCHOR_END: pop

    // ANCHOR: done
    /// Records that a worker finished `key`. Returns whether the key went back on the queue.
    fn done(&mut self, key: &K) -> bool {
        // TODO(exercise 3.3): Release `key` from processing, and queue it again if it was added in the meantime.
        // `self.processing.remove(key)` says whether a worker really held it (if not, change
        // nothing: the key may be queued already, and must not be queued twice). If it was held
        // and `self.dirty` contains it, push a clone on the back of `self.queue` and return true.
        // Book: "Step 03 > Three collections".
        todo!(
            "Exercise 3.3: Release `key` from processing, and queue it again if it was added in the meantime."
        )
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

    /// A queue whose retries (`add_rate_limited`) wait as long as `rate_limiter` says.
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

    /// Says that `key` needs processing. Adding a key that is already waiting does nothing;
    /// adding one a worker holds gets it processed again after that worker's `done`. Ignored
    /// once the queue is shutting down.
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
    /// Waits for a key and hands it to the caller, who must call [`done`](Self::done) with it
    /// once finished. Returns `None` when the queue is shutting down and nothing is left in it.
    ///
    /// Cancel-safe: dropping the future before it completes loses no key.
    pub async fn get(&self) -> Option<K> {
        loop {
            // Ask to be woken *before* looking at the queue, so that a key queued between the
            // look and the wait still wakes us. Asking afterwards leaves a gap: `notify_one`
            // keeps at most one wake-up for a worker that is not waiting yet, so two workers in
            // the gap and two new keys would leave one worker asleep beside a queued key.
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

    /// Says the worker is finished with `key` (whether it succeeded or not). If the key was added
    /// again meanwhile, it goes back on the queue now.
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

    // ANCHOR: add_after
    /// Adds `key` once `delay` has passed (at once if it is zero). Until then the key is not
    /// dirty: an `add` meanwhile queues it as usual, and when the delay ends it is added again,
    /// which does nothing if it is still waiting. Of several delays pending for one key, the
    /// earliest wins. Delays still pending at shutdown are dropped.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as the delayer is a Tokio task.
    pub fn add_after(&self, key: K, delay: Duration) {
        let mut state = self.lock();
        if state.shutting_down {
            return;
        }
        state.retries_total += 1;
        if delay.is_zero() {
            drop(state);
            self.add(key);
            return;
        }
        let due = Instant::now() + delay.min(MAX_DELAY);
        let delayer = state.delayer.get_or_insert_with(|| self.start_delayer());
        // Sending fails only if the delayer is gone, which happens when its runtime shut down:
        // nothing would run the delay anyway.
        let _ = delayer.send(Delayed { due, key });
    }
    // ANCHOR_END: add_after

    // ANCHOR: add_rate_limited
    /// Adds `key` after the wait its rate limiter prescribes: the usual way to retry a key
    /// whose processing failed. Call `done` as usual, and [`forget`](Self::forget) once the
    /// key succeeds. Returns the wait chosen, so the caller can say when the retry comes.
    pub fn add_rate_limited(&self, key: K) -> Duration {
        let delay = self.shared.rate_limiter.when(&key);
        self.add_after(key, delay);
        delay
    }
    // ANCHOR_END: add_rate_limited

    /// Tells the rate limiter that `key` succeeded, so its next failure backs off from the start.
    /// It does not remove the key from the queue, and does not replace `done`.
    pub fn forget(&self, key: &K) {
        self.shared.rate_limiter.forget(key);
    }

    /// How many times `key` was retried with `add_rate_limited` since it was last forgotten.
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.shared.rate_limiter.num_requeues(key)
    }

    /// How many keys wait for a worker (keys a worker holds are not counted).
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether no key waits for a worker.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stops accepting keys. Workers still get what is queued; then `get` returns `None`.
    /// Returns at once, without waiting for workers to finish (see
    /// [`shut_down_with_drain`](Self::shut_down_with_drain)).
    pub fn shut_down(&self) {
        {
            let mut state = self.lock();
            state.shutting_down = true;
            // Closing the channel tells the delayer to stop; pending delays are dropped.
            state.delayer = None;
        }
        // Every waiting worker must look again: the queue may be empty for good now.
        self.shared.key_queued.notify_waiters();
    }

    /// Shuts down like [`shut_down`](Self::shut_down), then waits until every key handed out
    /// has been given back with `done`.
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
            retries_total: state.retries_total,
        }
    }

    /// Starts the delayer task. It holds only a weak handle to the queue, so that it ends once
    /// every `WorkQueue` handle is dropped (its channel closes with the queue).
    fn start_delayer(&self) -> mpsc::UnboundedSender<Delayed<K>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run_delayer(Arc::downgrade(&self.shared), receiver));
        sender
    }

    /// Locks the state, even if a thread panicked while holding the lock: every change made
    /// under it is a few set operations that cannot stop halfway, so the state is still
    /// consistent, and the queue is better kept working than failing in every worker.
    fn lock(&self) -> MutexGuard<'_, State<K>> {
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

// Written out rather than derived: a derive would demand `K: Clone`, which sharing an `Arc`
// does not need.
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

/// A key waiting in the delayer until `due`.
struct Delayed<K> {
    due: Instant,
    key: K,
}

// `BinaryHeap` pops its greatest entry; comparing by `due` reversed makes that the earliest.
// The key plays no part in the order (it need not be `Ord` at all).
impl<K> Ord for Delayed<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.due.cmp(&self.due)
    }
}

impl<K> PartialOrd for Delayed<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> PartialEq for Delayed<K> {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}

impl<K> Eq for Delayed<K> {}

/// The delayer's keys: a min-heap by due time, and each key's earliest due time (client-go's
/// `waitingForQueue` and `waitingEntryByData`).
struct Waiting<K> {
    heap: BinaryHeap<Delayed<K>>,
    due: HashMap<K, Instant>,
}

impl<K: Clone + Eq + Hash> Waiting<K> {
    /// Remembers `delayed`, unless its key already waits for an earlier (or the same) time.
    fn insert(&mut self, delayed: Delayed<K>) {
        if let Some(&due) = self.due.get(&delayed.key)
            && due <= delayed.due
        {
            return;
        }
        // An earlier time for a waiting key leaves the later entry in the heap: rather than dig
        // it out, `pop_due` skips entries whose time no longer matches `self.due`.
        self.due.insert(delayed.key.clone(), delayed.due);
        self.heap.push(delayed);
    }

    /// The next key whose time has come at `now`, if any.
    fn pop_due(&mut self, now: Instant) -> Option<K> {
        while self.heap.peek().is_some_and(|next| next.due <= now) {
            let Delayed { due, key } = self.heap.pop()?;
            if self.due.get(&key) == Some(&due) {
                self.due.remove(&key);
                return Some(key);
            }
        }
        None
    }

    /// When the delayer must wake up next (possibly for an entry that turns out to be stale).
    fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|next| next.due)
    }
}

// ANCHOR: delayer
/// The delayer task: client-go's `waitingLoop`. It sleeps until the earliest delay ends or a new
/// delayed key arrives, adds every key that is due, and repeats. It stops when its channel
/// closes (the queue shut down or was dropped).
async fn run_delayer<K>(queue: Weak<Shared<K>>, mut incoming: mpsc::UnboundedReceiver<Delayed<K>>)
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    let mut waiting = Waiting {
        heap: BinaryHeap::new(),
        due: HashMap::new(),
    };
    loop {
        let now = Instant::now();
        while let Some(key) = waiting.pop_due(now) {
            let Some(shared) = queue.upgrade() else {
                return;
            };
            WorkQueue { shared }.add(key);
        }

        let next_due = waiting.next_due();
        let sleep_until_next_due = async {
            match next_due {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            delayed = incoming.recv() => match delayed {
                Some(delayed) => waiting.insert(delayed),
                None => return,
            },
            () = sleep_until_next_due => {}
        }
    }
}
// ANCHOR_END: delayer

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rate_limiter::ItemExponentialFailureRateLimiter;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    /// How long a test lets `get` wait. The tests run on Tokio's paused clock, where this hour
    /// passes at once as soon as nothing else can run.
    const PATIENCE: Duration = Duration::from_secs(3600);

    /// `get`, for a key that must be there: a broken queue fails the test instead of hanging it.
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

    #[tokio::test(start_paused = true)]
    async fn adds_while_processing_collapse_into_one() {
        // client-go's TestCollapseWhileProcessing.
        let queue = WorkQueue::new();
        queue.add("a");
        next(&queue).await;
        for _ in 0..3 {
            queue.add("a");
        }
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
    async fn add_after_adds_when_the_delay_ends() {
        let queue = WorkQueue::new();
        let start = Instant::now();
        queue.add_after("a", ms(50));
        queue.add_after("b", ms(20));
        assert_eq!(queue.len(), 0);
        assert_eq!(next(&queue).await, Some("b"));
        assert_eq!(start.elapsed(), ms(20));
        assert_eq!(next(&queue).await, Some("a"));
        assert_eq!(start.elapsed(), ms(50));
    }

    #[tokio::test(start_paused = true)]
    async fn add_after_with_zero_delay_adds_at_once() {
        let queue = WorkQueue::new();
        queue.add_after("a", Duration::ZERO);
        assert_eq!(queue.len(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn add_after_for_a_waiting_key_does_not_queue_it_twice() {
        let queue = WorkQueue::new();
        queue.add("a");
        queue.add_after("a", ms(10));
        tokio::time::sleep(ms(20)).await;
        assert_eq!(queue.len(), 1);
        assert_eq!(next(&queue).await, Some("a"));
        queue.done(&"a");
        assert!(get_blocks(&queue).await, "the delayed add was absorbed");
    }

    #[tokio::test(start_paused = true)]
    async fn the_earliest_of_several_delays_wins() {
        let queue = WorkQueue::new();
        let start = Instant::now();
        queue.add_after("a", ms(50));
        queue.add_after("a", ms(20));
        queue.add_after("a", ms(30));
        assert_eq!(next(&queue).await, Some("a"));
        assert_eq!(start.elapsed(), ms(20));
        queue.done(&"a");
        // The later requests were merged into the first: "a" does not come back at 30 or 50 ms.
        assert!(get_blocks(&queue).await);
    }

    #[tokio::test(start_paused = true)]
    async fn an_outdated_delay_does_not_fire_a_newer_one_early() {
        let queue = WorkQueue::new();
        let start = Instant::now();
        queue.add_after("a", ms(50));
        queue.add_after("a", ms(20));
        assert_eq!(next(&queue).await, Some("a"));
        queue.done(&"a");
        // Due at 60 ms. The entry for 50 ms is still in the delayer's heap, and must not count.
        queue.add_after("a", ms(40));
        assert_eq!(next(&queue).await, Some("a"));
        assert_eq!(start.elapsed(), ms(60));
    }

    #[tokio::test(start_paused = true)]
    async fn delays_pending_at_shut_down_are_dropped() {
        let queue = WorkQueue::new();
        queue.add_after("a", ms(10));
        queue.shut_down();
        tokio::time::sleep(ms(20)).await;
        assert_eq!(queue.len(), 0);
        assert_eq!(next(&queue).await, None);
    }

    #[tokio::test(start_paused = true)]
    async fn add_rate_limited_backs_off_and_forget_starts_over() {
        let queue = WorkQueue::with_rate_limiter(ItemExponentialFailureRateLimiter::new(
            ms(5),
            Duration::from_secs(1000),
        ));
        let start = Instant::now();
        for expected_wait in [5, 10, 20] {
            let before = Instant::now();
            queue.add_rate_limited("a");
            assert_eq!(next(&queue).await, Some("a"));
            assert_eq!(before.elapsed(), ms(expected_wait));
            queue.done(&"a");
        }
        assert_eq!(start.elapsed(), ms(35));
        assert_eq!(queue.num_requeues(&"a"), 3);

        queue.forget(&"a");
        assert_eq!(queue.num_requeues(&"a"), 0);
        let before = Instant::now();
        queue.add_rate_limited("a");
        assert_eq!(next(&queue).await, Some("a"));
        assert_eq!(before.elapsed(), ms(5));
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

    #[tokio::test(start_paused = true)]
    async fn the_delayer_does_not_keep_the_queue_alive() {
        let queue = WorkQueue::new();
        queue.add_after("a", Duration::from_secs(3600));
        let shared = Arc::downgrade(&queue.shared);
        drop(queue);
        assert!(
            shared.upgrade().is_none(),
            "the delayer keeps no strong handle"
        );
    }
}
