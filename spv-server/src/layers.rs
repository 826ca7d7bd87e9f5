//! The tower-http layers around `spv::http::api`.
//!
//! Outermost first: request id (set and propagated as `x-request-id`), a trace span
//! per request, security headers, panic catching (a problem+json 500), CORS,
//! compression (gzip, br, zstd; never images or event streams), timeout, body limit.
//! Security headers sit outside the rest so that every answer carries them, including
//! timeouts and caught panics. No `Server` header is ever sent.

use std::any::Any;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{
    Extensions, HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Version, header,
};
use axum::response::{IntoResponse, Response};
use spv::config::Config;
use spv::http::{ApiError, AppState};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{DefaultPredicate, Predicate as _};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::{RequestBodyLimitLayer, ResponseBody};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

/// The strict policy of every response but the docs page.
const CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// `spv::http::api(state)` wrapped in the server's layers (see the module docs).
///
/// The layers are composed into one service around the API router, not applied with
/// `Router::layer` (which wraps and boxes every route separately, so each request would
/// clone the whole boxed stack): that halved the throughput of a cheap GET. The request
/// span's `route` is recorded by the API's metrics middleware once the request is routed.
pub fn app(config: &Config, state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let (limit, timeout_secs) = (config.body_limit_bytes, config.request_timeout_secs);
    let stack = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), RandomRequestId))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &Request| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!(
                        "request",
                        method = %request.method(),
                        route = tracing::field::Empty,
                        request_id = id
                    )
                })
                .on_response(
                    |response: &Response<_>, latency: Duration, _span: &tracing::Span| {
                        tracing::info!(
                            status = response.status().as_u16(),
                            latency_ms = latency.as_secs_f64() * 1e3,
                            "response"
                        );
                    },
                ),
        )
        .layer(PropagateRequestIdLayer::new(request_id))
        // One step for the four security headers (four `SetResponseHeaderLayer`s cost
        // four futures per request).
        .map_response(security_headers)
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(CompressionLayer::new().compress_when(
            // Asset bytes carry a strong ETag of their identity bytes and serve ranges of
            // them: a compressed variant under the same validator would corrupt ranged
            // and revalidated downloads (RFC 9110 §8.8.3).
            DefaultPredicate::new().and(
                |_: StatusCode, _: Version, headers: &HeaderMap, _: &Extensions| {
                    !headers.contains_key(header::ACCEPT_RANGES)
                },
            ),
        ))
        .map_response(move |response: Response| {
            bare_errors_as_problems(limit, timeout_secs, response)
        })
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(config.request_timeout_secs),
        ))
        .map_response(move |response: Response<ResponseBody<Body>>| {
            bare_errors_as_problems(limit, timeout_secs, response)
        })
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes))
        .service(spv::http::api(state));
    let router = Router::new().fallback_service(stack);
    // Outermost when configured: preflights are answered before anything else runs.
    match cors(config) {
        Some(cors) => router.layer(cors),
        None => router,
    }
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
                HeaderName::from_static("x-request-id"),
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

/// The body limit's 413 and the timeout's 503 come from tower-http as bare responses;
/// clients get problem+json like every other error.
fn bare_errors_as_problems<B>(limit: usize, timeout: u64, response: Response<B>) -> Response
where
    B: axum::body::HttpBody<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    let is_problem = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|ct| ct.as_bytes().starts_with(b"application/problem+json"));
    if is_problem {
        return response.map(Body::new);
    }
    let error = match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE => spv::Error::new(
            spv::ErrorKind::LimitExceeded,
            format!("request body is larger than {limit} bytes (SPV_BODY_LIMIT_BYTES)"),
        ),
        StatusCode::SERVICE_UNAVAILABLE => spv::Error::new(
            spv::ErrorKind::RenderTimeout,
            format!("the request took longer than {timeout} s (SPV_REQUEST_TIMEOUT_SECS)"),
        ),
        _ => return response.map(Body::new),
    };
    ApiError::with_status(error, response.status()).into_response()
}

/// Request ids: random UUIDs (version 4) from the thread's random generator, without the
/// system call per request that `tower_http`'s `MakeRequestUuid` (`Uuid::new_v4`) makes.
#[derive(Clone, Copy, Debug, Default)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        let mut text = uuid::Uuid::encode_buffer();
        HeaderValue::from_str(uuid.hyphenated().encode_lower(&mut text))
            .ok()
            .map(RequestId::new)
    }
}

/// The security headers of every response: `nosniff`, `DENY` framing, no referrer, and
/// the strict content security policy unless the response has a policy of its own (the
/// docs page, asset bytes).
fn security_headers<B>(mut response: Response<B>) -> Response<B> {
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    response
}
