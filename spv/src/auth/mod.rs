//! Authentication: users, passwords, JWT access tokens, rotating refresh tokens and API
//! keys, behind one service.
//!
//! | item | what it is |
//! |---|---|
//! | [`Auth`] | the service: `tower::Service` for [`TokenRequest`](crate::api::TokenRequest), [`CreateUser`](crate::api::CreateUser), [`GetMe`](crate::api::GetMe), [`CreateApiKey`](crate::api::CreateApiKey), [`ListApiKeys`](crate::api::ListApiKeys), [`RevokeApiKey`](crate::api::RevokeApiKey); [`Auth::authenticate`] turns a bearer token or API key into a [`Principal`](crate::api::Principal); [`Auth::bootstrap_admin`] creates the first admin |
//! | [`AuthConfig`] | issuer, token lifetimes, hashing concurrency |
//! | [`JwtSecret`] | the HS256 key: configured, or generated once into `<data_dir>/jwt_secret` (0600) |
//! | [`API_KEY_PREFIX`] | `spv_`, how API keys are told apart from JWTs |
//!
//! Inside: `password` (argon2id on `spawn_blocking` under a semaphore), `jwt` (HS256,
//! `iss`/`aud`/`exp`/`nbf` checked with 30 s leeway), `keys` and `users` (tables),
//! `refresh` (rotation and reuse detection). Secrets are stored only as SHA-256 hex
//! (keys, refresh tokens) or argon2id (passwords) and never printed by `Debug`.
//!
//! ```
//! use spv::api::{GetMe, TokenRequest};
//! use spv::auth::{Auth, AuthConfig, JwtSecret};
//! use spv::store::Db;
//! use tower::ServiceExt;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let db = Db::open(None, dir.path()).await.unwrap();
//!     let secret = JwtSecret::load_or_create(dir.path()).unwrap();
//!     let auth = Auth::new(db, &secret, AuthConfig::default());
//!     let printed = auth.bootstrap_admin("admin", None).await.unwrap().unwrap();
//!     let tokens = auth.clone()
//!         .oneshot(TokenRequest::password("admin", printed.clone())).await.unwrap();
//!     assert_eq!(tokens.token_type, "Bearer");
//!     let principal = auth.authenticate(tokens.access_token.expose()).await.unwrap();
//!     assert!(principal.is_admin);
//!     let me = auth.oneshot(GetMe { principal }).await.unwrap();
//!     assert_eq!(me.username, "admin");
//! });
//! ```

mod jwt;
mod keys;
mod password;
mod refresh;
mod secrets;
mod service;
#[cfg(test)]
mod tests;
mod users;

pub use keys::API_KEY_PREFIX;
pub(crate) use refresh::prune as prune_refresh_tokens;
pub use secrets::{JWT_SECRET_FILE, JwtSecret, MIN_SECRET_LEN};
pub use service::{Auth, AuthConfig};
#[cfg(test)]
pub(crate) use users::validate as validate_user;
