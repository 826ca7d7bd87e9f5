//! [`JobQueue`]: the queue over [`Db`] with an in-process wake-up for workers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, broadcast};
use uuid::Uuid;

use super::repo::{COLUMNS, claim_sql, from_row, held};
use super::types::{
    Claimed, MAX_CLAIM_BATCH, MAX_CLAIM_KINDS, NewJob, QueueConfig, check_kind, check_new,
    check_worker_id, clip, json_within,
};
use super::writer::{Ending, FinishWriter};
use crate::api::{Job, JobState};
use crate::store::{Db, db_err, now_ms, to_ms};
use crate::{Error, ErrorKind, Result};

/// A job queue in the database; cheap to clone (clones share the wake-up).
///
/// Every write that moves a claimed job on ([`renew`](Self::renew),
/// [`progress`](Self::progress), [`succeed`](Self::succeed), [`fail`](Self::fail),
/// [`release`](Self::release), [`finish_cancelled`](Self::finish_cancelled)) takes the
/// [`Claimed`] proof and answers `Ok(false)`, changing nothing, when the claim was lost:
/// the lease ran out and another worker claimed the job (or it was pruned). So a job is
/// never finished twice. A claim whose lease ran out but that nobody took yet still holds.
#[derive(Debug, Clone)]
pub struct JobQueue {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: Db,
    config: QueueConfig,
    work: Arc<Notify>,
    changes: broadcast::Sender<Uuid>,
    /// Dropped with the queue, which ends its listener task.
    listener_stop: std::sync::OnceLock<tokio::sync::oneshot::Sender<()>>,
    /// PostgreSQL: the channel enqueues notify (`spv_jobs`, with the schema); `None` on
    /// SQLite.
    channel: Option<String>,
    /// Writes the ends of claimed jobs, several in one statement.
    writer: FinishWriter,
    /// Set once this queue listens on [`channel`](Self::channel) (first
    /// [`JobQueue::wait_for_work`]).
    listening: tokio::sync::OnceCell<()>,
}

/// The PostgreSQL channel of job wake-ups: `spv_jobs`, or `spv_jobs_<schema>` when the
/// database uses a schema of its own, so deployments (and tests) sharing one server in
/// different schemas do not wake each other.
fn wake_channel(db: &Db) -> Option<String> {
    let target = db.listen_target()?;
    Some(match &target.schema {
        Some(schema) => format!("spv_jobs_{}", schema.to_ascii_lowercase()),
        None => "spv_jobs".to_string(),
    })
}

/// How long the first [`JobQueue::wait_for_work`] waits for its `LISTEN` to be in place.
const LISTEN_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the listener waits before connecting again after a failure.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

/// How many change notices a slow [`JobQueue::subscribe`]r may fall behind before it
/// is told it lagged (and then reads again what it follows).
const CHANGES_CAPACITY: usize = 1024;

