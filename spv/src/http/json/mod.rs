//! The JSON finishing middleware: problem `instance` and `?pretty`, for every router of
//! spv.
//!
//! | item | what it is |
//! |---|---|
//! | [`FinishJsonLayer`] | the layer (no settings) |
//! | [`FinishJson`] | the service: finishes each response of the service it wraps |
//! | [`FinishJsonFuture`] | its response future, named: no boxing per request |
//!
//! Problem responses (an [`ApiError`](super::ApiError) carries its problem as a
//! [`PendingProblem`] extension) get the request path as `instance`; JSON responses are
//! pretty-printed when the query has `pretty`.
//!
//! A hand-written middleware rather than `axum::middleware::from_fn`, which clones the
//! boxed route and boxes a future per request: it keeps the request's URI (a reference
//! count) for the problem's `instance` and boxes only a body it pretty-prints.

mod future;
mod layer;
mod service;

use axum::body::Body;
use axum::http::{HeaderValue, header};
use axum::response::Response;

use super::problem::{PendingProblem, problem_response};

pub(crate) use future::FinishJsonFuture;
pub(crate) use layer::FinishJsonLayer;
pub(crate) use service::FinishJson;

/// JSON bodies larger than this are passed through without pretty-printing.
const PRETTY_LIMIT: usize = 16 * 1024 * 1024;

/// Marks a response this middleware has changed, so nested routers finish it once.
#[derive(Clone, Copy, Debug)]
struct Done;

/// Whether the query asks for pretty JSON: `?pretty`, `?pretty=true` or `?pretty=1`.
fn wants_pretty(query: Option<&str>) -> bool {
    // Nearly every query lacks the word: one substring search decides those.
    query.is_some_and(|q| {
        q.contains("pretty")
            && q.split('&')
                .any(|pair| matches!(pair, "pretty" | "pretty=" | "pretty=true" | "pretty=1"))
    })
}

/// What [`finish`] leaves to do: nothing, or pretty-printing the body.
enum Finished {
    /// The response as it goes out.
    Done(Response),
    /// A JSON response whose body is to be pretty-printed ([`pretty_print`]).
    Pretty(Response),
}

/// Completes problem responses with the request path as `instance`, and says whether a
/// JSON response is to be pretty-printed (the query has `pretty`). Synchronous: only
/// pretty-printing reads a body, and that is rare.
fn finish(uri: &axum::http::Uri, mut response: Response) -> Finished {
    // Marked only when changed (the common answer passes through untouched, without an
    // extension map allocated for the mark): a second finishing would find nothing left
    // to do but pretty-print again.
    if response.extensions().get::<Done>().is_some() {
        return Finished::Done(response);
    }
    let pretty = wants_pretty(uri.query());
    if let Some(PendingProblem(mut problem)) = response.extensions_mut().remove::<PendingProblem>()
    {
        problem.instance = Some(uri.path().to_owned());
        let mut finished = problem_response(&problem, pretty);
        finished.extensions_mut().insert(Done);
        for (name, value) in response.headers() {
            if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
                finished.headers_mut().insert(name.clone(), value.clone());
            }
        }
        return Finished::Done(finished);
    }
    if !pretty {
        return Finished::Done(response);
    }
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json") || ct.contains("+json"));
    if is_json {
        Finished::Pretty(response)
    } else {
        Finished::Done(response)
    }
}

/// Pretty-prints the body of a JSON response (one that is not valid JSON passes as it
/// was).
async fn pretty_print(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    parts.extensions.insert(Done);
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
    use axum::extract::Request;
    use tower::{Layer as _, ServiceExt as _};

    use super::*;
    use crate::http::ApiError;

    /// A route answering `response()`, wrapped in the middleware.
    fn finished(
        response: fn() -> Response,
    ) -> FinishJson<
        impl tower::Service<
            Request,
            Response = Response,
            Error = std::convert::Infallible,
            Future: Send + 'static,
        > + Clone,
    > {
        let route = tower::service_fn(move |_: Request| async move { Ok(response()) });
        FinishJsonLayer::new().layer(route)
    }

    async fn body_text(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[test]
    fn the_future_is_send_and_static() {
        fn send_static<T: Send + 'static>(_: &T) {}
        let service = finished(Response::default);
        send_static(&service.clone().oneshot(Request::new(Body::empty())));
        let _: &_ = service.get_ref();
        let _ = service.into_inner();
    }

    #[tokio::test]
    async fn problems_get_the_path_as_instance() {
        let service = finished(|| {
            axum::response::IntoResponse::into_response(ApiError::new(crate::Error::new(
                crate::ErrorKind::NotFound,
                "nothing here",
            )))
        });
        let request = Request::builder()
            .uri("/a/b?x=1")
            .body(Body::empty())
            .unwrap();
        let response = service.oneshot(request).await.unwrap();
        let problem: serde_json::Value = serde_json::from_str(&body_text(response).await).unwrap();
        assert_eq!(problem["instance"], "/a/b");
    }

    #[tokio::test]
    async fn pretty_asks_for_indented_json_with_its_length() {
        let service = finished(|| {
            axum::response::IntoResponse::into_response(axum::Json(serde_json::json!({"a": 1})))
        });
        let request = Request::builder()
            .uri("/x?pretty")
            .body(Body::empty())
            .unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        let length = response.headers()[header::CONTENT_LENGTH].clone();
        let text = body_text(response).await;
        assert_eq!(text, "{\n  \"a\": 1\n}");
        assert_eq!(length, text.len().to_string().as_str());
        let request = Request::builder().uri("/x").body(Body::empty()).unwrap();
        let text = body_text(service.oneshot(request).await.unwrap()).await;
        assert_eq!(text, "{\"a\":1}", "untouched without ?pretty");
    }

    #[test]
    fn pretty_query_forms() {
        assert!(wants_pretty(Some("pretty")));
        assert!(wants_pretty(Some("a=1&pretty=true")));
        assert!(!wants_pretty(Some("pretty=false")));
        assert!(!wants_pretty(Some("prettyish")));
        assert!(!wants_pretty(None));
    }
}
