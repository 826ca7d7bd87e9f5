//! Fidelity: every sample page rendered by spv, against resvg 0.49 drawing spv's own SVG
//! export of that page at the same size (256 px on the longer side).
//!
//! Two figures per page, both over premultiplied RGBA (0–255 per channel), over the
//! pixels wholly inside the page:
//! - the mean absolute difference;
//! - the share of differing pixels, a pixel differing when one of its channels differs by
//!   more than 16 (about 6%: beyond antialiasing noise, well below a wrong colour).
//!
//! Each page is measured twice: without its text nodes ("shapes": every other feature)
//! and whole. The brief's aim for pages without text is a mean under 3 and a share under
//! 5%; we measure far less (at most 0.70 and 3.0%), so each page gets its own, tighter
//! bound: what was measured plus 0.3 (mean) and plus 1 percentage point (share),
//! rounded up to a tenth: room for a renderer's antialiasing or rounding to change, not
//! for a feature to go missing (a missing clip, blend mode, gradient or image changes
//! several percent of a page). A page not listed gets the brief's bounds, 3 and 5%.
//!
//! Where the two renderers still differ, and why:
//! - edges: tiny-skia (resvg) antialiases with 4 sub-scanlines, so its vertical coverage
//!   comes in quarters, while vello_cpu's is exact; an edge pixel that is 64% covered is
//!   163/255 in spv and 191/255 in resvg. Edges against a contrasting colour (white on a
//!   transparent page, dark on white) therefore make most of the differing pixels;
//! - text: the same glyph outlines from the same fonts at the same positions (the export
//!   places every line where spv's layout puts it), but filled by the two rasterisers;
//!   at 256 px most text is a few pixels high, so nearly all of its pixels are edges;
//! - non-separable blend modes: resvg paints `saturation` and `color` wrongly where the
//!   W3C `ClipColor` step applies (checked by hand on `blend-modes`: at page (700, 808)
//!   the formulas give (58, 0, 11), spv paints (58, 0, 11), resvg (135, 0, 0)).
//!
//! `cargo test -p spv-tests --test fidelity -- --nocapture` prints the table; it is
//! also written to `test-output/fidelity.md`, and both renders, the SVG and a diff image
//! of every page to `test-output/fidelity/`.

use std::fmt::Write as _;

use spv::glyph::{Loaded, Node, NodeKind};
use spv_tests::{
    Diff, compare, diff_image, export_svg, output_dir, parse_svg, render_resvg, render_spv,
    resvg_fonts, samples, write_png,
};

/// Thumbnail size of the comparison.
const SIZE: u32 = 256;

/// A pixel differs when a premultiplied channel differs by more than this.
const THRESHOLD: u8 = 16;

/// The bounds of one page: `(max mean absolute difference, max % of differing pixels)`,
/// without its text and whole.
struct Bound {
    page: &'static str,
    shapes: (f64, f64),
    whole: (f64, f64),
}

/// The bounds of a page not in [`BOUNDS`] (the brief's aim for pages without text).
const DEFAULT_BOUND: (f64, f64) = (3.0, 5.0);

