//! Faults under a running `spv-server` process, each injected and then cleared while the
//! server keeps running:
//!
//! - PostgreSQL read-only (`ALTER DATABASE … SET default_transaction_read_only`, on a
//!   database of the test's own) and gone (a proxy in front of it, cut);
//! - the blob directory full (a 512 KiB tmpfs, filled) and read-only (the tmpfs
//!   remounted); both need the permission to mount;
//! - Redis unreachable (a `redis-server` of the test's own, stopped);
//! - S3 unreachable (a proxy in front of the test's S3 server, cut).
//!
//! Every request the fault touches answers a 503 `unavailable` problem with
//! `Retry-After` and a fixed text (no SQL, path or address), within seconds; reads that
//! need nothing broken go on; nothing half-written appears (the lists hold what they held);
//! `/ready` names the fault; and once it clears the server serves again by itself.
//!
//! PostgreSQL and S3 need `SPV_TEST_POSTGRES_URL` and `SPV_TEST_S3_URL` (with its `AWS_*`
//! variables), Redis the `redis-server` binary; each test is skipped without its service
//! (a line says so), except under `CI=true`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spv_tests::cluster::{RedisProcess, TestDatabase, uuid_like};
use spv_tests::faults::{TcpProxy, Tmpfs};
use spv_tests::noise_png;
use spv_tests::server::SpvServer;

const PASSWORD: &str = "faults-admin-password-1";

/// The longest a request may take while a fault lasts (the database's acquire timeout is
/// 3 s, S3's retries about 1 s; generous for a loaded 2-core machine).
const FAULT_ANSWER_WITHIN: Duration = Duration::from_secs(15);

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// The variable `name`, or `None` after a "skipped" line (a panic under `CI=true`).
fn service(test: &str, name: &str) -> Option<String> {
    match std::env::var(name).ok().filter(|v| !v.is_empty()) {
        Some(value) => Some(value),
        None if ci() => panic!("{test}: {name} is missing; it cannot be skipped under CI=true"),
        None => {
            eprintln!("skipped {test}: {name} is not set");
            None
        }
    }
}

fn start(dir: &std::path::Path, env: &[(&str, &str)]) -> SpvServer {
    let mut all = vec![
        ("SPV_RENDERER", "cpu"),
        ("SPV_JOB_WORKERS", "1"),
        ("SPV_PRUNE_INTERVAL_SECS", "0"),
        ("SPV_BACKUP_INTERVAL_SECS", "0"),
    ];
    all.extend_from_slice(env);
    SpvServer::start(dir, PASSWORD, &all)
}

fn document(color: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "format": "glyph", "version": 1, "title": "faults",
        "pages": [{ "width": 120, "height": 80, "background": color, "layers": [] }]
    }))
    .unwrap()
}

async fn create_document(server: &SpvServer, token: &str, color: &str) -> reqwest::Response {
    http()
        .post(format!("{}/api/v1/documents", server.url()))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(document(color))
        .send()
        .await
        .unwrap()
}

