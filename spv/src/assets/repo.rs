//! [`AssetRepo`], where asset metadata is kept, and [`SqlAssets`] over [`Db`].

use std::fmt;

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::api::Asset;
use crate::store::{BoxFuture, Db, db_err, from_ms, to_ms};
use crate::{Error, Result};

/// Storage of asset metadata (the bytes live in a [`crate::store::BlobStore`] under the
/// SHA-256). Assets are unique per owner and SHA-256.
pub trait AssetRepo: Send + Sync + fmt::Debug {
    /// Stores `asset` unless its owner already has these bytes; answers the stored asset
    /// and whether it is the new one.
    fn insert<'a>(&'a self, asset: &'a Asset) -> BoxFuture<'a, (Asset, bool)>;
    /// An asset by id.
    fn get(&self, id: Uuid) -> BoxFuture<'_, Option<Asset>>;
    /// The asset of `owner` with these bytes.
    fn find<'a>(&'a self, owner: Uuid, sha256: &'a str) -> BoxFuture<'a, Option<Asset>>;
    /// Assets newest first, of `owner` or of everyone.
    fn list(&self, owner: Option<Uuid>, limit: i64, offset: i64) -> BoxFuture<'_, Vec<Asset>>;
    /// Deletes an asset; answers how many rows (other assets, rendered thumbnails, job
    /// outputs) still use the same bytes, or `None` when there was no such asset.
    fn delete(&self, id: Uuid) -> BoxFuture<'_, Option<i64>>;
}

/// [`AssetRepo`] over a [`Db`].
#[derive(Debug, Clone)]
pub struct SqlAssets {
    db: Db,
}

impl SqlAssets {
    /// Assets in `db`.
    pub fn new(db: Db) -> Self {
        SqlAssets { db }
    }
}

const COLUMNS: &str = "id, owner_id, sha256, filename, mime, byte_size, sha512, md5, width, \
    height, dominant_color, font_family, font_style, font_weight, created_at, updated_at";

