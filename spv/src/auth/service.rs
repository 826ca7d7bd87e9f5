//! The [`Auth`] service: token grants, users, API keys and credential checks.

use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::api::{
    ApiKey, CreateApiKey, CreateUser, CreatedApiKey, GetMe, GrantType, ListApiKeys, Principal,
    RevokeApiKey, Scope, Secret, TokenRequest, TokenResponse, User,
};
use crate::auth::jwt::{Jwt, unauthenticated};
use crate::auth::password::{Passwords, dummy_hash};
use crate::auth::refresh::{self, Grant};
use crate::auth::{JwtSecret, keys, users};
use crate::store::{Db, from_ms, now_ms, to_ms};
use crate::{Error, ErrorKind, Result};

/// Settings of [`Auth`].
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The `iss` of issued tokens, checked on the way back (`JWT_ISSUER`, default `spv`).
    pub issuer: String,
    /// How long an access token lives (default 15 minutes).
    pub access_ttl: Duration,
    /// How long a refresh token lives (default 30 days).
    pub refresh_ttl: Duration,
    /// How many password hashes may run at once (default 2).
    pub hash_permits: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            issuer: "spv".to_owned(),
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            hash_permits: 2,
        }
    }
}

/// The auth service: a cheap-to-clone `tower::Service` for [`TokenRequest`],
/// [`CreateUser`], [`GetMe`], [`CreateApiKey`], [`ListApiKeys`] and [`RevokeApiKey`].
#[derive(Debug, Clone)]
pub struct Auth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    jwt: Jwt,
    passwords: Passwords,
    refresh_ttl_ms: i64,
}