async fn created_id(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

async fn get(server: &SpvServer, token: &str, path: &str) -> reqwest::Response {
    http()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn upload(server: &SpvServer, token: &str, bytes: &[u8]) -> reqwest::Response {
    http()
        .post(format!("{}/api/v1/assets", server.url()))
        .bearer_auth(token)
        .header("content-disposition", "attachment; filename=\"noise.png\"")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
}

/// Uploads `bytes` as an asset, which must be stored (201); its id.
async fn uploaded(server: &SpvServer, token: &str, bytes: &[u8]) -> String {
    let response = upload(server, token, bytes).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_string()
}

/// The ids of a list (`/api/v1/documents`, `/api/v1/assets`), first 100.
async fn ids(server: &SpvServer, token: &str, path: &str) -> Vec<String> {
    let response = get(server, token, &format!("{path}?perPage=100")).await;
    assert_eq!(response.status(), 200, "{path}");
    let body: Value = response.json().await.unwrap();
    let mut ids: Vec<String> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

/// Sends `request` and checks that it is refused as the fault demands: within
/// [`FAULT_ANSWER_WITHIN`], a 503 `unavailable` problem with `Retry-After` whose detail
/// names none of the internals (`leaks`).
async fn unavailable(what: &str, request: reqwest::RequestBuilder, leaks: &[&str]) -> Value {
    let started = Instant::now();
    let response = request.send().await.unwrap();
    let took = started.elapsed();
    assert!(
        took < FAULT_ANSWER_WITHIN,
        "{what}: answered after {took:?}"
    );
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    assert_eq!(status, 503, "{what}: {text}");
    assert_eq!(
        headers["content-type"], "application/problem+json",
        "{what}"
    );
    assert!(headers.contains_key("retry-after"), "{what}: Retry-After");
    let problem: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        problem["type"], "urn:spv:problem:unavailable",
        "{what}: {text}"
    );
    let detail = problem["detail"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    for leak in leaks
        .iter()
        .chain(&["sql", "insert", "update", "error returned", "/"])
    {
        assert!(
            !detail.contains(&leak.to_lowercase()),
            "{what}: the detail tells {leak:?}: {text}"
        );
    }
    problem
}

/// `/ready`'s answer: `Ok(())` on 200, the detail of its 503 otherwise.
async fn ready(server: &SpvServer) -> Result<(), String> {
    let response = http()
        .get(format!("{}/ready", server.url()))
        .send()
        .await
        .unwrap();
    if response.status() == 200 {
        return Ok(());
    }
    assert_eq!(response.status(), 503);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["type"], "urn:spv:problem:unavailable", "{problem}");
    Err(problem["detail"].as_str().unwrap_or_default().to_string())
}

/// Waits (at most 30 s, polling) until `/ready` answers as `want` says.
async fn ready_becomes(server: &SpvServer, what: &str, want: impl Fn(&Result<(), String>) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = ready(server).await;
        if want(&now) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "/ready did not become {what}; it says {now:?}; the server's log:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `host:port` of a URL `scheme://[user@]host:port/...`.
fn host_port(url: &str) -> SocketAddr {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap();
    use std::net::ToSocketAddrs;
    authority
        .to_socket_addrs()
        .unwrap()
        .next()
        .expect("a host:port")
}

/// `url` (`scheme://[user@]host:port/...`) with its `host:port` replaced by `authority`.
fn with_authority(url: &str, authority: &str) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (before_path, path) = rest.split_once('/').unwrap_or((rest, ""));
    let user = before_path
        .rsplit_once('@')
        .map(|(user, _)| format!("{user}@"));
    format!("{scheme}://{}{authority}/{path}", user.unwrap_or_default())
}

fn create_request(server: &SpvServer, token: &str, color: &str) -> reqwest::RequestBuilder {
    http()
        .post(format!("{}/api/v1/documents", server.url()))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(document(color))
}

/// PostgreSQL made read-only, then gone (a proxy in front of it, cut), each cleared:
/// writes answer 503 while it lasts, reads the caches hold go on, nothing half-written
/// appears, `/ready` names the fault, and the server recovers by itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_read_only_then_gone_then_back() {
    let Some(postgres) = service("postgres faults", "SPV_TEST_POSTGRES_URL") else {
        return;
    };
    let db = TestDatabase::create(&postgres);
    let mut proxy = TcpProxy::start(host_port(&db.url));
    let through = with_authority(&db.url, &format!("127.0.0.1:{}", proxy.port()));
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &[("DATABASE_URL", through.as_str())]);
    let token = server.password_token("admin", PASSWORD).await;
    let first = created_id(create_document(&server, &token, "#112233").await).await;
    let documents = ids(&server, &token, "/api/v1/documents").await;
    ready(&server).await.unwrap();
    let leaks = ["127.0.0.1", "postgres", "spv_mn_", "read_only", "25006"];

    // Read-only: every write is refused, reads go on.
    db.set_read_only(true);
    ready_becomes(&server, "database read-only", |r| {
        r.as_ref().is_err_and(|d| d.contains("database read-only"))
    })
    .await;
    unavailable(
        "a document created with the database read-only",
        create_request(&server, &token, "#445566"),
        &leaks,
    )
    .await;
    assert_eq!(
        get(&server, &token, &format!("/api/v1/documents/{first}"))
            .await
            .status(),
        200,
        "reads go on"
    );
    assert_eq!(
        ids(&server, &token, "/api/v1/documents").await,
        documents,
        "nothing half-written"
    );
    db.set_read_only(false);
    ready_becomes(&server, "ready", Result::is_ok).await;
    created_id(create_document(&server, &token, "#778899").await).await;

    // Gone: writes and uncached reads are refused within the acquire timeout.
    proxy.cut();
    ready_becomes(&server, "database not answering", |r| {
        r.as_ref()
            .is_err_and(|d| d.contains("database not answering"))
    })
    .await;
    unavailable(
        "a document created with the database gone",
        create_request(&server, &token, "#aabbcc"),
        &leaks,
    )
    .await;
    unavailable(
        "a list with the database gone",
        http()
            .get(format!("{}/api/v1/documents?perPage=100", server.url()))
            .bearer_auth(&token),
        &leaks,
    )
    .await;
    proxy.restore();
    ready_becomes(&server, "ready", Result::is_ok).await;
    created_id(create_document(&server, &token, "#ddeeff").await).await;
    assert_eq!(
        ids(&server, &token, "/api/v1/documents").await.len(),
        documents.len() + 2,
        "the two writes made between the faults, and nothing else"
    );
    let log = server.kill();
    assert!(!log.contains("panicked"), "no panic; the log:\n{log}");
}

