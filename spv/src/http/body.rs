//! [`BodyLimit`]: what a request body over its limit (413) or one that cannot be read
//! (400) answers, for every route that reads a body, with or without the `store` feature.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;

use super::problem::ApiError;
use crate::{Error, ErrorKind};

/// A limit on request bodies, for what a body over it or a failed read answers: 413
/// (`limit-exceeded`) naming the limit and what sets it, or 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimit {
    bytes: Option<usize>,
    set_by: &'static str,
}

impl BodyLimit {
    /// The server's limit of `bytes` (`SPV_BODY_LIMIT_BYTES`).
    #[cfg(feature = "store")]
    pub(crate) const fn server(bytes: usize) -> Self {
        BodyLimit {
            bytes: Some(bytes),
            set_by: "(SPV_BODY_LIMIT_BYTES)",
        }
    }

    /// The server's limit where its size is not known here (a router may be served
    /// without the server's limit, under axum's default).
    #[cfg(feature = "store")]
    pub(crate) const fn server_unsized() -> Self {
        BodyLimit {
            bytes: None,
            set_by: "(SPV_BODY_LIMIT_BYTES)",
        }
    }

    /// A limit of `bytes` of its own; `set_by` ends the message (`"of a job spec"`).
    pub(crate) const fn new(bytes: usize, set_by: &'static str) -> Self {
        BodyLimit {
            bytes: Some(bytes),
            set_by,
        }
    }

    /// A body over the limit: 413.
    pub(crate) fn exceeded(&self) -> ApiError {
        let message = match self.bytes {
            Some(bytes) => format!(
                "request body is larger than the limit of {bytes} bytes {}",
                self.set_by
            ),
            None => format!("request body is larger than the limit {}", self.set_by),
        };
        ApiError::with_status(
            Error::new(ErrorKind::LimitExceeded, message),
            StatusCode::PAYLOAD_TOO_LARGE,
        )
    }

    /// What a body rejection answers: 413 past the limit, else 400 with axum's text.
    pub(crate) fn reject(&self, rejection: &BytesRejection) -> ApiError {
        self.reject_with(
            rejection.status(),
            "request body could not be read",
            &rejection.body_text(),
        )
    }

    /// What any rejection of a body (JSON, form, multipart) answers: 413 past the limit,
    /// else 400 saying `context: text`.
    pub(crate) fn reject_with(&self, status: StatusCode, context: &str, text: &str) -> ApiError {
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            self.exceeded()
        } else {
            ApiError::new(Error::invalid_request(format!("{context}: {text}")))
        }
    }

    /// The body's bytes, or what its rejection answers.
    pub(crate) fn read(&self, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
        body.map_err(|rejection| self.reject(&rejection))
    }
}

#[cfg(all(test, feature = "store"))]
mod tests {
    use super::*;

    #[test]
    fn limits_name_their_size_and_setting() {
        let detail = |e: ApiError| e.problem().detail.unwrap_or_default();
        assert_eq!(
            detail(BodyLimit::server(10).exceeded()),
            "request body is larger than the limit of 10 bytes (SPV_BODY_LIMIT_BYTES)"
        );
        assert_eq!(
            detail(BodyLimit::server_unsized().exceeded()),
            "request body is larger than the limit (SPV_BODY_LIMIT_BYTES)"
        );
        assert_eq!(
            detail(BodyLimit::new(64, "of a job spec").exceeded()),
            "request body is larger than the limit of 64 bytes of a job spec"
        );
        let bad = BodyLimit::server(10).reject_with(StatusCode::BAD_REQUEST, "request body", "x");
        assert_eq!(detail(bad), "request body: x");
    }
}
