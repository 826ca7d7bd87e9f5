//! [`DocumentThumbnails`]: thumbnails of stored documents behind two cache levels, with
//! `sha256:` assets resolved from the owner's uploads and identical concurrent requests
//! rendered once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use tower::ServiceExt;

use super::cache::MemoryCache;
use super::inline::InlineThumbnails;
use super::key::{CacheKey, etag_matches};
use super::prepare::prepare;
use super::rendered::RenderedStore;
use super::service::Thumbnails;
use super::tier::{Claim, RedisTier, ThumbnailRedis};
use crate::api::{
    CachedImage, CreateThumbnail, Document, DocumentThumbnail, GetContent, GetDocument,
    GetDocumentThumbnail, Principal, RenderBackend, RenderTiming, Scope, ThumbnailSource,
};
use crate::assets::Assets;
use crate::documents::Documents;
use crate::{Error, ErrorKind, Result};

/// How long past a claim's expiry a waiting node still waits for the winner's message.
const CLAIM_SLACK: std::time::Duration = std::time::Duration::from_millis(50);

/// The default size of the in-process cache: 256 MiB.
pub const DEFAULT_MEMORY_BYTES: usize = 256 * 1024 * 1024;

/// Settings of [`DocumentThumbnails`].
#[derive(Debug, Clone)]
pub struct DocumentThumbnailsConfig {
    /// The most bytes of encoded thumbnails kept in process (0: none).
    pub memory_bytes: usize,
    /// Where `sha256:` asset sources are found (the document owner's uploads); `None`:
    /// nowhere, so documents that use them render only leniently, with placeholders.
    pub assets: Option<Assets>,
    /// The second cache level; `None`: the in-process cache only.
    pub rendered: Option<RenderedStore>,
    /// With several nodes (`REDIS_URL`): the level they share in Redis between memory
    /// and `rendered`, and claims so that one node renders what several want; `None`
    /// (the default): one node.
    pub redis: Option<ThumbnailRedis>,
}

impl Default for DocumentThumbnailsConfig {
    fn default() -> Self {
        DocumentThumbnailsConfig {
            memory_bytes: DEFAULT_MEMORY_BYTES,
            assets: None,
            rendered: None,
            redis: None,
        }
    }
}

/// Thumbnails of stored documents: a `tower::Service<GetDocumentThumbnail>`.
///
/// Access: a public document's thumbnails anyone may get; a private one's only its owner
/// and admins, holding `thumbnails:read` (anyone else gets "not found", as for the
/// document itself).
///
/// A thumbnail's [`CacheKey`] comes from the document's metadata alone, so a matching
/// `If-None-Match` is answered without reading the content or rendering. Then the
/// in-process [`MemoryCache`], then the [`RenderedStore`], then a render on the
/// thumbnails service's pool, whose result fills both levels. Concurrent requests for
/// the same key wait for one render (single flight). With several nodes
/// ([`DocumentThumbnailsConfig::redis`]) a level in Redis sits between memory and the
/// rendered blobs, and a claim in Redis lets one node render what several want, the
/// others woken by its message (see `ThumbnailRedis`). Errors are never cached, and
/// neither is a lenient render that painted a placeholder for a `sha256:` asset the
/// owner has not uploaded (it gets no ETag), so uploading the asset later takes effect.
///
/// ```
/// use spv::api::{CreateDocument, GetDocumentThumbnail, Principal, Scopes};
/// use spv::documents::{Documents, DocumentsConfig};
/// use spv::store::Db;
/// use spv::thumbnails::{DocumentThumbnails, DocumentThumbnailsConfig, Thumbnails};
/// use tower::ServiceExt;
///
/// let dir = tempfile::tempdir().unwrap();
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let db = Db::open(None, dir.path()).await.unwrap();
///     let documents = Documents::with_db(db, DocumentsConfig::default());
///     let ann = Principal { user_id: uuid::Uuid::now_v7(), username: "ann".into(),
///         is_admin: false, scopes: Scopes::all() };
///     let bytes = br#"{"format":"glyph","version":1,"pages":[{"width":300,"height":200,"layers":[]}]}"#;
///     let doc = documents.clone().oneshot(CreateDocument::new(ann.clone(), bytes.to_vec()))
///         .await.unwrap();
///     let service = DocumentThumbnails::new(Thumbnails::default(), documents,
///         DocumentThumbnailsConfig::default());
///     let request = GetDocumentThumbnail::new(Some(ann), doc.id);
///     let first = service.clone().oneshot(request.clone()).await.unwrap();
///     assert_eq!(first.image.as_ref().unwrap().width, 256);
///     assert!(first.rendered.is_some());
///     let again = service.clone().oneshot(request).await.unwrap();
///     assert_eq!(again.memory_hit, Some(true));
///     assert_eq!((again.etag, service.renders()), (first.etag, 1));
/// });
/// ```
#[derive(Clone, Debug)]
pub struct DocumentThumbnails {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    thumbnails: Thumbnails,
    inline: InlineThumbnails,
    documents: Documents,
    assets: Option<Assets>,
    rendered: Option<RenderedStore>,
    tier: Option<RedisTier>,
    memory: MemoryCache,
    flights: Mutex<HashMap<CacheKey, Arc<OnceCell<Flight>>>>,
    renders: AtomicU64,
}

