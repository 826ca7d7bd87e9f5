-- The outputs of render jobs (issue 4). Forward-only: never edit once landed.
-- One row per image a job made: (job_id, idx) names it, idx counting from 0 in the order
-- pages x sizes x formats; the bytes are a blob under blob_key (their SHA-256), which
-- may be shared with assets, rendered thumbnails and other outputs of the same bytes.
-- A re-run of a job (after its worker died) overwrites its rows. No foreign key to jobs:
-- pruning deletes a finished job, then the outputs whose job has gone, each blob only
-- when nothing else uses it. Times are unix milliseconds.

CREATE TABLE job_outputs (
    job_id     TEXT   NOT NULL,
    idx        BIGINT NOT NULL,
    page       BIGINT NOT NULL,
    size       BIGINT NOT NULL,
    format     TEXT   NOT NULL,
    width      BIGINT NOT NULL,
    height     BIGINT NOT NULL,
    byte_size  BIGINT NOT NULL,
    blob_key   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (job_id, idx)
);

-- Whether a blob is still used, before it is deleted (here and for rendered thumbnails).
CREATE INDEX job_outputs_blob ON job_outputs (blob_key);
CREATE INDEX rendered_blob ON rendered (blob_key);
