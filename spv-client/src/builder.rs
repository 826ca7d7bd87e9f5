//! [`ClientBuilder`]: the server, the credential and the limits of a [`Client`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use spv::api::{Secret, TokenResponse};
use spv::{Error, Result};

use crate::auth::{AuthState, Credential, OnTokens};
use crate::client::{Client, Inner};
use crate::retry::RetryPolicy;

/// The most retries a client may be set to make.
pub const MAX_RETRIES: u32 = 10;

/// Builds a [`Client`]; see [`Client::builder`].
///
/// | setting | default |
/// |---|---|
/// | credential | none (anonymous: public documents and the gallery only) |
/// | [`max_retries`](Self::max_retries) | 3 |
/// | [`timeout`](Self::timeout) | 30 s per request (streams: between chunks) |
/// | [`connect_timeout`](Self::connect_timeout) | 10 s |
/// | [`retry_delays`](Self::retry_delays) | 100 ms doubling, at most 10 s |
/// | [`refresh_margin`](Self::refresh_margin) | 30 s |
/// | [`max_response_bytes`](Self::max_response_bytes) | 256 MiB |
#[must_use]
pub struct ClientBuilder {
    base: String,
    credential: Credential,
    on_tokens: Option<OnTokens>,
    max_retries: u32,
    timeout: Duration,
    connect_timeout: Duration,
    base_delay: Duration,
    max_delay: Duration,
    refresh_margin: Duration,
    max_response_bytes: u64,
    user_agent: String,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base", &self.base)
            .field("credential", &self.credential)
            .field("max_retries", &self.max_retries)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    pub(crate) fn new(base: String) -> Self {
        ClientBuilder {
            base,
            credential: Credential::None,
            on_tokens: None,
            max_retries: 3,
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
            refresh_margin: Duration::from_secs(30),
            max_response_bytes: 256 * 1024 * 1024,
            user_agent: concat!("spv-client/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// Authenticates with an API key (`spv_…`), sent as the bearer of every request, so a
    /// revoked or expired key is refused from the next request on. (Exchanging it for a
    /// JWT would save the server a key lookup per request, about 0.15 ms on a debug
    /// build, but a revoked key's token would then keep working until it expired.)
    pub fn api_key(mut self, key: Secret) -> Self {
        self.credential = Credential::ApiKey(key);
        self
    }

    /// Authenticates with a username and password (the `password` grant).
    pub fn password(mut self, username: impl Into<String>, password: Secret) -> Self {
        self.credential = Credential::Password {
            username: username.into(),
            password,
        };
        self
    }

    /// Resumes a session from a refresh token kept earlier (see
    /// [`on_tokens`](Self::on_tokens)). Each renewal spends it and gets a new one.
    pub fn refresh_token(mut self, token: Secret) -> Self {
        self.credential = Credential::RefreshToken(token);
        self
    }

    /// Called with every new token pair, right after it arrived (and before the request
    /// that needed it goes out): the place to keep the rotated refresh token, e.g. in a
    /// file for [`refresh_token`](Self::refresh_token) next time. Runs under the
    /// client's token lock: keep it short and never call the client from it.
    pub fn on_tokens(mut self, hook: impl Fn(&TokenResponse) + Send + Sync + 'static) -> Self {
        self.on_tokens = Some(Arc::new(hook));
        self
    }

    /// Retries after the first attempt of an idempotent request (GET, HEAD, PUT, DELETE,
    /// and POST with an `Idempotency-Key`) on connection errors, 429 and 503; at most
    /// [`MAX_RETRIES`]. 0 turns retries off.
    pub fn max_retries(mut self, retries: u32) -> Self {
        self.max_retries = retries;
        self
    }

    /// The longest a request may take from sending to the end of its answer. Uploads,
    /// downloads and event streams have no total limit; they fail when no bytes move for
    /// this long.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The longest a connection may take to open.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The backoff before the first retry (doubled for each further one, with random
    /// jitter below it) and the longest wait between attempts: a `Retry-After` asking for
    /// more than `max` ends the retries with the error instead.
    pub fn retry_delays(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max;
        self
    }

    /// Renews the access token when less than this is left of its lifetime. A margin as
    /// long as the lifetime renews before every request.
    pub fn refresh_margin(mut self, margin: Duration) -> Self {
        self.refresh_margin = margin;
        self
    }

    /// The largest answer read: images, documents, assets and outputs, held in memory
    /// or written to a writer. A larger one is refused with `LimitExceeded`.
    pub fn max_response_bytes(mut self, bytes: u64) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The `User-Agent` header (default `spv-client/<version>`).
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.user_agent = user_agent.into();
        self
    }

    /// The client; an error names the setting that is not valid.
    pub fn build(self) -> Result<Client> {
        let base = normalise_base(&self.base)?;
        if self.max_retries > MAX_RETRIES {
            return Err(Error::invalid_request(format!(
                "max_retries: {} is too many; expected at most {MAX_RETRIES}",
                self.max_retries
            )));
        }
        for (name, value) in [
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::invalid_request(format!(
                    "{name}: 0 is not valid; expected a duration above zero"
                )));
            }
        }
        if self.base_delay > self.max_delay {
            return Err(Error::invalid_request(format!(
                "retry_delays: the base {:?} is longer than the maximum {:?}",
                self.base_delay, self.max_delay
            )));
        }
        if self.max_response_bytes == 0 {
            return Err(Error::invalid_request(
                "max_response_bytes: 0 is not valid; expected a number of bytes from 1",
            ));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone())
            .build()
            .map_err(|e| Error::internal(format!("the HTTP client could not be set up: {e}")))?;
        Ok(Client {
            inner: Arc::new(Inner {
                http,
                base,
                auth: AuthState::new(self.credential, self.on_tokens, self.refresh_margin),
                retry: RetryPolicy {
                    max_retries: self.max_retries,
                    base_delay: self.base_delay,
                    max_delay: self.max_delay,
                },
                timeout: self.timeout,
                max_response_bytes: self.max_response_bytes,
            }),
        })
    }
}

