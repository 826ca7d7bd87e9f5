//! `SPV_BLOB_URL=s3://…`: assets uploaded through the API live in the bucket and are
//! served back byte for byte (whole and in ranges); `/ready` names the blob store when the
//! bucket does not answer. The S3 half runs when `SPV_TEST_S3_URL` names a test bucket
//! (moto in CI, configured by the `AWS_*` variables); it fails under `CI=true` without it.

use std::collections::BTreeMap;

use reqwest::StatusCode;
use serde_json::Value;

use super::{Server, header};

const PNG: &[u8] = include_bytes!("../../../tests/golden/brand-kit-p1.png");

/// The `AWS_*` variables of the environment.
fn aws_env() -> BTreeMap<String, String> {
    std::env::vars()
        .filter(|(name, _)| name.starts_with("AWS_"))
        .collect()
}

/// The test bucket (created) and a fresh prefix in it, or `None` outside CI without
/// `SPV_TEST_S3_URL`.
async fn s3_prefix(test: &str) -> Option<(String, String)> {
    let url = match std::env::var("SPV_TEST_S3_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "SPV_TEST_S3_URL must be set when CI=true: S3 tests cannot be skipped in CI"
            );
            eprintln!("skipped {test}: SPV_TEST_S3_URL not set");
            return None;
        }
    };
    let Ok(spv::store::BlobUrl::S3 { bucket, prefix }) = spv::store::BlobUrl::parse(&url) else {
        panic!("SPV_TEST_S3_URL is not an s3:// URL: {url}");
    };
    let endpoint = std::env::var("AWS_ENDPOINT").expect("AWS_ENDPOINT for the S3 tests");
    // object_store cannot create buckets; the test server takes an unsigned PUT.
    let response = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert!(
        status.is_success() || body.contains("BucketAlreadyOwnedByYou"),
        "creating bucket {bucket}: {status} {body}"
    );
    let prefix = format!("{prefix}/{}", uuid::Uuid::now_v7().simple());
    Some((bucket, prefix.trim_start_matches('/').to_string()))
}

#[tokio::test]
async fn assets_live_in_the_s3_bucket_and_are_served_back() {
    let Some((bucket, prefix)) = s3_prefix("blobs::assets_live_in_the_s3_bucket").await else {
        return;
    };
    let url = format!("s3://{bucket}/{prefix}");
    let server = Server::start_with(|config| {
        config.blob_url = Some(url.clone());
        config.aws = aws_env();
    })
    .await;
    let client = reqwest::Client::new();
    let response = client
        .post(server.url("/api/v1/assets"))
        .bearer_auth(&server.token)
        .body(PNG.to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let asset: Value = response.json().await.unwrap();
    let sha256 = asset["sha256"].as_str().unwrap().to_string();

    // In the bucket, under its key, listed by S3 itself.
    let endpoint = std::env::var("AWS_ENDPOINT").unwrap();
    let listing = client
        .get(format!("{endpoint}/{bucket}?list-type=2&prefix={prefix}/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let object = format!("{prefix}/{}/{}/{sha256}", &sha256[..2], &sha256[2..4]);
    assert!(
        listing.contains(&format!("<Key>{object}</Key>")),
        "{listing}"
    );
    assert!(!listing.contains("/tmp/"), "no temporary object: {listing}");
    // Nothing under the data directory's blobs.
    assert!(!server.data.path().join("blobs").exists());

    let id = asset["id"].as_str().unwrap();
    let response = client
        .get(server.url(&format!("/api/v1/assets/{id}")))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "content-length"),
        PNG.len().to_string()
    );
    assert_eq!(response.bytes().await.unwrap(), PNG);

    let response = client
        .get(server.url(&format!("/api/v1/assets/{id}")))
        .bearer_auth(&server.token)
        .header("range", "bytes=100-1099")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        header(response.headers(), "content-range"),
        format!("bytes 100-1099/{}", PNG.len())
    );
    assert_eq!(response.bytes().await.unwrap(), &PNG[100..1100]);

    let ready = reqwest::get(server.url("/ready")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);
    let metrics = server.metrics().await;
    for series in [
        "spv_blob_operations_total{op=\"put\",result=\"ok\"} 1",
        "spv_blob_operations_total{op=\"stream\",result=\"ok\"} 2",
        "spv_blob_operations_total{op=\"check\",result=\"ok\"} 1",
    ] {
        assert!(metrics.contains(series), "{series} in {metrics}");
    }
    server.stop().await;
}

#[tokio::test]
async fn ready_names_the_blob_store_when_the_bucket_does_not_answer() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let server = Server::start_with(|config| {
        config.blob_url = Some("s3://spv-unreachable/blobs".to_string());
        config.aws = [
            ("AWS_ENDPOINT", format!("http://127.0.0.1:{port}")),
            ("AWS_ALLOW_HTTP", "true".to_string()),
            ("AWS_ACCESS_KEY_ID", "test".to_string()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_string()),
            ("AWS_REGION", "us-east-1".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    })
    .await;
    let ready = reqwest::get(server.url("/ready")).await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body = ready.text().await.unwrap();
    assert!(body.contains("blobs"), "{body}");
    assert!(!body.contains("database"), "{body}");
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("spv_blob_operations_total{op=\"check\",result=\"error\"} 1"),
        "{metrics}"
    );
    server.stop().await;
}
