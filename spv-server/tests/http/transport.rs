//! The transport around the routes: TLS, graceful drain on shutdown, CORS and response
//! compression, each against a real server.

use std::io::Read as _;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use spv::config::Config;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{Instant, timeout};

use super::{ADMIN_PASSWORD, Server, doc, header, png_size};

/// Like [`Server::start`], with `edit` applied to the configuration first.
pub(super) async fn start_with(edit: impl FnOnce(&mut Config)) -> Server {
    let data = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: data.path().to_owned(),
        job_workers: 2,
        shutdown_timeout_secs: 5,
        admin_password: Some(ADMIN_PASSWORD.to_owned()),
        ..Config::default()
    };
    edit(&mut config);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr: SocketAddr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(spv_server::run(config, listener, async {
        let _ = stopped.await;
    }));
    let base = format!("http://{addr}");
    let response = reqwest::Client::new()
        .post(format!("{base}/api/v1/auth/token"))
        .json(&json!({"grant_type": "password", "username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "the admin's password grant"
    );
    let tokens: Value = response.json().await.unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();
    Server {
        base,
        token,
        stop: Some(stop),
        task,
        data,
    }
}

#[tokio::test]
async fn tls_serves_https_with_alpn_and_refuses_plain_http() {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let cert_pem = certified.cert.pem();
    let files = tempfile::tempdir().unwrap();
    let cert_path = files.path().join("cert.pem");
    let key_path = files.path().join("key.pem");
    std::fs::write(&cert_path, &cert_pem).unwrap();
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();

    let data = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: data.path().to_owned(),
        job_workers: 1,
        shutdown_timeout_secs: 5,
        admin_password: Some(ADMIN_PASSWORD.to_owned()),
        tls_cert: Some(cert_path.clone()),
        tls_key: Some(key_path),
        ..Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(spv_server::run(config, listener, async {
        let _ = stopped.await;
    }));

    let trusting = |builder: reqwest::ClientBuilder| {
        builder
            .add_root_certificate(reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap())
            .resolve("localhost", addr)
            .build()
            .unwrap()
    };
    let url = format!("https://localhost:{}/health", addr.port());
    let response = trusting(reqwest::Client::builder())
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.version(),
        reqwest::Version::HTTP_2,
        "h2 through ALPN"
    );
    // Issue 15: over TLS every answer asks browsers to stay on HTTPS.
    assert_eq!(
        response.headers()["strict-transport-security"],
        "max-age=31536000"
    );
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "ok"})
    );
    let response = trusting(reqwest::Client::builder().http1_only())
        .get(&url)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.version(), reqwest::Version::HTTP_11);

    // The certificate is really checked: a client that does not trust it gets nowhere.
    let untrusting = reqwest::Client::builder()
        .resolve("localhost", addr)
        .build()
        .unwrap();
    let refused = untrusting.get(&url).send().await;
    assert!(refused.is_err(), "an untrusted certificate: {refused:?}");
    let plain = reqwest::get(format!("http://{addr}/health")).await;
    assert!(plain.is_err(), "plain HTTP to the TLS port: {plain:?}");

    let _ = stop.send(());
    let result = timeout(Duration::from_secs(10), task)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok(), "{result:?}");

    // A certificate file that is not PEM stops start-up with a message naming the variable.
    let bad = files.path().join("bad.pem");
    std::fs::write(&bad, "not a certificate").unwrap();
    let config = Config {
        data_dir: data.path().to_owned(),
        tls_cert: Some(bad),
        tls_key: Some(cert_path),
        ..Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let error = spv_server::run(config, listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(format!("{error:#}").contains("SPV_TLS_CERT"), "{error:#}");
}

/// Reads from `stream` until the end of a response head (`\r\n\r\n`).
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0_u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = timeout(Duration::from_secs(30), stream.read(&mut byte))
            .await
            .expect("a response head within 30 s")
            .unwrap();
        assert_eq!(
            n,
            1,
            "the connection closed early: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

#[tokio::test]
async fn shutdown_drains_in_flight_requests_and_refuses_new_connections() {
    // A long drain deadline, so that finishing early proves the drain, not the deadline.
    let server = start_with(|c| c.shutdown_timeout_secs = 60).await;
    let addr = server.base.trim_start_matches("http://").to_owned();
    let body = serde_json::to_vec(&json!({"document": doc(), "size": 64})).unwrap();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/thumbnails HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nexpect: 100-continue\r\n\r\n",
        server.token,
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // hyper answers `100 Continue` only when the handler starts reading the body: from
    // here on the request is in flight inside the server.
    let interim = read_head(&mut stream).await;
    assert!(interim.starts_with("HTTP/1.1 100 Continue"), "{interim}");
    let half = body.len() / 2;
    stream.write_all(&body[..half]).await.unwrap();

    let Server {
        stop,
        task,
        data: _data,
        ..
    } = server;
    stop.unwrap().send(()).unwrap();

    // The listener closes: new connections are refused. (Polled: nothing in the server
    // signals that moment to an outside client. A connection caught in the closing
    // listener's backlog is reset; only a refusal proves the port is closed.)
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match TcpStream::connect(&addr).await {
            Err(error) if error.kind() == std::io::ErrorKind::ConnectionRefused => break,
            Err(error) if error.kind() != std::io::ErrorKind::ConnectionReset => {
                panic!("connecting after shutdown: {error}");
            }
            _ => {
                assert!(
                    Instant::now() < deadline,
                    "still accepting 10 s after shutdown"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    assert!(
        !task.is_finished(),
        "the server waits for the request in flight"
    );

    stream.write_all(&body[half..]).await.unwrap();
    let mut response = Vec::new();
    timeout(Duration::from_secs(30), stream.read_to_end(&mut response))
        .await
        .expect("the response, then the connection closes")
        .unwrap();
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    let head = String::from_utf8_lossy(&response[..split]).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok"), "{head}");
    assert!(head.contains("content-type: image/png"), "{head}");
    assert_eq!(png_size(&response[split..]), (64, 32));

    let result = timeout(Duration::from_secs(10), task)
        .await
        .expect("the server returns once drained, long before its deadline")
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn cors_answers_preflights_from_allowed_origins_only() {
    const ALLOWED: &str = "https://app.example";
    let server = start_with(|c| c.cors_origins = vec![ALLOWED.to_owned()]).await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, server.url("/api/v1/documents"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };

    let response = preflight(ALLOWED).await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    let headers = response.headers();
    assert_eq!(header(headers, "access-control-allow-origin"), ALLOWED);
    assert!(
        header(headers, "access-control-allow-methods").contains("POST"),
        "{headers:?}"
    );
    let allowed_headers = header(headers, "access-control-allow-headers").to_ascii_lowercase();
    assert!(
        allowed_headers.contains("authorization") && allowed_headers.contains("x-api-key"),
        "{allowed_headers}"
    );

    let response = preflight("https://evil.example").await.unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "a disallowed origin: {:?}",
        response.headers()
    );

    // The actual request from the allowed origin may read the headers clients need.
    let response = client
        .get(server.url("/api/v1/documents"))
        .bearer_auth(&server.token)
        .header("origin", ALLOWED)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "access-control-allow-origin"),
        ALLOWED
    );
    let exposed = header(response.headers(), "access-control-expose-headers").to_ascii_lowercase();
    assert!(
        exposed.contains("etag") && exposed.contains("location"),
        "{exposed}"
    );
    server.stop().await;

    // Without SPV_CORS_ORIGINS no origin is allowed.
    let server = Server::start().await;
    let response = reqwest::Client::new()
        .request(reqwest::Method::OPTIONS, server.url("/api/v1/documents"))
        .header("origin", ALLOWED)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "CORS is off by default: {:?}",
        response.headers()
    );
    server.stop().await;
}

fn decode(encoding: &str, bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match encoding {
        "gzip" => {
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .unwrap();
        }
        "br" => {
            brotli_decompressor::Decompressor::new(bytes, 4096)
                .read_to_end(&mut out)
                .unwrap();
        }
        "zstd" => out = zstd::stream::decode_all(bytes).unwrap(),
        other => panic!("no decoder for {other}"),
    }
    out
}

#[tokio::test]
async fn compression_for_json_never_for_images() {
    let server = Server::start().await;
    // reqwest is built without its decompression features: it neither asks for an
    // encoding nor decodes one, so the bytes below are what the server sent.
    let client = reqwest::Client::new();
    let plain = client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.unwrap();
    let spec: Value = serde_json::from_slice(&plain).unwrap();

    for encoding in ["gzip", "br", "zstd"] {
        let response = client
            .get(server.url("/openapi.json"))
            .header("accept-encoding", encoding)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(header(response.headers(), "content-encoding"), encoding);
        assert!(
            header(response.headers(), "vary")
                .to_ascii_lowercase()
                .contains("accept-encoding"),
            "{:?}",
            response.headers()
        );
        let bytes = response.bytes().await.unwrap();
        assert!(
            bytes.len() < plain.len() / 2,
            "{encoding}: {} of {} bytes",
            bytes.len(),
            plain.len()
        );
        let decoded: Value = serde_json::from_slice(&decode(encoding, &bytes)).unwrap();
        assert_eq!(decoded, spec, "{encoding} decodes to the same document");
    }

    let response = client
        .post(server.url("/api/v1/thumbnails"))
        .bearer_auth(&server.token)
        .header("accept-encoding", "gzip, br, zstd")
        .json(&json!({"document": doc(), "size": 200}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "content-type"), "image/png");
    assert!(
        response.headers().get("content-encoding").is_none(),
        "images are never compressed: {:?}",
        response.headers()
    );
    assert_eq!(png_size(&response.bytes().await.unwrap()), (200, 100));

    // The same for a stored document's cacheable thumbnail.
    let created: Value = client
        .post(server.url("/api/v1/documents"))
        .bearer_auth(&server.token)
        .json(&doc())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().expect("the new document's id");
    let response = client
        .get(server.url(&format!("/api/v1/documents/{id}/thumbnail?size=200")))
        .bearer_auth(&server.token)
        .header("accept-encoding", "gzip, br, zstd")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "content-type"), "image/png");
    assert!(
        response.headers().get("content-encoding").is_none(),
        "images are never compressed: {:?}",
        response.headers()
    );
    assert_eq!(png_size(&response.bytes().await.unwrap()), (200, 100));

    // Asset bytes (a font: compressible) keep their identity encoding, since their
    // strong ETag and byte ranges name the identity bytes.
    let font = include_bytes!("../../../spv/fonts/DejaVuSans.ttf");
    let uploaded = client
        .post(server.url("/api/v1/assets"))
        .bearer_auth(&server.token)
        .body(font.to_vec())
        .send()
        .await
        .unwrap();
    let location = header(uploaded.headers(), "location").to_owned();
    let response = client
        .get(server.url(&location))
        .bearer_auth(&server.token)
        .header("accept-encoding", "gzip, br, zstd")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers().get("content-encoding").is_none(),
        "asset bytes are never compressed: {:?}",
        response.headers()
    );
    assert_eq!(response.bytes().await.unwrap().len(), font.len());
    server.stop().await;
}
