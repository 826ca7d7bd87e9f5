//! The thumbnails service: `.glyph` bytes or a parsed document in, an encoded image out.
//!
//! | item | what it is |
//! |---|---|
//! | [`Thumbnails`] | the service, a cheap-to-clone `tower::Service<RenderThumbnail>` |
//! | [`ThumbnailsConfig`] | its settings: limits, largest size, render pool, default assets |
//! | [`RenderThumbnail`], [`Thumbnail`] | the request and the response, from [`crate::api`] |
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

mod service;
mod types;

pub use crate::api::{RenderThumbnail, Thumbnail};
pub use service::Thumbnails;
pub use types::{DEFAULT_MAX_SIZE, ThumbnailsConfig};
