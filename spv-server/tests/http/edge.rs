//! Issue 15: connection caps and time limits, and the guards, against the real server
//! over raw TCP where a well-behaved client cannot show them.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::timeout;

use super::*;

/// The server's address.
fn addr(server: &Server) -> SocketAddr {
    server.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection from the loopback address `from` (127.0.0.2, …), so that the test's
/// own connections are the only ones of that client.
async fn connect_from(from: &str, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(format!("{from}:0").parse().unwrap()).unwrap();
    socket.connect(to).await.unwrap()
}

/// Reads until the server closes (EOF or reset); what it sent first.
async fn read_to_close(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return got,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

/// The value of the metric line that starts with `series ` in `text`.
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} in {text}"))
        .parse()
        .unwrap()
}

/// Guards against the 800-connection slowloris of issue 15: before, every half-sent
/// head was still held open 35 s later.
#[tokio::test]
async fn eight_hundred_half_heads_are_closed_after_the_head_timeout() {
    let server = Server::start_with(|c| {
        c.header_timeout_secs = 1;
        c.max_connections_per_ip = 1000;
    })
    .await;
    let to = addr(&server);
    let mut streams = Vec::new();
    for _ in 0..800 {
        let mut stream = connect_from("127.0.0.3", to).await;
        // The first ones may be closed already on a slow machine: a failed write is fine.
        let _ = stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
            .await;
        streams.push(stream);
    }
    // Each read ends when the server closes its connection: no sleeping, only a bound
    // that fails the test if the server never does.
    let closed = futures_util::future::join_all(streams.iter_mut().map(|stream| async move {
        timeout(Duration::from_secs(60), read_to_close(stream)).await
    }))
    .await;
    let still_open = closed.iter().filter(|r| r.is_err()).count();
    assert_eq!(
        still_open, 0,
        "connections still open after the head timeout"
    );
    let metrics = server.metrics().await;
    assert!(
        metric(&metrics, "spv_connections_timed_out_total{reason=\"head\"}") >= 800.0,
        "{metrics}"
    );
    // And the server still serves.
    let health = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn the_per_ip_cap_refuses_the_next_connection_until_one_closes() {
    let server = Server::start_with(|c| c.max_connections_per_ip = 3).await;
    let to = addr(&server);
    let request = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut stream = connect_from("127.0.0.2", to).await;
        stream.write_all(request).await.unwrap();
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"), "admitted and served");
        open.push(stream);
    }
    // The fourth: closed at once, never answered.
    let mut fourth = connect_from("127.0.0.2", to).await;
    let _ = fourth.write_all(request).await;
    let got = timeout(Duration::from_secs(30), read_to_close(&mut fourth))
        .await
        .unwrap();
    assert!(got.is_empty(), "refused without an answer: {got:?}");
    // Another address is not concerned.
    let other = reqwest::get(server.url("/health")).await.unwrap();
    assert_eq!(other.status(), StatusCode::OK);
    let metrics = server.metrics().await;
    assert_eq!(
        metric(&metrics, "spv_connections_refused_total{reason=\"per-ip\"}"),
        1.0
    );
    // One closes: its slot comes back once the server has seen it go.
    drop(open.pop());
    let admitted = timeout(Duration::from_secs(30), async {
        loop {
            let mut stream = connect_from("127.0.0.2", to).await;
            let _ = stream.write_all(request).await;
            let mut buf = [0u8; 1024];
            if let Ok(n) = stream.read(&mut buf).await
                && buf[..n].starts_with(b"HTTP/1.1 200")
            {
                return;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(admitted.is_ok(), "a slot came back");
    server.stop().await;
}

#[tokio::test]
async fn a_body_slower_than_the_minimum_rate_gets_408() {
    let server = Server::start_with(|c| {
        c.body_min_rate_bytes = 100;
        c.body_rate_grace_secs = 1;
    })
    .await;
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    let head = format!(
        "POST /api/v1/thumbnails HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{{\"document\":",
        server.token
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = timeout(Duration::from_secs(60), read_to_close(&mut stream))
        .await
        .expect("answered and closed");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("application/problem+json"), "{answer}");
    assert!(answer.contains("SPV_BODY_MIN_RATE_BYTES"), "{answer}");
    let metrics = server.metrics().await;
    assert_eq!(
        metric(&metrics, "spv_connections_timed_out_total{reason=\"body\"}"),
        1.0
    );
    server.stop().await;
}

#[tokio::test]
async fn maintenance_answers_503_everywhere_but_health_and_metrics() {
    // Not the harness: it logs in first, which maintenance refuses too.
    let data = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: data.path().to_owned(),
        job_workers: 1,
        shutdown_timeout_secs: 5,
        maintenance: true,
        maintenance_retry_after_secs: 42,
        ..Config::default()
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(spv_server::run(config, listener, async {
        let _ = stopped.await;
    }));
    let url = |path: &str| format!("{base}{path}");
    let client = reqwest::Client::new();
    for path in [
        "/api/v1/gallery",
        "/openapi.json",
        "/api/v1/documents",
        "/api/v1/auth/token",
    ] {
        let response = client.get(url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
        assert_eq!(response.headers()[header::RETRY_AFTER], "42");
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "application/problem+json"
        );
        assert!(
            response
                .headers()
                .get("strict-transport-security")
                .is_none(),
            "no HSTS over plain HTTP"
        );
        let problem: Value = response.json().await.unwrap();
        assert!(
            problem["detail"].as_str().unwrap().contains("maintenance"),
            "{problem}"
        );
    }
    for path in ["/health", "/ready", "/metrics"] {
        let response = client.get(url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let metrics = client
        .get(url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        metric(
            &metrics,
            "spv_requests_blocked_total{reason=\"maintenance\"}"
        ),
        4.0
    );
    let _ = stop.send(());
    let result = timeout(Duration::from_secs(30), task)
        .await
        .unwrap()
        .unwrap();
    assert!(result.is_ok(), "{result:?}");
}

#[tokio::test]
async fn host_allowlist_and_user_agent_block_list() {
    let server = Server::start_with(|c| {
        c.allowed_hosts = "localhost, 127.0.0.1, *.spv.example".parse().unwrap();
        c.blocked_user_agents = "(?i)sqlmap\n(?i)nikto".parse().unwrap();
    })
    .await;
    let client = reqwest::Client::builder()
        .user_agent("test/1")
        .build()
        .unwrap();
    let get = |host: &str| {
        client
            .get(server.url("/api/v1/gallery"))
            .header(header::HOST, host)
            .send()
    };
    assert_eq!(get("127.0.0.1").await.unwrap().status(), StatusCode::OK);
    assert_eq!(
        get("eu.spv.example:443").await.unwrap().status(),
        StatusCode::OK
    );
    let refused = get("evil.example").await.unwrap();
    assert_eq!(refused.status(), StatusCode::MISDIRECTED_REQUEST);
    let problem: Value = refused.json().await.unwrap();
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("SPV_ALLOWED_HOSTS")
    );
    assert_eq!(
        get("spv.example").await.unwrap().status(),
        StatusCode::MISDIRECTED_REQUEST,
        "a wildcard is for subdomains only"
    );
    // Probes name the pod's address, which no list holds.
    let probe = client
        .get(server.url("/health"))
        .header(header::HOST, "10.1.2.3:3000")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), StatusCode::OK);
    // No Host at all (HTTP/1.0).
    let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
    stream
        .write_all(b"GET /api/v1/gallery HTTP/1.0\r\nUser-Agent: test/1\r\n\r\n")
        .await
        .unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(
        answer.starts_with(b"HTTP/1.0 400"),
        "{}",
        String::from_utf8_lossy(&answer)
    );

    let sqlmap = client
        .get(server.url("/api/v1/gallery"))
        .header(header::USER_AGENT, "sqlmap/1.7.2#stable")
        .send()
        .await
        .unwrap();
    assert_eq!(sqlmap.status(), StatusCode::FORBIDDEN);
    let nikto = client
        .get(server.url("/api/v1/gallery"))
        .header(header::USER_AGENT, "Mozilla/5.00 (Nikto/2.1.6)")
        .send()
        .await
        .unwrap();
    // Each line is its own expression: the flag of the first does not reach the second.
    assert_eq!(nikto.status(), StatusCode::FORBIDDEN, "the second line");
    let metrics = server.metrics().await;
    assert_eq!(
        metric(&metrics, "spv_requests_blocked_total{reason=\"host\"}"),
        3.0
    );
    assert_eq!(
        metric(
            &metrics,
            "spv_requests_blocked_total{reason=\"user-agent\"}"
        ),
        2.0
    );
    server.stop().await;
}

#[tokio::test]
async fn a_client_sending_most_of_the_traffic_is_blocked_for_a_while() {
    let server = Server::start_with(|c| {
        c.heavy_hitter_percent = 50;
        c.heavy_hitter_min_requests = 20;
        c.heavy_hitter_block_secs = 120;
    })
    .await;
    let client = reqwest::Client::new();
    let mut refused = None;
    for i in 0..40 {
        let response = client
            .get(server.url("/api/v1/gallery"))
            .send()
            .await
            .unwrap();
        if response.status() == StatusCode::TOO_MANY_REQUESTS {
            refused = Some((i, response));
            break;
        }
        assert_eq!(response.status(), StatusCode::OK);
    }
    let (at, response) = refused.expect("blocked within 40 requests");
    assert!(
        at >= 18,
        "not before the window holds 20 requests (at {at})"
    );
    let retry: u64 = response.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    // Probes are never blocked; the rest stays refused.
    let health = client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let again = client
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::TOO_MANY_REQUESTS);
    let metrics = server.metrics().await;
    assert!(
        metric(
            &metrics,
            "spv_requests_blocked_total{reason=\"heavy-hitter\"}"
        ) >= 2.0
    );
    server.stop().await;
}

#[tokio::test]
async fn idle_and_old_connections_are_closed() {
    for (idle, age, reason) in [(1, 0, "idle"), (3600, 1, "age")] {
        let server = Server::start_with(|c| {
            c.idle_timeout_secs = idle;
            c.max_connection_age_secs = age;
            c.header_timeout_secs = 3600;
        })
        .await;
        let mut stream = TcpStream::connect(addr(&server)).await.unwrap();
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let answer = timeout(Duration::from_secs(60), read_to_close(&mut stream))
            .await
            .unwrap_or_else(|_| panic!("{reason}: the connection was closed"));
        assert!(
            answer.starts_with(b"HTTP/1.1 200"),
            "{reason}: served first"
        );
        let metrics = server.metrics().await;
        let closed = metric(
            &metrics,
            &format!("spv_connections_timed_out_total{{reason=\"{reason}\"}}"),
        );
        assert!(closed >= 1.0, "{reason}: {closed}");
        server.stop().await;
    }
}
