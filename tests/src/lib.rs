//! The harness of spv's end-to-end tests: the sample documents of `examples/docs/`,
//! rendering them with spv and (through spv's SVG export) with resvg, comparing images,
//! and golden reference files.
//!
//! Images are compared premultiplied, so that the colour of a nearly transparent pixel
//! (noise once its alpha is divided out) does not count more than what it contributes
//! when the image is composited.
//!
//! ```
//! use spv_tests::{Rgba, compare};
//!
//! let a = Rgba { width: 1, height: 2, pixels: vec![10, 20, 30, 255, 0, 0, 0, 0] };
//! let b = Rgba { width: 1, height: 2, pixels: vec![10, 20, 40, 255, 0, 0, 0, 0] };
//! let diff = compare(&a, &b, 2);
//! assert_eq!(diff.differing, 1);
//! assert_eq!(diff.max, 10);
//! assert!((diff.mean_abs - 10.0 / 8.0).abs() < 1e-9);
//! ```

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use resvg::usvg;
use spv::api::{RenderBackend, ThumbnailSize};
use spv::glyph::{self, AssetType, Limits, Loaded, NoAssets};
use spv::render::gpu::{Gpu, GpuConfig};
use spv::render::svg::{SvgOptions, page_to_svg};
use spv::render::{RenderOptions, Renderer, RendererChoice, render_page};

pub mod cluster;
pub mod faults;
pub mod golden;
pub mod server;

pub use golden::{GoldenCheck, check_golden};

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// `examples/docs/`, where the sample documents live.
pub fn docs_dir() -> PathBuf {
    workspace_root().join("examples").join("docs")
}

/// Where failing renders and diff images are written (git-ignored).
pub fn output_dir() -> PathBuf {
    workspace_root().join("test-output")
}

/// One sample document, parsed.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The file name without `.glyph`, e.g. `poster`.
    pub name: String,
    /// The parsed document (and its package).
    pub loaded: Arc<Loaded>,
}

impl Sample {
    /// The name of page `page` in golden files and tables: the sample's name for a
    /// one-page document, else `name-p<index>` with the zero-based index of `pages[index]`.
    pub fn page_key(&self, page: usize) -> String {
        if self.loaded.document.pages.len() == 1 {
            self.name.clone()
        } else {
            format!("{}-p{page}", self.name)
        }
    }

    /// How many pages the document has.
    pub fn page_count(&self) -> usize {
        self.loaded.document.pages.len()
    }
}

/// Every `*.glyph` file of `examples/docs/`, sorted by name, parsed with default limits.
///
/// Panics (failing the test) when a sample does not parse: samples must stay valid.
pub fn samples() -> Vec<Sample> {
    let dir = docs_dir();
    let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|ext| ext == "glyph"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let loaded = glyph::load(&bytes, &Limits::default())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            Sample {
                name,
                loaded: Arc::new(loaded),
            }
        })
        .collect()
}

/// An RGBA8 image, unpremultiplied, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgba {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 4` bytes.
    pub pixels: Vec<u8>,
}

/// Renders page `page` of `loaded` with spv's CPU renderer, its longer side `size` pixels.
pub fn render_spv(loaded: &Loaded, page: usize, size: u32) -> spv::Result<Rgba> {
    render_with(loaded, page, size, &Renderer::cpu()).map(|(image, _)| image)
}

/// Renders page `page` of `loaded` with `renderer`, its longer side
/// `size` pixels, and says which backend drew it.
///
/// The render time limit is two minutes instead of the default 10 s: a software GPU
/// adapter (lavapipe) takes seconds for some pages at 1024 px, and a render that waits
/// for the GPU longer than half its limit is drawn by the CPU instead, which is not what
/// these tests compare.
pub fn render_with(
    loaded: &Loaded,
    page: usize,
    size: u32,
    renderer: &Renderer,
) -> spv::Result<(Rgba, RenderBackend)> {
    let rendered = render_page_with(loaded, page, size, renderer)?;
    let image = Rgba {
        width: rendered.width,
        height: rendered.height,
        pixels: rendered.pixels,
    };
    Ok((image, rendered.backend))
}

/// As [`render_with`], the whole [`spv::render::RenderedPage`] (backend, GPU time,
/// warnings), under the same two-minute time limit.
pub fn render_page_with(
    loaded: &Loaded,
    page: usize,
    size: u32,
    renderer: &Renderer,
) -> spv::Result<spv::render::RenderedPage> {
    let limits = Limits {
        render_timeout: std::time::Duration::from_secs(120),
        ..Limits::default()
    };
    let options = RenderOptions {
        renderer,
        limits: &limits,
        ..RenderOptions::default()
    };
    render_page(loaded, page, ThumbnailSize::Longest { size }, &options)
}