/// Milliseconds of a duration, saturating.
pub(super) fn ms(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl JobQueue {
    /// A queue over `db` (migrated by [`Db`]'s constructors); `max_attempts` 0 counts as 1.
    pub fn new(db: Db, mut config: QueueConfig) -> Self {
        config.max_attempts = config.max_attempts.max(1);
        let channel = wake_channel(&db);
        JobQueue {
            inner: Arc::new(Inner {
                writer: FinishWriter::new(db.clone()),
                db,
                config,
                work: Arc::new(Notify::new()),
                changes: broadcast::channel(CHANGES_CAPACITY).0,
                listener_stop: std::sync::OnceLock::new(),
                channel,
                listening: tokio::sync::OnceCell::new(),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &QueueConfig {
        &self.inner.config
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.inner.db
    }

    /// Statements the grouped writer of job endings ran, and endings it wrote.
    #[cfg(test)]
    pub(crate) fn writer_stats(&self) -> (u64, u64) {
        self.inner.writer.stats()
    }

    /// The ids of jobs that changed in this process from now on: every write of this
    /// queue (enqueue, claim, progress, finish, fail, release, cancel; not lease renewals)
    /// sends the job's id. Bounded: a receiver that falls behind gets
    /// [`broadcast::error::RecvError::Lagged`] and should read what it follows again.
    /// Changes made by other processes are not seen: poll as well.
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.inner.changes.subscribe()
    }

    /// Tells subscribers that job `id` changed.
    fn changed(&self, id: Uuid) {
        // No subscribers is not an error.
        let _ = self.inner.changes.send(id);
    }

    /// Adds a job and wakes one waiting worker. With an idempotency key that the same
    /// owner used before, nothing is added and the first job is answered (whatever its
    /// state); a different kind or payload under the same key is an
    /// [`ErrorKind::Conflict`] naming the key.
    /// Limits ([`ErrorKind::InvalidRequest`], naming the field): kind, payload, key.
    pub async fn enqueue(&self, job: NewJob) -> Result<Job> {
        let payload = check_new(&job)?;
        let now = now_ms();
        let id = Uuid::now_v7();
        let run_at = job.run_at.map_or(now, to_ms);
        // A concurrent enqueue with the same key makes this insert do nothing (the unique
        // index); the select then finds the winner's row.
        let done = sqlx::query(
            "INSERT INTO jobs (id, kind, payload, owner_id, idempotency_key, state, attempts, \
             run_at, progress, cancel_requested, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, 0, 0, $7, $7) ON CONFLICT DO NOTHING",
        )
        .bind(id.to_string())
        .bind(&job.kind)
        .bind(payload)
        .bind(job.owner.map(|o| o.to_string()))
        .bind(job.idempotency_key.clone())
        .bind(run_at)
        .bind(now)
        .execute(self.inner.db.pool())
        .await
        .map_err(db_err("enqueuing a job"))?;
        if done.rows_affected() == 1 {
            if run_at <= now {
                self.notify_others(&job.kind).await;
            }
            self.inner.work.notify_one();
            self.changed(id);
            return self.get(id).await;
        }
        let Some(key) = &job.idempotency_key else {
            return Err(Error::internal("a new job was not stored"));
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM jobs WHERE COALESCE(owner_id, '') = $1 \
             AND idempotency_key = $2"
        );
        let row = sqlx::query(&sql)
            .bind(job.owner.map(|o| o.to_string()).unwrap_or_default())
            .bind(key.clone())
            .fetch_optional(self.inner.db.pool())
            .await
            .map_err(db_err("reading a job by idempotency key"))?;
        let Some(existing) = row.as_ref().map(from_row).transpose()? else {
            return Err(Error::new(
                ErrorKind::Conflict,
                "the job of this idempotency key was removed meanwhile: try again",
            ));
        };
        if existing.kind != job.kind {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "idempotency_key \"{key}\" was used for a job of kind \"{}\", not \"{}\"",
                    existing.kind, job.kind
                ),
            ));
        }
        if existing.payload != job.payload {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "idempotency_key \"{key}\" was used for job {} with a different payload: \
                     use a new key for a different job",
                    existing.id
                ),
            ));
        }
        Ok(existing)
    }

    /// Takes the oldest runnable job of one of `kinds` (any kind when empty): queued and
    /// due, or running with an expired lease (its worker died). The job becomes running
    /// under a lease of [`QueueConfig::lease`] held by `worker_id`, its attempts counted.
    /// A dead worker's job that already used every attempt is marked failed instead, and
    /// one whose cancelling was asked for is marked cancelled; then the next job is tried.
    /// Safe with any number of concurrent claimers, on both engines.
    pub async fn claim(&self, worker_id: &str, kinds: &[&str]) -> Result<Option<Claimed>> {
        Ok(self.claim_batch(worker_id, kinds, 1).await?.pop())
    }

    /// Takes up to `max` runnable jobs at once, as [`claim`](Self::claim) takes one: one
    /// statement, one commit (on PostgreSQL the expired leases first, then the oldest due
    /// jobs, skipping rows that concurrent claimers hold). A pool of workers asks for as
    /// many as it has free slots, so it never holds a job it cannot start. Answers fewer
    /// (or none) when fewer are runnable, oldest first. `max` is 1 to
    /// [`MAX_CLAIM_BATCH`] ([`ErrorKind::InvalidRequest`] otherwise).
    pub async fn claim_batch(
        &self,
        worker_id: &str,
        kinds: &[&str],
        max: usize,
    ) -> Result<Vec<Claimed>> {
        check_worker_id(worker_id)?;
        if kinds.len() > MAX_CLAIM_KINDS {
            return Err(Error::invalid_request(format!(
                "{} kinds is too many: expected at most {MAX_CLAIM_KINDS}",
                kinds.len()
            )));
        }
        if max == 0 || max > MAX_CLAIM_BATCH {
            return Err(Error::invalid_request(format!(
                "a claim of {max} jobs is not valid: expected 1 to {MAX_CLAIM_BATCH}"
            )));
        }
        for kind in kinds {
            check_kind(kind)?;
        }
        let sql = claim_sql(self.inner.db.backend(), kinds.len());
        let mut claimed = Vec::new();
        while claimed.len() < max {
            let want = max - claimed.len();
            let now = now_ms();
            let claim_id = Uuid::now_v7().to_string();
            let mut query = sqlx::query(&sql)
                .bind(now)
                .bind(now.saturating_add(ms(self.inner.config.lease)))
                .bind(worker_id.to_string())
                .bind(claim_id.clone())
                .bind(i64::try_from(want).unwrap_or(1));
            for kind in kinds {
                query = query.bind(kind.to_string());
            }
            let rows = query
                .fetch_all(self.inner.db.pool())
                .await
                .map_err(db_err("claiming jobs"))?;
            let full = rows.len() >= want;
            let mut jobs = rows.iter().map(from_row).collect::<Result<Vec<_>>>()?;
            jobs.sort_by_key(|job| (job.run_at, job.id));
            for job in jobs {
                let one = Claimed {
                    job,
                    worker_id: worker_id.to_string(),
                    claim_id: claim_id.clone(),
                };
                self.changed(one.job.id);
                if one.job.cancel_requested {
                    self.finish_cancelled(&one).await?;
                } else if one.job.attempts > self.inner.config.max_attempts {
                    let error = one.job.error.clone().unwrap_or_else(|| {
                        "the worker stopped while running the job (its lease expired)".to_string()
                    });
                    self.finish(&one, JobState::Failed, None, Some(&error), -1)
                        .await?;
                } else {
                    claimed.push(one);
                }
            }
            // Fewer than asked: nothing more is runnable now.
            if !full {
                break;
            }
        }
        Ok(claimed)
    }

    /// Extends the lease by [`QueueConfig::lease`] from now; `false` when the claim was lost.
    pub async fn renew(&self, claimed: &Claimed) -> Result<bool> {
        let now = now_ms();
        let sql = format!(
            "UPDATE jobs SET lease_until = $1, updated_at = $2 WHERE {}",
            held(3, 4)
        );
        self.write_held(
            sqlx::query(&sql)
                .bind(now.saturating_add(ms(self.inner.config.lease)))
                .bind(now),
            claimed,
            "renewing a lease",
        )
        .await
    }

    /// Records progress (0 to 1) and what the worker is doing; also renews the lease.
    /// `false` when the claim was lost.
    pub async fn progress(
        &self,
        claimed: &Claimed,
        progress: f32,
        message: Option<&str>,
    ) -> Result<bool> {
        if !(0.0..=1.0).contains(&progress) {
            return Err(Error::invalid_request(format!(
                "progress {progress} is not valid: expected 0 to 1"
            )));
        }
        let now = now_ms();
        let sql = format!(
            "UPDATE jobs SET progress = $1, progress_message = $2, lease_until = $3, \
             updated_at = $4 WHERE {}",
            held(5, 6)
        );
        let query = sqlx::query(&sql)
            .bind(f64::from(progress))
            .bind(message.map(clip))
            .bind(now.saturating_add(ms(self.inner.config.lease)))
            .bind(now);
        let done = self
            .write_held(query, claimed, "recording progress")
            .await?;
        if done {
            self.changed(claimed.job.id);
        }
        Ok(done)
    }

    /// Finishes the job with `result` (at most 1 MiB as JSON); `false` when the claim was
    /// lost (the job was claimed again after the lease ran out), in which case nothing
    /// changes.
    pub async fn succeed(&self, claimed: &Claimed, result: Value) -> Result<bool> {
        let result = json_within(&result, "result")?;
        self.finish(claimed, JobState::Succeeded, Some(result), None, 0)
            .await
    }

    /// Records a failed attempt with its error. While attempts remain the job is queued
    /// again after [`QueueConfig::backoff`]; after the last it stays failed. The error is
    /// kept either way. `false` when the claim was lost.
    pub async fn fail(&self, claimed: &Claimed, error: &str) -> Result<bool> {
        let attempts = claimed.job.attempts;
        if attempts >= self.inner.config.max_attempts {
            return self
                .finish(claimed, JobState::Failed, None, Some(error), 0)
                .await;
        }
        let now = now_ms();
        let run_at = now.saturating_add(ms(self.inner.config.backoff(attempts)));
        let sql = format!(
            "UPDATE jobs SET state = 'queued', run_at = $1, error = $2, lease_until = NULL, \
             claim_id = NULL, updated_at = $3 WHERE {}",
            held(4, 5)
        );
        let query = sqlx::query(&sql).bind(run_at).bind(clip(error)).bind(now);
        let done = self.write_held(query, claimed, "failing a job").await?;
        if done {
            self.inner.work.notify_one();
            self.changed(claimed.job.id);
        }
        Ok(done)
    }

    /// Queues the job again after [`QueueConfig::backoff`] without counting the attempt,
    /// keeping `error`: for failures that are no fault of the job, such as an overloaded
    /// render pool, so that a burst of load does not use up its attempts. (Such a job is
    /// retried for as long as the failures last.) `false` when the claim was lost.
    pub async fn retry_uncounted(&self, claimed: &Claimed, error: &str) -> Result<bool> {
        let now = now_ms();
        let run_at = now.saturating_add(ms(self.inner.config.backoff(claimed.job.attempts)));
        let sql = format!(
            "UPDATE jobs SET state = 'queued', run_at = $1, attempts = attempts - 1, \
             error = $2, lease_until = NULL, claim_id = NULL, updated_at = $3 WHERE {}",
            held(4, 5)
        );
        let query = sqlx::query(&sql).bind(run_at).bind(clip(error)).bind(now);
        let done = self.write_held(query, claimed, "retrying a job").await?;
        if done {
            self.inner.work.notify_one();
            self.changed(claimed.job.id);
        }
        Ok(done)
    }

    /// Records a failure that no retry can mend (bad input, a missing document, lost
    /// access): the job stays failed with `error` whatever attempts remain. `false` when
    /// the claim was lost.
    pub async fn fail_permanently(&self, claimed: &Claimed, error: &str) -> Result<bool> {
        self.finish(claimed, JobState::Failed, None, Some(error), 0)
            .await
    }

    /// Gives a job back at shutdown: queued again at once, its attempt not counted (it did
    /// not fail: the worker is going away), its progress kept. `false` when the claim was
    /// lost.
    pub async fn release(&self, claimed: &Claimed) -> Result<bool> {
        let now = now_ms();
        let sql = format!(
            "UPDATE jobs SET state = 'queued', run_at = $1, attempts = attempts - 1, \
             lease_until = NULL, claim_id = NULL, updated_at = $1 WHERE {}",
            held(2, 3)
        );
        let done = self
            .write_held(sqlx::query(&sql).bind(now), claimed, "releasing a job")
            .await?;
        if done {
            self.notify_others(&claimed.job.kind).await;
            self.inner.work.notify_one();
            self.changed(claimed.job.id);
        }
        Ok(done)
    }

    /// Whether the worker should stop at this checkpoint: cancelling was asked for, or
    /// the claim was lost (another worker has the job now).
    pub async fn is_cancelled(&self, claimed: &Claimed) -> Result<bool> {
        let row = sqlx::query("SELECT cancel_requested, claim_id, state FROM jobs WHERE id = $1")
            .bind(claimed.job.id.to_string())
            .fetch_optional(self.inner.db.pool())
            .await
            .map_err(db_err("reading a job's cancel flag"))?;
        let Some(row) = row else { return Ok(true) };
        use sqlx::Row;
        let flag: i64 = row.try_get(0).map_err(db_err("reading a job row"))?;
        let claim: Option<String> = row.try_get(1).map_err(db_err("reading a job row"))?;
        let state: String = row.try_get(2).map_err(db_err("reading a job row"))?;
        Ok(flag != 0 || state != "running" || claim.as_deref() != Some(&claimed.claim_id))
    }

    /// Ends a running job as cancelled, once the worker saw [`is_cancelled`](Self::is_cancelled).
    /// `false` when the claim was lost.
    pub async fn finish_cancelled(&self, claimed: &Claimed) -> Result<bool> {
        self.finish(claimed, JobState::Cancelled, None, None, 0)
            .await
    }

    /// Cancels a job of `owner` (`None`: any owner, for admins): a queued job is cancelled
    /// at once and never runs; a running one is flagged and stops at its worker's next
    /// checkpoint. A finished job is an [`ErrorKind::Conflict`]; another owner's job is
    /// [`ErrorKind::NotFound`]. Answers the job as it is now.
    pub async fn cancel(&self, id: Uuid, owner: Option<Uuid>) -> Result<Job> {
        loop {
            let job = self.get(id).await?;
            if owner.is_some() && job.owner_id != owner {
                return Err(not_found(id));
            }
            let now = now_ms();
            let done = match job.state {
                JobState::Queued => sqlx::query(
                    "UPDATE jobs SET state = 'cancelled', finished_at = $1, updated_at = $1 \
                     WHERE id = $2 AND state = 'queued'",
                ),
                JobState::Running => sqlx::query(
                    "UPDATE jobs SET cancel_requested = 1, updated_at = $1 \
                     WHERE id = $2 AND state = 'running'",
                ),
                finished => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!("job {id} has already {}", finished.as_str()),
                    ));
                }
            }
            .bind(now)
            .bind(id.to_string())
            .execute(self.inner.db.pool())
            .await
            .map_err(db_err("cancelling a job"))?;
            // Zero rows: the state moved meanwhile (claimed, finished); look again.
            if done.rows_affected() > 0 {
                self.changed(id);
                return self.get(id).await;
            }
        }
    }

    /// A job by id ([`ErrorKind::NotFound`] when missing).
    pub async fn get(&self, id: Uuid) -> Result<Job> {
        let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id.to_string())
            .fetch_optional(self.inner.db.pool())
            .await
            .map_err(db_err("reading a job"))?;
        row.as_ref()
            .map(from_row)
            .transpose()?
            .ok_or_else(|| not_found(id))
    }

    /// Waits until a job is enqueued (or given back), or `timeout` passes; answers
    /// whether it was woken. Workers call it when [`claim`](Self::claim) found nothing;
    /// the timeout is the safety net for jobs that became due later. One enqueue wakes
    /// one waiter (or the next one to wait).
    ///
    /// On PostgreSQL an enqueue in another process wakes it too: enqueues (and releases)
    /// send `NOTIFY` on the queue's channel, which the queue [`listen`](Self::listen)s to
    /// from the first call here on. On SQLite (one process) only this process's enqueues
    /// wake it.
    pub async fn wait_for_work(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        if self.inner.channel.is_some() && !self.inner.listening.initialized() {
            let _ = tokio::time::timeout_at(deadline, self.listen()).await;
        }
        tokio::time::timeout_at(deadline, self.inner.work.notified())
            .await
            .is_ok()
    }

    /// PostgreSQL: starts listening for jobs that other processes enqueue (or release),
    /// so that [`wait_for_work`](Self::wait_for_work) wakes within milliseconds of them;
    /// answers once the `LISTEN` is in place (or after 5 s without a connection, polling
    /// meanwhile). Idempotent; nothing on SQLite. [`Workers`](super::Workers) call it
    /// before their first claim, so no job enqueued meanwhile waits for a poll.
    ///
    /// The listener runs on a connection of its own, reconnects by itself (a wake-up
    /// follows each reconnection, for what was missed) and logs once per outage, while
    /// polling carries on; it ends when the queue is dropped.
    pub async fn listen(&self) {
        if self.inner.channel.is_some() {
            self.inner
                .listening
                .get_or_init(|| start_listener(&self.inner))
                .await;
        }
    }

    /// PostgreSQL: tells the other processes' idle workers (their listeners) that a job
    /// of `kind` is due. A failure only delays the job until they poll: logged, not
    /// returned.
    async fn notify_others(&self, kind: &str) {
        let Some(channel) = &self.inner.channel else {
            return;
        };
        if let Err(error) = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(channel.as_str())
            .bind(kind)
            .execute(self.inner.db.pool())
            .await
        {
            tracing::warn!(%error, "notifying other processes of a job failed: they find it when they poll");
        }
    }

    /// Ends a claimed job in `state` (also clearing the lease); `attempts_delta` corrects
    /// the count of a claim that never ran. Written by the queue's grouped writer
    /// ([`super::writer`]) together with other jobs ending at the same time.
    async fn finish(
        &self,
        claimed: &Claimed,
        state: JobState,
        result: Option<String>,
        error: Option<&str>,
        attempts_delta: i64,
    ) -> Result<bool> {
        let ending = Ending {
            id: claimed.job.id.to_string(),
            claim_id: claimed.claim_id.clone(),
            state: state.as_str(),
            result,
            error: error.map(clip),
            attempts_delta,
        };
        let done = self.inner.writer.finish(ending).await?;
        if done {
            self.changed(claimed.job.id);
        }
        Ok(done)
    }

    /// Runs a write whose last two binds are the job's id and claim id; whether it applied.
    async fn write_held<'q>(
        &self,
        query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
        claimed: &Claimed,
        doing: &'static str,
    ) -> Result<bool> {
        let done = query
            .bind(claimed.job.id.to_string())
            .bind(claimed.claim_id.clone())
            .execute(self.inner.db.pool())
            .await
            .map_err(db_err(doing))?;
        Ok(done.rows_affected() > 0)
    }
}

