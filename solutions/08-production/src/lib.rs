//! Step 08: run the Mini Task Runner like production.
//!
//! Step 07's controller works; this step makes it *operable*: something you can run
//! as two replicas in a cluster, watch, and stop without losing work. The reconcile
//! logic does not change. What grows around it, one module each:
//!
//! - [`leader`]: leader election on a Lease, so that of two replicas only one
//!   reconciles, and the other takes over when it dies;
//! - [`metrics`] and [`health`]: `/metrics` for Prometheus, `/healthz`
//!   for the liveness probe, `/readyz` (ready once the caches have
//!   synced) for the readiness probe;
//! - [`shutdown`]: SIGTERM and Ctrl-C start a graceful shutdown;
//! - [`controller`]: step 07's Controller, measured and gated on leadership.
//!
//! [`run`] puts them together, in the order a shutdown undoes them. Logs are readable
//! text by default and JSON with `--log-format json`. The image is built by
//! `solutions/08-production/Dockerfile` and deployed by `manifests/deploy/`.

pub mod controller;
pub mod health;
pub mod leader;
pub mod metrics;
pub mod shutdown;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use connect::LogFormat;
use tokio::net::TcpListener;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

/// Command-line flags: step 07's, and those of running in production.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    about = "The Mini Task Runner, run like production: leader election, metrics, \
             health, graceful shutdown"
)]
#[group(id = "production")]
pub struct Args {
    #[command(flatten)]
    pub controller: taskrun::Args,
    #[command(flatten)]
    pub lease: leader::LeaseArgs,
    /// Address of the HTTP server of /metrics, /healthz and
    /// /readyz (port 0: any free port).
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub listen: SocketAddr,
    /// Seconds the reconciles in flight may take to finish once shutdown has begun;
    /// those still running then are cancelled.
    #[arg(
        long,
        default_value = "10",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub shutdown_timeout: u64,
    /// Log lines as readable text, compact text (no time, module or spans), or JSON
    /// objects (one per line) for a log pipeline.
    #[arg(
        long,
        value_enum,
        env = connect::LOG_FORMAT_VAR,
        default_value_t = LogFormat::Text
    )]
    pub log_format: LogFormat,
}

/// Why the program stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid flags: {0}")]
    Flags(String),
    #[error("cannot listen on {0}: {1}")]
    Listen(SocketAddr, std::io::Error),
    #[error(transparent)]
    Lost(#[from] leader::LostLeadership),
}

// ANCHOR: run
/// Runs the controller until `shutdown` completes (or the lead is lost), then stops
/// in order: no new reconciles; the ones in flight finish (within
/// `--shutdown-timeout`); the Lease is released; the HTTP server stops.
pub async fn run(
    client: kube::Client,
    args: Args,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    args.lease.check().map_err(Error::Flags)?;
    let state = health::AppState::new();

    // The endpoints first: the probes may ask at once.
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|err| Error::Listen(args.listen, err))?;
    let address = listener
        .local_addr()
        .map_err(|err| Error::Listen(args.listen, err))?;
    tracing::info!(%address, "serving /metrics, /healthz and /readyz");
    let (stop_http, http_stopped) = oneshot::channel::<()>();
    let http = tokio::spawn(health::serve(listener, state.clone(), async {
        let _ = http_stopped.await;
    }));

    // The election. `stop` is cancelled by the shutdown signal,
    // or when the lead is lost.
    let stop = CancellationToken::new();
    let (leading_tx, leading) = watch::channel(false);
    let elector = leader::Elector::new(client.clone(), &args.lease);
    tracing::info!(
        identity = elector.identity(),
        lease = %args.lease.lease_name,
        "campaigning"
    );
    let (release, released) = oneshot::channel::<()>();
    let election = tokio::spawn(elector.run(leading_tx, async {
        let _ = released.await;
    }));
    tokio::spawn(follow_leadership(
        leading.clone(),
        state.clone(),
        stop.clone(),
    ));
    tokio::spawn({
        let stop = stop.clone();
        async move {
            tokio::select! {
                () = shutdown => stop.cancel(),
                () = stop.cancelled() => {}
            }
        }
    });

    // The controller, until `stop`; then a bounded wait for the reconciles in flight.
    // Past the bound, the select drops the controller's future, and with it every
    // reconcile still running: each stops at the `.await` it was waiting on, perhaps
    // between two writes. That is safe only because a reconcile can be repeated from
    // any point (step 07), which the next leader does.
    let controller =
        controller::run(client, &args.controller, state, leading, stop.clone());
    let grace = Duration::from_secs(args.shutdown_timeout);
    tokio::select! {
        () = controller => tracing::info!("reconciles finished"),
        () = async { stop.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!(
                ?grace,
                "reconciles still running at the shutdown timeout; cancelling them"
            );
        }
    }

    // Only now that nothing reconciles here any more may a standby take over.
    let _ = release.send(());
    let elected = election
        .await
        .unwrap_or_else(|err| Err(leader::LostLeadership(err.to_string())));
    let _ = stop_http.send(());
    let _ = http.await;
    elected?;
    tracing::info!("stopped");
    Ok(())
}
// ANCHOR_END: run

/// Keeps the leader gauge current, and stops everything if the lead is lost.
async fn follow_leadership(
    mut leading: watch::Receiver<bool>,
    state: std::sync::Arc<health::AppState>,
    stop: CancellationToken,
) {
    let mut was_leading = false;
    while leading.changed().await.is_ok() {
        let now_leading = *leading.borrow_and_update();
        state.metrics.set_leader(now_leading);
        if was_leading && !now_leading && !stop.is_cancelled() {
            tracing::error!("no longer the leader: stopping");
            stop.cancel();
        }
        was_leading = now_leading;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_are_well_formed() {
        <Args as clap::CommandFactory>::command().debug_assert();
    }

    #[test]
    fn the_defaults_are_client_go_s() {
        let args = <Args as clap::Parser>::try_parse_from(["controller"]).unwrap();
        assert_eq!(args.lease.lease_duration, Duration::from_secs(15));
        assert_eq!(args.lease.renew_deadline, Duration::from_secs(10));
        assert_eq!(args.lease.retry_period, Duration::from_secs(2));
        assert!(args.lease.check().is_ok());
        // The declared default, not a parsed one: parsing reads $LOG_FORMAT, which the book's
        // capture script sets, and this test must not depend on the shell it runs in.
        let command = <Args as clap::CommandFactory>::command();
        let log_format = command
            .get_arguments()
            .find(|arg| arg.get_id() == "log_format")
            .expect("a --log-format flag");
        assert_eq!(log_format.get_default_values(), ["text"]);
    }
}
