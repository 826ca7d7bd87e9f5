//! What the server does around `spv::http::api` for every request, as one service.
//!
//! In order: a request id (kept from `x-request-id` when the client sent one, else a
//! random UUID; echoed on the response), a trace span per request (`method`, `route`,
//! `request_id`) with a `response` event, panic catching (a problem+json 500), a timeout
//! (a problem+json 503), the request body limit (a problem+json 413, before the handler
//! runs when `Content-Length` says so), compression (gzip, br, zstd; never images,
//! ranged bytes or event streams; only for clients that send `Accept-Encoding`), CORS
//! when `SPV_CORS_ORIGINS` is set, and the security headers on every answer, including
//! timeouts and caught panics. No `Server` header is ever sent.
//!
//! Before all of that the guards run (`guards.rs`: `Host` allowlist, `User-Agent` block
//! list, heavy hitters, maintenance), and a request body is held to the minimum rate
//! (`body_rate.rs`; a body that falls behind gets 408). Over TLS every answer carries
//! `Strict-Transport-Security`. Everything configurable here is swapped whole by
//! [`App::reload`] (SIGHUP).
//!
//! These were once tower-http layers composed with `ServiceBuilder`: each layer's future
//! moved the response, boxed its body or cloned its state, and together they cost about
//! a third of a cached thumbnail's CPU time (BENCHMARKS.md). Compression and CORS are
//! still tower-http's; the rest is written out here in one future.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt as _;
use http_body_util::Limited;
use spv::config::Config;
use spv::guard::{Closed, EdgeStats};
use spv::http::{ApiError, AppState};
use tower_http::compression::Predicate as _;
use tower_http::compression::predicate::DefaultPredicate;
use tower_http::compression::{Compression, CompressionLayer};
use tower_http::cors::{AllowOrigin, Cors, CorsLayer};
use tracing::Instrument as _;

use crate::body_rate::{MinRate, SlowBody};
use crate::conn::Activity;
use crate::guards::Guards;

/// The strict policy of every response but the docs page.
const CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The request id header, read and echoed.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// `spv::http::api(state)` with the server's handling of every request around it (see
/// the module docs): a hyper service, served by [`run`](crate::run).
pub fn app(config: &Config, state: AppState) -> App {
    let stats = state.metrics().edge().clone();
    App::new(config, spv::http::api(state), stats)
}

/// The service [`app`] returns: cheap to clone (one reference count), and called by
/// hyper directly (no `tower` adapter cloning it per request).
#[derive(Clone)]
pub struct App {
    inner: Arc<Inner>,
    /// The connection's peer, given to every request as `ConnectInfo<SocketAddr>`
    /// (rate limits key clients by it).
    peer: Option<std::net::SocketAddr>,
    /// What the connection's time limits watch (requests begun and in flight).
    activity: Option<Arc<Activity>>,
}

/// What every clone of an [`App`] shares.
struct Inner {
    /// The routes, kept to build the next [`Shared`] on reload.
    router: Router,
    stats: Arc<EdgeStats>,
    /// Whether the server serves TLS (HSTS is sent only then).
    tls: bool,
    shared: ArcSwap<Shared>,
}

/// When compression applies: what tower-http's default predicate allows (not images,
/// not event streams, not gRPC, over 32 bytes), and never for asset bytes, which carry a
/// strong ETag of their identity bytes and serve ranges of them: a compressed variant
/// under the same validator would corrupt ranged and revalidated downloads (RFC 9110
/// §8.8.3).
type Compress = tower_http::compression::predicate::And<DefaultPredicate, NotRanged>;

struct Shared {
    /// The routes: bare, and behind CORS when origins are configured.
    api: Api,
    /// What compression would have compressed (for `Vary` on the bare path).
    compressible: Compress,
    limit: usize,
    timeout: Duration,
    guards: Guards,
    /// The minimum body rate (bytes per second) and its grace; `None`: none.
    body_rate: Option<(u64, Duration)>,
    /// `Strict-Transport-Security`, over TLS.
    hsts: Option<HeaderValue>,
}

