//! The assets service: images and fonts uploaded once and referenced by documents.
//!
//! | item | what it is |
//! |---|---|
//! | [`Assets`] | the service: `tower::Service` of each request below; [`Assets::resolver`] for renders |
//! | [`AssetReader`] | an asset its caller may read, its bytes streamed (a range or all) from the blob store |
//! | [`AssetsConfig`] | its settings: upload limit, asset bytes per render, pixel limit, the pool inspection runs on |
//! | [`AssetRepo`], [`SqlAssets`] | where metadata is kept; the SQL implementation |
//! | [`UploadAsset`](crate::api::UploadAsset), [`GetAsset`](crate::api::GetAsset), [`GetAssetMeta`](crate::api::GetAssetMeta), [`ListAssets`](crate::api::ListAssets), [`DeleteAsset`](crate::api::DeleteAsset) | the requests, from [`crate::api`] |
//!
//! Uploads stream into a temporary blob and are refused past the size limit; the media
//! type is sniffed from the bytes (a client's `Content-Type` is not trusted); assets are
//! deduplicated per owner by SHA-256 (one user's upload never reveals another's), while
//! blobs are content-addressed and so shared on disk.
//!
//! ```
//! use std::sync::Arc;
//! use spv::api::{Principal, Scopes, UploadAsset};
//! use spv::assets::{Assets, AssetsConfig};
//! use spv::store::{Db, LocalBlobs};
//! use tower::ServiceExt;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let db = Db::open(None, dir.path()).await.unwrap();
//!     let blobs = Arc::new(LocalBlobs::in_data_dir(dir.path()));
//!     let assets = Assets::with_db(db, blobs, AssetsConfig::default());
//!     let ann = Principal { user_id: uuid::Uuid::now_v7(), username: "ann".into(),
//!         is_admin: false, scopes: Scopes::all() };
//!     let first = assets.clone().oneshot(UploadAsset::bytes(ann.clone(), b"GIF89a...".to_vec()))
//!         .await.unwrap();
//!     assert!(first.created);
//!     assert_eq!(first.asset.mime, "image/gif");
//!     let again = assets.oneshot(UploadAsset::bytes(ann, b"GIF89a...".to_vec())).await.unwrap();
//!     assert_eq!((again.created, again.asset.id), (false, first.asset.id));
//! });
//! ```

mod meta;
mod repo;
mod service;
#[cfg(test)]
mod tests;

pub use meta::MEDIA_TYPES;
pub use repo::{AssetRepo, SqlAssets};
pub use service::{
    AssetReader, Assets, AssetsConfig, DEFAULT_MAX_RESOLVED_BYTES, DEFAULT_MAX_UPLOAD_BYTES,
};
