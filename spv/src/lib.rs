//! spv renders, stores and serves `.glyph` vector design documents.
//!
//! The library is the product: `spv-server`, `spv-cli` and `spv-client` are thin front
//! ends over the services defined here.
//!
//! | module | what it owns |
//! |---|---|
//! | [`glyph`] | the document format: model, parser, validation with JSON paths, packages, assets |
//! | [`render`] | page → scene → pixels on the CPU (vello_cpu) or, with feature `gpu`, the GPU (vello on wgpu, `render::gpu`), text (parley), images, PNG/WebP/JPEG encoders, the bounded render pool, SVG export |
//! | [`api`] | request and response types of the services, shared with `spv-client` |
//! | [`thumbnails`] | the thumbnails service, a `tower::Service<RenderThumbnail>` |
//! | [`error`] | [`Error`] and [`ErrorKind`] |
//! | [`signing`] | signed URLs: HMAC-SHA256 over path and query with an expiry, several keys for rotation |
//! | `store` | the database (SQLite default, PostgreSQL) with migrations, and the blob store (feature `store`) |
//! | `documents` | stored `.glyph` documents with owners, versions, ETags: the `Documents` service (feature `store`) |
//! | `assets` | uploaded images and fonts, deduplicated by SHA-256: the `Assets` service (feature `store`) |
//! | `config` | one `Config` of every server setting, from env maps and TOML (feature `store`) |
//! | `auth` | users, JWT access tokens, rotating refresh tokens, API keys: the `Auth` service (feature `store`) |
//! | `ratelimit` | rate limits: the policy (`SPV_RATE_LIMITS`), client addresses behind trusted proxies, the GCRA in process or on Redis (feature `store`) |
//! | `jobs` | the job queue in the database: leases, retries with backoff, cancelling (feature `store`) |
//! | `live` | live editing: one actor per open document orders, checks, logs and fans out changes (feature `store`; the WebSocket is in `http`) |
//! | `http` | axum routers, problem+json, OpenAPI and docs UI, health, metrics (feature `http`) |
//!
//! # Feature flags
//!
//! | feature | default | enables |
//! |---|---|---|
//! | `render` | yes | [`render`], [`thumbnails`] and the render pool (vello_cpu, parley, image codecs, Tokio) |
//! | `gpu` | no | `render::gpu`: the GPU backend (vello 0.11 on wgpu: Vulkan, Metal, DX12), chosen at run time by `RendererChoice`; implies `render`. On by default in `spv-server` and `spv-cli` |
//! | `api` | no | [`api`] in full (documents, assets, auth, jobs types) without the renderer or the database: what `spv-client` uses; implied by `store` |
//! | `store` | no | `store`, `documents`, `assets`, `auth`, `config`: SQLite/PostgreSQL through sqlx, blobs, argon2, JWT; implies `render` |
//! | `http` | no | `http`: the HTTP adapters (axum, utoipa, Scalar, prometheus-client); implies `render`. Alone it has the thumbnails-only `render_router`; with `store`, every route and `AppState` |
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
#[cfg(feature = "store")]
pub mod assets;
#[cfg(feature = "store")]
pub mod auth;
#[cfg(feature = "store")]
pub mod config;
#[cfg(feature = "store")]
pub mod documents;
pub mod error;
pub mod glyph;
#[cfg(feature = "store")]
pub mod guard;
mod hex;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "store")]
pub mod jobs;
#[cfg(feature = "store")]
pub mod live;
#[cfg(feature = "store")]
pub mod ratelimit;
#[cfg(feature = "render")]
pub mod render;
pub mod signing;
#[cfg(feature = "store")]
pub mod store;
#[cfg(feature = "render")]
pub mod thumbnails;

pub use error::{Error, ErrorKind, Result};
