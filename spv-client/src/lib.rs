//! Typed remote client for an spv server (filled in by the remote-client issue).
//!
//! It shares its request and response types with the library:
//!
//! ```
//! use spv_client::api::ImageFormat;
//! assert_eq!(ImageFormat::Webp.content_type(), "image/webp");
//! ```

pub use spv::api;