/// The blob directory full (a 512 KiB tmpfs, filled), then read-only (remounted), each
/// cleared: uploads answer 503 while it lasts, stored blobs still read, no asset row
/// without its blob, `/ready` says the blobs cannot be written, and the server recovers
/// by itself. Needs the permission to mount (root); skipped without, except in CI.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blob_directory_full_then_read_only_then_back() {
    let dir = tempfile::tempdir().unwrap();
    let blobs = dir.path().join("blobs");
    let tmpfs = match Tmpfs::mount(&blobs, 512) {
        Ok(tmpfs) => tmpfs,
        Err(why) => {
            assert!(
                !ci(),
                "blob faults: cannot mount a tmpfs under CI=true: {why}"
            );
            eprintln!("skipped blob faults: cannot mount a tmpfs: {why}");
            return;
        }
    };
    let blob_url = blobs.to_str().unwrap().to_string();
    let server = start(
        &dir.path().join("data"),
        &[("SPV_BLOB_URL", blob_url.as_str())],
    );
    let token = server.password_token("admin", PASSWORD).await;
    let first = noise_png(20, 1);
    let first_id = uploaded(&server, &token, &first).await;
    ready(&server).await.unwrap();
    let assets = ids(&server, &token, "/api/v1/assets").await;
    let upload_request = |bytes: Vec<u8>| {
        http()
            .post(format!("{}/api/v1/assets", server.url()))
            .bearer_auth(&token)
            .header("content-disposition", "attachment; filename=\"noise.png\"")
            .body(bytes)
    };
    let leaks = ["tmpfs", "no space", "read-only file system", "os error"];

    for fault in ["full", "read-only"] {
        match fault {
            "full" => {
                tmpfs.fill("filler");
            }
            _ => tmpfs.remount(true),
        }
        ready_becomes(&server, "blobs not writable", |r| {
            r.as_ref().is_err_and(|d| d.contains("blobs not writable"))
        })
        .await;
        unavailable(
            &format!("an asset uploaded to a {fault} blob directory"),
            upload_request(noise_png(40, 2)),
            &leaks,
        )
        .await;
        let read = get(&server, &token, &format!("/api/v1/assets/{first_id}")).await;
        assert_eq!(read.status(), 200, "a stored blob reads while {fault}");
        assert_eq!(read.bytes().await.unwrap().as_ref(), first.as_slice());
        assert_eq!(
            ids(&server, &token, "/api/v1/assets").await,
            assets,
            "no asset row without its blob ({fault})"
        );
        match fault {
            "full" => std::fs::remove_file(blobs.join("filler")).unwrap(),
            _ => tmpfs.remount(false),
        }
        ready_becomes(&server, "ready", Result::is_ok).await;
    }
    let response = upload(&server, &token, &noise_png(40, 2)).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let log = server.kill();
    assert!(!log.contains("panicked"), "no panic; the log:\n{log}");
    drop(tmpfs);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_unreachable_then_back() {
    let redis_server = std::process::Command::new("redis-server")
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !redis_server {
        assert!(!ci(), "redis faults: redis-server is missing under CI=true");
        eprintln!("skipped redis faults: no redis-server binary");
        return;
    }
    let mut redis = RedisProcess::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("faults-{}:", uuid_like());
    let redis_url = redis.url();
    let server = start(
        dir.path(),
        &[
            ("REDIS_URL", redis_url.as_str()),
            ("SPV_REDIS_PREFIX", prefix.as_str()),
        ],
    );
    let token = server.password_token("admin", PASSWORD).await;
    let doc = created_id(create_document(&server, &token, "#abcdef").await).await;
    ready(&server).await.unwrap();

    redis.stop();
    ready_becomes(&server, "redis not answering", |r| {
        r.as_ref().is_err_and(|d| d.contains("redis not answering"))
    })
    .await;
    // Redis is a cache and a coordinator: without it requests are served in process.
    let started = Instant::now();
    assert_eq!(
        get(&server, &token, &format!("/api/v1/documents/{doc}"))
            .await
            .status(),
        200
    );
    let thumbnail = format!("/api/v1/documents/{doc}/thumbnail?size=50");
    assert_eq!(get(&server, &token, &thumbnail).await.status(), 200);
    created_id(create_document(&server, &token, "#fedcba").await).await;
    assert!(
        started.elapsed() < FAULT_ANSWER_WITHIN,
        "served without waiting for Redis"
    );

    redis.restart();
    ready_becomes(&server, "ready", Result::is_ok).await;
    created_id(create_document(&server, &token, "#a0a0a0").await).await;
    let log = server.kill();
    assert!(!log.contains("panicked"), "no panic; the log:\n{log}");
}

