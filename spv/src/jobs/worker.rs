//! [`Workers`]: a pool of tasks that claim jobs, run their [`JobHandler`]s under a renewed
//! lease, and finish, retry or give them back.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tracing::Instrument;

use super::handler::{JobContext, JobHandler, JobOutcome, is_permanent};
use super::schedule::run_scheduler;
use super::settings::{
    FinishHook, JobFinished, RunResult, ShutdownReport, WorkersConfig, default_worker_prefix,
};
use super::{Claimed, JobQueue, MAX_CLAIM_BATCH};
use crate::{Error, ErrorKind, Result};

/// A running pool of job workers (and the recurring-jobs scheduler).
///
/// The pool has `workers` slots. Its dispatcher claims as many due jobs of the handlers'
/// kinds as it has free slots, in one statement ([`JobQueue::claim_batch`]), so it never
/// holds a job it cannot start; each job runs its handler in a task of its own while its
/// lease is renewed every third of it, then succeeds, retries, fails or is marked
/// cancelled. A slot is free again once the handler is done: the job's end is written
/// by the queue (several jobs in one statement) while the next claim goes out. An idle
/// dispatcher waits on [`JobQueue::wait_for_work`], so an enqueue in this process (or,
/// on PostgreSQL, in another one: `LISTEN`/`NOTIFY`) wakes it at once; it also polls
/// every `poll_interval`. Claimed jobs carry the pool's id
/// ([`WorkersConfig::worker_id_prefix`]) as their `worker_id`.
///
/// [`shutdown`](Self::shutdown) stops claiming, gives running jobs a grace period, then
/// aborts them and [`release`](JobQueue::release)s their claims (the attempt not
/// counted), so another worker or the next start runs them. A job is never finished
/// twice: a worker whose claim was lost has its writes refused by the queue.
///
/// Dropping `Workers` without `shutdown` leaves its tasks running until the runtime
/// ends; their jobs are then claimed again once their leases run out.
///
/// ```
/// use std::time::Duration;
/// use serde_json::json;
/// use spv::api::JobState;
/// use spv::jobs::{JobOutcome, JobQueue, NewJob, QueueConfig, Workers, WorkersConfig,
///     handler_fn};
/// use spv::store::Db;
///
/// let dir = tempfile::tempdir().unwrap();
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let queue = JobQueue::new(Db::open(None, dir.path()).await.unwrap(), QueueConfig::default());
///     let double = handler_fn("double", |ctx| async move {
///         ctx.progress(0.5, "thinking").await?;
///         let n = ctx.job().payload["n"].as_i64().unwrap_or(0);
///         Ok(JobOutcome::Done(json!(n * 2)))
///     });
///     let config = WorkersConfig { workers: 2, ..WorkersConfig::default() };
///     let workers = Workers::start(queue.clone(), vec![double], config);
///     let mut changes = queue.subscribe();
///     let job = queue.enqueue(NewJob::new("double", json!({"n": 21}))).await.unwrap();
///     while queue.get(job.id).await.unwrap().state != JobState::Succeeded {
///         changes.recv().await.unwrap();
///     }
///     assert_eq!(queue.get(job.id).await.unwrap().result, Some(json!(42)));
///     let report = workers.shutdown(Duration::from_secs(5)).await;
///     assert_eq!(report.released, 0);
/// });
/// ```
#[derive(Debug)]
pub struct Workers {
    stop: watch::Sender<Option<Instant>>,
    /// The dispatcher (none without handlers or slots).
    dispatcher: Option<JoinHandle<WorkerReport>>,
    slots: usize,
    scheduler: Option<JoinHandle<()>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct WorkerReport {
    finished_in_grace: usize,
    released: usize,
}

/// What the dispatcher and every job task of a pool share.
struct Worker {
    id: String,
    queue: JobQueue,
    handlers: Arc<HashMap<String, Arc<dyn JobHandler>>>,
    kinds: Arc<Vec<String>>,
    slots: usize,
    poll_interval: Duration,
    on_finish: Option<FinishHook>,
    stop: watch::Receiver<Option<Instant>>,
}

impl Workers {
    /// Starts `config.workers` workers running `handlers` (one per kind; a later handler
    /// of the same kind replaces an earlier one) and the scheduler of
    /// `config.recurring`. Call from within a Tokio runtime.
    pub fn start(
        queue: JobQueue,
        handlers: Vec<Arc<dyn JobHandler>>,
        config: WorkersConfig,
    ) -> Workers {
        let (stop, stopped) = watch::channel(None);
        let handlers: HashMap<String, Arc<dyn JobHandler>> = handlers
            .into_iter()
            .map(|h| (h.kind().to_owned(), h))
            .collect();
        let mut kinds: Vec<String> = handlers.keys().cloned().collect();
        kinds.sort();
        let handlers = Arc::new(handlers);
        let kinds = Arc::new(kinds);
        let poll_interval = config.poll_interval.max(Duration::from_millis(10));
        // Room for `-<n>` within the queue's limit on worker ids.
        let mut prefix: String = config.worker_id_prefix.chars().take(190).collect();
        if prefix.is_empty() {
            prefix = default_worker_prefix();
        }
        let slots = if handlers.is_empty() {
            0
        } else {
            config.workers
        };
        let dispatcher = (slots > 0).then(|| {
            let worker = Worker {
                id: prefix,
                queue: queue.clone(),
                handlers: handlers.clone(),
                kinds: kinds.clone(),
                slots,
                poll_interval,
                on_finish: config.on_finish.clone(),
                stop: stopped.clone(),
            };
            tokio::spawn(Arc::new(worker).dispatch())
        });
        let scheduler = (!config.recurring.is_empty()).then(|| {
            tokio::spawn(run_scheduler(
                queue.clone(),
                config.recurring.clone(),
                stopped.clone(),
            ))
        });
        Workers {
            stop,
            dispatcher,
            slots,
            scheduler,
        }
    }

