//! Live editing under load (issue 14): `spv_server::run` on 127.0.0.1 (SQLite, the
//! embedded default) and `LiveSession`s in the same process, over real sockets.
//!
//! ```sh
//! cargo bench -p spv-client --bench live            # every scenario
//! cargo bench -p spv-client --bench live -- open     # one of: flood, paced, memory, open
//! ```
//!
//! - `flood`: 30 and 100 sessions on one document, each with 4 pushes in flight: pushes
//!   acknowledged a second, ack and fan-out latency p50/p99 (fan-out: from a push's send
//!   to its `change` at another session).
//! - `paced`: 30 sessions each pushing 10 a second: ack and fan-out p50/p99.
//! - `memory`: the server process's RSS growth per open document and per session (raw
//!   sockets, so the clients weigh next to nothing).
//! - `open`: time from `connect` to `welcome` for a 10,000- and a 100,000-node document
//!   (the first open: the actor loads, gives nothing new ids, serializes).
//!
//! The baseline of each row is the first row of its scenario, measured in the same run.
//! The process allocates with mimalloc, as the `spv-server` binary does.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use spv::config::Config;
use spv::glyph::ops::{Op, Target};
use spv_client::api::{CreateDocument, Principal, Secret};
use spv_client::{Client, LiveEvent, LiveSession};
use tokio::sync::Mutex;

/// The allocator of the `spv-server` binary: the server in this process allocates as it
/// does there (glibc's malloc took a third of the profile).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const PASSWORD: &str = "live-bench-password-1";

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn document(nodes: usize) -> Vec<u8> {
    let layers: Vec<Value> = (0..nodes)
        .map(|i| {
            json!({"id": format!("n{i}"), "type": "rect", "x": i % 700, "y": (i / 700) % 500,
                   "width": 10, "height": 10, "fill": "#336699"})
        })
        .collect();
    serde_json::to_vec(&json!({"format": "glyph", "version": 1, "pages": [
        {"id": "p", "width": 800, "height": 600, "layers": layers}]}))
    .unwrap()
}

struct Bench {
    addr: SocketAddr,
    client: Client,
    token: String,
    _data: tempfile::TempDir,
}

async fn start() -> Bench {
    let data = tempfile::tempdir().unwrap();
    let config = Config {
        data_dir: data.path().to_owned(),
        admin_password: Some(PASSWORD.to_owned()),
        // No rate limits in the way of the load.
        rate_limits: spv::ratelimit::RateLimits::off(),
        live_max_sessions: 1000,
        ..Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(spv_server::run(config, listener, std::future::pending()));
    let client = Client::builder(format!("http://{addr}"))
        .password("admin", Secret::new(PASSWORD))
        .timeout(Duration::from_secs(300))
        .build()
        .unwrap();
    let http = reqwest::Client::new();
    let answer: Value = http
        .post(format!("http://{addr}/api/v1/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    Bench {
        addr,
        client,
        token: answer["access_token"].as_str().unwrap().to_string(),
        _data: data,
    }
}

impl Bench {
    async fn create(&self, nodes: usize) -> uuid::Uuid {
        self.client
            .call_service(CreateDocument::new(Principal::default(), document(nodes)))
            .await
            .unwrap()
            .id
    }

    /// A raw socket that has received its first message; the time it took.
    async fn raw(
        &self,
        id: uuid::Uuid,
    ) -> (
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        Duration,
    ) {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
        let url = format!("ws://{}/api/v1/documents/{id}/live", self.addr);
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "authorization",
            format!("Bearer {}", self.token).parse().unwrap(),
        );
        let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
        config.max_message_size = Some(256 << 20);
        config.max_frame_size = Some(256 << 20);
        // Small client buffers, so that the memory row shows the server's share.
        config.read_buffer_size = 4096;
        config.write_buffer_size = 0;
        let started = Instant::now();
        let (mut socket, _) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), true)
                .await
                .unwrap();
        socket
            .send(tokio_tungstenite::tungstenite::Message::Text(
                r#"{"type":"connect","protocol":1,"lastSeq":null}"#.into(),
            ))
            .await
            .unwrap();
        loop {
            match socket.next().await {
                Some(Ok(tokio_tungstenite::tungstenite::Message::Text(_))) => break,
                Some(Ok(_)) => continue,
                other => panic!("no welcome: {other:?}"),
            }
        }
        (socket, started.elapsed())
    }
}

/// Fan-out samples: each change carries its push's send time (µs since `epoch`).
async fn follow(
    session: Arc<LiveSession>,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    out: Arc<Mutex<Vec<f64>>>,
) {
    let mut mine = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Some(event) = session.next_event_within(Duration::from_millis(200)).await else {
            continue;
        };
        if let LiveEvent::Change(change) = event
            && let Some(Op::Set { value, .. }) = change.ops.first()
            && let Some(sent) = value.as_u64()
        {
            let now = epoch.elapsed().as_micros() as u64;
            mine.push(now.saturating_sub(sent) as f64 / 1000.0);
        }
    }
    out.lock().await.extend(mine);
}

