//! [`Track`]: the service of the request-metrics middleware.

use std::convert::Infallible;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;

use super::future::InFlight;
use super::labels::{method_label, route_label};
use super::{Metrics, TrackFuture, TrackLayer};

/// Records each request of `S` in [`Metrics`]: its latency by method, matched route and
/// status, the requests in flight and the body bytes served.
///
/// Hand-written rather than `axum::middleware::from_fn` (which clones the boxed route and
/// boxes a future per request): per request it takes one reference count of the metrics
/// and makes its labels without allocating.
#[derive(Clone, Debug)]
pub(crate) struct Track<S> {
    inner: S,
    metrics: Metrics,
}

impl<S> Track<S> {
    /// Wraps `inner`, recording its requests in `metrics`.
    pub(crate) fn new(inner: S, metrics: Metrics) -> Self {
        Track { inner, metrics }
    }

    /// The layer that wraps services in [`Track`].
    #[allow(
        dead_code,
        reason = "tower-http's shape: `api` builds the layer itself"
    )]
    pub(crate) fn layer(metrics: Metrics) -> TrackLayer {
        TrackLayer::new(metrics)
    }

    /// The wrapped service.
    #[allow(dead_code, reason = "tower-http's shape: kept for tests and callers")]
    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, unwrapped.
    #[allow(dead_code, reason = "tower-http's shape: kept for tests and callers")]
    pub(crate) fn into_inner(self) -> S {
        self.inner
    }
}

impl<S> tower::Service<Request> for Track<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = TrackFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let method = method_label(request.method());
        let route = route_label(request.extensions().get::<MatchedPath>());
        // The request span of a server (spv-server's, at INFO) is made before routing;
        // the route is known here. A no-op where the span has no such field.
        if tracing::level_enabled!(tracing::Level::INFO) {
            tracing::Span::current().record("route", route);
        }
        let in_flight = InFlight::start(self.metrics.clone(), started, method, route);
        TrackFuture::new(self.inner.call(request), in_flight)
    }
}
