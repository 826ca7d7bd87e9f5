//! Signed thumbnail URLs (`SPV_URL_SIGNING_KEYS`): a valid signature reads a private
//! thumbnail without a credential, from the same cache entry and with the same ETag as
//! the unsigned URL; expired, tampered and foreign signatures are 403
//! `invalid-signature`; keys rotate without a URL signed by either failing.

use std::time::{SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use spv::signing::SigningKeys;

use super::thumbnail_cache::{metric, renders, store};
use super::{Server, doc, header, png_size, problem};

const OLD: &str = "0101010101010101010101010101010101010101010101010101010101010101";
/// The same length in base64 (the variable takes either).
const NEW: &str = "AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

fn keys(text: &str) -> SigningKeys {
    text.parse().unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn start(keys: &str) -> Server {
    let keys = self::keys(keys);
    Server::start_with(move |c| c.url_signing_keys = keys).await
}

/// `path_and_query` signed by `keys`, valid for an hour, as a full URL of `server`.
fn signed(server: &Server, keys: &SigningKeys, path_and_query: &str) -> String {
    server.url(&keys.sign(path_and_query, now() + 3600).unwrap())
}

async fn anonymous(url: &str) -> reqwest::Response {
    reqwest::get(url).await.unwrap()
}

async fn refused(url: &str, expected: &str) {
    let body = problem(anonymous(url).await, 403).await;
    assert_eq!(body["type"], "urn:spv:problem:invalid-signature", "{body}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(expected), "{url}: {detail}");
}

#[tokio::test]
async fn a_signed_url_reads_a_private_thumbnail_without_a_token_from_the_same_cache() {
    let server = start(OLD).await;
    let id = store(&server, &doc(), false).await;
    let path = format!("/api/v1/documents/{id}/thumbnail");

    // Without a credential or a signature, a private document does not exist.
    let plain = anonymous(&server.url(&format!("{path}?size=100"))).await;
    assert_eq!(plain.status(), StatusCode::NOT_FOUND);

    // The owner's request renders once and fills the cache.
    let owner = reqwest::Client::new()
        .get(server.url(&format!("{path}?size=100")))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(owner.status(), StatusCode::OK);
    let etag = header(owner.headers(), "etag").to_owned();
    let bytes = owner.bytes().await.unwrap();
    assert_eq!(renders(&server).await, 1);

    // The signed URL: no token, same ETag and bytes, served from memory.
    let keys = keys(OLD);
    let url = signed(&server, &keys, &format!("{path}?size=100"));
    let response = anonymous(&url).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "etag"), etag);
    assert_eq!(
        header(response.headers(), "cache-control"),
        "public, max-age=60",
        "shared caches may keep it"
    );
    assert_eq!(response.bytes().await.unwrap(), bytes);
    assert_eq!(
        renders(&server).await,
        1,
        "the signature is not in the cache key"
    );
    let hits = "spv_thumbnail_cache_total{level=\"memory\",result=\"hit\"}";
    assert_eq!(metric(&server, hits).await, 1);

    // `If-None-Match` with the signed URL: 304 from the same ETag.
    let revalidated = reqwest::Client::new()
        .get(&url)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(revalidated.status(), StatusCode::NOT_MODIFIED);

    // The query's order does not matter (a CDN may sort it); its spelling does.
    let (base, query) = url.split_once('?').unwrap();
    let mut pairs: Vec<&str> = query.split('&').collect();
    pairs.reverse();
    let reordered = anonymous(&format!("{base}?{}", pairs.join("&"))).await;
    assert_eq!(reordered.status(), StatusCode::OK);

    // Other options signed: their own thumbnail, still without a token.
    let webp = signed(&server, &keys, &format!("{path}?size=40&format=webp"));
    let response = anonymous(&webp).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "content-type"), "image/webp");

    let png = anonymous(&signed(&server, &keys, &format!("{path}?size=64"))).await;
    assert_eq!(png_size(&png.bytes().await.unwrap()), (64, 32));
    let valid = "spv_signed_urls_total{result=\"valid\"}";
    assert_eq!(metric(&server, valid).await, 5);
}

