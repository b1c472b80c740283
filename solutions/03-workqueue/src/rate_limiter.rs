//! Rate limiters: how long a failed key waits before it is tried again.
//!
//! When a reconcile fails, the controller puts the key back with
//! [`WorkQueue::add_rate_limited`](crate::WorkQueue::add_rate_limited), and the queue
//! asks a rate limiter how long to wait first. Retrying at once would hammer an API
//! server that may be the very reason for the failure; waiting the same fixed time
//! for everything is either too slow for a blip or too fast for an outage.
//! client-go's answer, reproduced here, combines two limiters:
//!
//! - **Per key, exponential**: a key that keeps failing waits 5 ms, 10 ms, 20
//!   ms, 40 ms… up to 1000 s. One broken object backs off on its own and does
//!   not slow down the healthy ones. A success calls `forget`, and the next
//!   failure starts again from 5 ms.
//! - **Overall, a token bucket**: 10 retries a second, with bursts of up to 100. When
//!   *everything* fails at once (the API server restarted), this keeps the retries as
//!   a whole to a steady trickle, however small each key's own backoff still is.
//!
//! [`MaxOfRateLimiter`] asks both and waits for the longer answer;
//! [`default_controller_rate_limiter`] builds that pair with client-go's numbers.
//!
//! Time comes from [`tokio::time::Instant`]: in tests on Tokio's paused clock, "now"
//! only moves when the test lets it, so the expected delays are exact.

use std::collections::HashMap;
use std::fmt;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// The first retry of a key waits this long (client-go's
/// `DefaultControllerRateLimiter`)…
pub const DEFAULT_BASE_DELAY: Duration = Duration::from_millis(5);
/// …each further failure doubles the wait, up to this.
pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(1000);
/// Retries of all keys together: this many a second on average…
pub const DEFAULT_RETRIES_PER_SECOND: u32 = 10;
/// …with bursts of up to this many at once.
pub const DEFAULT_BURST: u32 = 100;

// ANCHOR: trait
/// Decides how long a key waits before it is retried.
///
/// The three methods are client-go's `When`, `Forget` and `NumRequeues`. They
/// take `&self`: one limiter is shared by every worker, so implementations keep
/// their memory behind a lock.
pub trait RateLimiter<K>: Send + Sync {
    /// Records one more failure of `key` and says how long
    /// to wait before retrying it.
    fn when(&self, key: &K) -> Duration;
    /// Forgets the failures of `key`: it succeeded, so its next
    /// failure is a first one again.
    fn forget(&self, key: &K);
    /// How many times `key` has failed since it was last forgotten.
    fn num_requeues(&self, key: &K) -> u32;
}
// ANCHOR_END: trait

/// Waits `base × 2^failures` for a key, never longer than `max`.
#[derive(Debug)]
pub struct ItemExponentialFailureRateLimiter<K> {
    base_delay: Duration,
    max_delay: Duration,
    /// Failures per key since its last `forget`. Keys that never fail take no room.
    failures: Mutex<HashMap<K, u32>>,
}