/// Connects a `PgListener` to the queue's channel (waiting at most
/// [`LISTEN_CONNECT_TIMEOUT`]), then spawns the task that turns its notifications into
/// wake-ups of this process's waiting workers, reconnecting when the connection drops.
/// The task ends when the queue is dropped.
async fn start_listener(inner: &Inner) {
    let (Some(target), Some(channel)) = (inner.db.listen_target(), inner.channel.clone()) else {
        return;
    };
    let url = target.url.clone();
    let first = tokio::time::timeout(LISTEN_CONNECT_TIMEOUT, listen(&url, &channel)).await;
    let listener = match first {
        Ok(Ok(listener)) => Some(listener),
        Ok(Err(error)) => {
            tracing::warn!(%error, %channel, "cannot listen for jobs of other processes: polling until the listener connects");
            None
        }
        Err(_elapsed) => {
            tracing::warn!(%channel, "listening for jobs of other processes timed out: polling until the listener connects");
            None
        }
    };
    let (stop_tx, stop) = tokio::sync::oneshot::channel();
    if inner.listener_stop.set(stop_tx).is_ok() {
        tokio::spawn(run_listener(
            inner.work.clone(),
            url,
            channel,
            listener,
            stop,
        ));
    }
}

async fn listen(url: &str, channel: &str) -> std::result::Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(channel).await?;
    Ok(listener)
}

