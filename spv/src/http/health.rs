//! `GET /health` (liveness) and `GET /ready` (readiness).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::problem::ApiError;
use super::responses::NotReady;
use super::state::AppState;
use crate::{Error, ErrorKind};

/// What `GET /ready` runs: `Ok` when the server can take traffic (e.g. the database
/// answers).
pub type ReadyCheck = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = crate::Result<()>> + Send + 'static>> + Send + Sync,
>;

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

/// Readiness: the database (and whatever else the state checks) answers.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "Ready for traffic", body = Status),
        NotReady))]
pub(crate) async fn ready(State(state): State<AppState>) -> Result<Json<Status>, ApiError> {
    if let Some(check) = &state.ready {
        check().await.map_err(|e| {
            tracing::warn!(error = %e, "readiness check failed");
            Error::new(ErrorKind::Overloaded, format!("not ready: {}", e.kind()))
        })?;
    }
    Ok(Json(Status { status: "ready" }))
}
