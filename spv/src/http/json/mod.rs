//! The JSON finishing middleware: problem `instance` and `?pretty`.

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use super::problem::{PendingProblem, problem_response};

/// JSON bodies larger than this are passed through without pretty-printing.
const PRETTY_LIMIT: usize = 16 * 1024 * 1024;

/// Marks a response this middleware has seen, so nested routers finish it once.
#[derive(Clone, Copy, Debug)]
struct Finished;

/// Whether the query asks for pretty JSON: `?pretty`, `?pretty=true` or `?pretty=1`.
pub(crate) fn wants_pretty(query: Option<&str>) -> bool {
    // Nearly every query lacks the word: one substring search decides those.
    query.is_some_and(|q| {
        q.contains("pretty")
            && q.split('&')
                .any(|pair| matches!(pair, "pretty" | "pretty=" | "pretty=true" | "pretty=1"))
    })
}

/// The JSON finishing of every router of spv: problem responses get the request path as
/// `instance`, and JSON responses are pretty-printed when the query has `pretty`.
///
/// A hand-written service rather than `axum::middleware::from_fn`, which clones the boxed
/// route and boxes a future per request: the route layer of the request metrics
/// ([`Track`](super::metrics::Track)) without metrics, calling the route directly and
/// keeping the request's URI (a reference count) for the problem's `instance`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct FinishJsonLayer;

impl<S> tower::Layer<S> for FinishJsonLayer {
    type Service = super::metrics::Track<S>;

    fn layer(&self, inner: S) -> Self::Service {
        super::metrics::Track::new(inner, None)
    }
}

/// The future of spv's hand-written route layer ([`Track`](super::metrics::Track)).
pub(crate) type RouteFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<Response, std::convert::Infallible>> + Send>>;

/// Completes problem responses with the request path as `instance`, and pretty-prints
/// JSON responses when the query has `pretty`.
pub(crate) async fn finish(uri: &axum::http::Uri, mut response: Response) -> Response {
    // Marked only when changed (the common answer passes through untouched, without an
    // extension map allocated for the mark): a second finishing would find nothing left
    // to do but pretty-print again.
    if response.extensions().get::<Finished>().is_some() {
        return response;
    }
    let pretty = wants_pretty(uri.query());
    if let Some(PendingProblem(mut problem)) = response.extensions_mut().remove::<PendingProblem>()
    {
        problem.instance = Some(uri.path().to_owned());
        let mut finished = problem_response(&problem, pretty);
        finished.extensions_mut().insert(Finished);
        for (name, value) in response.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                finished.headers_mut().insert(name.clone(), value.clone());
            }
        }
        return finished;
    }
    if !pretty {
        return response;
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.contains("+json"));
    if !is_json {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts.extensions.insert(Finished);
    let Ok(bytes) = axum::body::to_bytes(body, PRETTY_LIMIT).await else {
        // The body was cut off; an empty answer is all that can be said.
        parts.headers.remove(header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    };
    let pretty_bytes = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|value| serde_json::to_vec_pretty(&value).ok());
    let bytes = pretty_bytes.map_or(bytes, Into::into);
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Ok(len) = HeaderValue::from_str(&bytes.len().to_string()) {
        parts.headers.insert(header::CONTENT_LENGTH, len);
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pretty_query_forms() {
        assert!(wants_pretty(Some("pretty")));
        assert!(wants_pretty(Some("a=1&pretty=true")));
        assert!(!wants_pretty(Some("pretty=false")));
        assert!(!wants_pretty(Some("prettyish")));
        assert!(!wants_pretty(None));
    }
}
