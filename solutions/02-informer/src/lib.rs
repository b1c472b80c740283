//! Step 02: replace polling with a watch.
//!
//! Step 01 asked the API server a question once. A controller cannot poll: listing
//! every object every few seconds is slow for it and expensive for the API server,
//! and it still misses what happens between two polls. Instead it lists once and then
//! *watches*: the API server streams each change as it happens, starting exactly
//! where the list ended (its `resourceVersion`), so nothing falls between the cracks.
//!
//! [`Informer`] keeps a local cache of ConfigMaps from that watch and reports every
//! change; this program prints them:
//!
//! ```text
//! ADD default/kube-root-ca.crt
//! cache synced, watching...
//! ADD default/colors
//! UPDATE default/colors
//! DELETE default/colors
//! ```

mod informer;

use std::future::Future;
use std::io::Write;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Api;
use kube::runtime::watcher;

pub use informer::{Informer, Notification, WatchEvents, key_of, watch_events};

/// Command-line flags, parsed in `main.rs`.
#[derive(Debug, Clone, clap::Parser)]
#[command(about = "Watch ConfigMaps and print every change")]
pub struct Args {
    /// Watch one namespace only (default: all namespaces).
    #[arg(short, long)]
    pub namespace: Option<String>,
    /// Watch only ConfigMaps matching this label selector, e.g. `app=demo`.
    #[arg(short = 'l', long)]
    pub selector: Option<String>,
    /// Kubeconfig context to use (default: the current context).
    #[arg(long)]
    pub context: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Connect(#[from] connect::ConnectError),
    #[error("the watch stream ended unexpectedly")]
    WatchEnded,
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
}

// ANCHOR: configmaps
/// Completes on Ctrl-C (SIGINT): the shutdown signal every step's program passes to
/// its `run`. If the signal handler cannot be installed, it never completes and the
/// program runs until killed.
pub async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// The ConfigMaps API for `namespace`, or for all namespaces.
pub fn configmaps(client: kube::Client, namespace: Option<&str>) -> Api<ConfigMap> {
    match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    }
}
// ANCHOR_END: configmaps

/// The watcher configuration for an optional label selector.
pub fn watch_config(selector: Option<&str>) -> watcher::Config {
    match selector {
        Some(selector) => watcher::Config::default().labels(selector),
        None => watcher::Config::default(),
    }
}

// ANCHOR: run
/// Watches ConfigMaps and writes one line per notification to `out`
/// until `shutdown` completes.
pub async fn run(
    args: &Args,
    out: &mut impl Write,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let client = connect::client(args.context.clone()).await?;
    let api = configmaps(client, args.namespace.as_deref());
    let mut informer = Informer::new(api, watch_config(args.selector.as_deref()));

    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            next = informer.next() => match next {
                Some(Ok(notification)) => writeln!(out, "{notification}")?,
                // The watcher retries by itself (with backoff);
                // say what happened and go on.
                Some(Err(err)) => {
                    tracing::warn!(error = %err, "watch failed; retrying")
                }
                None => return Err(Error::WatchEnded),
            },
        }
    }
}
// ANCHOR_END: run