#[tokio::test]
async fn expired_tampered_and_foreign_signatures_are_403() {
    let server = start(OLD).await;
    let id = store(&server, &doc(), false).await;
    let other = store(&server, &doc(), false).await;
    let path = format!("/api/v1/documents/{id}/thumbnail");
    let keys = keys(OLD);

    let expired = keys.sign(&format!("{path}?size=100"), now() - 10).unwrap();
    refused(&server.url(&expired), "expired").await;

    let url = signed(&server, &keys, &format!("{path}?size=100"));
    // Another document with this document's signature.
    refused(&url.replace(&id, &other), "does not match").await;
    // A changed, an added and a removed option.
    refused(&url.replace("size=100", "size=101"), "does not match").await;
    refused(
        &url.replace("size=100", "size=100&format=webp"),
        "does not match",
    )
    .await;
    refused(&url.replace("size=100&", ""), "does not match").await;
    // A later expiry.
    let later = url.replace("expires=", "expires=9");
    refused(&later, "does not match").await;
    // Signed with a key the server does not hold.
    let foreign = self::keys(NEW).sign(&format!("{path}?size=100"), now() + 60);
    refused(&server.url(&foreign.unwrap()), "does not match").await;
    // Half a signature, or none.
    let (without, _) = url.split_once("&signature=").unwrap();
    refused(without, "no `signature`").await;
    refused(&format!("{url}x"), "43 characters").await;

    // A token does not rescue a bad signature.
    let with_token = reqwest::Client::new()
        .get(url.replace("size=100", "size=101"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), StatusCode::FORBIDDEN);

    let refusals = "spv_signed_urls_total{result=\"refused\"}";
    assert_eq!(metric(&server, refusals).await, 10);
    assert_eq!(renders(&server).await, 0, "nothing refused was rendered");

    // A server without keys refuses every signed URL, naming why.
    let keyless = Server::start().await;
    let id = store(&keyless, &doc(), true).await;
    let url = keys.sign(&format!("/api/v1/documents/{id}/thumbnail"), now() + 60);
    refused(&keyless.url(&url.unwrap()), "no SPV_URL_SIGNING_KEYS").await;
}

#[tokio::test]
async fn keys_rotate_without_breaking_urls() {
    // The old key alone: a URL signed with it.
    let server = start(OLD).await;
    let id = store(&server, &doc(), false).await;
    let path = format!("/api/v1/documents/{id}/thumbnail?size=50");
    let by_old = keys(OLD).sign(&path, now() + 3600).unwrap();
    assert_eq!(
        anonymous(&server.url(&by_old)).await.status(),
        StatusCode::OK
    );
    let data = super::thumbnail_cache::stop_keeping_data(server).await;

    // The new key first, the old one still there: both URLs hold, new ones use the new key.
    let both = format!("{NEW},{OLD}");
    let server = super::thumbnail_cache::start_configured(data, |c| {
        c.url_signing_keys = keys(&both);
    })
    .await;
    let expires = now() + 3600;
    let by_both = keys(&both).sign(&path, expires).unwrap();
    assert_eq!(
        by_both,
        keys(NEW).sign(&path, expires).unwrap(),
        "the first key signs"
    );
    for url in [&by_old, &by_both] {
        assert_eq!(
            anonymous(&server.url(url)).await.status(),
            StatusCode::OK,
            "{url}"
        );
    }
    let data = super::thumbnail_cache::stop_keeping_data(server).await;

    // The old key retired: its URLs stop working, the new key's go on.
    let server = super::thumbnail_cache::start_configured(data, |c| {
        c.url_signing_keys = keys(NEW);
    })
    .await;
    refused(&server.url(&by_old), "does not match").await;
    assert_eq!(
        anonymous(&server.url(&by_both)).await.status(),
        StatusCode::OK
    );
}