fn bad_credentials() -> Error {
    unauthenticated("invalid username or password")
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn require_caller(principal: &Principal) -> Result<()> {
    if principal.is_anonymous() {
        Err(unauthenticated(
            "authentication required: no credential was given",
        ))
    } else {
        Ok(())
    }
}

impl Auth {
    /// The service over `db`, signing with `secret`.
    pub fn new(db: Db, secret: &JwtSecret, config: AuthConfig) -> Auth {
        Auth {
            inner: Arc::new(Inner {
                db,
                jwt: Jwt::new(secret, &config.issuer, config.access_ttl),
                passwords: Passwords::new(config.hash_permits),
                refresh_ttl_ms: ms(config.refresh_ttl),
            }),
        }
    }

    /// Creates the first admin when there is no user at all. Returns the password when it
    /// was generated (print it once); `None` when users exist or `password` was given.
    pub async fn bootstrap_admin(
        &self,
        username: &str,
        password: Option<Secret>,
    ) -> Result<Option<Secret>> {
        if users::count(&self.inner.db).await? > 0 {
            return Ok(None);
        }
        let (password, generated) = match password {
            Some(password) => (password, false),
            None => (Secret::new(keys::random_token()), true),
        };
        match self.insert_user(username, &password, true).await {
            Ok(_) => Ok(generated.then_some(password)),
            // Another process bootstrapped at the same moment.
            Err(e) if e.kind() == ErrorKind::Conflict => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The caller behind a credential: a JWT access token, or an API key (`spv_…`).
    pub async fn authenticate(&self, credential: &str) -> Result<Principal> {
        let credential = credential.trim();
        if !keys::is_api_key(credential) {
            return self.inner.jwt.verify(credential);
        }
        let invalid = || unauthenticated("the api key is not valid");
        let now = now_ms();
        let row = keys::find_by_secret(&self.inner.db, credential)
            .await?
            .ok_or_else(invalid)?;
        if row.revoked {
            return Err(unauthenticated("the api key was revoked"));
        }
        if row.expires_ms.is_some_and(|at| at <= now) {
            return Err(unauthenticated("the api key has expired"));
        }
        // Skip the write (and SQLite's write lock) when the stored time is recent.
        let used_recently = row
            .key
            .last_used_at
            .is_some_and(|at| now.saturating_sub(to_ms(at)) < keys::TOUCH_INTERVAL_MS);
        // A failed record of the use (a read-only or busy database) does not refuse a
        // key that is valid: reads go on while the database takes no writes.
        if !used_recently && let Err(e) = keys::touch(&self.inner.db, row.key.id, now).await {
            tracing::warn!(error = %e, "recording an api key's use failed");
        }
        let grant = Grant {
            user_id: row.key.user_id,
            scopes: row.key.scopes,
            api_key_id: Some(row.key.id),
        };
        self.principal(&grant).await
    }

    /// The principal of the user `username`, with every scope that user may hold: for
    /// operators acting on the database directly (`spv-cli keys`), who are trusted
    /// already since they can open it. `NotFound` when there is no such user.
    pub async fn principal_for_user(&self, username: &str) -> Result<Principal> {
        let user = users::by_name(&self.inner.db, username)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("user {username:?} not found")))?
            .user;
        Ok(Principal {
            user_id: user.id,
            username: user.username,
            is_admin: user.is_admin,
            scopes: users::user_scopes(user.is_admin),
        })
    }

    /// Deletes refresh tokens that can never be used again (expired or revoked); used
    /// tokens that have not expired are kept for reuse detection. Answers how many went.
    /// The maintenance job `maintenance.prune` does the same.
    pub async fn prune_expired_refresh_tokens(&self) -> Result<u64> {
        refresh::prune(&self.inner.db, now_ms()).await
    }

    /// The principal of a grant: the user as stored now, with the grant's scopes cut to
    /// what the user may still hold.
    async fn principal(&self, grant: &Grant) -> Result<Principal> {
        let user = users::by_id(&self.inner.db, grant.user_id)
            .await?
            .ok_or_else(|| unauthenticated("the credential's user no longer exists"))?
            .user;
        let allowed = users::user_scopes(user.is_admin);
        Ok(Principal {
            user_id: user.id,
            username: user.username,
            is_admin: user.is_admin,
            scopes: grant
                .scopes
                .iter()
                .filter(|s| allowed.contains(*s))
                .collect(),
        })
    }

    async fn token(&self, request: TokenRequest) -> Result<TokenResponse> {
        let inner = &self.inner;
        let now = now_ms();
        let (principal, refresh_token) = match request.grant_type {
            GrantType::Password => {
                let (Some(username), Some(password)) = (&request.username, &request.password)
                else {
                    return Err(Error::invalid_request(
                        "the password grant needs username and password",
                    ));
                };
                let found = users::by_name(&inner.db, username).await?;
                let hash = found.as_ref().map_or(dummy_hash(), |u| &u.password_hash);
                let ok = inner.passwords.verify(password, hash).await?;
                let user = found.filter(|_| ok).ok_or_else(bad_credentials)?.user;
                let grant = Grant {
                    user_id: user.id,
                    scopes: users::user_scopes(user.is_admin),
                    api_key_id: None,
                };
                let principal = self.principal(&grant).await?;
                let token = refresh::start(&inner.db, &grant, now, inner.refresh_ttl_ms).await?;
                (principal, token)
            }
            GrantType::ApiKey => {
                let key = request
                    .api_key
                    .as_ref()
                    .ok_or_else(|| Error::invalid_request("the api_key grant needs api_key"))?;
                if !keys::is_api_key(key.expose()) {
                    return Err(unauthenticated("the api key is not valid"));
                }
                let principal = self.authenticate(key.expose()).await?;
                let row = keys::find_by_secret(&inner.db, key.expose())
                    .await?
                    .ok_or_else(|| unauthenticated("the api key is not valid"))?;
                let grant = Grant {
                    user_id: principal.user_id,
                    scopes: principal.scopes,
                    api_key_id: Some(row.key.id),
                };
                let token = refresh::start(&inner.db, &grant, now, inner.refresh_ttl_ms).await?;
                (principal, token)
            }
            GrantType::RefreshToken => {
                let token = request.refresh_token.as_ref().ok_or_else(|| {
                    Error::invalid_request("the refresh_token grant needs refresh_token")
                })?;
                let (grant, child) =
                    refresh::rotate(&inner.db, token, now, inner.refresh_ttl_ms).await?;
                if let Some(key_id) = grant.api_key_id {
                    let key = keys::find(&inner.db, key_id).await?;
                    let live =
                        key.is_some_and(|k| !k.revoked && k.expires_ms.is_none_or(|at| at > now));
                    if !live {
                        return Err(unauthenticated(
                            "the api key behind this session was revoked or has expired",
                        ));
                    }
                }
                (self.principal(&grant).await?, child)
            }
        };
        Ok(TokenResponse {
            access_token: Secret::new(inner.jwt.issue(&principal)?),
            token_type: "Bearer".to_owned(),
            expires_in: inner.jwt.ttl_secs(),
            refresh_token,
            scope: principal.scopes.to_string(),
        })
    }

    async fn insert_user(&self, username: &str, password: &Secret, is_admin: bool) -> Result<User> {
        users::validate(username, password.expose())?;
        let hash = self.inner.passwords.hash(password).await?;
        let now = now_ms();
        let user = User {
            id: Uuid::now_v7(),
            username: username.to_owned(),
            is_admin,
            created_at: from_ms(now),
        };
        users::insert(&self.inner.db, &user, &hash, now).await?;
        Ok(user)
    }

    async fn create_user(&self, request: CreateUser) -> Result<User> {
        request.principal.require(Scope::Admin)?;
        if !request.principal.is_admin {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "only administrators create users",
            ));
        }
        self.insert_user(&request.username, &request.password, request.is_admin)
            .await
    }

    async fn me(&self, request: GetMe) -> Result<User> {
        require_caller(&request.principal)?;
        users::by_id(&self.inner.db, request.principal.user_id)
            .await?
            .map(|row| row.user)
            .ok_or_else(|| unauthenticated("the credential's user no longer exists"))
    }

    async fn create_key(&self, request: CreateApiKey) -> Result<CreatedApiKey> {
        let caller = &request.principal;
        require_caller(caller)?;
        let name = request.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(
                Error::invalid_request("name is not valid: expected 1 to 100 characters")
                    .at("name"),
            );
        }
        if request.scopes.is_empty() {
            return Err(
                Error::invalid_request("scopes is empty: expected at least one scope").at("scopes"),
            );
        }
        if request.scopes.contains(Scope::Admin) && !caller.is_admin {
            return Err(Error::new(
                ErrorKind::Forbidden,
                "only administrators create keys with the scope \"admin\"",
            ));
        }
        if !request.scopes.is_subset_of(caller.scopes) {
            let missing: crate::api::Scopes = request
                .scopes
                .iter()
                .filter(|s| !caller.scopes.contains(*s))
                .collect();
            return Err(Error::new(
                ErrorKind::Forbidden,
                format!("a key cannot have scopes its creator lacks: {missing}"),
            ));
        }
        let now = now_ms();
        let expires_ms = request.expires_at.map(to_ms);
        if expires_ms.is_some_and(|at| at <= now) {
            return Err(Error::invalid_request("expiresAt is in the past").at("expiresAt"));
        }
        let (key, hash, prefix) = keys::generate();
        let id = Uuid::now_v7();
        let db = &self.inner.db;
        let scopes = request.scopes;
        keys::insert(
            db,
            id,
            caller.user_id,
            name,
            &hash,
            &prefix,
            scopes,
            now,
            expires_ms,
        )
        .await?;
        Ok(CreatedApiKey {
            id,
            name: name.to_owned(),
            scopes,
            key,
            prefix,
            created_at: from_ms(now),
            expires_at: expires_ms.map(from_ms),
        })
    }

    async fn list_keys(&self, request: ListApiKeys) -> Result<Vec<ApiKey>> {
        let caller = &request.principal;
        require_caller(caller)?;
        let user = (!caller.is_admin).then_some(caller.user_id);
        keys::list(&self.inner.db, user).await
    }

    async fn revoke_key(&self, request: RevokeApiKey) -> Result<()> {
        let caller = &request.principal;
        require_caller(caller)?;
        let not_found = || {
            Error::new(
                ErrorKind::NotFound,
                format!("api key {} not found", request.id),
            )
        };
        let key = keys::find(&self.inner.db, request.id)
            .await?
            .ok_or_else(not_found)?;
        if key.key.user_id != caller.user_id && !caller.is_admin {
            return Err(not_found());
        }
        keys::revoke(&self.inner.db, request.id, now_ms()).await
    }
}

crate::store::domain_service!(Auth {
    TokenRequest => TokenResponse, token;
    CreateUser => User, create_user;
    GetMe => User, me;
    CreateApiKey => CreatedApiKey, create_key;
    ListApiKeys => Vec<ApiKey>, list_keys;
    RevokeApiKey => (), revoke_key;
});
