//! Tiny local servers that answer what a test needs (busy, 401, never), counting hits.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use spv::api::{Job, JobState};
use time::OffsetDateTime;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// A counter shared by a mock's handlers and its test.
#[derive(Clone, Default)]
pub(crate) struct Hits(Arc<AtomicUsize>);

impl Hits {
    /// Counts one; answers the count before it (0 for the first hit).
    pub(crate) fn next(&self) -> usize {
        self.0.fetch_add(1, Ordering::SeqCst)
    }

    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// A server of `router` on 127.0.0.1:0 (bound before spawning); answers its base URL.
pub(crate) async fn serve(router: Router) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (format!("http://{addr}"), task)
}

/// A problem+json answer as spv's server writes them.
pub(crate) fn problem(status: StatusCode, code: &str, detail: &str) -> Response {
    let body = json!({
        "type": format!("urn:spv:problem:{code}"),
        "title": "t",
        "status": status.as_u16(),
        "detail": detail,
        "code": code,
    });
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        )],
        body.to_string(),
    )
        .into_response()
}

/// 503 with `Retry-After: retry_after`.
pub(crate) fn busy(retry_after: &'static str) -> Response {
    let mut response = problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "overloaded",
        "busy, try later",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static(retry_after));
    response
}

/// A job in `state`, as the server would show it.
pub(crate) fn job(id: Uuid, state: JobState, progress: f32) -> Job {
    let now = OffsetDateTime::now_utc();
    Job {
        id,
        kind: "render".into(),
        payload: json!({}),
        owner_id: None,
        idempotency_key: None,
        state,
        attempts: 1,
        run_at: now,
        lease_until: None,
        worker_id: None,
        progress,
        progress_message: None,
        result: None,
        error: None,
        cancel_requested: false,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
    }
}

/// A token answer whose access token is `access`.
pub(crate) fn tokens(access: &str, refresh: &str) -> Response {
    axum::Json(json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": 900,
        "refresh_token": refresh,
        "scope": "admin",
    }))
    .into_response()
}
