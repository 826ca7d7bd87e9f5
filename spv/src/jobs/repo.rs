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

/// The claim of up to `$5` jobs in one statement, atomic on both engines. On PostgreSQL
/// the jobs whose lease ran out are taken first, then the oldest due queued jobs, each
/// pick an index-ordered `LIMIT … FOR UPDATE SKIP LOCKED`, so concurrent claimers (other
/// processes) skip each other's rows instead of queueing behind them. The outer
/// condition repeats the inner one so that a row taken meanwhile by another claimer is
/// left alone. SQLite runs one writer at a time, which makes its simpler statement
/// atomic there. Every job of one claim carries the same claim id: writes name the job
/// too, and a job claimed again always gets a new one.
///
/// Binds: `$1` now, `$2` lease end, `$3` worker id, `$4` claim id, `$5` how many jobs at
/// most, then `kinds` kinds.
pub(crate) fn claim_sql(backend: Backend, kinds: usize) -> String {
    let kind_filter = if kinds == 0 {
        String::new()
    } else {
        let params: Vec<String> = (0..kinds).map(|i| format!("${}", i + 6)).collect();
        format!(" AND kind IN ({})", params.join(", "))
    };
    let set = "UPDATE jobs SET state = 'running', attempts = attempts + 1, lease_until = $2, \
         worker_id = $3, claim_id = $4, updated_at = $1, started_at = COALESCE(started_at, $1)";
    match backend {
        // The claim commits without waiting for its WAL flush (`NO_FLUSH_WAIT`).
        // Two picks: jobs whose lease ran out (few; read through `jobs_state_run_at`'s
        // `running` part), then as many of the oldest due queued jobs as are still
        // wanted (`jobs_state_run_at`, read in order: no sort of the whole queue, so a
        // claim costs the same with 10 or 100,000 jobs waiting). `FOR UPDATE` is not
        // allowed on a `UNION`, hence two CTEs. The picked ids go to the update as one
        // array, so the update reads them through the primary key (a join on the CTEs
        // was planned as a scan of every runnable row).
        Backend::Postgres => format!(
            "WITH expired AS (SELECT id FROM jobs WHERE state = 'running' AND lease_until < $1\
             {kind_filter} ORDER BY run_at, id LIMIT $5 FOR UPDATE SKIP LOCKED), \
             due AS (SELECT id FROM jobs WHERE state = 'queued' AND run_at <= $1{kind_filter} \
             ORDER BY run_at, id LIMIT $5 - (SELECT COUNT(*) FROM expired) \
             FOR UPDATE SKIP LOCKED) \
             {set} WHERE id = ANY(ARRAY(SELECT id FROM expired UNION ALL SELECT id FROM due)) \
             AND {RUNNABLE} AND {NO_FLUSH_WAIT} RETURNING {COLUMNS}"
        ),
        Backend::Sqlite => format!(
            "{set} WHERE id IN (SELECT id FROM jobs WHERE {RUNNABLE}{kind_filter} \
             ORDER BY run_at, id LIMIT $5) AND {RUNNABLE} RETURNING {COLUMNS}"
        ),
    }
}

/// PostgreSQL: a condition that is always true and turns `synchronous_commit` off for
/// the statement's own transaction, so a claim does not wait for the disk (a WAL flush
/// took 6.6 ms on the benchmark machine, a claim without it 0.4 ms). That is safe: should
/// the server crash before the flush, the claim is undone and the job is claimed again
/// later, as the job of a worker that died is. The job's end is written with a normal,
/// durable commit, and WAL is flushed in order, so an end is never durable without its
/// claim, and the claim id still fences a worker whose claim was undone.
const NO_FLUSH_WAIT: &str = "(SELECT set_config('synchronous_commit', 'off', true)) = 'off'";

/// The columns of one row of [`finish_sql`]'s batch, in bind order: id, claim id, new
/// state, result (JSON text or NULL to keep), error (or NULL to keep), attempts delta.
pub(crate) const FINISH_COLUMNS: usize = 6;

/// Ends `rows` claimed jobs in one statement (same SQL on both engines): each row of the
/// `VALUES` list names a job and the claim id it must still carry, so a row whose claim
/// was lost changes nothing while the others apply. `RETURNING id` tells which applied.
///
/// Binds: `$1` now, then [`FINISH_COLUMNS`] per row. `VALUES` names its columns
/// `column1`, `column2`, … on both engines.
pub(crate) fn finish_sql(rows: usize) -> String {
    let values: Vec<String> = (0..rows)
        .map(|row| {
            let first = 2 + row * FINISH_COLUMNS;
            let params: Vec<String> = (first..first + FINISH_COLUMNS)
                .map(|i| format!("${i}"))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    format!(
        "UPDATE jobs SET state = v.column3, result = COALESCE(v.column4, jobs.result), \
         error = COALESCE(v.column5, jobs.error), attempts = jobs.attempts + v.column6, \
         lease_until = NULL, finished_at = $1, updated_at = $1, \
         progress = CASE WHEN v.column3 = 'succeeded' THEN 1 ELSE jobs.progress END \
         FROM (VALUES {}) AS v \
         WHERE jobs.id = v.column1 AND jobs.claim_id = v.column2 AND jobs.state = 'running' \
         RETURNING id",
        values.join(", ")
    )
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
        assert!(pg.contains("synchronous_commit"), "{pg}");
        assert!(pg.contains("kind IN ($6, $7)"), "{pg}");
        let lite = claim_sql(Backend::Sqlite, 0);
        assert!(
            !lite.contains("SKIP LOCKED")
                && !lite.contains("kind IN")
                && !lite.contains("set_config"),
            "{lite}"
        );
    }

    #[test]
    fn finish_sql_numbers_six_binds_per_row_after_now() {
        let sql = finish_sql(2);
        assert!(
            sql.contains("VALUES ($2, $3, $4, $5, $6, $7), ($8, $9, $10, $11, $12, $13)"),
            "{sql}"
        );
    }
}
