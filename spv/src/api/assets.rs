//! Asset requests and responses: images and fonts uploaded once, deduplicated by SHA-256
//! per owner, and referenced from documents as `sha256:<hex>`.
//!
//! ```
//! use spv::api::UploadAsset;
//!
//! let upload = UploadAsset::bytes(Default::default(), b"\x89PNG\r\n\x1a\n".to_vec());
//! assert_eq!(upload.filename, None);
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::io::AsyncRead;
use uuid::Uuid;

use super::auth::Principal;
use super::documents::MetaInfo;

/// An asset's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Asset {
    /// The asset's id.
    pub id: Uuid,
    /// The user who uploaded it.
    pub owner_id: Uuid,
    /// Lowercase hex SHA-256 of the bytes (documents refer to it as `sha256:<hex>`).
    pub sha256: String,
    /// Lowercase hex SHA-512 of the bytes.
    pub sha512: String,
    /// Lowercase hex MD5 of the bytes (for old clients; not a security check).
    pub md5: String,
    /// The file name given on upload, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    /// The media type, sniffed from the bytes.
    pub mime: String,
    /// The size in bytes.
    pub byte_size: u64,
    /// Image width in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// Image height in pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// The image's most common colour, `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dominant_color: Option<String>,
    /// A font's family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font_family: Option<String>,
    /// A font's style: `normal` or `italic`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font_style: Option<String>,
    /// A font's weight, 1 to 1000.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font_weight: Option<u16>,
    /// When it was uploaded.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// When its metadata last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
}

impl Asset {
    /// The strong ETag of the bytes: the quoted SHA-256.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.sha256)
    }
}

/// An upload's answer: the asset and whether it is new (`false`: the caller already had
/// these bytes, the existing asset is returned).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedAsset {
    /// The stored asset.
    pub asset: Asset,
    /// Whether this upload created it.
    pub created: bool,
}

/// An asset and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssetContent {
    /// The metadata.
    pub asset: Asset,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// A page of assets with `_metainfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct AssetList {
    /// The assets of this page, newest first.
    pub items: Vec<Asset>,
    /// Where this page is.
    #[serde(rename = "_metainfo")]
    pub metainfo: MetaInfo,
}

/// Uploads an asset, streamed from `body`; answers [`UploadedAsset`].
pub struct UploadAsset {
    /// The caller, who becomes the owner.
    pub principal: Principal,
    /// The file name the client gave, if any (kept as metadata only).
    pub filename: Option<String>,
    /// The bytes, read to the end (and refused past the service's size limit).
    pub body: Box<dyn AsyncRead + Send + Unpin>,
}

impl UploadAsset {
    /// An upload of bytes already in memory.
    pub fn bytes(principal: Principal, bytes: Vec<u8>) -> Self {
        UploadAsset {
            principal,
            filename: None,
            body: Box::new(std::io::Cursor::new(bytes)),
        }
    }
}

impl fmt::Debug for UploadAsset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadAsset")
            .field("principal", &self.principal)
            .field("filename", &self.filename)
            .finish_non_exhaustive()
    }
}

/// Reads an asset's metadata; answers [`Asset`].
#[derive(Debug, Clone)]
pub struct GetAssetMeta {
    /// The caller: the owner or an admin.
    pub principal: Principal,
    /// Which asset.
    pub id: Uuid,
}

/// Reads an asset's bytes; answers [`AssetContent`].
#[derive(Debug, Clone)]
pub struct GetAsset {
    /// The caller: the owner or an admin.
    pub principal: Principal,
    /// Which asset.
    pub id: Uuid,
}

/// Lists the caller's assets (an admin's: everyone's), newest first; answers [`AssetList`].
#[derive(Debug, Clone)]
pub struct ListAssets {
    /// The caller.
    pub principal: Principal,
    /// The page, from 1 (default 1).
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    pub per_page: Option<u32>,
}

/// Deletes an asset (its blob too when no other asset has the same bytes); answers `()`.
#[derive(Debug, Clone)]
pub struct DeleteAsset {
    /// The caller: the owner or an admin.
    pub principal: Principal,
    /// Which asset.
    pub id: Uuid,
}
