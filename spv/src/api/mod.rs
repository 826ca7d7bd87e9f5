//! Request and response types of the services, shared with `spv-client`.
//!
//! Plain data: no I/O happens here. The in-process services and the remote client take
//! and return the same types, so code written against
//! `S: tower::Service<RenderThumbnail>` runs either way.
//!
//! | module | requests of |
//! |---|---|
//! | [`thumbnails`] | [`crate::thumbnails::Thumbnails`] |
//! | `auth` (feature `store`) | `crate::auth::Auth` |
//! | `documents` (feature `store`) | `crate::documents::Documents` |
//! | `assets` (feature `store`) | `crate::assets::Assets` |
//! | `jobs` (feature `store`) | `crate::jobs::Jobs` |

#[cfg(feature = "store")]
pub mod assets;
#[cfg(feature = "store")]
pub mod auth;
#[cfg(feature = "store")]
pub mod documents;
#[cfg(feature = "store")]
pub mod jobs;
pub mod thumbnails;

#[cfg(feature = "store")]
pub use assets::*;
#[cfg(feature = "store")]
pub use auth::*;
#[cfg(feature = "store")]
pub use documents::*;
#[cfg(feature = "store")]
pub use jobs::*;
pub use thumbnails::*;
