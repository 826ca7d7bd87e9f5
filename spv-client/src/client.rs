//! [`Client`] and the one place requests are sent: credentials, retries, tracing and
//! the mapping of error answers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderValue};
use reqwest::{Method, Response, StatusCode, Url};
use serde::de::DeserializeOwned;
use spv::api::{TokenRequest, TokenResponse};
use spv::{Error, ErrorKind, Result};
use tower::ServiceExt;
use tracing::Instrument;

use crate::auth::{AuthState, Bearer};
use crate::builder::ClientBuilder;
use crate::call::Call;
use crate::call::Payload;
use crate::response::{self, display_url, error_from, read_json, transport_error};
use crate::retry::RetryPolicy;

/// A typed client of an spv server: [`tower::Service`] of every request type of
/// [`spv::api`], answering the same response types as the in-process services, so code
/// written against `S: Service<R, Error = spv::Error>` runs here or in process unchanged.
///
/// Cheap to clone (one connection pool and one token pair shared by all clones). Build
/// one with [`Client::builder`]; call it with [`tower::ServiceExt::oneshot`] or
/// [`call_service`](Client::call_service).
///
/// # The caller
///
/// Requests of [`spv::api`] carry a `principal` for the in-process services. The client
/// ignores it: the server knows the caller from the client's credential (and a request
/// without a credential is anonymous).
///
/// # Differences from the in-process services
///
/// The HTTP API is the contract, so a few answers are assembled from more than one
/// request or lack what HTTP does not carry:
///
/// | request | how |
/// |---|---|
/// | `RenderThumbnail` | the document travels as base64 (a parsed `Loaded` is re-serialised; a package re-packed); an `assets` resolver cannot travel: upload the assets and use `sha256:` sources; `warnings` are empty |
/// | `GetDocumentThumbnail` | the thumbnail and the document's metadata, two requests at once (so the credential needs `documents:read` for a private document); `memory_hit`, `blob_hit` and `rendered` are `None` |
/// | `GetContent`, `GetAsset`, `GetJobOutput` | the bytes and the metadata, two requests (content is read again when the document changed in between; an asset's bytes are checked against its SHA-256) |
/// | `CreateDocument` with `tags` | created, then tagged by a merge patch (two requests) |
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    /// The base URL without a trailing slash, e.g. `http://127.0.0.1:3000/spv`.
    pub(crate) base: String,
    pub(crate) auth: AuthState,
    pub(crate) retry: RetryPolicy,
    /// The total time of a request with a small body.
    pub(crate) timeout: Duration,
    /// The most bytes of a binary answer (images, documents, assets).
    pub(crate) max_response_bytes: u64,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.inner.base)
            .field("auth", &self.inner.auth)
            .field("retry", &self.inner.retry)
            .field("timeout", &self.inner.timeout)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder for a client of the server at `base_url` (scheme, host, port and any
    /// path prefix the API is mounted under, e.g. `http://127.0.0.1:3000/spv`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use spv_client::{Client, api::Secret};
    ///
    /// let client = Client::builder("http://127.0.0.1:3000/spv")
    ///     .api_key(Secret::new("spv_example"))
    ///     .max_retries(3)
    ///     .timeout(Duration::from_secs(30))
    ///     .build()
    ///     .unwrap();
    /// assert_eq!(client.base_url(), "http://127.0.0.1:3000/spv");
    /// assert!(!format!("{client:?}").contains("spv_example"), "no secret in Debug");
    /// ```
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(base_url.into())
    }

    /// The base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.inner.base
    }

    /// Calls the service for `request` once: `client.clone().oneshot(request)` without
    /// the clone and the import of [`tower::ServiceExt`].
    ///
    /// ```no_run
    /// # async fn demo(client: spv_client::Client, id: uuid::Uuid) -> spv::Result<()> {
    /// let doc = client.call_service(spv::api::GetDocument { principal: None, id }).await?;
    /// println!("{} has {} pages", doc.title, doc.pages.len());
    /// # Ok(()) }
    /// ```
    pub async fn call_service<R>(
        &self,
        request: R,
    ) -> Result<<Client as tower::Service<R>>::Response>
    where
        Client: tower::Service<R, Error = Error>,
    {
        self.clone().oneshot(request).await
    }

    /// Exchanges the credential for tokens now (when the client holds none yet, or they
    /// are about to expire), so that bad credentials show before the first real call.
    /// [`on_tokens`](crate::ClientBuilder::on_tokens) sees the new pair.
    pub async fn authenticate(&self) -> Result<()> {
        if self.inner.auth.is_anonymous() {
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                "this client has no credential: give an api key, a password or a refresh token",
            ));
        }
        if self.inner.auth.is_api_key() {
            // A key is not exchanged: ask the server who it belongs to.
            return self
                .call_service(spv::api::GetMe::default())
                .await
                .map(drop);
        }
        self.inner.auth.bearer(self).await.map(drop)
    }

    /// The full URL of `path` with `query`.
    pub(crate) fn url(&self, path: &str, query: &[(&'static str, String)]) -> Result<Url> {
        let mut url = Url::parse(&format!("{}{path}", self.inner.base)).map_err(|e| {
            Error::invalid_request(format!(
                "the URL {}{path} is not valid: {e}",
                self.inner.base
            ))
        })?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        Ok(url)
    }

    /// Sends `call` until it has an answer: with the credential's bearer token (renewed
    /// once after a 401), retrying idempotent calls on connection errors, 429 and 503
    /// with backoff. A success or 304 answer is returned to read; an error status
    /// becomes the [`Error`] of its problem.
    pub(crate) async fn send(&self, call: Call) -> Result<Response> {
        let url = self.url(&call.path, &call.query)?;
        let span = tracing::debug_span!(
            "spv_client",
            method = %call.method,
            path = %call.path,
            status = tracing::field::Empty,
            attempts = tracing::field::Empty,
        );
        self.attempts(call, url).instrument(span).await
    }

    /// The attempts of [`send`](Self::send), inside its span.
    async fn attempts(&self, mut call: Call, url: Url) -> Result<Response> {
        let policy = self.inner.retry;
        let mut retries = 0_u32;
        let mut renewed = false;
        loop {
            let bearer = if call.authenticate {
                self.inner.auth.bearer(self).await?
            } else {
                None
            };
            let request = self.request(&mut call, url.clone(), bearer.as_ref())?;
            let may_retry = call.idempotent && call.can_resend() && retries < policy.max_retries;
            let response = match self.transmit(&call, &url, request).await? {
                Ok(response) => response,
                Err(error) => {
                    let transient =
                        error.is_connect() || (error.is_request() && !error.is_timeout());
                    if transient && may_retry {
                        let delay = policy.backoff(retries);
                        let error = error.without_url();
                        tracing::debug!(%error, ?delay, "connection failed; retrying");
                        retries += 1;
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(transport_error(&call.method, &url, error));
                }
            };
            let status = response.status();
            let span = tracing::Span::current();
            span.record("status", status.as_u16());
            span.record("attempts", retries + 1);
            if let Some(bearer) = &bearer
                && bearer.renewable
                && status == StatusCode::UNAUTHORIZED
                && !renewed
                && call.can_resend()
            {
                // The token may have been revoked or the server's key rotated: one
                // fresh token, then the answer stands.
                tracing::debug!("401 with a token; renewing it once");
                renewed = true;
                self.inner.auth.expire(bearer.generation).await;
                continue;
            }
            let busy = matches!(
                status,
                StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
            );
            if busy
                && may_retry
                && let Some(delay) = policy.delay_for(response.headers(), retries)
            {
                tracing::debug!(status = status.as_u16(), ?delay, "server busy; retrying");
                retries += 1;
                tokio::time::sleep(delay).await;
                continue;
            }
            if status.is_success() || status == StatusCode::NOT_MODIFIED {
                return Ok(response);
            }
            return Err(error_from(&call.method, response).await);
        }
    }

    /// Sends one attempt. A streamed answer has no total timeout, but its headers must
    /// come within the client's timeout (the outer error); reqwest's own errors are
    /// left to the caller to classify (the inner one).
    async fn transmit(
        &self,
        call: &Call,
        url: &Url,
        request: reqwest::RequestBuilder,
    ) -> Result<reqwest::Result<Response>> {
        if call.bounded || !call.can_resend() {
            return Ok(request.send().await);
        }
        let timeout = self.inner.timeout;
        tokio::time::timeout(timeout, request.send())
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Io,
                    format!(
                        "{} {} timed out: no answer within {timeout:?}",
                        call.method,
                        display_url(url)
                    ),
                )
            })
    }

    fn request(
        &self,
        call: &mut Call,
        url: Url,
        bearer: Option<&Bearer>,
    ) -> Result<reqwest::RequestBuilder> {
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url.clone())
            .headers(call.headers.clone());
        if call.bounded {
            request = request.timeout(self.inner.timeout);
        }
        if let Some(bearer) = bearer {
            let mut value = HeaderValue::from_str(&format!("Bearer {}", bearer.token.expose()))
                .map_err(|_| {
                    Error::new(
                        ErrorKind::Unauthenticated,
                        "the access token is not a valid header value",
                    )
                })?;
            value.set_sensitive(true);
            request = request.header(AUTHORIZATION, value);
        }
        request = match &mut call.payload {
            Payload::Empty => request,
            Payload::Bytes {
                bytes,
                content_type,
            } => request
                .header(CONTENT_TYPE, HeaderValue::from_static(content_type))
                .body(bytes.clone()),
            Payload::Stream(body) => {
                let body = body.take().ok_or_else(|| {
                    Error::internal(format!(
                        "{} {}: the streamed body was sent already and cannot be sent again",
                        call.method,
                        display_url(&url)
                    ))
                })?;
                request.body(body)
            }
        };
        Ok(request)
    }

    /// Sends `call` and decodes its JSON answer.
    pub(crate) async fn json<T: DeserializeOwned>(&self, call: Call) -> Result<T> {
        read_json(self.send(call).await?).await
    }

    /// Sends `call` and reads its answer whole, up to the client's response limit.
    pub(crate) async fn bytes(&self, call: Call) -> Result<(HeaderMap, Vec<u8>)> {
        let response = self.send(call).await?;
        let headers = response.headers().clone();
        let body =
            response::read_limited(response, self.inner.max_response_bytes, "answer").await?;
        Ok((headers, body))
    }

    /// Sends `call` and drops the answer's body (204s and the like).
    pub(crate) async fn empty(&self, call: Call) -> Result<()> {
        let response = self.send(call).await?;
        response::read_limited(response, response::MAX_PROBLEM_BYTES as u64, "answer").await?;
        Ok(())
    }

    /// The token endpoint: a grant exchanged for a token pair. The `password` and
    /// `api_key` grants are retried like idempotent calls (repeating one only mints
    /// another pair); a `refresh_token` grant never is (its token is spent).
    pub(crate) async fn grant(&self, grant: TokenRequest) -> Result<TokenResponse> {
        let repeatable = grant.grant_type != spv::api::GrantType::RefreshToken;
        let mut call = Call::new(Method::POST, "/api/v1/auth/token")
            .anonymous()
            .json(&grant)?;
        if repeatable {
            call = call.idempotent();
        }
        self.json(call).await
    }
}
