//! RFC 9457 problem details (`application/problem+json`) for every [`Error`].
//!
//! Each [`ErrorKind`] has one status ([`status_for`]) and a stable problem type
//! `urn:spv:problem:<code>`, so clients (and `spv-client`) map a problem back to the same
//! kind. Internal errors reach clients as a fixed text; their detail is logged once, here,
//! inside the request's span.
//!
//! | kind | status |
//! |---|---|
//! | `invalid-document`, `invalid-request`, `unsupported-version` | 400 |
//! | `limit-exceeded` | 400 (a request body over the server's body limit is 413) |
//! | `missing-asset`, `invalid-asset` | 422: the document is well-formed but cannot be drawn |
//! | `unauthenticated` | 401 with `WWW-Authenticate: Bearer` |
//! | `forbidden` | 403 |
//! | `invalid-signature` | 403 (a signed URL that does not match, or has expired) |
//! | `not-found` | 404 |
//! | `conflict` | 409 |
//! | `precondition-failed` | 412 |
//! | `overloaded` | 503 with `Retry-After` |
//! | `unavailable` | 503 with `Retry-After`: the database, the blob store or Redis cannot do its part now (gone, read-only, full); the cause is logged, the client reads a fixed text |
//! | `rate-limited` | 429 with `Retry-After`, `RateLimit-Policy` and `RateLimit` |
//! | `render-timeout` | 504: the renderer gave up on this document |
//! | `io`, `internal` | 500 |
//!
//! ```
//! use axum::http::StatusCode;
//! use spv::ErrorKind;
//! use spv::http::status_for;
//!
//! assert_eq!(status_for(ErrorKind::InvalidDocument), StatusCode::BAD_REQUEST);
//! assert_eq!(status_for(ErrorKind::Overloaded), StatusCode::SERVICE_UNAVAILABLE);
//! ```

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::{Error, ErrorKind};

/// The media type of problem details.
pub(crate) const PROBLEM_JSON: &str = "application/problem+json";

/// What `Retry-After` says on a 503, in seconds.
pub(crate) const RETRY_AFTER_SECS: u32 = 1;

/// The text internal errors show to clients.
pub(crate) const INTERNAL_DETAIL: &str = "an internal error occurred; it has been logged";

/// An RFC 9457 problem details object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct Problem {
    /// `urn:spv:problem:<code>`, one per error kind.
    #[serde(rename = "type")]
    pub type_: String,
    /// A short summary of the kind.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request (for document errors, starting with the JSON path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The path of the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The kind's code (the last part of `type`).
    pub code: String,
}

/// The HTTP status of an error kind (the table is in the `spv::http` module docs).
pub fn status_for(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidDocument
        | ErrorKind::InvalidRequest
        | ErrorKind::UnsupportedVersion
        | ErrorKind::LimitExceeded => StatusCode::BAD_REQUEST,
        ErrorKind::MissingAsset | ErrorKind::InvalidAsset => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::Forbidden | ErrorKind::InvalidSignature => StatusCode::FORBIDDEN,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorKind::Overloaded | ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::RenderTimeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn title_for(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::InvalidDocument => "Invalid document",
        ErrorKind::UnsupportedVersion => "Unsupported document version",
        ErrorKind::LimitExceeded => "Limit exceeded",
        ErrorKind::MissingAsset => "Missing asset",
        ErrorKind::InvalidAsset => "Invalid asset",
        ErrorKind::InvalidRequest => "Invalid request",
        ErrorKind::RenderTimeout => "Render timed out",
        ErrorKind::Overloaded => "Server overloaded",
        ErrorKind::RateLimited => "Too many requests",
        ErrorKind::NotFound => "Not found",
        ErrorKind::Unauthenticated => "Unauthenticated",
        ErrorKind::Forbidden => "Forbidden",
        ErrorKind::InvalidSignature => "Invalid signed URL",
        ErrorKind::Conflict => "Conflict",
        ErrorKind::PreconditionFailed => "Precondition failed",
        ErrorKind::Unavailable => "Service unavailable",
        _ => "Internal error",
    }
}

/// An [`Error`] on its way to becoming a problem+json response.
///
/// Handlers return `Result<_, ApiError>`; `?` converts any [`Error`].
#[derive(Debug)]
pub struct ApiError {
    error: Error,
    status: StatusCode,
}

impl ApiError {
    /// The error with the status of its kind.
    pub fn new(error: Error) -> Self {
        let status = status_for(error.kind());
        ApiError { error, status }
    }

    /// The error with an explicit status (e.g. 413 for a body over the limit).
    pub fn with_status(error: Error, status: StatusCode) -> Self {
        ApiError { error, status }
    }

    /// The error.
    pub fn error(&self) -> &Error {
        &self.error
    }