/// What one flight (a blob read or a render) ends with, shared by its waiters.
type Flight = std::result::Result<Landed, SharedError>;

#[derive(Debug, Clone)]
struct Landed {
    image: CachedImage,
    /// Whether it was cached (and so gets an ETag).
    cached: bool,
    /// Whether it came from the blob level rather than a render.
    from_blob: bool,
    timing: RenderTiming,
}

/// An [`Error`] that several waiters can each get a copy of.
#[derive(Debug, Clone)]
struct SharedError {
    kind: ErrorKind,
    path: Option<String>,
    message: String,
}

impl From<Error> for SharedError {
    fn from(error: Error) -> Self {
        SharedError {
            kind: error.kind(),
            path: error.path().map(str::to_owned),
            message: error.message().to_owned(),
        }
    }
}

impl From<SharedError> for Error {
    fn from(shared: SharedError) -> Self {
        let error = Error::new(shared.kind, shared.message);
        match shared.path {
            Some(path) => error.at(path),
            None => error,
        }
    }
}

impl DocumentThumbnails {
    /// A service rendering `documents` with `thumbnails` (its pool, limits and largest
    /// size).
    pub fn new(
        thumbnails: Thumbnails,
        documents: Documents,
        config: DocumentThumbnailsConfig,
    ) -> Self {
        let DocumentThumbnailsConfig {
            memory_bytes,
            assets,
            rendered,
            redis,
        } = config;
        let bus = redis.as_ref().map(|r| r.bus.clone());
        let service = DocumentThumbnails {
            inner: Arc::new(Inner {
                inline: InlineThumbnails::new(thumbnails.clone(), assets.clone()),
                thumbnails,
                documents,
                assets,
                rendered,
                tier: redis.map(RedisTier::new),
                memory: MemoryCache::new(memory_bytes),
                flights: Mutex::new(HashMap::new()),
                renders: AtomicU64::new(0),
            }),
        };
        if let Some(bus) = bus {
            // Entries are content-addressed: a changed document gets new keys, and its
            // old ones are never asked for again (they age out). Only a node that may
            // have missed messages starts afresh.
            let weak = Arc::downgrade(&service.inner);
            bus.on_invalidate(Arc::new(move |what| {
                if what == crate::store::Invalidation::All
                    && let Some(inner) = weak.upgrade()
                {
                    inner.memory.clear();
                }
            }));
        }
        service
    }

    /// The in-process cache.
    pub fn memory(&self) -> &MemoryCache {
        &self.inner.memory
    }

