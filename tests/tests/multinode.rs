//! Several `spv-server` processes on one PostgreSQL, Redis and S3 store, started with the
//! variables and flags an operator uses (`DATABASE_URL`, `REDIS_URL`, `SPV_BLOB_URL`,
//! `SPV_ROLE`, `SPV_RATE_LIMITS`), and driven over HTTP as clients would:
//!
//! - a document created on A is read on B with the same ETag; an asset's bytes live in
//!   S3 and both serve them; a thumbnail cached on B is replaced within a second of an
//!   update through A; a key revoked on A is refused on B at once;
//! - 20 concurrent identical thumbnail requests over both nodes cause one render;
//! - 24 render jobs accepted by both API nodes all succeed, exactly once each, while the
//!   worker is killed with SIGKILL mid-run (a new worker takes over after the lease);
//! - `auth=6/1m` lets exactly 6 attempts through across both nodes, then 429 with the
//!   rate-limit headers; with Redis stopped, requests are still served and the limits
//!   fall back to each process; with Redis back, the shared limit holds again.
//!
//! Needs `SPV_TEST_POSTGRES_URL`, `SPV_TEST_S3_URL` (with its `AWS_*` variables) and the
//! `redis-server` binary; skipped without them, except under `CI=true`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use spv_tests::cluster::{RedisProcess, Services, TestDatabase, uuid_like};
use spv_tests::server::SpvServer;

const PASSWORD: &str = "multinode-admin-password-1";

/// One deployment: its database, its own Redis, its S3 prefix, and the environment
/// every node starts with.
struct Cluster {
    root: tempfile::TempDir,
    _db: TestDatabase,
    redis: RedisProcess,
    env: Vec<(String, String)>,
}

impl Cluster {
    fn new(services: &Services, extra: &[(&str, &str)]) -> Cluster {
        let db = TestDatabase::create(&services.postgres_url);
        let redis = RedisProcess::start();
        let id = uuid_like();
        let mut env: Vec<(String, String)> = services.aws_env.clone();
        let pairs = [
            ("DATABASE_URL", db.url.clone()),
            ("REDIS_URL", redis.url()),
            ("SPV_REDIS_PREFIX", format!("mn-{id}:")),
            (
                "SPV_BLOB_URL",
                format!("{}/mn-{id}", services.s3_url.trim_end_matches('/')),
            ),
            // Every node signs and checks tokens with the same secret.
            ("JWT_SECRET", "multinode-jwt-secret-0123456789abcdef".into()),
            ("SPV_RENDERER", "cpu".into()),
            ("SPV_JOB_WORKERS", "2".into()),
            ("SPV_JOB_LEASE_SECS", "2".into()),
            ("SPV_PRUNE_INTERVAL_SECS", "0".into()),
            ("SPV_BACKUP_INTERVAL_SECS", "0".into()),
        ];
        env.extend(pairs.into_iter().map(|(k, v)| (k.to_string(), v)));
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Cluster {
            root: tempfile::tempdir().unwrap(),
            _db: db,
            redis,
            env,
        }
    }

    /// Starts node `name` with `SPV_ROLE=role` in a data directory of its own.
    fn start(&self, name: &str, role: &str) -> SpvServer {
        let dir: PathBuf = self.root.path().join(name);
        let mut env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.push(("SPV_ROLE", role));
        SpvServer::start(&dir, PASSWORD, &env)
    }
}

