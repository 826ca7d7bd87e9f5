//! Request and response types of the services, shared with `spv-client`.
//!
//! Plain data: no I/O happens here. The in-process services and the remote client take
//! and return the same types, so code written against
//! `S: tower::Service<RenderThumbnail>` runs either way.
//!
//! Every type has this one path, `spv::api::Name`; the domain modules do not re-export
//! them. By domain:
//!
//! | types of | served by |
//! |---|---|
//! | thumbnails: [`RenderThumbnail`], [`Thumbnail`], [`ThumbnailBody`], `GetDocumentThumbnail`, `CreateThumbnail`, … | [`crate::thumbnails::Thumbnails`] and, with `store`, `DocumentThumbnails` |
//! | auth (feature `api`): `TokenRequest`, `Principal`, `Scope`, `CreateApiKey`, … | `crate::auth::Auth` |
//! | documents (feature `api`): `CreateDocument`, `GetDocument`, `Document`, … | `crate::documents::Documents` |
//! | assets (feature `api`): `UploadAsset`, `GetAsset`, `Asset`, … | `crate::assets::Assets` |
//! | jobs (feature `api`): `EnqueueRender`, `Job`, `WatchJob`, … | `crate::jobs::Jobs` |
//! | live editing (feature `api`): [`live::ClientMessage`], [`live::ServerMessage`] | `crate::live::Live` (WebSocket `GET /api/v1/documents/{id}/live`) |
//!
//! The feature `api` (implied by `store`) builds these types alone, without the renderer
//! or the database: `spv-client` depends on nothing more.

#[cfg(feature = "api")]
pub(crate) mod assets;
#[cfg(feature = "api")]
pub(crate) mod auth;
#[cfg(feature = "api")]
pub(crate) mod documents;
#[cfg(feature = "api")]
pub(crate) mod jobs;
#[cfg(feature = "api")]
pub mod live;
pub(crate) mod thumbnails;
pub mod whole;

#[cfg(feature = "api")]
pub use assets::*;
#[cfg(feature = "api")]
pub use auth::*;
#[cfg(feature = "api")]
pub use documents::*;
#[cfg(feature = "api")]
pub use jobs::*;
pub use thumbnails::*;
