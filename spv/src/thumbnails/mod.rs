//! The thumbnails service: `.glyph` bytes or a parsed document in, an encoded image out.
//!
//! | item | what it is |
//! |---|---|
//! | [`Thumbnails`] | the service, a cheap-to-clone `tower::Service<RenderThumbnail>` |
//! | [`ThumbnailsConfig`] | its settings: limits, largest size, render pool, default assets |
//! | [`RenderThumbnail`](crate::api::RenderThumbnail), [`Thumbnail`](crate::api::Thumbnail) | the request and the response, from [`crate::api`] |
//! | [`LoadDocument`], [`LoadedDocument`] | a document parsed once on the pool, for several renders of its pages |
//! | `DocumentThumbnails` | thumbnails of stored documents: two cache levels, single flight, owner's assets; and `POST /api/v1/thumbnails` (feature `store`) |
//! | `InlineThumbnails` | `POST /api/v1/thumbnails` for documents sent in the request, without a document store (feature `store`) |
//! | [`CacheKey`] | the cache key, which is the ETag |
//! | `MemoryCache` | the in-process level, weighed by bytes (feature `store`) |
//! | `RenderedStore` | the second level: rendered blobs recorded in the `rendered` table, bounded by bytes (feature `store`) |
//! | `ThumbnailRedis` | with several nodes (`REDIS_URL`): a level in Redis between memory and the rendered blobs, and claims so that one node renders what several want (feature `store`) |
//!
//! The CLI and the HTTP layer both go through this service; call it with
//! [`tower::ServiceExt::oneshot`] (or `ready().await?.call(..)`):
//!
//! ```
//! use spv::api::{ImageFormat, RenderThumbnail, ThumbnailSize};
//! use spv::thumbnails::{Thumbnails, ThumbnailsConfig};
//! use tower::ServiceExt;
//!
//! let doc = br##"{"format":"glyph","version":1,"pages":[{"width":300,"height":600,
//!     "background":"#ffffff","layers":[]}]}"##;
//! let service = Thumbnails::new(ThumbnailsConfig::default().with_pool_size(2));
//! let request = RenderThumbnail::new(doc.to_vec())
//!     .size(ThumbnailSize::Longest { size: 64 })
//!     .format(ImageFormat::Webp);
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let thumb = rt.block_on(service.oneshot(request)).unwrap();
//! assert_eq!((thumb.width, thumb.height), (32, 64));
//! assert_eq!(thumb.content_type(), "image/webp");
//! ```

#[cfg(feature = "store")]
mod cache;
#[cfg(feature = "store")]
mod inline;
mod key;
#[cfg(all(test, feature = "store"))]
mod nodes_tests;
#[cfg(feature = "store")]
mod prepare;
#[cfg(feature = "store")]
mod rendered;
mod service;
#[cfg(feature = "store")]
mod stored;
#[cfg(feature = "store")]
mod tier;
mod types;

#[cfg(feature = "store")]
pub use cache::MemoryCache;
#[cfg(feature = "store")]
pub use inline::InlineThumbnails;
pub use key::CacheKey;
pub(crate) use key::etag_matches;
#[cfg(feature = "store")]
pub(crate) use prepare::prepare;
#[cfg(feature = "store")]
pub use rendered::{DEFAULT_STORE_BYTES, RenderedStore};
pub use service::Thumbnails;
#[cfg(feature = "store")]
pub use stored::{DEFAULT_MEMORY_BYTES, DocumentThumbnails, DocumentThumbnailsConfig};
#[cfg(feature = "store")]
pub use tier::{
    DEFAULT_CLAIM_TTL, DEFAULT_REDIS_MAX_ENTRY_BYTES, DEFAULT_REDIS_TTL, ThumbnailRedis,
};
pub use types::{DEFAULT_MAX_SIZE, LoadDocument, LoadedDocument, ThumbnailsConfig};
