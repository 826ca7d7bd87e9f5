//! Rate limits at the HTTP edge: which group a request counts in, who its client is,
//! and the headers of a refusal.
//!
//! | group | what counts | keyed by |
//! |---|---|---|
//! | `auth` | `POST /api/v1/auth/token` (every grant, before the credential is looked at), and every request whose credential fails its check (malformed, unknown, expired, revoked) | client IP; password grants also by user name |
//! | `anonymous` | requests without a credential: the routes anonymous callers may use (gallery, public thumbnails, `/openapi.json`, `/docs`), and protected routes called without one (before their 401) | client IP |
//! | `api` | requests whose credential is valid | user (all of a user's tokens and keys share one budget) |
//! | `render` | `POST /api/v1/thumbnails`, `POST /api/v1/jobs/render`, and `GET /api/v1/documents/{id}/thumbnail` when the thumbnail is not in memory | user, or client IP for anonymous callers |
//!
//! `/health`, `/ready` and `/metrics` are exempt: probes and scrapers must never be
//! refused. A refusal is `429` problem+json (`urn:spv:problem:rate-limited`) with
//! `Retry-After`, `RateLimit-Policy: "auth";q=10;w=60` and `RateLimit: "auth";r=0;t=42`
//! (draft-ietf-httpapi-ratelimit-headers). Answers that are not refused carry neither
//! field: the `api` group is decided inside the credential check, after which only the
//! handler shapes the answer, and formatting two fields on every cached thumbnail would
//! cost the hot path for clients that have no use for them.
//!
//! The client is the socket's peer, taken from the request's
//! `axum::extract::ConnectInfo<SocketAddr>` extension (`spv-server` sets it; a host
//! serving [`api`](super::api) itself uses
//! `Router::into_make_service_with_connect_info::<SocketAddr>()`), or, when the peer is
//! one of `SPV_TRUSTED_PROXIES`, the first untrusted hop of `Forwarded` or
//! `X-Forwarded-For`. A request without a peer address is keyed as `0.0.0.0`: every
//! such request shares one budget (logged once).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{Extensions, HeaderMap, HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::problem::ApiError;
use super::state::AppState;
use crate::api::Principal;
use crate::ratelimit::{Group, Refusal, Subject};

/// `RateLimit-Policy` (draft-ietf-httpapi-ratelimit-headers).
pub(crate) const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
/// `RateLimit` (draft-ietf-httpapi-ratelimit-headers).
pub(crate) const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");

/// Sets `Retry-After`, `RateLimit-Policy` and `RateLimit` of a refusal.
pub(crate) fn set_headers(headers: &mut HeaderMap, refusal: &Refusal) {
    headers.insert(
        header::RETRY_AFTER,
        HeaderValue::from(refusal.retry_after_secs()),
    );
    // Quoted group names and numbers: always valid field values.
    if let Ok(value) = HeaderValue::from_str(&refusal.policy_header()) {
        headers.insert(RATELIMIT_POLICY, value);
    }
    if let Ok(value) = HeaderValue::from_str(&refusal.header()) {
        headers.insert(RATELIMIT, value);
    }
}

/// The client's address of a request (see the module docs).
pub(crate) fn client_ip(headers: &HeaderMap, extensions: &Extensions, state: &AppState) -> IpAddr {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<SocketAddr>>() else {
        if !WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                "requests carry no peer address (ConnectInfo<SocketAddr>): rate limits by client \
                 address share one budget; serve with into_make_service_with_connect_info"
            );
        }
        return IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    };
    let proxies = state.trusted_proxies();
    if proxies.is_empty() {
        return peer.ip();
    }
    let values = |name: &str| {
        headers
            .get_all(name)
            .into_iter()
            .filter_map(|v| std::str::from_utf8(v.as_bytes()).ok())
            .collect::<Vec<_>>()
    };
    if !proxies.contains(peer.ip()) {
        return peer.ip();
    }
    let forwarded = values("forwarded");
    let x_forwarded_for = values("x-forwarded-for");
    proxies.client_ip(
        peer.ip(),
        forwarded.iter().copied(),
        x_forwarded_for.iter().copied(),
    )
}

/// Counts one request of `subject` in `group`: a 429 when refused.
pub(crate) async fn check(
    state: &AppState,
    group: Group,
    subject: &Subject,
) -> Result<(), ApiError> {
    state
        .rate_limiter()
        .check(group, subject)
        .await
        .map_err(|refusal| ApiError::new(refusal.into_error()))
}

/// A request without a credential (`anonymous`, by client IP).
pub(crate) async fn anonymous(
    headers: &HeaderMap,
    extensions: &Extensions,
    state: &AppState,
) -> Result<(), ApiError> {
    if !state.rate_limiter().is_on(Group::Anonymous) {
        return Ok(());
    }
    let ip = client_ip(headers, extensions, state);
    check(state, Group::Anonymous, &Subject::ip(ip)).await
}

/// A credential that failed its check (`auth`, by client IP): the 429 when over the
/// limit, else `failure` itself.
pub(crate) async fn failed_credential(
    headers: &HeaderMap,
    extensions: &Extensions,
    state: &AppState,
    failure: ApiError,
) -> ApiError {
    if !state.rate_limiter().is_on(Group::Auth) {
        return failure;
    }
    let ip = client_ip(headers, extensions, state);
    match check(state, Group::Auth, &Subject::ip(ip)).await {
        Ok(()) => failure,
        Err(refused) => refused,
    }
}

/// The subject of render work: the user, else the client's address.
pub(crate) fn render_subject(principal: Option<&Principal>, client: IpAddr) -> Subject {
    match principal {
        Some(principal) => Subject::user(principal.user_id),
        None => Subject::ip(client),
    }
}

/// The layer of routes that read no credential (`/openapi.json`, `/docs`): every request
/// counts as anonymous.
pub(crate) async fn anonymous_layer(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match anonymous(request.headers(), request.extensions(), &state).await {
        Ok(()) => next.run(request).await,
        Err(refused) => refused.into_response(),
    }
}
