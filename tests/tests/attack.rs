//! The attack suite: a real `spv-server` process (SQLite, local blobs, a known
//! `JWT_SECRET` and a small body limit) met as an attacker would, over HTTP/1.1 and raw
//! TCP:
//!
//! - oversized request heads (one huge header, too many headers) and bodies (declared
//!   and chunked);
//! - hostile packages: a zip bomb (a `document.json` that inflates past the JSON limit),
//!   too many entries, entry names that climb out (`../`), groups nested past the limit,
//!   JSON nested deeper than any parser stack;
//! - path traversal in every path and name the API takes (ids, asset file names, asset
//!   sources of documents);
//! - malformed UTF-8 and JSON in bodies and headers;
//! - forged tokens: `alg: none`, an RS256 header over the HS256 secret, a wrong key, a
//!   tampered payload, an expired one; a revoked API key; a refresh token used twice;
//! - a spoofed `X-Forwarded-For` from a peer that is not a trusted proxy.
//!
//! Each is refused within seconds with the right status and, where spv answers (not
//! hyper's own 431), a problem+json of the right type; the documents, assets and blob
//! files are the same after as before; the server's RSS stays within a generous bound
//! and it never panics.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use spv_tests::server::SpvServer;

const PASSWORD: &str = "attack-admin-password-1";
const SECRET: &str = "attack-suite-jwt-secret-0123456789abcdef";
/// The server's body limit in this suite.
const BODY_LIMIT: usize = 1 << 20;
/// A refusal slower than this is a hang (generous for a loaded 2-core machine).
const REFUSED_WITHIN: Duration = Duration::from_secs(10);

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

struct Target {
    server: SpvServer,
    data: tempfile::TempDir,
    token: String,
    refresh: String,
}

impl Target {
    async fn start() -> Target {
        let data = tempfile::tempdir().unwrap();
        let limit = BODY_LIMIT.to_string();
        let server = SpvServer::start(
            data.path(),
            PASSWORD,
            &[
                ("SPV_RENDERER", "cpu"),
                ("SPV_JOB_WORKERS", "1"),
                ("JWT_SECRET", SECRET),
                ("SPV_BODY_LIMIT_BYTES", limit.as_str()),
                // Few enough that the spoofed attempts below meet the limit.
                ("SPV_RATE_LIMITS", "auth=40/1h"),
            ],
        );
        let tokens = password_grant(&server).await;
        assert_eq!(tokens.status(), 200);
        let tokens: Value = tokens.json().await.unwrap();
        Target {
            server,
            data,
            token: tokens["access_token"].as_str().unwrap().to_string(),
            refresh: tokens["refresh_token"].as_str().unwrap().to_string(),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.server.url())
    }

    /// Everything a refused request must not have changed: the ids of the documents and
    /// assets, and the files under the data directory's `blobs`.
    async fn written(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let mut files = Vec::new();
        list_files(&self.data.path().join("blobs"), &mut files);
        files.retain(|f| !f.contains("/tmp/"));
        files.sort();
        (
            self.ids("/api/v1/documents").await,
            self.ids("/api/v1/assets").await,
            files,
        )
    }

    async fn ids(&self, path: &str) -> Vec<String> {
        let response = http()
            .get(self.url(&format!("{path}?perPage=100")))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
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
}

fn list_files(dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            list_files(&path, out);
        } else {
            out.push(path.display().to_string());
        }
    }
}