    /// How many renders this service has run (cache misses that rendered).
    pub fn renders(&self) -> u64 {
        self.inner.renders.load(Ordering::Relaxed)
    }

    /// Whether there is a second cache level (rendered blobs, or the Redis tier).
    pub fn has_blob_level(&self) -> bool {
        self.inner.rendered.is_some() || self.inner.tier.is_some()
    }

    /// What `Service<CreateThumbnail>` does: a stored document as [`Self::get`] serves
    /// it, a sent one as [`InlineThumbnails`] does.
    async fn create(&self, request: CreateThumbnail) -> Result<DocumentThumbnail> {
        let ThumbnailSource::Stored(id) = request.document else {
            return self.inner.inline.clone().oneshot(request).await;
        };
        request.principal.require(Scope::ThumbnailsRead)?;
        let request = GetDocumentThumbnail {
            principal: Some(request.principal),
            id,
            page: request.page,
            size: request.size,
            format: request.format,
            lenient: request.lenient,
            if_none_match: request.if_none_match,
        };
        self.get(request).await
    }

    /// What `Service<GetDocumentThumbnail>` does.
    async fn get(&self, request: GetDocumentThumbnail) -> Result<DocumentThumbnail> {
        self.get_on_miss(request, || std::future::ready(Ok(())))
            .await
    }

    /// `Service<GetDocumentThumbnail>`, awaiting `on_miss` once the thumbnail is known
    /// not to be in memory or the Redis tier (nor answered by `If-None-Match`), before the
    /// blob level or a render is tried: an error it returns is the answer. The HTTP layer counts the
    /// `render` rate limit there, which only this service can tell apart from a hit.
    pub async fn get_on_miss<F, Fut>(
        &self,
        request: GetDocumentThumbnail,
        on_miss: F,
    ) -> Result<DocumentThumbnail>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let GetDocumentThumbnail {
            principal,
            id,
            page,
            size,
            format,
            lenient,
            if_none_match,
        } = request;
        self.inner.thumbnails.check_size(size)?;
        let document = self
            .inner
            .documents
            .get(GetDocument {
                principal: principal.clone(),
                id,
            })
            .await?;
        if !document.public
            && let Some(principal) = &principal
        {
            principal.require(Scope::ThumbnailsRead)?;
        }
        if page >= document.pages.len() {
            return Err(crate::render::page_out_of_range(page, document.pages.len()));
        }
        let backend = self.inner.thumbnails.expected_backend();
        let key = CacheKey::for_backend(
            backend,
            document.owner_id,
            &document.content_sha256,
            page,
            size,
            format,
            lenient,
        );
        let etag = key.etag();
        // The hot paths (a 304, a memory hit) move the document into the answer.
        if if_none_match.is_some_and(|inm| etag_matches(&inm, &etag)) {
            return Ok(DocumentThumbnail {
                document: Some(document),
                etag: Some(etag),
                image: None,
                memory_hit: None,
                blob_hit: None,
                rendered: None,
            });
        }
        if let Some(image) = self.inner.memory.get(&key) {
            return Ok(DocumentThumbnail {
                document: Some(document),
                etag: Some(etag),
                image: Some(image),
                memory_hit: Some(true),
                blob_hit: None,
                rendered: None,
            });
        }
        // A hit in the Redis tier is a cache hit, not render work: served before
        // `on_miss` (the `render` rate limit) is asked.
        if let Some(image) = self.tier_hit(&key).await {
            return Ok(DocumentThumbnail {
                document: Some(document),
                etag: Some(etag),
                image: Some(image),
                memory_hit: Some(false),
                blob_hit: Some(true),
                rendered: None,
            });
        }
        on_miss().await?;
        let answer = |image, memory_hit, blob_hit, rendered, cached: bool| DocumentThumbnail {
            document: Some(document.clone()),
            etag: cached.then(|| etag.clone()),
            image,
            memory_hit,
            blob_hit,
            rendered,
        };

