//! Job requests and responses: render jobs, their state, events and outputs.
//!
//! A render job renders every combination of pages × sizes × formats of a stored
//! document in the background. `POST /api/v1/jobs/render` takes a [`RenderJobSpec`] and
//! answers 202 with the [`Job`]; when it succeeded, its `result` is a
//! [`RenderJobResult`] whose outputs are fetched one by one ([`GetJobOutput`]).

use std::fmt;
use std::pin::Pin;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::Principal;
use super::documents::MetaInfo;
use super::thumbnails::ImageFormat;

/// The kind of render jobs in the queue.
pub const RENDER_JOB_KIND: &str = "render";

/// The most outputs (pages × sizes × formats) one render job may make.
pub const MAX_JOB_OUTPUTS: usize = 256;

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Waiting for `run_at` and a worker.
    Queued,
    /// Claimed by a worker that holds its lease.
    Running,
    /// Finished with a result.
    Succeeded,
    /// Failed on its last attempt; the error is kept.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

impl JobState {
    /// The name stored in the database and used in URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Whether the job has finished (succeeded, failed or cancelled) and never changes again.
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }

    /// The state named `name`, if any.
    pub fn parse(name: &str) -> Option<JobState> {
        [
            JobState::Queued,
            JobState::Running,
            JobState::Succeeded,
            JobState::Failed,
            JobState::Cancelled,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Job {
    /// The job's id (UUID v7).
    pub id: Uuid,
    /// What the job does, e.g. `render`; workers claim by kind.
    pub kind: String,
    /// The job's input.
    pub payload: Value,
    /// The user who enqueued it; `None` for system jobs.
    pub owner_id: Option<Uuid>,
    /// The idempotency key it was enqueued with.
    pub idempotency_key: Option<String>,
    /// Where it is in its life.
    pub state: JobState,
    /// How many times it was claimed (released claims do not count).
    pub attempts: u32,
    /// When it may run next.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub run_at: OffsetDateTime,
    /// Until when the running worker holds it.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>, format = DateTime))]
    pub lease_until: Option<OffsetDateTime>,
    /// The worker that claimed it last.
    pub worker_id: Option<String>,
    /// From 0 to 1.
    pub progress: f32,
    /// What the worker is doing, for people.
    pub progress_message: Option<String>,
    /// The result of a succeeded job.
    pub result: Option<Value>,
    /// The error of the last failed attempt (kept while it retries, and once it failed).
    pub error: Option<String>,
    /// Whether cancelling was asked for while it ran.
    pub cancel_requested: bool,
    /// When it was enqueued.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
    /// When it was first claimed.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>, format = DateTime))]
    pub started_at: Option<OffsetDateTime>,
    /// When it finished.
    #[serde(with = "time::serde::rfc3339::option")]
    #[cfg_attr(feature = "http", schema(value_type = Option<String>, format = DateTime))]
    pub finished_at: Option<OffsetDateTime>,
}

/// A page of jobs with `_metainfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct JobList {
    /// The jobs of this page, newest first.
    pub items: Vec<Job>,
    /// Where this page is.
    #[serde(rename = "_metainfo")]
    pub metainfo: MetaInfo,
}

/// What a render job makes: one output per page × size × format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RenderJobSpec {
    /// The stored document.
    pub document: Uuid,
    /// Zero-based page indexes; empty (the default) renders every page.
    #[serde(default, deserialize_with = "crate::api::whole::vec_usize")]
    pub pages: Vec<usize>,
    /// Longer sides in pixels, each at most the server's maximum thumbnail size
    /// (default `[256]`).
    #[serde(
        default = "default_sizes",
        deserialize_with = "crate::api::whole::vec_u32"
    )]
    pub sizes: Vec<u32>,
    /// Output formats (default `["png"]`).
    #[serde(default = "default_formats")]
    #[cfg_attr(feature = "http", schema(value_type = Vec<String>, example = json!(["png"])))]
    pub formats: Vec<ImageFormat>,
    /// Paint placeholders for missing assets instead of failing.
    #[serde(default)]
    pub lenient: bool,
}

