//! Which rows use a blob: the one rule every place that deletes blobs goes by.
//!
//! Blobs are content-addressed, so the same bytes may be an uploaded asset, a rendered
//! thumbnail and a job output at once. A blob is deleted only when none of them uses it.
//!
//! # The lock per blob
//!
//! Counting a blob's users and deleting its file are two steps, and so are writing a blob
//! and inserting the row that uses it. Without a lock a deleter may count 0 users, a
//! writer then put the same bytes (a rename over the existing file) and insert its row,
//! and the deleter then delete the file: the new row names a deleted blob. So every
//! writer holds [`lock_blob`] across "put the blob + insert the row", and
//! [`delete_blob_if_unused`] holds it across "count the users + delete the file".
//!
//! The lock lives in this process (a striped set of mutexes, keyed by the blob key; blob
//! keys are content hashes, so one set serves every data directory). Several processes
//! sharing one database and blob store (scale-out on PostgreSQL) do not share it: there
//! the window remains between another process's count and delete. Readers treat a missing
//! blob as a miss ([`crate::thumbnails::RenderedStore`] renders again, a job output reads
//! as gone and the job can be re-run), and the next write of the same bytes puts the blob
//! again.

use std::hash::BuildHasher;
use std::sync::LazyLock;

use tokio::sync::{Mutex, MutexGuard};

use super::{BlobKey, BlobStore, Db, db_err};
use crate::Result;

/// How many mutexes the blob locks are striped over: two blobs share one with a chance of
/// 1 in this, which only makes them wait for each other.
const BLOB_LOCK_STRIPES: usize = 64;

/// The blob locks of this process (see the module documentation).
static BLOB_LOCKS: LazyLock<BlobLocks> = LazyLock::new(BlobLocks::default);

/// A fixed set of mutexes; a key's mutex is picked by its hash.
struct BlobLocks {
    stripes: Vec<Mutex<()>>,
    hasher: std::collections::hash_map::RandomState,
}

impl Default for BlobLocks {
    fn default() -> Self {
        BlobLocks {
            stripes: (0..BLOB_LOCK_STRIPES).map(|_| Mutex::new(())).collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }
}

/// Held while a blob is written and its row inserted, or its users counted and its file
/// deleted; released on drop. Never hold two at once (two keys may share a stripe).
pub(crate) struct BlobLock {
    _guard: MutexGuard<'static, ()>,
}

/// Waits for the lock of the blob `key` (the blob key, i.e. the SHA-256 in hex). Hold it
/// across putting the blob and inserting the row that names it.
pub(crate) async fn lock_blob(key: &str) -> BlobLock {
    let locks: &'static BlobLocks = &BLOB_LOCKS;
    // The modulo keeps the index below the stripe count, so it always fits.
    let index = (locks.hasher.hash_one(key) % BLOB_LOCK_STRIPES as u64) as usize;
    BlobLock {
        _guard: locks.stripes[index].lock().await,
    }
}

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
/// Call it after deleting the row that used it, without holding a [`BlobLock`]: it takes
/// the blob's lock across the count and the deletion.
pub(crate) async fn delete_blob_if_unused(
    db: &Db,
    blobs: &dyn BlobStore,
    key: &str,
) -> Result<bool> {
    let _lock = lock_blob(key).await;
    if blob_users(db, key).await? > 0 {
        return Ok(false);
    }
    blobs.delete(&BlobKey::parse(key)?).await
}