/// The router, with CORS when configured, each also behind compression (taken only by
/// requests that accept an encoding, so others pay nothing for it).
#[allow(clippy::large_enum_variant)] // One per server, shared behind an `Arc`.
enum Api {
    Plain {
        bare: Router,
        compressed: Compression<Router, Compress>,
    },
    Cors {
        bare: Cors<Router>,
        compressed: Compression<Cors<Router>, Compress>,
    },
}

/// Responses without `Accept-Ranges` (see [`Compress`]).
#[derive(Clone, Copy, Debug)]
struct NotRanged;

impl tower_http::compression::Predicate for NotRanged {
    fn should_compress<B: HttpBody>(&self, response: &axum::http::Response<B>) -> bool {
        !response.headers().contains_key(header::ACCEPT_RANGES)
    }
}

impl App {
    /// This service for a connection from `peer`: its requests carry
    /// `axum::extract::ConnectInfo(peer)`, the client address of the rate limits.
    pub fn with_peer(mut self, peer: std::net::SocketAddr) -> App {
        self.peer = Some(peer);
        self
    }

    /// This service for a connection whose requests are counted in `activity`.
    pub(crate) fn with_activity(mut self, activity: Arc<Activity>) -> App {
        self.activity = Some(activity);
        self
    }

    /// `api` with the server's handling around it, as `config` says; guard refusals
    /// and slow bodies are counted in `stats`.
    fn new(config: &Config, api: Router, stats: Arc<EdgeStats>) -> App {
        let tls = config.tls_cert.is_some();
        let shared = Shared::new(config, api.clone(), &stats, tls, None);
        App {
            peer: None,
            activity: None,
            inner: Arc::new(Inner {
                router: api,
                stats,
                tls,
                shared: ArcSwap::from_pointee(shared),
            }),
        }
    }

    /// Takes the reloadable settings of `config` (CORS, request timeout, guards,
    /// maintenance, minimum body rate, HSTS) for every request from now on, on every
    /// connection. Heavy-hitter counts carry over when their policy is unchanged.
    pub fn reload(&self, config: &Config) {
        let inner = &*self.inner;
        let previous = inner.shared.load();
        let shared = Shared::new(
            config,
            inner.router.clone(),
            &inner.stats,
            inner.tls,
            Some(&previous.guards),
        );
        inner.shared.store(Arc::new(shared));
    }
}

impl Shared {
    fn new(
        config: &Config,
        api: Router,
        stats: &Arc<EdgeStats>,
        tls: bool,
        previous: Option<&Guards>,
    ) -> Shared {
        let predicate: Compress = DefaultPredicate::new().and(NotRanged);
        let compression = CompressionLayer::new().compress_when(predicate.clone());
        let api = match cors(config) {
            None => Api::Plain {
                compressed: tower::Layer::layer(&compression, api.clone()),
                bare: api,
            },
            Some(cors) => {
                let bare = tower::Layer::layer(&cors, api);
                Api::Cors {
                    compressed: tower::Layer::layer(&compression, bare.clone()),
                    bare,
                }
            }
        };
        let hsts = (tls && config.hsts_max_age_secs > 0)
            .then(|| HeaderValue::from_str(&format!("max-age={}", config.hsts_max_age_secs)).ok())
            .flatten();
        Shared {
            api,
            compressible: predicate,
            limit: config.body_limit_bytes,
            timeout: Duration::from_secs(config.request_timeout_secs),
            guards: Guards::new(config, Arc::clone(stats), previous),
            body_rate: (config.body_min_rate_bytes > 0).then(|| {
                (
                    config.body_min_rate_bytes,
                    Duration::from_secs(config.body_rate_grace_secs),
                )
            }),
            hsts,
        }
    }
}