    /// How many jobs may run at once (0 without handlers).
    pub fn len(&self) -> usize {
        self.slots
    }

    /// Whether no job can run (no handlers, or no slots).
    pub fn is_empty(&self) -> bool {
        self.slots == 0
    }

    /// Stops claiming, lets running jobs finish for up to `grace`, then aborts the rest
    /// and gives their jobs back to the queue. Answers what happened to the running jobs.
    pub async fn shutdown(self, grace: Duration) -> ShutdownReport {
        let now = Instant::now();
        // A grace too long to represent waits as good as forever.
        let deadline = now
            .checked_add(grace)
            .or_else(|| now.checked_add(FAR_FUTURE))
            .unwrap_or(now);
        self.stop.send_replace(Some(deadline));
        let mut report = ShutdownReport::default();
        if let Some(dispatcher) = self.dispatcher {
            match dispatcher.await {
                Ok(worker) => {
                    report.finished += worker.finished_in_grace;
                    report.released += worker.released;
                }
                Err(error) => tracing::error!(%error, "the job dispatcher ended abnormally"),
            }
        }
        if let Some(scheduler) = self.scheduler {
            scheduler.abort();
            // An aborted scheduler answers a cancelled JoinError; nothing to report.
            let _ = scheduler.await;
        }
        report
    }
}

/// Waits until shutdown starts.
async fn stopping(stop: &mut watch::Receiver<Option<Instant>>) -> Option<Instant> {
    let deadline = stop.wait_for(Option::is_some).await.map(|d| *d);
    match deadline {
        Ok(deadline) => deadline,
        // The sender went away: `Workers` was dropped; keep running.
        Err(_) => std::future::pending().await,
    }
}

impl Worker {
    /// Claims as many jobs as there are free slots, in one statement, and runs each in a
    /// task of its own; waits for work when none is due. At shutdown it stops claiming
    /// and waits for its jobs (each drains under the grace period by itself).
    async fn dispatch(self: Arc<Self>) -> WorkerReport {
        let mut report = WorkerReport::default();
        let mut stop = self.stop.clone();
        let slots = Arc::new(Semaphore::new(self.slots));
        let mut running: JoinSet<Option<bool>> = JoinSet::new();
        let kinds: Vec<&str> = self.kinds.iter().map(String::as_str).collect();
        // PostgreSQL: hear other processes' enqueues from before the first claim on.
        tokio::select! {
            () = self.queue.listen() => {}
            _ = stopping(&mut stop) => return report,
        }
        loop {
            while let Some(joined) = running.try_join_next() {
                tally(&mut report, joined);
            }
            if stop.borrow().is_some() {
                break;
            }
            let first = tokio::select! {
                permit = slots.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_closed) => break,
                },
                _ = stopping(&mut stop) => break,
            };
            let mut permits = vec![first];
            // A pool with more slots than one claim may take claims the rest next time.
            while permits.len() < MAX_CLAIM_BATCH
                && let Ok(permit) = slots.clone().try_acquire_owned()
            {
                permits.push(permit);
            }
            // Read before claiming: the jobs are running from their claim on, so a
            // shutdown that begins while the claim completes (a caller that saw a job
            // `running` in the database and stopped at once) began while they ran.
            let stopping_before = stop.borrow().is_some();
            match self
                .queue
                .claim_batch(&self.id, &kinds, permits.len())
                .await
            {
                Ok(batch) if !batch.is_empty() => {
                    for claimed in batch {
                        let Some(permit) = permits.pop() else { break };
                        let worker = self.clone();
                        running.spawn(async move {
                            let released = worker.run_one(claimed, permit).await;
                            let stopped = worker.stop.borrow().is_some();
                            // Shutdown began while this job ran: was it released?
                            (!stopping_before && stopped).then_some(released)
                        });
                    }
                    continue;
                }
                Ok(_none) => {}
                Err(error) => tracing::warn!(%error, worker = %self.id, "claiming jobs failed"),
            }
            drop(permits);
            tokio::select! {
                _ = self.queue.wait_for_work(self.poll_interval) => {}
                _ = stopping(&mut stop) => break,
            }
        }
        while let Some(joined) = running.join_next().await {
            tally(&mut report, joined);
        }
        report
    }

    /// Runs one claimed job to its end; answers whether it was released at shutdown.
    /// The slot is given back as soon as the handler is done, so the next claim can go
    /// out while this job's end is being written.
    async fn run_one(&self, claimed: Claimed, slot: OwnedSemaphorePermit) -> bool {
        let started = Instant::now();
        let kind = claimed.job.kind.clone();
        let span = tracing::info_span!(
            "job",
            id = %claimed.job.id,
            kind = %kind,
            attempt = claimed.job.attempts,
            worker = %self.id,
        );
        let result = self.supervise(claimed, slot).instrument(span).await;
        if let Some(hook) = &self.on_finish {
            hook(&JobFinished {
                kind,
                result,
                duration: started.elapsed(),
            });
        }
        result == RunResult::Released
    }

    async fn supervise(&self, claimed: Claimed, slot: OwnedSemaphorePermit) -> RunResult {
        let Some(handler) = self.handlers.get(&claimed.job.kind).cloned() else {
            drop(slot);
            // Claims ask only for the handlers' kinds; this cannot happen, but a job must
            // not stay running if it does.
            let error = format!("no handler for jobs of kind {:?}", claimed.job.kind);
            return self.record(&claimed, Err(Error::internal(error))).await;
        };
        let ctx = JobContext::new(self.queue.clone(), claimed.clone());
        let mut task = tokio::spawn(
            async move {
                // A panic becomes a failed attempt rather than a lost worker.
                std::panic::AssertUnwindSafe(handler.run(&ctx))
                    .catch_unwind()
                    .await
                    .map_err(panic_error)
                    .and_then(|r| r)
            }
            .in_current_span(),
        );
        let renew_every = renew_period(self.queue.config().lease);
        let mut renew = tokio::time::interval_at(later(renew_every), renew_every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stop = self.stop.clone();
        loop {
            tokio::select! {
                // A finished handler wins over a renewal or the shutdown.
                biased;
                joined = &mut task => {
                    drop(slot);
                    return self.record(&claimed, flatten(joined)).await;
                }
                _ = renew.tick() => match self.queue.renew(&claimed).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!("the job's claim was lost (its lease ran out): stopping it");
                        task.abort();
                        return RunResult::Lost;
                    }
                    Err(error) => tracing::warn!(%error, "renewing a job's lease failed"),
                },
                deadline = stopping(&mut stop) => {
                    drop(slot);
                    let left = deadline
                        .map(|d| d.saturating_duration_since(Instant::now()))
                        .unwrap_or_default();
                    return self.drain(&claimed, task, left).await;
                }
            }
        }
    }

    /// At shutdown: waits up to `grace` for the job (renewing its lease), then aborts it
    /// and releases its claim. A handler that finished just as the grace ran out has its
    /// outcome recorded rather than dropped; a claim lost meanwhile stops the job at once.
    async fn drain(
        &self,
        claimed: &Claimed,
        mut task: JoinHandle<Result<JobOutcome>>,
        grace: Duration,
    ) -> RunResult {
        // Tokio clamps a sleep too long to represent to its far future.
        let deadline = tokio::time::sleep(grace);
        tokio::pin!(deadline);
        let mut renew = tokio::time::interval(renew_period(self.queue.config().lease));
        loop {
            tokio::select! {
                // A finished handler wins over the deadline.
                biased;
                joined = &mut task => return self.record(claimed, flatten(joined)).await,
                () = &mut deadline => break,
                _ = renew.tick() => match self.queue.renew(claimed).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!("the job's claim was lost (its lease ran out): stopping it");
                        task.abort();
                        return RunResult::Lost;
                    }
                    Err(error) => tracing::warn!(%error, "renewing a job's lease failed"),
                },
            }
        }
        task.abort();
        // Let the abort land, so the handler is not writing while the job is released. A
        // handler that completed before the abort landed keeps its outcome.
        match task.await {
            Ok(outcome) => return self.record(claimed, outcome).await,
            Err(error) if error.is_cancelled() => {}
            Err(error) => return self.record(claimed, flatten(Err(error))).await,
        }
        match self.queue.release(claimed).await {
            Ok(true) => {
                tracing::info!("released the job at shutdown");
                RunResult::Released
            }
            Ok(false) => RunResult::Lost,
            Err(error) => {
                tracing::error!(%error, "releasing a job at shutdown failed: it runs again once its lease runs out");
                RunResult::Released
            }
        }
    }

    /// Writes how the handler's run ended.
    async fn record(&self, claimed: &Claimed, outcome: Result<JobOutcome>) -> RunResult {
        let queue = &self.queue;
        let written = match outcome {
            Ok(JobOutcome::Done(result)) => match queue.succeed(claimed, result).await {
                // A result over the limit is the handler's bug: fail for good.
                Err(error) if error.kind() == ErrorKind::InvalidRequest => queue
                    .fail_permanently(claimed, &stored_error(claimed, &error))
                    .await
                    .map(|done| (done, RunResult::Failed)),
                other => other.map(|done| (done, RunResult::Succeeded)),
            },
            Ok(JobOutcome::Stopped) => queue
                .finish_cancelled(claimed)
                .await
                .map(|done| (done, RunResult::Cancelled)),
            Err(error) if is_permanent(error.kind()) => {
                tracing::warn!(%error, "the job failed for good");
                queue
                    .fail_permanently(claimed, &stored_error(claimed, &error))
                    .await
                    .map(|done| (done, RunResult::Failed))
            }
            Err(error) if error.kind() == ErrorKind::Overloaded => {
                // A busy server is no fault of the job: retry without using an attempt.
                tracing::warn!(%error, "the job's attempt met an overloaded server: retrying it");
                queue
                    .retry_uncounted(claimed, &stored_error(claimed, &error))
                    .await
                    .map(|done| (done, RunResult::Retried))
            }
            Err(error) => {
                let last = claimed.job.attempts >= queue.config().max_attempts;
                tracing::warn!(%error, last, "the job's attempt failed");
                let result = if last {
                    RunResult::Failed
                } else {
                    RunResult::Retried
                };
                queue
                    .fail(claimed, &stored_error(claimed, &error))
                    .await
                    .map(|done| (done, result))
            }
        };
        match written {
            Ok((true, result)) => {
                // Written under the claim: once per job and attempt, whatever crashed.
                tracing::info!(result = result.as_str(), "job finished");
                result
            }
            Ok((false, _)) => {
                tracing::warn!(
                    "the job's claim was lost before it finished: its result is dropped"
                );
                RunResult::Lost
            }
            Err(error) => {
                // The lease runs out and the job is claimed again.
                tracing::error!(%error, "recording the end of a job failed");
                RunResult::Lost
            }
        }
    }
}

