//! Retries, token renewal after a 401, timeouts, error answers that are not problems,
//! and an event stream that breaks off, against mock servers that count attempts.

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures_util::StreamExt as _;
use spv::ErrorKind;
use spv::api::{
    CreateDocument, Document, EnqueueRender, GetDocument, GetMe, JobState, RenderJobSpec, Secret,
    UploadAsset, User, WatchJob,
};
use spv_client::{Client, ClientBuilder};
use uuid::Uuid;

use super::mock::{Hits, busy, job, problem, serve, tokens};

fn builder(base: &str) -> ClientBuilder {
    Client::builder(base)
        .retry_delays(Duration::from_millis(5), Duration::from_secs(2))
        .max_retries(3)
}

fn get_document() -> GetDocument {
    GetDocument {
        principal: None,
        id: Document::example().id,
    }
}

/// Busy `busy_answers` times, then the document.
async fn busy_then_document(State((hits, busy_answers)): State<(Hits, usize)>) -> Response {
    if hits.next() < busy_answers {
        busy("0")
    } else {
        axum::Json(Document::example()).into_response()
    }
}

#[tokio::test]
async fn idempotent_requests_are_retried_on_503_and_429() {
    let hits = Hits::default();
    let router = Router::new()
        .route("/api/v1/documents/{id}", get(busy_then_document))
        .with_state((hits.clone(), 2));
    let (base, _server) = serve(router).await;
    let doc = builder(&base)
        .build()
        .unwrap()
        .call_service(get_document())
        .await
        .unwrap();
    assert_eq!(doc, Document::example());
    assert_eq!(hits.get(), 3, "two 503s, then the answer");

    let hits = Hits::default();
    let counted = hits.clone();
    let router = Router::new().route(
        "/api/v1/documents/{id}",
        get(move || {
            let hits = counted.clone();
            async move {
                if hits.next() == 0 {
                    let mut r = problem(StatusCode::TOO_MANY_REQUESTS, "overloaded", "slow down");
                    let date = httpdate::fmt_http_date(std::time::SystemTime::now());
                    r.headers_mut()
                        .insert(header::RETRY_AFTER, date.parse().unwrap());
                    r
                } else {
                    axum::Json(Document::example()).into_response()
                }
            }
        }),
    );
    let (base, _server) = serve(router).await;
    builder(&base)
        .build()
        .unwrap()
        .call_service(get_document())
        .await
        .unwrap();
    assert_eq!(
        hits.get(),
        2,
        "one 429 with an HTTP-date Retry-After, then the answer"
    );
}

#[tokio::test]
async fn retries_end_at_the_maximum_or_a_long_retry_after() {
    let hits = Hits::default();
    let router = Router::new()
        .route("/api/v1/documents/{id}", get(busy_then_document))
        .with_state((hits.clone(), usize::MAX));
    let (base, _server) = serve(router).await;
    let err = builder(&base)
        .max_retries(2)
        .build()
        .unwrap()
        .call_service(get_document())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overloaded);
    assert_eq!(err.to_string(), "busy, try later", "the server's detail");
    assert_eq!(hits.get(), 3, "the first attempt and two retries");

    let hits = Hits::default();
    let counted = hits.clone();
    let router = Router::new().route(
        "/api/v1/documents/{id}",
        get(move || {
            counted.next();
            async { busy("120") }
        }),
    );
    let (base, _server) = serve(router).await;
    let err = builder(&base)
        .build()
        .unwrap()
        .call_service(get_document())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overloaded);
    assert_eq!(
        hits.get(),
        1,
        "Retry-After beyond the cap: no wait, no retry"
    );
}

