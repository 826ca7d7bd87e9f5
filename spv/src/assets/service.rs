//! [`Assets`], the in-process assets service, and [`Assets::resolver`] for renders.

use std::collections::HashMap;
use std::sync::Arc;

use md5::Md5;
use sha2::{Digest, Sha512};
use tokio::io::AsyncReadExt;
use uuid::Uuid;

use super::meta;
use super::repo::{AssetRepo, SqlAssets};
use crate::api::{
    Asset, AssetContent, AssetList, DeleteAsset, GetAsset, GetAssetMeta, ListAssets, Principal,
    Scope, UploadAsset, UploadedAsset,
};
use crate::glyph::{self, AssetResolver, AssetSource, Bytes};
use crate::render::pool::RenderPool;
use crate::store::{BlobKey, BlobStore, BlobStream, Db, Paging, from_ms, hex, now_ms};
use crate::{Error, ErrorKind, Result};

/// The default largest upload: 50 MiB.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

/// The default most bytes of `sha256:` assets one render may fetch: 256 MiB, as the
/// largest package ([`glyph::Limits::max_package_bytes`]).
pub const DEFAULT_MAX_RESOLVED_BYTES: u64 = 256 * 1024 * 1024;

/// Settings of [`Assets`].
#[derive(Debug, Clone)]
pub struct AssetsConfig {
    /// The largest upload in bytes.
    pub max_upload_bytes: u64,
    /// The most bytes of `sha256:` assets [`Assets::resolver`] fetches for one render,
    /// all assets together; past it the render fails with
    /// [`ErrorKind::LimitExceeded`].
    pub max_resolved_bytes: u64,
    /// Images with more pixels get no dominant colour (decoding them costs too much).
    pub max_image_pixels: u64,
    /// Where inspection (image decoding) runs; share the render pool.
    pub pool: RenderPool,
}

impl Default for AssetsConfig {
    fn default() -> Self {
        AssetsConfig {
            max_upload_bytes: DEFAULT_MAX_UPLOAD_BYTES,
            max_resolved_bytes: DEFAULT_MAX_RESOLVED_BYTES,
            max_image_pixels: glyph::Limits::default().max_image_pixels,
            pool: RenderPool::default(),
        }
    }
}

/// Uploaded images and fonts: one `tower::Service` per request of [`crate::api`] (assets).
///
/// Cheap to clone; `poll_ready` is always ready. Uploads stream into a temporary blob
/// (refused past the size limit), are deduplicated per owner by SHA-256, and are
/// inspected on the pool. Only the owner and admins see an asset.
#[derive(Clone, Debug)]
pub struct Assets {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    repo: Arc<dyn AssetRepo>,
    blobs: Arc<dyn BlobStore>,
    config: AssetsConfig,
}

impl Assets {
    /// A service over `repo` and `blobs`.
    pub fn new(repo: Arc<dyn AssetRepo>, blobs: Arc<dyn BlobStore>, config: AssetsConfig) -> Self {
        Assets {
            inner: Arc::new(Inner {
                repo,
                blobs,
                config,
            }),
        }
    }

    /// A service over the assets of `db`, bytes in `blobs`.
    pub fn with_db(db: Db, blobs: Arc<dyn BlobStore>, config: AssetsConfig) -> Self {
        Assets::new(Arc::new(SqlAssets::new(db)), blobs, config)
    }

