//! Every document request through the client, problems mapped back to kinds, and a
//! server mounted under a path prefix.

use spv::ErrorKind;
use spv::api::{
    CreateDocument, DeleteDocument, DocumentQuery, GetContent, GetDocument, ListDocuments,
    PatchDocument, PutContent,
};
use spv_client::Client;
use tokio::net::TcpListener;
use tower::ServiceExt;
use uuid::Uuid;

use super::{DOC, Server};

#[tokio::test]
async fn every_document_request() {
    let server = Server::start().await;
    let client = server.admin();

    let mut create = CreateDocument::new(Default::default(), DOC);
    create.title = Some("Client poster".into());
    create.tags = vec!["print".into(), "client".into()];
    let created = client.clone().oneshot(create).await.unwrap();
    assert_eq!(created.title, "Client poster");
    assert_eq!(created.tags, ["print", "client"], "tags follow by a patch");
    assert_eq!(created.version, 2, "created, then tagged");
    assert_eq!(created.pages.len(), 1);

    let id = created.id;
    let got = client
        .call_service(GetDocument {
            principal: None,
            id,
        })
        .await
        .unwrap();
    assert_eq!(got, created);

    let list = client
        .call_service(ListDocuments {
            principal: None,
            query: DocumentQuery {
                tag: Some("client".into()),
                per_page: Some(5),
                ..DocumentQuery::default()
            },
        })
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].id, id);
    assert_eq!(list.metainfo.per_page, 5);

    let content = client
        .call_service(GetContent {
            principal: None,
            id,
        })
        .await
        .unwrap();
    assert_eq!(content.bytes, DOC.as_bytes(), "byte for byte as uploaded");
    assert_eq!(content.document, created);

    let changed = DOC.replace("#2050f0", "#000000");
    let put = client
        .call_service(PutContent {
            principal: Default::default(),
            id,
            content: changed.clone().into_bytes(),
            if_match: Some(created.etag()),
        })
        .await
        .unwrap();
    assert_eq!(put.version, 3);

    // 412: the ETag of an older version no longer holds.
    let stale = client
        .call_service(PutContent {
            principal: Default::default(),
            id,
            content: DOC.as_bytes().to_vec(),
            if_match: Some(created.etag()),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), ErrorKind::PreconditionFailed, "{stale}");

    let patched = client
        .call_service(PatchDocument {
            principal: Default::default(),
            id,
            patch: serde_json::json!({"title": "Renamed", "public": true}),
            if_match: Some(put.etag()),
        })
        .await
        .unwrap();
    assert_eq!((patched.title.as_str(), patched.public), ("Renamed", true));

    // 400 with the server's detail as the message.
    let bad_patch = client
        .call_service(PatchDocument {
            principal: Default::default(),
            id,
            patch: serde_json::json!({"colour": "red"}),
            if_match: None,
        })
        .await
        .unwrap_err();
    assert_eq!(bad_patch.kind(), ErrorKind::InvalidRequest);
    assert!(bad_patch.to_string().contains("colour"), "{bad_patch}");

    // A public document is readable without a credential, and listed in the gallery.
    let anonymous = server.anonymous();
    let public = anonymous
        .call_service(GetDocument {
            principal: None,
            id,
        })
        .await
        .unwrap();
    assert_eq!(public.title, "Renamed");
    let gallery = anonymous.gallery(DocumentQuery::default()).await.unwrap();
    assert_eq!(gallery.items.len(), 1);
    assert!(gallery.items[0].thumbnail.ends_with("/thumbnail"));

    client
        .call_service(DeleteDocument {
            principal: Default::default(),
            id,
            if_match: Some(patched.etag()),
        })
        .await
        .unwrap();
    let gone = client
        .call_service(GetDocument {
            principal: None,
            id,
        })
        .await
        .unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");
    server.stop().await;
}

#[tokio::test]
async fn invalid_documents_keep_their_kind_and_path() {
    let server = Server::start().await;
    let err = server
        .admin()
        .call_service(CreateDocument::new(
            Default::default(),
            r#"{"format":"glyph","version":1,"pages":[{"width":-3,"height":10,"layers":[]}]}"#,
        ))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDocument, "{err}");
    assert!(err.to_string().contains("pages[0].width"), "{err}");

    // Without a credential, writing is 401 → Unauthenticated.
    let err = server
        .anonymous()
        .call_service(CreateDocument::new(Default::default(), DOC))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    server.stop().await;
}

/// A host that mounts the API under `/spv`: the base URL carries the prefix.
#[tokio::test]
async fn a_server_under_a_path_prefix() {
    let data = tempfile::tempdir().unwrap();
    let config = spv::config::Config {
        data_dir: data.path().to_owned(),
        admin_password: Some(super::ADMIN_PASSWORD.to_owned()),
        job_workers: 1,
        ..spv::config::Config::default()
    };
    let opened = spv::http::AppState::open(&config).await.unwrap();
    let app = axum::Router::new().nest("/spv", spv::http::api(opened.state.clone()));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = tokio::spawn(async move { axum::serve(listener, app).await });

    let client = Client::builder(format!("http://{addr}/spv/"))
        .password("admin", spv::api::Secret::new(super::ADMIN_PASSWORD))
        .build()
        .unwrap();
    assert_eq!(client.base_url(), format!("http://{addr}/spv"));
    let doc = client
        .call_service(CreateDocument::new(Default::default(), DOC))
        .await
        .unwrap();
    let again = client
        .call_service(GetDocument {
            principal: None,
            id: doc.id,
        })
        .await
        .unwrap();
    assert_eq!(again.id, doc.id);
    let missing = client
        .call_service(GetDocument {
            principal: None,
            id: Uuid::now_v7(),
        })
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
    serving.abort();
    drop(opened);
}
