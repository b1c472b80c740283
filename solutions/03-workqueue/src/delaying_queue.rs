//! The delaying queue: keys added after a delay, and retries that back off.
//!
//! client-go builds its workqueue in layers, one file each: the queue itself
//! (`queue.go`, our [`crate::queue`]), a *delaying* queue that adds keys later
//! (`delaying_queue.go`), and a *rate-limiting* queue that asks a rate limiter
//! how much later (`rate_limiting_queue.go`). Here the two upper layers are
//! this file: more methods of the same [`WorkQueue`], so a controller holds
//! one handle for all of them.
//!
//! Delayed keys wait in a min-heap owned by one background task, the "delayer",
//! which sleeps until the earliest one is due and then adds it: a thousand pending
//! delays cost a thousand heap entries, not a thousand timers or tasks. The
//! queue's `workqueue_retries_total` counter is kept here, where client-go's
//! delaying queue counts it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::queue::{Shared, WorkQueue};

/// A delay longer than this counts as this long. No controller means to
/// wait a year, and a truly huge `Duration` (say `Duration::MAX`) cannot be
/// added to an `Instant` at all.
const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The delaying queue's part of the queue's state, kept under the queue's lock.
pub(crate) struct Delays<K> {
    /// `workqueue_retries_total`: calls to `add_after` and `add_rate_limited`.
    pub(crate) retries_total: u64,
    /// Where `add_after` sends delayed keys; the delayer task
    /// starts with the first of them.
    sender: Option<mpsc::UnboundedSender<Delayed<K>>>,
}

impl<K> Default for Delays<K> {
    fn default() -> Self {
        Self {
            retries_total: 0,
            sender: None,
        }
    }
}

impl<K> Delays<K> {
    /// Closes the channel, which tells the delayer to stop;
    /// pending delays are dropped.
    pub(crate) fn stop(&mut self) {
        self.sender = None;
    }
}

impl<K> WorkQueue<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    // ANCHOR: add_after
    /// Adds `key` once `delay` has passed (at once if it is zero). Until then the
    /// key is not dirty: an `add` meanwhile queues it as usual, and when the
    /// delay ends it is added again, which does nothing if it is still waiting.
    /// Of several delays pending for one key, the earliest wins. Delays still
    /// pending at shutdown are dropped.
    ///
    /// # Panics
    ///
    /// Outside a Tokio runtime, as the delayer is a Tokio task.
    pub fn add_after(&self, key: K, delay: Duration) {
        let mut state = self.lock();
        if state.shutting_down {
            return;
        }
        state.delays.retries_total += 1;
        if delay.is_zero() {
            drop(state);
            self.add(key);
            return;
        }
        let due = Instant::now() + delay.min(MAX_DELAY);
        let delayer = state
            .delays
            .sender
            .get_or_insert_with(|| self.start_delayer());
        // Sending fails only if the delayer is gone, which happens when its runtime
        // shut down: nothing would run the delay anyway.
        let _ = delayer.send(Delayed { due, key });
    }
    // ANCHOR_END: add_after

    // ANCHOR: add_rate_limited
    /// Adds `key` after the wait its rate limiter prescribes: the usual way to retry
    /// a key whose processing failed. Call `done` as usual, and
    /// [`forget`](Self::forget) once the key succeeds. Returns the wait chosen, so
    /// the caller can say when the retry comes.
    pub fn add_rate_limited(&self, key: K) -> Duration {
        let delay = self.shared.rate_limiter.when(&key);
        self.add_after(key, delay);
        delay
    }
    // ANCHOR_END: add_rate_limited

    /// Tells the rate limiter that `key` succeeded, so its next failure
    /// backs off from the start. It does not remove the key from the queue,
    /// and does not replace `done`.
    pub fn forget(&self, key: &K) {
        self.shared.rate_limiter.forget(key);
    }

    /// How many times `key` was retried with `add_rate_limited`
    /// since it was last forgotten.
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.shared.rate_limiter.num_requeues(key)
    }

    /// Starts the delayer task. It holds only a weak handle to the queue,
    /// so that it ends once every `WorkQueue` handle is dropped (its
    /// channel closes with the queue).
    fn start_delayer(&self) -> mpsc::UnboundedSender<Delayed<K>> {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run_delayer(Arc::downgrade(&self.shared), receiver));
        sender
    }
}

/// A key waiting in the delayer until `due`.
struct Delayed<K> {
    due: Instant,
    key: K,
}

// `BinaryHeap` pops its greatest entry; comparing by `due` reversed makes that the
// earliest. The key plays no part in the order (it need not be `Ord` at all).
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

/// The delayer's keys: a min-heap by due time, and each key's earliest due time
/// (client-go's `waitingForQueue` and `waitingEntryByData`).
struct Waiting<K> {
    heap: BinaryHeap<Delayed<K>>,
    due: HashMap<K, Instant>,
}

impl<K: Clone + Eq + Hash> Waiting<K> {
    /// Remembers `delayed`, unless its key already waits for an
    /// earlier (or the same) time.
    fn insert(&mut self, delayed: Delayed<K>) {
        if let Some(&due) = self.due.get(&delayed.key)
            && due <= delayed.due
        {
            return;
        }
        // An earlier time for a waiting key leaves the later entry in the
        // heap: rather than dig it out, `pop_due` skips entries whose time no
        // longer matches `self.due`.
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

    /// When the delayer must wake up next (possibly for an entry
    /// that turns out to be stale).
    fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|next| next.due)
    }
}

// ANCHOR: delayer
/// The delayer task: client-go's `waitingLoop`. It sleeps until the earliest delay
/// ends or a new delayed key arrives, adds every key that is due, and repeats. It
/// stops when its channel closes (the queue shut down or was dropped).
async fn run_delayer<K>(
    queue: Weak<Shared<K>>,
    mut incoming: mpsc::UnboundedReceiver<Delayed<K>>,
) where
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

    /// How long a test lets `get` wait, on Tokio's paused clock (see
    /// the tests of `queue.rs`).
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
        // The later requests were merged into the first: "a" does not
        // come back at 30 or 50 ms.
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
        // Due at 60 ms. The entry for 50 ms is still in the delayer's
        // heap, and must not count.
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
        let queue = WorkQueue::with_rate_limiter(
            ItemExponentialFailureRateLimiter::new(ms(5), Duration::from_secs(1000)),
        );
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