    /// What `Service<UploadAsset>` does.
    pub async fn upload(&self, request: UploadAsset) -> Result<UploadedAsset> {
        let principal = request.principal;
        principal.require(Scope::AssetsWrite)?;
        let mut body = request.body;
        let mut writer = self
            .inner
            .blobs
            .writer(self.inner.config.max_upload_bytes)
            .await?;
        let (mut sha512, mut md5) = (Sha512::new(), Md5::new());
        let mut buffer = vec![0; 64 * 1024];
        loop {
            let n = body.read(&mut buffer).await.map_err(|e| {
                Error::new(ErrorKind::Io, format!("reading the upload failed: {e}"))
            })?;
            if n == 0 {
                break;
            }
            let chunk = &buffer[..n];
            writer.write(chunk).await?;
            sha512.update(chunk);
            md5.update(chunk);
        }
        let put = writer.finish().await?;
        let sha256 = put.key.as_str().to_string();
        if let Some(existing) = self.inner.repo.find(principal.user_id, &sha256).await? {
            return Ok(UploadedAsset {
                asset: existing,
                created: false,
            });
        }
        // Held until the row is in: a deletion of the same bytes (another asset, a
        // pruned thumbnail) counts users and deletes under the same lock, so it cannot
        // remove the blob between here and the insert.
        let _blob_lock = crate::store::lock_blob(&sha256).await;
        let bytes = self.inner.blobs.get(&put.key).await?.ok_or_else(|| {
            Error::new(
                ErrorKind::Conflict,
                format!(
                    "the upload raced the deletion of the same bytes (blob {}); send it again",
                    put.key
                ),
            )
        })?;
        let max_pixels = self.inner.config.max_image_pixels;
        let info = self
            .inner
            .config
            .pool
            .run(move || Ok(meta::inspect(&bytes, max_pixels)))
            .await?;
        let now = from_ms(now_ms());
        let asset = Asset {
            id: Uuid::now_v7(),
            owner_id: principal.user_id,
            sha256,
            sha512: hex(&sha512.finalize()),
            md5: hex(&md5.finalize()),
            filename: request.filename.map(|f| f.chars().take(255).collect()),
            mime: info.mime,
            byte_size: put.size,
            width: info.width,
            height: info.height,
            dominant_color: info.dominant_color,
            font_family: info.font_family,
            font_style: info.font_style,
            font_weight: info.font_weight,
            created_at: now,
            updated_at: now,
        };
        let (asset, created) = self.inner.repo.insert(&asset).await?;
        Ok(UploadedAsset { asset, created })
    }

    /// An asset the caller may see, or "not found".
    async fn visible(&self, principal: &Principal, id: Uuid) -> Result<Asset> {
        match self.inner.repo.get(id).await? {
            Some(asset)
                if !principal.is_anonymous()
                    && (principal.is_admin || principal.user_id == asset.owner_id) =>
            {
                Ok(asset)
            }
            _ => Err(Error::new(
                ErrorKind::NotFound,
                format!("asset {id} was not found"),
            )),
        }
    }

    /// What `Service<GetAssetMeta>` does.
    pub async fn meta(&self, request: GetAssetMeta) -> Result<Asset> {
        self.visible(&request.principal, request.id).await
    }

    /// What `Service<GetAsset>` does.
    pub async fn content(&self, request: GetAsset) -> Result<AssetContent> {
        let asset = self.visible(&request.principal, request.id).await?;
        let key = BlobKey::parse(&asset.sha256)?;
        let bytes = self.inner.blobs.get(&key).await?.ok_or_else(|| {
            Error::internal(format!("the bytes of asset {} are missing", asset.id))
        })?;
        Ok(AssetContent { asset, bytes })
    }

    /// An asset the caller may read, for streaming its bytes (all or a range) with
    /// [`AssetReader::stream`]: what `GET /api/v1/assets/{id}` serves, without holding
    /// the whole asset in memory. The same checks as [`content`](Self::content).
    pub async fn open_content(&self, request: GetAsset) -> Result<AssetReader> {
        let asset = self.visible(&request.principal, request.id).await?;
        let key = BlobKey::parse(&asset.sha256)?;
        Ok(AssetReader {
            asset,
            key,
            blobs: self.inner.blobs.clone(),
        })
    }