async fn password_grant(server: &SpvServer) -> reqwest::Response {
    http()
        .post(format!("{}/api/v1/auth/token", server.url()))
        .json(&json!({"grant_type": "password", "username": "admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

/// Sends `request`; checks that it is refused within [`REFUSED_WITHIN`] with `status`
/// and a problem+json of `code`.
async fn refused(what: &str, request: reqwest::RequestBuilder, status: u16, code: &str) -> Value {
    let started = Instant::now();
    let response = request.send().await.unwrap();
    let took = started.elapsed();
    assert!(took < REFUSED_WITHIN, "{what}: answered after {took:?}");
    let got = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let text = response.text().await.unwrap();
    assert_eq!(got, status, "{what}: {text}");
    assert_eq!(content_type, "application/problem+json", "{what}: {text}");
    let problem: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(problem["code"], code, "{what}: {text}");
    assert_eq!(problem["type"], format!("urn:spv:problem:{code}"), "{what}");
    problem
}

/// Writes `request` on a fresh connection and reads the status line of the answer
/// (`None` when the server closed the connection without one), within
/// [`REFUSED_WITHIN`].
fn raw_status(addr: std::net::SocketAddr, request: &[u8]) -> Option<u16> {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(REFUSED_WITHIN)).unwrap();
    // The server may answer and close before it read everything: a failed write is fine.
    let _ = stream.write_all(request);
    let mut answer = Vec::new();
    let mut buf = [0_u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    assert!(
        started.elapsed() < REFUSED_WITHIN,
        "answered after {:?}",
        started.elapsed()
    );
    let line = String::from_utf8_lossy(&answer);
    line.split(' ').nth(1).and_then(|code| code.parse().ok())
}

fn document() -> Value {
    json!({"format": "glyph", "version": 1,
        "pages": [{"width": 100, "height": 60, "background": "#808080", "layers": []}]})
}

/// A 2×2 PNG.
fn tiny_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 2, 2);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&[200; 16]).unwrap();
    writer.finish().unwrap();
    out
}

/// A zip of `entries` (name, bytes), deflated.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zip = zip::ZipWriter::new(&mut out);
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(false);
    for (name, bytes) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    out.into_inner()
}

/// A token over `header` and `claims`, signed with HS256 under `key` (or unsigned).
fn token(header: &Value, claims: &Value, key: Option<&[u8]>) -> String {
    let encode = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
    let signing_input = format!("{}.{}", encode(header), encode(claims));
    let signature = key.map_or_else(String::new, |key| hs256(key, signing_input.as_bytes()));
    format!("{signing_input}.{signature}")
}

/// HMAC-SHA256 of `message` under `key`, base64url (through jsonwebtoken's own signer).
fn hs256(key: &[u8], message: &[u8]) -> String {
    jsonwebtoken::crypto::sign(
        message,
        &jsonwebtoken::EncodingKey::from_secret(key),
        jsonwebtoken::Algorithm::HS256,
    )
    .unwrap()
}

