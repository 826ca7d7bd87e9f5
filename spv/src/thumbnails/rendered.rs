//! [`RenderedStore`]: the second thumbnail cache level, rendered images kept as blobs and
//! recorded in the `rendered` table, so they survive restarts and are shared by every
//! server process on the same database and blob store.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sqlx::Row;

use super::key::CacheKey;
use crate::api::{CachedImage, ImageFormat};
use crate::store::{BlobKey, BlobStore, Db, db_err, lock_blob, now_ms};
use crate::{Error, Result};

/// How stale `last_used_at` may get before a hit writes it again (a write per hit would
/// make every cached read a database write).
const TOUCH_AFTER_MS: i64 = 60 * 60 * 1000;

/// Rendered thumbnails in a [`BlobStore`], indexed by [`CacheKey`] in the database.
///
/// ```
/// use std::sync::Arc;
/// use spv::api::{CachedImage, ImageFormat, ThumbnailSize};
/// use spv::store::{Db, LocalBlobs};
/// use spv::thumbnails::{CacheKey, RenderedStore};
///
/// let dir = tempfile::tempdir().unwrap();
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let db = Db::open(None, dir.path()).await.unwrap();
///     let store = RenderedStore::new(db, Arc::new(LocalBlobs::in_data_dir(dir.path())));
///     let size = ThumbnailSize::default();
///     let key = CacheKey::new(uuid::Uuid::nil(), "00", 0, size, ImageFormat::Png, false);
///     assert!(store.get(&key).await.unwrap().is_none());
///     let image = CachedImage { bytes: Arc::from(&b"png bytes"[..]), format: ImageFormat::Png,
///         width: 3, height: 2, warnings: Vec::new() };
///     store.put(&key, &image).await.unwrap();
///     assert_eq!(store.get(&key).await.unwrap(), Some(image));
/// });
/// ```
#[derive(Debug, Clone)]
pub struct RenderedStore {
    db: Db,
    blobs: Arc<dyn BlobStore>,
    max_bytes: u64,
    /// What this process believes the rows' bytes come to: `None` until first counted,
    /// then counted up by each put, and counted again (`SUM`) only when it passes
    /// `max_bytes`, so that a put costs no extra query.
    total: Arc<Mutex<Option<u64>>>,
    /// Set while a prune runs, so that concurrent puts do not prune at once.
    pruning: Arc<AtomicBool>,
}

/// The default most bytes of rendered thumbnails kept: 1 GiB.
pub const DEFAULT_STORE_BYTES: u64 = 1 << 30;

/// How many rows a prune reads at a time.
const PRUNE_BATCH: i64 = 64;