#[tokio::test]
async fn posts_are_retried_only_with_an_idempotency_key() {
    let hits = Hits::default();
    let keys = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let (counted, seen) = (hits.clone(), keys.clone());
    let router = Router::new()
        .route(
            "/api/v1/documents",
            post({
                let hits = hits.clone();
                move || {
                    hits.next();
                    async { busy("0") }
                }
            }),
        )
        .route(
            "/api/v1/assets",
            post({
                let hits = hits.clone();
                move || {
                    hits.next();
                    async { busy("0") }
                }
            }),
        )
        .route(
            "/api/v1/jobs/render",
            post(move |headers: HeaderMap| {
                counted.next();
                let key = headers
                    .get("idempotency-key")
                    .map(|v| v.to_str().unwrap().to_owned());
                seen.lock().unwrap().extend(key);
                async { busy("0") }
            }),
        );
    let (base, _server) = serve(router).await;
    let client = builder(&base).max_retries(2).build().unwrap();

    let err = client
        .call_service(CreateDocument::new(Default::default(), b"{}".to_vec()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overloaded);
    assert_eq!(hits.get(), 1, "a POST without a key is sent once");

    let err = client
        .call_service(UploadAsset::bytes(Default::default(), vec![1, 2, 3]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Overloaded);
    assert_eq!(hits.get(), 2, "a streamed body is sent once");

    let enqueue = |key: Option<&str>| EnqueueRender {
        principal: Default::default(),
        spec: RenderJobSpec::new(Uuid::nil()),
        idempotency_key: key.map(str::to_owned),
    };
    client.call_service(enqueue(None)).await.unwrap_err();
    assert_eq!(hits.get(), 3);
    client.call_service(enqueue(Some("k-1"))).await.unwrap_err();
    assert_eq!(
        hits.get(),
        6,
        "with a key: the first attempt and two retries"
    );
    assert_eq!(*keys.lock().unwrap(), ["k-1", "k-1", "k-1"]);
}

#[tokio::test]
async fn a_401_renews_the_token_once() {
    let grants = Hits::default();
    let calls = Hits::default();
    let router = Router::new()
        .route(
            "/api/v1/auth/token",
            post({
                let grants = grants.clone();
                move || {
                    let n = grants.next() + 1;
                    async move { tokens(&format!("access-{n}"), &format!("refresh-{n}")) }
                }
            }),
        )
        .route(
            "/api/v1/users/me",
            get({
                let calls = calls.clone();
                move |headers: HeaderMap| {
                    calls.next();
                    let auth = headers[header::AUTHORIZATION].to_str().unwrap().to_owned();
                    async move {
                        // The first token "was revoked"; a never-valid one stays refused.
                        if auth == "Bearer access-2" {
                            axum::Json(serde_json::json!({
                                "id": Uuid::nil(), "username": "admin", "isAdmin": true,
                                "createdAt": "2024-01-01T00:00:00Z"}))
                            .into_response()
                        } else {
                            problem(StatusCode::UNAUTHORIZED, "unauthenticated", "token expired")
                        }
                    }
                }
            }),
        );
    let (base, _server) = serve(router).await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let hook = seen.clone();
    let client = builder(&base)
        .password("admin", Secret::new("pw"))
        .on_tokens(move |t| {
            hook.lock()
                .unwrap()
                .push(t.refresh_token.expose().to_owned())
        })
        .build()
        .unwrap();
    let me: User = client.call_service(GetMe::default()).await.unwrap();
    assert_eq!(me.username, "admin");
    assert_eq!((grants.get(), calls.get()), (2, 2));
    assert_eq!(*seen.lock().unwrap(), ["refresh-1", "refresh-2"]);

    client.call_service(GetMe::default()).await.unwrap();
    assert_eq!(grants.get(), 2, "access-2 is kept while it lives");

    // Another client gets access-3 and access-4, both refused: after one renewal the
    // 401 stands.
    let stale = builder(&base)
        .password("admin", Secret::new("pw"))
        .build()
        .unwrap();
    let err = stale.call_service(GetMe::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    assert_eq!(err.to_string(), "token expired");
    assert_eq!(grants.get(), 4, "one grant, one renewal, no loop");
}

#[tokio::test]
async fn timeouts_refusals_and_answers_that_are_not_problems() {
    let router = Router::new()
        .route(
            "/api/v1/documents/{id}",
            get(std::future::pending::<Response>),
        )
        .route(
            "/api/v1/users/me",
            get(|| async {
                (
                    StatusCode::BAD_GATEWAY,
                    [(header::CONTENT_TYPE, "text/html")],
                    "<h1>proxy error</h1>",
                )
            }),
        );
    let (base, _server) = serve(router).await;
    let client = builder(&base)
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = client.call_service(get_document()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains("timed out"), "{err}");

    let anonymous_me = client.call_service(GetMe::default()).await.unwrap_err();
    assert_eq!(anonymous_me.kind(), ErrorKind::Internal);
    let text = anonymous_me.to_string();
    assert!(
        text.contains("/api/v1/users/me") && text.contains("502"),
        "{text}"
    );

    // Nothing listens: connection errors are retried, then named.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let err = builder(&format!("http://{addr}"))
        .build()
        .unwrap()
        .call_service(get_document())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io);
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}

#[tokio::test]
async fn an_event_stream_that_breaks_off_is_resumed() {
    let id = Uuid::now_v7();
    let hits = Hits::default();
    let router = Router::new().route(
        "/api/v1/jobs/{id}/events",
        get({
            let hits = hits.clone();
            move || {
                let first = hits.next() == 0;
                async move {
                    let (name, job) = if first {
                        ("progress", job(id, JobState::Running, 0.5))
                    } else {
                        ("done", job(id, JobState::Succeeded, 1.0))
                    };
                    // The first connection ends after one event, as a dropped one would.
                    let body = format!(
                        ": hello\n\nid: 0\r\nevent: {name}\r\ndata: {}\r\n\r\n",
                        serde_json::to_string(&job).unwrap()
                    );
                    ([(header::CONTENT_TYPE, "text/event-stream")], body)
                }
            }
        }),
    );
    let (base, _server) = serve(router).await;
    let client = builder(&base).build().unwrap();
    let mut events = client
        .call_service(WatchJob {
            principal: Default::default(),
            id,
        })
        .await
        .unwrap();
    let first = events.next().await.unwrap().unwrap();
    assert_eq!((first.state, first.progress), (JobState::Running, 0.5));
    let last = events.next().await.unwrap().unwrap();
    assert_eq!(last.state, JobState::Succeeded);
    assert!(events.next().await.is_none(), "done ends the stream");
    assert_eq!(hits.get(), 2, "one reconnection");
}
