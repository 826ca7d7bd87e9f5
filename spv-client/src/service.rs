//! The [`tower::Service`] impls of [`Client`](crate::Client): one per request type, each
//! calling the client's method for it.

use std::future::Future;
use std::pin::Pin;

/// The future of every remote call.
pub type ResponseFuture<T> = Pin<Box<dyn Future<Output = spv::Result<T>> + Send + 'static>>;

/// `impl tower::Service<Request> for Client` calling `Client::method(request)`, always
/// ready (the connection pool and the server apply backpressure).
macro_rules! remote_service {
    ($($request:ty => $response:ty, $method:ident;)+) => {
        $(
            impl tower::Service<$request> for $crate::Client {
                type Response = $response;
                type Error = spv::Error;
                type Future = $crate::service::ResponseFuture<$response>;

                fn poll_ready(
                    &mut self,
                    _cx: &mut std::task::Context<'_>,
                ) -> std::task::Poll<spv::Result<()>> {
                    std::task::Poll::Ready(Ok(()))
                }

                fn call(&mut self, request: $request) -> Self::Future {
                    let client = self.clone();
                    Box::pin(async move { client.$method(request).await })
                }
            }
        )+
    };
}
pub(crate) use remote_service;