impl RenderedStore {
    /// Rendered thumbnails recorded in `db`, their bytes in `blobs`, at most
    /// [`DEFAULT_STORE_BYTES`] of them.
    pub fn new(db: Db, blobs: Arc<dyn BlobStore>) -> Self {
        RenderedStore {
            db,
            blobs,
            max_bytes: DEFAULT_STORE_BYTES,
            total: Arc::new(Mutex::new(None)),
            pruning: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Keeps at most `max_bytes` of images (0: none): a put that takes the total past
    /// it deletes the least recently used rows until the total is a tenth under it.
    pub fn with_max_bytes(mut self, max_bytes: u64) -> Self {
        self.max_bytes = max_bytes;
        self
    }

    /// The most bytes of images it keeps.
    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    /// The bytes of all stored images, counted in the database.
    pub async fn stored_bytes(&self) -> Result<u64> {
        let total: i64 =
            sqlx::query_scalar("SELECT CAST(COALESCE(SUM(byte_size), 0) AS BIGINT) FROM rendered")
                .fetch_one(self.db.pool())
                .await
                .map_err(db_err("counting rendered thumbnails"))?;
        Ok(u64::try_from(total).unwrap_or(0))
    }

    /// The image under `key`; `None` when none was stored or its blob has gone.
    pub async fn get(&self, key: &CacheKey) -> Result<Option<CachedImage>> {
        let row = sqlx::query(
            "SELECT blob_key, content_type, width, height, warnings, last_used_at \
             FROM rendered WHERE cache_key = $1",
        )
        .bind(key.hex())
        .fetch_optional(self.db.pool())
        .await
        .map_err(db_err("reading a rendered thumbnail"))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let get = |e: sqlx::Error| db_err("reading a rendered thumbnail")(e);
        let blob_key: String = row.try_get("blob_key").map_err(get)?;
        let content_type: String = row.try_get("content_type").map_err(get)?;
        let width: i64 = row.try_get("width").map_err(get)?;
        let height: i64 = row.try_get("height").map_err(get)?;
        let warnings: String = row.try_get("warnings").map_err(get)?;
        let last_used: i64 = row.try_get("last_used_at").map_err(get)?;
        let format = ImageFormat::ALL
            .into_iter()
            .find(|f| f.content_type() == content_type)
            .ok_or_else(|| {
                Error::internal(format!(
                    "rendered thumbnail {} has an unknown content type {content_type:?}",
                    key.hex()
                ))
            })?;
        let warnings: Vec<String> = serde_json::from_str(&warnings).map_err(|e| {
            Error::internal(format!(
                "rendered thumbnail {} has unreadable warnings: {e}",
                key.hex()
            ))
        })?;
        let Some(bytes) = self.blobs.get(&BlobKey::parse(&blob_key)?).await? else {
            return Ok(None);
        };
        let now = now_ms();
        if now - last_used > TOUCH_AFTER_MS {
            sqlx::query("UPDATE rendered SET last_used_at = $1 WHERE cache_key = $2")
                .bind(now)
                .bind(key.hex())
                .execute(self.db.pool())
                .await
                .map_err(db_err("touching a rendered thumbnail"))?;
        }
        Ok(Some(CachedImage {
            bytes: bytes.into(),
            format,
            width: u32::try_from(width).unwrap_or(0),
            height: u32::try_from(height).unwrap_or(0),
            warnings,
        }))
    }

    /// Stores `image` under `key` (replacing what was there): the blob first, then the
    /// row, so a row never names a blob that was not written.
    /// An image larger than [`max_bytes`](Self::max_bytes) is not kept; a put that takes
    /// the total past it prunes (see [`with_max_bytes`](Self::with_max_bytes)).
    pub async fn put(&self, key: &CacheKey, image: &CachedImage) -> Result<()> {
        let size = image.bytes.len() as u64;
        if size > self.max_bytes {
            return Ok(());
        }
        let warnings = serde_json::to_string(&image.warnings)
            .map_err(|e| Error::internal(format!("encoding warnings failed: {e}")))?;
        // Held across the blob and its row, so that a prune deleting the same bytes
        // cannot delete the blob under the new row (see `crate::store`'s blob locks).
        let lock = lock_blob(BlobKey::of(&image.bytes).as_str()).await;
        let put = self.blobs.put(&image.bytes).await?;
        let now = now_ms();
        sqlx::query(
            "INSERT INTO rendered (cache_key, blob_key, content_type, width, height, \
             byte_size, warnings, created_at, last_used_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
             ON CONFLICT (cache_key) DO UPDATE SET blob_key = excluded.blob_key, \
             content_type = excluded.content_type, width = excluded.width, \
             height = excluded.height, byte_size = excluded.byte_size, \
             warnings = excluded.warnings, last_used_at = excluded.last_used_at",
        )
        .bind(key.hex())
        .bind(put.key.as_str())
        .bind(image.content_type())
        .bind(i64::from(image.width))
        .bind(i64::from(image.height))
        .bind(i64::try_from(put.size).unwrap_or(i64::MAX))
        .bind(warnings)
        .bind(now)
        .bind(now)
        .execute(self.db.pool())
        .await
        .map_err(db_err("storing a rendered thumbnail"))?;
        // Released before a prune takes other blobs' locks: never two at once.
        drop(lock);
        let over = {
            let mut total = self.lock_total();
            match total.as_mut() {
                // A replaced row is counted twice: the estimate errs high, and the
                // prune counts again anyway.
                Some(total) => {
                    *total = total.saturating_add(put.size);
                    *total > self.max_bytes
                }
                None => true,
            }
        };
        if over {
            self.prune().await?;
        }
        Ok(())
    }

    /// Counts the stored bytes and, when over [`max_bytes`](Self::max_bytes), deletes
    /// the least recently used rows until a tenth under it, and each one's blob unless
    /// another row or an asset uses the same bytes. One prune at a time per store.
    async fn prune(&self) -> Result<()> {
        if self.pruning.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        // Cleared on drop, also when the put's request is cancelled mid-prune.
        let _done = ClearOnDrop(&self.pruning);
        self.prune_now().await
    }

    async fn prune_now(&self) -> Result<()> {
        let mut total = self.stored_bytes().await?;
        if total > self.max_bytes {
            let target = self.max_bytes - self.max_bytes / 10;
            'prune: while total > target {
                let rows: Vec<(String, String, i64)> = sqlx::query_as(
                    "SELECT cache_key, blob_key, byte_size FROM rendered \
                     ORDER BY last_used_at, cache_key LIMIT $1",
                )
                .bind(PRUNE_BATCH)
                .fetch_all(self.db.pool())
                .await
                .map_err(db_err("reading rendered thumbnails to prune"))?;
                if rows.is_empty() {
                    break;
                }
                for (cache_key, blob_key, byte_size) in rows {
                    self.delete_row(&cache_key, &blob_key).await?;
                    total = total.saturating_sub(u64::try_from(byte_size).unwrap_or(0));
                    if total <= target {
                        break 'prune;
                    }
                }
            }
        }
        *self.lock_total() = Some(total);
        Ok(())
    }

    /// Deletes the row `cache_key`, then its blob when nothing else (another row, an
    /// asset, a job output) uses those bytes.
    async fn delete_row(&self, cache_key: &str, blob_key: &str) -> Result<()> {
        sqlx::query("DELETE FROM rendered WHERE cache_key = $1")
            .bind(cache_key)
            .execute(self.db.pool())
            .await
            .map_err(db_err("pruning a rendered thumbnail"))?;
        crate::store::delete_blob_if_unused(&self.db, self.blobs.as_ref(), blob_key).await?;
        Ok(())
    }

    fn lock_total(&self) -> std::sync::MutexGuard<'_, Option<u64>> {
        self.total
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Clears its flag when dropped.
struct ClearOnDrop<'a>(&'a AtomicBool);

impl Drop for ClearOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::ThumbnailSize;
    use crate::store::LocalBlobs;
    use crate::store::testing::test_dbs;