        let flight = Leave {
            inner: &self.inner,
            key,
            cell: Some(self.flight(key)),
        };
        let Some(cell) = &flight.cell else {
            return Err(Error::internal("a thumbnail flight has no cell"));
        };
        let mut led = false;
        let landed = cell
            .get_or_init(|| {
                led = true;
                self.land(
                    key, backend, &document, principal, page, size, format, lenient,
                )
            })
            .await
            .clone()
            .map_err(Error::from)?;
        let blob_hit = (led && self.has_blob_level()).then_some(landed.from_blob);
        let rendered = (led && !landed.from_blob).then_some(landed.timing);
        Ok(answer(
            Some(landed.image),
            Some(false),
            blob_hit,
            rendered,
            landed.cached,
        ))
    }

    /// The flight of `key`: joined when one is under way, else a new one.
    fn flight(&self, key: CacheKey) -> Arc<OnceCell<Flight>> {
        let mut flights = self
            .inner
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        flights.entry(key).or_default().clone()
    }

    /// The second levels (the Redis tier, then the blob level), else a render that
    /// fills them all; with Redis, one node renders and the others wait for it.
    #[allow(clippy::too_many_arguments)] // The request's fields, taken apart once in `get`.
    async fn land(
        &self,
        key: CacheKey,
        backend: RenderBackend,
        document: &Document,
        principal: Option<Principal>,
        page: usize,
        size: crate::api::ThumbnailSize,
        format: crate::api::ImageFormat,
        lenient: bool,
    ) -> Flight {
        let stored = |image| Landed {
            image,
            cached: true,
            from_blob: true,
            timing: RenderTiming::default(),
        };
        if let Some(image) = self.second_level(&key, true).await {
            return Ok(stored(image));
        }
        let mut claim = None;
        if let Some(tier) = &self.inner.tier {
            // Taken before the claim, so that the winner's message cannot slip by.
            let watch = tier.watch();
            match tier.claim(&key).await {
                Claim::Won(token) => {
                    // Finished elsewhere between the look above and the claim?
                    if let Some(image) = tier.get(&key).await {
                        self.inner.memory.insert(key, image.clone());
                        tier.release(&key, token).await;
                        return Ok(stored(image));
                    }
                    claim = Some(ClaimGuard {
                        tier: tier.clone(),
                        key,
                        token: Some(token),
                    });
                }
                Claim::Lost(left) => {
                    // Woken by the winner's message; at the claim's expiry at the
                    // latest, then whatever is there, else a render of our own.
                    tier.wait(&key, watch, left + CLAIM_SLACK).await;
                    if let Some(image) = self.second_level(&key, false).await {
                        return Ok(stored(image));
                    }
                }
                Claim::Unavailable => {}
            }
        }
        let landed = self
            .render(
                key, backend, document, principal, page, size, format, lenient,
            )
            .await;
        if let Some(mut claim) = claim
            && let Some(token) = claim.token.take()
        {
            claim.tier.release(&key, token).await;
        }
        landed
    }

    /// The image under `key` in the Redis tier (none without one), kept in memory when
    /// found.
    async fn tier_hit(&self, key: &CacheKey) -> Option<CachedImage> {
        let image = self.inner.tier.as_ref()?.get(key).await?;
        self.inner.memory.insert(*key, image.clone());
        Some(image)
    }

    /// The image under `key` in the Redis tier, else in the blob level (copied up into
    /// the tier when `fill`), kept in memory when found.
    async fn second_level(&self, key: &CacheKey, fill: bool) -> Option<CachedImage> {
        if let Some(image) = self.tier_hit(key).await {
            return Some(image);
        }
        let inner = &self.inner;
        let store = inner.rendered.as_ref()?;
        match store.get(key).await {
            Ok(Some(image)) => {
                inner.memory.insert(*key, image.clone());
                if fill && let Some(tier) = &inner.tier {
                    tier.put(key, &image).await;
                }
                Some(image)
            }
            Ok(None) => None,
            // The blob level is a cache: when it fails, render.
            Err(error) => {
                tracing::warn!(%error, "reading a rendered thumbnail failed");
                None
            }
        }
    }

    /// A render that fills every level its result may be cached in.
    #[allow(clippy::too_many_arguments)] // The request's fields, taken apart once in `get`.
    async fn render(
        &self,
        key: CacheKey,
        backend: RenderBackend,
        document: &Document,
        principal: Option<Principal>,
        page: usize,
        size: crate::api::ThumbnailSize,
        format: crate::api::ImageFormat,
        lenient: bool,
    ) -> Flight {
        let inner = &self.inner;
        let content = inner
            .documents
            .content(GetContent {
                principal,
                id: document.id,
            })
            .await?;
        // Changed since the metadata was read: render what is there, but not under a
        // key made for the older content.
        let same = content.document.content_sha256 == document.content_sha256;
        let prepared = prepare(
            &inner.thumbnails,
            inner.assets.as_ref(),
            document.owner_id,
            content.bytes.into(),
        )
        .await?;
        let request = prepared.request(page, size, format, lenient);
        let thumbnail = inner.thumbnails.clone().oneshot(request).await?;
        inner.renders.fetch_add(1, Ordering::Relaxed);
        // Drawn by the other backend (the render that initialised the GPU, or a fallback
        // to the CPU): served, but not under this key, whose ETag names the other pixels.
        let cached = same && !prepared.resolver.missed() && thumbnail.timing.backend == backend;
        let timing = thumbnail.timing.after(prepared.timing);
        let image = CachedImage::from(thumbnail);
        if cached {
            inner.memory.insert(key, image.clone());
            if let Some(tier) = &inner.tier {
                tier.put(&key, &image).await;
            }
            if let Some(store) = &inner.rendered
                && let Err(error) = store.put(&key, &image).await
            {
                tracing::warn!(%error, "storing a rendered thumbnail failed");
            }
        }
        Ok(Landed {
            image,
            cached,
            from_blob: false,
            timing,
        })
    }
}

