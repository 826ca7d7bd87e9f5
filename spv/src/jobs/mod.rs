//! The job queue: background work kept in the database, claimed by workers under a lease.
//!
//! | item | what it is |
//! |---|---|
//! | [`JobQueue`] | enqueue, claim, renew, progress, succeed, fail, release, cancel, list, prune; wakes waiting workers in-process |
//! | [`QueueConfig`] | attempts, exponential backoff, lease length |
//! | [`NewJob`], [`Job`], [`JobState`], [`Claimed`] | a job to add, a stored job, its state, a worker's proof of its claim |
//! | [`JobFilter`], [`JobList`] | a list's filter and page |
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
//! use spv::jobs::{JobQueue, JobState, NewJob, QueueConfig};
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

mod list;
mod queue;
mod repo;
#[cfg(test)]
mod tests;
mod types;

pub use queue::JobQueue;
pub use types::{
    Claimed, Job, JobFilter, JobList, JobState, MAX_CLAIM_KINDS, MAX_IDEMPOTENCY_KEY_CHARS,
    MAX_KIND_CHARS, MAX_MESSAGE_CHARS, MAX_PAYLOAD_BYTES, MAX_WORKER_ID_CHARS, NewJob, QueueConfig,
};
