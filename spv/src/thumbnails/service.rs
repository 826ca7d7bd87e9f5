//! [`Thumbnails`], the in-process `tower::Service<RenderThumbnail>`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use tracing::Instrument;

use super::types::{LoadDocument, LoadedDocument, ThumbnailsConfig};
use crate::api::{
    DocumentInput, RenderBackend, RenderThumbnail, RenderTiming, Thumbnail, ThumbnailSize,
};
use crate::glyph::{self, AssetResolver, Chain, Limits, Loaded};
use crate::render::pool::RenderPool;
use crate::render::{self, RenderOptions, Renderer};
use crate::{Error, Result};

/// Renders thumbnails of `.glyph` documents in-process.
///
/// Cheap to clone: clones share the configuration and the render pool. `poll_ready` is
/// always ready; backpressure lives in the render pool, which answers
/// [`ErrorKind::Overloaded`](crate::ErrorKind::Overloaded) when it stays full. Parsing,
/// rendering and encoding all run in the pool, never on the async worker threads.
///
/// Assets are looked up in the document's package first, then in the request's
/// resolver, then in the service's default resolver.
///
/// ```
/// use spv::api::{RenderThumbnail, ThumbnailSize};
/// use spv::thumbnails::Thumbnails;
/// use spv::ErrorKind;
/// use tower::ServiceExt;
///
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let request = RenderThumbnail::new(b"{\"format\":\"glyph\"".to_vec())
///     .size(ThumbnailSize::Longest { size: 64 });
/// let err = rt.block_on(Thumbnails::default().oneshot(request)).unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::InvalidDocument);
/// ```
#[derive(Clone, Debug)]
pub struct Thumbnails {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    limits: Limits,
    max_size: u32,
    max_size_setting: Option<&'static str>,
    pool: RenderPool,
    assets: Option<Arc<dyn AssetResolver>>,
    renderer: Renderer,
}

impl Default for Thumbnails {
    fn default() -> Self {
        Thumbnails::new(ThumbnailsConfig::default())
    }
}

impl Thumbnails {
    /// A service with these settings.
    pub fn new(config: ThumbnailsConfig) -> Self {
        let ThumbnailsConfig {
            limits,
            max_size,
            max_size_setting,
            pool,
            assets,
            renderer,
        } = config;
        Thumbnails {
            inner: Arc::new(Inner {
                limits,
                max_size,
                max_size_setting,
                pool,
                assets,
                renderer,
            }),
        }
    }

    /// A service like this one (limits, largest size, assets, the same renderer and GPU)
    /// rendering on `pool` instead: e.g. the job render slots (`SPV_JOB_RENDER_SLOTS`),
    /// so background renders never take the slots synchronous requests need.
    ///
    /// ```
    /// use spv::render::pool::RenderPool;
    /// use spv::thumbnails::Thumbnails;
    ///
    /// let requests = Thumbnails::default();
    /// let jobs = requests.with_pool(RenderPool::new(1));
    /// assert_eq!(jobs.pool().size(), 1);
    /// assert_eq!(jobs.max_size(), requests.max_size());
    /// ```
    pub fn with_pool(&self, pool: RenderPool) -> Thumbnails {
        let inner = &self.inner;
        Thumbnails {
            inner: Arc::new(Inner {
                limits: inner.limits.clone(),
                max_size: inner.max_size,
                max_size_setting: inner.max_size_setting,
                pool,
                assets: inner.assets.clone(),
                renderer: inner.renderer.clone(),
            }),
        }
    }

    /// The render pool (for metrics, or to run related CPU work such as parsing a
    /// document once for several pages).
    pub fn pool(&self) -> &RenderPool {
        &self.inner.pool
    }

    /// The limits documents are parsed and rendered under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The renderer renders are made with (its choice, and its GPU's statistics and
    /// adapter).
    pub fn renderer(&self) -> &Renderer {
        &self.inner.renderer
    }