/// A claim to render held by this node. Released after the render; if the render is
/// dropped first (its request went away), released on a task of its own, so that the
/// request that takes the lead here, and the other nodes, need not wait for its expiry.
struct ClaimGuard {
    tier: RedisTier,
    key: CacheKey,
    token: Option<String>,
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        if let Some(token) = self.token.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (tier, key) = (self.tier.clone(), self.key);
            runtime.spawn(async move { tier.release(&key, token).await });
        }
    }
}

/// Ends a request's part in a flight. The flight leaves the map once it has landed (the
/// next request looks at the caches again) or when its last request leaves. A flight
/// whose leader was cancelled (its request dropped) before it landed stays while others
/// wait on it: one of them takes the lead, and new requests join it instead of
/// starting a second render.
struct Leave<'a> {
    inner: &'a Inner,
    key: CacheKey,
    /// This request's hold on the flight; `Some` until dropped, so that every release
    /// happens under the map's lock and the count of holders is exact there.
    cell: Option<Arc<OnceCell<Flight>>>,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        let mut flights = self
            .inner
            .flights
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let Some(cell) = self.cell.take() else {
            return;
        };
        if let Some(current) = flights.get(&self.key)
            && Arc::ptr_eq(current, &cell)
            // The map's hold and this one: nobody else waits.
            && (cell.initialized() || Arc::strong_count(&cell) <= 2)
        {
            flights.remove(&self.key);
        }
        drop(cell);
    }
}

crate::store::domain_service!(DocumentThumbnails {
    GetDocumentThumbnail => DocumentThumbnail, get;
    CreateThumbnail => DocumentThumbnail, create;
});

#[cfg(test)]
#[path = "stored_tests.rs"]
mod tests;
