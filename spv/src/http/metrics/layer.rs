//! [`TrackLayer`]: applies [`Track`] to a service.

use super::{Metrics, Track};

/// The layer of [`Track`]: the request metrics of every route it wraps, in `metrics`.
///
/// [`api`](crate::http::api) applies it once around every route, outside the JSON
/// finishing ([`FinishJsonLayer`](crate::http::json::FinishJsonLayer)), so that a request is
/// measured with its finishing and its final status.
#[derive(Clone, Debug)]
pub(crate) struct TrackLayer {
    metrics: Metrics,
}

impl TrackLayer {
    /// Records requests in `metrics`.
    pub(crate) fn new(metrics: Metrics) -> Self {
        TrackLayer { metrics }
    }
}

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track::new(inner, self.metrics.clone())
    }
}
