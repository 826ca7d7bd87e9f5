//! End-to-end renderer tests: documents in, pixels out.
//!
//! `drawing`: shapes, paints, blends, clips, strokes; `pages`: images, backgrounds,
//! output sizes, determinism and errors.

use super::*;

mod drawing;
mod pages;

pub(super) const RED: [u8; 4] = [255, 0, 0, 255];
pub(super) const BLUE: [u8; 4] = [0, 0, 255, 255];
pub(super) const WHITE: [u8; 4] = [255, 255, 255, 255];
pub(super) const CLEAR: [u8; 4] = [0, 0, 0, 0];

/// A one-page document: `page` holds extra page fields (a leading comma each).
pub(super) fn doc(width: u32, height: u32, page: &str, layers: &str) -> String {
    format!(
        r#"{{"format":"glyph","version":1,"pages":[{{"width":{width},"height":{height}{page},"layers":[{layers}]}}]}}"#
    )
}

pub(super) fn try_render(
    json: &str,
    size: ThumbnailSize,
    options: &RenderOptions<'_>,
) -> Result<RenderedPage> {
    let loaded = crate::glyph::load(json.as_bytes(), &Limits::default()).unwrap();
    render_page(&loaded, 0, size, options)
}

/// Renders at scale 1 for a 100 × 100 page (so page units are pixels).
pub(super) fn render(json: &str) -> RenderedPage {
    try_render(
        json,
        ThumbnailSize::Longest { size: 100 },
        &RenderOptions::default(),
    )
    .unwrap()
}

pub(super) fn near(got: [u8; 4], want: [u8; 4], tolerance: u8) -> bool {
    got.iter()
        .zip(want)
        .all(|(g, w)| g.abs_diff(w) <= tolerance)
}

#[track_caller]
pub(super) fn assert_px(page: &RenderedPage, x: u32, y: u32, want: [u8; 4], tolerance: u8) {
    let got = page.pixel(x, y);
    assert!(
        near(got, want, tolerance),
        "pixel ({x}, {y}) is {got:?}, expected {want:?}"
    );
}
