//! `GET /api/v1/documents/{id}/thumbnail`: a cacheable thumbnail of a stored document,
//! for `<img>` tags and CDNs.
//!
//! The options and their errors are those of `POST /api/v1/thumbnails`, in the query.
//! The ETag is the thumbnail's cache key (content hash, options, renderer version), so
//! `If-None-Match` answers 304 from the document's metadata alone. Public documents are
//! served to anyone with `Cache-Control: public, max-age=60` (short: the URL stays, the
//! content may change; the ETag revalidates); private ones to their owner and admins
//! with `private, no-cache`.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Authenticated;
use super::json::FinishJsonLayer;
use super::problem::ApiError;
use super::state::AppState;
use super::thumbnails::{check_max, choose_format, size_from};
use crate::api::{DocumentThumbnail, GetDocumentThumbnail, Principal, Scope};
use crate::{Error, ErrorKind};

/// How long shared caches and browsers may keep a public thumbnail without asking again.
pub(crate) const PUBLIC_CACHE_CONTROL: &str = "public, max-age=60";

/// The query of `GET /api/v1/documents/{id}/thumbnail`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ThumbnailQuery {
    /// Zero-based page index (default 0).
    page: Option<usize>,
    /// The longer side in pixels (default 256).
    size: Option<u32>,
    /// Box width in pixels (with `height`).
    width: Option<u32>,
    /// Box height in pixels (with `width`).
    height: Option<u32>,
    /// How the page fits the box: `contain` (default), `cover` or `fill`.
    fit: Option<String>,
    /// `png` (default), `webp`, `jpeg` or `auto` (WebP when `Accept` allows it, else PNG).
    format: Option<String>,
    /// Paint placeholders for missing assets instead of failing (default false).
    lenient: Option<bool>,
    /// Pretty-prints problem responses.
    #[param(ignore)]
    #[allow(dead_code)] // Read by the JSON finishing layer; accepted here.
    pretty: Option<String>,
}

/// The caller of a route that anonymous callers may use: `None` without a credential; a
/// credential that is sent must be valid (401) and hold one of `scopes` (403).
pub(crate) async fn optional_caller(
    parts: &mut Parts,
    state: &AppState,
    scopes: &[Scope],
) -> Result<Option<Principal>, ApiError> {
    let sent = parts.headers.contains_key(header::AUTHORIZATION)
        || parts
            .headers
            .contains_key(state.config.api_key_header.as_str());
    if !sent {
        return Ok(None);
    }
    let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
    if !scopes.iter().any(|scope| principal.scopes.contains(*scope)) {
        let names: Vec<String> = scopes
            .iter()
            .map(|s| format!("\"{}\"", s.as_str()))
            .collect();
        return Err(Error::new(
            ErrorKind::Forbidden,
            format!("the credential lacks the scope {}", names.join(" or ")),
        )
        .into());
    }
    Ok(Some(principal))
}

/// The caller of the thumbnail route: anonymous, or holding `thumbnails:read` or
/// `gallery:read`.
pub(crate) struct Viewer(Option<Principal>);

impl FromRequestParts<AppState> for Viewer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let scopes = [Scope::ThumbnailsRead, Scope::GalleryRead];
        optional_caller(parts, state, &scopes).await.map(Viewer)
    }
}

/// `GET /api/v1/documents/{id}/thumbnail`.
pub fn document_thumbnail_router(state: AppState) -> Router {
    document_thumbnail_routes()
        .layer(FinishJsonLayer)
        .with_state(state)
}

/// The routes of [`document_thumbnail_router`] without its layers, for [`super::api`], which
/// applies them once around every route.
pub(crate) fn document_thumbnail_routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/documents/{id}/thumbnail",
        get(get_document_thumbnail),
    )
}

/// A thumbnail of one page of a stored document, from the caches when it can be.
#[utoipa::path(get, path = "/api/v1/documents/{id}/thumbnail", tag = "thumbnails",
    params(("id" = Uuid, Path, description = "The document's id"), ThumbnailQuery,
        ("If-None-Match" = Option<String>, Header, description = "ETags already held")),
    responses(
        (status = 200, description = "The thumbnail; `ETag` is its cache key (none for a \
            lenient render with a placeholder for a missing `sha256:` asset)", content(
            (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "image/jpeg"))),
        (status = 304, description = "`If-None-Match` matched; nothing rendered or read"),
        (status = 400, description = "Bad options (e.g. over `SPV_MAX_THUMBNAIL_SIZE`, a \
            page that does not exist)", body = super::Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "A credential was sent but is not valid",
            body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential lacks `thumbnails:read` (or \
            `gallery:read`, enough for public documents)",
            body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document readable by the caller",
            body = super::Problem, content_type = "application/problem+json"),
        (status = 422, description = "A missing or unreadable asset", body = super::Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "Render pool saturated; see `Retry-After`",
            body = super::Problem, content_type = "application/problem+json")),
    security((), ("bearer" = ["thumbnails:read"]), ("apiKey" = ["thumbnails:read"]),
        ("bearer" = ["gallery:read"]), ("apiKey" = ["gallery:read"])))]
pub(crate) async fn get_document_thumbnail(
    State(state): State<AppState>,
    Viewer(principal): Viewer,
    Path(id): Path<String>,
    params: Result<Query<ThumbnailQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| {
        Error::new(
            ErrorKind::NotFound,
            format!("document {id:?} not found: expected a UUID"),
        )
    })?;
    let Query(query) =
        params.map_err(|e| Error::invalid_request(format!("query: {}", e.body_text())))?;
    let size = size_from(query.size, query.width, query.height, query.fit.as_deref())?;
    check_max(size, state.config.max_thumbnail_size)?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (format, negotiated) = choose_format(query.format.as_deref(), accept)?;
    let service = state.document_thumbnails.clone().ok_or_else(|| {
        Error::new(
            ErrorKind::NotFound,
            "this server has no document store configured",
        )
    })?;
    let mut request = GetDocumentThumbnail::new(principal, id);
    request.page = query.page.unwrap_or(0);
    request.size = size;
    request.format = format;
    request.lenient = query.lenient.unwrap_or(false);
    request.if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let answer = service.get(request).await?;
    record(&state, &answer);

    let mut out = HeaderMap::new();
    let cache_control = match (&answer.etag, answer.document.public) {
        (None, _) => "no-store",
        (Some(_), true) => PUBLIC_CACHE_CONTROL,
        (Some(_), false) => "private, no-cache",
    };
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(cache_control),
    );
    if let Some(value) = answer
        .etag
        .as_deref()
        .and_then(|etag| HeaderValue::from_str(etag).ok())
    {
        out.insert(header::ETAG, value);
    }
    if negotiated {
        out.insert(header::VARY, HeaderValue::from_static("accept"));
    }
    let Some(image) = answer.image else {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    };
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(image.content_type()),
    );
    let body = Body::from(Bytes::from_owner(image.bytes));
    Ok((StatusCode::OK, out, body).into_response())
}

/// Cache lookups and render times of one answer, into the metrics.
fn record(state: &AppState, answer: &DocumentThumbnail) {
    let metrics = &state.metrics;
    if let Some(hit) = answer.memory_hit {
        metrics.observe_cache("memory", hit);
    }
    if let Some(hit) = answer.blob_hit {
        metrics.observe_cache("blob", hit);
    }
    if let Some(timing) = answer.rendered {
        metrics.observe_render_timing(&timing);
    }
}
