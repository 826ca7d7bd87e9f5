//! Uploaded assets over HTTP: raw and multipart uploads, sniffing, dedupe, the size limit,
//! bytes with ETags and ranges, metadata, pages, ownership and scopes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::auth::{create_key, password_grant};
use super::{Server, header, png_size, problem};

const PNG: &[u8] = include_bytes!("../../../tests/golden/brand-kit-p1.png");
const BOLD_FONT: &[u8] = include_bytes!("../../../spv/fonts/DejaVuSans-Bold.ttf");
const BOUNDARY: &str = "spv-test-boundary-7e3f";

/// The server's upload limit (`spv::assets::DEFAULT_MAX_UPLOAD_BYTES`).
const UPLOAD_LIMIT: usize = 50 * 1024 * 1024;

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// A raw upload of `bytes` claiming to be `text/plain` (the server sniffs instead).
async fn upload_raw(server: &Server, token: &str, bytes: &[u8]) -> reqwest::Response {
    client()
        .post(server.url("/api/v1/assets"))
        .bearer_auth(token)
        .header("content-type", "text/plain")
        .header("content-disposition", "attachment; filename=\"card.png\"")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

/// Uploads `bytes` and returns the new asset.
async fn uploaded(server: &Server, token: &str, bytes: &[u8]) -> Value {
    let response = upload_raw(server, token, bytes).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

/// A `multipart/form-data` body: a text field `note` first, then the file field `name`.
fn multipart(name: &str, filename: &str, bytes: &[u8]) -> Vec<u8> {
    let mut body = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nnot the file\r\n\
         --{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n\
         Content-Type: application/octet-stream\r\n\r\n"
    )
    .into_bytes();
    body.extend_from_slice(bytes);
    body.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    body
}

async fn upload_multipart(server: &Server, query: &str, body: Vec<u8>) -> reqwest::Response {
    client()
        .post(server.url(&format!("/api/v1/assets{query}")))
        .bearer_auth(&server.token)
        .header(
            "content-type",
            format!("multipart/form-data; boundary={BOUNDARY}"),
        )
        .body(body)
        .send()
        .await
        .unwrap()
}

/// A new user `name`; returns an access token.
async fn user(server: &Server, name: &str) -> String {
    let response = client()
        .post(server.url("/api/v1/users"))
        .bearer_auth(&server.token)
        .json(&json!({"username": name, "password": "a long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let tokens: Value = password_grant(server, name, "a long password")
        .await
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn get(
    server: &Server,
    token: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client().get(server.url(path)).bearer_auth(token);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

/// The caller's assets (first page).
async fn list(server: &Server, token: &str) -> Value {
    let response = get(server, token, "/api/v1/assets", &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

#[tokio::test]
async fn raw_upload_sniffs_dedupes_and_serves_the_bytes() {
    let server = Server::start().await;
    let response = upload_raw(&server, &server.token, PNG).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(response.headers(), "location").to_owned();
    let asset: Value = response.json().await.unwrap();
    let id = asset["id"].as_str().unwrap().to_owned();
    assert_eq!(location, format!("/api/v1/assets/{id}"));
    assert_eq!(
        asset["mime"], "image/png",
        "sniffed, not the header's text/plain"
    );
    let (width, height) = png_size(PNG);
    assert_eq!(
        (asset["width"].as_u64(), asset["height"].as_u64()),
        (Some(width.into()), Some(height.into()))
    );
    assert_eq!(asset["byteSize"], PNG.len());
    assert_eq!(asset["filename"], "card.png");
    assert_eq!(asset["sha256"].as_str().unwrap().len(), 64);
    assert!(asset["dominantColor"].as_str().unwrap().starts_with('#'));

    let again = upload_raw(&server, &server.token, PNG).await;
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "the same bytes: the existing asset"
    );
    assert_eq!(header(again.headers(), "location"), location);
    assert_eq!(again.json::<Value>().await.unwrap()["id"], id.as_str());
    assert_eq!(
        list(&server, &server.token).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    let response = get(&server, &server.token, &location, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    let etag = format!("\"{}\"", asset["sha256"].as_str().unwrap());
    assert_eq!(header(&headers, "etag"), etag);
    assert_eq!(header(&headers, "content-type"), "image/png");
    assert_eq!(
        header(&headers, "cache-control"),
        "private, max-age=31536000, immutable"
    );
    assert_eq!(header(&headers, "accept-ranges"), "bytes");
    assert_eq!(
        header(&headers, "content-disposition"),
        "inline; filename*=UTF-8''card.png"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);

    let response = get(
        &server,
        &server.token,
        &location,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(response.headers(), "etag"), etag);
    assert!(response.bytes().await.unwrap().is_empty());
    let response = get(
        &server,
        &server.token,
        &location,
        &[("if-none-match", "\"other\"")],
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = client()
        .head(server.url(&location))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "etag"), etag);
    assert_eq!(header(response.headers(), "content-type"), "image/png");
    assert_eq!(
        header(response.headers(), "content-length"),
        PNG.len().to_string()
    );
    assert!(response.bytes().await.unwrap().is_empty());

    let meta_path = format!("{location}/meta");
    let response = get(&server, &server.token, &meta_path, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let meta_etag = header(response.headers(), "etag").to_owned();
    assert!(meta_etag.starts_with('"'), "{meta_etag:?}");
    assert_eq!(response.json::<Value>().await.unwrap(), asset);
    let response = get(
        &server,
        &server.token,
        &meta_path,
        &[("if-none-match", &meta_etag)],
    )
    .await;
    assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
    server.stop().await;
}

#[tokio::test]
async fn multipart_upload_of_a_font() {
    let server = Server::start().await;
    let response =
        upload_multipart(&server, "", multipart("file", "dir/Bold.ttf", BOLD_FONT)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(header(response.headers(), "location").starts_with("/api/v1/assets/"));
    let asset: Value = response.json().await.unwrap();
    assert_eq!(asset["mime"], "font/ttf");
    assert_eq!(asset["fontFamily"], "DejaVu Sans");
    assert_eq!(asset["fontWeight"], 700);
    assert_eq!(asset["fontStyle"], "normal");
    assert_eq!(asset["filename"], "Bold.ttf", "the last path segment only");
    assert_eq!(
        asset["byteSize"],
        BOLD_FONT.len(),
        "the field's bytes, nothing of the envelope"
    );
    let location = format!("/api/v1/assets/{}", asset["id"].as_str().unwrap());
    let bytes = get(&server, &server.token, &location, &[])
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(bytes.as_ref(), BOLD_FONT);

    // Any field with a file name will do; `?filename=` wins over the field's name.
    let response = upload_multipart(
        &server,
        "?filename=card.png",
        multipart("upload", "x.bin", PNG),
    )
    .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let asset: Value = response.json().await.unwrap();
    assert_eq!(
        (asset["mime"].as_str(), asset["filename"].as_str()),
        (Some("image/png"), Some("card.png"))
    );

    // Regression: axum's default 2 MiB body limit must not cut multipart uploads short.
    let mut big = PNG.to_vec();
    big.resize(3 * 1024 * 1024, 7);
    let response = upload_multipart(&server, "", multipart("file", "big.png", &big)).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(
        response.json::<Value>().await.unwrap()["byteSize"],
        big.len()
    );

    let no_file = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nx\r\n--{BOUNDARY}--\r\n"
    );
    let p = problem(
        upload_multipart(&server, "", no_file.into_bytes()).await,
        400,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("`file`"), "{p}");
    let p = problem(
        upload_multipart(&server, "", multipart("file", "empty.png", b"")).await,
        400,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("empty"), "{p}");
    let broken = format!(
        "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a\"\r\n\r\nGIF89a..."
    );
    let p = problem(
        upload_multipart(&server, "", broken.into_bytes()).await,
        400,
    )
    .await;
    assert_eq!(p["type"], "urn:spv:problem:invalid-request");
    assert_eq!(
        list(&server, &server.token).await["items"]
            .as_array()
            .unwrap()
            .len(),
        3,
        "a broken upload stores nothing"
    );
    server.stop().await;
}

#[tokio::test]
async fn too_large_is_413_and_stores_nothing() {
    let server = Server::start().await;
    let mut big = PNG.to_vec();
    big.resize(UPLOAD_LIMIT + 1, 0);
    let p = problem(upload_raw(&server, &server.token, &big).await, 413).await;
    assert_eq!(p["type"], "urn:spv:problem:limit-exceeded");
    assert!(
        p["detail"]
            .as_str()
            .unwrap()
            .contains(&UPLOAD_LIMIT.to_string()),
        "{p}"
    );
    assert_eq!(list(&server, &server.token).await["items"], json!([]));
    let files = walk(&server.data.path().join("blobs"));
    assert!(
        files.is_empty(),
        "no blob or temporary file is left: {files:?}"
    );

    let p = problem(upload_raw(&server, &server.token, b"").await, 400).await;
    assert!(p["detail"].as_str().unwrap().contains("empty"), "{p}");

    big.truncate(UPLOAD_LIMIT);
    let response = upload_raw(&server, &server.token, &big).await;
    assert_eq!(
        response.status(),
        StatusCode::CREATED,
        "exactly the limit is fine"
    );
    server.stop().await;
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn single_ranges_and_if_range() {
    let server = Server::start().await;
    let asset = uploaded(&server, &server.token, PNG).await;
    let path = format!("/api/v1/assets/{}", asset["id"].as_str().unwrap());
    let etag = format!("\"{}\"", asset["sha256"].as_str().unwrap());
    let len = PNG.len();
    let range = |value: &'static str| {
        let (server, path) = (&server, &path);
        async move { get(server, &server.token, path, &[("range", value)]).await }
    };

    let response = range("bytes=0-7").await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(response.headers(), "content-range"),
        format!("bytes 0-7/{len}")
    );
    assert_eq!(header(response.headers(), "content-type"), "image/png");
    assert_eq!(header(response.headers(), "etag"), etag);
    assert_eq!(response.bytes().await.unwrap().as_ref(), &PNG[..8]);

    let response = range("bytes=100-").await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(response.headers(), "content-range"),
        format!("bytes 100-{}/{len}", len - 1)
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), &PNG[100..]);

    let response = range("bytes=-12").await;
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        &PNG[len - 12..],
        "the IEND chunk"
    );

    let response = range("bytes=5-999999999").await;
    assert_eq!(
        response.status(),
        StatusCode::PARTIAL_CONTENT,
        "the end is clamped"
    );
    assert_eq!(response.bytes().await.unwrap().as_ref(), &PNG[5..]);

    let response = range("bytes=999999-").await;
    assert_eq!(
        header(response.headers(), "content-range"),
        format!("bytes */{len}")
    );
    let p = problem(response, 416).await;
    assert!(
        p["detail"].as_str().unwrap().contains("not satisfiable"),
        "{p}"
    );

    for ignored in ["bytes=0-1,4-5", "bytes=9-2", "lines=1-2", "bytes=x"] {
        let response = range(ignored).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "{ignored}: the whole asset"
        );
        assert!(response.headers().get("content-range").is_none());
        assert_eq!(response.bytes().await.unwrap().as_ref(), PNG);
    }

    let response = get(
        &server,
        &server.token,
        &path,
        &[("range", "bytes=0-3"), ("if-range", &etag)],
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::PARTIAL_CONTENT,
        "If-Range holds"
    );
    let response = get(
        &server,
        &server.token,
        &path,
        &[("range", "bytes=0-3"), ("if-range", "\"stale\"")],
    )
    .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "If-Range failed: everything"
    );
    assert_eq!(response.bytes().await.unwrap().len(), len);

    let response = client()
        .head(server.url(&path))
        .bearer_auth(&server.token)
        .header("range", "bytes=10-19")
        .send()
        .await
        .unwrap();
    // Range is for GET only (RFC 9110 §14.2): HEAD describes the whole asset.
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-length"),
        len.to_string()
    );
    assert!(response.headers().get("content-range").is_none());
    server.stop().await;
}

#[tokio::test]
async fn assets_are_private_to_their_owner() {
    let server = Server::start().await;
    let ann = user(&server, "ann").await;
    let bob = user(&server, "bob").await;
    let asset = uploaded(&server, &ann, PNG).await;
    let path = format!("/api/v1/assets/{}", asset["id"].as_str().unwrap());

    for p in [path.clone(), format!("{path}/meta")] {
        let response = get(&server, &bob, &p, &[]).await;
        problem(response, 404).await;
        let response = get(&server, &ann, &p, &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{p}");
        let response = get(&server, &server.token, &p, &[]).await;
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "admins see every asset: {p}"
        );
    }
    let response = client()
        .head(server.url(&path))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(list(&server, &bob).await["items"], json!([]));
    let response = client()
        .delete(server.url(&path))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    problem(response, 404).await;

    // Bob's own upload of the same bytes is his own asset, not Ann's.
    let his = uploaded(&server, &bob, PNG).await;
    assert_ne!(his["id"], asset["id"]);
    assert_eq!(his["sha256"], asset["sha256"]);

    let response = client()
        .delete(server.url(&path))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    problem(get(&server, &ann, &path, &[]).await, 404).await;
    let response = client()
        .delete(server.url(&path))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    problem(response, 404).await;
    let his_path = format!("/api/v1/assets/{}", his["id"].as_str().unwrap());
    let response = get(&server, &bob, &his_path, &[]).await;
    assert_eq!(
        response.bytes().await.unwrap().as_ref(),
        PNG,
        "the shared blob stays for Bob"
    );

    let p = problem(
        get(&server, &ann, "/api/v1/assets/not-a-uuid", &[]).await,
        404,
    )
    .await;
    assert!(p["detail"].as_str().unwrap().contains("not-a-uuid"), "{p}");
    server.stop().await;
}

#[tokio::test]
async fn credentials_and_scopes() {
    let server = Server::start().await;
    let asset = uploaded(&server, &server.token, PNG).await;
    let path = format!("/api/v1/assets/{}", asset["id"].as_str().unwrap());

    let anonymous = [
        client()
            .post(server.url("/api/v1/assets"))
            .body(PNG.to_vec()),
        client().get(server.url("/api/v1/assets")),
        client().get(server.url(&path)),
        client().get(server.url(&format!("{path}/meta"))),
        client().delete(server.url(&path)),
    ];
    for request in anonymous {
        let response = request.send().await.unwrap();
        assert!(header(response.headers(), "www-authenticate").starts_with("Bearer"));
        problem(response, 401).await;
    }
    let response = client().head(server.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let reader = create_key(&server, &["assets:read"]).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = get(&server, &reader, &path, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = client()
        .get(server.url(&path))
        .header("x-api-key", &reader)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the key in the API key header"
    );
    let p = problem(upload_raw(&server, &reader, PNG).await, 403).await;
    assert!(
        p["detail"].as_str().unwrap().contains("assets:write"),
        "{p}"
    );
    let response = client()
        .delete(server.url(&path))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    problem(response, 403).await;

    let other = create_key(&server, &["documents:read", "documents:write"]).await["key"]
        .as_str()
        .unwrap()
        .to_owned();
    for p in [
        "/api/v1/assets".to_owned(),
        path.clone(),
        format!("{path}/meta"),
    ] {
        let p = problem(get(&server, &other, &p, &[]).await, 403).await;
        assert!(p["detail"].as_str().unwrap().contains("assets:read"), "{p}");
    }
    assert_eq!(
        list(&server, &server.token).await["items"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "nothing deleted"
    );
    server.stop().await;
}

#[tokio::test]
async fn list_pages_with_metainfo() {
    let server = Server::start().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let asset = uploaded(
            &server,
            &server.token,
            format!("GIF89a asset {i}").as_bytes(),
        )
        .await;
        ids.push(asset["id"].as_str().unwrap().to_owned());
    }
    let page = |query: &'static str| {
        let server = &server;
        async move {
            get(
                server,
                &server.token,
                &format!("/api/v1/assets{query}"),
                &[],
            )
            .await
        }
    };
    let first: Value = page("?perPage=1").await.json().await.unwrap();
    assert_eq!(
        first["_metainfo"],
        json!({"currentPage": 1, "perPage": 1, "hasNext": true, "hasPrev": false})
    );
    assert_eq!(first["items"][0]["id"], ids[2].as_str(), "newest first");
    let middle: Value = page("?perPage=1&page=2").await.json().await.unwrap();
    assert_eq!(middle["_metainfo"]["hasNext"], true);
    assert_eq!(middle["_metainfo"]["hasPrev"], true);
    assert_eq!(middle["items"][0]["id"], ids[1].as_str());
    let last: Value = page("?perPage=2&page=2").await.json().await.unwrap();
    assert_eq!(
        last["_metainfo"],
        json!({"currentPage": 2, "perPage": 2, "hasNext": false, "hasPrev": true})
    );
    assert_eq!(last["items"].as_array().unwrap().len(), 1);
    let past: Value = page("?page=9").await.json().await.unwrap();
    assert_eq!(past["items"], json!([]));
    assert_eq!(past["_metainfo"]["hasNext"], false);
    let all: Value = page("").await.json().await.unwrap();
    assert_eq!(all["_metainfo"]["perPage"], 20);
    assert_eq!(all["items"].as_array().unwrap().len(), 3);

    for bad in ["?perPage=0", "?perPage=101", "?page=0", "?perPage=many"] {
        let p = problem(page(bad).await, 400).await;
        assert_eq!(p["type"], "urn:spv:problem:invalid-request", "{bad}");
    }
    server.stop().await;
}

#[tokio::test]
async fn openapi_lists_asset_routes_with_scopes() {
    let server = Server::start().await;
    let spec = server.openapi().await;
    let paths = &spec["paths"];
    for (path, method, scope) in [
        ("/api/v1/assets", "post", "assets:write"),
        ("/api/v1/assets", "get", "assets:read"),
        ("/api/v1/assets/{id}", "get", "assets:read"),
        ("/api/v1/assets/{id}", "head", "assets:read"),
        ("/api/v1/assets/{id}", "delete", "assets:write"),
        ("/api/v1/assets/{id}/meta", "get", "assets:read"),
    ] {
        let operation = &paths[path][method];
        assert_eq!(operation["tags"], json!(["assets"]), "{method} {path}");
        assert_eq!(
            operation["security"],
            json!([{"bearer": [scope]}, {"apiKey": [scope]}]),
            "{method} {path}: no anonymous access"
        );
    }
    let upload = &paths["/api/v1/assets"]["post"];
    assert!(upload["requestBody"]["content"]["multipart/form-data"].is_object());
    assert!(upload["responses"]["413"].is_object());
    assert!(paths["/api/v1/assets/{id}"]["get"]["responses"]["416"].is_object());
    let params = paths["/api/v1/assets"]["get"]["parameters"].to_string();
    assert!(params.contains("\"perPage\""), "{params}");
    assert!(spec["components"]["schemas"]["Asset"].is_object());
    server.stop().await;
}
