//! Assets: a streamed upload from a file, downloads whole and into a writer, a document
//! that uses the uploaded image, and the limits on both sides.

use spv::ErrorKind;
use spv::api::{
    CreateDocument, DeleteAsset, GetAsset, GetAssetMeta, GetDocumentThumbnail, ListAssets,
    RenderThumbnail, ThumbnailSize, UploadAsset,
};
use uuid::Uuid;

use super::{Server, png_size};

/// A PNG image of the samples.
fn red_png() -> Vec<u8> {
    include_bytes!("../../../examples/docs/poster.png").to_vec()
}

fn upload(bytes: Vec<u8>, filename: &str) -> UploadAsset {
    let mut upload = UploadAsset::bytes(Default::default(), bytes);
    upload.filename = Some(filename.to_owned());
    upload
}

#[tokio::test]
async fn every_asset_request_and_a_document_that_uses_one() {
    let server = Server::start().await;
    let client = server.admin();
    let png = red_png();

    // Streamed from a file, as the CLI uploads.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("poster.png");
    tokio::fs::write(&path, &png).await.unwrap();
    let file = tokio::fs::File::open(&path).await.unwrap();
    let uploaded = client
        .call_service(UploadAsset {
            principal: Default::default(),
            filename: Some("poster.png".into()),
            body: Box::new(file),
        })
        .await
        .unwrap();
    assert!(uploaded.created);
    let asset = uploaded.asset;
    assert_eq!(asset.byte_size, png.len() as u64);
    assert_eq!(asset.mime, "image/png");
    assert_eq!(asset.filename.as_deref(), Some("poster.png"));

    let again = client
        .call_service(upload(png.clone(), "again.png"))
        .await
        .unwrap();
    assert!(!again.created, "the same bytes answer the existing asset");
    assert_eq!(again.asset.id, asset.id);

    let meta = client
        .call_service(GetAssetMeta {
            principal: Default::default(),
            id: asset.id,
        })
        .await
        .unwrap();
    assert_eq!(meta, asset);
    let content = client
        .call_service(GetAsset {
            principal: Default::default(),
            id: asset.id,
        })
        .await
        .unwrap();
    assert_eq!(content.bytes, png);
    assert_eq!(content.asset, asset);

    let mut written = Vec::new();
    let count = client.download_asset(asset.id, &mut written).await.unwrap();
    assert_eq!((count, written), (png.len() as u64, png.clone()));

    let list = client
        .call_service(ListAssets {
            principal: Default::default(),
            page: None,
            per_page: Some(10),
        })
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);

    // A stored document drawing the uploaded image through its `sha256:` source.
    let doc = format!(
        r#"{{"format":"glyph","version":1,"assets":{{"pic":{{"type":"image","src":"sha256:{}"}}}},
            "pages":[{{"width":200,"height":100,"layers":[
            {{"type":"image","asset":"pic","x":0,"y":0,"width":200,"height":100}}]}}]}}"#,
        asset.sha256
    );
    let stored = client
        .call_service(CreateDocument::new(Default::default(), doc))
        .await
        .unwrap();
    let mut request = GetDocumentThumbnail::new(None, stored.id);
    request.size = ThumbnailSize::Longest { size: 50 };
    let thumbnail = client.call_service(request).await.unwrap();
    assert_eq!(png_size(&thumbnail.image.unwrap().bytes), (50, 25));

    client
        .call_service(DeleteAsset {
            principal: Default::default(),
            id: asset.id,
        })
        .await
        .unwrap();
    let err = client
        .call_service(GetAssetMeta {
            principal: Default::default(),
            id: asset.id,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    let err = client
        .download_asset(Uuid::now_v7(), &mut Vec::new())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    server.stop().await;
}

#[tokio::test]
async fn limits_on_both_sides() {
    let server = Server::start_with(|config| config.body_limit_bytes = 4096).await;
    let client = server.admin();
    // The server's body limit, met while streaming: 413 → LimitExceeded.
    let err = client
        .call_service(upload(vec![7; 64 * 1024], "big.bin"))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");

    // A PNG below the server's limit (a tiny render), over the client's.
    let small = client
        .call_service(
            RenderThumbnail::new(super::DOC.as_bytes().to_vec())
                .size(ThumbnailSize::Longest { size: 4 }),
        )
        .await
        .unwrap();
    let uploaded = client
        .call_service(upload(small.bytes, "small.png"))
        .await
        .unwrap();
    let tiny = server
        .builder()
        .password("admin", spv::api::Secret::new(super::ADMIN_PASSWORD))
        .max_response_bytes(16)
        .build()
        .unwrap();
    let mut sink = Vec::new();
    let err = tiny
        .download_asset(uploaded.asset.id, &mut sink)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    assert!(sink.is_empty(), "refused by Content-Length before writing");
    let err = tiny
        .call_service(GetAsset {
            principal: Default::default(),
            id: uploaded.asset.id,
        })
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    server.stop().await;
}
