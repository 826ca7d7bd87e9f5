//! [`Jobs`]: the jobs service, a `tower::Service` for each request of
//! [`crate::api::jobs`], with its access rules.

use std::sync::Arc;
use std::time::Duration;

use futures_util::stream;
use tokio::sync::broadcast;
use uuid::Uuid;

use super::outputs::JobOutputs;
use super::render::{payload, plan};
use super::{JobFilter, JobQueue, NewJob};
use crate::api::{
    CancelJob, EnqueueRender, GetDocument, GetJob, GetJobOutput, JobEvents, JobOutputContent,
    ListJobs, Principal, RENDER_JOB_KIND, Scope, WatchJob,
};
use crate::api::{Job, JobList, JobState};
use crate::documents::Documents;
use crate::store::Backend;
use crate::{Error, ErrorKind, Result};

/// How often a watch on PostgreSQL reads the job again without being told it changed:
/// how changes made by other processes (scale-out) reach it.
pub const WATCH_POLL: Duration = Duration::from_secs(1);

/// How often a watch on SQLite reads the job again without being told it changed. One
/// process owns an SQLite database and its in-process change feed wakes the watch at
/// once, so this is only a safety net (and every open watch costs a read this often).
pub const WATCH_POLL_SQLITE: Duration = Duration::from_secs(5);

/// The poll of a watch on `backend`: [`WATCH_POLL_SQLITE`] or [`WATCH_POLL`].
fn watch_poll(backend: Backend) -> Duration {
    match backend {
        Backend::Sqlite => WATCH_POLL_SQLITE,
        Backend::Postgres => WATCH_POLL,
    }
}

/// The jobs service. Cheap to clone.
///
/// Access: enqueueing and cancelling need `jobs:write`; reading, listing, watching and
/// fetching outputs `jobs:read`. Callers see only their own jobs (admins see all);
/// another user's job is "not found", so its existence is not revealed. Enqueueing a
/// render also needs read access to the document (the documents service's own rules).
///
/// ```
/// use spv::api::{EnqueueRender, GetJob, Principal, RenderJobSpec, Scopes, CreateDocument};
/// use spv::documents::{Documents, DocumentsConfig};
/// use spv::api::JobState;
/// use spv::jobs::{JobOutputs, JobQueue, Jobs, QueueConfig};
/// use spv::store::{Db, LocalBlobs};
/// use tower::ServiceExt;
///
/// let dir = tempfile::tempdir().unwrap();
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let db = Db::open(None, dir.path()).await.unwrap();
///     let documents = Documents::with_db(db.clone(), DocumentsConfig::default());
///     let outputs = JobOutputs::new(db.clone(),
///         std::sync::Arc::new(LocalBlobs::in_data_dir(dir.path())));
///     let jobs = Jobs::new(JobQueue::new(db, QueueConfig::default()), documents.clone(),
///         outputs, 4096);
///     let ann = Principal { user_id: uuid::Uuid::now_v7(), username: "ann".into(),
///         is_admin: false, scopes: Scopes::all() };
///     let bytes = br#"{"format":"glyph","version":1,"pages":[{"width":300,"height":200,"layers":[]}]}"#;
///     let doc = documents.oneshot(CreateDocument::new(ann.clone(), bytes.to_vec()))
///         .await.unwrap();
///     let job = jobs.clone().oneshot(EnqueueRender { principal: ann.clone(),
///         spec: RenderJobSpec::new(doc.id), idempotency_key: None }).await.unwrap();
///     assert_eq!(job.state, JobState::Queued);
///     let seen = jobs.oneshot(GetJob { principal: ann, id: job.id }).await.unwrap();
///     assert_eq!(seen.id, job.id);
/// });
/// ```
#[derive(Debug, Clone)]
pub struct Jobs {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    queue: JobQueue,
    documents: Documents,
    outputs: JobOutputs,
    max_size: u32,
}

impl Jobs {
    /// The service over `queue`, checking render specs against `documents` and sizes
    /// against `max_size` (the server's largest thumbnail side), serving outputs from
    /// `outputs`.
    pub fn new(queue: JobQueue, documents: Documents, outputs: JobOutputs, max_size: u32) -> Self {
        Jobs {
            inner: Arc::new(Inner {
                queue,
                documents,
                outputs,
                max_size,
            }),
        }
    }

    /// The queue.
    pub fn queue(&self) -> &JobQueue {
        &self.inner.queue
    }

    /// The outputs of render jobs.
    pub fn outputs(&self) -> &JobOutputs {
        &self.inner.outputs
    }

    /// What `Service<EnqueueRender>` does.
    pub async fn enqueue_render(&self, request: EnqueueRender) -> Result<Job> {
        let EnqueueRender {
            principal,
            spec,
            idempotency_key,
        } = request;
        principal.require(Scope::JobsWrite)?;
        let document = self
            .inner
            .documents
            .get(GetDocument {
                principal: Some(principal.clone()),
                id: spec.document,
            })
            .await?;
        plan(&spec, document.pages.len(), self.inner.max_size)?;
        self.inner
            .queue
            .enqueue(NewJob {
                owner: Some(principal.user_id),
                idempotency_key,
                ..NewJob::new(RENDER_JOB_KIND, payload(&spec)?)
            })
            .await
    }

    /// What `Service<GetJob>` does.
    pub async fn get(&self, request: GetJob) -> Result<Job> {
        request.principal.require(Scope::JobsRead)?;
        self.visible(&request.principal, request.id).await
    }

    /// What `Service<CancelJob>` does.
    pub async fn cancel(&self, request: CancelJob) -> Result<Job> {
        request.principal.require(Scope::JobsWrite)?;
        self.inner
            .queue
            .cancel(request.id, owner_filter(&request.principal))
            .await
    }

