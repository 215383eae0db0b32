//! The operational routes: liveness (`/healthz`), readiness (`/readyz`) and Prometheus
//! metrics (`/metrics`).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::http::error::ApiError;
use crate::http::state::AppState;

/// Alive: 200 while the process serves requests, from the process alone.
///
/// The database and S3 are `/readyz`'s: an outage of either must not make an orchestrator
/// restart every server.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "`ok`")))]
pub async fn healthz() -> Response {
    (StatusCode::OK, [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], "ok\n").into_response()
}

/// Ready for traffic: the metadata store and S3 both answer now. A load balancer takes a
/// server that answers 503 out of rotation; the answer names the part that failed (the log
/// has the error).
#[utoipa::path(get, path = "/readyz", tag = "operations", security(()),
    responses((status = 200, description = "`ready`"), (status = 503, description = "`not ready: ...`, naming the part that does not answer")))]
pub async fn readyz(State(state): State<AppState>) -> Response {
    let vitrine = &state.vitrine;
    let (db, s3) = tokio::join!(vitrine.metadata_answers(), vitrine.objects_answer());
    let mut failing = vec![];
    if let Err(e) = db {
        tracing::error!(error = %e, "readiness: the metadata store does not answer");
        failing.push("the metadata store (database)");
    }
    if let Err(e) = s3 {
        tracing::error!(error = %e, "readiness: S3 does not answer for the bucket");
        failing.push("S3 (the artifacts bucket)");
    }
    let no_store = (header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if failing.is_empty() {
        ([no_store], "ready\n").into_response()
    } else {
        let why = format!("not ready: {} does not answer\n", failing.join(" and "));
        (StatusCode::SERVICE_UNAVAILABLE, [no_store], why).into_response()
    }
}

/// Prometheus metrics, for the addresses `--metrics-allow` names (loopback by default).
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain"),
        (status = 403, description = "The client's address is not in --metrics-allow")))]
pub async fn metrics(
    State(state): State<AppState>,
    crate::http::extract::ClientAddr(client): crate::http::extract::ClientAddr,
) -> Response {
    if !state.policy.may_read_metrics(client) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "Metrics are served to the addresses in --metrics-allow (VITRINE_METRICS_ALLOW) only",
        )
        .into_response();
    }
    let text = crate::observe::metrics().render();
    let kind = (header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    ([kind, (header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], text).into_response()
}
