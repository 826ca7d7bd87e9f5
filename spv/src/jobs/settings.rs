//! The settings and reports of [`Workers`](super::Workers): [`WorkersConfig`], the
//! [`FinishHook`] for metrics, [`ShutdownReport`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::schedule::Recurring;

/// How a job's run ended, as told to [`WorkersConfig::on_finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunResult {
    /// It succeeded.
    Succeeded,
    /// It failed for good (out of attempts, or a permanent error).
    Failed,
    /// It failed and will be retried after a backoff.
    Retried,
    /// It stopped at a checkpoint after cancelling was asked for.
    Cancelled,
    /// It was given back at shutdown, to run again later.
    Released,
    /// Its claim was lost (its lease ran out and another worker took it).
    Lost,
}

impl RunResult {
    /// A lowercase name, for metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            RunResult::Succeeded => "succeeded",
            RunResult::Failed => "failed",
            RunResult::Retried => "retried",
            RunResult::Cancelled => "cancelled",
            RunResult::Released => "released",
            RunResult::Lost => "lost",
        }
    }
}

/// One finished run, for metrics.
#[derive(Debug, Clone)]
pub struct JobFinished {
    /// The job's kind.
    pub kind: String,
    /// How the run ended.
    pub result: RunResult,
    /// How long the run took (claim to end).
    pub duration: Duration,
}

/// Called after each run (for metrics); must be quick and must not block.
pub type FinishHook = Arc<dyn Fn(&JobFinished) + Send + Sync>;

/// Settings of [`Workers`](super::Workers).
#[derive(Clone)]
pub struct WorkersConfig {
    /// How many jobs run at once (`SPV_JOB_WORKERS`; default: the number of cores). 0
    /// starts no worker (the scheduler still runs).
    pub workers: usize,
    /// How often an idle worker looks for due jobs without being woken (default 1 s): the
    /// safety net for jobs that became due (retries) or were enqueued by another process.
    pub poll_interval: Duration,
    /// The pool's worker id (default `spv-<pid>-<random>`; cut to 190 characters, empty
    /// for the default); kept in each claimed job's `worker_id`. (The name is from when
    /// each slot claimed alone, as `<prefix>-<n>`; the pool now claims for all of them.)
    pub worker_id_prefix: String,
    /// Jobs enqueued at fixed intervals (maintenance).
    pub recurring: Vec<Recurring>,
    /// Called after each run, for metrics.
    pub on_finish: Option<FinishHook>,
}

impl fmt::Debug for WorkersConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkersConfig")
            .field("workers", &self.workers)
            .field("poll_interval", &self.poll_interval)
            .field("worker_id_prefix", &self.worker_id_prefix)
            .field("recurring", &self.recurring)
            .field("on_finish", &self.on_finish.is_some())
            .finish()
    }
}

impl Default for WorkersConfig {
    fn default() -> Self {
        WorkersConfig {
            workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            poll_interval: Duration::from_secs(1),
            worker_id_prefix: default_worker_prefix(),
            recurring: Vec::new(),
            on_finish: None,
        }
    }
}

impl WorkersConfig {
    /// The defaults with `SPV_JOB_WORKERS` workers and the maintenance jobs of `config`
    /// scheduled.
    pub fn from_config(config: &crate::config::Config) -> Self {
        WorkersConfig {
            workers: config.job_workers,
            recurring: super::MaintenanceConfig::from_config(config).recurring(),
            ..WorkersConfig::default()
        }
    }
}

/// `spv-<pid>-<8 random hex digits>`: unique per process. (The library reads no
/// environment; a binary that wants the host name in it sets the prefix.)
pub(super) fn default_worker_prefix() -> String {
    let tag = uuid::Uuid::new_v4().simple().to_string();
    format!("spv-{}-{}", std::process::id(), &tag[..8])
}

/// What [`Workers::shutdown`](super::Workers::shutdown) did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ShutdownReport {
    /// Jobs that were running when shutdown began and finished within the grace period.
    pub finished: usize,
    /// Jobs given back to the queue after the grace period, to run again later.
    pub released: usize,
}
