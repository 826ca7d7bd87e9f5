//! Page → scene → pixels → encoded thumbnail.
//!
//! Pure, synchronous work that knows nothing of Tokio; [`pool`] runs it off the async
//! threads.
//!
//! | item | what it does |
//! |---|---|
//! | [`render_page`] | one page → RGBA8 pixels (unpremultiplied sRGB) |
//! | [`render_thumbnail`] | one page → encoded PNG, WebP or JPEG |
//! | [`geometry`] | thumbnail size and where the page lands in it |
//! | `scene`, `paint`, `shapes` (private) | the backend-neutral scene built from a page: commands, paints, strokes, blend modes, outlines |
//! | `cpu` (private) | the CPU backend (vello_cpu) |
//! | [`Renderer`], [`RendererChoice`] | which backend draws: the user's choice and the GPU it renders with |
//! | `gpu` | the GPU backend (vello on wgpu; feature `gpu`): `gpu::Gpu` |
//! | [`image`] | image assets: decoding, cache, `fit` |
//! | `text`, `fonts` (private) | text layout (parley) and fonts: the bundled `sans` and a document's font assets |
//! | [`encode`] | PNG, WebP and JPEG encoders |
//! | [`pool`] | the bounded render pool |
//! | [`svg`] | a page as SVG, laid out as the renderer lays it out |
//!
//! ```
//! use spv::api::ThumbnailSize;
//! use spv::glyph::{self, Limits};
//! use spv::render::{RenderOptions, render_page};
//!
//! let loaded = glyph::load(br##"{"format":"glyph","version":1,"pages":[{"width":200,
//!     "height":100,"background":"#0000ff","layers":[{"type":"rect","x":0,"y":0,
//!     "width":100,"height":100,"fill":"#ff0000"}]}]}"##, &Limits::default()).unwrap();
//! let page = render_page(&loaded, 0, ThumbnailSize::Longest { size: 20 },
//!     &RenderOptions::default()).unwrap();
//! assert_eq!((page.width, page.height), (20, 10));
//! assert_eq!(page.pixel(2, 5), [255, 0, 0, 255]);
//! assert_eq!(page.pixel(17, 5), [0, 0, 255, 255]);
//! ```

mod budget;
mod build;
pub(crate) mod cpu;
pub mod encode;
pub(crate) mod fonts;
pub mod geometry;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod image;
pub(crate) mod paint;
pub mod pool;
mod renderer;
pub(crate) mod scene;
pub(crate) mod shapes;
pub mod svg;
pub(crate) mod text;

use std::time::{Duration, Instant};

use crate::api::{ImageFormat, RenderBackend, RenderTiming, Thumbnail, ThumbnailSize};
use crate::glyph::{AssetResolver, AssetSource, Bytes, Limits, Loaded, NoAssets, Package};
use crate::{Error, ErrorKind, Result};

use fonts::FontBook;
use geometry::Placement;
use scene::{Resources, Scene};

pub use renderer::{Renderer, RendererChoice};

/// Identifies what this renderer draws: part of every thumbnail cache key and ETag, so
/// cached images are never served across a change of output. Bump the suffix whenever
/// the pixels for the same input change.
pub const RENDERER_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+cpu.1");

/// What the GPU backend draws (its pixels differ from the CPU's within the parity bounds
/// of `tests/tests/gpu.rs`, so its thumbnails have keys and ETags of their own).
pub const GPU_RENDERER_VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+gpu.1");

/// The renderer version of `backend`, for cache keys and ETags.
pub fn renderer_version(backend: RenderBackend) -> &'static str {
    match backend {
        RenderBackend::Cpu => RENDERER_VERSION,
        RenderBackend::Gpu => GPU_RENDERER_VERSION,
    }
}

/// How to render: limits, leniency and where assets come from.
#[derive(Clone, Copy)]
pub struct RenderOptions<'a> {
    /// Limits (image size, render size, render time).
    pub limits: &'a Limits,
    /// Paint a visible placeholder for a missing asset (and report a warning) instead of
    /// failing.
    pub lenient: bool,
    /// Where `sha256:` and relative asset sources are found, after the document's own
    /// package.
    pub resolver: &'a dyn AssetResolver,
    /// Which backend draws the pixels (the default options draw on the CPU).
    pub renderer: &'a Renderer,
}

impl std::fmt::Debug for RenderOptions<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RenderOptions")
            .field("limits", self.limits)
            .field("lenient", &self.lenient)
            .field("renderer", self.renderer)
            .finish_non_exhaustive()
    }
}

static DEFAULT_LIMITS: std::sync::LazyLock<Limits> = std::sync::LazyLock::new(Limits::default);

/// The default options' renderer: no GPU, so that no process-wide GPU hides behind them.
static CPU_ONLY: Renderer = Renderer::cpu();

impl Default for RenderOptions<'_> {
    /// Default limits, strict, no resolver besides the document's package.
    fn default() -> Self {
        RenderOptions {
            limits: &DEFAULT_LIMITS,
            lenient: false,
            resolver: &NoAssets,
            renderer: &CPU_ONLY,
        }
    }
}

