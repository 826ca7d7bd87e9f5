//! Request and response types of the services, shared with `spv-client`.
//!
//! Plain data: no I/O happens here. The in-process services and the remote client take
//! and return the same types, so code written against
//! `S: tower::Service<RenderThumbnail>` runs either way.
//!
//! | module | requests of |
//! |---|---|
//! | [`thumbnails`] | [`crate::thumbnails::Thumbnails`] |
//! | `auth` (feature `api`) | `crate::auth::Auth` |
//! | `documents` (feature `api`) | `crate::documents::Documents` |
//! | `assets` (feature `api`) | `crate::assets::Assets` |
//! | `jobs` (feature `api`) | `crate::jobs::Jobs` |
//!
//! The feature `api` (implied by `store`) builds these types alone, without the renderer
//! or the database: `spv-client` depends on nothing more.

#[cfg(feature = "api")]
pub mod assets;
#[cfg(feature = "api")]
pub mod auth;
#[cfg(feature = "api")]
pub mod documents;
#[cfg(feature = "api")]
pub mod jobs;
pub mod thumbnails;

#[cfg(feature = "api")]
pub use assets::*;
#[cfg(feature = "api")]
pub use auth::*;
#[cfg(feature = "api")]
pub use documents::*;
#[cfg(feature = "api")]
pub use jobs::*;
pub use thumbnails::*;
