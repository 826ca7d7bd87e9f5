//! Stored documents over HTTP: create, read, list, change, delete, ownership and ETags.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Server, doc, header, problem};

/// A `.glyph` document with an unknown field, as exact bytes.
pub(super) const BYTES: &str = r#"{"format":"glyph","version":1,"title":"Card","x-unknown":{"keep":[1,2]},
  "pages":[{"width":300,"height":200,"layers":[]}]}"#;

pub(super) async fn create(
    server: &Server,
    token: &str,
    body: &str,
    query: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url(&format!("/api/v1/documents{query}")))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .unwrap()
}

pub(super) async fn created(server: &Server, token: &str, body: &str, query: &str) -> Value {
    let response = create(server, token, body, query).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

#[tokio::test]
async fn create_get_304_and_content_round_trip() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let response = create(&server, &server.token, BYTES, "").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(response.headers(), "location").to_owned();
    let etag = header(response.headers(), "etag").to_owned();
    let body: Value = response.json().await.unwrap();
    let id = body["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/documents/{id}"));
    assert_eq!(body["title"], "Card");
    assert_eq!(body["version"], 1);
    assert_eq!(body["pages"][0]["width"], 300.0);
    assert!(etag.starts_with('"'), "{etag:?}");

    let response = client
        .get(server.url(&location))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "etag"), etag);
    let got: Value = response.json().await.unwrap();
    assert_eq!(got["id"], id);

    let response = client
        .get(server.url(&location))
        .bearer_auth(&server.token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);

    let response = client
        .head(server.url(&location))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "etag"), etag);

    let response = client
        .get(server.url(&format!("{location}/content")))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/json"
    );
    assert_eq!(header(response.headers(), "etag"), etag);
    assert_eq!(response.bytes().await.unwrap().as_ref(), BYTES.as_bytes());

    let response = client
        .get(server.url(&format!("{location}/content")))
        .bearer_auth(&server.token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);

    let response = client
        .get(server.url("/api/v1/documents/not-a-uuid"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    problem(response, 404).await;
    server.stop().await;
}

#[tokio::test]
async fn list_pages_with_metainfo() {
    let server = Server::start().await;
    let body = doc().to_string();
    for i in 0..3 {
        created(&server, &server.token, &body, &format!("?title=doc{i}")).await;
    }
    let client = reqwest::Client::new();
    let page = |q: &'static str| {
        client
            .get(server.url(&format!("/api/v1/documents{q}")))
            .bearer_auth(&server.token)
            .send()
    };
    let first: Value = page("?perPage=2").await.unwrap().json().await.unwrap();
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    assert_eq!(first["items"][0]["title"], "doc2", "newest first");
    assert_eq!(
        first["_metainfo"],
        json!({"currentPage": 1, "perPage": 2, "hasNext": true, "hasPrev": false})
    );
    let second: Value = page("?perPage=2&page=2")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(second["items"].as_array().unwrap().len(), 1);
    assert_eq!(second["_metainfo"]["hasNext"], false);
    assert_eq!(second["_metainfo"]["hasPrev"], true);
    let filtered: Value = page("?title=doc1").await.unwrap().json().await.unwrap();
    assert_eq!(filtered["items"].as_array().unwrap().len(), 1);
    problem(page("?perPage=nope").await.unwrap(), 400).await;
    server.stop().await;
}

