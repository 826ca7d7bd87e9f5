//! `GET /api/v1/jobs/{id}/events`: a job's progress as Server-Sent Events.
//!
//! Each change is an `event: progress` whose `data:` is the job's JSON (as `GET
//! /api/v1/jobs/{id}` answers it) until the job finishes; then one `event: done` with the
//! final job, and the stream ends. `id:` counts the events from 0. A comment every
//! [`KEEP_ALIVE`] keeps proxies from closing a quiet stream. The server never compresses
//! `text/event-stream`, so each event reaches the client as soon as it is sent.
//!
//! When the server begins to stop ([`Closing`](super::super::Closing)), open streams end
//! without `done`, so that draining connections does not wait for long jobs; a client
//! then reads the job, or follows it again once the server is back.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt as _};

use super::super::auth::Authenticated;
use super::super::extract::parse_id;
use super::super::prefix::MountPrefix;
use super::super::problem::ApiError;
use super::super::responses::{JobNotFound, LacksJobsRead, Unauthorized};
use super::super::state::AppState;
use super::{present, service};
use crate::api::{JobEvents, Scope, WatchJob};

/// How often a quiet stream gets a keep-alive comment.
pub(crate) const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Follows a job until it finishes.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/events", tag = "jobs",
    params(("id" = Uuid, Path, description = "The job's id")),
    responses(
        (status = 200, description = "Server-Sent Events: `event: progress` with the job's \
            JSON on each change, then `event: done` with the finished job; `id:` counts \
            from 0; a keep-alive comment every 15 s. A server that stops ends the stream \
            without `done`", content_type = "text/event-stream", body = String),
        Unauthorized, LacksJobsRead, JobNotFound),
    security(("bearer" = ["jobs:read"]), ("apiKey" = ["jobs:read"])))]
pub(crate) async fn job_events(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    prefix: MountPrefix,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::JobsRead)?;
    let id = parse_id("job", &id)?;
    // Access is checked here, before the 200: a job the caller may not see is a 404.
    let stream = service(&state)?.watch(WatchJob { principal, id }).await?;
    let events = events(stream, prefix).take_until(state.closing().closed());
    let sse = Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE));
    Ok(sse.into_response())
}

/// The events of `stream`: `progress` until a finished job, which is `done` and the last.
/// An error of the stream (the store failed) is logged and ends it; the client then sees
/// the stream end without `done` and may read the job again.
pub(crate) fn events(
    stream: JobEvents,
    prefix: MountPrefix,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    futures_util::stream::unfold(
        (stream, 0_u64, false),
        move |(mut stream, next_id, finished)| {
            let prefix = prefix.clone();
            async move {
                if finished {
                    return None;
                }
                let job = match stream.next().await? {
                    Ok(job) => job,
                    Err(error) => {
                        tracing::warn!(%error, "following a job failed; ending its event stream");
                        return None;
                    }
                };
                let done = job.state.is_finished();
                let name = if done { "done" } else { "progress" };
                let event = Event::default()
                    .id(next_id.to_string())
                    .event(name)
                    .json_data(present(job, &prefix));
                match event {
                    Ok(event) => Some((Ok(event), (stream, next_id + 1, done))),
                    Err(error) => {
                        tracing::error!(%error, "encoding a job event failed");
                        None
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use time::OffsetDateTime;
    use uuid::Uuid;

    use super::*;
    use crate::api::{Job, JobState};

    fn job(state: JobState, progress: f32) -> Job {
        let now = OffsetDateTime::UNIX_EPOCH;
        Job {
            id: Uuid::from_u128(9),
            kind: "render".to_owned(),
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

    async fn body_of(stream: JobEvents) -> String {
        let response = Sse::new(events(stream, MountPrefix::default())).into_response();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn progress_then_done_then_the_end() {
        let items = vec![
            Ok(job(JobState::Queued, 0.0)),
            Ok(job(JobState::Running, 0.5)),
            Ok(job(JobState::Succeeded, 1.0)),
            // Never sent: the stream ends after the finished job.
            Ok(job(JobState::Running, 0.7)),
        ];
        let body = body_of(Box::pin(futures_util::stream::iter(items))).await;
        let names: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("event: "))
            .collect();
        assert_eq!(names, ["progress", "progress", "done"], "{body}");
        let ids: Vec<&str> = body
            .lines()
            .filter_map(|l| l.strip_prefix("id: "))
            .collect();
        assert_eq!(ids, ["0", "1", "2"]);
        let last = body
            .lines()
            .filter_map(|l| l.strip_prefix("data: "))
            .next_back()
            .unwrap();
        let last: Job = serde_json::from_str(last).unwrap();
        assert_eq!(last.state, JobState::Succeeded);
    }

    #[tokio::test]
    async fn closing_ends_a_quiet_stream() {
        use super::super::super::Closing;
        let closing = Closing::default();
        let first = futures_util::stream::iter(vec![Ok(job(JobState::Running, 0.1))]);
        // After its first job this stream never yields again, like a job that waits.
        let stream: JobEvents = Box::pin(first.chain(futures_util::stream::pending()));
        let events = events(stream, MountPrefix::default()).take_until(closing.closed());
        let response = Sse::new(events).into_response();
        let mut body = response.into_body().into_data_stream();
        let first = body.next().await.unwrap().unwrap();
        assert!(
            std::str::from_utf8(&first)
                .unwrap()
                .contains("event: progress")
        );
        closing.close();
        let end = tokio::time::timeout(Duration::from_secs(10), body.next())
            .await
            .expect("the stream ends once closing");
        assert!(end.is_none(), "{end:?}");
    }

    #[tokio::test]
    async fn an_error_ends_the_stream() {
        let items = vec![
            Ok(job(JobState::Running, 0.1)),
            Err(crate::Error::internal("the store went away")),
            Ok(job(JobState::Succeeded, 1.0)),
        ];
        let body = body_of(Box::pin(futures_util::stream::iter(items))).await;
        assert_eq!(body.matches("event: ").count(), 1, "{body}");
        assert!(!body.contains("done"));
    }
}
