-- The job queue (issue 4). Forward-only: never edit once landed.
-- Ids are UUID v7 text, times are unix milliseconds, flags are BIGINT 0/1, JSON is TEXT
-- (same conventions as 0001-0003). owner_id has no foreign key (system jobs have none).
-- A claim sets state 'running', lease_until and a fresh claim_id; every write that ends
-- a job checks claim_id, so a worker whose lease expired and whose job was claimed again
-- can never finish it a second time.

CREATE TABLE jobs (
    id               TEXT    PRIMARY KEY NOT NULL,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    owner_id         TEXT,
    idempotency_key  TEXT,
    state            TEXT    NOT NULL
        CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    attempts         BIGINT  NOT NULL DEFAULT 0,
    run_at           BIGINT  NOT NULL,
    lease_until      BIGINT,
    worker_id        TEXT,
    claim_id         TEXT,
    progress         REAL    NOT NULL DEFAULT 0,
    progress_message TEXT,
    result           TEXT,
    error            TEXT,
    cancel_requested BIGINT  NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    created_at       BIGINT  NOT NULL,
    updated_at       BIGINT  NOT NULL,
    started_at       BIGINT,
    finished_at      BIGINT
);

-- Claims: the oldest runnable job of a state.
CREATE INDEX jobs_state_run_at ON jobs (state, run_at, id);
-- Dead workers' jobs: running with an expired lease.
CREATE INDEX jobs_state_lease ON jobs (state, lease_until);
-- Lists, newest first, per owner and overall.
CREATE INDEX jobs_owner_created ON jobs (owner_id, created_at DESC, id DESC);
CREATE INDEX jobs_created ON jobs (created_at DESC, id DESC);
-- Pruning finished jobs.
CREATE INDEX jobs_finished ON jobs (finished_at);
-- One job per idempotency key and owner; jobs without an owner share the owner ''.
CREATE UNIQUE INDEX jobs_idempotency ON jobs (COALESCE(owner_id, ''), idempotency_key)
    WHERE idempotency_key IS NOT NULL;