/// Creates the test bucket of `services` when it is missing (moto accepts an unsigned
/// `PUT /bucket`; an existing bucket answers 409 or 200, both fine).
async fn ensure_bucket(services: &Services) {
    let bucket = services
        .s3_url
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let endpoint = services
        .aws_env
        .iter()
        .find(|(k, _)| k == "AWS_ENDPOINT")
        .map(|(_, v)| v.trim_end_matches('/').to_string())
        .expect("AWS_ENDPOINT names the S3 server of the tests");
    let response = http()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("the S3 server answers");
    assert!(
        response.status().is_success() || response.status() == 409,
        "creating bucket {bucket}: {}",
        response.status()
    );
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

/// A new API key with every non-admin scope: (id, secret).
async fn api_key(node: &SpvServer, token: &str) -> (String, String) {
    let response = http()
        .post(format!("{}/api/v1/api-keys", node.url()))
        .bearer_auth(token)
        .json(&json!({"name": format!("mn-{}", uuid_like()), "scopes": [
            "documents:read", "documents:write", "assets:read", "assets:write",
            "thumbnails:read", "jobs:read", "jobs:write"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.unwrap();
    (
        body["id"].as_str().unwrap().to_string(),
        body["key"].as_str().unwrap().to_string(),
    )
}

/// A one-page document, 200×100, filled with `color`, over the image asset `sha256`
/// when given.
fn document(color: &str, sha256: Option<&str>) -> Vec<u8> {
    let mut doc = json!({
        "format": "glyph", "version": 1, "title": "multinode",
        "pages": [{ "width": 200, "height": 100, "background": color, "layers": [] }]
    });
    if let Some(sha) = sha256 {
        doc["assets"] = json!({ "swatch": { "type": "image", "src": format!("sha256:{sha}") } });
        doc["pages"][0]["layers"] = json!([{ "type": "image", "asset": "swatch",
            "x": 150, "y": 50, "width": 50, "height": 50 }]);
    }
    serde_json::to_vec(&doc).unwrap()
}

/// A 4×4 PNG of one colour.
fn png(rgba: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 4, 4);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&rgba.repeat(16)).unwrap();
    writer.finish().unwrap();
    out
}

/// The RGBA of pixel (x, y) of a PNG.
fn pixel(bytes: &[u8], x: u32, y: u32) -> [u8; 4] {
    let image = image::load_from_memory(bytes).unwrap().to_rgba8();
    image.get_pixel(x, y).0
}

/// Renders counted by the nodes' `/metrics`.
async fn renders(nodes: &[&SpvServer]) -> f64 {
    let mut total = 0.0;
    for node in nodes {
        total += node.metric("spv_render_duration_seconds_count").await;
    }
    total
}

async fn create_document(node: &SpvServer, key: &str, body: Vec<u8>) -> (String, String) {
    let response = http()
        .post(format!("{}/api/v1/documents", node.url()))
        .header("x-api-key", key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let body: Value = response.json().await.unwrap();
    (body["id"].as_str().unwrap().to_string(), etag)
}

async fn thumbnail(node: &SpvServer, key: &str, id: &str, size: u32) -> reqwest::Response {
    http()
        .get(format!(
            "{}/api/v1/documents/{id}/thumbnail?size={size}",
            node.url()
        ))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn documents_assets_thumbnails_and_keys_across_nodes() {
    let Some(services) = Services::from_env("multinode documents") else {
        return;
    };
    ensure_bucket(&services).await;
    let cluster = Cluster::new(&services, &[]);
    let a = cluster.start("a", "api");
    let b = cluster.start("b", "api");
    let token = a.password_token("admin", PASSWORD).await;
    let (key_id, key) = api_key(&a, &token).await;

    // An asset uploaded through A: its bytes are in the shared store, B serves them
    // (B's data directory holds no blobs).
    let swatch = png([10, 200, 30, 255]);
    let uploaded = http()
        .post(format!("{}/api/v1/assets", a.url()))
        .header("x-api-key", &key)
        .body(swatch.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 201);
    let asset: Value = uploaded.json().await.unwrap();
    let asset_id = asset["id"].as_str().unwrap();
    let sha = asset["sha256"].as_str().unwrap().to_string();
    for node in [&a, &b] {
        let got = http()
            .get(format!("{}/api/v1/assets/{asset_id}", node.url()))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "asset on {}", node.url());
        assert_eq!(got.bytes().await.unwrap().as_ref(), swatch.as_slice());
    }
    for node in ["a", "b"] {
        let local = cluster.root.path().join(node).join("blobs");
        let files = walk(&local);
        assert!(
            files.is_empty(),
            "node {node} kept blobs locally: {files:?}"
        );
    }

    // A document created on A is read on B with the same ETag.
    let (doc, created_etag) = create_document(&a, &key, document("#ff0000", Some(&sha))).await;
    let mut etags = Vec::new();
    for node in [&a, &b] {
        let got = http()
            .get(format!("{}/api/v1/documents/{doc}", node.url()))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200);
        etags.push(got.headers()["etag"].to_str().unwrap().to_string());
    }
    assert_eq!(etags, vec![created_etag.clone(), created_etag.clone()]);

    // B renders and caches the thumbnail (red page, the green asset in its corner).
    let first = thumbnail(&b, &key, &doc, 200).await;
    assert_eq!(first.status(), 200);
    let first_etag = first.headers()["etag"].to_str().unwrap().to_string();
    let first = first.bytes().await.unwrap();
    assert_eq!(pixel(&first, 10, 10), [255, 0, 0, 255]);
    let corner = pixel(&first, 175, 75);
    assert!(
        corner[1] > 150 && corner[0] < 60,
        "the S3 asset is drawn: {corner:?}"
    );
    // Served from B's cache now.
    let again = thumbnail(&b, &key, &doc, 200).await;
    assert_eq!(again.headers()["etag"].to_str().unwrap(), first_etag);

    // An update through A replaces B's cached thumbnail within a second.
    let put = http()
        .put(format!("{}/api/v1/documents/{doc}/content", a.url()))
        .header("x-api-key", &key)
        .header("content-type", "application/json")
        .header("if-match", &created_etag)
        .body(document("#0000ff", Some(&sha)))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200, "{:?}", put.text().await);
    let updated = Instant::now();
    loop {
        let got = thumbnail(&b, &key, &doc, 200).await;
        assert_eq!(got.status(), 200);
        let etag = got.headers()["etag"].to_str().unwrap().to_string();
        let bytes = got.bytes().await.unwrap();
        if etag != first_etag && pixel(&bytes, 10, 10) == [0, 0, 255, 255] {
            break;
        }
        assert!(
            updated.elapsed() < Duration::from_secs(1),
            "B still serves the old thumbnail a second after the update through A"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // 20 concurrent identical requests for an uncached thumbnail, spread over both
    // nodes, cause one render.
    let (fresh, _) = create_document(&b, &key, document("#336699", None)).await;
    let before = renders(&[&a, &b]).await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let node_url = if i % 2 == 0 { a.url() } else { b.url() };
        let (key, fresh) = (key.clone(), fresh.clone());
        tasks.push(tokio::spawn(async move {
            let got = http()
                .get(format!(
                    "{node_url}/api/v1/documents/{fresh}/thumbnail?size=333"
                ))
                .header("x-api-key", &key)
                .send()
                .await
                .unwrap();
            (got.status(), got.bytes().await.unwrap())
        }));
    }
    let mut bodies = Vec::new();
    for task in tasks {
        let (status, bytes) = task.await.unwrap();
        assert_eq!(status, 200);
        bodies.push(bytes);
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "one image for all");
    assert_eq!(
        renders(&[&a, &b]).await - before,
        1.0,
        "20 identical requests over two nodes rendered once"
    );

    // A key revoked on A is refused on B from the next request on.
    let ok = http()
        .get(format!("{}/api/v1/documents/{doc}", b.url()))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let revoked = http()
        .delete(format!("{}/api/v1/api-keys/{key_id}", a.url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let refused = http()
        .get(format!("{}/api/v1/documents/{doc}", b.url()))
        .header("x-api-key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
}

/// Every file under `dir` (none when it does not exist).
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn render_jobs_succeed_once_each_while_the_worker_is_killed() {
    let Some(services) = Services::from_env("multinode jobs") else {
        return;
    };
    ensure_bucket(&services).await;
    let cluster = Cluster::new(&services, &[]);
    let a = cluster.start("a", "api");
    let b = cluster.start("b", "api");
    let worker = cluster.start("w", "worker");
    // The worker serves only health, readiness and metrics.
    let health = http()
        .get(format!("{}/health", worker.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let docs = http()
        .get(format!("{}/api/v1/documents", worker.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), 404);

    let token = a.password_token("admin", PASSWORD).await;
    let (_, key) = api_key(&a, &token).await;
    let (doc, _) = create_document(&a, &key, document("#884422", None)).await;

    // 24 jobs, half through each API node; several sizes each so they take a while.
    let mut jobs = Vec::new();
    for i in 0..24 {
        let node = if i % 2 == 0 { &a } else { &b };
        let response = http()
            .post(format!("{}/api/v1/jobs/render", node.url()))
            .header("x-api-key", &key)
            .json(&json!({"document": doc, "sizes": [512, 768, 1024, 1536], "formats": ["png"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 202);
        let job: Value = response.json().await.unwrap();
        jobs.push(job["id"].as_str().unwrap().to_string());
    }

    // Kill the worker once some jobs have finished and others are running.
    let started = Instant::now();
    loop {
        let states = job_states(&a, &key, &jobs).await;
        let done = states.iter().filter(|s| s.as_str() == "succeeded").count();
        let running = states.iter().filter(|s| s.as_str() == "running").count();
        if done >= 2 && running >= 1 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "jobs did not start: {states:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.kill();
    let replacement = cluster.start("w2", "worker");

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let states = job_states(&a, &key, &jobs).await;
        if states.iter().all(|s| s == "succeeded") {
            break;
        }
        assert!(
            !states.iter().any(|s| s == "failed" || s == "cancelled"),
            "{states:?}"
        );
        assert!(Instant::now() < deadline, "jobs did not finish: {states:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Exactly once: each job has one result with its four outputs, each readable from
    // either API node (the outputs live in S3).
    for (i, id) in jobs.iter().enumerate() {
        let node = if i % 2 == 0 { &b } else { &a };
        let job: Value = http()
            .get(format!("{}/api/v1/jobs/{id}", node.url()))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(job["state"], "succeeded");
        let outputs = job["result"]["outputs"].as_array().expect("outputs");
        assert_eq!(outputs.len(), 4, "{job}");
        let output = http()
            .get(format!("{}/api/v1/jobs/{id}/outputs/3", node.url()))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(output.status(), 200);
    }
    drop(replacement);
}

async fn job_states(node: &SpvServer, key: &str, jobs: &[String]) -> Vec<String> {
    let mut states = Vec::new();
    for id in jobs {
        let job: Value = http()
            .get(format!("{}/api/v1/jobs/{id}", node.url()))
            .header("x-api-key", key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        states.push(job["state"].as_str().unwrap_or("?").to_string());
    }
    states
}

/// A password attempt for `user` with a wrong password: the status and headers.
async fn wrong_password(node: &SpvServer, user: &str) -> reqwest::Response {
    http()
        .post(format!("{}/api/v1/auth/token", node.url()))
        .json(&json!({"grant_type": "password", "username": user, "password": "wrong-password"}))
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rate_limits_hold_across_nodes_and_survive_a_redis_restart() {
    let Some(services) = Services::from_env("multinode rate limits") else {
        return;
    };
    ensure_bucket(&services).await;
    let mut cluster = Cluster::new(&services, &[("SPV_RATE_LIMITS", "auth=6/1m")]);
    let a = cluster.start("a", "all");
    let b = cluster.start("b", "all");
    // The login is the first of the six attempts `auth` allows this client.
    let token = a.password_token("admin", PASSWORD).await;
    let (_, key) = api_key(&a, &token).await;
    let (doc, _) = create_document(&a, &key, document("#123456", None)).await;

    // The login above was one attempt; 5 more (alternating nodes) are answered, then 429.
    let nodes = [&a, &b];
    for i in 0..5 {
        let got = wrong_password(nodes[i % 2], "alice").await;
        assert_eq!(got.status(), 401, "attempt {}", i + 2);
    }
    let refused = wrong_password(&b, "alice").await;
    assert_eq!(refused.status(), 429);
    let headers = refused.headers().clone();
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(headers["ratelimit-policy"], "\"auth\";q=6;w=60");
    let limit = headers["ratelimit"].to_str().unwrap();
    assert!(limit.starts_with("\"auth\";r=0;t="), "{limit}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/problem+json")
    );
    let problem: Value = refused.json().await.unwrap();
    assert_eq!(problem["type"], "urn:spv:problem:rate-limited");
    assert_eq!(problem["status"], 429);
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("auth") && detail.contains('6'), "{detail}");
    // The other node refuses too: the limit is shared.
    assert_eq!(wrong_password(&a, "bob").await.status(), 429);

    // Redis stops: requests are still served; the limiter falls back to each process.
    cluster.redis.stop();
    for node in nodes {
        let got = http()
            .get(format!("{}/api/v1/documents/{doc}", node.url()))
            .header("x-api-key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(got.status(), 200, "served while Redis is down");
        let got = thumbnail(node, &key, &doc, 64).await;
        assert_eq!(got.status(), 200, "thumbnails served while Redis is down");
    }
    // Four attempts on A alone, counted in A's own limiter.
    for _ in 0..4 {
        let status = wrong_password(&a, "carol").await.status();
        assert!(status == 401 || status == 429, "{status}");
    }
    assert!(
        a.metric("spv_rate_limiter_fallback_total").await >= 1.0,
        "the fallback is counted"
    );

    // Redis is back (empty): the shared limit holds again across both nodes — six
    // attempts alternating over A and B (A's own limiter would have refused its third)
    // are answered, the seventh is refused.
    cluster.redis.restart();
    let back = Instant::now();
    for node in nodes {
        // `/ready` pings Redis: 200 once the node is connected again.
        loop {
            let ready = http()
                .get(format!("{}/ready", node.url()))
                .send()
                .await
                .unwrap();
            if ready.status() == 200 {
                break;
            }
            assert!(
                back.elapsed() < Duration::from_secs(15),
                "{} did not reconnect to Redis",
                node.url()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    for i in 0..6 {
        let got = wrong_password(nodes[i % 2], "dave").await;
        assert_eq!(
            got.status(),
            401,
            "attempt {} after Redis came back (A's own limiter would refuse its third)",
            i + 1
        );
    }
    let refused = wrong_password(&b, "erin").await;
    assert_eq!(refused.status(), 429, "the shared limit holds again");
}