/// Per-page bounds: measured + 0.3 mean, + 1 point share, rounded up to a tenth.
#[rustfmt::skip]
const BOUNDS: &[Bound] = &[
    // measured: shapes 0.37 / 1.39%, whole 0.72 / 2.36%: small UI text (13–17 px page, 4–6 px here) is mostly glyph edges.
    Bound { page: "app-screen", shapes: (0.7, 2.4), whole: (1.1, 3.4) },
    // measured: shapes 0.63 / 3.00%, whole 0.76 / 3.49%: resvg gets `saturation` and `color` wrong where the W3C ClipColor step applies (checked by hand: spv matches the formulas); small labels.
    Bound { page: "blend-modes", shapes: (1.0, 4.0), whole: (1.1, 4.5) },
    // measured: shapes 0.08 / 0.17%, whole 0.24 / 0.80%: the Tuffy wordmark (font asset) and one line of sans.
    Bound { page: "brand-kit-p0", shapes: (0.4, 1.2), whole: (0.6, 1.8) },
    // measured: shapes 0.25 / 1.37%, whole 0.44 / 1.90%: arched swatches edged in light grey on white: antialiasing of long curved edges; Tuffy labels.
    Bound { page: "brand-kit-p1", shapes: (0.6, 2.4), whole: (0.8, 2.9) },
    // measured: shapes 0.31 / 0.44%, whole 0.48 / 0.84%: upscaled photos (both bilinear) and a wrapped paragraph.
    Bound { page: "brand-kit-p2", shapes: (0.7, 1.5), whole: (0.8, 1.9) },
    // measured: shapes 0.08 / 0.55%, whole 0.42 / 1.40%: name, title and a three-line right-aligned block.
    Bound { page: "business-card-p0", shapes: (0.4, 1.6), whole: (0.8, 2.4) },
    // measured: shapes 0.15 / 0.89%, whole 0.28 / 1.36%: two centred lines.
    Bound { page: "business-card-p1", shapes: (0.5, 1.9), whole: (0.6, 2.4) },
    // measured: shapes 0.30 / 1.02%, whole 0.52 / 1.68%: dashed grid lines and many small axis labels.
    Bound { page: "chart", shapes: (0.6, 2.1), whole: (0.9, 2.7) },
    // measured: shapes 0.50 / 1.29%, whole 0.67 / 1.73%: stroked icons scaled 6× and twelve labels.
    Bound { page: "icon-set", shapes: (0.8, 2.3), whole: (1.0, 2.8) },
    // measured: shapes 0.42 / 0.99%, whole 0.79 / 2.10%: image resampling at three crops and a wrapped paragraph.
    Bound { page: "photo-layout", shapes: (0.8, 2.0), whole: (1.1, 3.1) },
    // measured: shapes 0.22 / 0.40%, whole 0.46 / 1.36%: large headline, two centred lines, a badge.
    Bound { page: "poster", shapes: (0.6, 1.4), whole: (0.8, 2.4) },
    // measured: shapes 0.47 / 0.28%, whole 1.02 / 2.36%: a four-line 60 px bold headline over a photo.
    Bound { page: "social-card", shapes: (0.8, 1.3), whole: (1.4, 3.4) },
    // measured: shapes 0.70 / 2.24%, whole 0.72 / 2.30%: white edges on a transparent page differ at full contrast; no text to speak of.
    Bound { page: "sticker-sheet", shapes: (1.0, 3.3), whole: (1.1, 3.3) },
    // measured: shapes 0.35 / 1.57%, whole 0.60 / 2.41%: thick strokes, dashes and dots: many edges; small labels.
    Bound { page: "strokes", shapes: (0.7, 2.6), whole: (0.9, 3.5) },
    // measured: shapes 0.14 / 0.37%, whole 0.29 / 0.77%: large glyphs on a skewed face and a mirrored word.
    Bound { page: "transforms", shapes: (0.5, 1.4), whole: (0.6, 1.8) },
    // measured: shapes 0.00 / 0.00%, whole 1.12 / 3.52%: a type specimen: almost every pixel that differs is a glyph edge.
    Bound { page: "typography", shapes: (0.3, 1.0), whole: (1.5, 4.6) },
    // measured: shapes 0.28 / 0.75%, whole 0.68 / 2.01%: headline, paragraph and button labels.
    Bound { page: "wireframe", shapes: (0.6, 1.8), whole: (1.0, 3.1) },
];

fn strip_text(nodes: &mut Vec<Node>) {
    nodes.retain(|n| !matches!(n.kind, NodeKind::Text(_)));
    for node in nodes {
        if let NodeKind::Group(group) = &mut node.kind {
            strip_text(&mut group.children);
        }
    }
}

fn without_text(loaded: &Loaded) -> Loaded {
    let mut copy = loaded.clone();
    for page in &mut copy.document.pages {
        strip_text(&mut page.layers);
    }
    copy
}

