//! Golden reference images in `tests/golden/`, compared with a tolerance (never by
//! encoded bytes), re-blessed with `SPV_BLESS=1`.

use std::path::PathBuf;

use crate::{Diff, Rgba, compare, diff_image, output_dir, read_png, workspace_root, write_png};

/// A pixel differs from the reference when one of its (premultiplied) channels differs
/// by more than this: small enough to catch a wrong colour, an edge moved by a pixel or
/// a missing glyph, large enough for the rounding of a changed but equivalent
/// computation (a different order of blending, an antialiasing tweak).
pub const PIXEL_THRESHOLD: u8 = 2;

/// At most this share of pixels (0.5%) may differ: a 256 px thumbnail has about 50,000
/// pixels, so a couple of hundred antialiased edge pixels may move, while any change to
/// a shape, a paint or a line of text covers far more.
pub const MAX_DIFFERING_SHARE: f64 = 0.005;

/// The mean absolute difference (0–255 per channel, over RGBA) must stay under this.
pub const MAX_MEAN_ABS: f64 = 0.5;

/// The outcome of a golden comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum GoldenCheck {
    /// The render matches its reference within the tolerance.
    Matched(Diff),
    /// `SPV_BLESS=1` was set (or the reference was missing and blessing was asked): the
    /// reference was written.
    Blessed,
}

/// The reference image for `key` (`tests/golden/<key>.png`).
pub fn golden_path(key: &str) -> PathBuf {
    workspace_root()
        .join("tests")
        .join("golden")
        .join(format!("{key}.png"))
}

fn blessing() -> bool {
    std::env::var_os("SPV_BLESS").is_some_and(|v| v != "0" && !v.is_empty())
}

/// Compares `actual` with the reference for `key`. With `SPV_BLESS=1` in the
/// environment, writes `actual` as the reference instead. On a mismatch, writes the
/// actual image and a diff image to `test-output/golden/` and says where.
pub fn check_golden(key: &str, actual: &Rgba) -> Result<GoldenCheck, String> {
    let path = golden_path(key);
    if blessing() {
        write_png(&path, actual)?;
        return Ok(GoldenCheck::Blessed);
    }
    let expected = read_png(&path).map_err(|e| {
        format!("{key}: no usable reference ({e}); run with SPV_BLESS=1 to create it")
    })?;
    let out = output_dir().join("golden");
    let actual_path = out.join(format!("{key}-actual.png"));
    if (expected.width, expected.height) != (actual.width, actual.height) {
        write_png(&actual_path, actual)?;
        return Err(format!(
            "{key}: rendered {}×{} but the reference {} is {}×{}; actual written to {}",
            actual.width,
            actual.height,
            path.display(),
            expected.width,
            expected.height,
            actual_path.display()
        ));
    }
    let diff = compare(&expected, actual, PIXEL_THRESHOLD);
    if diff.share() <= MAX_DIFFERING_SHARE && diff.mean_abs <= MAX_MEAN_ABS {
        return Ok(GoldenCheck::Matched(diff));
    }
    let diff_path = out.join(format!("{key}-diff.png"));
    write_png(&actual_path, actual)?;
    write_png(&diff_path, &diff_image(&expected, actual, PIXEL_THRESHOLD))?;
    Err(format!(
        "{key}: differs from {}: {:.3}% of pixels differ by more than {PIXEL_THRESHOLD} \
         (at most {:.1}% allowed), mean absolute difference {:.3} (at most {MAX_MEAN_ABS}), \
         largest {}; actual: {}, diff: {} (SPV_BLESS=1 rewrites the reference if the change \
         is intended)",
        path.display(),
        diff.share() * 100.0,
        MAX_DIFFERING_SHARE * 100.0,
        diff.mean_abs,
        diff.max,
        actual_path.display(),
        diff_path.display()
    ))
}
