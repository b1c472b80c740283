//! Graceful shutdown: when the controller is asked to stop.
//!
//! Kubernetes stops a Pod by sending its process SIGTERM, then waits
//! `terminationGracePeriodSeconds` (30 s by default) before SIGKILL. In that window the
//! controller stops taking work, lets the reconciles in flight finish (within a bound of its
//! own, shorter than the grace period), releases its Lease so a standby takes over at once,
//! and exits 0. At a terminal, Ctrl-C (SIGINT) does the same.

// ANCHOR: signal
// EXERCISE 8.6: Wait for the first of SIGTERM and Ctrl-C, and log which one came.
// `tokio::signal::unix::signal(SignalKind::terminate())` gives a stream of SIGTERMs (its `recv()`
// waits for the next); `tokio::signal::ctrl_c()` waits for Ctrl-C. `tokio::select!` waits for
// whichever comes first. If a handler cannot be installed (an Err), wait for the other one only.
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
