//! Randomized tests: many workers, adds and delayed adds in random order, and the queue's two
//! promises checked throughout.
//!
//! 1. A key is never processed by two workers at once.
//! 2. Every add is followed by a processing that starts after it. Checked the way a controller
//!    experiences it: the producer bumps a key's *version* before adding the key, and a worker
//!    reads the version right after `get`. At the end, every key's latest version must have been
//!    seen by some worker, whatever the interleaving was.
//!
//! The random numbers come from a small xorshift generator with fixed seeds, so a failure names
//! its seed and replays exactly (on the paused clock, the whole run is deterministic).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use workqueue::WorkQueue;

/// Marsaglia's xorshift64: a few lines, no dependency, the same sequence on every machine.
struct XorShift(u64);

impl XorShift {
    fn new(seed: u64) -> Self {
        // Zero is xorshift's one fixed point; spread the seed so small seeds differ a lot.
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// A number in `0..n`.
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const KEYS: usize = 16;

/// What the workers and the producer share, per key.
struct Board {
    /// Bumped by the producer before each add.
    version: Vec<AtomicU64>,
    /// The highest version a worker read after `get`.
    seen: Vec<AtomicU64>,
    /// Set while a worker holds the key.
    in_flight: Vec<AtomicBool>,
    /// How many times workers got a key, and how many times they may: far more than the
    /// adds can explain means a key comes back by itself, and the run would never end.
    handed_out: AtomicU64,
    most: u64,
}

impl Board {
    /// A board for a run of `adds` adds.
    fn new(adds: u64) -> Arc<Self> {
        Arc::new(Self {
            version: (0..KEYS).map(|_| AtomicU64::new(0)).collect(),
            seen: (0..KEYS).map(|_| AtomicU64::new(0)).collect(),
            in_flight: (0..KEYS).map(|_| AtomicBool::new(false)).collect(),
            handed_out: AtomicU64::new(0),
            most: 10 * adds,
        })
    }

    /// The producer's side: a new version of `key` exists.
    fn bump(&self, key: usize) {
        self.version[key].fetch_add(1, Ordering::SeqCst);
    }

    /// A worker got `key`: check nobody else holds it, and read its latest version.
    fn start(&self, key: usize, seed: u64) {
        let handed_out = self.handed_out.fetch_add(1, Ordering::SeqCst) + 1;
        assert!(
            handed_out <= self.most,
            "seed {seed}: workers got keys {handed_out} times, for {} adds: a key that was \
             handed out keeps coming back by itself (does get leave it dirty?)",
            self.most / 10
        );
        let already = self.in_flight[key].swap(true, Ordering::SeqCst);
        assert!(
            !already,
            "seed {seed}: key {key} handed to two workers at once"
        );
        let version = self.version[key].load(Ordering::SeqCst);
        self.seen[key].fetch_max(version, Ordering::SeqCst);
    }

    /// A worker is finished with `key`, just before it calls `done`.
    fn finish(&self, key: usize) {
        self.in_flight[key].store(false, Ordering::SeqCst);
    }

    fn assert_every_version_was_seen(&self, seed: u64) {
        for key in 0..KEYS {
            let version = self.version[key].load(Ordering::SeqCst);
            let seen = self.seen[key].load(Ordering::SeqCst);
            assert_eq!(
                seen, version,
                "seed {seed}: key {key} changed to version {version}, but no worker started after that"
            );
            assert!(!self.in_flight[key].load(Ordering::SeqCst));
        }
    }
}

/// A worker as a controller would run it: get, process for a random while, done.
async fn worker(
    queue: WorkQueue<usize>,
    board: Arc<Board>,
    mut rng: XorShift,
    seed: u64,
) {
    while let Some(key) = queue.get().await {
        board.start(key, seed);
        match rng.below(3) {
            0 => {}
            1 => tokio::task::yield_now().await,
            _ => tokio::time::sleep(Duration::from_micros(rng.below(3000))).await,
        }
        board.finish(key);
        queue.done(&key);
    }
}

/// One seeded run: 4 workers, 2000 random adds and delayed adds over 16 keys.
async fn run(seed: u64) {
    const WORKERS: u64 = 4;
    const OPERATIONS: u64 = 2000;
    const MAX_DELAY_MS: u64 = 20;

    let queue = WorkQueue::new();
    let board = Board::new(OPERATIONS);
    let workers: Vec<_> = (0..WORKERS)
        .map(|id| {
            let rng = XorShift::new(seed ^ ((id + 1) << 32));
            tokio::spawn(worker(queue.clone(), board.clone(), rng, seed))
        })
        .collect();

    let mut rng = XorShift::new(seed);
    for _ in 0..OPERATIONS {
        let key = rng.below(KEYS as u64) as usize;
        board.bump(key);
        match rng.below(10) {
            0..=5 => queue.add(key),
            6..=8 => queue
                .add_after(key, Duration::from_millis(rng.below(MAX_DELAY_MS) + 1)),
            _ => queue.add_after(key, Duration::ZERO),
        }
        // Let the workers run in between, sometimes not at all, sometimes for a while.
        match rng.below(4) {
            0 => tokio::task::yield_now().await,
            1 => tokio::time::sleep(Duration::from_micros(rng.below(2000))).await,
            _ => {}
        }
    }

    // Delays still pending at shutdown would be dropped: let them all end first.
    tokio::time::sleep(Duration::from_millis(MAX_DELAY_MS + 1)).await;
    queue.shut_down_with_drain().await;
    for worker in workers {
        worker
            .await
            .expect("a worker panicked (see its message above)");
    }

    board.assert_every_version_was_seen(seed);
    assert!(queue.is_empty());
}

#[test]
fn random_workloads_on_the_paused_clock_keep_both_promises() {
    for seed in [1, 2, 3, 42, 1234, 0xDEAD_BEEF, 987_654_321, 31_337] {
        // A fresh single-threaded runtime per seed: the run depends on the seed alone.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a Tokio runtime");
        runtime.block_on(async {
            // An hour of virtual time passes at once if the run is stuck, failing it.
            tokio::time::timeout(Duration::from_secs(3600), run(seed))
                .await
                .unwrap_or_else(|_| panic!("seed {seed}: the run never finished"));
        });
    }
}

/// The same checks with workers on real threads, where the lock (not the scheduler) is what
/// keeps them apart. Not deterministic, but any violation it finds is a real one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn random_workloads_on_real_threads_keep_both_promises() {
    for seed in [7, 8, 9] {
        tokio::time::timeout(Duration::from_secs(60), run_on_threads(seed))
            .await
            .unwrap_or_else(|_| panic!("seed {seed}: the run never finished"));
    }
}

/// One seeded run: 4 workers that barely pause, 20 000 adds over 16 keys.
async fn run_on_threads(seed: u64) {
    const ADDS: u64 = 20_000;
    let queue = WorkQueue::new();
    let board = Board::new(ADDS);
    let workers: Vec<_> = (0..4u64)
        .map(|id| {
            let queue = queue.clone();
            let board = board.clone();
            tokio::spawn(async move {
                while let Some(key) = queue.get().await {
                    board.start(key, seed);
                    if id % 2 == 0 {
                        tokio::task::yield_now().await;
                    }
                    board.finish(key);
                    queue.done(&key);
                }
            })
        })
        .collect();

    let mut rng = XorShift::new(seed);
    for _ in 0..ADDS {
        let key = rng.below(KEYS as u64) as usize;
        board.bump(key);
        queue.add(key);
        if rng.below(8) == 0 {
            tokio::task::yield_now().await;
        }
    }
    queue.shut_down_with_drain().await;
    for worker in workers {
        worker
            .await
            .expect("a worker panicked (see its message above)");
    }
    board.assert_every_version_was_seen(seed);
}
