//! Tests of the assets service through `oneshot`, on SQLite and (when configured)
//! PostgreSQL.

use std::sync::Arc;

use tower::ServiceExt;
use uuid::Uuid;

use super::*;
use crate::ErrorKind;
use crate::api::{DeleteAsset, GetAsset, GetAssetMeta, ListAssets, UploadAsset};
use crate::api::{Principal, Scopes};
use crate::glyph::{AssetResolver, AssetSource};
use crate::store::testing::{TestDb, test_dbs};
use crate::store::{BlobKey, BlobStore, LocalBlobs};

fn user(name: &str, is_admin: bool) -> Principal {
    Principal {
        user_id: Uuid::now_v7(),
        username: name.into(),
        is_admin,
        scopes: Scopes::all(),
    }
}

fn png(w: u32, h: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_pixel(w, h, image::Rgba([10, 200, 30, 255]));
    let mut out = Vec::new();
    image::DynamicImage::ImageRgba8(img)
        .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

struct Setup {
    assets: Assets,
    blobs: Arc<LocalBlobs>,
    _db: TestDb,
    _dir: tempfile::TempDir,
}

async fn setups(max_upload_bytes: u64) -> Vec<Setup> {
    let mut out = Vec::new();
    for db in test_dbs().await {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(LocalBlobs::in_data_dir(dir.path()));
        let config = AssetsConfig {
            max_upload_bytes,
            pool: crate::render::pool::RenderPool::new(2),
            ..AssetsConfig::default()
        };
        let assets = Assets::with_db(db.db.clone(), blobs.clone(), config);
        out.push(Setup {
            assets,
            blobs,
            _db: db,
            _dir: dir,
        });
    }
    out
}

#[tokio::test]
async fn uploads_are_sniffed_hashed_described_and_deduplicated() {
    for s in setups(1 << 20).await {
        let ann = user("ann", false);
        let bob = user("bob", false);
        let bytes = png(30, 20);
        let upload = UploadAsset {
            filename: Some("logo.jpg".into()),
            ..UploadAsset::bytes(ann.clone(), bytes.clone())
        };
        let first = s.assets.clone().oneshot(upload).await.unwrap();
        let a = &first.asset;
        assert!(first.created);
        assert_eq!(a.mime, "image/png", "sniffed, not taken from the name");
        assert_eq!(a.filename.as_deref(), Some("logo.jpg"));
        assert_eq!(
            (a.width, a.height, a.byte_size),
            (Some(30), Some(20), bytes.len() as u64)
        );
        assert_eq!(a.dominant_color.as_deref(), Some("#0ac81e"));
        assert_eq!(a.sha256, BlobKey::of(&bytes).as_str());
        assert_eq!((a.sha512.len(), a.md5.len()), (128, 32));
        assert_eq!(a.etag(), format!("\"{}\"", a.sha256));

        let again = s
            .assets
            .clone()
            .oneshot(UploadAsset::bytes(ann.clone(), bytes.clone()))
            .await
            .unwrap();
        assert_eq!((again.created, &again.asset), (false, a));
        let bobs = s
            .assets
            .clone()
            .oneshot(UploadAsset::bytes(bob.clone(), bytes.clone()))
            .await
            .unwrap();
        assert!(bobs.created && bobs.asset.id != a.id, "dedupe is per owner");

        let meta = s
            .assets
            .clone()
            .oneshot(GetAssetMeta {
                principal: ann.clone(),
                id: a.id,
            })
            .await
            .unwrap();
        assert_eq!(&meta, a);
        let content = s
            .assets
            .clone()
            .oneshot(GetAsset {
                principal: ann.clone(),
                id: a.id,
            })
            .await
            .unwrap();
        assert_eq!(content.bytes, bytes);
        let err = s
            .assets
            .clone()
            .oneshot(GetAsset {
                principal: bob.clone(),
                id: a.id,
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);

        let list = s
            .assets
            .clone()
            .oneshot(ListAssets {
                principal: ann.clone(),
                page: None,
                per_page: None,
            })
            .await
            .unwrap();
        assert_eq!(
            list.items.iter().map(|x| x.id).collect::<Vec<_>>(),
            vec![a.id]
        );
        let admin = user("root", true);
        let all = s
            .assets
            .clone()
            .oneshot(ListAssets {
                principal: admin,
                page: Some(1),
                per_page: Some(1),
            })
            .await
            .unwrap();
        assert_eq!(all.items.len(), 1);
        assert!(all.metainfo.has_next);

        // The blob stays while bob's asset has the same bytes.
        let key = BlobKey::of(&bytes);
        s.assets
            .clone()
            .oneshot(DeleteAsset {
                principal: ann.clone(),
                id: a.id,
            })
            .await
            .unwrap();
        assert!(s.blobs.exists(&key).await.unwrap());
        let err = s
            .assets
            .clone()
            .oneshot(GetAssetMeta {
                principal: ann.clone(),
                id: a.id,
            })
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound);
        s.assets
            .clone()
            .oneshot(DeleteAsset {
                principal: bob.clone(),
                id: bobs.asset.id,
            })
            .await
            .unwrap();
        assert!(
            !s.blobs.exists(&key).await.unwrap(),
            "the last user of a blob removes it"
        );
    }
}

#[tokio::test]
async fn too_large_uploads_are_refused_and_leave_nothing() {
    for s in setups(100).await {
        let ann = user("ann", false);
        let err = s
            .assets
            .clone()
            .oneshot(UploadAsset::bytes(ann.clone(), vec![7; 101]))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
        assert!(!s.blobs.exists(&BlobKey::of(&[7; 101])).await.unwrap());
        let list = s
            .assets
            .clone()
            .oneshot(ListAssets {
                principal: ann,
                page: None,
                per_page: None,
            })
            .await
            .unwrap();
        assert!(list.items.is_empty());
    }
}

#[tokio::test]
async fn renders_resolve_the_owners_sha256_assets_only() {
    for s in setups(1 << 20).await {
        let ann = user("ann", false);
        let bob = user("bob", false);
        let bytes = png(4, 4);
        let sha = BlobKey::of(&bytes).to_string();
        s.assets
            .clone()
            .oneshot(UploadAsset::bytes(ann.clone(), bytes.clone()))
            .await
            .unwrap();
        let doc = format!(
            r#"{{"format":"glyph","version":1,"assets":{{"logo":{{"type":"image","src":"sha256:{sha}"}}}},
            "pages":[{{"width":10,"height":10,"layers":[]}}]}}"#
        );
        let loaded = crate::glyph::load(doc.as_bytes(), &Default::default()).unwrap();
        let source = &loaded.document.assets.as_ref().unwrap()["logo"].source;
        assert!(matches!(source, AssetSource::Sha256(_)));
        let resolver = s
            .assets
            .resolver(ann.user_id, &loaded.document)
            .await
            .unwrap();
        assert_eq!(
            resolver.resolve(source).unwrap().as_deref(),
            Some(&bytes[..])
        );
        let resolver = s
            .assets
            .resolver(bob.user_id, &loaded.document)
            .await
            .unwrap();
        assert_eq!(
            resolver.resolve(source).unwrap(),
            None,
            "bob never uploaded it"
        );
    }
}
