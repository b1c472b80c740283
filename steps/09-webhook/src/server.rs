//! The HTTPS server the API server calls: axum's Router, served over rustls by
//! axum-server.
//!
//! - `POST /validate`: an `AdmissionReview` in, an `AdmissionReview` out. A decision
//!   (allowed or denied) is an answer with status 200; [`Verdict::Unknown`] is a 500,
//!   which the API server counts as a failed call, and for which it applies the
//!   webhook's `failurePolicy`. A body that is not a review of a TaskRun is a 400.
//! - `GET /healthz`: `ok`, for the Pod's probes (the kubelet does not check the
//!   certificate of an HTTPS probe).

use std::future::Future;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_server::tls_rustls::RustlsConfig;
use crds::TaskRun;
use kube::core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview};

use crate::register::PATH;
use crate::review::{TaskLookup, Verdict, review};

/// How long the reviews in flight may take to finish once shutdown has begun.
const GRACE: Duration = Duration::from_secs(5);

/// The routes, answering with `tasks`.
pub fn router<T>(tasks: T) -> Router
where
    T: TaskLookup + Send + Sync + 'static,
{
    Router::new()
        .route(PATH, post(validate::<T>))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(Arc::new(tasks))
}

// ANCHOR: validate
/// One admission review: the decision, logged, and sent back in the form the API
/// server expects (the response carries the request's `uid`).
async fn validate<T: TaskLookup>(
    State(tasks): State<Arc<T>>,
    Json(body): Json<AdmissionReview<TaskRun>>,
) -> Response {
    let request: AdmissionRequest<TaskRun> = match body.try_into() {
        Ok(request) => request,
        Err(err) => {
            return (StatusCode::BAD_REQUEST, err.to_string()).into_response();
        }
    };
    let verdict = review(&request, tasks.as_ref()).await;
    let namespace = request.namespace.as_deref().unwrap_or_default();
    let task = request
        .object
        .as_ref()
        .map(|run| run.spec.task_ref.name.as_str())
        .unwrap_or_default();
    let (operation, dry_run) = (format!("{:?}", request.operation), request.dry_run);
    let response = AdmissionResponse::from(&request);
    match verdict {
        Verdict::Allowed => {
            tracing::info!(namespace, task, operation, dry_run, "allowed");
            Json(response.into_review()).into_response()
        }
        Verdict::Denied(reason) => {
            tracing::info!(namespace, task, operation, dry_run, reason, "denied");
            let mut denied = response.deny(reason);
            // The status the user gets: 403 Forbidden, as the API server's own
            // admission plugins refuse (without a code it would answer 400).
            denied.result.code = 403;
            denied.result.reason = "Forbidden".into();
            Json(denied.into_review()).into_response()
        }
        Verdict::Unknown(why) => {
            tracing::warn!(namespace, task, operation, dry_run, why, "no verdict");
            (StatusCode::INTERNAL_SERVER_ERROR, why).into_response()
        }
    }
}
// ANCHOR_END: validate

/// Serves `router` over TLS on `listener` until `shutdown` completes, then lets the
/// reviews in flight finish (for a few seconds at most) and closes every connection.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    tokio::spawn({
        let handle = handle.clone();
        async move {
            shutdown.await;
            handle.graceful_shutdown(Some(GRACE));
        }
    });
    axum_server::from_tcp_rustls(listener, RustlsConfig::from_config(tls))?
        .handle(handle)
        .serve(router.into_make_service())
        .await
}