    #[tokio::test]
    async fn images_round_trip_and_a_lost_blob_is_a_miss() {
        for test in test_dbs().await {
            let dir = tempfile::tempdir().unwrap();
            let blobs = Arc::new(LocalBlobs::in_data_dir(dir.path()));
            let store = RenderedStore::new(test.db.clone(), blobs.clone());
            let key = CacheKey::new(
                uuid::Uuid::nil(),
                "aa",
                0,
                ThumbnailSize::default(),
                ImageFormat::Webp,
                true,
            );
            let image = CachedImage {
                bytes: Arc::from(&b"RIFF....WEBP"[..]),
                format: ImageFormat::Webp,
                width: 256,
                height: 128,
                warnings: vec!["layers[0].font: substituted".into()],
            };
            assert_eq!(store.get(&key).await.unwrap(), None);
            store.put(&key, &image).await.unwrap();
            assert_eq!(store.get(&key).await.unwrap(), Some(image.clone()));

            // A second put of the same key replaces the row instead of failing.
            store.put(&key, &image).await.unwrap();

            assert!(blobs.delete(&BlobKey::of(&image.bytes)).await.unwrap());
            assert_eq!(store.get(&key).await.unwrap(), None, "the blob has gone");
            store.put(&key, &image).await.unwrap();
            assert_eq!(
                store.get(&key).await.unwrap(),
                Some(image),
                "stored again after a lost blob"
            );
        }
    }

    /// A PNG-typed image of `n` bytes of `fill`.
    fn image(fill: u8, n: usize) -> CachedImage {
        CachedImage {
            bytes: Arc::from(vec![fill; n]),
            format: ImageFormat::Png,
            width: 1,
            height: 1,
            warnings: Vec::new(),
        }
    }

    fn key(page: usize) -> CacheKey {
        let size = ThumbnailSize::default();
        CacheKey::new(uuid::Uuid::nil(), "aa", page, size, ImageFormat::Png, false)
    }

