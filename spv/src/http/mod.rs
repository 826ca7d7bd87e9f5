//! The HTTP adapters of the services (feature `http`): axum routers, problem+json
//! errors, conditional requests, OpenAPI and docs, health and metrics.
//!
//! | item | what it is |
//! |---|---|
//! | [`render_router`], [`RenderState`] | `POST /api/v1/thumbnails` for documents sent in the request, over a `Thumbnails` service alone: the one router that builds without `store` |
//! | [`api`] | every router below in one, with metrics and a problem+json fallback (this and everything below: feature `store`); under `SPV_ROLE=worker`, [`worker_router`] |
//! | [`worker_router`] | what a worker process serves: `GET /health`, `GET /ready` and (when enabled) `GET /metrics`, everything else a problem+json 404 |
//! | [`thumbnails_router`] | `POST /api/v1/thumbnails` (scope `thumbnails:read`) |
//! | [`document_thumbnail_router`] | `GET /api/v1/documents/{id}/thumbnail` (cached; public documents for anyone) |
//! | [`gallery_router`] | `GET /api/v1/gallery`: public documents with thumbnail URLs |
//! | [`auth_router`] | `POST /api/v1/auth/token`, `POST /api/v1/users`, `GET /api/v1/users/me`, `POST`/`GET /api/v1/api-keys`, `DELETE /api/v1/api-keys/{id}` |
//! | [`documents_router`] | `POST`/`GET /api/v1/documents`, `GET`/`HEAD`/`PATCH`/`DELETE /api/v1/documents/{id}`, `GET`/`PUT /api/v1/documents/{id}/content` |
//! | `GET /api/v1/documents/{id}/live` | live editing over a WebSocket (`../shared/live-protocol.md`), in [`api`] |
//! | [`jobs_router`] | `POST /api/v1/jobs/render`, `GET /api/v1/jobs`, `GET`/`DELETE /api/v1/jobs/{id}`, `GET /api/v1/jobs/{id}/events` (SSE), `GET /api/v1/jobs/{id}/outputs/{index}` |
//! | [`assets_router`] | `POST`/`GET /api/v1/assets`, `GET`/`HEAD`/`DELETE /api/v1/assets/{id}`, `GET /api/v1/assets/{id}/meta` |
//! | [`Authenticated`] | the extractor of the caller: 401 without a valid credential; as `Option<Authenticated>`, `None` for a request without any credential (routes anonymous callers may use) |
//! | [`health_router`] | `GET /health` (liveness), `GET /ready` (readiness) |
//! | [`docs_router`] | `GET /openapi.json` (OpenAPI 3.1) and `GET /docs` (Scalar, offline) |
//! | [`metrics_router`] | `GET /metrics` (Prometheus text) |
//! | [`AppState`] | the services and settings the routers share (behind one reference count, read with accessors); [`AppState::open`] wires them all from a `Config` |
//! | [`Closing`] | ends job event streams when a server begins to stop |
//! | [`Problem`], [`ApiError`], [`status_for`] | RFC 9457 errors, one status per [`ErrorKind`](crate::ErrorKind) |
//! | [`Metrics`] | the prometheus-client registry and the server's metrics (`spv_rate_limited_total{group}`, `spv_rate_limiter_fallback_total` among them) |
//!
//! Rate limits (`SPV_RATE_LIMITS`, [`crate::ratelimit`]) are counted where credentials
//! are checked: each request counts in the group `auth` (the token endpoint, failed
//! credentials), `anonymous` (no credential), `api` (a valid one) or, for work that
//! renders, also `render`; `/health`, `/ready` and `/metrics` are exempt. A refusal is
//! `429` with `Retry-After`, `RateLimit-Policy` and `RateLimit`. Clients are keyed by the
//! peer address of the request's `ConnectInfo<SocketAddr>` extension (`spv-server` sets
//! it; a host serving [`api`] itself serves it with
//! `into_make_service_with_connect_info::<SocketAddr>()`), or behind
//! `SPV_TRUSTED_PROXIES` by `Forwarded` / `X-Forwarded-For`.
//! | [`ApiDoc`] | the OpenAPI document |
//!
//! A host application nests these routers in its own:
//!
//! ```
//! use spv::http::{AppState, thumbnails_router};
//!
//! let state = AppState::new(&spv::config::Config::default());
//! let app: axum::Router = axum::Router::new().nest("/spv", thumbnails_router(state));
//! # drop(app);
//! ```
//!
//! Every JSON response honours `?pretty` (pretty-printed), and problem responses get
//! `instance` set to the request path.

