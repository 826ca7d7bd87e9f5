//! Which rows use a blob: the one rule every place that deletes blobs goes by.
//!
//! Blobs are content-addressed, so the same bytes may be an uploaded asset, a rendered
//! thumbnail and a job output at once. A blob is deleted only when none of them uses it.

use super::{BlobKey, BlobStore, Db, db_err};
use crate::Result;

/// Counts the rows that use the blob `$1`: assets (by hash or blob key), rendered
/// thumbnails and job outputs. Run it inside the transaction that deleted a row, so the
/// count sees that deletion.
pub(crate) const BLOB_USERS_SQL: &str = "SELECT \
    (SELECT COUNT(*) FROM assets WHERE sha256 = $1 OR blob_key = $1) \
    + (SELECT COUNT(*) FROM rendered WHERE blob_key = $1) \
    + (SELECT COUNT(*) FROM job_outputs WHERE blob_key = $1)";

/// How many rows use the blob `key` (see [`BLOB_USERS_SQL`]).
pub(crate) async fn blob_users(db: &Db, key: &str) -> Result<i64> {
    sqlx::query_scalar(BLOB_USERS_SQL)
        .bind(key)
        .fetch_one(db.pool())
        .await
        .map_err(db_err("counting the users of a blob"))
}

/// Deletes the blob `key` when no row uses it any more; answers whether it was deleted.
/// Call it after deleting the row that used it.
pub(crate) async fn delete_blob_if_unused(
    db: &Db,
    blobs: &dyn BlobStore,
    key: &str,
) -> Result<bool> {
    if blob_users(db, key).await? > 0 {
        return Ok(false);
    }
    blobs.delete(&BlobKey::parse(key)?).await
}
