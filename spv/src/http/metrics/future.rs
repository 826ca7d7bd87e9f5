//! [`TrackFuture`]: the response future of [`Track`](super::Track).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Instant;

use axum::body::HttpBody as _;
use axum::response::Response;
use pin_project_lite::pin_project;

use super::Metrics;
use super::labels::RequestLabels;

pin_project! {
    /// The response future of [`Track`](super::Track): the wrapped service's future, and
    /// the request's metrics recorded when it answers.
    pub(crate) struct TrackFuture<F> {
        #[pin]
        inner: F,
        in_flight: InFlight,
    }
}

impl<F> TrackFuture<F> {
    pub(super) fn new(inner: F, in_flight: InFlight) -> Self {
        TrackFuture { inner, in_flight }
    }
}

impl<F> Future for TrackFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        this.in_flight.finish(&response);
        Poll::Ready(Ok(response))
    }
}

/// One request counted in flight: taken off the gauge when it answers, or when it is
/// dropped unanswered (a dropped connection).
pub(super) struct InFlight {
    metrics: Metrics,
    started: Instant,
    method: &'static str,
    route: &'static str,
    counted: bool,
}

impl InFlight {
    /// Counts a request that began at `started` in flight.
    pub(super) fn start(
        metrics: Metrics,
        started: Instant,
        method: &'static str,
        route: &'static str,
    ) -> Self {
        metrics.inner.in_flight.inc();
        InFlight {
            metrics,
            started,
            method,
            route,
            counted: true,
        }
    }

    /// Records the request's latency by status and the bytes of its body (when known),
    /// and takes it off the in-flight gauge.
    fn finish(&mut self, response: &Response) {
        let inner = &self.metrics.inner;
        let labels = RequestLabels {
            method: self.method,
            route: self.route,
            status: response.status().as_u16(),
        };
        inner
            .requests
            .get_or_create(&labels)
            .observe(self.started.elapsed().as_secs_f64());
        if let Some(bytes) = response.body().size_hint().exact() {
            inner.bytes_served.inc_by(bytes);
        }
        self.leave();
    }

    fn leave(&mut self) {
        if std::mem::take(&mut self.counted) {
            self.metrics.inner.in_flight.dec();
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.leave();
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::extract::Request;
    use tower::{Layer as _, Service as _, ServiceExt as _};

    use super::super::TrackLayer;
    use super::*;

    fn gauge(metrics: &Metrics) -> String {
        let text = metrics.encode();
        text.lines()
            .find(|line| line.starts_with("spv_http_requests_in_flight "))
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test]
    async fn requests_are_recorded_and_leave_the_gauge_however_they_end() {
        let metrics = Metrics::new();
        let route = tower::service_fn(|_: Request| async {
            Ok::<_, Infallible>(Response::new(Body::from("abc")))
        });
        let mut service = TrackLayer::new(metrics.clone()).layer(route);
        let response = service.clone().oneshot(Request::new(Body::empty()));
        fn send_static<T: Send + 'static>(_: &T) {}
        send_static(&response);
        assert_eq!(response.await.unwrap().status(), 200);
        let text = metrics.encode();
        assert!(
            text.contains(
                "spv_http_request_duration_seconds_count{method=\"GET\",route=\"unmatched\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("spv_http_response_body_bytes_total 3"),
            "{text}"
        );
        assert_eq!(gauge(&metrics), "spv_http_requests_in_flight 0");

        // Regression: a request dropped before it answers (a closed connection) leaves
        // the gauge too.
        let future = service
            .ready()
            .await
            .unwrap()
            .call(Request::new(Body::empty()));
        assert_eq!(gauge(&metrics), "spv_http_requests_in_flight 1");
        drop(future);
        assert_eq!(gauge(&metrics), "spv_http_requests_in_flight 0");
        let _: &_ = service.get_ref();
    }
}
