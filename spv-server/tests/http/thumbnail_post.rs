//! `POST /api/v1/thumbnails` with `"document": "<uuid>"`: a stored document rendered for a
//! caller who may read it, through the same caches and ETags as
//! `GET /api/v1/documents/{id}/thumbnail`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::auth::create_key;
use super::thumbnail_cache::{get, renders, store, user_key};
use super::{Server, doc, header, png_size, problem};

/// A POST of `body` with `token` (the admin's when `None`) and extra headers.
async fn post(
    server: &Server,
    body: &Value,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = reqwest::Client::new()
        .post(server.url("/api/v1/thumbnails"))
        .bearer_auth(token.unwrap_or(&server.token))
        .json(body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_stored_document_shares_the_get_routes_caches_and_etags() {
    let server = Server::start().await;
    let id = store(&server, &doc(), false).await;

    let posted = post(&server, &json!({"document": id, "size": 100}), None, &[]).await;
    assert_eq!(posted.status(), StatusCode::OK);
    assert_eq!(header(posted.headers(), "content-type"), "image/png");
    assert_eq!(
        header(posted.headers(), "cache-control"),
        "private, no-cache"
    );
    let etag = header(posted.headers(), "etag").to_owned();
    let bytes = posted.bytes().await.unwrap();
    assert_eq!(png_size(&bytes), (100, 50));
    assert_eq!(renders(&server).await, 1);

    // The GET route finds the POST's render in the cache, under the same ETag.
    let got = get(&server, &id, "?size=100", Some(""), &[]).await;
    assert_eq!(got.status(), StatusCode::OK);
    assert_eq!(header(got.headers(), "etag"), etag);
    assert_eq!(got.bytes().await.unwrap(), bytes);
    assert_eq!(renders(&server).await, 1, "served from the cache");

    // The cache's ETag revalidates a POST without rendering.
    let body = json!({"document": id, "size": 100});
    let again = post(&server, &body, None, &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(again.headers(), "etag"), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    // Other options: another ETag, another render.
    let body = json!({"document": id, "width": 40, "height": 40, "fit": "cover", "format": "webp"});
    let other = post(&server, &body, None, &[("if-none-match", &etag)]).await;
    assert_eq!(other.status(), StatusCode::OK);
    assert_eq!(header(other.headers(), "content-type"), "image/webp");
    assert_ne!(header(other.headers(), "etag"), etag);
    assert_eq!(renders(&server).await, 2);

    // A page the document does not have (not found), a size over the maximum.
    let p = problem(
        post(&server, &json!({"document": id, "page": 3}), None, &[]).await,
        404,
    )
    .await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("page 3 does not exist"),
        "{p}"
    );
    let body = json!({"document": id, "size": 5000});
    let p = problem(post(&server, &body, None, &[]).await, 400).await;
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains("SPV_MAX_THUMBNAIL_SIZE"),
        "{p}"
    );
    server.stop().await;
}

#[tokio::test]
async fn stored_documents_need_read_rights_and_the_scope() {
    let server = Server::start().await;
    let public = store(&server, &doc(), true).await;
    let private = store(&server, &doc(), false).await;

    // Another user holding thumbnails:read: the admin's public document, not the private.
    let ann = user_key(&server, "ann", &["thumbnails:read"]).await;
    let response = post(&server, &json!({"document": public}), Some(&ann), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "cache-control"),
        "public, max-age=60"
    );
    assert_eq!(png_size(&response.bytes().await.unwrap()), (256, 128));
    let response = post(&server, &json!({"document": private}), Some(&ann), &[]).await;
    let p = problem(response, 404).await;
    assert_eq!(p["type"], "urn:spv:problem:not-found");
    let missing = uuid::Uuid::now_v7().to_string();
    let response = post(&server, &json!({"document": missing}), Some(&ann), &[]).await;
    problem(response, 404).await;

    // Without thumbnails:read, even the owner's own public document is refused.
    let gallery = create_key(&server, &["gallery:read", "documents:read"]).await;
    let gallery = gallery["key"].as_str().unwrap();
    let response = post(&server, &json!({"document": public}), Some(gallery), &[]).await;
    let p = problem(response, 403).await;
    assert!(
        p["detail"].as_str().unwrap().contains("thumbnails:read"),
        "{p}"
    );

    // Not a UUID and not base64: named in the error.
    let response = post(&server, &json!({"document": "not-a-document"}), None, &[]).await;
    let p = problem(response, 400).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("document: the string is neither a document id"),
        "{p}"
    );
    server.stop().await;
}