/// `base` checked (http or https, a host, no query, no fragment, no credentials) and
/// without its trailing slashes.
fn normalise_base(base: &str) -> Result<String> {
    // A URL with user information may hold a password: never repeat it.
    let shown = if base.contains('@') {
        "(with user information)".to_owned()
    } else {
        format!("{base:?}")
    };
    let bad = |why: &str| {
        Error::invalid_request(format!(
            "server URL {shown} is not valid: {why}; expected e.g. http://127.0.0.1:3000 or https://host/prefix"
        ))
    };
    let url = Url::parse(base.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("the scheme is not http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it has a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(
            "it holds credentials; give them to the builder instead",
        ));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_normalised() {
        assert_eq!(
            normalise_base("http://127.0.0.1:3000/").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            normalise_base("https://example.com/spv/").unwrap(),
            "https://example.com/spv"
        );
        for bad in [
            "ftp://host",
            "not a url",
            "http://host/?a=1",
            "http://user:pw@host",
        ] {
            let err = normalise_base(bad).unwrap_err();
            assert_eq!(err.kind(), spv::ErrorKind::InvalidRequest, "{bad}");
            assert!(!err.to_string().contains("pw@"), "{err}");
        }
    }

    #[test]
    fn bad_settings_are_named() {
        let err = Client::builder("http://h")
            .max_retries(MAX_RETRIES + 1)
            .build()
            .unwrap_err();
        assert!(err.to_string().starts_with("max_retries:"), "{err}");
        let err = Client::builder("http://h")
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(err.to_string().starts_with("timeout:"), "{err}");
        let err = Client::builder("http://h")
            .retry_delays(Duration::from_secs(5), Duration::from_secs(1))
            .build()
            .unwrap_err();
        assert!(err.to_string().starts_with("retry_delays:"), "{err}");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let builder = Client::builder("http://h").password("ann", Secret::new("hunter22"));
        assert!(!format!("{builder:?}").contains("hunter22"));
        assert!(format!("{builder:?}").contains("ann"));
        let client = builder.build().unwrap();
        assert!(!format!("{client:?}").contains("hunter22"));
        let client = Client::builder("http://h")
            .refresh_token(Secret::new("rt-secret"))
            .build()
            .unwrap();
        assert!(!format!("{client:?}").contains("rt-secret"));
    }
}
