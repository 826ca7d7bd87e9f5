//! Auth requests and responses: the caller ([`Principal`]), scopes, the OAuth 2.0 token
//! grant, users and API keys.
//!
//! Secrets travel in [`Secret`], whose `Debug` never shows them.
//!
//! ```
//! use spv::api::{Scope, Scopes};
//!
//! let scopes: Scopes = "documents:read thumbnails:read".parse().unwrap();
//! assert!(scopes.contains(Scope::DocumentsRead));
//! assert!(!scopes.contains(Scope::DocumentsWrite));
//! assert!(Scopes::from(Scope::Admin).contains(Scope::JobsWrite));
//! assert_eq!(scopes.to_string(), "documents:read thumbnails:read");
//! ```

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

mod accounts;

pub use accounts::*;

/// A secret string (password, token, API key) whose `Debug` prints `[redacted]`.
///
/// It serializes as the plain string, because responses must carry it once.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself; do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s)
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.to_owned())
    }
}

/// One permission a credential can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub enum Scope {
    /// Read documents.
    #[serde(rename = "documents:read")]
    DocumentsRead,
    /// Create, change and delete documents.
    #[serde(rename = "documents:write")]
    DocumentsWrite,
    /// Read assets.
    #[serde(rename = "assets:read")]
    AssetsRead,
    /// Upload and delete assets.
    #[serde(rename = "assets:write")]
    AssetsWrite,
    /// Render and read thumbnails.
    #[serde(rename = "thumbnails:read")]
    ThumbnailsRead,
    /// Read jobs.
    #[serde(rename = "jobs:read")]
    JobsRead,
    /// Create and cancel jobs.
    #[serde(rename = "jobs:write")]
    JobsWrite,
    /// Read the public gallery.
    #[serde(rename = "gallery:read")]
    GalleryRead,
    /// Everything, including user management; implies every other scope.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    /// Every scope, in a stable order.
    pub const ALL: [Scope; 9] = [
        Scope::DocumentsRead,
        Scope::DocumentsWrite,
        Scope::AssetsRead,
        Scope::AssetsWrite,
        Scope::ThumbnailsRead,
        Scope::JobsRead,
        Scope::JobsWrite,
        Scope::GalleryRead,
        Scope::Admin,
    ];

    /// The wire name, e.g. `documents:read`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::DocumentsRead => "documents:read",
            Scope::DocumentsWrite => "documents:write",
            Scope::AssetsRead => "assets:read",
            Scope::AssetsWrite => "assets:write",
            Scope::ThumbnailsRead => "thumbnails:read",
            Scope::JobsRead => "jobs:read",
            Scope::JobsWrite => "jobs:write",
            Scope::GalleryRead => "gallery:read",
            Scope::Admin => "admin",
        }
    }

    /// Parses a wire name; `None` when it is not a scope.
    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`Scope`]s; [`Scope::Admin`] implies all the others.
///
/// Serializes as a list of scope names; parses from and displays as a space-separated
/// string (the OAuth 2.0 `scope` form).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Scopes(u16);

impl Scopes {
    /// No scope at all.
    pub const fn empty() -> Self {
        Scopes(0)
    }

    /// Every scope, admin included.
    pub fn all() -> Self {
        Scope::ALL.into_iter().collect()
    }

    /// Whether `scope` is granted (directly, or through [`Scope::Admin`]).
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & (scope.bit() | Scope::Admin.bit()) != 0
    }

    /// Whether this set is granted explicitly only what `other` grants.
    pub fn is_subset_of(self, other: Scopes) -> bool {
        other.contains(Scope::Admin) || self.0 & !other.0 == 0
    }

    /// Whether no scope is set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Adds a scope.
    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    /// The scopes set explicitly, in [`Scope::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL
            .into_iter()
            .filter(move |scope| self.0 & scope.bit() != 0)
    }
}

impl From<Scope> for Scopes {
    fn from(scope: Scope) -> Self {
        Scopes(scope.bit())
    }
}

impl FromIterator<Scope> for Scopes {
    fn from_iter<I: IntoIterator<Item = Scope>>(iter: I) -> Self {
        let mut scopes = Scopes::empty();
        for scope in iter {
            scopes.insert(scope);
        }
        scopes
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.iter()).finish()
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope.as_str())?;
        }
        Ok(())
    }
}

