//! Background jobs: a queue kept in the database, claimed by workers under a lease, the
//! jobs service over it, and the render and maintenance jobs.
//!
//! | item | what it is |
//! |---|---|
//! | [`Jobs`] | the service: `tower::Service` for [`EnqueueRender`](crate::api::EnqueueRender), [`GetJob`](crate::api::GetJob), [`CancelJob`](crate::api::CancelJob), [`ListJobs`](crate::api::ListJobs), [`GetJobOutput`](crate::api::GetJobOutput), [`WatchJob`](crate::api::WatchJob), with owner and scope checks |
//! | [`JobQueue`] | enqueue, claim (one or a batch), renew, progress, succeed, fail, release, cancel, list, prune; wakes waiting workers and watchers in-process |
//! | [`QueueConfig`] | attempts, exponential backoff, lease length |
//! | [`NewJob`], [`Job`](crate::api::Job), [`JobState`](crate::api::JobState), [`Claimed`] | a job to add, a stored job, its state, a worker's proof of its claim |
//! | [`JobFilter`], [`JobList`](crate::api::JobList) | a list's filter and page |
//! | [`Workers`], [`WorkersConfig`] | a pool of workers running [`JobHandler`]s (each given a [`JobContext`]), with graceful shutdown and a scheduler of [`Recurring`] jobs |
//! | [`RenderHandler`], [`JobOutputs`] | render jobs (pages × sizes × formats of a stored document) and where their images are kept |
//! | [`PruneHandler`], [`BackupHandler`], [`MaintenanceConfig`] | the maintenance jobs: pruning old jobs, outputs and refresh tokens; SQLite backups |
//!
//! A job is `queued` until due, then a worker [`claim`](JobQueue::claim)s it: it is
//! `running` under a lease the worker [`renew`](JobQueue::renew)s. A worker that dies
//! lets its lease run out and the job is claimed again. A failed attempt is retried
//! after an exponential backoff until `max_attempts`, then stays `failed` with its error.
//! Every write of a worker carries its [`Claimed`] and changes nothing (answering
//! `Ok(false)`) once the claim was lost, so no job is finished twice. Times come from the
//! clock of the process that writes, so the hosts of a scale-out setup keep their clocks
//! in sync (NTP); leases should be far longer than the skew.
//!
//! ```
//! use std::time::Duration;
//! use serde_json::json;
//! use spv::api::JobState;
//! use spv::jobs::{JobQueue, NewJob, QueueConfig};
//! use spv::store::Db;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let queue = JobQueue::new(Db::open(None, dir.path()).await.unwrap(), QueueConfig::default());
//!     let job = queue.enqueue(NewJob::new("render", json!({"size": 256}))).await.unwrap();
//!     assert_eq!(job.state, JobState::Queued);
//!
//!     // A worker: wait for work, claim it, report progress, finish.
//!     assert!(queue.wait_for_work(Duration::from_secs(1)).await, "the enqueue woke us");
//!     let claimed = queue.claim("worker-1", &["render"]).await.unwrap().unwrap();
//!     assert_eq!((claimed.id(), claimed.job.attempts), (job.id, 1));
//!     assert!(queue.progress(&claimed, 0.5, Some("page 1 of 2")).await.unwrap());
//!     assert!(!queue.is_cancelled(&claimed).await.unwrap());
//!     assert!(queue.succeed(&claimed, json!({"pages": 2})).await.unwrap());
//!
//!     let done = queue.get(job.id).await.unwrap();
//!     assert_eq!((done.state, done.progress), (JobState::Succeeded, 1.0));
//!     assert_eq!(done.result, Some(json!({"pages": 2})));
//!     assert!(queue.claim("worker-1", &[]).await.unwrap().is_none());
//! });
//! ```

#[cfg(test)]
mod batch_tests;
mod handler;
#[cfg(test)]
mod harness;
mod list;
mod maintenance;
#[cfg(test)]
mod maintenance_tests;
mod outputs;
mod queue;
mod render;
mod repo;
mod schedule;
mod service;
#[cfg(test)]
mod service_tests;
mod settings;
#[cfg(test)]
mod tests;
mod types;
mod worker;
#[cfg(test)]
mod worker_tests;
mod writer;

pub use handler::{JobContext, JobHandler, JobOutcome, handler_fn};
pub use maintenance::{
    BACKUP_DIR, BACKUP_JOB_KIND, BackupHandler, MaintenanceConfig, PRUNE_JOB_KIND, PruneHandler,
    Pruned,
};
pub use outputs::{JobOutputs, output_href};
pub use queue::JobQueue;
pub use render::{MAX_JOB_FORMATS, MAX_JOB_SIZES, RenderHandler};
pub use schedule::Recurring;
pub use service::{Jobs, WATCH_POLL, WATCH_POLL_SQLITE};
pub use settings::{FinishHook, JobFinished, RunResult, ShutdownReport, WorkersConfig};
pub use types::{
    Claimed, JobFilter, MAX_CLAIM_BATCH, MAX_CLAIM_KINDS, MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_KIND_CHARS, MAX_MESSAGE_CHARS, MAX_PAYLOAD_BYTES, MAX_WORKER_ID_CHARS, NewJob, QueueConfig,
};
pub use worker::Workers;
