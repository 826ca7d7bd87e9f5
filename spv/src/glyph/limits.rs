//! Limits on every input, with the format page's defaults.
//!
//! ```
//! let limits = spv::glyph::Limits::default();
//! assert_eq!(limits.max_pages, 1_000);
//! assert_eq!(limits.max_group_depth, 64);
//! ```

use std::time::Duration;

/// Limits applied while reading and rendering documents. Each is a setting; the
/// defaults are those of the format page.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Limits {
    /// Largest document JSON, in bytes (32 MiB).
    pub max_json_bytes: u64,
    /// Largest package, compressed, in bytes (256 MiB).
    pub max_package_bytes: u64,
    /// Largest package, uncompressed, in bytes, all entries together (1 GiB).
    pub max_package_uncompressed_bytes: u64,
    /// Most entries in a package (10,000).
    pub max_package_entries: usize,
    /// Most pages (1,000).
    pub max_pages: usize,
    /// Most nodes in a document, clip shapes included (200,000).
    pub max_nodes: usize,
    /// Deepest group nesting (64).
    pub max_group_depth: usize,
    /// Most path commands in a document (1,000,000).
    pub max_path_commands: usize,
    /// Most pixels of one decoded image (64 megapixels).
    pub max_image_pixels: u64,
    /// Largest render side in pixels (16,384).
    pub max_render_side: u32,
    /// Longest render (10 s).
    #[serde(with = "millis")]
    pub render_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_json_bytes: 32 << 20,
            max_package_bytes: 256 << 20,
            max_package_uncompressed_bytes: 1 << 30,
            max_package_entries: 10_000,
            max_pages: 1_000,
            max_nodes: 200_000,
            max_group_depth: 64,
            max_path_commands: 1_000_000,
            max_image_pixels: 64_000_000,
            max_render_side: 16_384,
            render_timeout: Duration::from_secs(10),
        }
    }
}

mod millis {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub(super) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis().try_into().unwrap_or(u64::MAX))
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}
