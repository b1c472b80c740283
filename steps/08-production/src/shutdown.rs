//! Graceful shutdown: when the controller is asked to stop.
//!
//! Kubernetes stops a Pod by sending its process SIGTERM, then waits
//! `terminationGracePeriodSeconds` (30 s by default) before SIGKILL. In that window
//! the controller stops taking work, lets the reconciles in flight finish (within a
//! bound of its own, shorter than the grace period), releases its Lease so a standby
//! takes over at once, and exits 0. At a terminal, Ctrl-C (SIGINT) does the same.
// Starter code: the imports, parameters and helpers that the TODOs below need are
// unused until you write them. Once they are done, delete the `allow` below: the
// compiler then checks that you left none.
#![allow(unused_imports, unused_variables, dead_code)]

// ANCHOR: signal
// TODO(exercise 8.6): Wait for the first of SIGTERM and Ctrl-C, and log which one
//     came.
// Return as soon as either arrives. If the handler of one cannot be installed, wait
// for the other alone: never return without a signal, and never panic.
// Proved by: a_clean_shutdown_releases_the_lease_and_hands_over_at_once
// Needs: 8.1, 8.2, 8.3, 8.4, 8.5
// Path: stretch, 5 min
// Book: "Step 08 > Graceful shutdown"
pub async fn signal() {
    todo!(
        "Exercise 8.6: Wait for the first of SIGTERM and Ctrl-C, and log which one \
         came."
    )
}
// ANCHOR_END: signal
