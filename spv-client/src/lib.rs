//! Typed remote client of an spv server.
//!
//! [`Client`] implements [`tower::Service<R>`](tower::Service) for every request type `R`
//! of [`spv::api`] with the same response type as the in-process service, so a function
//! written against `S: Service<RenderThumbnail, Response = Thumbnail, Error = spv::Error>`
//! runs with `spv::thumbnails::Thumbnails` in process or with a `Client` against a
//! server, unchanged. Errors are [`spv::Error`]s: the server's problem+json answers come
//! back as the same [`spv::ErrorKind`] with the server's detail as the message.
//!
//! ```no_run
//! use spv_client::{Client, api::{GetDocument, Secret}};
//! use tower::ServiceExt;
//!
//! # async fn demo(id: uuid::Uuid) -> spv::Result<()> {
//! let client = Client::builder("http://127.0.0.1:3000")
//!     .api_key(Secret::new(std::env::var("SPV_API_KEY").unwrap_or_default()))
//!     .build()?;
//! let doc = client.clone().oneshot(GetDocument { principal: None, id }).await?;
//! let same = client.call_service(GetDocument { principal: None, id }).await?;
//! assert_eq!(doc.id, same.id);
//! # Ok(()) }
//! ```
//!
//! | item | what it is |
//! |---|---|
//! | [`Client`] | the client: cheap to clone, one connection pool, one token pair |
//! | [`ClientBuilder`] | server URL, credential (API key, password, refresh token), retries, timeouts, limits |
//! | [`api`] | the request and response types (re-exported from `spv`) |
//! | [`LiveSession`] ([`Client::live`]) | live editing of a stored document over a WebSocket: push, follow changes and presence, the document kept up to date, reconnection with `lastSeq` |
//!
//! What it does for every call:
//!
//! - **Credentials.** An API key is sent as the bearer of every request, so revoking it
//!   takes effect at once. A password is exchanged for a JWT access token on first use;
//!   the token is renewed before it expires (and once after a 401) through the rotating
//!   refresh token, one renewal at a time however many calls wait for it.
//!   [`ClientBuilder::on_tokens`] sees each new pair (to keep the refresh token). Secrets
//!   never appear in `Debug` output or logs.
//! - **Retries.** Idempotent requests (GET, HEAD, PUT, DELETE, and POST with an
//!   `Idempotency-Key`) are retried on connection errors, 429 and 503 with exponential
//!   backoff and jitter, honouring `Retry-After` up to a cap; a streamed body is never
//!   sent twice.
//! - **Limits.** Answers are read up to [`ClientBuilder::max_response_bytes`] (JSON up to
//!   16 MiB, events up to 1 MiB each); larger ones are refused with `LimitExceeded`.
//! - **Tracing.** A `spv_client` span per request with the method, path and status.
//!
//! Uploads stream from an `AsyncRead`; downloads can stream into an `AsyncWrite`
//! ([`Client::download_asset`], [`Client::download_job_output`]); job events arrive as a
//! stream parsed as they come ([`spv::api::WatchJob`]).
//! - **Signed URLs.** [`Client::signed_thumbnail_url`] makes a thumbnail URL that anyone
//!   holding it (a CDN, an `<img>` tag) can fetch until it expires, without a credential.

mod accounts;
mod assets;
mod auth;
mod builder;
mod call;
mod client;
mod documents;
mod image_size;
mod jobs;
mod live;
mod response;
mod retry;
mod service;
mod sse;
mod thumbnails;

pub use builder::{ClientBuilder, MAX_RETRIES};
pub use client::Client;
pub use live::{LiveEvent, LiveOptions, LiveSession, PushError};
pub use service::ResponseFuture;
pub use spv::api;
/// The keys of signed thumbnail URLs ([`Client::signed_thumbnail_url`]).
pub use spv::signing::SigningKeys;
