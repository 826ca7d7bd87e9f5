//! [`FinishJsonFuture`]: the response future of [`FinishJson`](super::FinishJson).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::http::Uri;
use axum::response::Response;
use pin_project_lite::pin_project;

use super::{Finished, finish, pretty_print};

/// Pretty-printing reads the whole body; boxed, because it is rare (`?pretty`).
type Pretty = Pin<Box<dyn Future<Output = Response> + Send>>;

pin_project! {
    /// The response future of [`FinishJson`](super::FinishJson): the wrapped service's
    /// future, then (only for `?pretty` JSON) the pretty-printing of the body.
    pub(crate) struct FinishJsonFuture<F> {
        #[pin]
        inner: F,
        uri: Uri,
        pretty: Option<Pretty>,
    }
}

impl<F> FinishJsonFuture<F> {
    pub(super) fn new(inner: F, uri: Uri) -> Self {
        FinishJsonFuture {
            inner,
            uri,
            pretty: None,
        }
    }
}

impl<F> Future for FinishJsonFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(pretty) = this.pretty.as_mut() {
            return pretty.as_mut().poll(cx).map(Ok);
        }
        let response = ready!(this.inner.poll(cx))?;
        match finish(this.uri, response) {
            Finished::Done(response) => Poll::Ready(Ok(response)),
            Finished::Pretty(response) => {
                let pretty = this.pretty.insert(Box::pin(pretty_print(response)));
                pretty.as_mut().poll(cx).map(Ok)
            }
        }
    }
}
