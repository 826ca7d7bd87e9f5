//! `GET /health` (liveness), `GET /ready` (readiness) and `GET /metrics` (Prometheus
//! text): what a server's operators and their probes read.

use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::problem::ApiError;
use super::responses::NotReady;
use super::state::AppState;
use crate::{Error, ErrorKind};

/// The body of `GET /health` and `GET /ready`.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub(crate) struct Status {
    /// `ok` or `ready`.
    status: &'static str,
}

/// `GET /health` and `GET /ready`.
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(state)
}

/// Liveness: the process answers.
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "The server is alive", body = Status)))]
pub(crate) async fn health() -> Json<Status> {
    Json(Status { status: "ok" })
}

/// Readiness: the database, Redis when configured (and whatever else the state checks)
/// answer, and the database and blob directory take writes. A 503 (`unavailable`) names
/// what failed (`not ready: redis not answering`, `not ready: database read-only`,
/// `not ready: blobs not writable`).
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "Ready for traffic", body = Status),
        NotReady))]
pub(crate) async fn ready(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    if let Some(check) = state.ready() {
        check().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness check failed");
            Error::new(
                ErrorKind::Unavailable,
                format!("not ready: {}", e.message()),
            )
        })?;
    }
    Ok(Json(Status { status: "ready" }))
}

/// `GET /metrics`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .with_state(state)
}

/// The metrics in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", body = String,
        content_type = "application/openmetrics-text")))]
pub(crate) async fn serve_metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        state.metrics().encode(),
    )
        .into_response()
}