/// A GPU for tests that need one, of default settings ([`gpu_with_or_skip`]).
pub fn gpu_or_skip(test: &str) -> Option<Gpu> {
    gpu_with_or_skip(test, GpuConfig::new(RendererChoice::Gpu))
}

/// A GPU of `config` for tests that need one (its choice `gpu`, so that a software
/// Vulkan adapter such as Mesa's lavapipe counts), initialised now. Without an adapter
/// the test is skipped (it says so on stderr), except under `CI=true`, where it fails:
/// CI installs `mesa-vulkan-drivers`.
pub fn gpu_with_or_skip(test: &str, config: GpuConfig) -> Option<Gpu> {
    let gpu = Gpu::new(config);
    match gpu.warm_up() {
        Some(adapter) => {
            eprintln!(
                "{test}: GPU adapter {} ({}, {})",
                adapter.name, adapter.backend, adapter.driver
            );
            Some(gpu)
        }
        None if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "{test}: no GPU adapter, not even a software one; install Debian's \
             mesa-vulkan-drivers (lavapipe)"
        ),
        None => {
            eprintln!("{test}: skipped: no GPU adapter (install mesa-vulkan-drivers for lavapipe)");
            None
        }
    }
}

/// Page `page` of `loaded` as SVG, through spv's export.
pub fn export_svg(loaded: &Loaded, page: usize) -> spv::Result<String> {
    page_to_svg(loaded, page, &SvgOptions::new(Arc::new(NoAssets)))
}

/// The fonts resvg needs for a document's SVG export: the bundled DejaVu Sans faces
/// (which the export names `DejaVu Sans`) and the document's font assets (resvg ignores
/// the export's `@font-face` rules).
pub fn resvg_fonts(loaded: &Loaded) -> Arc<usvg::fontdb::Database> {
    let mut db = usvg::fontdb::Database::new();
    let fonts = workspace_root().join("spv").join("fonts");
    for face in ["DejaVuSans.ttf", "DejaVuSans-Bold.ttf"] {
        let path = fonts.join(face);
        let data = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        db.load_font_data(data);
    }
    db.set_sans_serif_family("DejaVu Sans");
    if let Some(assets) = &loaded.document.assets {
        let resolver: Arc<dyn glyph::AssetResolver> = match &loaded.package {
            Some(package) => package.clone(),
            None => Arc::new(NoAssets),
        };
        for (name, asset) in assets {
            if asset.kind == AssetType::Font {
                let bytes = glyph::load_asset(name, asset, &*resolver)
                    .unwrap_or_else(|e| panic!("font asset {name}: {e}"));
                db.load_font_data(bytes.to_vec());
            }
        }
    }
    Arc::new(db)
}

/// Parses an SVG for resvg with `fonts`.
pub fn parse_svg(svg: &str, fonts: Arc<usvg::fontdb::Database>) -> Result<usvg::Tree, String> {
    let options = usvg::Options {
        fontdb: fonts,
        ..usvg::Options::default()
    };
    usvg::Tree::from_str(svg, &options).map_err(|e| format!("usvg: {e}"))
}

/// Renders a parsed SVG with resvg at `width × height` pixels, scaled uniformly so that
/// its longer side fills the image (as spv scales a page), premultiplied as resvg
/// leaves it.
pub fn render_resvg_premultiplied(
    tree: &usvg::Tree,
    width: u32,
    height: u32,
) -> resvg::tiny_skia::Pixmap {
    let Some(mut pixmap) = resvg::tiny_skia::Pixmap::new(width, height) else {
        panic!("resvg cannot make a {width} × {height} pixmap");
    };
    // Uniform, as spv scales a page: the longer side fills the image, the shorter one
    // was rounded to whole pixels.
    let size = tree.size();
    let scale = width.max(height) as f32 / size.width().max(size.height());
    let transform = resvg::tiny_skia::Transform::from_scale(scale, scale);
    resvg::render(tree, transform, &mut pixmap.as_mut());
    pixmap
}

/// Renders a parsed SVG with resvg at `width × height` pixels, unpremultiplied.
pub fn render_resvg(tree: &usvg::Tree, width: u32, height: u32) -> Rgba {
    let pixmap = render_resvg_premultiplied(tree, width, height);
    let pixels = pixmap
        .pixels()
        .iter()
        .flat_map(|p| {
            let c = p.demultiply();
            [c.red(), c.green(), c.blue(), c.alpha()]
        })
        .collect();
    Rgba {
        width,
        height,
        pixels,
    }
}

impl Rgba {
    /// The top-left `width × height` pixels (at most the whole image).
    pub fn crop(&self, width: u32, height: u32) -> Rgba {
        let (width, height) = (width.min(self.width), height.min(self.height));
        let mut pixels = Vec::with_capacity((width * height * 4) as usize);
        for row in self
            .pixels
            .chunks_exact(self.width as usize * 4)
            .take(height as usize)
        {
            pixels.extend_from_slice(&row[..width as usize * 4]);
        }
        Rgba {
            width,
            height,
            pixels,
        }
    }
}

