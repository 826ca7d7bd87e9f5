//! `POST /api/v1/thumbnails`: a document in the body (or a stored document's id), an
//! image out; and the response both thumbnail routes share.

use axum::Router;
use axum::body::Body;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use tower::ServiceExt;

use super::auth::Authenticated;
use super::body::BodyLimit;
use super::json::FinishJsonLayer;
use super::problem::ApiError;
use super::responses::{Overloaded, PayloadTooLarge, Unauthorized, Unprocessable};
use super::state::AppState;
use crate::api::{CreateThumbnail, DocumentThumbnail, Scope, ThumbnailBody};
use crate::ratelimit::{Group, Subject};
use crate::thumbnails::InlineThumbnails;
use crate::{Error, ErrorKind};

/// `POST /api/v1/thumbnails`.
pub fn thumbnails_router(state: AppState) -> Router {
    let limit = state.config().body_limit_bytes;
    thumbnails_routes()
        .layer(DefaultBodyLimit::max(limit))
        .layer(FinishJsonLayer)
        .with_state(state)
}

/// The routes of [`thumbnails_router`] without its layers, for [`super::api`], which
/// applies them once around every route.
pub(crate) fn thumbnails_routes() -> Router<AppState> {
    Router::new().route("/api/v1/thumbnails", post(create_thumbnail))
}

/// Renders one page of the document in the body, or of the stored document it names
/// (then as `GET /api/v1/documents/{id}/thumbnail` would: same caches, same ETag).
#[utoipa::path(post, path = "/api/v1/thumbnails", tag = "thumbnails",
    request_body = ThumbnailBody,
    responses(
        (status = 200, description = "The thumbnail; `ETag` identifies it", content(
            (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "image/jpeg"))),
        (status = 304, description = "`If-None-Match` matched; nothing rendered"),
        (status = 400, description = "Bad document or options (e.g. over \
            `SPV_MAX_THUMBNAIL_SIZE`)", body = super::Problem,
            content_type = "application/problem+json"),
        Unauthorized,
        (status = 403, description = "The credential lacks `thumbnails:read`",
            body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "`document` names a stored document the caller may \
            not read, or none; or the document has no page `page`", body = super::Problem,
            content_type = "application/problem+json"),
        PayloadTooLarge, Unprocessable, Overloaded),
    security(("bearer" = ["thumbnails:read"]), ("apiKey" = ["thumbnails:read"])))]
pub(crate) async fn create_thumbnail(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    // Before the body is read: a caller without the scope hears that first.
    principal.require(Scope::ThumbnailsRead)?;
    super::ratelimit::check(&state, Group::Render, &Subject::user(principal.user_id)).await?;
    let body = BodyLimit::server(state.config().body_limit_bytes).read(body)?;
    let body: ThumbnailBody = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid_request(format!("request body: {e}")))?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (mut request, negotiated) = CreateThumbnail::from_body(principal, &body, accept)?;
    request.if_none_match = header_text(&headers, header::IF_NONE_MATCH);
    let answer = match state.document_thumbnails().cloned() {
        Some(service) => service.oneshot(request).await?,
        None => {
            let service =
                InlineThumbnails::new(state.thumbnails().clone(), state.assets().cloned());
            service.oneshot(request).await?
        }
    };
    Ok(respond(&state, answer, negotiated))
}

/// How long shared caches and browsers may keep a public thumbnail without asking again.
pub(crate) const PUBLIC_CACHE_CONTROL: &str = "public, max-age=60";
/// The `max-age` of [`PUBLIC_CACHE_CONTROL`] (and the most of a signed URL's).
pub(crate) const PUBLIC_MAX_AGE_SECS: u64 = 60;

/// The error of a thumbnail route on a state without [`crate::thumbnails::DocumentThumbnails`].
pub(crate) fn no_store() -> Error {
    Error::new(
        ErrorKind::NotFound,
        "this server has no document store configured",
    )
}

/// A header's value as text, when it is.
pub(crate) fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The response of both thumbnail routes: the image (or 304), its ETag, how it may be
/// cached (public documents by anyone, private ones revalidated, uncacheable renders
/// never), and `Vary: accept` when `Accept` chose the format; the answer's cache lookups
/// and render time go to the metrics.
pub(crate) fn respond(state: &AppState, answer: DocumentThumbnail, negotiated: bool) -> Response {
    let metrics = &state.metrics();
    if let Some(hit) = answer.memory_hit {
        metrics.observe_cache("memory", hit);
    }
    if let Some(hit) = answer.blob_hit {
        metrics.observe_cache("blob", hit);
    }
    if let Some(timing) = answer.rendered {
        metrics.observe_render_timing(&timing);
    }
    let public = answer.document.as_ref().map(|document| document.public);
    let cache_control = match (&answer.etag, public) {
        (None, _) => Some("no-store"),
        (Some(_), Some(true)) => Some(PUBLIC_CACHE_CONTROL),
        (Some(_), Some(false)) => Some("private, no-cache"),
        // A document sent in a POST: the ETag alone.
        (Some(_), None) => None,
    };
    let (status, body, content_type) = match answer.image {
        Some(image) => (
            StatusCode::OK,
            Body::from(Bytes::from_owner(image.bytes)),
            Some(image.format.content_type()),
        ),
        None => (StatusCode::NOT_MODIFIED, Body::empty(), None),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    // Room for these and the server's (length, request id, security headers) without
    // the map growing on the way out.
    let headers = response.headers_mut();
    headers.reserve(16);
    if let Some(cache_control) = cache_control {
        headers.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(cache_control),
        );
    }
    if let Some(etag) = answer
        .etag
        .and_then(|etag| HeaderValue::try_from(etag).ok())
    {
        headers.insert(header::ETAG, etag);
    }
    if negotiated {
        headers.insert(header::VARY, HeaderValue::from_static("accept"));
    }
    if let Some(content_type) = content_type {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    }
    response
}
