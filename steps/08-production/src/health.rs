//! The controller's HTTP endpoints: `/metrics`, `/healthz` and `/readyz`.
//!
//! Kubernetes asks a Pod two different questions, and the
//! Deployment wires a probe to each:
//!
//! - **liveness** (`/healthz`): is the process alive and not stuck? A failing
//!   answer gets the container *restarted*. So it must not depend on anything
//!   outside the process: an API server that is slow for a minute must not make the
//!   kubelet kill every replica.
//! - **readiness** (`/readyz`): is it ready to do its job? A failing answer keeps the
//!   Pod out of rotation (and holds a rolling update back) but restarts nothing. Here
//!   it turns ready once the caches have synced: before that, the controller would
//!   act on a partial view of the cluster. Every replica watches, the standby too (a
//!   warm standby takes over without a long re-list), so every replica becomes ready,
//!   and a rolling update of two replicas can proceed.
//!
//! `/metrics` serves [`crate::metrics::Metrics`] to Prometheus.
// Starter code: the imports, parameters and helpers that the TODOs below need are
// unused until you write them. Once they are done, delete the `allow` below: the
// compiler then checks that you left none.
#![allow(unused_imports, unused_variables, dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// What the endpoints report: the metrics, and whether the caches have synced.
#[derive(Debug, Default)]
pub struct AppState {
    /// Shared with the watches that count waiting runs, hence the `Arc`.
    pub metrics: Arc<Metrics>,
    ready: AtomicBool,
}

impl AppState {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The caches have synced: from now on `/readyz` answers 200.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }
}

/// The three routes.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(state)
}

/// Serves the routes on `listener` until `stop` completes.
pub async fn serve(
    listener: TcpListener,
    state: Arc<AppState>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(stop)
        .await
}

async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.encode(),
    )
}

/// Alive: answering at all is the proof.
async fn healthz() -> &'static str {
    "ok"
}

// ANCHOR: readyz
// TODO(exercise 8.4): Answer the readiness probe: ready once the caches synced.
// A replica whose caches have not synced would act on a partial view of the cluster,
// so until they have, the kubelet must see it as not ready (a rolling update waits
// for it). The kubelet reads only the status: ready is 200 with the body "ok"; not
// ready is 503 Service Unavailable, with a body that tells a human what the replica
// is waiting for.
// Proved by: readyz_is_not_ready_before_the_caches_sync_and_ready_after
// Path: stretch, 5 min
// Book: "Step 08 > Metrics and health"
async fn readyz(State(state): State<Arc<AppState>>) -> (StatusCode, &'static str) {
    todo!("Exercise 8.4: Answer the readiness probe: ready once the caches synced.")
}
// ANCHOR_END: readyz