/// The future of [`App`]'s answers.
pub type AppFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<B> hyper::service::Service<axum::http::Request<B>> for App
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = AppFuture;

    fn call(&self, request: axum::http::Request<B>) -> AppFuture {
        // The `response` events' latency (the request metrics time requests themselves):
        // not measured when no event would carry it.
        let started = tracing::level_enabled!(tracing::Level::INFO).then(Instant::now);
        let (mut parts, body) = request.into_parts();
        if let Some(peer) = self.peer {
            parts.extensions.insert(axum::extract::ConnectInfo(peer));
        }
        let id = match parts.headers.get(&REQUEST_ID) {
            Some(id) => id.clone(),
            None => {
                let id = random_request_id();
                parts.headers.insert(REQUEST_ID, id.clone());
                id
            }
        };
        let span = tracing::info_span!(
            "request",
            method = %parts.method,
            route = tracing::field::Empty,
            request_id = id.to_str().unwrap_or_default(),
        );
        let shared = self.inner.shared.load_full();
        let in_flight = self.activity.as_ref().map(|activity| activity.request());
        let refused = if shared.guards.any() {
            shared.guards.check(&parts, self.peer)
        } else {
            None
        };
        let http1 = parts.version <= axum::http::Version::HTTP_11;
        let limit = shared.limit;
        let declared = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        let too_large = declared.is_some_and(|length| length > limit as u64);
        // Bodies that are known to be empty (most GETs) need no limit.
        let mut slow = None;
        let body = if body.is_end_stream() {
            Body::empty()
        } else if let Some((rate, grace)) = shared.body_rate {
            let flag = SlowBody::default();
            slow = Some(flag.clone());
            Body::new(Limited::new(MinRate::new(body, rate, grace, flag), limit))
        } else {
            Body::new(Limited::new(body, limit))
        };
        let stats = Arc::clone(&self.inner.stats);
        let request = Request::from_parts(parts, body);
        let compress = request.headers().contains_key(header::ACCEPT_ENCODING);
        Box::pin(
            async move {
                tracing::debug!("started processing request");
                let _in_flight = in_flight;
                let response = if let Some(refused) = refused {
                    refused
                } else if too_large {
                    body_too_large(limit)
                } else {
                    let routed =
                        AssertUnwindSafe(shared.api.call(request, compress, &shared.compressible));
                    match tokio::time::timeout(shared.timeout, routed.catch_unwind()).await {
                        Ok(Ok(response)) => as_problem(&shared, response),
                        Ok(Err(panic)) => panic_response(panic),
                        Err(_elapsed) => timed_out(shared.timeout),
                    }
                };
                let response = match slow {
                    Some(slow) if slow.is_raised() => {
                        stats.close(Closed::Body);
                        body_too_slow(&shared, http1)
                    }
                    _ => response,
                };
                let response = finish(response, id, shared.hsts.as_ref());
                let status = response.status().as_u16();
                match started.map(|t| t.elapsed().as_secs_f64() * 1e3) {
                    Some(latency_ms) if response.status().is_server_error() => {
                        tracing::error!(status, latency_ms, "response failed");
                    }
                    Some(latency_ms) => tracing::info!(status, latency_ms, "response"),
                    None if response.status().is_server_error() => {
                        tracing::error!(status, "response failed");
                    }
                    None => {}
                }
                Ok(response)
            }
            .instrument(span),
        )
    }
}

impl Api {
    /// Routes `request`, through compression when `compress`. Panics of the routes'
    /// synchronous parts are caught with those of their futures.
    ///
    /// An answer that compression would have compressed, had the client accepted an
    /// encoding, says `Vary: accept-encoding` either way (as tower-http's compression
    /// does), so that caches keep the identity and the compressed variants apart.
    async fn call(&self, request: Request, compress: bool, compressible: &Compress) -> Response {
        match (self, compress) {
            (Api::Plain { bare, .. }, false) => {
                vary_on_encoding(compressible, route(bare, request).await)
            }
            (Api::Plain { compressed, .. }, true) => route(compressed, request).await,
            (Api::Cors { bare, .. }, false) => {
                vary_on_encoding(compressible, route(bare, request).await)
            }
            (Api::Cors { compressed, .. }, true) => route(compressed, request).await,
        }
    }
}

/// `request` through (a clone of) `service`, whatever its body type.
async fn route<S, B>(service: &S, request: Request) -> Response
where
    S: tower::Service<Request, Response = axum::http::Response<B>, Error = Infallible> + Clone,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let Ok(response) = tower::ServiceExt::oneshot(service.clone(), request).await;
    // No second box for a body that is a `Body` already.
    response.map(Body::new)
}

