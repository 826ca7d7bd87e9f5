//! Jobs over HTTP: enqueueing renders, reading, listing and cancelling jobs, their
//! outputs, and following a job's Server-Sent Events.

use std::collections::VecDeque;
use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderName};
use reqwest::{Method, Response};
use spv::api::{
    CancelJob, EnqueueRender, GetJob, GetJobOutput, Job, JobEvents, JobList, JobOutput,
    JobOutputContent, JobState, ListJobs, RenderJobResult, WatchJob,
};
use spv::{Error, ErrorKind, Result};
use tokio::io::AsyncWrite;
use uuid::Uuid;

use crate::Client;
use crate::call::Call;
use crate::response::{copy_limited, decode_json, display_url};
use crate::service::remote_service;
use crate::sse::{SseEvent, SseParser};

/// The shortest wait for the next bytes of an event stream: the server sends a
/// keep-alive every 15 s, so a quiet stream is not a dead one before this.
const MIN_EVENTS_IDLE: Duration = Duration::from_secs(45);

fn job_path(id: Uuid) -> String {
    format!("/api/v1/jobs/{id}")
}

fn output_path(job: Uuid, index: u32) -> String {
    format!("/api/v1/jobs/{job}/outputs/{index}")
}

/// The description of output `index` of a succeeded render job.
fn find_output(job: &Job, index: u32) -> Result<JobOutput> {
    if job.state != JobState::Succeeded {
        return Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "job {} is {}, not succeeded: it has no outputs yet",
                job.id,
                job.state.as_str()
            ),
        ));
    }
    let result: RenderJobResult = job
        .result
        .clone()
        .ok_or_else(|| Error::internal(format!("job {} succeeded without a result", job.id)))
        .and_then(|value| {
            serde_json::from_value(value).map_err(|e| {
                Error::internal(format!(
                    "job {}: the result is not a render result ({e})",
                    job.id
                ))
            })
        })?;
    result
        .outputs
        .into_iter()
        .find(|o| o.index == index)
        .ok_or_else(|| {
            Error::new(
                ErrorKind::NotFound,
                format!("job {} has no output {index}", job.id),
            )
        })
}

impl Client {
    async fn enqueue_render(&self, request: EnqueueRender) -> Result<Job> {
        let mut call = Call::new(Method::POST, "/api/v1/jobs/render")
            .header(
                HeaderName::from_static("idempotency-key"),
                request.idempotency_key.as_deref(),
            )?
            .json(&request.spec)?;
        if request.idempotency_key.is_some() {
            // The server answers a repeated key with the first job: safe to repeat.
            call = call.idempotent();
        }
        self.json(call).await
    }

    async fn get_job(&self, request: GetJob) -> Result<Job> {
        self.json(Call::new(Method::GET, job_path(request.id)))
            .await
    }

    async fn cancel_job(&self, request: CancelJob) -> Result<Job> {
        self.json(Call::new(Method::DELETE, job_path(request.id)))
            .await
    }

    async fn list_jobs(&self, request: ListJobs) -> Result<JobList> {
        let call = Call::new(Method::GET, "/api/v1/jobs")
            .query("state", request.state.map(JobState::as_str))
            .query("page", request.page)
            .query("perPage", request.per_page);
        self.json(call).await
    }

    async fn job_output(&self, request: GetJobOutput) -> Result<JobOutputContent> {
        let job = self
            .get_job(GetJob {
                principal: request.principal,
                id: request.job,
            })
            .await?;
        let output = find_output(&job, request.index)?;
        let (_, bytes) = self
            .bytes(Call::new(
                Method::GET,
                output_path(request.job, request.index),
            ))
            .await?;
        Ok(JobOutputContent { output, bytes })
    }

    /// Writes output `index` of the succeeded render job `job` into `writer` as it
    /// arrives (never held whole), flushing at the end; answers how many bytes were
    /// written. Limits and timeouts as for [`download_asset`](Client::download_asset).
    pub async fn download_job_output<W>(&self, job: Uuid, index: u32, writer: &mut W) -> Result<u64>
    where
        W: AsyncWrite + Unpin + ?Sized,
    {
        let call = Call::new(Method::GET, output_path(job, index)).streamed_answer();
        let response = self.send(call).await?;
        copy_limited(
            response,
            writer,
            self.inner.max_response_bytes,
            self.inner.timeout,
        )
        .await
    }

