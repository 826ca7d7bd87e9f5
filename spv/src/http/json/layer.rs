//! [`FinishJsonLayer`]: applies [`FinishJson`] to a service.

use super::FinishJson;

/// The layer of [`FinishJson`]: problem `instance` and `?pretty` for every response of
/// the service it wraps. It has no settings.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FinishJsonLayer;

impl FinishJsonLayer {
    /// The layer.
    pub(crate) fn new() -> Self {
        FinishJsonLayer
    }
}

impl<S> tower::Layer<S> for FinishJsonLayer {
    type Service = FinishJson<S>;

    fn layer(&self, inner: S) -> FinishJson<S> {
        FinishJson::new(inner)
    }
}