/// Renders page `page` both ways and compares; writes both renders, the SVG and a diff
/// image to `test-output/fidelity/<name>-*` for people to look at.
fn measure(loaded: &Loaded, page: usize, key: &str, name: &str) -> Result<Diff, String> {
    let spv = render_spv(loaded, page, SIZE).map_err(|e| format!("{key}: spv: {e}"))?;
    let svg = export_svg(loaded, page).map_err(|e| format!("{key}: svg export: {e}"))?;
    let tree = parse_svg(&svg, resvg_fonts(loaded)).map_err(|e| format!("{key}: {e}"))?;
    let resvg = render_resvg(&tree, spv.width, spv.height);
    let out = output_dir().join("fidelity");
    write_png(&out.join(format!("{name}-spv.png")), &spv)?;
    write_png(&out.join(format!("{name}-resvg.png")), &resvg)?;
    std::fs::write(out.join(format!("{name}.svg")), &svg).map_err(|e| format!("{key}: {e}"))?;
    // Only the pixels wholly inside the page are compared: where the page's shorter side
    // was rounded up to a whole pixel, spv paints the background to the image's edge (an
    // opaque background gives opaque pixels) while resvg leaves the last row partly
    // covered, as SVG says.
    let page_data = &loaded.document.pages[page];
    let scale = f64::from(SIZE) / page_data.width.max(page_data.height);
    let inside = |side: f64| (side * scale + 1e-6).floor() as u32;
    let (w, h) = (inside(page_data.width), inside(page_data.height));
    let (spv, resvg) = (spv.crop(w, h), resvg.crop(w, h));
    write_png(
        &out.join(format!("{name}-diff.png")),
        &diff_image(&spv, &resvg, THRESHOLD),
    )?;
    Ok(compare(&spv, &resvg, THRESHOLD))
}

/// `None` when `diff` is within `(max_mean, max_share_percent)`, else what is over.
fn over(diff: &Diff, (max_mean, max_share): (f64, f64)) -> Option<String> {
    let share = diff.share() * 100.0;
    (diff.mean_abs > max_mean || share > max_share).then(|| {
        format!(
            "mean {:.3} (bound {max_mean}), share {share:.3}% (bound {max_share}%)",
            diff.mean_abs
        )
    })
}

#[test]
fn spv_matches_resvg_on_its_svg_export() {
    let mut table = String::from(
        "| page | shapes: mean | shapes: share | bound | whole: mean | whole: share | bound |\n\
         |---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut failures = Vec::new();
    let mut pages = 0;
    for sample in samples() {
        for page in 0..sample.page_count() {
            let key = sample.page_key(page);
            let shapes = measure(
                &without_text(&sample.loaded),
                page,
                &key,
                &format!("{key}-shapes"),
            );
            let whole = measure(&sample.loaded, page, &key, &key);
            let (shapes, whole) = match (shapes, whole) {
                (Ok(s), Ok(w)) => (s, w),
                (Err(e), _) | (_, Err(e)) => {
                    failures.push(e);
                    continue;
                }
            };
            pages += 1;
            let (shapes_bound, whole_bound) = BOUNDS
                .iter()
                .find(|b| b.page == key)
                .map(|b| (b.shapes, b.whole))
                .unwrap_or((DEFAULT_BOUND, DEFAULT_BOUND));
            let _ = writeln!(
                table,
                "| {key} | {:.2} | {:.2}% | {}, {}% | {:.2} | {:.2}% | {}, {}% |",
                shapes.mean_abs,
                shapes.share() * 100.0,
                shapes_bound.0,
                shapes_bound.1,
                whole.mean_abs,
                whole.share() * 100.0,
                whole_bound.0,
                whole_bound.1,
            );
            if let Some(what) = over(&shapes, shapes_bound) {
                failures.push(format!("{key} without its text: {what}"));
            }
            if let Some(what) = over(&whole, whole_bound) {
                failures.push(format!("{key}: {what}"));
            }
        }
    }
    println!("{table}");
    let out = output_dir();
    let _ = std::fs::create_dir_all(&out);
    let _ = std::fs::write(out.join("fidelity.md"), &table);
    assert!(pages >= 12, "only {pages} pages were compared");
    assert!(
        failures.is_empty(),
        "spv and resvg differ more than allowed (renders and diffs in test-output/fidelity/):\n{}\n\n{table}",
        failures.join("\n")
    );
}
