//! [`RenderedStore`]: the second thumbnail cache level, rendered images kept as blobs and
//! recorded in the `rendered` table, so they survive restarts and are shared by every
//! server process on the same database and blob store.

use std::sync::Arc;

use sqlx::Row;

use super::cache::CacheKey;
use crate::api::{CachedImage, ImageFormat};
use crate::store::{BlobKey, BlobStore, Db, db_err, now_ms};
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
///     let key = CacheKey::new("00", 0, ThumbnailSize::default(), ImageFormat::Png, false);
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
}

impl RenderedStore {
    /// Rendered thumbnails recorded in `db`, their bytes in `blobs`.
    pub fn new(db: Db, blobs: Arc<dyn BlobStore>) -> Self {
        RenderedStore { db, blobs }
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
    pub async fn put(&self, key: &CacheKey, image: &CachedImage) -> Result<()> {
        let put = self.blobs.put(&image.bytes).await?;
        let warnings = serde_json::to_string(&image.warnings)
            .map_err(|e| Error::internal(format!("encoding warnings failed: {e}")))?;
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
        Ok(())
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
            let key = CacheKey::new("aa", 0, ThumbnailSize::default(), ImageFormat::Webp, true);
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
}