#[cfg(feature = "store")]
mod accounts;
#[cfg(feature = "store")]
mod assets;
#[cfg(feature = "store")]
mod auth;
mod body;
#[cfg(feature = "store")]
mod conditional;
#[cfg(feature = "store")]
mod document_thumbnail;
#[cfg(feature = "store")]
mod documents;
#[cfg(feature = "store")]
mod extract;
#[cfg(feature = "store")]
mod gallery;
#[cfg(feature = "store")]
mod health;
#[cfg(feature = "store")]
mod jobs;
mod json;
#[cfg(feature = "store")]
mod live;
#[cfg(feature = "store")]
mod metrics;
#[cfg(feature = "store")]
mod open;
#[cfg(feature = "store")]
mod openapi;
#[cfg(feature = "store")]
mod prefix;
mod problem;
#[cfg(feature = "store")]
mod ratelimit;
mod render;
#[cfg(feature = "store")]
mod responses;
#[cfg(feature = "store")]
mod state;
#[cfg(all(test, feature = "store"))]
mod tests;
#[cfg(feature = "store")]
mod thumbnails;

#[cfg(feature = "store")]
use axum::extract::Request;

#[cfg(feature = "store")]
pub use accounts::auth_router;
#[cfg(feature = "store")]
pub use assets::assets_router;
#[cfg(feature = "store")]
pub use auth::Authenticated;
#[cfg(feature = "store")]
pub use document_thumbnail::document_thumbnail_router;
#[cfg(feature = "store")]
pub use documents::documents_router;
#[cfg(feature = "store")]
pub use gallery::gallery_router;
#[cfg(feature = "store")]
pub use health::{health_router, metrics_router};
#[cfg(feature = "store")]
pub use jobs::jobs_router;
#[cfg(feature = "store")]
pub use metrics::Metrics;
#[cfg(feature = "store")]
pub use open::Opened;
#[cfg(feature = "store")]
pub use openapi::{ApiDoc, docs_router, openapi};
pub use problem::{ApiError, Problem, status_for};
pub use render::{RenderState, render_router};
#[cfg(feature = "store")]
pub use state::{AppState, Closing, ReadyCheck};
#[cfg(feature = "store")]
pub use thumbnails::thumbnails_router;

/// Every router of spv in one: thumbnails, auth, documents, assets, jobs, health, docs
/// and (when enabled) metrics, with request metrics and a problem+json 404 for unknown
/// paths.
///
/// Under [`Role::Worker`](crate::config::Role::Worker) (`SPV_ROLE=worker`) this is
/// [`worker_router`]: a worker process serves no API.
///
/// The routers' layers (request metrics, JSON finishing, the body limit) are applied
/// once here, in one `Router::layer` call: it wraps every route in a boxed service that
/// is cloned per request, so each separate call would cost that again. The layers
/// themselves answer with named futures, nothing boxed per request.
#[cfg(feature = "store")]
pub fn api(state: AppState) -> axum::Router {
    if !state.config().role.serves_api() {
        return worker_router(state);
    }
    let limit = state.config().body_limit_bytes;
    let mut router = axum::Router::new()
        .merge(thumbnails::thumbnails_routes())
        .merge(accounts::auth_routes())
        .merge(documents::documents_routes())
        .merge(live::live_routes())
        .merge(document_thumbnail::document_thumbnail_routes())
        .merge(gallery::gallery_routes())
        .merge(assets::assets_routes())
        .merge(jobs::jobs_routes())
        .with_state(state.clone())
        .merge(health_router(state.clone()))
        .merge(docs_router(state.clone()));
    if state.config().prometheus_enabled {
        router = router.merge(metrics_router(state.clone()));
    }
    router.fallback(not_found).layer(
        tower::ServiceBuilder::new()
            .layer(metrics::TrackLayer::new(state.metrics().clone()))
            .layer(json::FinishJsonLayer::new())
            .layer(axum::extract::DefaultBodyLimit::max(limit)),
    )
}

/// What a worker process (`SPV_ROLE=worker`) serves: `GET /health`, `GET /ready` and,
/// when enabled, `GET /metrics`, with request metrics; every other path is a
/// problem+json 404.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use tower::ServiceExt;
/// let state = spv::http::AppState::new(&spv::config::Config::default());
/// let app = spv::http::worker_router(state);
/// let get = |path: &str| axum::http::Request::get(path).body(axum::body::Body::empty()).unwrap();
/// assert_eq!(app.clone().oneshot(get("/health")).await.unwrap().status(), 200);
/// assert_eq!(app.oneshot(get("/api/v1/documents")).await.unwrap().status(), 404);
/// # });
/// ```
#[cfg(feature = "store")]
pub fn worker_router(state: AppState) -> axum::Router {
    let mut router = health_router(state.clone());
    if state.config().prometheus_enabled {
        router = router.merge(metrics_router(state.clone()));
    }
    router.fallback(not_found).layer(
        tower::ServiceBuilder::new()
            .layer(metrics::TrackLayer::new(state.metrics().clone()))
            .layer(json::FinishJsonLayer::new()),
    )
}

#[cfg(feature = "store")]
async fn not_found(request: Request) -> ApiError {
    ApiError::new(crate::Error::new(
        crate::ErrorKind::NotFound,
        format!("no route for {} {}", request.method(), request.uri().path()),
    ))
}
