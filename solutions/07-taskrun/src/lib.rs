//! Step 07: the Mini Task Runner, a controller that runs
//! TaskRuns, and `kubectl task`.
//!
//! Step 06 taught the API server two kinds, Task and TaskRun, and showed that nothing
//! acted on them. This controller does: for every TaskRun it creates one Pod that
//! runs the Task's steps in order, follows the Pod, and reports in the run's status
//! what happened, step by step.
//!
//! The pieces, each in its module:
//!
//! - [`params`]: the run's parameter values, and
//!   `$(params.<name>)` replaced in the steps;
//! - [`pod`]: the Pod a run needs (steps as init containers, then
//!   the last as the main one);
//! - [`status`]: the status a run should have, read off its Pod;
//! - [`reconcile`]: the I/O around them: create the Pod, write the status, fail a run
//!   whose Pod is gone or whose time is up, publish Events;
//! - [`plugin`]: `kubectl task start|list|logs`, the user's side.
//!
//! The first three are pure functions, tested without a cluster. [`start`] wires
//! reconcile into kube-runtime's `Controller`, as in step 05, with two more sources
//! of triggers: the Pods the runs own, and the Tasks that runs wait for.

pub mod params;
pub mod plugin;
pub mod pod;
pub mod reconcile;
pub mod status;

use std::future::Future;
use std::sync::Arc;

use crds::{Task, TaskRun};
use futures::{Stream, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::runtime::controller::{self, Controller};
use kube::runtime::reflector::Store;
use kube::runtime::{WatchStreamExt, reflector, watcher};
use kube::{Api, Client, ResourceExt};

use crate::pod::{CONTROLLER_NAME, MANAGED_BY_LABEL};
use crate::reconcile::{Context, error_policy, reconcile, runs_waiting_for};

/// Command-line flags of the controller, parsed in `main.rs`.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    about = "The Mini Task Runner: runs every TaskRun in a Pod and reports its outcome"
)]
pub struct Args {
    /// Run the TaskRuns of one namespace only (default: all namespaces).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long)]
    pub context: Option<String>,
    /// How many runs are reconciled at once (one run is never
    /// reconciled by two at a time).
    #[arg(long, default_value_t = 4)]
    pub workers: u16,
}

/// An `Api` for one namespace, or for all of them.
pub fn api<K>(client: Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = kube::core::NamespaceResourceScope>,
    K::DynamicType: Default,
{
    match namespace {
        Some(namespace) => Api::namespaced(client, namespace),
        None => Api::all(client),
    }
}

// ANCHOR: pod_cache
/// The Pods this controller made, in a cache of our own, and the stream of their
/// changes that keeps it filled. `owns` would trigger on them too, but keeps no cache
/// reconcile can read. Watching only Pods with our managed-by label keeps it small;
/// `touched_objects` (not `applied_objects`) so that a deleted Pod wakes its run up.
pub fn pod_cache(
    pods: Api<Pod>,
) -> (
    Store<Pod>,
    impl Stream<Item = Result<Pod, watcher::Error>> + Send + 'static,
) {
    let (pod_store, pod_writer) = reflector::store();
    let ours = watcher::Config::default()
        .labels(&format!("{MANAGED_BY_LABEL}={CONTROLLER_NAME}"));
    let pod_changes = watcher(pods, ours)
        .default_backoff()
        .modify(|pod| pod.managed_fields_mut().clear())
        .reflect(pod_writer)
        .touched_objects();
    (pod_store, pod_changes)
}
// ANCHOR_END: pod_cache

// ANCHOR: start
/// Runs the Mini Task Runner until `shutdown` completes, and returns its context
/// (a test reads what its backoff still holds).
pub async fn start(
    client: Client,
    namespace: Option<&str>,
    workers: u16,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Arc<Context> {
    let runs: Api<TaskRun> = api(client.clone(), namespace);
    let tasks: Api<Task> = api(client.clone(), namespace);
    let pods: Api<Pod> = api(client.clone(), namespace);

    let (pod_store, pod_changes) = pod_cache(pods);
    // The runs, in a cache of our own, as in step 05: reconcile never reads it, but
    // the Task watch finds the runs waiting for a Task in it, and its watch tells the
    // per-run backoff which runs are gone.
    let (run_store, run_writer) = reflector::store();
    let ctx = Context::new(client, pod_store, run_store.clone());
    let gone = ctx.clone();
    let run_changes = watcher(runs, watcher::Config::default())
        .default_backoff()
        .modify(|run| run.managed_fields_mut().clear())
        .reflect(run_writer)
        .inspect_ok(move |event| gone.observe(event))
        .applied_objects();

    let waiting = run_store.clone();
    let results = Controller::for_stream(run_changes, run_store)
        .owns_stream(pod_changes)
        .watches(tasks, watcher::Config::default(), move |task| {
            runs_waiting_for(&task, &waiting)
        })
        .with_config(controller::Config::default().concurrency(workers))
        .graceful_shutdown_on(connect::shareable_shutdown(shutdown))
        .run(reconcile, error_policy, ctx.clone());
    connect::log_results(results).await;
    ctx
}
// ANCHOR_END: start

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_are_well_formed() {
        <Args as clap::CommandFactory>::command().debug_assert();
    }
}