/// Creates the test bucket when it is missing (moto accepts an unsigned `PUT /bucket`).
async fn ensure_bucket(endpoint: &str, bucket: &str) {
    let response = http()
        .put(format!("{}/{bucket}", endpoint.trim_end_matches('/')))
        .send()
        .await
        .expect("the S3 server answers");
    assert!(
        response.status().is_success() || response.status() == 409,
        "creating bucket {bucket}: {}",
        response.status()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_unreachable_then_back() {
    let Some(s3_url) = service("s3 faults", "SPV_TEST_S3_URL") else {
        return;
    };
    let Some(endpoint) = service("s3 faults", "AWS_ENDPOINT") else {
        return;
    };
    let bucket = s3_url
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    ensure_bucket(&endpoint, &bucket).await;
    let mut proxy = TcpProxy::start(host_port(&endpoint));
    let blob_url = format!("{}/faults-{}", s3_url.trim_end_matches('/'), uuid_like());
    let proxied = format!("http://127.0.0.1:{}", proxy.port());
    let aws: Vec<(String, String)> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_") && k != "AWS_ENDPOINT")
        .collect();
    let mut env: Vec<(&str, &str)> = aws.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("AWS_ENDPOINT", proxied.as_str()));
    env.push(("SPV_BLOB_URL", blob_url.as_str()));
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), &env);
    let token = server.password_token("admin", PASSWORD).await;
    let first = noise_png(20, 3);
    let first_id = uploaded(&server, &token, &first).await;
    ready(&server).await.unwrap();
    let assets = ids(&server, &token, "/api/v1/assets").await;

    proxy.cut();
    ready_becomes(&server, "blobs not answering", |r| {
        r.as_ref().is_err_and(|d| d.contains("blobs not answering"))
    })
    .await;
    let client = http();
    let second = noise_png(24, 4);
    unavailable(
        "an asset uploaded with S3 gone",
        client
            .post(format!("{}/api/v1/assets", server.url()))
            .bearer_auth(&token)
            .body(second.clone()),
        &["127.0.0.1", "s3:", bucket.as_str()],
    )
    .await;
    unavailable(
        "an asset read with S3 gone",
        client
            .get(format!("{}/api/v1/assets/{first_id}", server.url()))
            .bearer_auth(&token),
        &["127.0.0.1", "s3:", bucket.as_str()],
    )
    .await;
    assert_eq!(
        ids(&server, &token, "/api/v1/assets").await,
        assets,
        "no asset row without its blob"
    );

    proxy.restore();
    ready_becomes(&server, "ready", Result::is_ok).await;
    let response = upload(&server, &token, &second).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let bytes = get(&server, &token, &format!("/api/v1/assets/{first_id}"))
        .await
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        bytes.as_ref(),
        first.as_slice(),
        "the first asset reads back whole"
    );
    let log = server.kill();
    assert!(!log.contains("panicked"), "no panic; the log:\n{log}");
}