/// Counts a finished job task: `Some(released)` when shutdown began while it ran.
fn tally(report: &mut WorkerReport, joined: std::result::Result<Option<bool>, JoinError>) {
    match joined {
        Ok(Some(true)) => report.released += 1,
        Ok(Some(false)) => report.finished_in_grace += 1,
        Ok(None) => {}
        Err(error) => tracing::error!(%error, "a job task ended abnormally"),
    }
}

/// How long a grace or wait too long to represent lasts instead (about 30 years).
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 86_400);

/// How often a running job's lease is renewed: every third of it, at least every 5 ms.
fn renew_period(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(5))
}

/// `after` from now, or the far future when that is too far to represent.
fn later(after: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(after)
        .or_else(|| now.checked_add(FAR_FUTURE))
        .unwrap_or(now)
}

/// The error text kept in the job, which its owner reads. Internal and I/O errors may
/// tell paths, SQL or panic messages: the owner gets a fixed text naming the job, and
/// the full error goes to the log.
fn stored_error(claimed: &Claimed, error: &Error) -> String {
    match error.kind() {
        ErrorKind::Internal | ErrorKind::Io => {
            tracing::error!(%error, kind = ?error.kind(), "the job's handler failed");
            format!(
                "an internal error occurred; it has been logged (job {})",
                claimed.job.id
            )
        }
        _ => error.to_string(),
    }
}

fn flatten(joined: std::result::Result<Result<JobOutcome>, JoinError>) -> Result<JobOutcome> {
    joined.map_err(|e| Error::internal(format!("the job's task ended: {e}")))?
}

fn panic_error(panic: Box<dyn std::any::Any + Send>) -> Error {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_owned());
    Error::internal(format!("the job's handler panicked: {message}"))
}