impl AssetRepo for SqlAssets {
    fn insert<'a>(&'a self, a: &'a Asset) -> BoxFuture<'a, (Asset, bool)> {
        Box::pin(async move {
            let done = sqlx::query(
                "INSERT INTO assets (id, owner_id, sha256, filename, mime, byte_size, sha512, \
                 md5, width, height, dominant_color, font_family, font_style, font_weight, \
                 blob_key, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
                 $9, $10, $11, $12, $13, $14, $15, $16, $17) \
                 ON CONFLICT (owner_id, sha256) DO NOTHING",
            )
            .bind(a.id.to_string())
            .bind(a.owner_id.to_string())
            .bind(&a.sha256)
            .bind(a.filename.clone())
            .bind(&a.mime)
            .bind(i64::try_from(a.byte_size).unwrap_or(i64::MAX))
            .bind(&a.sha512)
            .bind(&a.md5)
            .bind(a.width.map(i64::from))
            .bind(a.height.map(i64::from))
            .bind(a.dominant_color.clone())
            .bind(a.font_family.clone())
            .bind(a.font_style.clone())
            .bind(a.font_weight.map(i64::from))
            .bind(&a.sha256)
            .bind(to_ms(a.created_at))
            .bind(to_ms(a.updated_at))
            .execute(self.db.pool())
            .await
            .map_err(db_err("storing an asset"))?;
            if done.rows_affected() > 0 {
                return Ok((a.clone(), true));
            }
            let existing = self.find(a.owner_id, &a.sha256).await?;
            existing
                .map(|e| (e, false))
                .ok_or_else(|| Error::internal("an asset conflicted but could not be found"))
        })
    }

    fn get(&self, id: Uuid) -> BoxFuture<'_, Option<Asset>> {
        Box::pin(async move {
            let sql = format!("SELECT {COLUMNS} FROM assets WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id.to_string())
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err("reading an asset"))?;
            row.as_ref().map(from_row).transpose()
        })
    }

    fn find<'a>(&'a self, owner: Uuid, sha256: &'a str) -> BoxFuture<'a, Option<Asset>> {
        Box::pin(async move {
            let sql = format!("SELECT {COLUMNS} FROM assets WHERE owner_id = $1 AND sha256 = $2");
            let row = sqlx::query(&sql)
                .bind(owner.to_string())
                .bind(sha256)
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err("finding an asset"))?;
            row.as_ref().map(from_row).transpose()
        })
    }

    fn list(&self, owner: Option<Uuid>, limit: i64, offset: i64) -> BoxFuture<'_, Vec<Asset>> {
        Box::pin(async move {
            let rows = match owner {
                Some(owner) => {
                    let sql = format!(
                        "SELECT {COLUMNS} FROM assets WHERE owner_id = $1 \
                         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
                    );
                    sqlx::query(&sql)
                        .bind(owner.to_string())
                        .bind(limit)
                        .bind(offset)
                        .fetch_all(self.db.pool())
                        .await
                }
                None => {
                    let sql = format!(
                        "SELECT {COLUMNS} FROM assets \
                         ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
                    );
                    sqlx::query(&sql)
                        .bind(limit)
                        .bind(offset)
                        .fetch_all(self.db.pool())
                        .await
                }
            }
            .map_err(db_err("listing assets"))?;
            rows.iter().map(from_row).collect()
        })
    }

    fn delete(&self, id: Uuid) -> BoxFuture<'_, Option<i64>> {
        Box::pin(async move {
            let Some(asset) = self.get(id).await? else {
                return Ok(None);
            };
            let mut tx = self
                .db
                .pool()
                .begin()
                .await
                .map_err(db_err("starting a transaction"))?;
            let done = sqlx::query("DELETE FROM assets WHERE id = $1")
                .bind(id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err("deleting an asset"))?;
            let left: i64 = sqlx::query_scalar(crate::store::BLOB_USERS_SQL)
                .bind(&asset.sha256)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("counting assets"))?;
            tx.commit().await.map_err(db_err("deleting an asset"))?;
            Ok((done.rows_affected() > 0).then_some(left))
        })
    }
}

fn from_row(row: &AnyRow) -> Result<Asset> {
    let err = db_err("reading an asset row");
    let get_text = |name: &str| row.try_get::<String, _>(name);
    let get_opt = |name: &str| row.try_get::<Option<String>, _>(name);
    let get_int = |name: &str| row.try_get::<Option<i64>, _>(name);
    let read = || -> std::result::Result<Asset, sqlx::Error> {
        let uuid = |name: &str| -> std::result::Result<Uuid, sqlx::Error> {
            Uuid::parse_str(&get_text(name)?).map_err(|e| sqlx::Error::Decode(Box::new(e)))
        };
        let small = |name: &str| -> std::result::Result<Option<u32>, sqlx::Error> {
            Ok(get_int(name)?.and_then(|v| u32::try_from(v).ok()))
        };
        Ok(Asset {
            id: uuid("id")?,
            owner_id: uuid("owner_id")?,
            sha256: get_text("sha256")?,
            sha512: get_text("sha512")?,
            md5: get_text("md5")?,
            filename: get_opt("filename")?,
            mime: get_text("mime")?,
            byte_size: u64::try_from(row.try_get::<i64, _>("byte_size")?).unwrap_or(0),
            width: small("width")?,
            height: small("height")?,
            dominant_color: get_opt("dominant_color")?,
            font_family: get_opt("font_family")?,
            font_style: get_opt("font_style")?,
            font_weight: get_int("font_weight")?.and_then(|v| u16::try_from(v).ok()),
            created_at: from_ms(row.try_get("created_at")?),
            updated_at: from_ms(row.try_get("updated_at")?),
        })
    };
    read().map_err(err)
}
