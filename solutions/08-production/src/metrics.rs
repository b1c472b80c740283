//! Metrics: what the controller is doing, as numbers Prometheus can scrape.
//!
//! Logs tell the story of one run; metrics answer questions about all of them at
//! once. Is the controller keeping up? (queue depth) Does reconcile fail? (reconciles
//! by result) Is it slow? (the duration histogram) Which replica is working?
//! (leader). They are served at `/metrics` in the Prometheus text format by
//! [`crate::health`], and written with `prometheus-client`, the official Rust client:
//!
//! ```text
//! taskrun_controller_reconciles_total{result="success"} 42
//! taskrun_controller_reconcile_duration_seconds_bucket{le="0.01"} 40
//! taskrun_controller_queue_depth 0
//! taskrun_controller_leader 1
//! ```
//!
//! **Queue depth.** kube-runtime keeps its queue to itself, so the depth is counted
//! from the outside, with client-go's meaning: a run is *waiting* from the moment a
//! change concerning it arrives (its own, its Pod's, its Task's) until its reconcile
//! starts, counted once however many changes arrive meanwhile. A run whose reconcile
//! asked to be requeued later is not waiting until that time comes; client-go does
//! not count such delayed items in its depth either. (Those that come due are not
//! seen here: kube-runtime requeues them on its own.)

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use crds::TaskRun;
use kube::runtime::reflector::ObjectRef;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The label of the reconcile counter: `result="success"` or `result="error"`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

/// Every metric of the controller, and the registry that serves them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Family<ResultLabel, Counter>,
    duration: Histogram,
    queue_depth: Gauge,
    leader: Gauge,
    waiting: Mutex<HashSet<ObjectRef<TaskRun>>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("taskrun_controller");
        let reconciles = Family::<ResultLabel, Counter>::default();
        // Both results exist from the start, at 0: a query over "error" finds
        // a series to read (a series that appears only with the first error
        // hides the change from rate()).
        for result in ["success", "error"] {
            let _ = reconciles.get_or_create(&ResultLabel { result });
        }
        registry.register(
            "reconciles",
            "Reconciles run by this replica, by result",
            reconciles.clone(),
        );
        // 1 ms to about 16 s: a reconcile is a few API
        // calls; much more means trouble.
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register(
            "reconcile_duration_seconds",
            "How long reconciles take",
            duration.clone(),
        );
        let queue_depth = Gauge::default();
        registry.register(
            "queue_depth",
            "TaskRuns waiting for a reconcile",
            queue_depth.clone(),
        );
        let leader = Gauge::default();
        registry.register(
            "leader",
            "1 while this replica is the leader (the one that reconciles), else 0",
            leader.clone(),
        );
        Self {
            registry,
            reconciles,
            duration,
            queue_depth,
            leader,
            waiting: Mutex::new(HashSet::new()),
        }
    }

    /// Everything, in the Prometheus text format (OpenMetrics
    /// 1.0, which Prometheus reads).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }

    // ANCHOR: reconciled
    // EXERCISE 8.3: Count a finished reconcile by its result, and time it.
    // After this call, `/metrics` shows one more reconcile for its result, in
    // `taskrun_controller_reconciles_total{result="success"}` or `{result="error"}`,
    // and one more observation in the duration histogram, in seconds, Prometheus'
    // unit of time (its buckets are seconds): a reconcile of 3 ms lands in the
    // `le="0.004"` bucket.
    // Proved by: reconciles_are_counted_by_result_and_timed,
    //   metrics_parse_as_prometheus_text_and_count_the_work
    // Needs: 8.5
    // Path: stretch, 6 min
    // Book: "Step 08 > Metrics and health"
    pub fn reconciled(&self, success: bool, took: Duration) {
        // BEGIN SOLUTION
        let result = if success { "success" } else { "error" };
        self.reconciles.get_or_create(&ResultLabel { result }).inc();
        self.duration.observe(took.as_secs_f64());
        // END SOLUTION
    }
    // ANCHOR_END: reconciled

    /// Follows the election: 1 while this replica leads, 0 while it stands by.
    pub fn set_leader(&self, leading: bool) {
        self.leader.set(i64::from(leading));
    }

    /// A change concerning `run` arrived: it waits for a reconcile.
    pub fn waiting(&self, run: ObjectRef<TaskRun>) {
        self.update_waiting(|waiting| {
            waiting.insert(run);
        });
    }

    /// The reconcile of `run` starts (or the run is gone): it waits no more.
    pub fn done_waiting(&self, run: &ObjectRef<TaskRun>) {
        self.update_waiting(|waiting| {
            waiting.remove(run);
        });
    }

    fn update_waiting(&self, change: impl FnOnce(&mut HashSet<ObjectRef<TaskRun>>)) {
        // A panic elsewhere while holding the lock leaves the
        // set usable: take it back.
        let mut waiting = self
            .waiting
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        change(&mut waiting);
        self.queue_depth
            .set(i64::try_from(waiting.len()).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines()
            .find(|line| line.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{text}"))
    }

    #[test]
    fn reconciles_are_counted_by_result_and_timed() {
        let metrics = Metrics::new();
        metrics.reconciled(true, Duration::from_millis(3));
        metrics.reconciled(true, Duration::from_millis(3));
        metrics.reconciled(false, Duration::from_secs(1));
        let text = metrics.encode();
        assert_eq!(
            line(
                &text,
                "taskrun_controller_reconciles_total{result=\"success\"}"
            ),
            "taskrun_controller_reconciles_total{result=\"success\"} 2"
        );
        assert_eq!(
            line(
                &text,
                "taskrun_controller_reconciles_total{result=\"error\"}"
            ),
            "taskrun_controller_reconciles_total{result=\"error\"} 1"
        );
        assert_eq!(
            line(&text, "taskrun_controller_reconcile_duration_seconds_count"),
            "taskrun_controller_reconcile_duration_seconds_count 3"
        );
        // The 4 ms bucket holds the two 3 ms reconciles, not the 1 s one.
        assert_eq!(
            line(
                &text,
                "taskrun_controller_reconcile_duration_seconds_bucket{le=\"0.004\"}"
            ),
            "taskrun_controller_reconcile_duration_seconds_bucket{le=\"0.004\"} 2"
        );
    }

    #[test]
    fn a_run_waits_once_however_many_changes_arrive() {
        let metrics = Metrics::new();
        let a = ObjectRef::<TaskRun>::new("a").within("ns");
        let b = ObjectRef::<TaskRun>::new("b").within("ns");
        metrics.waiting(a.clone());
        metrics.waiting(a.clone());
        metrics.waiting(b.clone());
        assert_eq!(
            line(&metrics.encode(), "taskrun_controller_queue_depth "),
            "taskrun_controller_queue_depth 2"
        );
        metrics.done_waiting(&a);
        metrics.done_waiting(&a);
        assert_eq!(
            line(&metrics.encode(), "taskrun_controller_queue_depth "),
            "taskrun_controller_queue_depth 1"
        );
    }

    #[test]
    fn the_leader_gauge_follows_the_election() {
        let metrics = Metrics::new();
        assert_eq!(
            line(&metrics.encode(), "taskrun_controller_leader "),
            "taskrun_controller_leader 0"
        );
        metrics.set_leader(true);
        assert_eq!(
            line(&metrics.encode(), "taskrun_controller_leader "),
            "taskrun_controller_leader 1"
        );
    }
}
