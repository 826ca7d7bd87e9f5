//! What the handlers read from a request, written once: the optional caller, ids in
//! paths, the services a server may lack, and what a failed body read means.
//!
//! | item | what it is |
//! |---|---|
//! | `Option<Authenticated>` | the caller of a route anonymous callers may use: `None` without a credential; a credential sent must be valid (401) |
//! | [`caller_with`] | that caller's principal, when it holds one of the route's scopes (403) |
//! | [`parse_id`] | an id in a path: a UUID, else 404 naming the resource |
//! | [`query`] | a query string, else 400 |
//! | [`configured`] | a service this server may not have: 404 without it |
//! | [`BodyLimit`] | a request body over its limit is 413, one that cannot be read 400 |

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{OptionalFromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use uuid::Uuid;

use super::auth::Authenticated;
use super::problem::ApiError;
use super::state::AppState;
use crate::api::{Principal, Scope};
use crate::{Error, ErrorKind};

/// `Option<Authenticated>`: `None` when the request sends no credential at all; a
/// credential that is sent must be valid (401, as [`Authenticated`]).
impl OptionalFromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, ApiError> {
        let sent = parts.headers.contains_key(header::AUTHORIZATION)
            || parts
                .headers
                .contains_key(state.config().api_key_header.as_str());
        if !sent {
            return Ok(None);
        }
        let authenticated =
            <Authenticated as axum::extract::FromRequestParts<AppState>>::from_request_parts(
                parts, state,
            )
            .await?;
        Ok(Some(authenticated))
    }
}

/// The principal of an optional caller: `None` for an anonymous one; a caller with a
/// credential must hold one of `scopes` (403 naming them).
pub(crate) fn caller_with(
    caller: Option<Authenticated>,
    scopes: &[Scope],
) -> Result<Option<Principal>, Error> {
    let Some(Authenticated(principal)) = caller else {
        return Ok(None);
    };
    if !scopes.iter().any(|scope| principal.scopes.contains(*scope)) {
        let names: Vec<String> = scopes
            .iter()
            .map(|s| format!("\"{}\"", s.as_str()))
            .collect();
        return Err(Error::new(
            ErrorKind::Forbidden,
            format!("the credential lacks the scope {}", names.join(" or ")),
        ));
    }
    Ok(Some(principal))
}

/// The id in a path: a UUID, or 404 naming `what` (`"job"`) and the id, since no such
/// resource can exist.
pub(crate) fn parse_id(what: &str, id: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(id).map_err(|_| {
        Error::new(
            ErrorKind::NotFound,
            format!("{what} {id:?} not found: expected a UUID"),
        )
    })
}

/// A query string, or 400 with axum's text.
pub(crate) fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Error> {
    query
        .map(|Query(q)| q)
        .map_err(|e| Error::invalid_request(format!("query: {}", e.body_text())))
}

/// A service this server may lack (`state.jobs()`): a clone of it, or 404 naming `what`
/// (`"job queue"`).
pub(crate) fn configured<T: Clone>(service: Option<&T>, what: &str) -> Result<T, ApiError> {
    service.cloned().ok_or_else(|| {
        ApiError::new(Error::new(
            ErrorKind::NotFound,
            format!("this server has no {what} configured"),
        ))
    })
}

/// A limit on request bodies, for what a body over it or a failed read answers: 413
/// (`limit-exceeded`) naming the limit and what sets it, or 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BodyLimit {
    bytes: Option<usize>,
    set_by: &'static str,
}

impl BodyLimit {
    /// The server's limit of `bytes` (`SPV_BODY_LIMIT_BYTES`).
    pub(crate) const fn server(bytes: usize) -> Self {
        BodyLimit {
            bytes: Some(bytes),
            set_by: "(SPV_BODY_LIMIT_BYTES)",
        }
    }

    /// The server's limit where its size is not known here (a router may be served
    /// without the server's limit, under axum's default).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_must_be_uuids() {
        let err = parse_id("document", "nope").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "document \"nope\" not found: expected a UUID"
        );
        assert!(parse_id("job", &Uuid::from_u128(7).to_string()).is_ok());
    }

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
