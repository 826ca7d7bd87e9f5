//! Helpers of the document routes: the store, queries, media types and ETags.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::super::conditional::etag_matches;
use super::super::extract::configured;
use super::super::problem::ApiError;
use super::super::state::AppState;
use crate::Error;
use crate::api::Document;
use crate::documents::Documents;

pub(crate) fn service(state: &AppState) -> Result<Documents, ApiError> {
    configured(state.documents(), "document store")
}

pub(crate) fn header_text(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    header_text(headers, header::CONTENT_TYPE)
        .and_then(|ct| ct.split(';').next())
        .map(|ct| ct.trim().to_ascii_lowercase())
}

/// Refuses bodies that are neither a `.glyph` JSON nor a package.
pub(crate) fn check_upload_type(headers: &HeaderMap) -> Result<(), Error> {
    match media_type(headers).as_deref() {
        None | Some("application/json" | "application/zip" | "application/octet-stream") => Ok(()),
        Some(other) => Err(Error::invalid_request(format!(
            "content type {other:?} is not supported; expected application/json, application/zip or application/octet-stream"
        ))),
    }
}

pub(crate) fn with_etag(mut response: Response, etag: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

pub(crate) fn metadata(document: &Document) -> Response {
    with_etag(Json(document).into_response(), &document.etag())
}

pub(crate) fn not_modified(headers: &HeaderMap, etag: &str) -> Option<Response> {
    header_text(headers, header::IF_NONE_MATCH)
        .filter(|inm| etag_matches(inm, etag))
        .map(|_| with_etag(StatusCode::NOT_MODIFIED.into_response(), etag))
}

pub(crate) fn if_match(headers: &HeaderMap) -> Option<String> {
    header_text(headers, header::IF_MATCH).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_types() {
        let mut h = HeaderMap::new();
        assert!(check_upload_type(&h).is_ok());
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/zip"),
        );
        assert!(check_upload_type(&h).is_ok());
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        assert!(check_upload_type(&h).is_err());
    }

    #[test]
    fn if_none_match_gives_304() {
        let mut h = HeaderMap::new();
        assert!(not_modified(&h, "\"a.1\"").is_none());
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("\"a.1\""));
        let response = not_modified(&h, "\"a.1\"").unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(response.headers()[header::ETAG], "\"a.1\"");
    }
}
