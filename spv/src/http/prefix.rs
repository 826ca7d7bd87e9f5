//! [`MountPrefix`]: where the routers are mounted, so that the links they answer with
//! (`Location`, gallery thumbnail URLs) stay right when a host application nests them
//! (`Router::new().nest("/spv", spv::http::api(state))`).

use std::convert::Infallible;

use axum::extract::{FromRequestParts, OriginalUri};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::Response;

/// The path prefix the request was routed under: `""` at the root, `"/spv"` when nested.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MountPrefix(pub(crate) String);

impl MountPrefix {
    /// `path` (absolute, as the routes spell it) under the prefix.
    pub(crate) fn link(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// Sets `Location` to `path` under the prefix.
    pub(crate) fn set_location(&self, response: &mut Response, path: &str) {
        if let Ok(value) = HeaderValue::from_str(&self.link(path)) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for MountPrefix {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Infallible> {
        let routed = parts.uri.path();
        let prefix = parts
            .extensions
            .get::<OriginalUri>()
            .and_then(|OriginalUri(original)| original.path().strip_suffix(routed))
            .unwrap_or_default();
        Ok(MountPrefix(prefix.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt as _;

    use super::*;

    async fn prefix_of(app: Router, path: &str) -> String {
        let response = app
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let bytes = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn the_prefix_is_what_nesting_stripped() {
        let inner =
            || Router::new().route("/a/{id}", get(|p: MountPrefix| async move { p.link("/x") }));
        assert_eq!(prefix_of(inner(), "/a/1").await, "/x");
        let nested = Router::new().nest("/spv", inner());
        assert_eq!(prefix_of(nested, "/spv/a/1").await, "/spv/x");
        let deeper = Router::new().nest("/v/spv", Router::new().merge(inner()));
        assert_eq!(prefix_of(deeper, "/v/spv/a/1").await, "/v/spv/x");
    }
}
