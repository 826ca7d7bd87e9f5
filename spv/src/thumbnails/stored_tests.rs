//! Tests of [`DocumentThumbnails`] through `oneshot`, on SQLite.

use std::sync::Arc;

use tower::ServiceExt;
use uuid::Uuid;

use super::*;
use crate::api::{CreateDocument, ImageFormat, Scopes, ThumbnailSize, UploadAsset};
use crate::assets::AssetsConfig;
use crate::documents::DocumentsConfig;
use crate::render::pool::RenderPool;
use crate::store::LocalBlobs;
use crate::store::testing::{TestDb, sqlite_db};
use crate::thumbnails::ThumbnailsConfig;

const RED: [u8; 4] = [255, 0, 0, 255];

fn user(name: &str, scopes: Scopes) -> Principal {
    Principal {
        user_id: Uuid::now_v7(),
        username: name.into(),
        is_admin: false,
        scopes,
    }
}

fn doc_bytes(colour: &str) -> Vec<u8> {
    format!(
        r#"{{"format":"glyph","version":1,"pages":[{{"width":40,"height":20,"background":"{colour}","layers":[]}}]}}"#
    )
    .into_bytes()
}

/// A 10 × 10 page filled by the image asset `sha256:<hash>`.
fn doc_with_asset(hash: &str) -> Vec<u8> {
    format!(
        r##"{{"format":"glyph","version":1,"assets":{{"photo":{{"type":"image","src":"sha256:{hash}"}}}},
        "pages":[{{"width":10,"height":10,"background":"#0000ff","layers":[
        {{"type":"image","asset":"photo","x":0,"y":0,"width":10,"height":10}}]}}]}}"##
    )
    .into_bytes()
}

fn png(colour: [u8; 4]) -> Vec<u8> {
    crate::render::encode::encode(&colour.repeat(4), 2, 2, ImageFormat::Png).unwrap()
}

struct Setup {
    service: DocumentThumbnails,
    documents: Documents,
    assets: Assets,
    db: TestDb,
    blobs: Arc<LocalBlobs>,
    _dir: tempfile::TempDir,
}

impl Setup {
    async fn new() -> Setup {
        let db = sqlite_db().await;
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(LocalBlobs::in_data_dir(dir.path()));
        let pool = RenderPool::new(2);
        let documents = Documents::with_db(db.db.clone(), DocumentsConfig::default());
        let assets = Assets::with_db(
            db.db.clone(),
            blobs.clone(),
            AssetsConfig {
                pool: pool.clone(),
                ..AssetsConfig::default()
            },
        );
        let mut setup = Setup {
            service: DocumentThumbnails::new(
                Thumbnails::default(),
                documents.clone(),
                DocumentThumbnailsConfig::default(),
            ),
            documents,
            assets,
            db,
            blobs,
            _dir: dir,
        };
        setup.service = setup.fresh_service();
        setup
    }

    /// A service over the same database and blobs with an empty memory cache, as after
    /// a restart.
    fn fresh_service(&self) -> DocumentThumbnails {
        let thumbnails = Thumbnails::new(ThumbnailsConfig::default().with_pool_size(2));
        self.service_with(thumbnails, self.assets.clone())
    }

    /// A fresh service rendering with `thumbnails`, finding assets with `assets`.
    fn service_with(&self, thumbnails: Thumbnails, assets: Assets) -> DocumentThumbnails {
        DocumentThumbnails::new(
            thumbnails,
            self.documents.clone(),
            DocumentThumbnailsConfig {
                memory_bytes: 1 << 20,
                assets: Some(assets),
                rendered: Some(RenderedStore::new(self.db.db.clone(), self.blobs.clone())),
                redis: None,
            },
        )
    }

    async fn create(&self, owner: &Principal, bytes: Vec<u8>, public: bool) -> Document {
        let mut request = CreateDocument::new(owner.clone(), bytes);
        request.public = public;
        self.documents.clone().oneshot(request).await.unwrap()
    }

    async fn get(&self, request: GetDocumentThumbnail) -> Result<DocumentThumbnail> {
        self.service.clone().oneshot(request).await
    }
}