/// Adds `Vary: accept-encoding` to an uncompressed answer that compression would have
/// compressed (the same test as tower-http's: not already encoded, not a range, and the
/// predicate's content type and size).
fn vary_on_encoding(compressible: &Compress, mut response: Response) -> Response {
    let headers = response.headers();
    if headers.contains_key(header::CONTENT_ENCODING)
        || headers.contains_key(header::CONTENT_RANGE)
        || !compressible.should_compress(&response)
    {
        return response;
    }
    let varies = headers.get_all(header::VARY).iter().any(|value| {
        value
            .as_bytes()
            .split(|&b| b == b',')
            .any(|part| part.trim_ascii().eq_ignore_ascii_case(b"accept-encoding"))
    });
    if !varies {
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    response
}

/// The security headers and the request id of every response.
fn finish(mut response: Response, id: HeaderValue, hsts: Option<&HeaderValue>) -> Response {
    let headers = response.headers_mut();
    if let Some(hsts) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The docs page and asset bytes set policies of their own.
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    if !headers.contains_key(&REQUEST_ID) {
        headers.insert(REQUEST_ID, id);
    }
    response
}

fn cors(config: &Config) -> Option<CorsLayer> {
    if config.cors_origins.is_empty() {
        return None;
    }
    let origins = if config.cors_origins.iter().any(|o| o == "*") {
        AllowOrigin::any()
    } else {
        let list = config
            .cors_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect::<Vec<_>>();
        AllowOrigin::list(list)
    };
    let mut allow_headers = vec![
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        HeaderName::from_static("idempotency-key"),
    ];
    if let Ok(name) = HeaderName::from_bytes(config.api_key_header.as_bytes()) {
        allow_headers.push(name);
    }
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers(allow_headers)
            .expose_headers([
                header::ETAG,
                header::LOCATION,
                header::RETRY_AFTER,
                REQUEST_ID,
            ])
            .max_age(Duration::from_secs(600)),
    )
}

/// A caught panic becomes a problem+json 500; the panic message is logged, not sent.
fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    ApiError::new(spv::Error::internal(format!("handler panicked: {message}"))).into_response()
}

fn body_too_large(limit: usize) -> Response {
    ApiError::with_status(
        spv::Error::new(
            spv::ErrorKind::LimitExceeded,
            format!("request body is larger than {limit} bytes (SPV_BODY_LIMIT_BYTES)"),
        ),
        StatusCode::PAYLOAD_TOO_LARGE,
    )
    .into_response()
}

