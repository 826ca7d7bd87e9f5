//! [`JobOutputs`]: the images render jobs make, kept as blobs and recorded in the
//! `job_outputs` table.

use std::sync::Arc;

use sqlx::Row;
use uuid::Uuid;

use crate::api::{ImageFormat, JobOutput, JobOutputContent};
use crate::store::{BlobKey, BlobStore, Db, db_err, delete_blob_if_unused, lock_blob, now_ms};
use crate::{Error, Result};

/// The link of output `index` of job `job`, below the server's mount point.
pub fn output_href(job: Uuid, index: u32) -> String {
    format!("/api/v1/jobs/{job}/outputs/{index}")
}

/// Job outputs in a [`BlobStore`], indexed by job and index in the database. Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct JobOutputs {
    db: Db,
    blobs: Arc<dyn BlobStore>,
}

impl JobOutputs {
    /// Outputs recorded in `db`, their bytes in `blobs`.
    pub fn new(db: Db, blobs: Arc<dyn BlobStore>) -> Self {
        JobOutputs { db, blobs }
    }

    /// Stores output `output.index` of `job` (replacing one stored before: a re-run
    /// after a crash overwrites): the blob first, then the row, so a row never names a
    /// blob that was not written. A replaced blob is deleted when nothing else uses it.
    /// The blob's lock is held across both, so a concurrent deletion of the same bytes
    /// cannot delete the blob under the new row (see [`crate::store`]'s blob locks).
    pub async fn put(&self, job: Uuid, output: &JobOutput, bytes: &[u8]) -> Result<()> {
        let lock = lock_blob(BlobKey::of(bytes).as_str()).await;
        let put = self.blobs.put(bytes).await?;
        let before: Option<String> =
            sqlx::query_scalar("SELECT blob_key FROM job_outputs WHERE job_id = $1 AND idx = $2")
                .bind(job.to_string())
                .bind(i64::from(output.index))
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err("reading a job output"))?;
        sqlx::query(
            "INSERT INTO job_outputs (job_id, idx, page, size, format, width, height, \
             byte_size, blob_key, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (job_id, idx) DO UPDATE SET page = excluded.page, \
             size = excluded.size, format = excluded.format, width = excluded.width, \
             height = excluded.height, byte_size = excluded.byte_size, \
             blob_key = excluded.blob_key, created_at = excluded.created_at",
        )
        .bind(job.to_string())
        .bind(i64::from(output.index))
        .bind(i64::try_from(output.page).unwrap_or(i64::MAX))
        .bind(i64::from(output.size))
        .bind(output.format.extension())
        .bind(i64::from(output.width))
        .bind(i64::from(output.height))
        .bind(i64::try_from(put.size).unwrap_or(i64::MAX))
        .bind(put.key.as_str())
        .bind(now_ms())
        .execute(self.db.pool())
        .await
        .map_err(db_err("storing a job output"))?;
        // Released before the replaced blob's lock is taken: never two at once.
        drop(lock);
        if let Some(before) = before
            && before != put.key.as_str()
        {
            delete_blob_if_unused(&self.db, self.blobs.as_ref(), &before).await?;
        }
        Ok(())
    }

    /// Output `index` of `job` with its bytes; `None` when there is none (or its blob has
    /// gone).
    pub async fn get(&self, job: Uuid, index: u32) -> Result<Option<JobOutputContent>> {
        let row = sqlx::query(
            "SELECT page, size, format, width, height, byte_size, blob_key FROM job_outputs \
             WHERE job_id = $1 AND idx = $2",
        )
        .bind(job.to_string())
        .bind(i64::from(index))
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err("reading a job output"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let err = || db_err("reading a job output row");
        let int = |name: &str| row.try_get::<i64, _>(name).map_err(err());
        let format: String = row.try_get("format").map_err(err())?;
        let blob_key: String = row.try_get("blob_key").map_err(err())?;
        let format = ImageFormat::parse(&format).ok_or_else(|| {
            Error::internal(format!("job output has an unknown format {format:?}"))
        })?;
        let Some(bytes) = self.blobs.get(&BlobKey::parse(&blob_key)?).await? else {
            tracing::warn!(%job, index, "the blob of a job output has gone");
            return Ok(None);
        };
        let output = JobOutput {
            index,
            page: usize::try_from(int("page")?).unwrap_or(0),
            size: u32::try_from(int("size")?).unwrap_or(0),
            format,
            width: u32::try_from(int("width")?).unwrap_or(0),
            height: u32::try_from(int("height")?).unwrap_or(0),
            byte_size: u64::try_from(int("byte_size")?).unwrap_or(0),
            href: output_href(job, index),
        };
        Ok(Some(JobOutputContent { output, bytes }))
    }

    /// How many outputs `job` has stored.
    pub async fn count(&self, job: Uuid) -> Result<u64> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM job_outputs WHERE job_id = $1")
            .bind(job.to_string())
            .fetch_one(self.db.pool())
            .await
            .map_err(db_err("counting job outputs"))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Deletes the outputs whose job no longer exists (pruned), each blob when nothing
    /// else uses it; answers how many outputs.
    pub async fn prune_orphans(&self) -> Result<u64> {
        let mut deleted = 0;
        loop {
            let rows: Vec<(String, i64, String)> = sqlx::query_as(
                "SELECT o.job_id, o.idx, o.blob_key FROM job_outputs o \
                 WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = o.job_id) LIMIT 100",
            )
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err("reading job outputs to prune"))?;
            if rows.is_empty() {
                return Ok(deleted);
            }
            for (job, idx, blob_key) in rows {
                sqlx::query("DELETE FROM job_outputs WHERE job_id = $1 AND idx = $2")
                    .bind(&job)
                    .bind(idx)
                    .execute(self.db.pool())
                    .await
                    .map_err(db_err("pruning a job output"))?;
                delete_blob_if_unused(&self.db, self.blobs.as_ref(), &blob_key).await?;
                deleted += 1;
            }
        }
    }
}