fn pixel(image: &CachedImage, x: u32, y: u32) -> [u8; 4] {
    let img = image::load_from_memory(&image.bytes).unwrap().to_rgba8();
    img.get_pixel(x, y).0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_identical_requests_render_once() {
    let s = Setup::new().await;
    let ann = user("ann", Scopes::all());
    let doc = s.create(&ann, doc_bytes("#ff0000"), false).await;
    let request = GetDocumentThumbnail::new(Some(ann), doc.id);
    let answers = futures_join(8, || s.service.clone().oneshot(request.clone())).await;
    let etags: Vec<_> = answers.iter().map(|a| a.etag.clone().unwrap()).collect();
    assert!(etags.iter().all(|e| *e == etags[0]), "{etags:?}");
    assert_eq!(s.service.renders(), 1, "eight requests, one render");
    assert_eq!(
        answers.iter().filter(|a| a.rendered.is_some()).count(),
        1,
        "one request rendered, the others waited for it"
    );
    assert!(s.service.inner.flights.lock().unwrap().is_empty());
}

/// Runs `n` futures made by `make` at once on the runtime and collects their answers.
async fn futures_join<F, Fut>(n: usize, make: F) -> Vec<DocumentThumbnail>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<DocumentThumbnail>> + Send + 'static,
{
    let handles: Vec<_> = (0..n).map(|_| tokio::spawn(make())).collect();
    let mut out = Vec::new();
    for handle in handles {
        out.push(handle.await.unwrap().unwrap());
    }
    out
}

#[tokio::test]
async fn if_none_match_answers_without_an_image_and_without_rendering() {
    let s = Setup::new().await;
    let ann = user("ann", Scopes::all());
    let doc = s.create(&ann, doc_bytes("#00ff00"), false).await;
    let mut request = GetDocumentThumbnail::new(Some(ann), doc.id);
    request.size = ThumbnailSize::Longest { size: 40 };
    let etag = CacheKey::new(
        doc.owner_id,
        &doc.content_sha256,
        0,
        request.size,
        ImageFormat::Png,
        false,
    )
    .etag();
    request.if_none_match = Some(format!("\"other\", W/{etag}"));
    let answer = s.get(request).await.unwrap();
    assert!(answer.image.is_none());
    assert_eq!(answer.etag, Some(etag));
    assert_eq!(s.service.renders(), 0);
}

#[tokio::test]
async fn the_blob_level_serves_a_fresh_service_without_rendering() {
    let s = Setup::new().await;
    let ann = user("ann", Scopes::all());
    let doc = s.create(&ann, doc_bytes("#ff0000"), true).await;
    let request = GetDocumentThumbnail::new(None, doc.id);
    let first = s.get(request.clone()).await.unwrap();
    assert_eq!(
        (first.memory_hit, first.blob_hit),
        (Some(false), Some(false))
    );
    assert_eq!(pixel(first.image.as_ref().unwrap(), 5, 5), RED);

    let restarted = s.fresh_service();
    let again = restarted.clone().oneshot(request.clone()).await.unwrap();
    assert_eq!(
        (again.memory_hit, again.blob_hit),
        (Some(false), Some(true))
    );
    assert_eq!(again.image, first.image);
    assert_eq!(again.etag, first.etag);
    assert_eq!(restarted.renders(), 0);
    let third = restarted.oneshot(request).await.unwrap();
    assert_eq!(third.memory_hit, Some(true), "the blob hit filled memory");
}

#[tokio::test]
async fn only_owners_reach_private_documents_and_need_thumbnails_read() {
    let s = Setup::new().await;
    let ann = user("ann", Scopes::all());
    let bob = user("bob", Scopes::all());
    let private = s.create(&ann, doc_bytes("#ff0000"), false).await;
    let public = s.create(&ann, doc_bytes("#ff0000"), true).await;

    for principal in [None, Some(bob.clone())] {
        let err = s
            .get(GetDocumentThumbnail::new(principal, private.id))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    }
    let gallery_only = Principal {
        scopes: Scope::GalleryRead.into(),
        ..ann.clone()
    };
    let err = s
        .get(GetDocumentThumbnail::new(
            Some(gallery_only.clone()),
            private.id,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Forbidden);
    assert!(err.to_string().contains("thumbnails:read"), "{err}");
    for principal in [None, Some(bob), Some(gallery_only)] {
        let answer = s.get(GetDocumentThumbnail::new(principal, public.id)).await;
        assert!(answer.unwrap().image.is_some());
    }
}

#[tokio::test]
async fn bad_pages_and_sizes_fail_before_any_work() {
    let s = Setup::new().await;
    let ann = user("ann", Scopes::all());
    let doc = s.create(&ann, doc_bytes("#ff0000"), false).await;
    let mut request = GetDocumentThumbnail::new(Some(ann), doc.id);
    request.page = 1;
    let err = s.get(request.clone()).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "page 1 does not exist; the document has 1 page (0 to 0)"
    );
    request.page = 0;
    request.size = ThumbnailSize::Longest { size: 100_000 };
    let err = s.get(request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert_eq!(s.service.renders(), 0);
}

#[tokio::test]
async fn owner_assets_resolve_and_a_placeholder_render_is_not_cached() {
    let s = Setup::new().await;
    let ann = user("ann", Scopes::all());
    let image = png(RED);
    let hash = crate::store::hex(&<sha2::Sha256 as sha2::Digest>::digest(&image));
    let doc = s.create(&ann, doc_with_asset(&hash), false).await;
    let mut request = GetDocumentThumbnail::new(Some(ann.clone()), doc.id);
    request.size = ThumbnailSize::Longest { size: 10 };

    // Not uploaded yet: strict fails (and the error is not cached), lenient paints a
    // placeholder that gets no ETag and is rendered again next time.
    let err = s.get(request.clone()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingAsset, "{err}");
    request.lenient = true;
    let placeholder = s.get(request.clone()).await.unwrap();
    assert_eq!(placeholder.etag, None);
    assert_ne!(pixel(placeholder.image.as_ref().unwrap(), 5, 5), RED);
    let renders = s.service.renders();
    s.get(request.clone()).await.unwrap();
    assert_eq!(s.service.renders(), renders + 1, "not served from a cache");

    // Someone else's upload of the same bytes does not help.
    let bob = user("bob", Scopes::all());
    s.assets
        .clone()
        .oneshot(UploadAsset::bytes(bob, image.clone()))
        .await
        .unwrap();
    assert!(s.get(request.clone()).await.unwrap().etag.is_none());

    s.assets
        .clone()
        .oneshot(UploadAsset::bytes(ann, image))
        .await
        .unwrap();
    let drawn = s.get(request.clone()).await.unwrap();
    assert!(drawn.etag.is_some());
    assert_eq!(pixel(drawn.image.as_ref().unwrap(), 5, 5), RED);
    request.lenient = false;
    let strict = s.get(request).await.unwrap();
    assert_eq!(pixel(strict.image.as_ref().unwrap(), 5, 5), RED);
}

/// The holds on the flights under way: the map's own and each waiting request's.
fn holders(service: &DocumentThumbnails) -> usize {
    let flights = service.inner.flights.lock().unwrap();
    flights.values().map(Arc::strong_count).sum()
}

/// Waits (up to 5 s) until `done` holds; whether it did is for the asserts after.
async fn wait_until(done: impl Fn() -> bool) {
    for _ in 0..500 {
        if done() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_leaves_its_flight_to_the_requests_still_waiting() {
    let s = Setup::new().await;
    let pool = RenderPool::new(1).with_queue_timeout(std::time::Duration::from_secs(60));
    let thumbnails = Thumbnails::new(ThumbnailsConfig::default().with_pool(pool.clone()));
    let service = s.service_with(thumbnails, s.assets.clone());
    let ann = user("ann", Scopes::all());
    let doc = s.create(&ann, doc_bytes("#ff0000"), false).await;
    let request = GetDocumentThumbnail::new(Some(ann), doc.id);
    let spawn = || tokio::spawn(service.clone().oneshot(request.clone()));

    // Hold the pool's only slot: the flight waits there until the gate opens.
    let (open, gate) = std::sync::mpsc::channel::<()>();
    let blocker = tokio::spawn(pool.run(move || {
        let _ = gate.recv();
        Ok(())
    }));
    wait_until(|| pool.available() == 0).await;
    let leader = spawn();
    wait_until(|| holders(&service) == 2).await;
    let waiter = spawn();
    wait_until(|| holders(&service) == 3).await;
    assert_eq!(
        holders(&service),
        3,
        "the leader and a waiter on one flight"
    );

    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    // A request after the leader's cancellation joins the flight the waiter now leads.
    let late = spawn();
    wait_until(|| holders(&service) == 3).await;
    open.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    let waited = waiter.await.unwrap().unwrap();
    let late = late.await.unwrap().unwrap();
    assert_eq!(service.renders(), 1, "one render, not one per flight");
    assert_eq!(waited.etag, late.etag);
    assert_eq!(
        [waited.rendered.is_some(), late.rendered.is_some()],
        [true, false],
        "the waiter took the lead"
    );
    assert!(service.inner.flights.lock().unwrap().is_empty());
}

/// A 10 × 10 page with two image assets, `sha256:<a>` and `sha256:<b>`.
fn doc_with_two_assets(a: &str, b: &str) -> Vec<u8> {
    format!(
        r##"{{"format":"glyph","version":1,"assets":{{
        "a":{{"type":"image","src":"sha256:{a}"}},"b":{{"type":"image","src":"sha256:{b}"}}}},
        "pages":[{{"width":10,"height":10,"background":"#0000ff","layers":[
        {{"type":"image","asset":"a","x":0,"y":0,"width":5,"height":10}},
        {{"type":"image","asset":"b","x":5,"y":0,"width":5,"height":10}}]}}]}}"##
    )
    .into_bytes()
}

