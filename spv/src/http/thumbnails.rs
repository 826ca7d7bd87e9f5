//! `POST /api/v1/thumbnails`: a document in the body, an image out.

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use serde::Deserialize;

use super::auth::Authenticated;
use super::conditional::{etag_matches, strong_etag};
use super::json::FinishJsonLayer;
use super::problem::ApiError;
use super::state::AppState;
use crate::api::{ImageFormat, RenderThumbnail, RenderTiming, Scope, ThumbnailSize};
use crate::glyph::ImageFit;
use crate::render::renderer_version;
use crate::thumbnails::{check_size, prepare};
use crate::{Error, ErrorKind};

/// The JSON body of `POST /api/v1/thumbnails`.
///
/// Size: either `size` (the longer side) or `width` and `height` (with `fit`); neither
/// means `size` 256.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ThumbnailBody {
    /// The `.glyph` document: its JSON inline as an object, or a base64 string of a
    /// `.glyph` file (JSON or package).
    #[schema(value_type = Object)]
    pub document: serde_json::Value,
    /// Zero-based page index (default 0).
    #[serde(default)]
    pub page: usize,
    /// The longer side in pixels (default 256).
    pub size: Option<u32>,
    /// Box width in pixels (with `height`).
    pub width: Option<u32>,
    /// Box height in pixels (with `width`).
    pub height: Option<u32>,
    /// How the page fits the box: `contain` (default), `cover` or `fill`.
    #[schema(example = "contain")]
    pub fit: Option<String>,
    /// `png` (default), `webp`, `jpeg` or `auto` (WebP when `Accept` allows it, else PNG).
    #[schema(example = "auto")]
    pub format: Option<String>,
    /// Paint placeholders for missing assets instead of failing.
    #[serde(default)]
    pub lenient: bool,
}

/// `POST /api/v1/thumbnails`.
pub fn thumbnails_router(state: AppState) -> Router {
    let limit = state.config.body_limit_bytes;
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

/// Renders one page of the document in the body.
#[utoipa::path(post, path = "/api/v1/thumbnails", tag = "thumbnails",
    request_body = ThumbnailBody,
    responses(
        (status = 200, description = "The thumbnail; `ETag` identifies it", content(
            (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "image/jpeg"))),
        (status = 304, description = "`If-None-Match` matched; nothing rendered"),
        (status = 400, description = "Bad document or options", body = super::Problem,
            content_type = "application/problem+json"),
        (status = 401, description = "No valid credential; see `WWW-Authenticate`",
            body = super::Problem, content_type = "application/problem+json"),
        (status = 403, description = "The credential lacks `thumbnails:read`",
            body = super::Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over the limit", body = super::Problem,
            content_type = "application/problem+json"),
        (status = 422, description = "A missing or unreadable asset", body = super::Problem,
            content_type = "application/problem+json"),
        (status = 503, description = "Render pool saturated; see `Retry-After`",
            body = super::Problem, content_type = "application/problem+json")),
    security(("bearer" = ["thumbnails:read"]), ("apiKey" = ["thumbnails:read"])))]
pub(crate) async fn create_thumbnail(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::ThumbnailsRead)?;
    let body = body.map_err(|rejection| body_error(rejection, state.config.body_limit_bytes))?;
    let body: ThumbnailBody = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid_request(format!("request body: {e}")))?;
    let document = document_bytes(&body.document)?;
    let size = thumbnail_size(&body)?;
    check_max(size, state.config.max_thumbnail_size)?;
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (format, negotiated) = choose_format(body.format.as_deref(), accept)?;

    let expected = state.thumbnails.expected_backend();
    let size_key = format!("{size:?}");
    let page = body.page.to_string();
    // The caller is part of the ETag: `sha256:` sources resolve from the caller's own
    // uploads, so the same body may draw differently for another caller.
    let etag = strong_etag(&[
        principal.user_id.as_bytes(),
        &document,
        page.as_bytes(),
        size_key.as_bytes(),
        format.extension().as_bytes(),
        &[u8::from(body.lenient)],
        renderer_version(expected).as_bytes(),
    ]);
    let mut out = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        out.insert(header::ETAG, value);
    }
    if negotiated {
        out.insert(header::VARY, HeaderValue::from_static("accept"));
    }
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if if_none_match.is_some_and(|inm| etag_matches(inm, &etag)) {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }

    check_size(size, state.thumbnails.max_size())?;
    // `sha256:` sources resolve against the caller's own uploads.
    let prepared = prepare(
        &state.thumbnails,
        state.assets.as_ref(),
        principal.user_id,
        document.into(),
    )
    .await?;
    let request = RenderThumbnail::loaded(prepared.loaded)
        .page(body.page)
        .size(size)
        .format(format)
        .lenient(body.lenient)
        .assets(prepared.resolver.clone());
    let (thumbnail, timing) = state.thumbnails.render_timed(request).await?;
    state.metrics.observe_render_timing(&RenderTiming {
        queue_wait: prepared.timing.queue_wait + timing.queue_wait,
        render: prepared.timing.render + timing.render,
        ..timing
    });
    if prepared.resolver.missed() || thumbnail.backend != expected {
        // (Or drawn by the other backend than the ETag names: the render that
        // initialised the GPU, or a fallback to the CPU.)
        // A placeholder for an asset the caller may upload later: this image must not
        // be revalidated by an ETag that would still match then.
        out.remove(header::ETAG);
        out.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(thumbnail.content_type()),
    );
    Ok((StatusCode::OK, out, thumbnail.bytes).into_response())
}

