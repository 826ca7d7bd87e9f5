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

use super::json::FinishJsonLayer;
use super::problem::ApiError;
use crate::api::{RenderThumbnail, ThumbnailBody, ThumbnailSource};
use crate::render::renderer_version;
use crate::thumbnails::Thumbnails;
use crate::{Error, ErrorKind};

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
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            let limit = state.body_limit;
            let error = Error::new(
                ErrorKind::LimitExceeded,
                format!("request body is larger than the limit of {limit} bytes"),
            );
            ApiError::with_status(error, StatusCode::PAYLOAD_TOO_LARGE)
        } else {
            let text = rejection.body_text();
            Error::invalid_request(format!("request body could not be read: {text}")).into()
        }
    })?;
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
    let etag = sent_etag(&bytes, &body, size, format, renderer_version(backend));
    let mut response = Response::new(Body::empty());
    let inm = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if inm.is_some_and(|inm| inm.split(',').any(|t| t.trim() == etag || t.trim() == "*")) {
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

/// The strong ETag of a sent document's thumbnail: the SHA-256 of its bytes and every
/// option, each part length-prefixed (as the cache keys are), and the renderer version.
fn sent_etag(
    bytes: &[u8],
    body: &ThumbnailBody,
    size: crate::api::ThumbnailSize,
    format: crate::api::ImageFormat,
    renderer: &str,
) -> String {
    let (longest, width, height, fit) = size.fields();
    let options = format!(
        "{}:{longest:?}:{width:?}:{height:?}:{}:{}:{}",
        body.page,
        fit.unwrap_or(""),
        format.extension(),
        body.lenient
    );
    let mut hasher = Sha256::new();
    for part in [
        &Sha256::digest(bytes)[..],
        options.as_bytes(),
        renderer.as_bytes(),
    ] {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut etag = String::with_capacity(66);
    etag.push('"');
    for byte in digest {
        etag.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        etag.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    etag.push('"');
    etag
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