    /// Opens the event stream of job `id` (access is checked here, before any event).
    async fn open_events(&self, id: Uuid) -> Result<Response> {
        let call = Call::new(Method::GET, format!("{}/events", job_path(id)))
            .header(ACCEPT, Some("text/event-stream"))?
            .streamed_answer();
        self.send(call).await
    }

    async fn watch_job(&self, request: WatchJob) -> Result<JobEvents> {
        let response = self.open_events(request.id).await?;
        let watch = Watch {
            client: self.clone(),
            id: request.id,
            response: Some(response),
            parser: SseParser::default(),
            pending: VecDeque::new(),
            finished: false,
            reconnects: 0,
            idle: self.inner.timeout.max(MIN_EVENTS_IDLE),
        };
        let stream = futures_util::stream::unfold(watch, |mut watch| async move {
            let item = watch.next().await?;
            Some((item, watch))
        });
        Ok(Box::pin(stream))
    }
}

/// The state of a job's event stream on the client.
struct Watch {
    client: Client,
    id: Uuid,
    response: Option<Response>,
    parser: SseParser,
    pending: VecDeque<SseEvent>,
    finished: bool,
    reconnects: u32,
    idle: Duration,
}

impl Watch {
    /// The next job of the stream: `None` after the finished one (or after an error).
    async fn next(&mut self) -> Option<Result<Job>> {
        loop {
            if self.finished {
                return None;
            }
            if let Some(event) = self.pending.pop_front() {
                match event.event.as_str() {
                    "progress" | "done" | "message" => {
                        let url = format!("events of job {}", self.id);
                        let job = decode_json::<Job>(event.data.as_bytes(), &url);
                        self.finished = job
                            .as_ref()
                            .map_or(true, |job| event.event == "done" || job.state.is_finished());
                        if job.is_ok() {
                            // The stream works again: a later break gets every retry anew.
                            self.reconnects = 0;
                        }
                        return Some(job);
                    }
                    _ => continue,
                }
            }
            let outcome = self.read().await;
            let reconnect = match &outcome {
                Ok(true) => continue,
                Ok(false) => true,
                Err(error) => error.kind() == ErrorKind::Io,
            };
            if reconnect && self.reconnects < self.client.inner.retry.max_retries {
                // The server sends the job as it is now first, so nothing is lost.
                self.reconnects += 1;
                let delay = self.client.inner.retry.backoff(self.reconnects - 1);
                tracing::debug!(job = %self.id, ?delay, "event stream broke off; reconnecting");
                tokio::time::sleep(delay).await;
                self.parser = SseParser::default();
                match self.client.open_events(self.id).await {
                    Ok(response) => {
                        self.response = Some(response);
                        continue;
                    }
                    Err(error) => {
                        self.finished = true;
                        return Some(Err(error));
                    }
                }
            }
            self.finished = true;
            return Some(Err(outcome.err().unwrap_or_else(|| {
                Error::new(
                    ErrorKind::Io,
                    format!(
                        "the event stream of job {} ended before the job finished",
                        self.id
                    ),
                )
            })));
        }
    }

    /// Reads one chunk into the parser: `Ok(false)` when the stream ended.
    async fn read(&mut self) -> Result<bool> {
        let Some(response) = self.response.as_mut() else {
            return Ok(false);
        };
        let url = display_url(response.url());
        let chunk = tokio::time::timeout(self.idle, response.chunk())
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Io,
                    format!("the event stream {url} was quiet for {:?}", self.idle),
                )
            })?
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("reading the event stream {url} failed: {}", e.without_url()),
                )
            })?;
        match chunk {
            Some(bytes) => {
                self.pending.extend(self.parser.push(&bytes)?);
                Ok(true)
            }
            None => {
                self.response = None;
                Ok(false)
            }
        }
    }
}

remote_service! {
    EnqueueRender => Job, enqueue_render;
    GetJob => Job, get_job;
    CancelJob => Job, cancel_job;
    ListJobs => JobList, list_jobs;
    GetJobOutput => JobOutputContent, job_output;
    WatchJob => JobEvents, watch_job;
}
