//! Thumbnails of stored documents and the public gallery (feature `store`).
//!
//! [`GetDocumentThumbnail`] asks [`DocumentThumbnails`](crate::thumbnails::DocumentThumbnails)
//! for a thumbnail of a stored document; the answer, [`DocumentThumbnail`], says where it
//! came from (the in-process cache, a rendered blob, or a render). The gallery lists
//! public documents as [`GalleryItem`]s, each with the URL of its thumbnail.
//!
//! ```
//! use spv::api::{GalleryItem, GetDocumentThumbnail, ImageFormat, Document};
//!
//! let request = GetDocumentThumbnail::new(None, uuid::Uuid::from_u128(1));
//! assert_eq!((request.page, request.format), (0, ImageFormat::Png));
//! let item = GalleryItem::new(&Document::example(), "/spv");
//! assert_eq!(item.thumbnail, format!("/spv/api/v1/documents/{}/thumbnail", item.id));
//! ```

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{ImageFormat, RenderTiming, ThumbnailBody, ThumbnailSize, ThumbnailSource};
use crate::api::auth::Principal;
use crate::api::documents::{Document, MetaInfo, PageSummary};

/// A thumbnail of a stored document; answers [`DocumentThumbnail`].
///
/// Who may ask: anyone for a public document; for a private one the owner and admins
/// (the HTTP layer also checks the credential's scope).
#[derive(Debug, Clone)]
pub struct GetDocumentThumbnail {
    /// The caller; `None` (anonymous) reaches public documents only.
    pub principal: Option<Principal>,
    /// Which document.
    pub id: Uuid,
    /// Zero-based page index.
    pub page: usize,
    /// Output size.
    pub size: ThumbnailSize,
    /// Output format.
    pub format: ImageFormat,
    /// Paint placeholders for missing assets instead of failing.
    pub lenient: bool,
    /// An `If-None-Match` header value: when it matches the thumbnail's ETag, the answer
    /// has no image and nothing is rendered or read beyond the document's metadata.
    pub if_none_match: Option<String>,
}

impl GetDocumentThumbnail {
    /// Page 0 at 256 px as PNG, strict.
    pub fn new(principal: Option<Principal>, id: Uuid) -> Self {
        GetDocumentThumbnail {
            principal,
            id,
            page: 0,
            size: ThumbnailSize::default(),
            format: ImageFormat::Png,
            lenient: false,
            if_none_match: None,
        }
    }
}

/// `POST /api/v1/thumbnails`: one page of a document sent in the request or of a stored
/// document, for a caller holding `thumbnails:read`; answers [`DocumentThumbnail`].
///
/// A stored document is served as [`GetDocumentThumbnail`] serves it (same caches, same
/// ETags). A sent document is rendered with the caller's `sha256:` uploads; its ETag is
/// the cache key the caller's stored document of the same content would have, so an
/// `If-None-Match` that matches answers without rendering.
///
/// ```
/// use spv::api::{CreateThumbnail, Principal, Scopes, ThumbnailBody, ThumbnailSource};
///
/// let caller = Principal { user_id: uuid::Uuid::now_v7(), username: "ann".into(),
///     is_admin: false, scopes: Scopes::all() };
/// let id = uuid::Uuid::now_v7();
/// let mut body = ThumbnailBody::stored(id);
/// body.format = Some("auto".into());
/// let (request, negotiated) = CreateThumbnail::from_body(caller, &body, Some("image/webp")).unwrap();
/// assert_eq!(request.document, ThumbnailSource::Stored(id));
/// assert_eq!((request.format, negotiated), (spv::api::ImageFormat::Webp, true));
/// ```
#[derive(Debug, Clone)]
pub struct CreateThumbnail {
    /// The caller.
    pub principal: Principal,
    /// The document.
    pub document: ThumbnailSource,
    /// Zero-based page index.
    pub page: usize,
    /// Output size.
    pub size: ThumbnailSize,
    /// Output format.
    pub format: ImageFormat,
    /// Paint placeholders for missing assets instead of failing.
    pub lenient: bool,
    /// An `If-None-Match` header value (see [`GetDocumentThumbnail::if_none_match`]).
    pub if_none_match: Option<String>,
}