#[tokio::test]
async fn assets_past_the_per_render_limit_fail_before_rendering() {
    let s = Setup::new().await;
    let ann = user("ann", Scopes::all());
    let (red, green) = (png(RED), png([0, 255, 0, 255]));
    let hash = |b: &[u8]| crate::store::BlobKey::of(b).to_string();
    for image in [&red, &green] {
        s.assets
            .clone()
            .oneshot(UploadAsset::bytes(ann.clone(), image.clone()))
            .await
            .unwrap();
    }
    // Room for either image alone, not both.
    let limit = red.len().max(green.len()) as u64 + 1;
    assert!(limit < (red.len() + green.len()) as u64);
    let capped = Assets::with_db(
        s.db.db.clone(),
        s.blobs.clone(),
        AssetsConfig {
            max_resolved_bytes: limit,
            ..AssetsConfig::default()
        },
    );
    let service = s.service_with(Thumbnails::default(), capped);
    let one = s.create(&ann, doc_with_asset(&hash(&red)), false).await;
    let two = s
        .create(&ann, doc_with_two_assets(&hash(&red), &hash(&green)), false)
        .await;

    let answer = service
        .clone()
        .oneshot(GetDocumentThumbnail::new(Some(ann.clone()), one.id))
        .await
        .unwrap();
    assert_eq!(pixel(answer.image.as_ref().unwrap(), 5, 5), RED);
    for lenient in [false, true] {
        let mut request = GetDocumentThumbnail::new(Some(ann.clone()), two.id);
        request.lenient = lenient;
        let err = service.clone().oneshot(request).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
        assert!(
            err.to_string()
                .contains(&format!("more than {limit} bytes")),
            "{err}"
        );
    }
    assert_eq!(
        service.renders(),
        1,
        "only the document within the limit rendered"
    );
    // The default limit takes both.
    let answer = s.get(GetDocumentThumbnail::new(Some(ann), two.id)).await;
    assert!(answer.unwrap().image.is_some());
}

#[tokio::test]
async fn byte_identical_documents_of_two_owners_do_not_share_renders() {
    let s = Setup::new().await;
    let (ann, bob) = (user("ann", Scopes::all()), user("bob", Scopes::all()));
    let image = png(RED);
    s.assets
        .clone()
        .oneshot(UploadAsset::bytes(ann.clone(), image.clone()))
        .await
        .unwrap();
    let bytes = doc_with_asset(&crate::store::BlobKey::of(&image).to_string());
    let anns = s.create(&ann, bytes.clone(), false).await;
    let bobs = s.create(&bob, bytes, false).await;
    assert_eq!(anns.content_sha256, bobs.content_sha256);

    let drawn = s.get(GetDocumentThumbnail::new(Some(ann), anns.id)).await;
    assert_eq!(pixel(drawn.unwrap().image.as_ref().unwrap(), 5, 5), RED);
    let err = s
        .get(GetDocumentThumbnail::new(Some(bob), bobs.id))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingAsset, "{err}");
}
