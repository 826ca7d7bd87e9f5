//! Connecting to the server: which server, which credential, and keeping the rotated
//! refresh token of a login.

use std::fmt::Display;
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{Context as _, anyhow, bail};
use spv::api::{Secret, TokenResponse};
use spv::{Error, ErrorKind};
use spv_client::Client;
use tower::{Service, ServiceExt as _};

use super::credentials::{Credentials, Store};

/// The longest server URL accepted.
const MAX_URL_LEN: usize = 2048;

/// What the global flags say about the server.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// `--server` / `SPV_SERVER`.
    pub(crate) server: Option<String>,
    /// `--api-key` / `SPV_API_KEY`.
    pub(crate) api_key: Option<Secret>,
}

/// How the session authenticates, for error hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    ApiKey,
    Login,
    Password,
}

/// A client for one server and what is needed to report and finish.
pub(crate) struct Session {
    client: Client,
    server: String,
    credential: Credential,
    tokens: Option<TokenSaver>,
}

impl Session {
    /// A session with the credential the flags, the environment and the stored login give:
    /// `--api-key`/`SPV_API_KEY` first, else the login stored for this server. Reads the
    /// stored login (a small blocking read): call it before the runtime runs.
    pub(crate) fn connect(target: &Target) -> anyhow::Result<Session> {
        if let Some(key) = &target.api_key {
            let Some(server) = &target.server else {
                bail!("an API key was given but no server: pass --server URL or set SPV_SERVER");
            };
            let server = normalise_server(server)?;
            let client = Client::builder(&server)
                .api_key(key.clone())
                .build()
                .with_context(|| format!("connecting to {server}"))?;
            return Ok(Session {
                client,
                server,
                credential: Credential::ApiKey,
                tokens: None,
            });
        }
        let store = Store::locate()?;
        let stored = store.load()?;
        let server = match (&target.server, &stored) {
            (Some(server), _) => normalise_server(server)?,
            (None, Some(stored)) => stored.server.clone(),
            (None, None) => bail!(
                "no server: pass --server URL (or set SPV_SERVER), or log in first with \
                 spv-cli --server URL login"
            ),
        };
        let Some(login) = stored.filter(|login| login.server == server) else {
            bail!(
                "not logged in to {server}: run spv-cli --server {server} login, or set \
                 SPV_API_KEY"
            );
        };
        let tokens = TokenSaver::new(store, login.clone());
        let client = Client::builder(&server)
            .refresh_token(login.refresh_token.clone())
            .on_tokens(tokens.hook())
            .build()
            .with_context(|| format!("connecting to {server}"))?;
        Ok(Session {
            client,
            server,
            credential: Credential::Login,
            tokens: Some(tokens),
        })
    }

    /// A session that logs in to `server` with a password, keeping the tokens it gets
    /// as the stored login of `username`.
    pub(crate) fn with_password(
        server: &str,
        username: &str,
        password: Secret,
        store: &Store,
    ) -> anyhow::Result<Session> {
        let server = normalise_server(server)?;
        // Nothing is stored until the server answered with tokens.
        let tokens = TokenSaver::new(
            store.clone(),
            Credentials {
                server: server.clone(),
                username: username.to_owned(),
                refresh_token: Secret::default(),
            },
        );
        let client = Client::builder(&server)
            .password(username, password)
            .on_tokens(tokens.hook())
            .build()
            .with_context(|| format!("connecting to {server}"))?;
        Ok(Session {
            client,
            server,
            credential: Credential::Password,
            tokens: Some(tokens),
        })
    }

    /// The server's base URL.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// The client.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// Sends `request`; a failure names `what` was being done and adds a hint for a
    /// refused credential.
    pub(crate) async fn call<R>(
        &self,
        what: impl Display,
        request: R,
    ) -> anyhow::Result<<Client as Service<R>>::Response>
    where
        Client: Service<R, Error = Error>,
    {
        self.client_call(request)
            .await
            .map_err(|err| self.explain(what, err))
    }

    /// Sends `request`, answering the client's error as it is.
    pub(crate) async fn client_call<R>(
        &self,
        request: R,
    ) -> spv::Result<<Client as Service<R>>::Response>
    where
        Client: Service<R, Error = Error>,
    {
        self.client.clone().oneshot(request).await
    }

    /// `err` as the CLI reports it: what was being done on which server, the server's
    /// detail (and the causes, e.g. why a connection failed), then on a line of its own
    /// what to do about a refused credential.
    pub(crate) fn explain(&self, what: impl Display, err: Error) -> anyhow::Error {
        let hint = match (err.kind(), self.credential) {
            (ErrorKind::Unauthenticated, Credential::ApiKey) => Some(
                "the server refused the API key (revoked, expired or mistyped?): check \
                 SPV_API_KEY or --api-key",
            ),
            (ErrorKind::Unauthenticated, Credential::Login) => Some(
                "the stored login was refused (expired, or used by another spv-cli at the \
                 same moment): run spv-cli login again",
            ),
            (ErrorKind::Forbidden, Credential::ApiKey) => {
                Some("the API key lacks a scope this needs: create a key with more scopes")
            }
            _ => None,
        };
        let mut text = format!("{what} on {}: {err}", self.server);
        let mut cause = std::error::Error::source(&err);
        while let Some(source) = cause {
            text.push_str(&format!(": {source}"));
            cause = source.source();
        }
        if let Some(hint) = hint {
            text.push_str(&format!("\nhint: {hint}"));
        }
        anyhow::Error::msg(text)
    }

