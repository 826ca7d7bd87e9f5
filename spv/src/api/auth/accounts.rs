//! Users and API keys: requests and responses.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

#[cfg(feature = "http")]
use super::Scope;
use super::{Principal, Scopes, Secret};

/// `POST /api/v1/users` (admin only): a new user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateUser {
    /// The caller, filled in by the HTTP layer (never read from the body).
    #[serde(skip)]
    #[cfg_attr(feature = "http", schema(ignore))]
    pub principal: Principal,
    /// The login name: 1 to 64 characters, no whitespace.
    pub username: String,
    /// At least 8 characters.
    #[cfg_attr(feature = "http", schema(value_type = String))]
    pub password: Secret,
    /// Whether the new user is an administrator.
    #[serde(default)]
    pub is_admin: bool,
}

/// A user as the API shows it (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user's id.
    pub id: Uuid,
    /// The login name.
    pub username: String,
    /// Whether the user is an administrator.
    pub is_admin: bool,
    /// When the user was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// `GET /api/v1/users/me`: the caller's own user.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GetMe {
    /// The caller.
    pub principal: Principal,
}

/// `POST /api/v1/api-keys`: a new API key for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreateApiKey {
    /// The caller, filled in by the HTTP layer (never read from the body).
    #[serde(skip)]
    #[cfg_attr(feature = "http", schema(ignore))]
    pub principal: Principal,
    /// A name to recognise the key by.
    pub name: String,
    /// What the key may do: a subset of the caller's scopes.
    #[cfg_attr(feature = "http", schema(value_type = Vec<Scope>))]
    pub scopes: Scopes,
    /// When the key stops working; never when absent.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// An API key as listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ApiKey {
    /// The key's id.
    pub id: Uuid,
    /// The user the key acts as.
    pub user_id: Uuid,
    /// Its name.
    pub name: String,
    /// What it may do.
    #[cfg_attr(feature = "http", schema(value_type = Vec<Scope>))]
    pub scopes: Scopes,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last used, if ever.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// When it expires, if ever.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// Whether it was revoked.
    pub revoked: bool,
}

/// The answer to [`CreateApiKey`]: the only time the secret `key` is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    /// The key's id.
    pub id: Uuid,
    /// Its name.
    pub name: String,
    /// What it may do.
    #[cfg_attr(feature = "http", schema(value_type = Vec<Scope>))]
    pub scopes: Scopes,
    /// The secret, `spv_` and 43 base64url characters.
    #[cfg_attr(feature = "http", schema(value_type = String))]
    pub key: Secret,
    /// The first characters of the key, as [`ApiKey::prefix`] shows them.
    pub prefix: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it expires, if ever.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// `GET /api/v1/api-keys`: the caller's keys (an admin's: everyone's).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListApiKeys {
    /// The caller.
    pub principal: Principal,
}

/// `DELETE /api/v1/api-keys/{id}`: revokes a key of the caller (an admin: any key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevokeApiKey {
    /// The caller.
    pub principal: Principal,
    /// The key to revoke.
    pub id: Uuid,
}
