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

    /// The format a route's `format` field asks for: `png` (also when absent), `webp`,
    /// `jpeg`, or `auto`: WebP when `accept` (the `Accept` header) names `image/webp`
    /// with a non-zero quality, else PNG. The flag says whether `Accept` decided it (the
    /// answer then varies by `Accept`).
    ///
    /// ```
    /// use spv::api::ImageFormat;
    ///
    /// assert_eq!(ImageFormat::negotiate(None, None).unwrap(), (ImageFormat::Png, false));
    /// let accept = Some("image/avif,image/webp,*/*");
    /// assert_eq!(ImageFormat::negotiate(Some("auto"), accept).unwrap(), (ImageFormat::Webp, true));
    /// assert_eq!(ImageFormat::negotiate(Some("auto"), Some("image/webp;q=0")).unwrap(), (ImageFormat::Png, true));
    /// let err = ImageFormat::negotiate(Some("gif"), None).unwrap_err();
    /// assert_eq!(err.to_string(), "format: \"gif\" is not valid; expected png, webp, jpeg or auto");
    /// ```
    pub fn negotiate(
        format: Option<&str>,
        accept: Option<&str>,
    ) -> crate::Result<(ImageFormat, bool)> {
        match format {
            None => Ok((ImageFormat::Png, false)),
            Some(f) if f.eq_ignore_ascii_case("auto") => {
                let webp = accept.is_some_and(accepts_webp);
                let format = if webp {
                    ImageFormat::Webp
                } else {
                    ImageFormat::Png
                };
                Ok((format, true))
            }
            Some(f) => ImageFormat::parse(f).map(|f| (f, false)).ok_or_else(|| {
                crate::Error::invalid_request(format!(
                    "format: {f:?} is not valid; expected png, webp, jpeg or auto"
                ))
            }),
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

/// Whether `Accept` lists `image/webp` explicitly with a non-zero quality.
fn accepts_webp(accept: &str) -> bool {
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        let zero = parts.any(|p| {
            p.strip_prefix("q=")
                .and_then(|q| q.parse::<f32>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        media.eq_ignore_ascii_case("image/webp") && !zero
    })
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

impl ThumbnailSize {
    /// The size the HTTP routes' fields name: `size` alone, or `width` and `height` with
    /// `fit` (default `contain`); none of them: 256. Any other mix is refused, naming
    /// the fields.
    ///
    /// ```
    /// use spv::api::ThumbnailSize;
    /// use spv::glyph::ImageFit;
    ///
    /// assert_eq!(ThumbnailSize::from_fields(None, None, None, None).unwrap(), ThumbnailSize::default());
    /// let boxed = ThumbnailSize::from_fields(None, Some(3), Some(4), Some("cover")).unwrap();
    /// assert_eq!(boxed, ThumbnailSize::Box { width: 3, height: 4, fit: ImageFit::Cover });
    /// assert_eq!(boxed.fields(), (None, Some(3), Some(4), Some("cover")));
    /// let err = ThumbnailSize::from_fields(Some(1), Some(3), None, None).unwrap_err();
    /// assert!(err.to_string().starts_with("size and width/height were both given"));
    /// ```
    pub fn from_fields(
        size: Option<u32>,
        width: Option<u32>,
        height: Option<u32>,
        fit: Option<&str>,
    ) -> crate::Result<ThumbnailSize> {
        let fit = match fit {
            None => ImageFit::Contain,
            Some(fit) => ImageFit::parse(fit).ok_or_else(|| {
                crate::Error::invalid_request(format!(
                    "fit: {fit:?} is not valid; expected contain, cover or fill"
                ))
            })?,
        };
        match (size, width, height) {
            (Some(size), None, None) => Ok(ThumbnailSize::Longest { size }),
            (None, None, None) => Ok(ThumbnailSize::default()),
            (None, Some(width), Some(height)) => Ok(ThumbnailSize::Box { width, height, fit }),
            (Some(_), _, _) => Err(crate::Error::invalid_request(
                "size and width/height were both given; expected either size or width and height",
            )),
            _ => Err(crate::Error::invalid_request(
                "width and height must be given together; expected both, or size alone",
            )),
        }
    }

    /// The fields `(size, width, height, fit)` that [`from_fields`](Self::from_fields)
    /// reads back.
    pub fn fields(self) -> (Option<u32>, Option<u32>, Option<u32>, Option<&'static str>) {
        match self {
            ThumbnailSize::Longest { size } => (Some(size), None, None, None),
            ThumbnailSize::Box { width, height, fit } => {
                (None, Some(width), Some(height), Some(fit.as_str()))
            }
        }
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
///
/// Two thumbnails are equal when their images and warnings are: [`timing`](Self::timing)
/// says how this one was made, not what it is.
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// How the render went: its wait for a pool slot, its time, the backend that drew
    /// the pixels and its GPU batch (not sent over HTTP: a remote client sees the
    /// default, zero times on the CPU).
    #[serde(skip)]
    pub timing: RenderTiming,
}

impl PartialEq for Thumbnail {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
            && self.width == other.width
            && self.height == other.height
            && self.format == other.format
            && self.warnings == other.warnings
    }
}

impl Eq for Thumbnail {}

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

impl RenderTiming {
    /// This render's timing with the work done before it for the same thumbnail (the
    /// parse of a document prepared once for several renders) added: waits and work
    /// times are summed, the backend and GPU batch are this render's.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spv::api::RenderTiming;
    ///
    /// let ms = Duration::from_millis;
    /// let parse = RenderTiming { queue_wait: ms(1), render: ms(2), ..Default::default() };
    /// let render = RenderTiming { queue_wait: ms(3), render: ms(4), ..Default::default() };
    /// let total = render.after(parse);
    /// assert_eq!((total.queue_wait, total.render), (ms(4), ms(6)));
    /// ```
    pub fn after(self, earlier: RenderTiming) -> RenderTiming {
        RenderTiming {
            queue_wait: earlier.queue_wait + self.queue_wait,
            render: earlier.render + self.render,
            ..self
        }
    }
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

mod body;
#[cfg(feature = "api")]
mod stored;
pub use body::{ThumbnailBody, ThumbnailSource};
#[cfg(feature = "api")]
pub use stored::*;
