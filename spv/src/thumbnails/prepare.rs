//! [`prepare`]: a document parsed on the render pool, with the `sha256:` assets its owner
//! has uploaded, and a note of any the render then asks for and does not find.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tower::ServiceExt;
use uuid::Uuid;

use super::service::Thumbnails;
use super::types::{LoadDocument, LoadedDocument};
use crate::Result;
use crate::api::{ImageFormat, RenderThumbnail, RenderTiming, ThumbnailSize};
use crate::assets::Assets;
use crate::glyph::{AssetResolver, AssetSource, Bytes, Loaded, NoAssets};

/// A document parsed for rendering, with the assets its owner has uploaded.
#[derive(Debug)]
pub(crate) struct Prepared {
    /// The parsed document.
    pub(crate) loaded: Arc<Loaded>,
    /// The owner's `sha256:` assets, noting any the render asks for and does not find.
    pub(crate) resolver: Arc<Tracked>,
    /// The parse's wait for a pool slot and its time.
    pub(crate) timing: RenderTiming,
}

/// Parses `bytes` on the render pool of `thumbnails`, then fetches the `sha256:` assets
/// of the document that `owner` has uploaded: the one way a stored or sent document is
/// made ready for rendering.
pub(crate) async fn prepare(
    thumbnails: &Thumbnails,
    assets: Option<&Assets>,
    owner: Uuid,
    bytes: Bytes,
) -> Result<Prepared> {
    let LoadedDocument { loaded, timing } =
        thumbnails.clone().oneshot(LoadDocument { bytes }).await?;
    let found: Arc<dyn AssetResolver> = match assets {
        Some(assets) => assets.resolver(owner, &loaded.document).await?,
        None => Arc::new(NoAssets),
    };
    Ok(Prepared {
        loaded,
        resolver: Arc::new(Tracked {
            inner: found,
            missed: AtomicBool::new(false),
        }),
        timing,
    })
}

impl Prepared {
    /// A request to render page `page` of the prepared document with its assets.
    pub(crate) fn request(
        &self,
        page: usize,
        size: ThumbnailSize,
        format: ImageFormat,
        lenient: bool,
    ) -> RenderThumbnail {
        RenderThumbnail::loaded(self.loaded.clone())
            .page(page)
            .size(size)
            .format(format)
            .lenient(lenient)
            .assets(self.resolver.clone())
    }
}

/// A resolver that remembers whether a `sha256:` source was asked for and not found:
/// such a render (lenient, with a placeholder) may look different once the owner
/// uploads the asset, so it must not be cached.
#[derive(Debug)]
pub(crate) struct Tracked {
    inner: Arc<dyn AssetResolver>,
    missed: AtomicBool,
}

impl Tracked {
    /// Whether a `sha256:` source was not found.
    pub(crate) fn missed(&self) -> bool {
        self.missed.load(Ordering::Relaxed)
    }
}

impl AssetResolver for Tracked {
    fn resolve(&self, source: &AssetSource) -> Result<Option<Bytes>> {
        let found = self.inner.resolve(source)?;
        if found.is_none() && matches!(source, AssetSource::Sha256(_)) {
            self.missed.store(true, Ordering::Relaxed);
        }
        Ok(found)
    }
}
