//! The real server (`spv_server::run`) on 127.0.0.1:0, called over HTTP/1.1 and HTTP/2.

#[path = "http/assets.rs"]
mod assets;
#[path = "http/auth.rs"]
mod auth;
#[path = "http/blobs.rs"]
mod blobs;
#[path = "http/browser.rs"]
mod browser;
#[path = "http/documents.rs"]
mod documents;
#[path = "http/documents_access.rs"]
mod documents_access;
#[path = "http/edge.rs"]
mod edge;
#[path = "http/gallery.rs"]
mod gallery;
#[cfg(feature = "gpu")]
#[path = "http/gpu.rs"]
mod gpu;
#[path = "http/jobs.rs"]
mod jobs;
#[path = "http/rate_limits.rs"]
mod rate_limits;
#[path = "http/route_auth.rs"]
mod route_auth;
#[path = "http/signed_urls.rs"]
mod signed_urls;
#[path = "http/thumbnail_cache.rs"]
mod thumbnail_cache;
#[path = "http/thumbnail_post.rs"]
mod thumbnail_post;
#[path = "http/transport.rs"]
mod transport;

use std::net::SocketAddr;

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};
use serde_json::{Value, json};
use spv::config::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The first admin's password, given through `SPV_ADMIN_PASSWORD` (`admin_password`).
const ADMIN_PASSWORD: &str = "correct horse battery";

struct Server {
    base: String,
    /// An access token of the admin (password grant).
    token: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
    data: tempfile::TempDir,
}

impl Server {
    /// Binds first, then spawns: the socket accepts before the first request.
    async fn start() -> Server {
        Server::start_with(|_| {}).await
    }

    /// A server whose configuration `change` adjusts first.
    async fn start_with(change: impl FnOnce(&mut Config)) -> Server {
        Server::start_in(tempfile::tempdir().unwrap(), change).await
    }