fn default_sizes() -> Vec<u32> {
    vec![256]
}

fn default_formats() -> Vec<ImageFormat> {
    vec![ImageFormat::Png]
}

impl RenderJobSpec {
    /// Every page of `document` at 256 px as PNG.
    pub fn new(document: Uuid) -> Self {
        RenderJobSpec {
            document,
            pages: Vec::new(),
            sizes: default_sizes(),
            formats: default_formats(),
            lenient: false,
        }
    }
}

/// Enqueues a render job for a document the caller may read; answers the [`Job`]
/// (state `queued`). With an idempotency key the caller used before, answers the first
/// job instead of adding one.
#[derive(Debug, Clone)]
pub struct EnqueueRender {
    /// The caller, who owns the job.
    pub principal: Principal,
    /// What to render.
    pub spec: RenderJobSpec,
    /// The `Idempotency-Key` header value, if any.
    pub idempotency_key: Option<String>,
}

/// Reads a job; answers [`Job`]. Only its owner (or an admin) sees it.
#[derive(Debug, Clone)]
pub struct GetJob {
    /// The caller.
    pub principal: Principal,
    /// Which job.
    pub id: Uuid,
}

/// Cancels a job; answers the [`Job`] as it is now: a queued job never runs, a running
/// one stops at its next checkpoint (`cancelRequested` set until then); a finished one
/// is a conflict.
#[derive(Debug, Clone)]
pub struct CancelJob {
    /// The caller: the owner or an admin.
    pub principal: Principal,
    /// Which job.
    pub id: Uuid,
}

/// Lists the caller's jobs (an admin's: everyone's), newest first; answers [`JobList`].
#[derive(Debug, Clone)]
pub struct ListJobs {
    /// The caller.
    pub principal: Principal,
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// The page, from 1 (default 1).
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    pub per_page: Option<u32>,
}

/// Follows a job; answers [`JobEvents`]: the job now, then each time it changes, ending
/// after it finished.
#[derive(Debug, Clone)]
pub struct WatchJob {
    /// The caller.
    pub principal: Principal,
    /// Which job.
    pub id: Uuid,
}

/// The stream [`WatchJob`] answers: the job as it changes; the last item is finished.
pub type JobEvents = Pin<Box<dyn futures_util::Stream<Item = crate::Result<Job>> + Send>>;

/// Reads one output of a succeeded render job; answers [`JobOutputContent`].
#[derive(Debug, Clone)]
pub struct GetJobOutput {
    /// The caller: the job's owner or an admin.
    pub principal: Principal,
    /// Which job.
    pub job: Uuid,
    /// The output's index in [`RenderJobResult::outputs`].
    pub index: u32,
}

/// One image a render job made, as listed in its result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JobOutput {
    /// Its index, from 0.
    pub index: u32,
    /// The page it shows.
    pub page: usize,
    /// The requested longer side.
    pub size: u32,
    /// Its format.
    #[cfg_attr(feature = "http", schema(value_type = String, example = "png"))]
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Its length in bytes.
    pub byte_size: u64,
    /// Where to fetch it: `/api/v1/jobs/{id}/outputs/{index}` (below the server's mount
    /// point).
    pub href: String,
}

/// The `result` of a succeeded render job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RenderJobResult {
    /// Every output, in the order pages × sizes × formats.
    pub outputs: Vec<JobOutput>,
    /// Warnings of a lenient render.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// An output's bytes with its description.
#[derive(Clone, PartialEq, Eq)]
pub struct JobOutputContent {
    /// What it is.
    pub output: JobOutput,
    /// The encoded image.
    pub bytes: Vec<u8>,
}

impl fmt::Debug for JobOutputContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobOutputContent")
            .field("output", &self.output)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}
