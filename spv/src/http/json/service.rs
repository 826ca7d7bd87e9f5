//! [`FinishJson`]: the service of the JSON finishing middleware.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::response::Response;

use super::{FinishJsonFuture, FinishJsonLayer};

/// Finishes every response of `S`: problem responses get the request path as `instance`,
/// JSON responses are pretty-printed when the query has `pretty`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FinishJson<S> {
    inner: S,
}

impl<S> FinishJson<S> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: S) -> Self {
        FinishJson { inner }
    }

    /// The layer that wraps services in [`FinishJson`].
    #[allow(dead_code, reason = "tower-http's shape: routers use the layer")]
    pub(crate) fn layer() -> FinishJsonLayer {
        FinishJsonLayer::new()
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

impl<S> tower::Service<Request> for FinishJson<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = FinishJsonFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // The URI is a few reference counts: cloned, not copied, for the `instance`.
        let uri = request.uri().clone();
        FinishJsonFuture::new(self.inner.call(request), uri)
    }
}