    #[tokio::test]
    async fn puts_past_the_cap_prune_the_least_recently_used_and_unshared_blobs() {
        for test in test_dbs().await {
            let dir = tempfile::tempdir().unwrap();
            let blobs = Arc::new(LocalBlobs::in_data_dir(dir.path()));
            let store = RenderedStore::new(test.db.clone(), blobs.clone()).with_max_bytes(3500);
            let (x, y, z, w, u) = (
                image(1, 1000),
                image(2, 1000),
                image(3, 1000),
                image(5, 1000),
                image(6, 1000),
            );
            // v's bytes are also an uploaded asset's.
            let v = image(4, 500);
            let v_key = BlobKey::of(&v.bytes);
            sqlx::query(
                "INSERT INTO assets (id, owner_id, sha256, mime, byte_size, sha512, md5, \
                 blob_key, created_at, updated_at) \
                 VALUES ($1, $2, $3, 'image/png', 500, '', '', $3, 0, 0)",
            )
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(v_key.as_str())
            .execute(test.db.pool())
            .await
            .unwrap();
            let blob = |image: &CachedImage| BlobKey::of(&image.bytes);
            let put = async |page: usize, image: &CachedImage| {
                store.put(&key(page), image).await.unwrap();
                // Distinct use times, so the least recently used is well defined.
                tokio::time::sleep(std::time::Duration::from_millis(3)).await;
            };

            // a and c share x's blob; 4500 bytes after e: a and b go (3150 is a tenth
            // under the cap), x's blob stays for c, y's goes.
            put(0, &x).await;
            put(1, &y).await;
            put(2, &x).await;
            put(3, &v).await;
            assert_eq!(
                store.stored_bytes().await.unwrap(),
                3500,
                "at the cap: kept"
            );
            put(4, &z).await;
            assert_eq!(store.stored_bytes().await.unwrap(), 2500);
            assert_eq!(store.get(&key(0)).await.unwrap(), None);
            assert_eq!(store.get(&key(1)).await.unwrap(), None);
            assert!(!blobs.exists(&blob(&y)).await.unwrap(), "y's blob went");
            assert_eq!(
                store.get(&key(2)).await.unwrap(),
                Some(x.clone()),
                "x's blob stayed for c"
            );

            // Two more: c and d go; x's blob now has no row; v's is an asset's.
            put(5, &w).await;
            put(6, &u).await;
            assert_eq!(store.stored_bytes().await.unwrap(), 3000);
            for page in 0..4 {
                assert_eq!(store.get(&key(page)).await.unwrap(), None, "{page}");
            }
            assert!(!blobs.exists(&blob(&x)).await.unwrap(), "x's blob went");
            assert!(
                blobs.exists(&v_key).await.unwrap(),
                "the asset's blob stayed"
            );
            for (page, image) in [(4, &z), (5, &w), (6, &u)] {
                assert_eq!(store.get(&key(page)).await.unwrap().as_ref(), Some(image));
            }

            // An image larger than the cap is not kept; a cap of 0 keeps nothing.
            store.put(&key(7), &image(7, 3501)).await.unwrap();
            assert_eq!(store.get(&key(7)).await.unwrap(), None);
            let none = RenderedStore::new(test.db.clone(), blobs.clone()).with_max_bytes(0);
            none.put(&key(8), &image(8, 1)).await.unwrap();
            assert_eq!(none.get(&key(8)).await.unwrap(), None);
        }
    }

    /// A prune deleting a row while another put stores the same bytes under another key
    /// never leaves the new row without its blob (the blob lock of `crate::store`).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_prune_racing_a_put_of_the_same_bytes_keeps_the_new_rows_blob() {
        for test in test_dbs().await {
            let dir = tempfile::tempdir().unwrap();
            let blobs = Arc::new(LocalBlobs::in_data_dir(dir.path()));
            let store = RenderedStore::new(test.db.clone(), blobs.clone());
            let shared = image(9, 256);
            let blob = BlobKey::of(&shared.bytes);
            for round in 0..200 {
                let (old, new) = (key(2 * round), key(2 * round + 1));
                store.put(&old, &shared).await.unwrap();
                let pruner = {
                    let store = store.clone();
                    let (old, blob) = (old.hex(), blob.as_str().to_owned());
                    tokio::spawn(async move { store.delete_row(&old, &blob).await })
                };
                let writer = {
                    let (store, shared) = (store.clone(), shared.clone());
                    tokio::spawn(async move { store.put(&new, &shared).await })
                };
                pruner.await.unwrap().unwrap();
                writer.await.unwrap().unwrap();
                assert!(
                    blobs.exists(&blob).await.unwrap(),
                    "round {round}: the new row's blob was deleted"
                );
                assert_eq!(
                    store.get(&key(2 * round + 1)).await.unwrap().as_ref(),
                    Some(&shared),
                    "round {round}"
                );
                store
                    .delete_row(&key(2 * round + 1).hex(), blob.as_str())
                    .await
                    .unwrap();
                assert!(!blobs.exists(&blob).await.unwrap(), "round {round}: unused");
            }
        }
    }
}
