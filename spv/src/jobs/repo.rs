//! The SQL of the job queue: columns, the claim statement per backend, row decoding.

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::api::{Job, JobState};
use crate::store::{Backend, db_err, from_ms};
use crate::{Error, Result};

/// The columns of a [`Job`], in the order [`from_row`] reads them by name.
pub(crate) const COLUMNS: &str = "id, kind, payload, owner_id, idempotency_key, state, \
    attempts, run_at, lease_until, worker_id, progress, progress_message, result, error, \
    cancel_requested, created_at, updated_at, started_at, finished_at";

/// Which jobs may be claimed at `$1` (now, Unix ms): queued and due, or running with an
/// expired lease (their worker stopped).
const RUNNABLE: &str =
    "((state = 'queued' AND run_at <= $1) OR (state = 'running' AND lease_until < $1))";

/// The claim: one `UPDATE … WHERE id = (SELECT … LIMIT 1) RETURNING`, atomic on both
/// engines (on PostgreSQL an expired lease is taken before due queued jobs). The outer condition repeats the inner one so that a row taken meanwhile by
/// another claimer is left alone; PostgreSQL also skips rows locked by concurrent claims
/// (`FOR UPDATE SKIP LOCKED`), so claimers do not queue behind each other. SQLite runs one
/// writer at a time, which makes the statement atomic there.
///
/// Binds: `$1` now, `$2` lease end, `$3` worker id, `$4` claim id, then `kinds` kinds.
pub(crate) fn claim_sql(backend: Backend, kinds: usize) -> String {
    let kind_filter = if kinds == 0 {
        String::new()
    } else {
        let params: Vec<String> = (0..kinds).map(|i| format!("${}", i + 5)).collect();
        format!(" AND kind IN ({})", params.join(", "))
    };
    let set = "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = $2, \
         worker_id = $3, claim_id = $4, updated_at = $1, started_at = COALESCE(started_at, $1)";
    match backend {
        // Two index-ordered picks, each `LIMIT 1 FOR UPDATE SKIP LOCKED`: a job whose
        // lease ran out (few; `jobs_state_lease`) first, else the oldest due queued job
        // (`jobs_state_run_at`, read in order: no sort of the whole queue, so a claim
        // costs the same with 10 or 100,000 jobs waiting). PostgreSQL evaluates the
        // second pick only when the first found nothing.
        Backend::Postgres => format!(
            "{set} WHERE id = COALESCE(\
             (SELECT id FROM jobs WHERE state = 'running' AND lease_until < $1{kind_filter} \
             ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED), \
             (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= $1{kind_filter} \
             ORDER BY run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)) \
             AND {RUNNABLE} RETURNING {COLUMNS}"
        ),
        Backend::Sqlite => format!(
            "{set} WHERE id = (SELECT id FROM jobs WHERE {RUNNABLE}{kind_filter} \
             ORDER BY run_at, id LIMIT 1) AND {RUNNABLE} RETURNING {COLUMNS}"
        ),
    }
}

/// The condition of a write by the holder of a claim: `$a` the id, `$b` the claim id.
pub(crate) fn held(id: usize, claim: usize) -> String {
    format!("id = ${id} AND claim_id = ${claim} AND state = 'running'")
}

/// A job row as a [`Job`].
pub(crate) fn from_row(row: &AnyRow) -> Result<Job> {
    let err = || db_err("reading a job row");
    let text = |name: &str| row.try_get::<String, _>(name).map_err(err());
    let opt_text = |name: &str| row.try_get::<Option<String>, _>(name).map_err(err());
    let int = |name: &str| row.try_get::<i64, _>(name).map_err(err());
    let opt_time = |name: &str| -> Result<_> {
        Ok(row
            .try_get::<Option<i64>, _>(name)
            .map_err(err())?
            .map(from_ms))
    };
    let uuid = |name: &str, value: &str| {
        Uuid::parse_str(value)
            .map_err(|e| Error::internal(format!("stored {name} \"{value}\" is not a uuid: {e}")))
    };
    let json = |name: &str, value: &str| {
        serde_json::from_str(value)
            .map_err(|e| Error::internal(format!("stored job {name} is not valid json: {e}")))
    };
    let state = text("state")?;
    let owner_id = match opt_text("owner_id")? {
        Some(owner) => Some(uuid("owner_id", &owner)?),
        None => None,
    };
    let result = match opt_text("result")? {
        Some(result) => Some(json("result", &result)?),
        None => None,
    };
    let progress: f64 = row.try_get("progress").map_err(err())?;
    Ok(Job {
        id: uuid("id", &text("id")?)?,
        kind: text("kind")?,
        payload: json("payload", &text("payload")?)?,
        owner_id,
        idempotency_key: opt_text("idempotency_key")?,
        state: JobState::parse(&state)
            .ok_or_else(|| Error::internal(format!("stored job state \"{state}\" is unknown")))?,
        attempts: u32::try_from(int("attempts")?).unwrap_or(0),
        run_at: from_ms(int("run_at")?),
        lease_until: opt_time("lease_until")?,
        worker_id: opt_text("worker_id")?,
        progress: progress as f32,
        progress_message: opt_text("progress_message")?,
        result,
        error: opt_text("error")?,
        cancel_requested: int("cancel_requested")? != 0,
        created_at: from_ms(int("created_at")?),
        updated_at: from_ms(int("updated_at")?),
        started_at: opt_time("started_at")?,
        finished_at: opt_time("finished_at")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_sql_locks_on_postgres_only_and_numbers_kinds() {
        let pg = claim_sql(Backend::Postgres, 2);
        assert!(pg.contains("FOR UPDATE SKIP LOCKED"), "{pg}");
        assert!(pg.contains("kind IN ($5, $6)"), "{pg}");
        let lite = claim_sql(Backend::Sqlite, 0);
        assert!(
            !lite.contains("SKIP LOCKED") && !lite.contains("kind IN"),
            "{lite}"
        );
    }
}