    /// A server on an existing data directory (to restart on the same data), its
    /// configuration adjusted by `change` first.
    async fn start_in(data: tempfile::TempDir, change: impl FnOnce(&mut Config)) -> Server {
        let mut config = Config {
            data_dir: data.path().to_owned(),
            job_workers: 2,
            shutdown_timeout_secs: 5,
            admin_password: Some(ADMIN_PASSWORD.to_owned()),
            ..Config::default()
        };
        stack::apply(&mut config);
        change(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(spv_server::run(config, listener, async {
            let _ = stopped.await;
        }));
        let base = format!("http://{addr}");
        let tokens: Value = reqwest::Client::new()
            .post(format!("{base}/api/v1/auth/token"))
            .json(
                &json!({"grant_type": "password", "username": "admin", "password": ADMIN_PASSWORD}),
            )
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = tokens["access_token"].as_str().unwrap().to_owned();
        Server {
            base,
            token,
            stop: Some(stop),
            task,
            data,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The server's `/metrics` text.
    async fn metrics(&self) -> String {
        reqwest::get(self.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// The server's OpenAPI document.
    async fn openapi(&self) -> Value {
        reqwest::get(self.url("/openapi.json"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = (&mut self.task).await.unwrap();
        assert!(result.is_ok(), "the server ended with {result:?}");
    }
}

/// `SPV_TEST_STACK=scaled`: every server of these tests runs as a scaled-out node does,
/// on PostgreSQL (a database of its own), Redis (a key prefix of its own) and S3 (a blob
/// prefix of its own), from `SPV_TEST_POSTGRES_URL`, `SPV_TEST_REDIS_URL` and
/// `SPV_TEST_S3_URL` with its `AWS_*` variables. Unset (or `embedded`): SQLite and local
/// blobs in the data directory. `.ci/run` runs this suite both ways.
mod stack {
    use std::process::Command;

    use spv::config::Config;

    /// Whether this run is the scaled-out one.
    pub(crate) fn scaled() -> bool {
        match std::env::var("SPV_TEST_STACK").as_deref() {
            Ok("scaled") => true,
            Ok("embedded") | Ok("") | Err(_) => false,
            Ok(other) => panic!("SPV_TEST_STACK={other}: expected scaled or embedded"),
        }
    }

    fn var(name: &str) -> String {
        std::env::var(name)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| panic!("SPV_TEST_STACK=scaled needs {name}"))
    }

    /// Points `config` at the scaled-out services when this run is the scaled one. A
    /// server restarted on the same data directory finds the same database (its name is
    /// kept in the directory).
    pub(crate) fn apply(config: &mut Config) {
        if !scaled() {
            return;
        }
        let server = var("SPV_TEST_POSTGRES_URL");
        static CLEAN: std::sync::Once = std::sync::Once::new();
        CLEAN.call_once(|| drop_stale_databases(&server));
        let marker = config.data_dir.join("test-database");
        let name = match std::fs::read_to_string(&marker) {
            Ok(name) => name,
            Err(_) => {
                let name = format!("spv_http_{}", uuid::Uuid::now_v7().simple());
                let out = Command::new("psql")
                    .args([&server, "-qAtc", &format!("CREATE DATABASE {name}")])
                    .output()
                    .expect("run psql");
                assert!(
                    out.status.success(),
                    "CREATE DATABASE {name}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                std::fs::write(&marker, &name).unwrap();
                name
            }
        };
        let (base, _) = server.rsplit_once('/').expect("a URL ending in /database");
        config.database_url = Some(format!("{base}/{name}"));
        config.redis_url = Some(var("SPV_TEST_REDIS_URL"));
        config.redis_prefix = format!("{name}:");
        config.blob_url = Some(format!(
            "{}/{name}",
            var("SPV_TEST_S3_URL").trim_end_matches('/')
        ));
        config.aws = std::env::vars()
            .filter(|(k, _)| k.starts_with("AWS_"))
            .collect();
    }

    /// The database and blob store a server on `data_dir` uses, opened beside it (to
    /// look behind the API in a test).
    pub(crate) async fn open_stores(
        data_dir: &std::path::Path,
    ) -> (spv::store::Db, std::sync::Arc<dyn spv::store::BlobStore>) {
        let mut config = Config {
            data_dir: data_dir.to_owned(),
            ..Config::default()
        };
        apply(&mut config);
        let db = spv::store::Db::open(config.database_url.as_deref(), data_dir)
            .await
            .unwrap();
        (db, config.open_blobs().unwrap())
    }

    /// Drops the databases of earlier runs: those whose UUIDv7 (its first 48 bits are
    /// the creation time in milliseconds) is over an hour old, so that runs beside this
    /// one keep theirs.
    fn drop_stale_databases(server: &str) {
        let Ok(out) = Command::new("psql")
            .args([
                server,
                "-qAtc",
                "SELECT datname FROM pg_database WHERE datname LIKE 'spv_http_%'",
            ])
            .output()
        else {
            return;
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or_default();
        for name in String::from_utf8_lossy(&out.stdout).lines() {
            let made = name
                .strip_prefix("spv_http_")
                .and_then(|hex| hex.get(..12))
                .and_then(|hex| u128::from_str_radix(hex, 16).ok());
            if made.is_some_and(|ms| now_ms.saturating_sub(ms) > 3_600_000) {
                let _ = Command::new("psql")
                    .args([
                        server,
                        "-qAtc",
                        &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                    ])
                    .output();
            }
        }
    }
}

fn doc() -> Value {
    json!({"format": "glyph", "version": 1, "pages": [
        {"width": 400, "height": 200, "background": "#2050f0", "layers": [
            {"type": "rect", "x": 10, "y": 10, "width": 100, "height": 50, "fill": "#ff0000"}]}]})
}

fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}

async fn problem(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        header(response.headers(), "content-type"),
        "application/problem+json"
    );
    response.json().await.unwrap()
}

#[tokio::test]
async fn health_security_headers_and_request_id() {
    let server = Server::start().await;
    let response = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(headers.get(header::SERVER).is_none(), "no Server header");
    assert_eq!(header(&headers, "x-content-type-options"), "nosniff");
    assert_eq!(header(&headers, "x-frame-options"), "DENY");
    assert_eq!(header(&headers, "referrer-policy"), "no-referrer");
    assert!(header(&headers, "content-security-policy").starts_with("default-src 'none'"));
    assert_eq!(
        header(&headers, "x-request-id").len(),
        36,
        "a generated UUID"
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );

    let client = reqwest::Client::new();
    let response = client
        .get(server.url("/ready?pretty"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(response.headers(), "x-request-id"),
        "abc-123",
        "propagated"
    );
    assert_eq!(
        response.text().await.unwrap(),
        "{\n  \"status\": \"ready\"\n}"
    );
    assert!(
        stack::scaled() || server.data.path().join("spv.db").exists(),
        "the SQLite database is in the data directory"
    );
    server.stop().await;
}

#[tokio::test]
async fn openapi_and_offline_docs() {
    let server = Server::start().await;
    let spec = server.openapi().await;
    assert!(
        spec["openapi"].as_str().unwrap().starts_with("3.1."),
        "{}",
        spec["openapi"]
    );
    for path in [
        "/api/v1/thumbnails",
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
    ] {
        assert!(spec["paths"][path].is_object(), "{path} is listed");
    }
    let schemes = &spec["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
    assert_eq!(schemes["apiKey"]["in"], "header");

    let response = reqwest::get(server.url("/docs")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(header(response.headers(), "content-security-policy").contains("'unsafe-inline'"));
    let html = response.text().await.unwrap();
    assert!(html.contains("<script src=\"docs/scalar.js\">"), "{html}");
    assert!(html.contains("\"openapi.json\""));
    assert!(!html.contains("https://"), "no external URL: {html}");
    let script = reqwest::get(server.url("/docs/scalar.js")).await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert!(
        script.bytes().await.unwrap().len() > 100_000,
        "the embedded bundle"
    );
    server.stop().await;
}

#[tokio::test]
async fn thumbnails_png_etag_and_304() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let body = json!({"document": doc(), "size": 100});
    let response = client
        .post(server.url("/api/v1/thumbnails"))
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "content-type"), "image/png");
    // (That images are never compressed is proven in transport.rs, which sends
    // Accept-Encoding.)
    let etag = header(response.headers(), "etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
    assert_eq!(png_size(&response.bytes().await.unwrap()), (100, 50));

    let again = client
        .post(server.url("/api/v1/thumbnails"))
        .bearer_auth(&server.token)
        .header("if-none-match", &etag)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(again.headers(), "etag"), etag);
    assert!(again.bytes().await.unwrap().is_empty());

    let other = json!({"document": doc(), "size": 101});
    let response = client
        .post(server.url("/api/v1/thumbnails"))
        .bearer_auth(&server.token)
        .header("if-none-match", &etag)
        .json(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "other options, other ETag"
    );
    assert_ne!(header(response.headers(), "etag"), etag);
    server.stop().await;
}

#[tokio::test]
async fn thumbnail_errors_are_problems() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let post = |body: Value| {
        client
            .post(server.url("/api/v1/thumbnails"))
            .bearer_auth(&server.token)
            .json(&body)
            .send()
    };

    let bad = json!({"format": "glyph", "version": 1, "pages": [{"width": -3, "height": 10, "layers": []}]});
    let p = problem(post(json!({"document": bad})).await.unwrap(), 400).await;
    assert_eq!(p["type"], "urn:spv:problem:invalid-document");
    assert!(
        p["detail"].as_str().unwrap().starts_with("pages[0].width"),
        "{p}"
    );
    assert_eq!(p["instance"], "/api/v1/thumbnails");

    let p = problem(
        post(json!({"document": doc(), "format": "gif"}))
            .await
            .unwrap(),
        400,
    )
    .await;
    assert_eq!(
        p["detail"],
        "format: \"gif\" is not valid; expected png, webp, jpeg or auto"
    );

    let p = problem(
        post(json!({"document": doc(), "size": 5000}))
            .await
            .unwrap(),
        400,
    )
    .await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("4096") && detail.contains("SPV_MAX_THUMBNAIL_SIZE"),
        "{detail}"
    );

    let p = problem(
        post(json!({"document": doc(), "page": 3})).await.unwrap(),
        404,
    )
    .await;
    assert_eq!(p["type"], "urn:spv:problem:not-found");

    let response = client
        .post(server.url("/api/v1/thumbnails"))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    let p = problem(response, 400).await;
    assert!(
        p["detail"].as_str().unwrap().starts_with("request body:"),
        "{p}"
    );

    let p = problem(reqwest::get(server.url("/nowhere")).await.unwrap(), 404).await;
    assert_eq!(p["instance"], "/nowhere");
    server.stop().await;
}

#[tokio::test]
async fn format_auto_negotiates_webp() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let body =
        json!({"document": doc(), "width": 64, "height": 64, "fit": "cover", "format": "auto"});
    let response = client
        .post(server.url("/api/v1/thumbnails"))
        .bearer_auth(&server.token)
        .header("accept", "image/avif,image/webp,*/*")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "content-type"), "image/webp");
    assert!(
        header(response.headers(), "vary")
            .to_ascii_lowercase()
            .contains("accept")
    );
    let webp_etag = header(response.headers(), "etag").to_owned();
    let bytes = response.bytes().await.unwrap();
    assert_eq!(&bytes[8..12], b"WEBP");

    let response = client
        .post(server.url("/api/v1/thumbnails"))
        .bearer_auth(&server.token)
        .header("accept", "image/png")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(header(response.headers(), "content-type"), "image/png");
    assert_ne!(header(response.headers(), "etag"), webp_etag);
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_requests() {
    let server = Server::start().await;
    reqwest::get(server.url("/health")).await.unwrap();
    let text = server.metrics().await;
    assert!(
        text.contains("spv_http_request_duration_seconds_count{method=\"GET\",route=\"/health\",status=\"200\"} 1"),
        "{text}"
    );
    assert!(text.contains("spv_http_requests_in_flight"));
    server.stop().await;
}

#[tokio::test]
async fn http2_prior_knowledge() {
    let server = Server::start().await;
    let client = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .unwrap();
    let response = client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), StatusCode::OK);
    let body = json!({"document": doc(), "size": 40});
    let response = client
        .post(server.url("/api/v1/thumbnails"))
        .bearer_auth(&server.token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(png_size(&response.bytes().await.unwrap()), (40, 20));
    server.stop().await;
}

#[tokio::test]
async fn bodies_over_the_limit_are_problems() {
    let server = Server::start_with(|config| config.body_limit_bytes = 1000).await;
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/documents"))
        .bearer_auth(&server.token)
        .header("content-type", "application/json")
        .body(vec![b' '; 5000])
        .send()
        .await
        .unwrap();
    let problem = problem(response, 413).await;
    assert_eq!(problem["type"], "urn:spv:problem:limit-exceeded");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("SPV_BODY_LIMIT_BYTES"),
        "{problem}"
    );
    server.stop().await;
}
