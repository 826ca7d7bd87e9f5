//! Thumbnails of the sample documents (`examples/docs/`, page 0 of each) at 256 px and
//! 1024 px: spv's CPU renderer against resvg drawing spv's SVG export of the same page.
//!
//! Run with `cargo bench -p spv --bench render` (filter with a sample name:
//! `cargo bench -p spv --bench render -- poster`). Results: `BENCHMARKS.md`.
//!
//! What is timed, per sample and size (parsing is done once, outside the loop):
//!
//! - `spv`: [`render_thumbnail`] from the parsed document to PNG bytes: scene building,
//!   text layout, image decoding (as the service does it per request), rasterising,
//!   un-premultiplying and PNG encoding;
//! - `resvg`: `resvg::render` of the usvg tree (parsed once, which includes its text
//!   layout and image decoding), un-premultiplying and PNG encoding with spv's own
//!   encoder and settings, so both columns encode alike;
//! - `spv-render` and `resvg-render` (256 px only): the same without the PNG encoding
//!   (spv's [`render_page`] still un-premultiplies; resvg's pixmap stays premultiplied).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use resvg::usvg;
use spv::api::{ImageFormat, ThumbnailSize};
use spv::glyph::{self, AssetType, Loaded, NoAssets};
use spv::render::svg::{SvgOptions, page_to_svg};
use spv::render::{RenderOptions, encode, render_page, render_thumbnail};

mod common;

use common::samples;

/// The sizes every sample is rendered at.
const SIZES: [u32; 2] = [256, 1024];

/// The bundled DejaVu Sans faces and the document's font assets, for usvg.
fn fonts(loaded: &Loaded) -> Arc<usvg::fontdb::Database> {
    let mut db = usvg::fontdb::Database::new();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fonts");
    for face in ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"] {
        db.load_font_data(std::fs::read(dir.join(face)).expect("bundled font"));
    }
    db.set_sans_serif_family("DejaVu Sans");
    let resolver: Arc<dyn glyph::AssetResolver> = match &loaded.package {
        Some(package) => package.clone(),
        None => Arc::new(NoAssets),
    };
    for (name, asset) in loaded.document.assets.iter().flatten() {
        if asset.kind == AssetType::Font {
            let bytes = glyph::load_asset(name, asset, &*resolver).expect("font asset");
            db.load_font_data(bytes.to_vec());
        }
    }
    Arc::new(db)
}

fn resvg_pixmap(tree: &usvg::Tree, width: u32, height: u32) -> resvg::tiny_skia::Pixmap {
    let mut pixmap = resvg::tiny_skia::Pixmap::new(width, height).expect("non-empty size");
    // Uniform, as spv scales a page: the longer side fills the image, the shorter one
    // was rounded to whole pixels.
    let size = tree.size();
    let scale = width.max(height) as f32 / size.width().max(size.height());
    let transform = resvg::tiny_skia::Transform::from_scale(scale, scale);
    resvg::render(tree, transform, &mut pixmap.as_mut());
    pixmap
}

fn resvg_png(tree: &usvg::Tree, width: u32, height: u32) -> Vec<u8> {
    let pixmap = resvg_pixmap(tree, width, height);
    let mut rgba = Vec::with_capacity(pixmap.data().len());
    for p in pixmap.pixels() {
        let c = p.demultiply();
        rgba.extend_from_slice(&[c.red(), c.green(), c.blue(), c.alpha()]);
    }
    encode::encode(&rgba, width, height, ImageFormat::Png).expect("png")
}

fn bench_samples(c: &mut Criterion) {
    let options = RenderOptions::default();
    for (name, loaded) in samples() {
        let svg =
            page_to_svg(&loaded, 0, &SvgOptions::new(Arc::new(NoAssets))).expect("svg export");
        let usvg_options = usvg::Options {
            fontdb: fonts(&loaded),
            ..usvg::Options::default()
        };
        let tree = usvg::Tree::from_str(&svg, &usvg_options).expect("usvg parses the export");
        let mut group = c.benchmark_group(name.as_str());
        for size in SIZES {
            let thumb = ThumbnailSize::Longest { size };
            let first =
                render_thumbnail(&loaded, 0, thumb, ImageFormat::Png, &options).expect("render");
            let (w, h) = (first.width, first.height);
            group.bench_function(format!("{size}/spv"), |b| {
                b.iter(|| {
                    render_thumbnail(black_box(&loaded), 0, thumb, ImageFormat::Png, &options)
                        .expect("render")
                })
            });
            group.bench_function(format!("{size}/resvg"), |b| {
                b.iter(|| resvg_png(black_box(&tree), w, h))
            });
            if size == 256 {
                group.bench_function(format!("{size}/spv-render"), |b| {
                    b.iter(|| render_page(black_box(&loaded), 0, thumb, &options).expect("render"))
                });
                group.bench_function(format!("{size}/resvg-render"), |b| {
                    b.iter(|| resvg_pixmap(black_box(&tree), w, h))
                });
            }
        }
        group.finish();
    }
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_samples
}
criterion_main!(benches);
