//! `GET /api/v1/documents/{id}/thumbnail`: ETags and 304 without rendering, the two cache
//! levels (memory, rendered blobs surviving a restart), single flight, options and their
//! errors, who may see what, and `sha256:` assets resolved from the owner's uploads.

use reqwest::StatusCode;
use serde_json::{Value, json};
use spv::api::ImageFormat;
use spv::config::Config;

use super::auth::{create_key, password_grant};
use super::documents::created;
use super::{Server, doc, header, png_size, problem};

const RED: [u8; 4] = [255, 0, 0, 255];

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// The server on an existing data directory (to restart on the same data).
async fn start_in(data: tempfile::TempDir) -> Server {
    start_configured(data, |_| {}).await
}

/// The server on an existing data directory, its settings changed by `change`.
pub(super) async fn start_configured(
    data: tempfile::TempDir,
    change: impl FnOnce(&mut Config),
) -> Server {
    Server::start_in(data, change).await
}

/// Stops `server` and hands back its data directory.
pub(super) async fn stop_keeping_data(server: Server) -> tempfile::TempDir {
    let Server {
        stop, task, data, ..
    } = server;
    if let Some(stop) = stop {
        let _ = stop.send(());
    }
    assert!(task.await.unwrap().is_ok());
    data
}

/// The value of the metric line starting with `name` (labels included), 0 when absent.
pub(super) async fn metric(server: &Server, name: &str) -> u64 {
    let text = server.metrics().await;
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

pub(super) async fn renders(server: &Server) -> u64 {
    metric(server, "spv_render_duration_seconds_count{backend=\"cpu\"}").await
}

async fn cache(server: &Server, level: &str, result: &str) -> u64 {
    let name = format!("spv_thumbnail_cache_total{{level=\"{level}\",result=\"{result}\"}}");
    metric(server, &name).await
}

/// Stores `document` as the admin; returns its id.
pub(super) async fn store(server: &Server, document: &Value, public: bool) -> String {
    let query = if public { "?public=true" } else { "" };
    let body = created(server, &server.token, &document.to_string(), query).await;
    body["id"].as_str().unwrap().to_owned()
}

pub(super) fn thumbnail_url(server: &Server, id: &str, query: &str) -> String {
    server.url(&format!("/api/v1/documents/{id}/thumbnail{query}"))
}

/// A GET of a thumbnail, with the admin's token when `token` is `Some("")`.
pub(super) async fn get(
    server: &Server,
    id: &str,
    query: &str,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut request = client().get(thumbnail_url(server, id, query));
    match token {
        Some("") => request = request.bearer_auth(&server.token),
        Some(token) => request = request.bearer_auth(token),
        None => {}
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn etag_304_without_rendering_cache_hits_and_new_content() {
    let server = Server::start().await;
    let id = store(&server, &doc(), false).await;

    let first = get(&server, &id, "?size=100", Some(""), &[]).await;
    assert_eq!(first.status(), StatusCode::OK);
    assert_eq!(header(first.headers(), "content-type"), "image/png");
    assert_eq!(
        header(first.headers(), "cache-control"),
        "private, no-cache"
    );
    let etag = header(first.headers(), "etag").to_owned();
    assert_eq!(etag.len(), 66, "a quoted SHA-256: {etag}");
    let bytes = first.bytes().await.unwrap();
    assert_eq!(png_size(&bytes), (100, 50));
    assert_eq!(renders(&server).await, 1);
    assert_eq!(cache(&server, "memory", "miss").await, 1);
    assert_eq!(cache(&server, "blob", "miss").await, 1);

    let second = get(&server, &id, "?size=100", Some(""), &[]).await;
    assert_eq!(second.status(), StatusCode::OK);
    assert_eq!(header(second.headers(), "etag"), etag);
    assert_eq!(second.bytes().await.unwrap(), bytes);
    assert_eq!(cache(&server, "memory", "hit").await, 1);
    assert_eq!(renders(&server).await, 1, "served from memory");

    let not_modified = get(
        &server,
        &id,
        "?size=100",
        Some(""),
        &[("if-none-match", etag.as_str())],
    )
    .await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(not_modified.headers(), "etag"), etag);
    assert_eq!(
        header(not_modified.headers(), "cache-control"),
        "private, no-cache"
    );
    assert!(not_modified.bytes().await.unwrap().is_empty());
    assert_eq!(renders(&server).await, 1);
    assert_eq!(
        cache(&server, "memory", "hit").await,
        1,
        "304 without looking at the cache"
    );

    let other = get(
        &server,
        &id,
        "?size=101",
        Some(""),
        &[("if-none-match", etag.as_str())],
    )
    .await;
    assert_eq!(other.status(), StatusCode::OK, "other options, other ETag");
    assert_ne!(header(other.headers(), "etag"), etag);

    // New content: the old ETag no longer matches.
    let mut changed = doc();
    changed["pages"][0]["background"] = json!("#00ff00");
    let response = client()
        .put(server.url(&format!("/api/v1/documents/{id}/content")))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .body(changed.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let after = get(
        &server,
        &id,
        "?size=100",
        Some(""),
        &[("if-none-match", etag.as_str())],
    )
    .await;
    assert_eq!(after.status(), StatusCode::OK);
    assert_ne!(header(after.headers(), "etag"), etag);
    assert_ne!(after.bytes().await.unwrap(), bytes, "the new content drawn");
    server.stop().await;
}

#[tokio::test]
async fn rendered_blobs_survive_a_restart() {
    let first = Server::start().await;
    let id = store(&first, &doc(), true).await;
    let response = get(&first, &id, "?size=64&format=webp", None, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let etag = header(response.headers(), "etag").to_owned();
    let bytes = response.bytes().await.unwrap();
    assert_eq!(renders(&first).await, 1);
    let data = stop_keeping_data(first).await;

    let second = start_in(data).await;
    let response = get(&second, &id, "?size=64&format=webp", None, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "content-type"), "image/webp");
    assert_eq!(header(response.headers(), "etag"), etag);
    assert_eq!(response.bytes().await.unwrap(), bytes);
    assert_eq!(cache(&second, "memory", "miss").await, 1);
    assert_eq!(cache(&second, "blob", "hit").await, 1);
    assert_eq!(
        renders(&second).await,
        0,
        "nothing rendered after the restart"
    );

    let again = get(&second, &id, "?size=64&format=webp", None, &[]).await;
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(
        cache(&second, "memory", "hit").await,
        1,
        "the blob filled memory"
    );
    second.stop().await;
}

#[tokio::test]
async fn the_stored_level_keeps_to_spv_thumbnail_store_bytes() {
    const CAP: u64 = 3000;
    let data = tempfile::tempdir().unwrap();
    let server = start_configured(data, |c| c.thumbnail_store_bytes = CAP).await;
    let id = store(&server, &doc(), true).await;
    // An anonymous caller walking sizes of a public document.
    let mut served = 0;
    for size in 40..70 {
        let response = get(&server, &id, &format!("?size={size}"), None, &[]).await;
        assert_eq!(response.status(), StatusCode::OK);
        served += response.bytes().await.unwrap().len() as u64;
    }
    assert!(
        served > 2 * CAP,
        "the walk rendered more than the cap: {served}"
    );
    let data = stop_keeping_data(server).await;
    let (db, blobs) = crate::stack::open_stores(data.path()).await;
    let stored = spv::thumbnails::RenderedStore::new(db.clone(), blobs)
        .stored_bytes()
        .await
        .unwrap();
    assert!(stored > 0 && stored <= CAP, "{stored} bytes stored");
    db.close().await;

    // 0: no stored level at all; a restart renders again (no Redis tier either, under
    // SPV_TEST_STACK=scaled: it would keep the thumbnail across the restart).
    let no_levels = |c: &mut Config| {
        c.thumbnail_store_bytes = 0;
        c.thumbnail_redis_ttl_secs = 0;
    };
    let server = start_configured(data, no_levels).await;
    let response = get(&server, &id, "?size=64", None, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let data = stop_keeping_data(server).await;
    let server = start_configured(data, no_levels).await;
    let response = get(&server, &id, "?size=64", None, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        renders(&server).await,
        1,
        "rendered again after the restart"
    );
    assert_eq!(cache(&server, "blob", "hit").await, 0);
    server.stop().await;
}

#[tokio::test]
async fn concurrent_identical_requests_render_once() {
    let server = Server::start().await;
    let id = store(&server, &doc(), true).await;
    let url = thumbnail_url(&server, &id, "?size=300&format=jpeg");
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move {
                let response = reqwest::get(url).await.unwrap();
                assert_eq!(response.status(), StatusCode::OK);
                let etag = header(response.headers(), "etag").to_owned();
                (etag, response.bytes().await.unwrap())
            })
        })
        .collect();
    let mut answers = Vec::new();
    for request in requests {
        answers.push(request.await.unwrap());
    }
    assert!(answers.iter().all(|a| *a == answers[0]), "the same image");
    assert_eq!(renders(&server).await, 1, "eight requests, one render");
    server.stop().await;
}

#[tokio::test]
async fn options_and_their_errors() {
    let server = Server::start().await;
    let id = store(&server, &doc(), false).await;
    let ok = |query: &'static str| get(&server, &id, query, Some(""), &[]);

    let boxed = ok("?width=64&height=64&fit=cover").await;
    assert_eq!(png_size(&boxed.bytes().await.unwrap()), (64, 64));
    let webp = get(
        &server,
        &id,
        "?format=auto&size=32",
        Some(""),
        &[("accept", "image/avif,image/webp,*/*")],
    )
    .await;
    assert_eq!(header(webp.headers(), "content-type"), "image/webp");
    assert!(header(webp.headers(), "vary").eq_ignore_ascii_case("accept"));
    let png = get(&server, &id, "?format=auto&size=32", Some(""), &[]).await;
    assert_eq!(header(png.headers(), "content-type"), "image/png");
    assert_ne!(
        header(png.headers(), "etag"),
        header(webp.headers(), "etag")
    );

    let p = problem(ok("?size=5000").await, 400).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("4096") && detail.contains("SPV_MAX_THUMBNAIL_SIZE"),
        "{detail}"
    );
    let p = problem(ok("?format=gif").await, 400).await;
    assert_eq!(
        p["detail"],
        "format: \"gif\" is not valid; expected png, webp, jpeg or auto"
    );
    // A page the document lacks is not found, as the URL of a thumbnail of it would be.
    let p = problem(ok("?page=1").await, 404).await;
    assert_eq!(
        p["detail"],
        "page 1 does not exist; the document has 1 page (0 to 0)"
    );
    let p = problem(ok("?width=10").await, 400).await;
    assert!(p["detail"].as_str().unwrap().contains("together"), "{p}");
    let p = problem(ok("?fit=stretch&width=4&height=4").await, 400).await;
    assert!(p["detail"].as_str().unwrap().starts_with("fit:"), "{p}");
    let p = problem(ok("?sise=10").await, 400).await;
    assert!(p["detail"].as_str().unwrap().contains("sise"), "{p}");
    let p = problem(ok("?size=0").await, 400).await;
    assert_eq!(p["type"], "urn:spv:problem:invalid-request");
    assert_eq!(p["instance"], format!("/api/v1/documents/{id}/thumbnail"));

    let p = problem(get(&server, "nope", "", Some(""), &[]).await, 404).await;
    assert!(p["detail"].as_str().unwrap().contains("UUID"), "{p}");
    let missing = "0190a5c4-0000-7000-8000-000000000000";
    problem(get(&server, missing, "", Some(""), &[]).await, 404).await;
    assert_eq!(
        renders(&server).await,
        3,
        "only the three good requests rendered"
    );
    server.stop().await;
}