impl<K> ItemExponentialFailureRateLimiter<K> {
    /// A limiter whose first wait is `base_delay`, doubling on each
    /// failure up to `max_delay`.
    pub fn new(base_delay: Duration, max_delay: Duration) -> Self {
        Self {
            base_delay,
            max_delay,
            failures: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Clone + Eq + Hash + Send + Sync> RateLimiter<K>
    for ItemExponentialFailureRateLimiter<K>
{
    // ANCHOR: when
    fn when(&self, key: &K) -> Duration {
        // DIAGNOSE 3.4: `exponential_survives_huge_failure_counts` fails:
        //     find out why, and fix it.
        // The wait is base_delay × 2^(earlier failures of `key`), never
        // more than max_delay, and this failure is counted. A key can fail
        // for days: every count of failures must give a wait, and the count
        // must never wrap back to zero.
        // Proved by: rate_limiter::tests::exponential_
        // Path: stretch, 10 min
        // Book: "Step 03 > Backing off"
        // BEGIN SOLUTION
        let mut failures = lock(&self.failures);
        let count = failures.entry(key.clone()).or_insert(0);
        let exponent = *count;
        *count = count.saturating_add(1);
        // "Too big to compute" (2^n past u32, or the product past a
        // Duration) is simply long.
        2u32.checked_pow(exponent)
            .and_then(|factor| self.base_delay.checked_mul(factor))
            .map_or(self.max_delay, |delay| delay.min(self.max_delay))
        // STARTER
        // let mut failures = lock(&self.failures);
        // let count = failures.entry(key.clone()).or_insert(0);
        // let exponent = *count;
        // *count += 1;
        // (self.base_delay * 2u32.pow(exponent)).min(self.max_delay)
        // END SOLUTION
    }
    // ANCHOR_END: when

    fn forget(&self, key: &K) {
        lock(&self.failures).remove(key);
    }

    fn num_requeues(&self, key: &K) -> u32 {
        lock(&self.failures).get(key).copied().unwrap_or(0)
    }
}

/// A token bucket shared by all keys: `per_second` retries a
/// second, bursts of up to `burst`.
///
/// The textbook bucket holds a number of tokens that refills continuously, and each
/// retry takes one; with no token left, the retry waits until one has grown back.
/// Counting fractional tokens needs floating point, so this bucket keeps the same
/// books in time instead: one token is worth `per_token` (100 ms at 10/s), a full
/// bucket is worth `capacity` (`burst × per_token`), and the only state is the
/// instant at which the bucket will be full again. Taking a token pushes that instant
/// `per_token` later. As long as it stays within `capacity` of now, tokens are left
/// and the wait is zero; any further and the excess is exactly how long this retry
/// must wait. Its token is taken all the same (it is reserved), so the next caller
/// waits one `per_token` longer. Every step is `Duration` arithmetic: exact, and
/// nothing runs in the background.
#[derive(Debug)]
pub struct BucketRateLimiter {
    per_token: Duration,
    capacity: Duration,
    /// When the bucket will hold `burst` tokens again, if nobody takes another one.
    full_at: Mutex<Instant>,
}

impl BucketRateLimiter {
    /// A bucket that starts full with `burst` tokens and earns back `per_second`
    /// tokens a second. A rate of 0 would never refill, which no controller
    /// wants: it counts as 1 a second.
    pub fn new(per_second: u32, burst: u32) -> Self {
        let per_token = Duration::from_secs(1) / per_second.max(1);
        Self {
            per_token,
            capacity: per_token * burst,
            full_at: Mutex::new(Instant::now()),
        }
    }
}

// ANCHOR: bucket
impl<K> RateLimiter<K> for BucketRateLimiter {
    fn when(&self, _key: &K) -> Duration {
        let now = Instant::now();
        let mut full_at = lock(&self.full_at);
        // A bucket cannot be fuller than full: time it spent
        // full earns no extra tokens.
        *full_at = (*full_at).max(now) + self.per_token;
        (*full_at - now).saturating_sub(self.capacity)
    }

    // The bucket knows nothing about single keys: there is
    // nothing to forget or count.
    fn forget(&self, _key: &K) {}

    fn num_requeues(&self, _key: &K) -> u32 {
        0
    }
}
// ANCHOR_END: bucket

/// Asks every limiter it holds and waits for the longest answer.
pub struct MaxOfRateLimiter<K> {
    limiters: Vec<Box<dyn RateLimiter<K>>>,
}

impl<K> MaxOfRateLimiter<K> {
    /// Combines `limiters`; with none at all, every wait is zero.
    pub fn new(limiters: Vec<Box<dyn RateLimiter<K>>>) -> Self {
        Self { limiters }
    }
}

impl<K> RateLimiter<K> for MaxOfRateLimiter<K> {
    fn when(&self, key: &K) -> Duration {
        // Every limiter must hear about the failure (count it, take a token), so no
        // short-cut once one of them has given a long answer.
        self.limiters
            .iter()
            .map(|limiter| limiter.when(key))
            .max()
            .unwrap_or(Duration::ZERO)
    }

    fn forget(&self, key: &K) {
        for limiter in &self.limiters {
            limiter.forget(key);
        }
    }

    fn num_requeues(&self, key: &K) -> u32 {
        self.limiters
            .iter()
            .map(|limiter| limiter.num_requeues(key))
            .max()
            .unwrap_or(0)
    }
}

impl<K> fmt::Debug for MaxOfRateLimiter<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaxOfRateLimiter")
            .field("limiters", &self.limiters.len())
            .finish()
    }
}

// ANCHOR: default
/// client-go's `DefaultControllerRateLimiter`: per-key exponential backoff
/// from 5 ms to 1000 s, and at most 10 retries a second overall (bursts of
/// 100), whichever waits longer.
pub fn default_controller_rate_limiter<K>() -> MaxOfRateLimiter<K>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
{
    MaxOfRateLimiter::new(vec![
        Box::new(ItemExponentialFailureRateLimiter::new(
            DEFAULT_BASE_DELAY,
            DEFAULT_MAX_DELAY,
        )),
        Box::new(BucketRateLimiter::new(
            DEFAULT_RETRIES_PER_SECOND,
            DEFAULT_BURST,
        )),
    ])
}
// ANCHOR_END: default

/// Locks `mutex` even if a thread panicked while holding it. Every update behind
/// these locks is a single assignment or map operation, so a panic elsewhere
/// cannot leave the data half-changed: carrying on is safe, and better than
/// failing every later retry.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn client_go_exponential() -> ItemExponentialFailureRateLimiter<&'static str> {
        ItemExponentialFailureRateLimiter::new(DEFAULT_BASE_DELAY, DEFAULT_MAX_DELAY)
    }

    #[test]
    fn exponential_doubles_from_5ms() {
        let limiter = client_go_exponential();
        let waits: Vec<_> = (0..6).map(|_| limiter.when(&"a")).collect();
        assert_eq!(waits, [ms(5), ms(10), ms(20), ms(40), ms(80), ms(160)]);
        assert_eq!(limiter.num_requeues(&"a"), 6);
    }

    #[test]
    fn exponential_counts_each_key_on_its_own() {
        let limiter = client_go_exponential();
        assert_eq!(limiter.when(&"a"), ms(5));
        assert_eq!(limiter.when(&"a"), ms(10));
        assert_eq!(limiter.when(&"b"), ms(5));
        assert_eq!(limiter.num_requeues(&"a"), 2);
        assert_eq!(limiter.num_requeues(&"b"), 1);
        assert_eq!(limiter.num_requeues(&"never-failed"), 0);
    }

    #[test]
    fn exponential_stops_at_the_cap() {
        let limiter = client_go_exponential();
        // 5 ms × 2^17 = 655.36 s is the last wait under 1000 s; the
        // 19th failure hits the cap.
        let waits: Vec<_> = (0..20).map(|_| limiter.when(&"a")).collect();
        assert_eq!(waits[17], ms(655_360));
        assert_eq!(waits[18], DEFAULT_MAX_DELAY);
        assert_eq!(waits[19], DEFAULT_MAX_DELAY);
    }

    #[test]
    fn exponential_survives_huge_failure_counts() {
        // client-go's TestItemExponentialFailureRateLimiterOverFlow: 2^n overflows
        // long before the cap is reached when the base is tiny.
        let limiter = ItemExponentialFailureRateLimiter::new(
            Duration::from_nanos(1),
            ms(1_000_000),
        );
        for _ in 0..10_000 {
            assert!(limiter.when(&"a") <= ms(1_000_000));
        }
        assert_eq!(limiter.when(&"a"), ms(1_000_000));
        assert_eq!(limiter.num_requeues(&"a"), 10_001);

        // And the counter itself does not wrap around to zero (and a 5 ms wait).
        lock(&limiter.failures).insert("a", u32::MAX);
        assert_eq!(limiter.when(&"a"), ms(1_000_000));
        assert_eq!(limiter.num_requeues(&"a"), u32::MAX);
    }

    #[test]
    fn forget_resets_the_backoff() {
        let limiter = client_go_exponential();
        for _ in 0..5 {
            limiter.when(&"a");
        }
        limiter.when(&"b");
        limiter.forget(&"a");
        assert_eq!(limiter.num_requeues(&"a"), 0);
        assert_eq!(limiter.when(&"a"), ms(5));
        assert_eq!(limiter.num_requeues(&"b"), 1, "forget touches one key only");
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_allows_a_burst_then_spaces_retries_100ms_apart() {
        let limiter = BucketRateLimiter::new(10, 100);
        let when = |key: &str| RateLimiter::<&str>::when(&limiter, &key);
        for i in 0..100 {
            assert_eq!(when("any"), Duration::ZERO, "retry {i} is within the burst");
        }
        assert_eq!(when("any"), ms(100));
        assert_eq!(when("other"), ms(200), "the bucket is shared by all keys");
        assert_eq!(when("any"), ms(300));
    }

    #[tokio::test(start_paused = true)]
    async fn bucket_refills_over_time_but_never_beyond_the_burst() {
        let limiter = BucketRateLimiter::new(10, 100);
        let when = || RateLimiter::<()>::when(&limiter, &());
        for _ in 0..100 {
            when();
        }
        // Half a second earns five tokens back.
        tokio::time::advance(ms(500)).await;
        for _ in 0..5 {
            assert_eq!(when(), Duration::ZERO);
        }
        assert_eq!(when(), ms(100));

        // An hour idle fills the bucket, but only to 100 tokens.
        tokio::time::advance(Duration::from_secs(3600)).await;
        for _ in 0..100 {
            assert_eq!(when(), Duration::ZERO);
        }
        assert_eq!(when(), ms(100));
    }

    #[tokio::test(start_paused = true)]
    async fn max_of_waits_for_the_longest_answer() {
        // A bucket of burst 2: the third retry waits 100 ms,
        // longer than the 20 ms backoff.
        let limiter = MaxOfRateLimiter::new(vec![
            Box::new(client_go_exponential()),
            Box::new(BucketRateLimiter::new(10, 2)),
        ]);
        assert_eq!(limiter.when(&"a"), ms(5));
        assert_eq!(limiter.when(&"a"), ms(10));
        assert_eq!(limiter.when(&"a"), ms(100));
        // Both limiters heard every failure: the bucket is
        // still empty, the count is 3.
        assert_eq!(limiter.num_requeues(&"a"), 3);
        limiter.forget(&"a");
        assert_eq!(limiter.num_requeues(&"a"), 0);
        assert_eq!(limiter.when(&"a"), ms(200));
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_limiter_is_client_gos() {
        let limiter = default_controller_rate_limiter::<u32>();
        // One failure each for 100 keys: all within the burst,
        // so each waits its own 5 ms.
        for key in 0..100 {
            assert_eq!(limiter.when(&key), ms(5));
        }
        // Key 0's second failure would back off 10 ms, but
        // the bucket is empty: 100 ms.
        assert_eq!(limiter.when(&0), ms(100));
        // Long after, the bucket is full again and key 0's
        // own backoff (20 ms) decides.
        tokio::time::advance(Duration::from_secs(60)).await;
        assert_eq!(limiter.when(&0), ms(20));
        assert_eq!(limiter.num_requeues(&0), 3);
    }
}
