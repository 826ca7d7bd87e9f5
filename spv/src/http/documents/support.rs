//! Helpers of the document routes: the optional caller of reads, ids, bodies and ETags.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use super::super::auth::Authenticated;
use super::super::conditional::etag_matches;
use super::super::problem::ApiError;
use super::super::state::AppState;
use crate::api::{Document, Principal, Scope};
use crate::documents::Documents;
use crate::{Error, ErrorKind};

/// The caller of a read: `None` without any credential; a credential sent must be valid.
#[derive(Debug, Clone)]
pub(crate) struct MaybeAuthenticated(pub(crate) Option<Principal>);

impl FromRequestParts<AppState> for MaybeAuthenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let sent = parts.headers.contains_key(header::AUTHORIZATION)
            || parts
                .headers
                .contains_key(state.config.api_key_header.as_str());
        if !sent {
            return Ok(MaybeAuthenticated(None));
        }
        let Authenticated(principal) = Authenticated::from_request_parts(parts, state).await?;
        principal.require(Scope::DocumentsRead)?;
        Ok(MaybeAuthenticated(Some(principal)))
    }
}

pub(crate) fn service(state: &AppState) -> Result<Documents, ApiError> {
    state.documents.clone().ok_or_else(|| {
        ApiError::new(Error::new(
            ErrorKind::NotFound,
            "this server has no document store configured",
        ))
    })
}

pub(crate) fn parse_id(id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id).map_err(|_| {
        Error::new(
            ErrorKind::NotFound,
            format!("document {id:?} not found: expected a UUID"),
        )
    })
}

pub(crate) fn body_bytes(
    body: Result<Bytes, BytesRejection>,
    limit: usize,
) -> Result<Vec<u8>, ApiError> {
    match body {
        Ok(bytes) => Ok(bytes.to_vec()),
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            let error = Error::new(
                ErrorKind::LimitExceeded,
                format!(
                    "request body is larger than the limit of {limit} bytes (SPV_BODY_LIMIT_BYTES)"
                ),
            );
            Err(ApiError::with_status(error, StatusCode::PAYLOAD_TOO_LARGE))
        }
        Err(rejection) => Err(ApiError::new(Error::invalid_request(format!(
            "request body could not be read: {}",
            rejection.body_text()
        )))),
    }
}

pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Error> {
    query
        .map(|Query(q)| q)
        .map_err(|e| Error::invalid_request(format!("query: {}", e.body_text())))
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
    fn ids_must_be_uuids() {
        let err = parse_id("nope").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(parse_id(&Uuid::from_u128(7).to_string()).is_ok());
    }

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