/// The claims of a valid admin token, from a real one.
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_are_refused_and_write_nothing() {
    let t = Target::start().await;
    let client = http();
    // Something to find: one document, one asset.
    let response = client
        .post(t.url("/api/v1/documents"))
        .bearer_auth(&t.token)
        .json(&document())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let doc_id = response.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // An upload named to climb out keeps only a harmless last part of its name.
    let outside = t.data.path().parent().unwrap().join("evil.png");
    let response = client
        .post(t.url("/api/v1/assets"))
        .bearer_auth(&t.token)
        .header(
            "content-disposition",
            "attachment; filename=\"../../evil.png\"",
        )
        .body(tiny_png())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let asset: Value = response.json().await.unwrap();
    let name = asset["filename"].as_str().unwrap_or_default();
    assert!(!name.contains('/') && !name.contains(".."), "{asset}");
    assert!(
        !outside.exists(),
        "nothing was written outside the data directory"
    );
    let before = t.written().await;
    let rss_before = t.server.rss_kib();

    // Oversized heads: hyper refuses them itself (431, or the connection closed).
    let addr = t.server.addr();
    let huge = format!(
        "GET /health HTTP/1.1\r\nHost: x\r\nX-Junk: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let status = raw_status(addr, huge.as_bytes());
    assert!(
        matches!(status, None | Some(431) | Some(400)),
        "a 1 MiB header: {status:?}"
    );
    let many: String = (0..1000).map(|i| format!("X-H{i}: v\r\n")).collect();
    let status = raw_status(
        addr,
        format!("GET /health HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    );
    assert!(
        matches!(status, None | Some(431) | Some(400)),
        "1000 headers: {status:?}"
    );

    // Oversized bodies: declared (refused before it is read) and chunked (refused at
    // the limit).
    let over = vec![b' '; BODY_LIMIT + 1];
    refused(
        "a declared body over the limit",
        client
            .post(t.url("/api/v1/documents"))
            .bearer_auth(&t.token)
            .body(over.clone()),
        413,
        "limit-exceeded",
    )
    .await;
    let mut chunked = format!(
        "POST /api/v1/documents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        t.token
    )
    .into_bytes();
    for _ in 0..20 {
        let chunk = vec![b' '; BODY_LIMIT / 10];
        chunked.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        chunked.extend_from_slice(&chunk);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(
        raw_status(addr, &chunked),
        Some(413),
        "a chunked body over the limit"
    );
    refused(
        "an asset over the limit",
        client
            .post(t.url("/api/v1/assets"))
            .bearer_auth(&t.token)
            .body(over),
        413,
        "limit-exceeded",
    )
    .await;

    // Hostile packages.
    let mut bomb = vec![b' '; 40 << 20];
    bomb.extend_from_slice(serde_json::to_string(&document()).unwrap().as_bytes());
    let bomb = zip_of(&[("document.json", &bomb)]);
    assert!(
        bomb.len() < BODY_LIMIT,
        "the bomb is small: {} bytes",
        bomb.len()
    );
    refused(
        "a zip bomb (40 MiB of JSON in a small package)",
        client
            .post(t.url("/api/v1/documents"))
            .bearer_auth(&t.token)
            .header("content-type", "application/zip")
            .body(bomb),
        400,
        "limit-exceeded",
    )
    .await;
    let json = serde_json::to_vec(&document()).unwrap();
    let names: Vec<String> = (0..10_001).map(|i| format!("{i}")).collect();
    let mut entries: Vec<(&str, &[u8])> = vec![("document.json", &json)];
    entries.extend(names.iter().map(|n| (n.as_str(), &b""[..])));
    let crowded = zip_of(&entries);
    assert!(crowded.len() < BODY_LIMIT, "{} bytes", crowded.len());
    refused(
        "a package of 10,002 entries",
        client
            .post(t.url("/api/v1/documents"))
            .bearer_auth(&t.token)
            .header("content-type", "application/zip")
            .body(crowded),
        400,
        "limit-exceeded",
    )
    .await;
    let climbing = zip_of(&[("document.json", &json), ("../../etc/evil.png", b"x")]);
    refused(
        "a package entry named ../../etc/evil.png",
        client
            .post(t.url("/api/v1/documents"))
            .bearer_auth(&t.token)
            .header("content-type", "application/zip")
            .body(climbing),
        400,
        "invalid-document",
    )
    .await;
    let mut nested = json!({"type": "rect", "x": 0, "y": 0, "width": 1, "height": 1});
    for _ in 0..100 {
        nested = json!({"type": "group", "layers": [nested]});
    }
    let mut deep_doc = document();
    deep_doc["pages"][0]["layers"] = json!([nested]);
    refused(
        "groups nested 100 deep",
        client
            .post(t.url("/api/v1/documents"))
            .bearer_auth(&t.token)
            .json(&deep_doc),
        400,
        "limit-exceeded",
    )
    .await;
    let deep_json = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
    refused(
        "JSON nested 200,000 deep",
        client
            .post(t.url("/api/v1/documents"))
            .bearer_auth(&t.token)
            .header("content-type", "application/json")
            .body(deep_json),
        400,
        "limit-exceeded",
    )
    .await;

    // Path traversal.
    for path in [
        "/api/v1/documents/..%2F..%2Fetc%2Fpasswd",
        "/api/v1/documents/%2e%2e/%2e%2e/etc/passwd/content",
        "/api/v1/assets/..%2Fspv.db",
        "/api/v1/jobs/..%2F..%2Fjwt_secret",
    ] {
        let response = client
            .get(t.url(path))
            .bearer_auth(&t.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(matches!(status, 400 | 404), "{path}: {status}");
        let body = response.text().await.unwrap();
        assert!(
            !body.contains("root:") && !body.contains("SQLite"),
            "{path}: {body}"
        );
    }
    let mut traversing = document();
    traversing["assets"] = json!({
        "a": {"type": "image", "src": "../../../../etc/passwd"},
        "b": {"type": "image", "src": "file:///etc/passwd"},
        "c": {"type": "image", "src": "/etc/passwd"}});
    for (i, asset) in ["a", "b", "c"].iter().enumerate() {
        traversing["pages"][0]["layers"] = json!([{"type": "image", "asset": asset,
            "x": 0, "y": 0, "width": 10, "height": 10}]);
        let response = client
            .post(t.url("/api/v1/thumbnails"))
            .bearer_auth(&t.token)
            .json(&json!({"document": traversing, "size": 32}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        // Either refused, or drawn with a placeholder and never cached: never the file.
        assert!(matches!(status, 200 | 400 | 422), "source {i}: {status}");
        if status == 200 {
            assert_eq!(headers["content-type"], "image/png", "source {i}");
        }
    }
    assert!(
        !outside.exists(),
        "nothing was written outside the data directory"
    );

    // Malformed UTF-8 and JSON.
    for (what, body) in [
        (
            "invalid UTF-8",
            b"{\"format\":\"glyph\",\"title\":\"\xff\xfe\"}".to_vec(),
        ),
        (
            "a truncated document",
            b"{\"format\":\"glyph\",\"version\":1,\"pages\":[".to_vec(),
        ),
        (
            "a lone surrogate",
            b"{\"format\":\"glyph\",\"title\":\"\\ud800\"}".to_vec(),
        ),
        ("not JSON", b"\x00\x01\x02".to_vec()),
    ] {
        refused(
            what,
            client
                .post(t.url("/api/v1/documents"))
                .bearer_auth(&t.token)
                .header("content-type", "application/json")
                .body(body),
            400,
            "invalid-document",
        )
        .await;
    }
    let status = client
        .post(t.url("/api/v1/auth/token"))
        .header("content-type", "application/json")
        .body(&b"{\"grant_type\":\"password\",\"username\":\"\xff\"}"[..])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 400, "a token request of invalid UTF-8");
    let garbage = b"GET /api/v1/users/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe\x80\r\nConnection: close\r\n\r\n";
    assert_eq!(
        raw_status(addr, garbage),
        Some(401),
        "a token of invalid UTF-8"
    );

    // Forged and stale tokens.
    let claims = claims_of(&t.token);
    let me = || client.get(t.url("/api/v1/users/me"));
    let now = claims["iat"].as_u64().unwrap();
    let forged = [
        (
            "alg none",
            token(&json!({"alg": "none", "typ": "JWT"}), &claims, None),
        ),
        (
            "alg None with a signature",
            format!("{}sig", token(&json!({"alg": "None"}), &claims, None)),
        ),
        (
            "RS256 header over the HS256 secret",
            token(
                &json!({"alg": "RS256", "typ": "JWT"}),
                &claims,
                Some(SECRET.as_bytes()),
            ),
        ),
        (
            "HS512 header",
            token(
                &json!({"alg": "HS512", "typ": "JWT"}),
                &claims,
                Some(SECRET.as_bytes()),
            ),
        ),
        (
            "a wrong key",
            token(
                &json!({"alg": "HS256", "typ": "JWT"}),
                &claims,
                Some(&b"not-the-secret-at-all-0123456789"[..]),
            ),
        ),
        ("a tampered payload", {
            let mut raised = claims.clone();
            raised["name"] = json!("root");
            raised["sub"] = json!(uuid::Uuid::nil().to_string());
            let parts: Vec<&str> = t.token.split('.').collect();
            format!(
                "{}.{}.{}",
                parts[0],
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&raised).unwrap()),
                parts[2]
            )
        }),
        ("an expired token", {
            let mut old = claims.clone();
            old["iat"] = json!(now - 7200);
            old["nbf"] = json!(now - 7200);
            old["exp"] = json!(now - 3600);
            token(
                &json!({"alg": "HS256", "typ": "JWT"}),
                &old,
                Some(SECRET.as_bytes()),
            )
        }),
        ("not yet valid", {
            let mut early = claims.clone();
            early["nbf"] = json!(now + 3600);
            early["exp"] = json!(now + 7200);
            token(
                &json!({"alg": "HS256", "typ": "JWT"}),
                &early,
                Some(SECRET.as_bytes()),
            )
        }),
        ("another issuer", {
            let mut other = claims.clone();
            other["iss"] = json!("someone-else");
            token(
                &json!({"alg": "HS256", "typ": "JWT"}),
                &other,
                Some(SECRET.as_bytes()),
            )
        }),
    ];
    // The forger's own signature is right: the server accepts what it signed itself.
    let genuine = token(
        &json!({"alg": "HS256", "typ": "JWT"}),
        &claims,
        Some(SECRET.as_bytes()),
    );
    assert_eq!(
        me().bearer_auth(&genuine).send().await.unwrap().status(),
        200
    );
    for (what, jwt) in forged {
        refused(what, me().bearer_auth(&jwt), 401, "unauthenticated").await;
    }

    // A revoked API key; a refresh token used twice (the family is revoked).
    let key: Value = client
        .post(t.url("/api/v1/api-keys"))
        .bearer_auth(&t.token)
        .json(&json!({"name": "doomed", "scopes": ["documents:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = key["key"].as_str().unwrap();
    let read = || {
        client
            .get(t.url(&format!("/api/v1/documents/{doc_id}")))
            .header("x-api-key", secret)
    };
    assert_eq!(read().send().await.unwrap().status(), 200);
    let revoked = client
        .delete(t.url(&format!("/api/v1/api-keys/{}", key["id"].as_str().unwrap())))
        .bearer_auth(&t.token)
        .send()
        .await
        .unwrap();
    assert!(revoked.status().is_success(), "{}", revoked.status());
    refused("a revoked API key", read(), 401, "unauthenticated").await;
    let mut tampered_key = secret.to_string();
    tampered_key.pop();
    tampered_key.push(if secret.ends_with('A') { 'B' } else { 'A' });
    refused(
        "a tampered API key",
        client
            .get(t.url(&format!("/api/v1/documents/{doc_id}")))
            .header("x-api-key", tampered_key),
        401,
        "unauthenticated",
    )
    .await;
    let refresh = |token: &str| {
        client
            .post(t.url("/api/v1/auth/token"))
            .json(&json!({"grant_type": "refresh_token", "refresh_token": token}))
    };
    let rotated: Value = refresh(&t.refresh)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let next = rotated["refresh_token"].as_str().unwrap().to_string();
    refused(
        "a refresh token used twice",
        refresh(&t.refresh),
        401,
        "unauthenticated",
    )
    .await;
    refused(
        "the token rotated from a reused one",
        refresh(&next),
        401,
        "unauthenticated",
    )
    .await;

    // A spoofed X-Forwarded-For from an untrusted peer counts as that peer: 40 tries
    // an hour (some spent above), whatever address each claims. Each names another
    // user, so that only the client's address keys the limit.
    let mut limited = 0;
    for i in 0..45 {
        let response = client
            .post(t.url("/api/v1/auth/token"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .header("forwarded", format!("for=198.51.100.{i}"))
            .json(
                &json!({"grant_type": "password", "username": format!("nobody{i}"),
                "password": "wrong"}),
            )
            .send()
            .await
            .unwrap();
        match response.status().as_u16() {
            401 => {}
            429 => {
                let problem: Value = response.json().await.unwrap();
                assert_eq!(problem["code"], "rate-limited");
                limited += 1;
            }
            other => panic!("attempt {i}: {other}"),
        }
    }
    assert!(
        limited >= 5,
        "the spoofed addresses shared one limit: {limited} refused"
    );

    // Nothing written; memory bounded; no panic.
    assert_eq!(
        t.written().await,
        before,
        "documents, assets and blobs as before"
    );
    if let (Some(before), Some(after)) = (rss_before, t.server.rss_kib()) {
        eprintln!("attack suite: server RSS {before} KiB before, {after} KiB after");
        assert!(
            after < before + 200 * 1024,
            "RSS grew from {before} to {after} KiB"
        );
        assert!(after < 512 * 1024, "RSS {after} KiB");
    }
    let Target { server, .. } = t;
    let log = server.kill();
    assert!(!log.contains("panicked"), "no panic; the log:\n{log}");
}