    /// What `Service<ListAssets>` does.
    pub async fn list(&self, request: ListAssets) -> Result<AssetList> {
        let principal = request.principal;
        if principal.is_anonymous() {
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                "listing assets needs a signed-in caller",
            ));
        }
        let paging = Paging::new(request.page, request.per_page)?;
        let owner = (!principal.is_admin).then_some(principal.user_id);
        let mut items = self
            .inner
            .repo
            .list(owner, paging.limit(), paging.offset())
            .await?;
        let metainfo = paging.page(&mut items);
        Ok(AssetList { items, metainfo })
    }

    /// What `Service<DeleteAsset>` does.
    pub async fn delete(&self, request: DeleteAsset) -> Result<()> {
        request.principal.require(Scope::AssetsWrite)?;
        let asset = self.visible(&request.principal, request.id).await?;
        // Counting the blob's other users and deleting it are one step for every other
        // writer or deleter of the same bytes in this process.
        let _blob_lock = crate::store::lock_blob(&asset.sha256).await;
        match self.inner.repo.delete(asset.id).await? {
            Some(0) => {
                self.inner
                    .blobs
                    .delete(&BlobKey::parse(&asset.sha256)?)
                    .await?;
                Ok(())
            }
            Some(_) => Ok(()),
            None => Err(Error::new(
                ErrorKind::NotFound,
                format!("asset {} was not found", asset.id),
            )),
        }
    }

    /// A resolver with the bytes of every `sha256:` asset of `document` that `owner` has
    /// uploaded, fetched now (renders run on blocking threads and must not wait on the
    /// database). Assets the owner does not have are left out: the render reports them
    /// missing, and nobody can reach another user's asset by its hash.
    ///
    /// Every declared asset is fetched (fonts are loaded for all pages, not only the one
    /// rendered), at most [`AssetsConfig::max_resolved_bytes`] together: past that, an
    /// [`ErrorKind::LimitExceeded`] error, checked against the recorded sizes before any
    /// bytes are read.
    pub async fn resolver(
        &self,
        owner: Uuid,
        document: &glyph::Document,
    ) -> Result<Arc<dyn AssetResolver>> {
        let limit = self.inner.config.max_resolved_bytes;
        let mut wanted = HashMap::new();
        let mut total = 0u64;
        for (name, asset) in document.assets.iter().flat_map(|a| a.iter()) {
            let AssetSource::Sha256(hash) = &asset.source else {
                continue;
            };
            if wanted.contains_key(hash) {
                continue;
            }
            let sha256 = hex(hash);
            let Some(stored) = self.inner.repo.find(owner, &sha256).await? else {
                continue;
            };
            total = total.saturating_add(stored.byte_size);
            if total > limit {
                return Err(too_many_asset_bytes(limit).at(format!("assets.{name}")));
            }
            wanted.insert(*hash, sha256);
        }
        let mut found = HashMap::new();
        let mut read = 0u64;
        for (hash, sha256) in wanted {
            if let Some(bytes) = self.inner.blobs.get(&BlobKey::parse(&sha256)?).await? {
                // The recorded sizes are the blobs' sizes; this guards against a store
                // that disagrees.
                read = read.saturating_add(bytes.len() as u64);
                if read > limit {
                    return Err(too_many_asset_bytes(limit));
                }
                found.insert(hash, Bytes::from(bytes));
            }
        }
        Ok(Arc::new(StoredAssets(found)))
    }
}

/// An asset its caller may read ([`Assets::open_content`]): the metadata, and its bytes
/// on demand.
#[derive(Debug)]
pub struct AssetReader {
    asset: Asset,
    key: BlobKey,
    blobs: Arc<dyn BlobStore>,
}

impl AssetReader {
    /// The asset's metadata.
    pub fn asset(&self) -> &Asset {
        &self.asset
    }

    /// The bytes `range` (all with `None`; it must lie within
    /// [`byte_size`](Asset::byte_size)), streamed from the blob store.
    pub async fn stream(self, range: Option<std::ops::Range<u64>>) -> Result<BlobStream> {
        self.blobs.stream(&self.key, range).await?.ok_or_else(|| {
            Error::internal(format!("the bytes of asset {} are missing", self.asset.id))
        })
    }
}

/// The error of a render whose `sha256:` assets come to more than `limit` bytes.
fn too_many_asset_bytes(limit: u64) -> Error {
    Error::new(
        ErrorKind::LimitExceeded,
        format!(
            "the document's sha256: assets come to more than {limit} bytes, the most one \
             render may use (max_resolved_bytes)"
        ),
    )
}

/// Asset bytes fetched from the store for one render, by SHA-256.
#[derive(Debug, Default)]
struct StoredAssets(HashMap<[u8; 32], Bytes>);

impl AssetResolver for StoredAssets {
    fn resolve(&self, source: &AssetSource) -> Result<Option<Bytes>> {
        Ok(match source {
            AssetSource::Sha256(hash) => self.0.get(hash).cloned(),
            _ => None,
        })
    }
}

crate::store::domain_service!(Assets {
    UploadAsset => UploadedAsset, upload;
    GetAssetMeta => Asset, meta;
    GetAsset => AssetContent, content;
    ListAssets => AssetList, list;
    DeleteAsset => (), delete;
});
