//! Parse plus render of small pages: any bytes through `glyph::load`, then every page
//! (at most 4) drawn at 48 px and encoded as PNG, under limits that keep one input fast
//! (few nodes and path commands, small images, a short render budget).
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use spv::api::{ImageFormat, ThumbnailSize};
use spv::glyph::{self, Limits};
use spv::render::{RenderOptions, render_thumbnail};

fuzz_target!(|data: &[u8]| {
    if data.len() > 64 * 1024 {
        return;
    }
    let limits = Limits {
        max_pages: 4,
        max_nodes: 500,
        max_group_depth: 16,
        max_path_commands: 5_000,
        max_image_pixels: 512 * 512,
        max_package_uncompressed_bytes: 4 << 20,
        max_package_entries: 32,
        render_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let Ok(loaded) = glyph::load(data, &limits) else {
        return;
    };
    let options = RenderOptions {
        limits: &limits,
        lenient: true,
        ..RenderOptions::default()
    };
    for page in 0..loaded.document.pages.len() {
        if let Ok(thumbnail) = render_thumbnail(
            &loaded,
            page,
            ThumbnailSize::Longest { size: 48 },
            ImageFormat::Png,
            &options,
        ) {
            assert!(thumbnail.width <= 48 && thumbnail.height <= 48);
            assert!(!thumbnail.bytes.is_empty());
        }
    }
});