/// The listener's loop: each notification wakes one waiting worker; a lost connection is
/// reconnected (with a wake-up then, for what may have been missed). Ends when `stop`'s
/// sender (held by the queue) is dropped.
async fn run_listener(
    work: Arc<Notify>,
    url: String,
    channel: String,
    mut listener: Option<PgListener>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut down = listener.is_none();
    loop {
        let Some(active) = listener.as_mut() else {
            tokio::select! {
                _ = &mut stop => return,
                () = tokio::time::sleep(LISTEN_RETRY) => {}
            }
            match listen(&url, &channel).await {
                Ok(connected) => {
                    tracing::info!(%channel, "listening for jobs of other processes again");
                    listener = Some(connected);
                    down = false;
                    work.notify_one();
                }
                Err(error) => {
                    if !down {
                        tracing::warn!(%error, %channel, "the job listener cannot connect: polling meanwhile");
                        down = true;
                    }
                }
            }
            continue;
        };
        let received = tokio::select! {
            _ = &mut stop => return,
            received = active.try_recv() => received,
        };
        match received {
            Ok(Some(_notification)) => work.notify_one(),
            Ok(None) => {
                // The connection dropped; the next try_recv reconnects. Jobs sent
                // meanwhile were missed: wake a worker to look.
                tracing::warn!(%channel, "the job listener's connection dropped: reconnecting");
                work.notify_one();
            }
            Err(error) => {
                if !down {
                    tracing::warn!(%error, %channel, "the job listener failed: polling until it reconnects");
                }
                listener = None;
                down = true;
                work.notify_one();
            }
        }
    }
}

fn not_found(id: Uuid) -> Error {
    Error::new(ErrorKind::NotFound, format!("job {id} was not found"))
}