impl FromStr for Scopes {
    type Err = crate::Error;

    /// Parses space-separated scope names.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.split_whitespace()
            .map(|name| {
                Scope::parse(name).ok_or_else(|| {
                    crate::Error::invalid_request(format!(
                        "unknown scope {name:?}, expected one of {}",
                        Scopes::all()
                    ))
                })
            })
            .collect()
    }
}

impl Serialize for Scopes {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Scopes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Vec::<Scope>::deserialize(deserializer)?
            .into_iter()
            .collect())
    }
}

/// The authenticated caller of a request: a user, with the scopes of the credential used
/// (a password login gets every scope the user may have; an API key only its own).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Principal {
    /// The user's id.
    pub user_id: Uuid,
    /// The user's name.
    pub username: String,
    /// Whether the user is an administrator.
    pub is_admin: bool,
    /// What this credential may do.
    pub scopes: Scopes,
}

impl Principal {
    /// Whether this is the default, unauthenticated principal (nil id, no scopes), the
    /// value a request holds before the HTTP layer fills in the caller.
    pub fn is_anonymous(&self) -> bool {
        self.user_id.is_nil()
    }

    /// `Ok` when the caller holds `scope`, else an [`crate::ErrorKind::Forbidden`] error
    /// naming it (or [`crate::ErrorKind::Unauthenticated`] for the anonymous principal).
    ///
    /// ```
    /// use spv::api::{Principal, Scope};
    /// let p = Principal { user_id: uuid::Uuid::from_u128(1), username: "ann".into(),
    ///     is_admin: false, scopes: Scope::DocumentsRead.into() };
    /// assert!(p.require(Scope::DocumentsRead).is_ok());
    /// let err = p.require(Scope::DocumentsWrite).unwrap_err();
    /// assert_eq!(err.kind(), spv::ErrorKind::Forbidden);
    /// assert!(err.to_string().contains("documents:write"));
    /// ```
    pub fn require(&self, scope: Scope) -> crate::Result<()> {
        if self.is_anonymous() {
            return Err(crate::Error::new(
                crate::ErrorKind::Unauthenticated,
                "authentication required: no credential was given",
            ));
        }
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(crate::Error::new(
                crate::ErrorKind::Forbidden,
                format!(
                    "the credential lacks the scope {scope:?}",
                    scope = scope.as_str()
                ),
            ))
        }
    }
}

/// The OAuth 2.0 `grant_type` of a [`TokenRequest`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// `username` and `password`.
    Password,
    /// `api_key`.
    ApiKey,
    /// `refresh_token`.
    RefreshToken,
}

/// `POST /api/v1/auth/token`: a JSON or form body, field names as in OAuth 2.0.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct TokenRequest {
    /// Which credential follows.
    pub grant_type: GrantType,
    /// For `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// For `password`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>))]
    pub password: Option<Secret>,
    /// For `api_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>))]
    pub api_key: Option<Secret>,
    /// For `refresh_token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>))]
    pub refresh_token: Option<Secret>,
}

impl TokenRequest {
    /// A `password` grant.
    pub fn password(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        TokenRequest {
            grant_type: GrantType::Password,
            username: Some(username.into()),
            password: Some(password.into()),
            api_key: None,
            refresh_token: None,
        }
    }

    /// An `api_key` grant.
    pub fn api_key(key: impl Into<Secret>) -> Self {
        TokenRequest {
            grant_type: GrantType::ApiKey,
            username: None,
            password: None,
            api_key: Some(key.into()),
            refresh_token: None,
        }
    }

    /// A `refresh_token` grant.
    pub fn refresh_token(token: impl Into<Secret>) -> Self {
        TokenRequest {
            grant_type: GrantType::RefreshToken,
            username: None,
            password: None,
            api_key: None,
            refresh_token: Some(token.into()),
        }
    }
}

/// The answer to a [`TokenRequest`], as OAuth 2.0 shapes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// The JWT access token.
    #[cfg_attr(feature = "http", schema(value_type = String))]
    pub access_token: Secret,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// A single-use token for the `refresh_token` grant.
    #[cfg_attr(feature = "http", schema(value_type = String))]
    pub refresh_token: Secret,
    /// The granted scopes, space-separated.
    pub scope: String,
}
