//! The settings of the thumbnails service.

use std::sync::Arc;

use crate::api::RenderTiming;
use crate::glyph::{AssetResolver, Limits, Loaded};
use crate::render::pool::RenderPool;
use crate::render::{Renderer, RendererChoice};

/// The largest thumbnail side [`ThumbnailsConfig::default`] allows, in pixels.
pub const DEFAULT_MAX_SIZE: u32 = 4096;

/// Settings of [`Thumbnails`](super::Thumbnails).
///
/// ```
/// use spv::render::pool::RenderPool;
/// use spv::thumbnails::ThumbnailsConfig;
///
/// let config = ThumbnailsConfig::default().with_pool(RenderPool::new(2)).with_max_size(1024);
/// assert_eq!(config.max_size, 1024);
/// assert_eq!(config.pool.size(), 2);
/// ```
#[derive(Clone, Debug)]
pub struct ThumbnailsConfig {
    /// Limits applied while parsing and rendering.
    pub limits: Limits,
    /// The largest thumbnail side a request may ask for, in pixels (default 4096).
    pub max_size: u32,
    /// Where `max_size` was configured (e.g. `SPV_MAX_THUMBNAIL_SIZE`), named in the
    /// error of a size over it.
    pub max_size_setting: Option<&'static str>,
    /// Where parsing, rendering and encoding run. Clones share slots, so one pool can
    /// serve several services. Default: one slot per core.
    pub pool: RenderPool,
    /// Where `sha256:` and relative asset sources are found when neither the document's
    /// package nor the request's own resolver has them.
    pub assets: Option<Arc<dyn AssetResolver>>,
    /// Which backend renders: `auto` (default: a hardware GPU once the `gpu` feature has
    /// found one in the background after [`Renderer::start`], else the CPU), `cpu` or
    /// `gpu`, with the GPU it renders with.
    pub renderer: Renderer,
}

impl Default for ThumbnailsConfig {
    fn default() -> Self {
        ThumbnailsConfig {
            limits: Limits::default(),
            max_size: DEFAULT_MAX_SIZE,
            max_size_setting: None,
            pool: RenderPool::default(),
            assets: None,
            renderer: Renderer::default(),
        }
    }
}

impl ThumbnailsConfig {
    /// Sets the limits.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Sets the backend choice (see [`RendererChoice`]), with a GPU of default settings.
    pub fn with_renderer(mut self, renderer: RendererChoice) -> Self {
        self.renderer = Renderer::new(renderer);
        self
    }

    /// Sets the largest thumbnail side.
    pub fn with_max_size(mut self, max_size: u32) -> Self {
        self.max_size = max_size;
        self
    }

    /// Names where the largest thumbnail side was configured, for the error of a size
    /// over it.
    pub fn with_max_size_setting(mut self, setting: &'static str) -> Self {
        self.max_size_setting = Some(setting);
        self
    }

    /// Sets the render pool.
    pub fn with_pool(mut self, pool: RenderPool) -> Self {
        self.pool = pool;
        self
    }

    /// Sets a new render pool of `size` slots.
    pub fn with_pool_size(self, size: usize) -> Self {
        self.with_pool(RenderPool::new(size))
    }

    /// Sets the default asset resolver.
    pub fn with_assets(mut self, assets: Arc<dyn AssetResolver>) -> Self {
        self.assets = Some(assets);
        self
    }
}

/// Parse a `.glyph` file (JSON or package) on the render pool, once, to render several
/// of its pages: `Service<LoadDocument>` of [`Thumbnails`](super::Thumbnails) answers
/// [`LoadedDocument`], whose document goes into [`RenderThumbnail::loaded`](crate::api::RenderThumbnail::loaded).
///
/// ```
/// use spv::api::RenderThumbnail;
/// use spv::thumbnails::{LoadDocument, Thumbnails};
/// use tower::ServiceExt;
///
/// let doc = br#"{"format":"glyph","version":1,"pages":[{"width":20,"height":10,"layers":[]},
///     {"width":10,"height":20,"layers":[]}]}"#;
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let service = Thumbnails::default();
/// let parsed = rt.block_on(service.clone().oneshot(LoadDocument::new(doc.to_vec()))).unwrap();
/// assert_eq!(parsed.loaded.document.pages.len(), 2);
/// let second = RenderThumbnail::loaded(parsed.loaded).page(1);
/// let thumb = rt.block_on(service.oneshot(second)).unwrap();
/// assert_eq!((thumb.width, thumb.height), (128, 256));
/// ```
#[derive(Clone, Debug)]
pub struct LoadDocument {
    /// The file's bytes.
    pub bytes: std::sync::Arc<[u8]>,
}

impl LoadDocument {
    /// A request to parse `bytes`.
    pub fn new(bytes: impl Into<std::sync::Arc<[u8]>>) -> Self {
        LoadDocument {
            bytes: bytes.into(),
        }
    }
}

/// The answer to [`LoadDocument`]: the parsed document and the parse's timing (its wait
/// for a pool slot and its time; add it to the renders' with [`RenderTiming::after`]).
#[derive(Clone, Debug)]
pub struct LoadedDocument {
    /// The parsed document, shared by the renders of its pages.
    pub loaded: Arc<Loaded>,
    /// The parse's wait and time.
    pub timing: RenderTiming,
}
