//! Thumbnail requests and responses.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::glyph::{AssetResolver, ImageFit, Loaded};

/// An output image format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// PNG, fast compression.
    #[default]
    Png,
    /// Lossless WebP.
    Webp,
    /// JPEG (over white where the page is transparent).
    Jpeg,
}

impl ImageFormat {
    /// Every format.
    pub const ALL: [ImageFormat; 3] = [ImageFormat::Png, ImageFormat::Webp, ImageFormat::Jpeg];

    /// The media type, e.g. `image/png`.
    pub fn content_type(self) -> &'static str {
        match self {
            ImageFormat::Png => "image/png",
            ImageFormat::Webp => "image/webp",
            ImageFormat::Jpeg => "image/jpeg",
        }
    }

    /// The usual file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            ImageFormat::Png => "png",
            ImageFormat::Webp => "webp",
            ImageFormat::Jpeg => "jpg",
        }
    }

    /// Parses `png`, `webp`, `jpeg` or `jpg` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "png" => Some(ImageFormat::Png),
            "webp" => Some(ImageFormat::Webp),
            "jpeg" | "jpg" => Some(ImageFormat::Jpeg),
            _ => None,
        }
    }
}

/// How big a thumbnail is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "mode")]
pub enum ThumbnailSize {
    /// The page scaled uniformly so that its longer side is this many pixels; the shorter
    /// side rounded to the nearest pixel, at least 1.
    Longest {
        /// The longer side, in pixels.
        size: u32,
    },
    /// An explicit box, the page placed in it by `fit`.
    Box {
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// `contain` (letterbox), `cover` (crop) or `fill` (stretch).
        fit: ImageFit,
    },
}

impl Default for ThumbnailSize {
    fn default() -> Self {
        ThumbnailSize::Longest { size: 256 }
    }
}

/// The document a render request is about.
#[derive(Clone)]
pub enum DocumentInput {
    /// A `.glyph` file's bytes (JSON or package).
    Bytes(Arc<[u8]>),
    /// A document parsed already.
    Loaded(Arc<Loaded>),
}

impl std::fmt::Debug for DocumentInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocumentInput::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            DocumentInput::Loaded(l) => write!(f, "Loaded({} pages)", l.document.pages.len()),
        }
    }
}

/// Render one page of a document as a thumbnail.
#[derive(Clone, Debug)]
pub struct RenderThumbnail {
    /// The document.
    pub document: DocumentInput,
    /// Zero-based page index (as in the JSON path `pages[0]`).
    pub page: usize,
    /// Output size.
    pub size: ThumbnailSize,
    /// Output format.
    pub format: ImageFormat,
    /// Paint a visible placeholder for a missing asset or font (and report a warning)
    /// instead of failing.
    pub lenient: bool,
    /// Where `sha256:` and relative asset sources are found, besides the package.
    pub assets: Option<Arc<dyn AssetResolver>>,
}

impl RenderThumbnail {
    /// A request for page 0 at 256 px as PNG.
    pub fn new(document: impl Into<Arc<[u8]>>) -> Self {
        Self::with_input(DocumentInput::Bytes(document.into()))
    }

    /// A request for an already parsed document.
    pub fn loaded(document: Arc<Loaded>) -> Self {
        Self::with_input(DocumentInput::Loaded(document))
    }

    fn with_input(document: DocumentInput) -> Self {
        RenderThumbnail {
            document,
            page: 0,
            size: ThumbnailSize::default(),
            format: ImageFormat::Png,
            lenient: false,
            assets: None,
        }
    }

    /// Sets the page.
    pub fn page(mut self, page: usize) -> Self {
        self.page = page;
        self
    }

    /// Sets the size.
    pub fn size(mut self, size: ThumbnailSize) -> Self {
        self.size = size;
        self
    }

    /// Sets the format.
    pub fn format(mut self, format: ImageFormat) -> Self {
        self.format = format;
        self
    }

    /// Sets lenient rendering.
    pub fn lenient(mut self, lenient: bool) -> Self {
        self.lenient = lenient;
        self
    }

    /// Sets the asset resolver.
    pub fn assets(mut self, assets: Arc<dyn AssetResolver>) -> Self {
        self.assets = Some(assets);
        self
    }
}

/// A rendered, encoded thumbnail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Thumbnail {
    /// The encoded image.
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// The format of `bytes`.
    pub format: ImageFormat,
    /// Warnings of a lenient render (placeholders painted, fonts substituted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The backend that drew the pixels (not sent over HTTP; a remote client sees `Cpu`).
    #[serde(skip)]
    pub backend: RenderBackend,
    /// For a GPU render, the wall time of its GPU batch (see [`RenderTiming::gpu`]).
    #[serde(skip)]
    pub gpu_time: Option<std::time::Duration>,
}

impl Thumbnail {
    /// The media type of `bytes`.
    pub fn content_type(&self) -> &'static str {
        self.format.content_type()
    }
}

/// How long one render took: the wait for a render-pool slot, then the work in it
/// (parsing, rendering, encoding), and which backend drew the pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RenderTiming {
    /// Time spent waiting for a free slot of the render pool.
    pub queue_wait: std::time::Duration,
    /// Time spent working in the pool.
    pub render: std::time::Duration,
    /// The backend that drew the pixels.
    pub backend: RenderBackend,
    /// For a GPU render: the wall time of the GPU batch it rode in, from submission to
    /// the pixels back in memory (shared by every thumbnail of that batch).
    pub gpu: Option<std::time::Duration>,
}

/// Which backend drew a thumbnail's pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum RenderBackend {
    /// The CPU renderer (vello_cpu), also the fallback whenever the GPU cannot render.
    #[default]
    Cpu,
    /// The GPU renderer (vello on wgpu).
    Gpu,
}

impl RenderBackend {
    /// `"cpu"` or `"gpu"`, as in metrics labels and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            RenderBackend::Cpu => "cpu",
            RenderBackend::Gpu => "gpu",
        }
    }
}

impl std::fmt::Display for RenderBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(feature = "api")]
mod stored;
#[cfg(feature = "api")]
pub use stored::*;
