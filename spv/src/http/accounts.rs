//! The auth routes: the OAuth 2.0 token endpoint, users and API keys.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Form, Json};
use serde::de::DeserializeOwned;
use tower::ServiceExt;
use uuid::Uuid;

use super::auth::Authenticated;
use super::body::BodyLimit;
use super::json::FinishJsonLayer;
use super::prefix::MountPrefix;
use super::problem::ApiError;
use super::responses::{BadRequest, Conflict, Forbidden, NotFound, Unauthorized};
use super::state::AppState;
use crate::api::{
    CreateApiKey, CreateUser, GetMe, GrantType, ListApiKeys, RevokeApiKey, Scope, TokenRequest,
};
use crate::auth::Auth;
use crate::ratelimit::{Group, Subject};
use crate::{Error, ErrorKind};

/// `POST /api/v1/auth/token`, `POST /api/v1/users`, `GET /api/v1/users/me`,
/// `POST`/`GET /api/v1/api-keys` and `DELETE /api/v1/api-keys/{id}`.
pub fn auth_router(state: AppState) -> Router {
    auth_routes().layer(FinishJsonLayer).with_state(state)
}

/// The routes of [`auth_router`] without its layers, for [`super::api`], which
/// applies them once around every route.
pub(crate) fn auth_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/token", post(token))
        .route("/api/v1/users", post(create_user))
        .route("/api/v1/users/me", get(me))
        .route("/api/v1/api-keys", post(create_api_key).get(list_api_keys))
        .route("/api/v1/api-keys/{id}", delete(revoke_api_key))
}

fn service(state: &AppState) -> Result<Auth, ApiError> {
    Ok(state.auth().cloned().ok_or_else(super::auth::no_auth)?)
}

/// A rejected JSON or form body. The limit's size is not named: [`auth_router`] may be
/// served without the server's limit.
fn rejection(status: StatusCode, text: &str) -> ApiError {
    BodyLimit::server_unsized().reject_with(status, "request body", text)
}

fn json_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError::new(Error::invalid_request(format!("request body: {e}"))))
}

fn created(prefix: &MountPrefix, location: &str, body: impl serde::Serialize) -> Response {
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    prefix.set_location(&mut response, location);
    response
}

/// Exchanges a password, an API key or a refresh token for an access token.
///
/// Errors: 400 for a malformed request; 401 when the password, API key or refresh token
/// is not valid (see `WWW-Authenticate`); 429 past the `auth` rate limit, by client
/// address and, for password grants, by user name.
#[utoipa::path(post, path = "/api/v1/auth/token", tag = "auth",
    request_body(content(
        (TokenRequest = "application/json"),
        (TokenRequest = "application/x-www-form-urlencoded"))),
    responses(
        (status = 200, description = "The tokens", body = crate::api::TokenResponse),
        BadRequest, Unauthorized),
    security(()))]
pub(crate) async fn token(
    State(state): State<AppState>,
    request: Request,
) -> Result<Response, ApiError> {
    let auth = service(&state)?;
    // Every grant counts in `auth` by client IP, before anything is looked at.
    let client = super::ratelimit::client_ip(request.headers(), request.extensions(), &state);
    super::ratelimit::check(&state, Group::Auth, &Subject::ip(client)).await?;
    let is_form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| {
            ct.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    let grant: TokenRequest = if is_form {
        Form::<TokenRequest>::from_request(request, &())
            .await
            .map_err(|e| rejection(e.status(), &e.body_text()))?
            .0
    } else {
        let body = Bytes::from_request(request, &())
            .await
            .map_err(|e| rejection(e.status(), &e.body_text()))?;
        json_body(&body)?
    };
    // A password grant also counts by user name: guesses at one account spread over
    // many addresses meet one limit.
    if grant.grant_type == GrantType::Password
        && let Some(username) = &grant.username
    {
        super::ratelimit::check(&state, Group::Auth, &Subject::name(username)).await?;
    }
    let tokens = auth.oneshot(grant).await?;
    let mut response = Json(tokens).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    Ok(response)
}

/// The caller's own user.
#[utoipa::path(get, path = "/api/v1/users/me", tag = "auth",
    responses(
        (status = 200, description = "The caller", body = crate::api::User),
        Unauthorized),
    security(("bearer" = []), ("apiKey" = [])))]
pub(crate) async fn me(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let user = service(&state)?.oneshot(GetMe { principal }).await?;
    Ok(Json(user).into_response())
}

/// Creates a user (administrators only).
///
/// Errors: 400 for a bad username or password; 403 when the caller is not an
/// administrator; 409 when the username is taken.
#[utoipa::path(post, path = "/api/v1/users", tag = "auth",
    request_body = CreateUser,
    responses(
        (status = 201, description = "The user; `Location` names it", body = crate::api::User),
        BadRequest, Unauthorized, Forbidden, Conflict),
    security(("bearer" = ["admin"]), ("apiKey" = ["admin"])))]
pub(crate) async fn create_user(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    prefix: MountPrefix,
    body: Bytes,
) -> Result<Response, ApiError> {
    // The scope first: a caller without it learns nothing about the body's shape.
    principal.require(Scope::Admin)?;
    let mut request: CreateUser = json_body(&body)?;
    request.principal = principal;
    let user = service(&state)?.oneshot(request).await?;
    Ok(created(
        &prefix,
        &format!("/api/v1/users/{}", user.id),
        user,
    ))
}

/// Creates an API key for the caller; the answer is the only time `key` is shown.
///
/// Errors: 400 for a bad name, scope or expiry; 403 when it asks for scopes the caller
/// lacks.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "auth",
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "The key with its secret; `Location` names it",
            body = crate::api::CreatedApiKey),
        BadRequest, Unauthorized, Forbidden),
    security(("bearer" = []), ("apiKey" = [])))]
pub(crate) async fn create_api_key(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    prefix: MountPrefix,
    body: Bytes,
) -> Result<Response, ApiError> {
    let mut request: CreateApiKey = json_body(&body)?;
    request.principal = principal;
    let key = service(&state)?.oneshot(request).await?;
    let mut response = created(&prefix, &format!("/api/v1/api-keys/{}", key.id), key);
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// The caller's API keys (an administrator's: everyone's), never their secrets.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "auth",
    responses(
        (status = 200, description = "The keys", body = Vec<crate::api::ApiKey>),
        Unauthorized),
    security(("bearer" = []), ("apiKey" = [])))]
pub(crate) async fn list_api_keys(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
) -> Result<Response, ApiError> {
    let keys = service(&state)?.oneshot(ListApiKeys { principal }).await?;
    Ok(Json(keys).into_response())
}

/// Revokes an API key of the caller (an administrator: any key).
///
/// Errors: 404 when the caller has no such key.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "auth",
    params(("id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        Unauthorized, NotFound),
    security(("bearer" = []), ("apiKey" = [])))]
pub(crate) async fn revoke_api_key(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = Uuid::parse_str(&id).map_err(|_| {
        Error::new(
            ErrorKind::NotFound,
            format!("api key {id:?} not found: expected a UUID"),
        )
    })?;
    service(&state)?
        .oneshot(RevokeApiKey { principal, id })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