impl CreateThumbnail {
    /// The request a [`ThumbnailBody`] makes for `principal`; `accept` (the `Accept`
    /// header) decides `format: "auto"`, and the flag says whether it did (the answer
    /// then varies by `Accept`).
    pub fn from_body(
        principal: Principal,
        body: &ThumbnailBody,
        accept: Option<&str>,
    ) -> crate::Result<(CreateThumbnail, bool)> {
        let document = body.source()?;
        let size = body.size()?;
        let (format, negotiated) = ImageFormat::negotiate(body.format.as_deref(), accept)?;
        let request = CreateThumbnail {
            principal,
            document,
            page: body.page,
            size,
            format,
            lenient: body.lenient,
            if_none_match: None,
        };
        Ok((request, negotiated))
    }
}

/// An encoded thumbnail as the caches keep it: cheap to clone (the bytes are shared).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedImage {
    /// The encoded image.
    pub bytes: Arc<[u8]>,
    /// The format of `bytes`.
    pub format: ImageFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Warnings of a lenient render (fonts substituted).
    pub warnings: Vec<String>,
}

impl From<super::Thumbnail> for CachedImage {
    /// The image of a render, as the caches keep it.
    fn from(thumbnail: super::Thumbnail) -> Self {
        CachedImage {
            bytes: thumbnail.bytes.into(),
            format: thumbnail.format,
            width: thumbnail.width,
            height: thumbnail.height,
            warnings: thumbnail.warnings,
        }
    }
}

impl CachedImage {
    /// The media type of `bytes`.
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }
}

/// The answer to [`GetDocumentThumbnail`] and [`CreateThumbnail`].
#[derive(Debug, Clone)]
pub struct DocumentThumbnail {
    /// The stored document's metadata (whether it is public decides how it may be
    /// cached); `None` for a document sent in the request.
    pub document: Option<Document>,
    /// The strong ETag of the thumbnail (its cache key, quoted); `None` for a lenient
    /// render that painted a placeholder for a `sha256:` asset the owner has not
    /// uploaded: such a render is never cached, so it can be replaced once the asset is
    /// there.
    pub etag: Option<String>,
    /// The image; `None` when `If-None-Match` matched.
    pub image: Option<CachedImage>,
    /// Whether the in-process cache had it (`None`: not looked up).
    pub memory_hit: Option<bool>,
    /// Whether the rendered blobs had it (`None`: not looked up, or no blob level).
    pub blob_hit: Option<bool>,
    /// How long the render took when this request rendered it (`None`: it did not; a
    /// concurrent identical request that waited for another's render gets `None`).
    pub rendered: Option<RenderTiming>,
}

/// One public document in the gallery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct GalleryItem {
    /// The document's id.
    pub id: Uuid,
    /// Its title.
    pub title: String,
    /// Its tags.
    pub tags: Vec<String>,
    /// Its version (bumped by every change).
    pub version: i64,
    /// Its pages, in order.
    pub pages: Vec<PageSummary>,
    /// The URL of its thumbnail (`GET`, options in the query).
    pub thumbnail: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
}

impl GalleryItem {
    /// The gallery view of `document`, its thumbnail under `prefix` (where the API is
    /// mounted: `""` at the root).
    pub fn new(document: &Document, prefix: &str) -> Self {
        GalleryItem {
            id: document.id,
            title: document.title.clone(),
            tags: document.tags.clone(),
            version: document.version,
            pages: document.pages.clone(),
            thumbnail: format!("{prefix}/api/v1/documents/{}/thumbnail", document.id),
            created_at: document.created_at,
            updated_at: document.updated_at,
        }
    }
}

/// A page of the gallery with `_metainfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct GalleryList {
    /// The public documents of this page, newest first.
    pub items: Vec<GalleryItem>,
    /// Where this page is.
    #[serde(rename = "_metainfo")]
    pub metainfo: MetaInfo,
}
