//! [`prepare`]: a document parsed on the render pool, with the `sha256:` assets its owner
//! has uploaded, and a note of any the render then asks for and does not find.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use uuid::Uuid;

use super::service::Thumbnails;
use crate::Result;
use crate::api::RenderTiming;
use crate::assets::Assets;
use crate::glyph::{self, AssetResolver, AssetSource, Bytes, Loaded, NoAssets};

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
/// of the document that `owner` has uploaded.
pub(crate) async fn prepare(
    thumbnails: &Thumbnails,
    assets: Option<&Assets>,
    owner: Uuid,
    bytes: Bytes,
) -> Result<Prepared> {
    let limits = thumbnails.limits().clone();
    let queued = Instant::now();
    let (loaded, timing) = thumbnails
        .pool()
        .run(move || {
            let queue_wait = queued.elapsed();
            let started = Instant::now();
            let loaded = glyph::load(&bytes, &limits)?;
            let render = started.elapsed();
            Ok((
                loaded,
                RenderTiming {
                    queue_wait,
                    render,
                    ..RenderTiming::default()
                },
            ))
        })
        .await?;
    let found: Arc<dyn AssetResolver> = match assets {
        Some(assets) => assets.resolver(owner, &loaded.document).await?,
        None => Arc::new(NoAssets),
    };
    Ok(Prepared {
        loaded: Arc::new(loaded),
        resolver: Arc::new(Tracked {
            inner: found,
            missed: AtomicBool::new(false),
        }),
        timing,
    })
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
