//! The responses of the asset routes: bytes (whole, a range, or the headers of a `HEAD`)
//! with their caching headers, metadata with its own ETag, and 304s.

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::super::conditional::{etag_matches, strong_etag};
use super::super::problem::ApiError;
use super::range::{self, RangeAnswer};
use crate::Error;
use crate::api::Asset;
use crate::assets::AssetReader;

/// How long clients may keep an asset's bytes: they never change under an id.
const CACHE_CONTROL: &str = "private, max-age=31536000, immutable";

/// The policy of served bytes: nothing an uploaded SVG or PDF holds may run or load
/// anything, should a browser open it directly (the server's own headers are as strict).
const ASSET_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; sandbox";

/// A header's value when it is text.
pub(crate) fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// The metadata as JSON, with a strong ETag of exactly these bytes (metadata may change
/// while the bytes cannot, so it is not the bytes' ETag).
pub(crate) fn meta_response(asset: &Asset) -> Response {
    let Ok(json) = serde_json::to_vec(asset) else {
        return ApiError::new(Error::internal("serializing an asset failed")).into_response();
    };
    let etag = strong_etag(&[b"asset-meta", &json]);
    let mut response = (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// 304 with the ETag when `If-None-Match` matches `etag`.
pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> Option<Response> {
    let inm = header_text(headers, header::IF_NONE_MATCH)?;
    if !etag_matches(inm, etag) {
        return None;
    }
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    Some(response)
}

/// `ETag`, `Cache-Control` and `Accept-Ranges` of the asset's bytes.
pub(crate) fn with_cache_headers(mut response: Response, asset: &Asset) -> Response {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&asset.etag()) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response
}

/// The bytes (all, or the requested range) with their headers, streamed from the blob
/// store; `reader: None` answers a `HEAD`: the same headers, `Content-Length` included,
/// and no body.
pub(crate) async fn bytes_response(
    asset: &Asset,
    headers: &HeaderMap,
    reader: Option<AssetReader>,
) -> Result<Response, ApiError> {
    let etag = asset.etag();
    let len = asset.byte_size;
    let answer = range::evaluate(
        header_text(headers, header::RANGE),
        header_text(headers, header::IF_RANGE),
        &etag,
        len,
    );
    let (status, start, end) = match answer {
        RangeAnswer::Full => (StatusCode::OK, 0, len),
        RangeAnswer::Partial { start, end } => (StatusCode::PARTIAL_CONTENT, start, end + 1),
        RangeAnswer::Unsatisfiable => {
            let error = Error::invalid_request(format!(
                "range {:?} is not satisfiable: asset {} has {len} bytes",
                header_text(headers, header::RANGE).unwrap_or_default(),
                asset.id
            ));
            let mut response =
                ApiError::with_status(error, StatusCode::RANGE_NOT_SATISFIABLE).into_response();
            let headers = response.headers_mut();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{len}")) {
                headers.insert(header::CONTENT_RANGE, value);
            }
            headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
            return Ok(response);
        }
    };
    let mut response = match reader {
        Some(reader) => {
            let range = (status == StatusCode::PARTIAL_CONTENT).then_some(start..end);
            let stream = reader.stream(range).await?;
            (status, Body::from_stream(stream)).into_response()
        }
        None => status.into_response(),
    };
    // Known from the metadata: the streamed body has no length of its own.
    response
        .headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(end - start));
    let out = response.headers_mut();
    let mime = HeaderValue::from_str(&asset.mime)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    out.insert(header::CONTENT_TYPE, mime);
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(value) = HeaderValue::from_str(&format!("bytes {start}-{}/{len}", end - 1))
    {
        out.insert(header::CONTENT_RANGE, value);
    }
    let disposition = range::content_disposition(&asset.mime, asset.filename.as_deref());
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        out.insert(header::CONTENT_DISPOSITION, value);
    }
    out.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(ASSET_CSP),
    );
    Ok(with_cache_headers(response, asset))
}
