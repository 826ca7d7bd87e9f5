//! [`render_router`]: `POST /api/v1/thumbnails` over a [`Thumbnails`] service alone, for
//! a host that wants thumbnails of the documents it sends and nothing else: no database,
//! no users, no blobs. It builds with the `http` feature without `store`.
//!
//! The host guards the route itself (its own auth layer): this router knows no callers,
//! so it serves only documents sent in the request, rendered with the service's own
//! asset resolver; `"document": "<uuid>"` is answered 404. The body, its errors and the
//! answers (`ETag`, `If-None-Match` → 304, `format: "auto"` → `Vary: accept`) are those
//! of the full server's route.
//!
//! ```
//! use spv::http::{RenderState, render_router};
//! use spv::thumbnails::Thumbnails;
//! use tower::ServiceExt;
//!
//! let app: axum::Router = axum::Router::new()
//!     .nest("/render", render_router(RenderState::new(Thumbnails::default())));
//! let body = r##"{"document":{"format":"glyph","version":1,"pages":[{"width":200,"height":100,
//!     "background":"#2050f0","layers":[]}]},"size":64}"##;
//! let request = axum::http::Request::post("/render/api/v1/thumbnails")
//!     .header("content-type", "application/json")
//!     .body(axum::body::Body::from(body))
//!     .unwrap();
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let response = rt.block_on(app.oneshot(request)).unwrap();
//! assert_eq!(response.status(), 200);
//! assert_eq!(response.headers()["content-type"], "image/png");
//! assert!(response.headers().contains_key("etag"));
//! ```

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::post;
use sha2::{Digest, Sha256};
use tower::ServiceExt;

use super::body::BodyLimit;
use super::json::FinishJsonLayer;
use super::problem::ApiError;
use crate::Error;
#[cfg(feature = "api")]
use crate::ErrorKind;
use crate::api::{RenderThumbnail, ThumbnailBody, ThumbnailSource};
use crate::thumbnails::{CacheKey, Thumbnails, etag_matches};

/// What [`render_router`] needs: the thumbnails service and the body limit. With the
/// `store` feature it also comes from a whole `AppState` (`RenderState::from_ref`).
#[derive(Clone, Debug)]
pub struct RenderState {
    /// Renders the thumbnails (its pool, limits, largest size and renderer).
    pub thumbnails: Thumbnails,
    /// The largest request body, in bytes (default 10 MiB).
    pub body_limit: usize,
}

impl RenderState {
    /// A state around `thumbnails`, with a body limit of 10 MiB.
    pub fn new(thumbnails: Thumbnails) -> Self {
        RenderState {
            thumbnails,
            body_limit: 10 * 1024 * 1024,
        }
    }
}

#[cfg(feature = "store")]
impl axum::extract::FromRef<super::AppState> for RenderState {
    fn from_ref(state: &super::AppState) -> Self {
        RenderState {
            thumbnails: state.thumbnails().clone(),
            body_limit: state.config().body_limit_bytes,
        }
    }
}

/// `POST /api/v1/thumbnails` for documents sent in the request, over `state` alone.
pub fn render_router(state: RenderState) -> Router {
    let limit = state.body_limit;
    Router::new()
        .route("/api/v1/thumbnails", post(render_sent))
        .layer(DefaultBodyLimit::max(limit))
        .layer(FinishJsonLayer::new())
        .with_state(state)
}

async fn render_sent(
    State(state): State<RenderState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = BodyLimit::new(state.body_limit, "(RenderState::body_limit)").read(body)?;
    let body: ThumbnailBody = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid_request(format!("request body: {e}")))?;
    // (Without the `api` feature there is no other variant.)
    #[allow(clippy::infallible_destructuring_match)]
    let bytes = match body.source()? {
        ThumbnailSource::Inline(bytes) => bytes,
        #[cfg(feature = "api")]
        ThumbnailSource::Stored(id) => {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!(
                    "document {id} not found: this router renders documents sent in the request"
                ),
            )
            .into());
        }
    };
    let size = body.size()?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (format, negotiated) = crate::api::ImageFormat::negotiate(body.format.as_deref(), accept)?;
    let backend = state.thumbnails.expected_backend();
    // The key a stored document of these bytes would have, with no owner: this router
    // knows no callers, and resolves no one's uploads.
    let content_sha256 = crate::hex::hex(&Sha256::digest(&bytes));
    let key = CacheKey::for_owner(
        backend,
        &[],
        &content_sha256,
        body.page,
        size,
        format,
        body.lenient,
    );
    let etag = key.etag();
    let mut response = Response::new(Body::empty());
    let inm = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if inm.is_some_and(|inm| etag_matches(inm, &etag)) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
    } else {
        let request = RenderThumbnail::new(bytes)
            .page(body.page)
            .size(size)
            .format(format)
            .lenient(body.lenient);
        let thumbnail = state.thumbnails.clone().oneshot(request).await?;
        if thumbnail.timing.backend != backend {
            // Drawn by the other backend than the ETag names: no ETag for these bytes.
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(thumbnail.content_type()),
        );
        *response.body_mut() = Body::from(thumbnail.bytes);
    }
    if !response.headers().contains_key(header::CACHE_CONTROL)
        && let Ok(value) = HeaderValue::try_from(etag)
    {
        response.headers_mut().insert(header::ETAG, value);
    }
    if negotiated {
        response
            .headers_mut()
            .insert(header::VARY, HeaderValue::from_static("accept"));
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r##"{"format":"glyph","version":1,"pages":[{"width":200,"height":100,
        "background":"#2050f0","layers":[]}]}"##;

    fn post(body: String, headers: &[(&str, &str)]) -> axum::http::Request<Body> {
        let mut request = axum::http::Request::post("/api/v1/thumbnails")
            .header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.body(Body::from(body)).unwrap()
    }

    #[tokio::test]
    async fn renders_sent_documents_with_etags_and_refuses_stored_ones() {
        let app = render_router(RenderState::new(Thumbnails::default()));
        let body = format!(r#"{{"document":{DOC},"size":64,"format":"auto"}}"#);
        let response = app
            .clone()
            .oneshot(post(body.clone(), &[("accept", "image/webp")]))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/webp");
        assert_eq!(response.headers()["vary"], "accept");
        let etag = response.headers()["etag"].to_str().unwrap().to_owned();
        assert_eq!(etag.len(), 66, "{etag}");

        let again = post(
            body.clone(),
            &[("accept", "image/webp"), ("if-none-match", &etag)],
        );
        let response = app.clone().oneshot(again).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()["etag"], etag.as_str());

        let other = format!(r#"{{"document":{DOC},"size":65}}"#);
        let response = app
            .clone()
            .oneshot(post(other, &[("if-none-match", &etag)]))
            .await;
        let response = response.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "other options, other ETag"
        );
        assert_ne!(response.headers()["etag"], etag.as_str());

        let stored = r#"{"document":"0192a7e4-0000-7000-8000-000000000000"}"#.to_owned();
        let response = app.clone().oneshot(post(stored, &[])).await.unwrap();
        // Without the `api` feature a document id is not even recognised: not base64.
        let expected = if cfg!(feature = "api") {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(response.status(), expected);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );

        let bad = r#"{"document":3}"#.to_owned();
        let response = app.oneshot(post(bad, &[])).await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413() {
        let state = RenderState {
            body_limit: 64,
            ..RenderState::new(Thumbnails::default())
        };
        let body = format!(r#"{{"document":{DOC}}}"#);
        let response = render_router(state).oneshot(post(body, &[])).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    }
}