/// A rendered page: RGBA8 pixels, unpremultiplied sRGB, row by row, no padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedPage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 4` bytes: R, G, B, A, unpremultiplied.
    pub pixels: Vec<u8>,
    /// What this render substituted: placeholders for missing assets, `sans` for unknown
    /// fonts. (The document's own findings stay in [`Loaded::warnings`].)
    pub warnings: Vec<String>,
    /// The backend that drew the pixels.
    pub backend: RenderBackend,
    /// For a GPU render, the wall time of the GPU batch it rode in.
    pub gpu_time: Option<Duration>,
}

impl RenderedPage {
    /// The pixel at (`x`, `y`) as `[r, g, b, a]`; transparent black outside the image.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        if x >= self.width || y >= self.height {
            return [0; 4];
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        match self.pixels.get(i..i + 4) {
            Some(p) => [p[0], p[1], p[2], p[3]],
            None => [0; 4],
        }
    }
}

/// Renders page `page` (zero-based) of `loaded` at `size`.
///
/// Errors: a page out of range or a size of 0 is [`ErrorKind::InvalidRequest`]; a side
/// over [`Limits::max_render_side`] is [`ErrorKind::LimitExceeded`]; a render running
/// past [`Limits::render_timeout`] stops with [`ErrorKind::RenderTimeout`]; missing and
/// broken assets as [`ErrorKind::MissingAsset`] (unless lenient) and
/// [`ErrorKind::InvalidAsset`].
pub fn render_page(
    loaded: &Loaded,
    page: usize,
    size: ThumbnailSize,
    options: &RenderOptions<'_>,
) -> Result<RenderedPage> {
    let deadline = Deadline::after(options.limits.render_timeout);
    let document = &loaded.document;
    let count = document.pages.len();
    let Some(page_data) = document.pages.get(page) else {
        return Err(page_out_of_range(page, count));
    };
    let placement = Placement::new(page_data.width, page_data.height, size, options.limits)?;
    let chain;
    let resolver: &dyn AssetResolver = match &loaded.package {
        Some(package) => {
            chain = PackageFirst {
                package,
                then: options.resolver,
            };
            &chain
        }
        None => options.resolver,
    };
    let fonts = FontBook::load(document, resolver, options.lenient)?;
    let mut resources = Resources::new(resolver, options.limits)
        .lenient(options.lenient)
        .deadline(deadline)
        .fonts(fonts);
    let scene = Scene::build(document, page, &placement, &mut resources)?;
    let (pixels, backend, gpu_time) = options.renderer.draw(&scene, &deadline)?;
    Ok(RenderedPage {
        width: placement.width,
        height: placement.height,
        pixels,
        warnings: resources.take_warnings(),
        backend,
        gpu_time,
    })
}

/// Renders page `page` of `loaded` at `size` and encodes it as `format`.
///
/// Errors: as [`render_page`].
pub fn render_thumbnail(
    loaded: &Loaded,
    page: usize,
    size: ThumbnailSize,
    format: ImageFormat,
    options: &RenderOptions<'_>,
) -> Result<Thumbnail> {
    let rendered = render_page(loaded, page, size, options)?;
    let bytes = encode::encode(&rendered.pixels, rendered.width, rendered.height, format)?;
    Ok(Thumbnail {
        bytes,
        width: rendered.width,
        height: rendered.height,
        format,
        warnings: rendered.warnings,
        timing: RenderTiming {
            backend: rendered.backend,
            gpu: rendered.gpu_time,
            ..RenderTiming::default()
        },
    })
}

/// A page the document lacks: the thing asked for does not exist (a 404 over HTTP, as a
/// URL naming it would be).
pub(crate) fn page_out_of_range(page: usize, count: usize) -> Error {
    Error::new(
        crate::ErrorKind::NotFound,
        format!(
            "page {page} does not exist; the document has {count} page{} (0 to {})",
            if count == 1 { "" } else { "s" },
            count.saturating_sub(1)
        ),
    )
}

/// The document's package first, then the caller's resolver.
struct PackageFirst<'a> {
    package: &'a Package,
    then: &'a dyn AssetResolver,
}

impl AssetResolver for PackageFirst<'_> {
    fn resolve(&self, source: &AssetSource) -> Result<Option<Bytes>> {
        match self.package.resolve(source)? {
            Some(bytes) => Ok(Some(bytes)),
            None => self.then.resolve(source),
        }
    }
}

/// When a render must stop: checked between nodes and drawing commands, so that no
/// render runs (much) past its time limit.
#[derive(Clone, Copy, Debug)]
pub struct Deadline {
    at: Option<Instant>,
    limit: Duration,
}

impl Deadline {
    /// No deadline.
    pub fn none() -> Self {
        Deadline {
            at: None,
            limit: Duration::MAX,
        }
    }

    /// A deadline `limit` from now.
    pub fn after(limit: Duration) -> Self {
        Deadline {
            at: Instant::now().checked_add(limit),
            limit,
        }
    }

    /// [`ErrorKind::RenderTimeout`] once the deadline has passed.
    pub fn check(&self) -> Result<()> {
        match self.at {
            Some(at) if Instant::now() >= at => Err(Error::new(
                ErrorKind::RenderTimeout,
                format!(
                    "the render ran past its time limit of {} ms",
                    self.limit.as_millis()
                ),
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