    /// Ends the session: waits until the latest rotated refresh token is stored.
    pub(crate) async fn finish(self) -> anyhow::Result<()> {
        match self.tokens {
            Some(tokens) => tokens.flush().await,
            None => Ok(()),
        }
    }

    /// Whether the session stored a refresh token (a login's tokens arrived).
    pub(crate) fn has_tokens(&self) -> bool {
        self.tokens.as_ref().is_some_and(TokenSaver::received)
    }
}

/// `url` without surrounding spaces or a trailing slash, if it is an http(s) URL.
pub(crate) fn normalise_server(url: &str) -> anyhow::Result<String> {
    let url = url.trim();
    if url.len() > MAX_URL_LEN {
        bail!(
            "--server: the URL is {} characters long, at most {MAX_URL_LEN} are allowed",
            url.len()
        );
    }
    let lower = url.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("http://")
        .or_else(|| lower.strip_prefix("https://"));
    match rest {
        Some(rest) if !rest.is_empty() && !rest.starts_with('/') => {}
        _ => bail!(
            "--server: {url:?} is not a server URL (expected http://HOST[:PORT][/PATH] or https://...)"
        ),
    }
    if url.contains(['?', '#']) || url.chars().any(char::is_whitespace) {
        bail!("--server: {url:?} is not a server URL (no query, fragment or spaces allowed)");
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Keeps the latest refresh token of a login in the credentials file.
///
/// The client calls [`hook`](Self::hook) from inside its futures, so the hook only
/// records the token (a short lock) and starts a blocking save; saves carry a generation
/// so that an older token never overwrites a newer one, and [`flush`](Self::flush)
/// waits for the last.
#[derive(Clone)]
struct TokenSaver {
    inner: Arc<SaverInner>,
}

struct SaverInner {
    store: Store,
    /// The latest login and its generation (0: no token received yet).
    latest: Mutex<(u64, Credentials)>,
    /// The generation on disk, and the lock held while writing.
    saved: Mutex<u64>,
    /// The last save error, reported by `flush`.
    error: Mutex<Option<String>>,
}

impl TokenSaver {
    fn new(store: Store, login: Credentials) -> TokenSaver {
        TokenSaver {
            inner: Arc::new(SaverInner {
                store,
                latest: Mutex::new((0, login)),
                saved: Mutex::new(0),
                error: Mutex::new(None),
            }),
        }
    }

    /// The `on_tokens` hook of the client.
    fn hook(&self) -> impl Fn(&TokenResponse) + Send + Sync + 'static {
        let saver = self.clone();
        move |tokens: &TokenResponse| {
            {
                let mut latest = saver
                    .inner
                    .latest
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                latest.0 += 1;
                latest.1.refresh_token = tokens.refresh_token.clone();
            }
            // Saved now, not only at the end, so that a watch interrupted by Ctrl-C
            // still leaves a usable login behind.
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let saver = saver.clone();
                drop(runtime.spawn_blocking(move || saver.save_latest()));
            }
        }
    }

    fn received(&self) -> bool {
        self.inner
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0
            > 0
    }

    /// Writes the latest login unless it (or a newer one) is on disk already.
    fn save_latest(&self) {
        let mut saved = self
            .inner
            .saved
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let (generation, login) = self
            .inner
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if generation <= *saved {
            return;
        }
        match self.inner.store.save(&login) {
            Ok(()) => *saved = generation,
            Err(err) => {
                *self
                    .inner
                    .error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner) = Some(format!("{err:#}"));
            }
        }
    }

    /// Saves the latest token (if not yet) and reports a failed save.
    async fn flush(self) -> anyhow::Result<()> {
        let saver = self.clone();
        tokio::task::spawn_blocking(move || saver.save_latest())
            .await
            .map_err(|err| anyhow!("saving the login: {err}"))?;
        let saved = *self
            .inner
            .saved
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let latest = self
            .inner
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .0;
        if saved < latest {
            let error = self
                .inner
                .error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take()
                .unwrap_or_default();
            bail!(
                "the server rotated the login's refresh token but it could not be stored \
                 ({error}): run spv-cli login again"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_checked_and_normalised() {
        assert_eq!(
            normalise_server(" http://127.0.0.1:3000/ ").unwrap(),
            "http://127.0.0.1:3000"
        );
        assert_eq!(
            normalise_server("https://example.com/spv").unwrap(),
            "https://example.com/spv"
        );
        for bad in [
            "",
            "example.com",
            "ftp://x",
            "http://",
            "http:///x",
            "http://x/?a=1",
        ] {
            let err = normalise_server(bad).unwrap_err().to_string();
            assert!(err.starts_with("--server:"), "{bad:?}: {err}");
        }
        let long = format!("http://{}", "a".repeat(MAX_URL_LEN));
        assert!(normalise_server(&long).is_err());
    }
}