    /// What `Service<ListJobs>` does.
    pub async fn list(&self, request: ListJobs) -> Result<JobList> {
        request.principal.require(Scope::JobsRead)?;
        self.inner
            .queue
            .list(&JobFilter {
                owner: owner_filter(&request.principal),
                state: request.state,
                page: request.page,
                per_page: request.per_page,
            })
            .await
    }

    /// What `Service<GetJobOutput>` does: a job that has not succeeded is a
    /// [`ErrorKind::Conflict`]; an index its result does not list is
    /// [`ErrorKind::NotFound`] (also when a stored output is left from an earlier attempt).
    pub async fn output(&self, request: GetJobOutput) -> Result<JobOutputContent> {
        request.principal.require(Scope::JobsRead)?;
        let job = self.visible(&request.principal, request.job).await?;
        if job.state != JobState::Succeeded {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "job {} is {}: its outputs are ready once it has succeeded",
                    job.id,
                    job.state.as_str()
                ),
            ));
        }
        let listed = job
            .result
            .as_ref()
            .and_then(|result| result.get("outputs"))
            .and_then(serde_json::Value::as_array)
            .is_some_and(|outputs| {
                outputs.iter().any(|output| {
                    output.get("index").and_then(serde_json::Value::as_u64)
                        == Some(u64::from(request.index))
                })
            });
        if !listed {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("job {} has no output {}", job.id, request.index),
            ));
        }
        self.inner
            .outputs
            .get(job.id, request.index)
            .await?
            .ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("job {} has no output {}", job.id, request.index),
                )
            })
    }

    /// What `Service<WatchJob>` does: access is checked (and a missing job reported)
    /// before the stream starts. The stream yields the job now, then the job each time it
    /// changes (state, progress, message, attempts, cancel flag), and ends after a
    /// finished state. Changes in this process wake it at once; it also reads the job
    /// every [`WATCH_POLL`] on PostgreSQL (changes of other processes), every
    /// [`WATCH_POLL_SQLITE`] on SQLite (a safety net). A job deleted meanwhile ends it with a not-found error.
    pub async fn watch(&self, request: WatchJob) -> Result<JobEvents> {
        request.principal.require(Scope::JobsRead)?;
        // Subscribe first, so that no change between this read and the stream is missed.
        let changes = self.inner.queue.subscribe();
        let first = self.visible(&request.principal, request.id).await?;
        Ok(watch_stream(self.inner.queue.clone(), first, changes))
    }

    /// A job the caller may see, else "not found".
    async fn visible(&self, principal: &Principal, id: Uuid) -> Result<Job> {
        let job = self.inner.queue.get(id).await?;
        match owner_filter(principal) {
            Some(owner) if job.owner_id != Some(owner) => Err(Error::new(
                ErrorKind::NotFound,
                format!("job {id} was not found"),
            )),
            _ => Ok(job),
        }
    }
}

/// Whose jobs a caller may see: `None` (everyone's) for admins.
fn owner_filter(principal: &Principal) -> Option<Uuid> {
    (!principal.is_admin).then_some(principal.user_id)
}

/// What a watcher compares to tell a change: not `updated_at` (lease renewals move it).
fn seen(job: &Job) -> impl PartialEq + use<> {
    (
        job.state,
        job.progress.to_bits(),
        job.progress_message.clone(),
        job.attempts,
        job.cancel_requested,
        job.error.clone(),
    )
}

struct Watch {
    queue: JobQueue,
    id: Uuid,
    changes: broadcast::Receiver<Uuid>,
    first: Option<Job>,
    last: Job,
    done: bool,
    /// How long it waits for a notice before reading the job anyway.
    poll: Duration,
}

fn watch_stream(queue: JobQueue, first: Job, changes: broadcast::Receiver<Uuid>) -> JobEvents {
    let state = Watch {
        poll: watch_poll(queue.db().backend()),
        queue,
        id: first.id,
        changes,
        last: first.clone(),
        first: Some(first),
        done: false,
    };
    Box::pin(stream::unfold(state, |mut watch| async move {
        if watch.done {
            return None;
        }
        if let Some(first) = watch.first.take() {
            watch.done = first.state.is_finished();
            return Some((Ok(first), watch));
        }
        loop {
            watch.wait().await;
            match watch.queue.get(watch.id).await {
                Ok(job) if seen(&job) != seen(&watch.last) => {
                    watch.done = job.state.is_finished();
                    watch.last = job.clone();
                    return Some((Ok(job), watch));
                }
                Ok(_) => {}
                Err(error) => {
                    watch.done = true;
                    return Some((Err(error), watch));
                }
            }
        }
    }))
}

impl Watch {
    /// Waits until the job may have changed: a notice for it, a lag, or the poll.
    async fn wait(&mut self) {
        let poll = tokio::time::sleep(self.poll);
        tokio::pin!(poll);
        loop {
            tokio::select! {
                () = &mut poll => return,
                notice = self.changes.recv() => match notice {
                    Ok(id) if id == self.id => return,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => return,
                    // The queue is gone; the poll still reads the database.
                    Err(broadcast::error::RecvError::Closed) => {
                        (&mut poll).await;
                        return;
                    }
                },
            }
        }
    }
}

crate::store::domain_service!(Jobs {
    EnqueueRender => Job, enqueue_render;
    GetJob => Job, get;
    CancelJob => Job, cancel;
    ListJobs => JobList, list;
    GetJobOutput => JobOutputContent, output;
    WatchJob => JobEvents, watch;
});