/// A user `name` with an API key of `scopes`; returns the key.
pub(super) async fn user_key(server: &Server, name: &str, scopes: &[&str]) -> String {
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
    let token = tokens["access_token"].as_str().unwrap();
    let response = client()
        .post(server.url("/api/v1/api-keys"))
        .bearer_auth(token)
        .json(&json!({"name": "k", "scopes": scopes}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let key: Value = response.json().await.unwrap();
    key["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn public_for_anyone_private_for_the_owner() {
    let server = Server::start().await;
    let public = store(&server, &doc(), true).await;
    let private = store(&server, &doc(), false).await;

    let response = get(&server, &public, "", None, &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "cache-control"),
        "public, max-age=60"
    );
    assert_eq!(png_size(&response.bytes().await.unwrap()), (256, 128));
    let p = problem(get(&server, &private, "", None, &[]).await, 404).await;
    assert_eq!(p["type"], "urn:spv:problem:not-found");

    // Another user's gallery key: public only; the private one does not exist for it.
    let gallery = user_key(&server, "ann", &["gallery:read"]).await;
    let with_key = |id: &str| {
        client()
            .get(thumbnail_url(&server, id, ""))
            .header("x-api-key", &gallery)
            .send()
    };
    assert_eq!(with_key(&public).await.unwrap().status(), StatusCode::OK);
    problem(with_key(&private).await.unwrap(), 404).await;

    // The owner needs thumbnails:read for a private document.
    let own_gallery = create_key(&server, &["gallery:read"]).await;
    let own_gallery = own_gallery["key"].as_str().unwrap();
    let p = problem(
        get(&server, &private, "", Some(own_gallery), &[]).await,
        403,
    )
    .await;
    assert!(
        p["detail"].as_str().unwrap().contains("thumbnails:read"),
        "{p}"
    );
    let own_thumbs = create_key(&server, &["thumbnails:read"]).await;
    let own_thumbs = own_thumbs["key"].as_str().unwrap();
    let response = get(&server, &private, "", Some(own_thumbs), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);

    // A credential that is sent must be valid and hold a scope of the route.
    let response = get(&server, &public, "", Some("not-a-token"), &[]).await;
    problem(response, 401).await;
    let jobs = create_key(&server, &["jobs:read"]).await;
    let jobs = jobs["key"].as_str().unwrap();
    problem(get(&server, &public, "", Some(jobs), &[]).await, 403).await;

    let spec = server.openapi().await;
    let op = &spec["paths"]["/api/v1/documents/{id}/thumbnail"]["get"];
    assert_eq!(op["security"][0], json!({}), "anonymous callers allowed");
    assert_eq!(op["security"][1], json!({"bearer": ["thumbnails:read"]}));
    server.stop().await;
}

/// A 10 × 10 page filled by the image asset `sha256:<hash>`.
fn doc_with_asset(hash: &str) -> Value {
    json!({"format": "glyph", "version": 1,
        "assets": {"photo": {"type": "image", "src": format!("sha256:{hash}")}},
        "pages": [{"width": 10, "height": 10, "background": "#0000ff", "layers": [
            {"type": "image", "asset": "photo", "x": 0, "y": 0, "width": 10, "height": 10}]}]})
}

fn centre(png: &[u8]) -> [u8; 4] {
    let image =
        spv::render::image::decode("thumbnail", png, &spv::glyph::Limits::default()).unwrap();
    let i = ((5 * image.width() + 5) * 4) as usize;
    let p = &image.premultiplied_rgba8()[i..i + 4];
    [p[0], p[1], p[2], p[3]]
}

#[tokio::test]
async fn sha256_assets_resolve_from_the_owners_uploads() {
    let server = Server::start().await;
    let red = spv::render::encode::encode(&RED.repeat(4), 2, 2, ImageFormat::Png).unwrap();
    let hash = spv::store::BlobKey::of(&red).to_string();
    let document = doc_with_asset(&hash);
    let id = store(&server, &document, false).await;

    // Before the upload: strict fails; lenient paints a placeholder that is not cached.
    let p = problem(get(&server, &id, "?size=10", Some(""), &[]).await, 422).await;
    assert_eq!(p["type"], "urn:spv:problem:missing-asset");
    let lenient = get(&server, &id, "?size=10&lenient=true", Some(""), &[]).await;
    assert_eq!(lenient.status(), StatusCode::OK);
    assert!(
        lenient.headers().get("etag").is_none(),
        "a placeholder has no ETag"
    );
    assert_eq!(header(lenient.headers(), "cache-control"), "no-store");
    assert_ne!(centre(&lenient.bytes().await.unwrap()), RED);

    let response = client()
        .post(server.url("/api/v1/assets"))
        .bearer_auth(&server.token)
        .body(red.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);

    for query in ["?size=10", "?size=10&lenient=true"] {
        let response = get(&server, &id, query, Some(""), &[]).await;
        assert_eq!(response.status(), StatusCode::OK, "{query}");
        assert!(response.headers().get("etag").is_some());
        assert_eq!(centre(&response.bytes().await.unwrap()), RED, "{query}");
    }

    // An inline document of POST /api/v1/thumbnails resolves against the caller's uploads.
    let response = client()
        .post(server.url("/api/v1/thumbnails"))
        .bearer_auth(&server.token)
        .json(&json!({"document": document, "size": 10}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(centre(&response.bytes().await.unwrap()), RED);

    // Nobody else's upload counts: ann's inline render of it misses the asset.
    let ann = user_key(&server, "ann", &["thumbnails:read"]).await;
    let response = client()
        .post(server.url("/api/v1/thumbnails"))
        .header("x-api-key", &ann)
        .json(&json!({"document": document, "size": 10, "lenient": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("etag").is_none());
    assert_ne!(centre(&response.bytes().await.unwrap()), RED);
    server.stop().await;
}

#[tokio::test]
async fn owners_of_identical_documents_share_neither_renders_nor_etags() {
    let server = Server::start().await;
    let red = spv::render::encode::encode(&RED.repeat(4), 2, 2, ImageFormat::Png).unwrap();
    let document = doc_with_asset(&spv::store::BlobKey::of(&red).to_string());
    // The admin (Ann here) uploads the image; Bob stores the same document bytes.
    let response = client()
        .post(server.url("/api/v1/assets"))
        .bearer_auth(&server.token)
        .body(red)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let anns = store(&server, &document, false).await;
    let bob = user_key(
        &server,
        "bob",
        &["documents:write", "documents:read", "thumbnails:read"],
    )
    .await;
    let bobs = created(&server, &bob, &document.to_string(), "").await;
    let bobs = bobs["id"].as_str().unwrap();

    // Ann's render first, so that a shared cache entry would be there for Bob.
    let response = get(&server, &anns, "?size=10", Some(""), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    let anns_etag = header(response.headers(), "etag").to_owned();
    assert_eq!(centre(&response.bytes().await.unwrap()), RED);
    let p = problem(get(&server, bobs, "?size=10", Some(&bob), &[]).await, 422).await;
    assert_eq!(p["type"], "urn:spv:problem:missing-asset");
    let response = get(&server, bobs, "?size=10&lenient=true", Some(&bob), &[]).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_ne!(centre(&response.bytes().await.unwrap()), RED);
    let response = get(&server, &anns, "?size=10", Some(""), &[]).await;
    assert_eq!(
        header(response.headers(), "etag"),
        anns_etag,
        "Ann's is unchanged"
    );

    // POST /api/v1/thumbnails: the ETag names the caller, so Ann's does not answer Bob
    // with a 304 for pixels his uploads cannot draw.
    let post = |token: &str, if_none_match: Option<&str>| {
        let mut request = client()
            .post(server.url("/api/v1/thumbnails"))
            .bearer_auth(token)
            .json(&json!({"document": document, "size": 10, "lenient": true}));
        if let Some(etag) = if_none_match {
            request = request.header("if-none-match", etag);
        }
        request.send()
    };
    let response = post(&server.token, None).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let posted_etag = header(response.headers(), "etag").to_owned();
    assert_eq!(centre(&response.bytes().await.unwrap()), RED);
    let again = post(&server.token, Some(&posted_etag)).await.unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED, "Ann's own ETag");
    let response = post(&bob, Some(&posted_etag)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "not Ann's 304");
    assert_ne!(centre(&response.bytes().await.unwrap()), RED);
    server.stop().await;
}