    /// The problem details of this error (without `instance`).
    pub fn problem(&self) -> Problem {
        let kind = self.error.kind();
        let internal = self.status.is_server_error()
            && !matches!(
                kind,
                ErrorKind::Overloaded | ErrorKind::RenderTimeout | ErrorKind::Unavailable
            );
        Problem {
            type_: format!("urn:spv:problem:{}", kind.code()),
            title: title_for(kind).to_owned(),
            status: self.status.as_u16(),
            detail: Some(if internal {
                INTERNAL_DETAIL.to_owned()
            } else {
                self.error.to_string()
            }),
            instance: None,
            code: kind.code().to_owned(),
        }
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> Self {
        ApiError::new(error)
    }
}

/// A problem the JSON middleware completes with `instance` (and `?pretty`).
#[derive(Clone, Debug)]
pub(crate) struct PendingProblem(pub(crate) Problem);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.problem();
        if problem.detail.as_deref() == Some(INTERNAL_DETAIL) {
            tracing::error!(error = %self.error, source = ?std::error::Error::source(&self.error), "internal error");
        } else if self.error.kind() == ErrorKind::Unavailable {
            tracing::warn!(error = %self.error, source = ?std::error::Error::source(&self.error), "a service the request needs is unavailable");
        } else {
            tracing::debug!(error = %self.error, status = self.status.as_u16(), "request failed");
        }
        let mut response = problem_response(&problem, false);
        let headers = response.headers_mut();
        match self.error.kind() {
            ErrorKind::Overloaded | ErrorKind::Unavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
            }
            ErrorKind::RateLimited => {
                #[cfg(feature = "store")]
                if let Some(refusal) = crate::ratelimit::Refusal::of(&self.error) {
                    super::ratelimit::set_headers(headers, refusal);
                }
            }
            ErrorKind::Unauthenticated => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"spv\""),
                );
            }
            _ => {}
        }
        // Every 503 says when to come back (a render or request timeout too, not only a
        // full pool), as the OpenAPI document promises.
        if self.status == StatusCode::SERVICE_UNAVAILABLE
            && !headers.contains_key(header::RETRY_AFTER)
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response.extensions_mut().insert(PendingProblem(problem));
        response
    }
}

/// A problem+json response of `problem` (status from the problem).
pub(crate) fn problem_response(problem: &Problem, pretty: bool) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = if pretty {
        serde_json::to_vec_pretty(problem)
    } else {
        serde_json::to_vec(problem)
    };
    let body = body.unwrap_or_else(|_| b"{}".to_vec());
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_a_status_and_a_type() {
        let cases = [
            (ErrorKind::InvalidDocument, 400),
            (ErrorKind::InvalidRequest, 400),
            (ErrorKind::UnsupportedVersion, 400),
            (ErrorKind::LimitExceeded, 400),
            (ErrorKind::MissingAsset, 422),
            (ErrorKind::InvalidAsset, 422),
            (ErrorKind::Unauthenticated, 401),
            (ErrorKind::Forbidden, 403),
            (ErrorKind::InvalidSignature, 403),
            (ErrorKind::NotFound, 404),
            (ErrorKind::Conflict, 409),
            (ErrorKind::PreconditionFailed, 412),
            (ErrorKind::Overloaded, 503),
            (ErrorKind::Unavailable, 503),
            (ErrorKind::RenderTimeout, 504),
            (ErrorKind::Io, 500),
            (ErrorKind::Internal, 500),
        ];
        for (kind, status) in cases {
            assert_eq!(status_for(kind).as_u16(), status, "{kind}");
            let problem = ApiError::new(Error::new(kind, "x")).problem();
            assert_eq!(problem.type_, format!("urn:spv:problem:{}", kind.code()));
            assert_eq!(problem.status, status);
        }
    }

    #[test]
    fn internal_details_are_hidden_and_document_paths_shown() {
        let problem = ApiError::new(Error::internal("db password wrong at host x")).problem();
        assert_eq!(problem.detail.as_deref(), Some(INTERNAL_DETAIL));
        let problem = ApiError::new(Error::invalid_document("pages[0].width", "bad")).problem();
        assert_eq!(problem.detail.as_deref(), Some("pages[0].width: bad"));
        assert_eq!(problem.title, "Invalid document");
    }

    #[test]
    fn headers_for_overloaded_and_unauthenticated() {
        let response = ApiError::new(Error::new(ErrorKind::Overloaded, "busy")).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert_eq!(response.headers()[header::CONTENT_TYPE], PROBLEM_JSON);
        let response =
            ApiError::new(Error::new(ErrorKind::Unavailable, "database gone")).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        let response = ApiError::new(Error::new(ErrorKind::Unauthenticated, "no")).into_response();
        assert!(
            response.headers()[header::WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
    }
}
