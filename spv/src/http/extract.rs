//! What the handlers read from a request, written once: the optional caller, ids in
//! paths, the services a server may lack (bodies: [`super::body::BodyLimit`]).
//!
//! | item | what it is |
//! |---|---|
//! | `Option<Authenticated>` | the caller of a route anonymous callers may use: `None` without a credential; a credential sent must be valid (401) |
//! | [`caller_with`] | that caller's principal, when it holds one of the route's scopes (403) |
//! | [`parse_id`] | an id in a path: a UUID, else 404 naming the resource |
//! | [`query`] | a query string, else 400 |
//! | [`configured`] | a service this server may not have: 404 without it |

use axum::extract::rejection::QueryRejection;
use axum::extract::{OptionalFromRequestParts, Query};
use axum::http::header;
use axum::http::request::Parts;
use uuid::Uuid;

use super::auth::Authenticated;
use super::problem::ApiError;
use super::state::AppState;
use crate::api::{Principal, Scope};
use crate::{Error, ErrorKind};

/// `Option<Authenticated>`: `None` when the request sends no credential at all (counted
/// in the `anonymous` rate limit group); a credential that is sent must be valid (401,
/// as [`Authenticated`]).
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
            super::ratelimit::anonymous(&parts.headers, &parts.extensions, state).await?;
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
}
