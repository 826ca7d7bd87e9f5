//! Authentication of requests: the [`Authenticated`] extractor.
//!
//! A credential comes as `Authorization: Bearer <token>` (a JWT access token or an API
//! key `spv_…`) or as an API key in the configured `API_KEY_HEADER` header (default
//! `x-api-key`); `Authorization` wins when both are sent. It is checked with
//! [`Auth::authenticate`](crate::auth::Auth::authenticate); a missing, malformed, unknown,
//! revoked or expired credential answers 401 problem+json with `WWW-Authenticate: Bearer`.
//! Handlers then check their scope with [`Principal::require`], which answers 403 naming
//! the scope:
//!
//! ```
//! use spv::api::Scope;
//! use spv::http::{ApiError, Authenticated};
//!
//! async fn handler(Authenticated(principal): Authenticated) -> Result<String, ApiError> {
//!     principal.require(Scope::ThumbnailsRead)?;
//!     Ok(principal.username)
//! }
//! # let _ = axum::Router::<spv::http::AppState>::new()
//! #     .route("/x", axum::routing::get(handler));
//! ```
//!
//! Routes that anonymous callers may use take `Option<Authenticated>`: `None` when the
//! request sends no credential at all, while a credential that is sent must be valid.
//!
//! Every credential check counts in a rate limit group (`super::ratelimit`): a valid
//! credential in `api`, a failed one in `auth`, none in `anonymous`.
//!
//! The credential itself is never logged.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};

use super::problem::ApiError;
use super::ratelimit;
use super::state::AppState;
use crate::api::Principal;
use crate::auth::API_KEY_PREFIX;
use crate::ratelimit::{Group, Subject};
use crate::{Error, ErrorKind};

/// The authenticated caller of a request; extracting it refuses the request with 401
/// when there is no valid credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated(pub Principal);

fn unauthenticated(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unauthenticated, message)
}

/// What a server without authentication answers any credential, and any route that
/// needs one: 401.
pub(crate) fn no_auth() -> Error {
    unauthenticated("this server has no authentication configured: no credential is accepted")
}

/// The credential of a request: the token of `Authorization: Bearer`, else the value of
/// the API-key header `api_key_header`.
pub(crate) fn credential<'a>(
    headers: &'a HeaderMap,
    api_key_header: &str,
) -> Result<&'a str, Error> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        // UTF-8 rather than `to_str`'s byte-by-byte check: a token that is not plain
        // ASCII is refused by the checks that follow anyway, and this runs per request.
        let value = std::str::from_utf8(value.as_bytes())
            .map_err(|_| unauthenticated("the Authorization header is not valid text"))?;
        let (scheme, token) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(unauthenticated(
                "the Authorization scheme is not supported: expected Bearer",
            ));
        }
        let token = token.trim();
        if token.is_empty() {
            return Err(unauthenticated(
                "the Authorization header has no token: expected `Bearer <token>`",
            ));
        }
        return Ok(token);
    }
    if let Some(value) = headers.get(api_key_header) {
        let key = value
            .to_str()
            .map_err(|_| unauthenticated(format!("the {api_key_header} header is not valid text")))?
            .trim();
        if !key.starts_with(API_KEY_PREFIX) {
            return Err(unauthenticated(format!(
                "the {api_key_header} header does not hold an api key: expected `{API_KEY_PREFIX}…`"
            )));
        }
        return Ok(key);
    }
    Err(unauthenticated(format!(
        "authentication required: send `Authorization: Bearer <token>` or the {api_key_header} header"
    )))
}

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    /// Counts the request in its rate limit group: `api` (by user) once the credential
    /// is valid; `auth` (by client IP) when it is not; `anonymous` when there is none.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let api_key_header = &state.config().api_key_header;
        let credential = match credential(&parts.headers, api_key_header) {
            Ok(credential) => credential,
            Err(error) => {
                let sent = parts.headers.contains_key(header::AUTHORIZATION)
                    || parts.headers.contains_key(api_key_header.as_str());
                if sent {
                    return Err(ratelimit::failed_credential(
                        &parts.headers,
                        &parts.extensions,
                        state,
                        error.into(),
                    )
                    .await);
                }
                ratelimit::anonymous(&parts.headers, &parts.extensions, state).await?;
                return Err(error.into());
            }
        };
        let auth = state.auth().ok_or_else(no_auth)?;
        match auth.authenticate(credential).await {
            Ok(principal) => {
                ratelimit::check(state, Group::Api, &Subject::user(principal.user_id)).await?;
                Ok(Authenticated(principal))
            }
            Err(error) if error.kind() == ErrorKind::Unauthenticated => {
                Err(ratelimit::failed_credential(
                    &parts.headers,
                    &parts.extensions,
                    state,
                    error.into(),
                )
                .await)
            }
            Err(error) => Err(error.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn bearer_and_api_key_header_are_read() {
        let h = headers(&[("authorization", "Bearer abc.def")]);
        assert_eq!(credential(&h, "x-api-key").unwrap(), "abc.def");
        let h = headers(&[("authorization", "bearer  spv_x ")]);
        assert_eq!(credential(&h, "x-api-key").unwrap(), "spv_x");
        let h = headers(&[("x-api-key", "spv_key")]);
        assert_eq!(credential(&h, "x-api-key").unwrap(), "spv_key");
        let h = headers(&[("x-custom", "spv_key")]);
        assert_eq!(credential(&h, "x-custom").unwrap(), "spv_key");
        let h = headers(&[("authorization", "Bearer jwt"), ("x-api-key", "spv_key")]);
        assert_eq!(
            credential(&h, "x-api-key").unwrap(),
            "jwt",
            "Authorization wins"
        );
    }

    #[test]
    fn missing_or_malformed_credentials_are_unauthenticated() {
        for h in [
            headers(&[]),
            headers(&[("authorization", "Basic YWRtaW46eA==")]),
            headers(&[("authorization", "Bearer ")]),
            headers(&[("x-api-key", "not-a-key")]),
        ] {
            let err = credential(&h, "x-api-key").unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
        }
        let err = credential(&headers(&[("x-api-key", "secret-value")]), "x-api-key").unwrap_err();
        assert!(
            !err.to_string().contains("secret-value"),
            "never echoes the credential"
        );
    }
}
