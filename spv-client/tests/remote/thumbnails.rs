//! Thumbnails: one generic function run in process and through the client gives the
//! same bytes; the cached document thumbnail with its ETag and 304.

use std::sync::Arc;

use spv::ErrorKind;
use spv::api::{
    CreateDocument, GetDocumentThumbnail, ImageFormat, RenderThumbnail, Thumbnail, ThumbnailSize,
};
use spv::glyph::{ImageFit, NoAssets};
use tower::{Service, ServiceExt};

use super::{DOC, Server, png_size};

/// Written once against the service trait: the caller cannot tell where it runs.
async fn thumb<S>(service: S, request: RenderThumbnail) -> Thumbnail
where
    S: Service<RenderThumbnail, Response = Thumbnail, Error = spv::Error>,
{
    service.oneshot(request).await.unwrap()
}

fn requests() -> Vec<RenderThumbnail> {
    vec![
        RenderThumbnail::new(DOC.as_bytes().to_vec()).size(ThumbnailSize::Longest { size: 100 }),
        RenderThumbnail::new(DOC.as_bytes().to_vec())
            .size(ThumbnailSize::Box {
                width: 64,
                height: 64,
                fit: ImageFit::Cover,
            })
            .format(ImageFormat::Webp),
        RenderThumbnail::new(DOC.as_bytes().to_vec())
            .size(ThumbnailSize::Longest { size: 33 })
            .format(ImageFormat::Jpeg),
    ]
}

#[tokio::test]
async fn the_same_generic_function_gives_the_same_bytes_both_ways() {
    let server = Server::start().await;
    let client = server.admin();
    let local = spv::thumbnails::Thumbnails::new(Default::default());
    for request in requests() {
        let here = thumb(local.clone(), request.clone()).await;
        let there = thumb(client.clone(), request.clone()).await;
        assert!(!here.bytes.is_empty());
        assert_eq!(here, there, "{request:?}");
    }
    // A parsed document travels too, and draws the same.
    let loaded = spv::glyph::load(DOC.as_bytes(), &Default::default()).unwrap();
    let request =
        RenderThumbnail::loaded(Arc::new(loaded)).size(ThumbnailSize::Longest { size: 100 });
    let remote = thumb(client.clone(), request).await;
    assert_eq!(remote, thumb(local, requests().remove(0)).await);
    assert_eq!(png_size(&remote.bytes), (100, 50));
    server.stop().await;
}

#[tokio::test]
async fn what_cannot_travel_or_render_is_refused() {
    let server = Server::start().await;
    let client = server.admin();
    let with_resolver = RenderThumbnail::new(DOC.as_bytes().to_vec()).assets(Arc::new(NoAssets));
    let err = client.call_service(with_resolver).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(err.to_string().contains("sha256:"), "{err}");

    let err = client
        .call_service(RenderThumbnail::new(DOC.as_bytes().to_vec()).page(3))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(err.to_string().contains('3'), "{err}");

    let err = client
        .call_service(RenderThumbnail::new(b"{not json".to_vec()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDocument, "{err}");
    server.stop().await;
}

#[tokio::test]
async fn document_thumbnails_with_etags() {
    let server = Server::start().await;
    let client = server.admin();
    let doc = client
        .call_service(CreateDocument::new(Default::default(), DOC))
        .await
        .unwrap();
    let mut request = GetDocumentThumbnail::new(None, doc.id);
    request.size = ThumbnailSize::Longest { size: 80 };
    let first = client.call_service(request.clone()).await.unwrap();
    assert_eq!(first.document, Some(doc));
    let etag = first
        .etag
        .clone()
        .expect("a cacheable thumbnail has an ETag");
    let image = first.image.expect("the image");
    assert_eq!((image.width, image.height), (80, 40));
    assert_eq!(png_size(&image.bytes), (80, 40));

    request.if_none_match = Some(etag.clone());
    let again = client.call_service(request.clone()).await.unwrap();
    assert!(again.image.is_none(), "304: no image");
    assert_eq!(again.etag.as_deref(), Some(etag.as_str()));

    // Private: no thumbnail for anonymous callers.
    let err = server.anonymous().call_service(request).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    server.stop().await;
}
