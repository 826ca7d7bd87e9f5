//! What a job's work is: [`JobHandler`], the [`JobContext`] it gets, the
//! [`JobOutcome`] it answers.

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use serde_json::Value;

use super::{Claimed, JobQueue};
use crate::api::Job;
use crate::store::BoxFuture;
use crate::{ErrorKind, Result};

/// What a handler's run ended with, when it did not fail.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOutcome {
    /// Done: the job succeeds with this result.
    Done(Value),
    /// Stopped at a checkpoint because [`JobContext::should_stop`] said so: the job is
    /// marked cancelled (unless its claim was lost, in which case nothing changes).
    Stopped,
}

/// The work of one job kind.
///
/// An error of kind [`ErrorKind::InvalidRequest`], [`ErrorKind::InvalidDocument`],
/// [`ErrorKind::UnsupportedVersion`], [`ErrorKind::LimitExceeded`],
/// [`ErrorKind::MissingAsset`], [`ErrorKind::InvalidAsset`], [`ErrorKind::NotFound`],
/// [`ErrorKind::Forbidden`] or [`ErrorKind::Unauthenticated`] is permanent: the job fails
/// at once without retrying. [`ErrorKind::Overloaded`] (a busy render pool) is no fault
/// of the job: it is retried after the backoff without counting as an attempt, for as
/// long as the overload lasts. Any other error (I/O, the database, a timeout, and a
/// panic) is a failed attempt, retried with backoff while attempts remain.
///
/// The error text kept in the job is the error's message, except for
/// [`ErrorKind::Internal`] and [`ErrorKind::Io`] (and panics): those are logged and the
/// job keeps a fixed text naming it, so that paths or SQL do not reach its owner.
pub trait JobHandler: Send + Sync + 'static {
    /// The kind of jobs it runs.
    fn kind(&self) -> &str;
    /// Runs one claimed job. Long runs call [`JobContext::should_stop`] between steps
    /// (and answer [`JobOutcome::Stopped`] when it says so) and report
    /// [`JobContext::progress`].
    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, JobOutcome>;
}

impl fmt::Debug for dyn JobHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobHandler")
            .field("kind", &self.kind())
            .finish()
    }
}

/// A [`JobHandler`] from a closure: `handler_fn("noop", |_ctx| async { Ok(JobOutcome::Done(json!(null))) })`.
pub fn handler_fn<F, Fut>(kind: impl Into<String>, run: F) -> Arc<dyn JobHandler>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<JobOutcome>> + Send + 'static,
{
    Arc::new(FnHandler {
        kind: kind.into(),
        run,
    })
}

struct FnHandler<F> {
    kind: String,
    run: F,
}

impl<F, Fut> JobHandler for FnHandler<F>
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<JobOutcome>> + Send + 'static,
{
    fn kind(&self) -> &str {
        &self.kind
    }

    fn run<'a>(&'a self, ctx: &'a JobContext) -> BoxFuture<'a, JobOutcome> {
        Box::pin((self.run)(ctx.clone()))
    }
}

/// What a handler gets: the claimed job and the queue to report to.
#[derive(Debug, Clone)]
pub struct JobContext {
    queue: JobQueue,
    claimed: Arc<Claimed>,
}

impl JobContext {
    /// A context for `claimed` (for running a handler outside [`Workers`](super::Workers), e.g. in tests).
    pub fn new(queue: JobQueue, claimed: Claimed) -> Self {
        JobContext {
            queue,
            claimed: Arc::new(claimed),
        }
    }

    /// The job as claimed (state running, this attempt counted).
    pub fn job(&self) -> &Job {
        &self.claimed.job
    }

    /// The claim, for writes of the queue.
    pub fn claimed(&self) -> &Claimed {
        &self.claimed
    }

    /// The queue.
    pub fn queue(&self) -> &JobQueue {
        &self.queue
    }

    /// Records progress (`fraction` 0 to 1, clamped) and a message for people; also renews
    /// the lease. `false` when the claim was lost (stop: another worker has the job).
    pub async fn progress(&self, fraction: f32, message: &str) -> Result<bool> {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        self.queue
            .progress(&self.claimed, fraction, Some(message))
            .await
    }

    /// A checkpoint: whether the handler should stop now (cancelling was asked for, or
    /// the claim was lost) and answer [`JobOutcome::Stopped`].
    pub async fn should_stop(&self) -> Result<bool> {
        self.queue.is_cancelled(&self.claimed).await
    }
}

/// Whether a handler error is one no retry can mend: bad input (the request, the
/// document, its version, its limits, its assets), a missing thing, lost access.
pub(super) fn is_permanent(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidRequest
            | ErrorKind::InvalidDocument
            | ErrorKind::UnsupportedVersion
            | ErrorKind::LimitExceeded
            | ErrorKind::MissingAsset
            | ErrorKind::InvalidAsset
            | ErrorKind::NotFound
            | ErrorKind::Forbidden
            | ErrorKind::Unauthenticated
    )
}
