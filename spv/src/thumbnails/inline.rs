//! [`InlineThumbnails`]: `POST /api/v1/thumbnails` for a document sent in the request,
//! rendered with the caller's `sha256:` uploads, with an ETag that lets a repeated
//! request be answered without rendering.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tower::ServiceExt;

use super::key::{CacheKey, etag_matches};
use super::prepare::prepare;
use super::service::Thumbnails;
use crate::api::{CachedImage, CreateThumbnail, DocumentThumbnail, Scope, ThumbnailSource};
use crate::assets::Assets;
use crate::{Error, ErrorKind, Result};

/// Thumbnails of documents sent in the request: a `tower::Service<CreateThumbnail>` that
/// needs no document store (a stored document's id is "not found" here;
/// [`DocumentThumbnails`](super::DocumentThumbnails) serves both).
///
/// The ETag is the [`CacheKey`] the caller's stored document of the same content would
/// have (the caller as owner, the SHA-256 of the bytes), so an `If-None-Match` that
/// matches is answered without parsing or rendering. Nothing is kept in the caches: the
/// bytes of a sent document are the client's to send again. A render that painted a
/// placeholder for a `sha256:` asset the caller has not uploaded, or that another
/// backend than the key's drew, gets no ETag.
///
/// ```
/// use spv::api::{CreateThumbnail, Principal, Scopes, ThumbnailBody};
/// use spv::thumbnails::{InlineThumbnails, Thumbnails};
/// use tower::ServiceExt;
///
/// let caller = Principal { user_id: uuid::Uuid::now_v7(), username: "ann".into(),
///     is_admin: false, scopes: Scopes::all() };
/// let doc = br#"{"format":"glyph","version":1,"pages":[{"width":300,"height":200,"layers":[]}]}"#;
/// let (request, _) = CreateThumbnail::from_body(caller, &ThumbnailBody::inline(doc), None).unwrap();
/// let service = InlineThumbnails::new(Thumbnails::default(), None);
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let first = rt.block_on(service.clone().oneshot(request.clone())).unwrap();
/// assert_eq!(first.image.unwrap().width, 256);
/// let mut again = request;
/// again.if_none_match = first.etag.clone();
/// let again = rt.block_on(service.oneshot(again)).unwrap();
/// assert!(again.image.is_none(), "revalidated without rendering");
/// ```
#[derive(Clone, Debug)]
pub struct InlineThumbnails {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    thumbnails: Thumbnails,
    assets: Option<Assets>,
}

impl InlineThumbnails {
    /// Renders with `thumbnails`; `sha256:` sources resolve from the caller's uploads in
    /// `assets` (`None`: nowhere, so only lenient renders draw such documents).
    pub fn new(thumbnails: Thumbnails, assets: Option<Assets>) -> Self {
        InlineThumbnails {
            inner: Arc::new(Inner { thumbnails, assets }),
        }
    }

    /// What `Service<CreateThumbnail>` does.
    async fn create(&self, request: CreateThumbnail) -> Result<DocumentThumbnail> {
        let CreateThumbnail {
            principal,
            document,
            page,
            size,
            format,
            lenient,
            if_none_match,
        } = request;
        principal.require(Scope::ThumbnailsRead)?;
        let bytes = match document {
            ThumbnailSource::Inline(bytes) => bytes,
            ThumbnailSource::Stored(id) => {
                return Err(Error::new(
                    ErrorKind::NotFound,
                    format!("document {id} not found: this server has no document store"),
                ));
            }
        };
        let inner = &self.inner;
        inner.thumbnails.check_size(size)?;
        let backend = inner.thumbnails.expected_backend();
        let content_sha256 = crate::hex::hex(&Sha256::digest(&bytes));
        let owner = principal.user_id;
        let key =
            CacheKey::for_backend(backend, owner, &content_sha256, page, size, format, lenient);
        let etag = key.etag();
        let mut answer = DocumentThumbnail {
            document: None,
            etag: None,
            image: None,
            memory_hit: None,
            blob_hit: None,
            rendered: None,
        };
        if if_none_match.is_some_and(|inm| etag_matches(&inm, &etag)) {
            answer.etag = Some(etag);
            return Ok(answer);
        }
        let prepared = prepare(&inner.thumbnails, inner.assets.as_ref(), owner, bytes).await?;
        let request = prepared.request(page, size, format, lenient);
        let thumbnail = inner.thumbnails.clone().oneshot(request).await?;
        let cached = !prepared.resolver.missed() && thumbnail.timing.backend == backend;
        answer.etag = cached.then_some(etag);
        answer.rendered = Some(thumbnail.timing.after(prepared.timing));
        answer.image = Some(CachedImage::from(thumbnail));
        Ok(answer)
    }
}

crate::store::domain_service!(InlineThumbnails {
    CreateThumbnail => DocumentThumbnail, create;
});
