//! The client's credential and its tokens: exchanged for a JWT access token on first use,
//! renewed before it expires and once after a 401, through the rotating refresh token.
//!
//! One mutex guards the token pair and is held while a renewal runs, so concurrent calls
//! that find the token stale wait for the one renewal in flight and then share its
//! result (single flight): a rotating refresh token must never be spent twice.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use spv::api::{Secret, TokenRequest, TokenResponse};
use spv::{Error, ErrorKind, Result};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::client::Client;

/// The hook [`ClientBuilder::on_tokens`](crate::ClientBuilder::on_tokens) installs.
pub(crate) type OnTokens = Arc<dyn Fn(&TokenResponse) + Send + Sync>;

/// What the client authenticates with.
#[derive(Clone, Default)]
pub(crate) enum Credential {
    /// No credential: anonymous calls only (public documents, the gallery).
    #[default]
    None,
    /// An API key, sent as the bearer of every request (so a revocation applies at once).
    ApiKey(Secret),
    /// A username and password, exchanged with the `password` grant.
    Password {
        /// The login name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// A refresh token only (a stored session): when it stops working, nothing else
    /// can be tried.
    RefreshToken(Secret),
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The variant and the username only: never a secret.
        match self {
            Credential::None => f.write_str("None"),
            Credential::ApiKey(_) => f.write_str("ApiKey([redacted])"),
            Credential::Password { username, .. } => f
                .debug_struct("Password")
                .field("username", username)
                .finish_non_exhaustive(),
            Credential::RefreshToken(_) => f.write_str("RefreshToken([redacted])"),
        }
    }
}

impl Credential {
    /// The grant that starts a session from this credential; `None` for none, and for a
    /// bare refresh token (which is spent through the refresh path instead).
    fn grant(&self) -> Option<TokenRequest> {
        match self {
            Credential::Password { username, password } => {
                Some(TokenRequest::password(username.clone(), password.clone()))
            }
            Credential::None | Credential::ApiKey(_) | Credential::RefreshToken(_) => None,
        }
    }
}

/// An access token in use, and the generation of the pair it belongs to (a 401 expires
/// that generation only, so a renewal another call made meanwhile is not thrown away).
#[derive(Clone)]
pub(crate) struct Bearer {
    pub(crate) token: Secret,
    pub(crate) generation: u64,
    /// Whether a fresh token may be asked for after a 401 (not for an API key).
    pub(crate) renewable: bool,
}

#[derive(Default)]
struct Tokens {
    /// The access token and when to renew it.
    access: Option<(Secret, Instant)>,
    /// The refresh token of the current session.
    refresh: Option<Secret>,
    /// Bumped with every new pair.
    generation: u64,
}

/// The credential, the current tokens and the hook.
pub(crate) struct AuthState {
    credential: Credential,
    tokens: Mutex<Tokens>,
    on_tokens: Option<OnTokens>,
    margin: Duration,
}

impl fmt::Debug for AuthState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthState")
            .field("credential", &self.credential)
            .field("margin", &self.margin)
            .finish_non_exhaustive()
    }
}

impl AuthState {
    pub(crate) fn new(
        credential: Credential,
        on_tokens: Option<OnTokens>,
        margin: Duration,
    ) -> Self {
        let refresh = match &credential {
            Credential::RefreshToken(token) => Some(token.clone()),
            _ => None,
        };
        AuthState {
            credential,
            tokens: Mutex::new(Tokens {
                refresh,
                ..Tokens::default()
            }),
            on_tokens,
            margin,
        }
    }

    /// Whether the credential is an API key (sent as it is, never exchanged).
    pub(crate) fn is_api_key(&self) -> bool {
        matches!(self.credential, Credential::ApiKey(_))
    }

    /// Whether requests carry a credential at all.
    pub(crate) fn is_anonymous(&self) -> bool {
        matches!(self.credential, Credential::None)
    }

    /// A valid access token, renewed first when it is missing or about to expire;
    /// `None` for an anonymous client.
    pub(crate) async fn bearer(&self, client: &Client) -> Result<Option<Bearer>> {
        match &self.credential {
            Credential::None => return Ok(None),
            // The key itself: nothing to renew, and a 401 means what it says.
            Credential::ApiKey(key) => {
                return Ok(Some(Bearer {
                    token: key.clone(),
                    generation: 0,
                    renewable: false,
                }));
            }
            Credential::Password { .. } | Credential::RefreshToken(_) => {}
        }
        let mut tokens = self.tokens.lock().await;
        if let Some((token, renew_at)) = &tokens.access
            && Instant::now() < *renew_at
        {
            return Ok(Some(Bearer {
                token: token.clone(),
                generation: tokens.generation,
                renewable: true,
            }));
        }
        // Renewing with the lock held: concurrent callers queue on it and find the new
        // pair when they get it.
        let response = self.renew(client, &mut tokens).await?;
        let renew_in = Duration::from_secs(response.expires_in).saturating_sub(self.margin);
        // A server's `expires_in` is not trusted to keep the sum in range.
        let renew_at = Instant::now()
            .checked_add(renew_in)
            .unwrap_or_else(|| Instant::now() + Duration::from_secs(24 * 3600));
        tokens.access = Some((response.access_token.clone(), renew_at));
        tokens.refresh = Some(response.refresh_token.clone());
        tokens.generation += 1;
        if let Some(hook) = &self.on_tokens {
            hook(&response);
        }
        tracing::debug!(
            generation = tokens.generation,
            expires_in = response.expires_in,
            "new access token"
        );
        Ok(Some(Bearer {
            token: response.access_token,
            generation: tokens.generation,
            renewable: true,
        }))
    }

    /// Forgets the access token of `generation` after the server refused it, so the
    /// next [`bearer`](Self::bearer) renews it (unless a renewal already replaced it).
    pub(crate) async fn expire(&self, generation: u64) {
        let mut tokens = self.tokens.lock().await;
        if tokens.generation == generation {
            tokens.access = None;
        }
    }

    /// A new token pair: through the refresh token when there is one, else (or when the
    /// server refuses it) through the credential's own grant.
    async fn renew(&self, client: &Client, tokens: &mut Tokens) -> Result<TokenResponse> {
        if let Some(refresh) = tokens.refresh.take() {
            match Box::pin(client.grant(TokenRequest::refresh_token(refresh.clone()))).await {
                Ok(response) => return Ok(response),
                Err(error) if error.kind() == ErrorKind::Unauthenticated => {
                    tracing::debug!(%error, "the refresh token was refused");
                    if self.credential.grant().is_none() {
                        return Err(error);
                    }
                }
                Err(error) => {
                    // Not refused, so perhaps not spent: keep it for the next try.
                    tokens.refresh = Some(refresh);
                    return Err(error);
                }
            }
        }
        match self.credential.grant() {
            // Boxed: sending the grant goes through `Client::send`, which asks for a bearer.
            Some(grant) => Box::pin(client.grant(grant)).await,
            None => Err(Error::new(
                ErrorKind::Unauthenticated,
                "the session has ended: log in again",
            )),
        }
    }
}