fn body_error(rejection: BytesRejection, limit: usize) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        let error = Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "request body is larger than the limit of {limit} bytes (SPV_BODY_LIMIT_BYTES)"
            ),
        );
        ApiError::with_status(error, StatusCode::PAYLOAD_TOO_LARGE)
    } else {
        ApiError::new(Error::invalid_request(format!(
            "request body could not be read: {}",
            rejection.body_text()
        )))
    }
}

/// The `.glyph` bytes of `document`: the inline JSON, or the decoded base64 string.
fn document_bytes(document: &serde_json::Value) -> Result<Vec<u8>, Error> {
    match document {
        serde_json::Value::Object(_) => serde_json::to_vec(document)
            .map_err(|e| Error::internal(format!("re-encoding the document failed: {e}"))),
        serde_json::Value::String(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .map_err(|e| {
                Error::invalid_request(format!(
                    "document: the string is not valid base64 ({e}); expected a .glyph JSON object or a base64 .glyph file"
                ))
            }),
        other => Err(Error::invalid_request(format!(
            "document: got {}; expected a .glyph JSON object or a base64 .glyph file",
            json_type(other)
        ))),
    }
}

fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

fn thumbnail_size(body: &ThumbnailBody) -> Result<ThumbnailSize, Error> {
    size_from(body.size, body.width, body.height, body.fit.as_deref())
}

/// The size from `size`, or `width` and `height` with `fit`; neither: 256.
pub(crate) fn size_from(
    size: Option<u32>,
    width: Option<u32>,
    height: Option<u32>,
    fit: Option<&str>,
) -> Result<ThumbnailSize, Error> {
    let fit = match fit {
        None => ImageFit::Contain,
        Some(fit) => ImageFit::parse(fit).ok_or_else(|| {
            Error::invalid_request(format!(
                "fit: {fit:?} is not valid; expected contain, cover or fill"
            ))
        })?,
    };
    match (size, width, height) {
        (Some(size), None, None) => Ok(ThumbnailSize::Longest { size }),
        (None, None, None) => Ok(ThumbnailSize::default()),
        (None, Some(width), Some(height)) => Ok(ThumbnailSize::Box { width, height, fit }),
        (Some(_), _, _) => Err(Error::invalid_request(
            "size and width/height were both given; expected either size or width and height",
        )),
        _ => Err(Error::invalid_request(
            "width and height must be given together; expected both, or size alone",
        )),
    }
}

/// Refuses sides over `SPV_MAX_THUMBNAIL_SIZE`, naming the variable.
pub(crate) fn check_max(size: ThumbnailSize, max: u32) -> Result<(), Error> {
    let sides = match size {
        ThumbnailSize::Longest { size } => [("size", size), ("size", size)],
        ThumbnailSize::Box { width, height, .. } => [("width", width), ("height", height)],
    };
    for (what, side) in sides {
        if side > max {
            return Err(Error::invalid_request(format!(
                "thumbnail {what} {side} is too large: the maximum is {max} pixels (SPV_MAX_THUMBNAIL_SIZE)"
            )));
        }
    }
    Ok(())
}

/// The output format, and whether it was negotiated from `Accept` (so `Vary: Accept`).
pub(crate) fn choose_format(
    format: Option<&str>,
    accept: Option<&str>,
) -> Result<(ImageFormat, bool), Error> {
    match format {
        None => Ok((ImageFormat::Png, false)),
        Some(f) if f.eq_ignore_ascii_case("auto") => {
            let webp = accept.is_some_and(accepts_webp);
            Ok((
                if webp {
                    ImageFormat::Webp
                } else {
                    ImageFormat::Png
                },
                true,
            ))
        }
        Some(f) => ImageFormat::parse(f).map(|f| (f, false)).ok_or_else(|| {
            Error::invalid_request(format!(
                "format: {f:?} is not valid; expected png, webp, jpeg or auto"
            ))
        }),
    }
}

/// Whether `Accept` lists `image/webp` explicitly with a non-zero quality.
fn accepts_webp(accept: &str) -> bool {
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let zero = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        media.eq_ignore_ascii_case("image/webp") && !zero
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webp_only_when_accept_names_it() {
        assert!(accepts_webp("image/avif,image/webp,*/*"));
        assert!(!accepts_webp("*/*"));
        assert!(!accepts_webp("image/webp;q=0, image/png"));
        assert_eq!(
            choose_format(Some("auto"), Some("image/webp")).unwrap(),
            (ImageFormat::Webp, true)
        );
        assert_eq!(
            choose_format(Some("auto"), None).unwrap(),
            (ImageFormat::Png, true)
        );
        assert_eq!(
            choose_format(Some("JPG"), None).unwrap(),
            (ImageFormat::Jpeg, false)
        );
        let err = choose_format(Some("gif"), None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "format: \"gif\" is not valid; expected png, webp, jpeg or auto"
        );
    }

    #[test]
    fn documents_inline_or_base64() {
        let inline = serde_json::json!({"format": "glyph"});
        assert_eq!(document_bytes(&inline).unwrap(), br#"{"format":"glyph"}"#);
        let encoded = serde_json::json!("eyJhIjoxfQ==");
        assert_eq!(document_bytes(&encoded).unwrap(), br#"{"a":1}"#);
        assert!(document_bytes(&serde_json::json!("%%%")).is_err());
        let err = document_bytes(&serde_json::json!(3)).unwrap_err();
        assert!(
            err.to_string().starts_with("document: got a number"),
            "{err}"
        );
    }
}
