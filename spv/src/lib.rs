//! spv renders, stores and serves `.glyph` vector design documents.
//!
//! The library is the product: `spv-server`, `spv-cli` and `spv-client` are thin front
//! ends over the services defined here.
//!
//! | module | what it owns |
//! |---|---|
//! | [`glyph`] | the document format: model, parser, validation with JSON paths, packages, assets, SVG export |
//! | [`render`] | page → scene → pixels on the CPU (vello_cpu), text (parley), images, PNG/WebP/JPEG encoders, the bounded render pool |
//! | [`api`] | request and response types of the services, shared with `spv-client` |
//! | [`thumbnails`] | the thumbnails service, a `tower::Service<RenderThumbnail>` |
//! | [`error`] | [`Error`] and [`ErrorKind`] |
//!
//! # Feature flags
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `render` | yes | [`render`], [`thumbnails`] and the render pool (vello_cpu, parley, image codecs, Tokio) |
//!
//! # Example
//!
//! ```
//! # #[cfg(feature = "render")] {
//! use spv::api::{ImageFormat, RenderThumbnail, ThumbnailSize};
//! use spv::thumbnails::Thumbnails;
//! use tower::ServiceExt;
//!
//! let doc = br##"{"format":"glyph","version":1,"pages":[{"width":400,"height":200,
//!     "background":"#2050f0","layers":[]}]}"##;
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let thumb = rt.block_on(async {
//!     let request = RenderThumbnail::new(doc.to_vec()).size(ThumbnailSize::Longest { size: 100 });
//!     Thumbnails::new(Default::default()).oneshot(request).await
//! }).unwrap();
//! assert_eq!((thumb.width, thumb.height), (100, 50));
//! assert_eq!(thumb.format, ImageFormat::Png);
//! # }
//! ```

pub mod api;
pub mod error;
pub mod glyph;
#[cfg(feature = "render")]
pub mod render;
#[cfg(feature = "render")]
pub mod thumbnails;

pub use error::{Error, ErrorKind, Result};
