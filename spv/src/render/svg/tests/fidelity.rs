//! resvg against spv's own renderer, pixel by pixel.

use super::*;

/// Renders page 0 with spv and the export with resvg at the page's own size and
/// returns (mean absolute difference per channel, share of pixels off by more than 32
/// in some channel).
fn compare_with_spv(name: &str, json: &str) -> (f64, f64) {
    use crate::api::ThumbnailSize;
    use crate::render::{RenderOptions, render_page};

    let loaded = load(json);
    let page = &loaded.document.pages[0];
    let size = page.width.max(page.height) as u32;
    let ours = render_page(
        &loaded,
        0,
        ThumbnailSize::Longest { size },
        &RenderOptions::default(),
    )
    .expect("spv renders the page");
    let svg = page_to_svg(&loaded, 0, &SvgOptions::default()).unwrap();
    let theirs = render(&svg);
    assert_eq!((ours.width, ours.height), (theirs.width(), theirs.height()));
    let (mut total, mut off) = (0u64, 0usize);
    for y in 0..ours.height {
        for x in 0..ours.width {
            // Compared premultiplied: transparent pixels match whatever their colour.
            let pre = |p: [u8; 4]| {
                let a = u32::from(p[3]);
                [0, 1, 2]
                    .map(|i| u32::from(p[i]) * a / 255)
                    .into_iter()
                    .chain([a])
            };
            let (a, b) = (pre(ours.pixel(x, y)), pre(pixel(&theirs, x, y)));
            let diffs: Vec<u32> = a.zip(b).map(|(a, b)| a.abs_diff(b)).collect();
            total += diffs.iter().map(|d| u64::from(*d)).sum::<u64>();
            if diffs.iter().any(|d| *d > 32) {
                off += 1;
            }
        }
    }
    let pixels = f64::from(ours.width) * f64::from(ours.height);
    let (mean, share) = (total as f64 / (pixels * 4.0), off as f64 / pixels);
    if mean >= 1.0 || share >= 0.01 || std::env::var_os("SPV_DUMP_SVG_TESTS").is_some() {
        // Kept for a look (always with SPV_DUMP_SVG_TESTS set); test-output/ is git-ignored.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-output");
        let mut spv = tiny_skia::Pixmap::new(ours.width, ours.height).expect("a pixmap");
        for (out, p) in spv.pixels_mut().iter_mut().zip(ours.pixels.chunks_exact(4)) {
            *out = tiny_skia::ColorU8::from_rgba(p[0], p[1], p[2], p[3]).premultiply();
        }
        if std::fs::create_dir_all(&dir).is_ok() {
            let _ = spv.save_png(dir.join(format!("{name}-spv.png")));
            let _ = theirs.save_png(dir.join(format!("{name}-resvg.png")));
            let _ = std::fs::write(dir.join(format!("{name}.svg")), &svg);
        }
    }
    eprintln!("{name}: mean absolute difference {mean:.3}, share of differing pixels {share:.4}");
    (mean, share)
}

#[test]
fn resvg_paints_the_export_as_spv_paints_the_page() {
    let json = r##"{"format":"glyph","version":1,
      "assets":{"pic":{"type":"image","src":"IMAGE"},"bold":{"type":"font","src":"FONT"}},
      "pages":[{"width":240,"height":160,
      "background":{"type":"linear","from":[0,0],"to":[240,160],"stops":[[0,"#fafafa"],[1,"#d0e0f0"]]},
      "layers":[
        {"type":"rect","x":10,"y":10,"width":100,"height":60,"radius":[0,12,24,6],"fill":"#e04040",
         "stroke":{"paint":"#202020","width":3,"dash":[8,4],"join":"round"}},
        {"type":"ellipse","cx":170,"cy":45,"rx":50,"ry":30,
         "fill":{"type":"radial","center":[170,45],"radius":50,"stops":[[0,"#ffff00"],[1,"#ff8000c0"]]},
         "stroke":{"paint":"#0000ff","width":2,"dash":[5]}},
        {"type":"group","opacity":0.7,"transform":[0.9,0.2,-0.2,0.9,30,70],
         "clip":{"type":"ellipse","cx":50,"cy":35,"rx":60,"ry":30},
         "children":[
           {"type":"path","d":"M0 0 L100 0 L100 70 L0 70 Z M20 20 L80 20 L80 50 L20 50 Z","fillRule":"evenodd","fill":"#2080ff"},
           {"type":"rect","x":30,"y":10,"width":40,"height":50,"fill":"#00c000","blend":"multiply"}]},
        {"type":"text","x":130,"y":90,"size":18,"weight":700,"maxWidth":100,"align":"right",
         "text":"Fidelity test text","fill":"#101010"},
        {"type":"path","d":"M130 150 q 20 -30 40 0 t 40 0 a 10 10 0 0 1 20 0",
         "stroke":{"paint":"#800080","width":4,"cap":"round"},"blend":"difference"},
        {"type":"image","asset":"pic","x":10,"y":120,"width":60,"height":36,"fit":"cover","opacity":0.9},
        {"type":"image","asset":"pic","x":75,"y":120,"width":50,"height":36,"fit":"contain"},
        {"type":"text","x":12,"y":76,"size":11,"font":"bold","text":"Asset font"}]}]}"##;
    let image = gradient_png_data_url(48, 24);
    let font = base64::engine::general_purpose::STANDARD.encode(BOLD);
    let json = json
        .replace("IMAGE", &image)
        .replace("FONT", &format!("data:font/ttf;base64,{font}"));
    // Seen side by side when written: the two pictures are the same but for
    // antialiasing and resampling noise.
    let (mean, off) = compare_with_spv("svg-fidelity", &json);
    assert!(mean < 1.0, "mean absolute difference {mean}");
    assert!(off < 0.01, "share of differing pixels {off}");
}
