//! The grouped writer of job endings: the ends of claimed jobs (succeeded, failed for
//! good, cancelled) that finish at about the same time are committed by one statement,
//! so that a busy queue pays one commit for many jobs instead of one each.
//!
//! One task per queue takes the endings in order. It gathers whatever has arrived
//! (yielding to let workers that are just finishing add theirs, for at most
//! [`LINGER`]) up to [`MAX_BATCH`], writes them with [`finish_sql`], and answers each
//! caller whether its own row applied. Each row still names the claim id the job must
//! carry, so a worker whose lease ran out (and whose job another worker claimed) is
//! refused while the rest of its batch lands. Should the grouped statement fail, which
//! changes nothing as it is one statement, each row is written again alone, so one bad
//! row fails only its own job. A failed write leaves the job running under its claim:
//! its lease runs out and it is claimed again; nothing is lost and nothing finishes
//! twice.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use tracing::Instrument;

use super::repo::{FINISH_COLUMNS, finish_sql};
use crate::store::{Db, db_err};
use crate::{Error, Result};

/// The most job endings in one statement.
pub(super) const MAX_BATCH: usize = 64;
/// The longest the writer waits for more endings before it writes what it has. It
/// waits only while more keep arriving, so a lone ending is written at once.
pub(super) const LINGER: Duration = Duration::from_micros(300);

/// One job's ending: the job, the claim it must still carry, and what to write.
#[derive(Debug)]
pub(super) struct Ending {
    pub(super) id: String,
    pub(super) claim_id: String,
    pub(super) state: &'static str,
    /// JSON text; `None` keeps the stored result.
    pub(super) result: Option<String>,
    /// `None` keeps the stored error.
    pub(super) error: Option<String>,
    pub(super) attempts_delta: i64,
}

type Item = (Ending, oneshot::Sender<Result<bool>>);

/// The handle of a queue's writer task (started on first use, again if the runtime it
/// ran on went away).
#[derive(Debug)]
pub(super) struct FinishWriter {
    db: Db,
    sender: Mutex<Option<mpsc::UnboundedSender<Item>>>,
    stats: Arc<Stats>,
}

/// What the writer did, for tests (and a metric some day).
#[derive(Debug, Default)]
pub(super) struct Stats {
    /// Statements run, grouped or alone (a failed one counts too).
    pub(super) statements: AtomicU64,
    /// Endings written (each once, however many statements it took).
    pub(super) rows: AtomicU64,
}

impl FinishWriter {
    pub(super) fn new(db: Db) -> Self {
        FinishWriter {
            db,
            sender: Mutex::new(None),
            stats: Arc::default(),
        }
    }

    /// Statements and endings written so far.
    #[cfg(test)]
    pub(super) fn stats(&self) -> (u64, u64) {
        (
            self.stats.statements.load(Ordering::Relaxed),
            self.stats.rows.load(Ordering::Relaxed),
        )
    }

    /// Writes `ending` with whatever else is ending now; whether it applied (`false`:
    /// the claim was lost).
    pub(super) async fn finish(&self, ending: Ending) -> Result<bool> {
        let (reply, answer) = oneshot::channel();
        let mut item = (ending, reply);
        {
            // Never held across an await.
            let mut sender = self
                .sender
                .lock()
                .map_err(|_| Error::internal("the job writer's lock was poisoned"))?;
            let mut sent = false;
            for _ in 0..2 {
                if let Some(tx) = sender.as_ref() {
                    match tx.send(item) {
                        Ok(()) => {
                            sent = true;
                            break;
                        }
                        // The task ended (its runtime stopped): start another here.
                        Err(mpsc::error::SendError(back)) => item = back,
                    }
                }
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(run(self.db.clone(), self.stats.clone(), rx));
                *sender = Some(tx);
            }
            if !sent {
                return Err(Error::internal("the job writer could not be started"));
            }
        }
        answer.await.unwrap_or_else(|_| {
            Err(Error::internal(
                "the job writer stopped before answering (the runtime is shutting down)",
            ))
        })
    }
}

/// The writer task: batches until every sender is gone (the queue was dropped).
async fn run(db: Db, stats: Arc<Stats>, mut endings: mpsc::UnboundedReceiver<Item>) {
    // Endings of a job already in the batch wait for the next one: one statement must
    // not name a job twice (which row would apply is not defined).
    let mut later: Vec<Item> = Vec::new();
    loop {
        let mut batch: Vec<Item> = Vec::new();
        let mut deferred: Vec<Item> = Vec::new();
        for item in later.drain(..) {
            add(&mut batch, &mut deferred, item);
        }
        if batch.is_empty() {
            match endings.recv().await {
                Some(item) => batch.push(item),
                None => return,
            }
        }
        let started = Instant::now();
        let mut rounds = 0;
        loop {
            let before = batch.len() + deferred.len();
            while batch.len() < MAX_BATCH {
                match endings.try_recv() {
                    Ok(item) => add(&mut batch, &mut deferred, item),
                    Err(_) => break,
                }
            }
            let grew = batch.len() + deferred.len() > before;
            if batch.len() >= MAX_BATCH || started.elapsed() >= LINGER || (rounds > 0 && !grew) {
                break;
            }
            rounds += 1;
            tokio::task::yield_now().await;
        }
        later = deferred;
        write(&db, &stats, batch).await;
    }
}

fn add(batch: &mut Vec<Item>, deferred: &mut Vec<Item>, item: Item) {
    if batch.iter().any(|(ending, _)| ending.id == item.0.id) {
        deferred.push(item);
    } else {
        batch.push(item);
    }
}

/// Writes one batch and answers its callers; on a failure of the whole, each row alone.
async fn write(db: &Db, stats: &Stats, batch: Vec<Item>) {
    let now = crate::store::now_ms();
    let (rows, replies): (Vec<Ending>, Vec<_>) = batch.into_iter().unzip();
    stats.rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
    stats.statements.fetch_add(1, Ordering::Relaxed);
    let span = tracing::debug_span!("job_endings", rows = rows.len());
    match write_rows(db, now, &rows).instrument(span).await {
        Ok(applied) => {
            for (row, reply) in rows.iter().zip(replies) {
                // A caller that went away does not need its answer.
                let _ = reply.send(Ok(applied.contains(&row.id)));
            }
        }
        Err(error) if rows.len() > 1 => {
            tracing::warn!(%error, rows = rows.len(), "a grouped write of job endings failed: writing them one by one");
            for (row, reply) in rows.iter().zip(replies) {
                stats.statements.fetch_add(1, Ordering::Relaxed);
                let one = write_rows(db, now, std::slice::from_ref(row))
                    .await
                    .map(|applied| applied.contains(&row.id));
                let _ = reply.send(one);
            }
        }
        Err(error) => {
            if let Some(reply) = replies.into_iter().next() {
                let _ = reply.send(Err(error));
            }
        }
    }
}

/// One statement for `rows`; the ids that applied.
async fn write_rows(db: &Db, now: i64, rows: &[Ending]) -> Result<HashSet<String>> {
    debug_assert!(!rows.is_empty() && rows.len() * FINISH_COLUMNS < 30_000);
    let sql = finish_sql(rows.len());
    let mut query = sqlx::query_scalar::<_, String>(&sql).bind(now);
    for row in rows {
        query = query
            .bind(row.id.clone())
            .bind(row.claim_id.clone())
            .bind(row.state)
            .bind(row.result.clone())
            .bind(row.error.clone())
            .bind(row.attempts_delta);
    }
    let applied = query
        .fetch_all(db.pool())
        .await
        .map_err(db_err("finishing jobs"))?;
    Ok(applied.into_iter().collect())
}
