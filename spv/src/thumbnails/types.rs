//! The settings of the thumbnails service.

use std::sync::Arc;

use crate::glyph::{AssetResolver, Limits};
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