#[tokio::test]
async fn ndjson_streams_the_whole_list() {
    let server = Server::start().await;
    let body = doc().to_string();
    for i in 0..25 {
        created(&server, &server.token, &body, &format!("?title=doc{i}")).await;
    }
    let client = reqwest::Client::new();
    let stream = |q: &'static str, accept: &'static str| {
        client
            .get(server.url(&format!("/api/v1/documents{q}")))
            .bearer_auth(&server.token)
            .header("accept", accept)
            .send()
    };
    // More than one default page, paging parameters ignored, newest first.
    let response = stream("?perPage=2", "application/json;q=0.5, application/x-ndjson")
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/x-ndjson"
    );
    let text = response.text().await.unwrap();
    assert!(text.ends_with('\n'));
    let titles: Vec<String> = text
        .lines()
        .map(|line| {
            serde_json::from_str::<Value>(line).unwrap()["title"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let expected: Vec<String> = (0..25).rev().map(|i| format!("doc{i}")).collect();
    assert_eq!(titles, expected);

    // Filters still apply; q=0 means "not this one".
    let filtered = stream("?title=doc2", "application/x-ndjson").await.unwrap();
    assert_eq!(filtered.text().await.unwrap().lines().count(), 1 + 5);
    let refused = stream("", "application/x-ndjson;q=0, application/json")
        .await
        .unwrap();
    assert_eq!(
        header(refused.headers(), "content-type"),
        "application/json"
    );
    assert_eq!(header(refused.headers(), "vary"), "accept");
    let json_preferred = stream("", "application/json, application/x-ndjson;q=0.1")
        .await
        .unwrap();
    assert_eq!(
        header(json_preferred.headers(), "content-type"),
        "application/json"
    );
    let browser = stream("", "text/html,*/*;q=0.8").await.unwrap();
    assert_eq!(
        header(browser.headers(), "content-type"),
        "application/json"
    );
    server.stop().await;
}

#[tokio::test]
async fn put_patch_delete_with_if_match() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let response = create(&server, &server.token, BYTES, "").await;
    let location = header(response.headers(), "location").to_owned();
    let etag = header(response.headers(), "etag").to_owned();

    let mut changed = doc();
    changed["title"] = json!("Changed");
    let changed = changed.to_string();
    let response = client
        .put(server.url(&format!("{location}/content")))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .header("if-match", "\"stale.1\"")
        .body(changed.clone())
        .send()
        .await
        .unwrap();
    let p = problem(response, 412).await;
    assert_eq!(p["type"], "urn:spv:problem:precondition-failed");
    let content = client
        .get(server.url(&format!("{location}/content")))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(content.as_ref(), BYTES.as_bytes(), "nothing changed");

    let response = client
        .put(server.url(&format!("{location}/content")))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .header("if-match", &etag)
        .body(changed.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let new_etag = header(response.headers(), "etag").to_owned();
    assert_ne!(new_etag, etag);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["version"], 2);

    let response = client
        .patch(server.url(&location))
        .bearer_auth(&server.token)
        .header("content-type", "application/merge-patch+json")
        .header("if-match", &new_etag)
        .body(r#"{"title":"Renamed","tags":["a"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let patched_etag = header(response.headers(), "etag").to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["title"].clone(), body["version"].clone()),
        (json!("Renamed"), json!(3))
    );

    let response = client
        .delete(server.url(&location))
        .bearer_auth(&server.token)
        .header("if-match", &etag)
        .send()
        .await
        .unwrap();
    problem(response, 412).await;
    let response = client
        .delete(server.url(&location))
        .bearer_auth(&server.token)
        .header("if-match", &patched_etag)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let response = client
        .get(server.url(&location))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    problem(response, 404).await;
    server.stop().await;
}

#[tokio::test]
async fn openapi_lists_document_routes_with_scopes() {
    let server = Server::start().await;
    let spec = server.openapi().await;
    for (path, method, scope) in [
        ("/api/v1/documents", "post", "documents:write"),
        ("/api/v1/documents", "get", "documents:read"),
        ("/api/v1/documents/{id}", "get", "documents:read"),
        ("/api/v1/documents/{id}", "head", "documents:read"),
        ("/api/v1/documents/{id}", "patch", "documents:write"),
        ("/api/v1/documents/{id}", "delete", "documents:write"),
        ("/api/v1/documents/{id}/content", "get", "documents:read"),
        ("/api/v1/documents/{id}/content", "put", "documents:write"),
    ] {
        let security = &spec["paths"][path][method]["security"];
        assert!(
            security
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["bearer"] == json!([scope])),
            "{method} {path}: {security}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn packages_upload_and_download_whole() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let package = spv::glyph::Package::write(BYTES.as_bytes(), &[]).unwrap();
    let response = client
        .post(server.url("/api/v1/documents?public=true"))
        .bearer_auth(&server.token)
        .header("content-type", "application/zip")
        .body(package.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(response.headers(), "location").to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (body["package"].clone(), body["public"].clone()),
        (json!(true), json!(true))
    );
    let response = client
        .get(server.url(&format!("{location}/content")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/zip"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), package.as_slice());

    let response = client
        .post(server.url("/api/v1/documents"))
        .bearer_auth(&server.token)
        .header("content-type", "text/plain")
        .body(BYTES)
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
    server.stop().await;
}