/// A body slower than the minimum rate: 408, and on HTTP/1.1 the connection closes
/// (the rest of the body will not be read).
fn body_too_slow(shared: &Shared, http1: bool) -> Response {
    let rate = shared.body_rate.map_or(0, |(rate, _)| rate);
    let mut response = ApiError::with_status(
        spv::Error::new(
            spv::ErrorKind::InvalidRequest,
            format!(
                "the request body arrived slower than {rate} bytes per second (SPV_BODY_MIN_RATE_BYTES)"
            ),
        ),
        StatusCode::REQUEST_TIMEOUT,
    )
    .into_response();
    if http1 {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

fn timed_out(timeout: Duration) -> Response {
    ApiError::with_status(
        spv::Error::new(
            spv::ErrorKind::RenderTimeout,
            format!(
                "the request took longer than {} s (SPV_REQUEST_TIMEOUT_SECS)",
                timeout.as_secs()
            ),
        ),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .into_response()
}

/// A bare 413 from below (axum's extractors answer so when a streamed body passes the
/// limit) becomes problem+json like every other error.
fn as_problem(shared: &Shared, response: Response) -> Response {
    if response.status() != StatusCode::PAYLOAD_TOO_LARGE {
        return response;
    }
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        response
    } else {
        body_too_large(shared.limit)
    }
}

/// A random UUID (version 4) from the thread's random generator, without the system
/// call per request that `Uuid::new_v4` makes.
fn random_request_id() -> HeaderValue {
    let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = uuid::Uuid::encode_buffer();
    let text = uuid.hyphenated().encode_lower(&mut text);
    HeaderValue::from_str(text).unwrap_or_else(|_| HeaderValue::from_static("unknown"))
}

#[cfg(test)]
mod tests {
    use axum::routing::{get, post};
    use http_body_util::BodyExt as _;
    use hyper::service::Service as _;

    use super::*;

    fn app_with(edit: impl FnOnce(&mut Config), routes: Router) -> App {
        let mut config = Config::default();
        edit(&mut config);
        App::new(&config, routes, Arc::default())
    }

    fn routes() -> Router {
        async fn panics() -> &'static str {
            panic!("a test panic")
        }
        async fn slow() -> &'static str {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "late"
        }
        async fn echo(body: Bytes) -> Bytes {
            body
        }
        async fn json() -> Response {
            (
                [(header::CONTENT_TYPE, "application/json")],
                format!("[{}]", "1,".repeat(500) + "1"),
            )
                .into_response()
        }
        async fn image() -> Response {
            ([(header::CONTENT_TYPE, "image/png")], vec![0u8; 500]).into_response()
        }
        Router::new()
            .route("/image", get(image))
            .route("/panic", get(panics))
            .route("/slow", get(slow))
            .route("/echo", post(echo))
            .route("/json", get(json))
    }

    async fn problem(response: Response) -> serde_json::Value {
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        serde_json::from_slice(&bytes).unwrap()
    }

    fn get_request(path: &str) -> axum::http::Request<Body> {
        axum::http::Request::get(path).body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn a_panic_is_a_500_problem_with_the_security_headers() {
        let app = app_with(|_| {}, routes());
        let response = app.call(get_request("/panic")).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[header::X_FRAME_OPTIONS], "DENY");
        assert_eq!(response.headers()[&REQUEST_ID].len(), 36);
        let problem = problem(response).await;
        assert!(
            !problem.to_string().contains("a test panic"),
            "the panic message is not sent: {problem}"
        );
    }

    #[tokio::test]
    async fn a_slow_request_is_a_503_problem_naming_the_setting() {
        let app = app_with(|c| c.request_timeout_secs = 1, routes());
        let response = app.call(get_request("/slow")).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let problem = problem(response).await;
        assert!(
            problem["detail"]
                .as_str()
                .unwrap()
                .contains("SPV_REQUEST_TIMEOUT_SECS"),
            "{problem}"
        );
    }

    #[tokio::test]
    async fn bodies_over_the_limit_are_413_problems_declared_or_streamed() {
        let app = app_with(|c| c.body_limit_bytes = 100, routes());
        let declared = axum::http::Request::post("/echo")
            .header(header::CONTENT_LENGTH, "5000")
            .body(Body::from(vec![b'x'; 5000]))
            .unwrap();
        let response = app.call(declared).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            problem(response).await["detail"]
                .as_str()
                .unwrap()
                .contains("100 bytes")
        );

        // No Content-Length: the limit cuts the stream.
        let chunks = futures_util::stream::iter(
            (0..10).map(|_| Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; 50]))),
        );
        let streamed = axum::http::Request::post("/echo")
            .body(Body::from_stream(chunks))
            .unwrap();
        let response = app.call(streamed).await.unwrap();
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(
            problem(response).await["detail"]
                .as_str()
                .unwrap()
                .contains("100 bytes")
        );

        let small = axum::http::Request::post("/echo")
            .body(Body::from("hello"))
            .unwrap();
        let response = app.call(small).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&bytes[..], b"hello");
    }

    #[tokio::test]
    async fn compression_only_for_clients_that_accept_it() {
        let app = app_with(|_| {}, routes());
        let plain = app.call(get_request("/json")).await.unwrap();
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(
            plain.headers()[header::VARY],
            "accept-encoding",
            "caches keep the variants apart"
        );
        let image = app.call(get_request("/image")).await.unwrap();
        assert!(
            image.headers().get(header::VARY).is_none(),
            "images never vary"
        );
        let request = axum::http::Request::get("/json")
            .header(header::ACCEPT_ENCODING, "gzip")
            .body(Body::empty())
            .unwrap();
        let gzipped = app.call(request).await.unwrap();
        assert_eq!(gzipped.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(gzipped.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }

    #[tokio::test]
    async fn request_ids_are_kept_or_made() {
        let app = app_with(|_| {}, routes());
        let request = axum::http::Request::get("/json")
            .header(&REQUEST_ID, "abc-123")
            .body(Body::empty())
            .unwrap();
        let response = app.call(request).await.unwrap();
        assert_eq!(response.headers()[&REQUEST_ID], "abc-123");
        let first = app.call(get_request("/json")).await.unwrap();
        let second = app.call(get_request("/json")).await.unwrap();
        assert_ne!(first.headers()[&REQUEST_ID], second.headers()[&REQUEST_ID]);
    }
}