    /// The backend a render is expected to be drawn by now (see
    /// [`Renderer::expected_backend`]).
    pub fn expected_backend(&self) -> RenderBackend {
        self.inner.renderer.expected_backend()
    }

    /// The largest thumbnail side a request may ask for.
    pub fn max_size(&self) -> u32 {
        self.inner.max_size
    }

    /// Refuses a size of 0 or beyond [`max_size`](Self::max_size), as a render would,
    /// before any other work is done.
    #[cfg(feature = "store")]
    pub(crate) fn check_size(&self, size: ThumbnailSize) -> Result<()> {
        check_size(size, self.inner.max_size, self.inner.max_size_setting)
    }

    /// Renders one thumbnail: what `Service<RenderThumbnail>::call` does. The answer's
    /// [`Thumbnail::timing`] says how long it waited for a pool slot, how long the work
    /// took and which backend drew it.
    fn render(
        &self,
        request: RenderThumbnail,
    ) -> impl Future<Output = Result<Thumbnail>> + Send + 'static {
        let span = tracing::debug_span!(
            "render_thumbnail",
            document = ?request.document,
            page = request.page,
            size = ?request.size,
            format = request.format.extension(),
        );
        let inner = self.inner.clone();
        async move {
            check_size(request.size, inner.max_size, inner.max_size_setting)?;
            let queued = Instant::now();
            let job_span = tracing::Span::current();
            let job_inner = inner.clone();
            let thumbnail = inner
                .pool
                .run(move || {
                    let queue_wait = queued.elapsed();
                    let started = Instant::now();
                    let mut thumbnail = job_span.in_scope(|| render_job(&job_inner, request))?;
                    thumbnail.timing.queue_wait = queue_wait;
                    thumbnail.timing.render = started.elapsed();
                    Ok(thumbnail)
                })
                .await?;
            let timing = &thumbnail.timing;
            tracing::debug!(
                queue_wait_ms = timing.queue_wait.as_secs_f64() * 1e3,
                elapsed_ms = timing.render.as_secs_f64() * 1e3,
                backend = timing.backend.as_str(),
                gpu_ms = timing.gpu.map(|d| d.as_secs_f64() * 1e3),
                width = thumbnail.width,
                height = thumbnail.height,
                bytes = thumbnail.bytes.len(),
                "rendered thumbnail"
            );
            Ok(thumbnail)
        }
        .instrument(span)
    }

    /// Parses a document on the render pool: what `Service<LoadDocument>::call` does.
    fn load(
        &self,
        request: LoadDocument,
    ) -> impl Future<Output = Result<LoadedDocument>> + Send + 'static {
        let inner = self.inner.clone();
        async move {
            let queued = Instant::now();
            let limits = inner.limits.clone();
            inner
                .pool
                .run(move || {
                    let queue_wait = queued.elapsed();
                    let started = Instant::now();
                    let loaded = glyph::load(&request.bytes, &limits)?;
                    let timing = RenderTiming {
                        queue_wait,
                        render: started.elapsed(),
                        ..RenderTiming::default()
                    };
                    tracing::debug!(
                        elapsed_ms = timing.render.as_secs_f64() * 1e3,
                        "parsed document"
                    );
                    Ok(LoadedDocument {
                        loaded: Arc::new(loaded),
                        timing,
                    })
                })
                .await
        }
    }
}

impl tower::Service<RenderThumbnail> for Thumbnails {
    type Response = Thumbnail;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<Thumbnail>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: RenderThumbnail) -> Self::Future {
        Box::pin(self.render(request))
    }
}

impl tower::Service<LoadDocument> for Thumbnails {
    type Response = LoadedDocument;
    type Error = Error;
    type Future = Pin<Box<dyn Future<Output = Result<LoadedDocument>> + Send + 'static>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: LoadDocument) -> Self::Future {
        Box::pin(self.load(request))
    }
}

