//! Graceful shutdown: when the controller is asked to stop.
//!
//! Kubernetes stops a Pod by sending its process SIGTERM, then waits
//! `terminationGracePeriodSeconds` (30 s by default) before SIGKILL. In that window
//! the controller stops taking work, lets the reconciles in flight finish (within a
//! bound of its own, shorter than the grace period), releases its Lease so a standby
//! takes over at once, and exits 0. At a terminal, Ctrl-C (SIGINT) does the same.

// ANCHOR: signal
// EXERCISE 8.6: Wait for the first of SIGTERM and Ctrl-C, and log which one came.
// Return as soon as either arrives. If the handler of one cannot be installed, wait
// for the other alone: never return without a signal, and never panic.
// Proved by: a_clean_shutdown_releases_the_lease_and_hands_over_at_once
// Needs: 8.1, 8.2, 8.3, 8.4, 8.5
// Path: stretch, 5 min
// Book: "Step 08 > Graceful shutdown"
pub async fn signal() {
    // BEGIN SOLUTION
    use tokio::signal::unix::{SignalKind, signal};
    let sigterm = async {
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        () = sigterm => tracing::info!("SIGTERM received: shutting down"),
        () = ctrl_c => tracing::info!("Ctrl-C received: shutting down"),
    }
    // END SOLUTION
}
// ANCHOR_END: signal