/// `sessions` sessions push for `secs` seconds: `in_flight` pushes each at a time, or
/// (with `rate`) that many a second each. Returns (accepted/s, ack ms, fan-out ms).
async fn run_load(
    bench: &Bench,
    sessions: usize,
    secs: u64,
    in_flight: usize,
    rate: Option<u32>,
) -> (f64, Vec<f64>, Vec<f64>) {
    let id = bench.create(50).await;
    let mut live = Vec::new();
    for _ in 0..sessions {
        live.push(Arc::new(bench.client.live(id).await.unwrap()));
    }
    let epoch = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));
    let acks = Arc::new(Mutex::new(Vec::new()));
    let fanout = Arc::new(Mutex::new(Vec::new()));
    let accepted = Arc::new(AtomicU64::new(0));
    let mut followers = Vec::new();
    for session in &live {
        followers.push(tokio::spawn(follow(
            session.clone(),
            epoch,
            stop.clone(),
            fanout.clone(),
        )));
    }
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut pushers = Vec::new();
    for (s, session) in live.iter().enumerate() {
        for lane in 0..in_flight {
            let (session, acks, accepted) = (session.clone(), acks.clone(), accepted.clone());
            pushers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                let mut n = 0u64;
                let period = rate.map(|r| Duration::from_secs_f64(1.0 / f64::from(r)));
                let mut next =
                    Instant::now() + Duration::from_millis((s * 7 + lane * 13) as u64 % 100);
                while Instant::now() < deadline {
                    if let Some(period) = period {
                        tokio::time::sleep_until(next.into()).await;
                        next += period;
                    }
                    n += 1;
                    let sent = Instant::now();
                    let op = Op::Set {
                        target: Target::Node(format!("n{}", (s * 3 + n as usize) % 50)),
                        key: format!("k{s}"),
                        value: json!(epoch.elapsed().as_micros() as u64),
                    };
                    if session.push(vec![op]).await.is_ok() {
                        accepted.fetch_add(1, Ordering::Relaxed);
                        mine.push(sent.elapsed().as_secs_f64() * 1000.0);
                    }
                }
                acks.lock().await.extend(mine);
            }));
        }
    }
    for pusher in pushers {
        pusher.await.unwrap();
    }
    let elapsed = epoch.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    for follower in followers {
        follower.await.unwrap();
    }
    let mut acks = std::mem::take(&mut *acks.lock().await);
    let mut fanout = std::mem::take(&mut *fanout.lock().await);
    acks.sort_by(f64::total_cmp);
    fanout.sort_by(f64::total_cmp);
    (
        accepted.load(Ordering::Relaxed) as f64 / elapsed,
        acks,
        fanout,
    )
}

fn row(label: &str, rate: f64, acks: &[f64], fanout: &[f64]) {
    println!(
        "{label:<34} {rate:>9.0} pushes/s   ack p50 {:>7.2} ms p99 {:>7.2} ms   fan-out p50 {:>7.2} ms p99 {:>7.2} ms   ({} acks, {} changes)",
        percentile(acks, 0.5),
        percentile(acks, 0.99),
        percentile(fanout, 0.5),
        percentile(fanout, 0.99),
        acks.len(),
        fanout.len()
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let wanted = |name: &str| filter.is_empty() || filter.iter().any(|f| f == name);
    let bench = start().await;
    let secs = std::env::var("LIVE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    if wanted("flood") {
        println!("== flood: every session keeps 4 pushes in flight ({secs} s)");
        for sessions in [30, 100] {
            let (rate, acks, fanout) = run_load(&bench, sessions, secs, 4, None).await;
            row(&format!("{sessions} sessions"), rate, &acks, &fanout);
        }
    }
    if wanted("paced") {
        println!("== paced: every session pushes 10 a second ({secs} s)");
        for sessions in [30, 100] {
            let (rate, acks, fanout) = run_load(&bench, sessions, secs, 1, Some(10)).await;
            row(&format!("{sessions} sessions × 10/s"), rate, &acks, &fanout);
        }
    }
    if wanted("memory") {
        println!("== memory (RSS of this process, server and raw client sockets)");
        let before = rss_kib();
        let mut docs = Vec::new();
        let mut sockets = Vec::new();
        for _ in 0..20 {
            let id = bench.create(1000).await;
            let (socket, _) = bench.raw(id).await;
            docs.push(id);
            sockets.push(socket);
        }
        let per_doc = (rss_kib().saturating_sub(before)) as f64 / 20.0;
        println!("open document of 1,000 nodes (one session each): {per_doc:.0} KiB each");
        let before = rss_kib();
        for _ in 0..200 {
            let (socket, _) = bench.raw(docs[0]).await;
            sockets.push(socket);
        }
        // Idle sessions: what each costs the server (and its raw client socket).
        let per_session = (rss_kib().saturating_sub(before)) as f64 / 200.0;
        println!("session on an open document: {per_session:.1} KiB each");
        drop(sockets);
    }
    if wanted("open") {
        println!("== open: connect to welcome, first session of the document");
        for nodes in [10_000, 100_000] {
            let id = bench.create(nodes).await;
            let (_socket, took) = bench.raw(id).await;
            let (_second, again) = bench.raw(id).await;
            println!(
                "{nodes:>7} nodes: first open {:>7.1} ms, a second session {:>7.1} ms",
                took.as_secs_f64() * 1000.0,
                again.as_secs_f64() * 1000.0
            );
        }
    }
}