/// Refuses a size of 0 or beyond `max_size` before any work is done; `setting` names
/// where the maximum was configured (e.g. `SPV_MAX_THUMBNAIL_SIZE`).
fn check_size(size: ThumbnailSize, max_size: u32, setting: Option<&'static str>) -> Result<()> {
    let sides: &[(&str, u32)] = match &size {
        ThumbnailSize::Longest { size } => &[("size", *size)],
        ThumbnailSize::Box { width, height, .. } => &[("width", *width), ("height", *height)],
    };
    for &(what, side) in sides {
        if side == 0 {
            return Err(Error::invalid_request(format!(
                "thumbnail {what} 0 is too small: it must be at least 1 pixel"
            )));
        }
        if side > max_size {
            let setting = setting.map(|name| format!(" ({name})")).unwrap_or_default();
            return Err(Error::invalid_request(format!(
                "thumbnail {what} {side} is too large: the maximum is {max_size} pixels{setting}"
            )));
        }
    }
    Ok(())
}

/// The blocking part: parse when needed, then render and encode. Assets: the package
/// first (the renderer's rule), then the request's resolver, then the service default.
fn render_job(inner: &Inner, request: RenderThumbnail) -> Result<Thumbnail> {
    let parsed;
    let loaded: &Loaded = match &request.document {
        DocumentInput::Bytes(bytes) => {
            let started = Instant::now();
            parsed = glyph::load(bytes, &inner.limits)?;
            tracing::debug!(
                elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                "parsed document"
            );
            &parsed
        }
        DocumentInput::Loaded(loaded) => loaded,
    };
    // The renderer looks in the document's package first, then in this chain.
    let resolver = Chain(
        request
            .assets
            .iter()
            .chain(inner.assets.iter())
            .cloned()
            .collect(),
    );
    let options = RenderOptions {
        limits: &inner.limits,
        lenient: request.lenient,
        resolver: &resolver,
        renderer: &inner.renderer,
    };
    render::render_thumbnail(loaded, request.page, request.size, request.format, &options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;
    use crate::api::ImageFormat;
    use tower::ServiceExt;

    const DOC: &[u8] = br##"{"format":"glyph","version":1,"pages":[
        {"width":400,"height":200,"background":"#2050f0","layers":[
            {"type":"rect","x":10,"y":10,"width":100,"height":50,"fill":"#ff0000"}]},
        {"width":100,"height":300,"layers":[]}]}"##;

    fn service() -> Thumbnails {
        Thumbnails::new(ThumbnailsConfig::default().with_pool_size(2))
    }

    fn assert_send_static<T: Send + 'static>(_: &T) {}

    fn png_size(bytes: &[u8]) -> (u32, u32) {
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
        let be =
            |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        (be(16), be(20))
    }

    #[test]
    fn the_service_future_is_send_and_static() {
        fn send_static<T: Send + 'static>() {}
        send_static::<<Thumbnails as tower::Service<RenderThumbnail>>::Future>();
        send_static::<Thumbnails>();
        let service = service();
        send_static::<<Thumbnails as tower::Service<LoadDocument>>::Future>();
        assert_send_static(&service.oneshot(RenderThumbnail::new(DOC.to_vec())));
    }

    #[tokio::test]
    async fn renders_a_png_of_the_right_size() {
        let request = RenderThumbnail::new(DOC.to_vec()).size(ThumbnailSize::Longest { size: 100 });
        let thumb = service().oneshot(request).await.unwrap();
        assert_eq!((thumb.width, thumb.height), (100, 50));
        assert_eq!(thumb.format, ImageFormat::Png);
        assert_eq!(png_size(&thumb.bytes), (100, 50));
    }

    #[tokio::test]
    async fn renders_the_page_asked_for_from_a_parsed_document() {
        let loaded = Arc::new(glyph::load(DOC, &Limits::default()).unwrap());
        let request = RenderThumbnail::loaded(loaded)
            .page(1)
            .size(ThumbnailSize::Longest { size: 90 });
        let thumb = service().oneshot(request).await.unwrap();
        assert_eq!((thumb.width, thumb.height), (30, 90));
        assert_eq!(png_size(&thumb.bytes), (30, 90));
    }

    #[tokio::test]
    async fn a_bad_document_is_an_invalid_document() {
        let request = RenderThumbnail::new(b"{\"format\":\"glyph\",\"version\":1}".to_vec());
        let err = service().oneshot(request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDocument, "got: {err}");
    }

    #[tokio::test]
    async fn too_big_is_an_invalid_request_naming_size_and_maximum() {
        let service = Thumbnails::new(ThumbnailsConfig::default().with_max_size(512));
        let request = RenderThumbnail::new(DOC.to_vec()).size(ThumbnailSize::Longest { size: 513 });
        let err = service.clone().oneshot(request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        assert_eq!(
            err.to_string(),
            "thumbnail size 513 is too large: the maximum is 512 pixels"
        );

        let request = RenderThumbnail::new(DOC.to_vec()).size(ThumbnailSize::Box {
            width: 100,
            height: 4000,
            fit: glyph::ImageFit::Contain,
        });
        let err = service.oneshot(request).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "thumbnail height 4000 is too large: the maximum is 512 pixels"
        );
    }

    #[tokio::test]
    async fn a_missing_page_is_not_found() {
        let request = RenderThumbnail::new(DOC.to_vec()).page(2);
        let err = service().oneshot(request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert_eq!(
            err.to_string(),
            "page 2 does not exist; the document has 2 pages (0 to 1)"
        );
    }

    #[tokio::test]
    async fn size_zero_is_an_invalid_request() {
        let request = RenderThumbnail::new(DOC.to_vec()).size(ThumbnailSize::Longest { size: 0 });
        let err = service().oneshot(request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    }

    /// Serves one colour as a 2 × 2 PNG for any relative path.
    struct Solid([u8; 4]);

    impl AssetResolver for Solid {
        fn resolve(&self, source: &glyph::AssetSource) -> Result<Option<glyph::Bytes>> {
            if !matches!(source, glyph::AssetSource::Path(_)) {
                return Ok(None);
            }
            let pixels = self.0.repeat(4);
            let png = render::encode::encode(&pixels, 2, 2, ImageFormat::Png)?;
            Ok(Some(png.into()))
        }
    }

    const WITH_IMAGE: &[u8] = br##"{"format":"glyph","version":1,
        "assets":{"photo":{"type":"image","src":"photo.png"}},
        "pages":[{"width":10,"height":10,"layers":[
            {"type":"image","asset":"photo","x":0,"y":0,"width":10,"height":10}]}]}"##;

    async fn centre_pixel(service: Thumbnails, request: RenderThumbnail) -> Result<[u8; 4]> {
        let request = request.size(ThumbnailSize::Longest { size: 10 });
        let thumb = service.oneshot(request).await?;
        let img = image::load_from_memory(&thumb.bytes).unwrap().to_rgba8();
        Ok(img.get_pixel(5, 5).0)
    }

    #[tokio::test]
    async fn assets_come_from_the_request_before_the_service_default() {
        const RED: [u8; 4] = [255, 0, 0, 255];
        const GREEN: [u8; 4] = [0, 255, 0, 255];
        let with_default = Thumbnails::new(
            ThumbnailsConfig::default()
                .with_pool_size(1)
                .with_assets(Arc::new(Solid(RED))),
        );
        let request = RenderThumbnail::new(WITH_IMAGE.to_vec());
        let pixel = centre_pixel(with_default.clone(), request.clone()).await;
        assert_eq!(pixel.unwrap(), RED, "the service default");
        let pixel = centre_pixel(with_default, request.clone().assets(Arc::new(Solid(GREEN))));
        assert_eq!(pixel.await.unwrap(), GREEN, "the request's resolver first");

        let err = centre_pixel(service(), request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::MissingAsset, "got: {err}");
    }
}
