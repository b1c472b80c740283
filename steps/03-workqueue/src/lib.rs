//! Step 03: a workqueue, built by hand.
//!
//! A controller hears about changes from its informers, and makes the cluster match
//! what the objects ask for in its workers. The workqueue sits between the two. The
//! informer side puts in *keys* (`namespace/name`), not the events themselves, and
//! that choice is what makes a controller robust:
//!
//! - **The event is already old.** By the time a worker gets to it, the object may
//!   have changed again. A worker given only the key reads the latest state from the
//!   cache, so it always acts on the present, never on a stale copy.
//! - **Many changes, one reconcile.** A key that is already waiting is not queued
//!   again. A burst of updates to one object costs one reconcile, and the queue never
//!   holds more entries than there are objects.
//! - **No lost changes, no races.** A key is never handed to two workers at once,
//!   and a change that arrives while a worker is busy with that key gets it
//!   processed once more afterwards.
//! - **Failures back off.** A failed key comes back later, after a delay
//!   that grows with each failure, instead of spinning in a hot loop
//!   against a struggling API server.
//!
//! This crate reproduces client-go's workqueue, the one every Go controller uses,
//! so what you learn here carries over: [`WorkQueue`] in [`queue`] holds the
//! rules, and [`rate_limiter`] decides how long a failed key waits. kube-rs's
//! `Controller` makes the same promises (one object is never reconciled twice at
//! once); seeing them built by hand shows what it does for you, and what it does
//! not (it has no per-object backoff).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let queue = workqueue::WorkQueue::new();
//! queue.add("default/web");
//! queue.add("default/web"); // already waiting: no second entry
//! while let Some(key) = queue.get().await {
//!     println!("reconcile {key}");
//!     queue.done(&key);
//!     queue.shut_down(); // a real controller stops on a signal instead
//! }
//! # }
//! ```

pub mod controller;
pub mod delaying_queue;
pub mod object_backoff;
pub mod queue;
pub mod rate_limiter;
pub mod reconcile;

use std::future::Future;

use kube::Client;

pub use controller::{Controller, Outcome, Reconciler};
pub use object_backoff::ObjectBackoff;
pub use queue::{Metrics, WorkQueue};
pub use rate_limiter::{
    BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter,
    RateLimiter, default_controller_rate_limiter,
};

/// Command-line flags, parsed in `main.rs`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    about = "Watch ConfigMaps, queue their keys, and reconcile them with N workers"
)]
// Flattened flags bring their own group; this one needs a name of its own.
#[group(id = "workqueue")]
pub struct Args {
    /// What to watch: step 02's flags (--namespace, --selector, --context).
    #[command(flatten)]
    pub watch: informer::Args,
    /// How many workers reconcile at once.
    #[arg(long, default_value_t = 2)]
    pub workers: usize,
    /// Make reconcile fail the first N tries of every key, to watch the backoff.
    #[arg(long, default_value_t = 0)]
    pub fail_first: u32,
}

// ANCHOR: controller
/// Builds step 03's controller: the informer of step 02 feeding this crate's
/// queue, and the [`reconcile::CacheLogger`]. Subscribe to its
/// [`Controller::outcomes`] before running it.
pub fn controller(
    client: Client,
    args: &Args,
) -> Controller<k8s_openapi::api::core::v1::ConfigMap, reconcile::CacheLogger> {
    let api = informer::configmaps(client, args.watch.namespace.as_deref());
    let informer = informer::Informer::new(
        api,
        informer::watch_config(args.watch.selector.as_deref()),
    );
    let logger = reconcile::CacheLogger::new(informer.store(), args.fail_first);
    Controller::new(informer, std::sync::Arc::new(logger))
}
// ANCHOR_END: controller

/// Runs `controller` until `shutdown`, enqueueing the key of every changed ConfigMap.
pub async fn run(
    controller: Controller<
        k8s_openapi::api::core::v1::ConfigMap,
        reconcile::CacheLogger,
    >,
    workers: usize,
    shutdown: impl Future<Output = ()>,
) -> Result<(), controller::Error> {
    controller
        .run(workers, |n| n.key().into_iter().collect(), shutdown)
        .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_flags_are_well_formed() {
        <super::Args as clap::CommandFactory>::command().debug_assert();
    }
}
