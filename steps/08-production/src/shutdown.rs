//! Graceful shutdown: when the controller is asked to stop.
//!
//! Kubernetes stops a Pod by sending its process SIGTERM, then waits
//! `terminationGracePeriodSeconds` (30 s by default) before SIGKILL. In that window the
//! controller stops taking work, lets the reconciles in flight finish (within a bound of its
//! own, shorter than the grace period), releases its Lease so a standby takes over at once,
//! and exits 0. At a terminal, Ctrl-C (SIGINT) does the same.
// Starter code: the imports, parameters and helpers that the TODOs below need are unused
// until you write them. Once they are done, delete the `allow` below: the compiler then
// checks that you left none.
#![allow(unused_imports, unused_variables, dead_code)]

// ANCHOR: signal
// TODO(exercise 8.6): Wait for the first of SIGTERM and Ctrl-C, and log which one came.
// `tokio::signal::unix::signal(SignalKind::terminate())` gives a stream of SIGTERMs (its `recv()`
// waits for the next); `tokio::signal::ctrl_c()` waits for Ctrl-C. `tokio::select!` waits for
// whichever comes first. If a handler cannot be installed (an Err), wait for the other one only.
// Book: "Step 08 > Graceful shutdown"
pub async fn signal() {
    todo!("Exercise 8.6: Wait for the first of SIGTERM and Ctrl-C, and log which one came.")
}
// ANCHOR_END: signal