/// How two images differ.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Diff {
    /// Mean absolute difference per channel (0–255), over R, G, B and A of every pixel.
    pub mean_abs: f64,
    /// Pixels whose largest channel difference is over the threshold.
    pub differing: usize,
    /// All pixels.
    pub total: usize,
    /// The largest channel difference anywhere.
    pub max: u8,
}

impl Diff {
    /// The share of differing pixels, 0–1.
    pub fn share(&self) -> f64 {
        if self.total == 0 {
            0.0
        } else {
            self.differing as f64 / self.total as f64
        }
    }
}

fn premultiplied(p: &[u8]) -> [u8; 4] {
    let a = u16::from(p[3]);
    let m = |c: u8| ((u16::from(c) * a + 127) / 255) as u8;
    [m(p[0]), m(p[1]), m(p[2]), p[3]]
}

/// Compares two images of the same size, premultiplied; a pixel differs when one of its
/// channels differs by more than `threshold`.
///
/// Panics when the sizes differ (a size mismatch is a failure of its own).
pub fn compare(a: &Rgba, b: &Rgba, threshold: u8) -> Diff {
    assert_eq!(
        (a.width, a.height),
        (b.width, b.height),
        "the images have different sizes"
    );
    let (mut sum, mut differing, mut max) = (0u64, 0usize, 0u8);
    for (pa, pb) in a.pixels.chunks_exact(4).zip(b.pixels.chunks_exact(4)) {
        let (qa, qb) = (premultiplied(pa), premultiplied(pb));
        let mut worst = 0u8;
        for c in 0..4 {
            let d = qa[c].abs_diff(qb[c]);
            sum += u64::from(d);
            worst = worst.max(d);
        }
        max = max.max(worst);
        if worst > threshold {
            differing += 1;
        }
    }
    let total = (a.width * a.height) as usize;
    Diff {
        mean_abs: if total == 0 {
            0.0
        } else {
            sum as f64 / (total * 4) as f64
        },
        differing,
        total,
        max,
    }
}

/// A picture of where two images differ: the expected image faded to grey, with
/// differing pixels (largest channel difference over `threshold`) in red, brighter the
/// larger the difference.
pub fn diff_image(expected: &Rgba, actual: &Rgba, threshold: u8) -> Rgba {
    let pixels = expected
        .pixels
        .chunks_exact(4)
        .zip(actual.pixels.chunks_exact(4))
        .flat_map(|(pe, pa)| {
            let (qe, qa) = (premultiplied(pe), premultiplied(pa));
            let worst = (0..4).map(|c| qe[c].abs_diff(qa[c])).max().unwrap_or(0);
            if worst > threshold {
                [255, 255 - worst.max(64), 255 - worst.max(64), 255]
            } else {
                let grey = (u16::from(qe[0]) + u16::from(qe[1]) + u16::from(qe[2])) / 3;
                let faded = (255 - (255 - grey) / 4) as u8;
                [faded, faded, faded, 255]
            }
        })
        .collect();
    Rgba {
        width: expected.width,
        height: expected.height,
        pixels,
    }
}

/// Reads an 8-bit RGBA or RGB PNG.
pub fn read_png(path: &Path) -> Result<Rgba, String> {
    let file = fs::File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = vec![0; reader.output_buffer_size().unwrap_or(0)];
    let info = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    buf.truncate(info.buffer_size());
    let pixels = match (info.color_type, info.bit_depth) {
        (png::ColorType::Rgba, png::BitDepth::Eight) => buf,
        (png::ColorType::Rgb, png::BitDepth::Eight) => buf
            .chunks_exact(3)
            .flat_map(|p| [p[0], p[1], p[2], 255])
            .collect(),
        other => {
            return Err(format!(
                "{}: unexpected PNG layout {other:?}",
                path.display()
            ));
        }
    };
    Ok(Rgba {
        width: info.width,
        height: info.height,
        pixels,
    })
}

/// Writes an RGBA PNG, creating the folder.
pub fn write_png(path: &Path, image: &Rgba) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let file = fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), image.width, image.height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder
        .write_header()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    writer
        .write_image_data(&image.pixels)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    writer
        .finish()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// A PNG of `side`×`side` pixels of noise (it does not compress: about 4·side² bytes).
pub fn noise_png(side: u32, seed: u32) -> Vec<u8> {
    let mut state = seed.wrapping_mul(2_654_435_761).max(1);
    let pixels: Vec<u8> = (0..side * side * 4)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect();
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, side, side);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&pixels).unwrap();
    writer.finish().unwrap();
    out
}
