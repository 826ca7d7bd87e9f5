//! SVG path data: the input as the `d` of a path node, parsed (its cost measured against
//! the path-command limit, its outline built) and drawn into a small thumbnail.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use spv::api::ThumbnailSize;
use spv::glyph::{self, Limits};
use spv::render::{RenderOptions, render_page};

fuzz_target!(|data: &[u8]| {
    let Ok(d) = std::str::from_utf8(data) else {
        return;
    };
    let document = serde_json::json!({"format": "glyph", "version": 1, "pages": [
    {"width": 100, "height": 100, "layers": [
        {"type": "path", "d": d, "fill": "#204080", "stroke": {"paint": "#ff0000", "width": 2, "dash": [3, 1]}}
    ]}]});
    let limits = Limits {
        max_path_commands: 10_000,
        render_timeout: Duration::from_secs(2),
        ..Limits::default()
    };
    let Ok(loaded) = glyph::load(document.to_string().as_bytes(), &limits) else {
        return;
    };
    let options = RenderOptions {
        limits: &limits,
        ..RenderOptions::default()
    };
    let _ = render_page(&loaded, 0, ThumbnailSize::Longest { size: 32 }, &options);
});
