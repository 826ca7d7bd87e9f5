//! A soak: mixed traffic (documents created, replaced and read; assets uploaded and read;
//! thumbnails rendered; render jobs) against one `spv-server` on PostgreSQL, Redis and
//! S3, while faults are injected and cleared in turn, a cycle every 45 s: PostgreSQL gone
//! (its proxy cut) at 5–10 s, Redis stopped at 20–25 s, S3 gone (its proxy cut) at
//! 35–40 s.
//!
//! Asserted:
//! - every acknowledged write reads back afterwards with its hash (a document's content
//!   is its last acknowledged version, or a later attempt that was answered with an
//!   error: nothing half-written); every accepted render job succeeds;
//! - error answers come only while PostgreSQL or S3 is gone (and a grace of 8 s after it
//!   comes back), always as 503 problems; Redis away costs no error at all;
//! - with `SPV_SOAK_SECS` of 300 or more: the RSS grows less than 10 % after the first
//!   cycle (warm-up): the last cycle's peak against the second's.
//!
//! `SPV_SOAK_SECS` (default 50) sets the length; BENCHMARKS.md records a 600 s run. Needs
//! `SPV_TEST_POSTGRES_URL`, `SPV_TEST_S3_URL` (and its `AWS_*` variables) and
//! `redis-server`; skipped without, except under `CI=true`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use spv_tests::cluster::{RedisProcess, Services, TestDatabase, uuid_like};
use spv_tests::faults::TcpProxy;
use spv_tests::noise_png;
use spv_tests::server::SpvServer;

const PASSWORD: &str = "soak-admin-password-1";
/// One cycle of faults.
const CYCLE: f64 = 45.0;
/// After a fault clears, errors are still allowed this long (pools and clients
/// reconnecting, retries ending).
const GRACE: f64 = 8.0;
/// Traffic workers.
const WORKERS: usize = 4;

/// Which fault the schedule has on at `t` seconds into the soak.
fn fault_at(t: f64) -> Option<&'static str> {
    match t % CYCLE {
        x if (5.0..10.0).contains(&x) => Some("postgres"),
        x if (20.0..25.0).contains(&x) => Some("redis"),
        x if (35.0..40.0).contains(&x) => Some("s3"),
        _ => None,
    }
}

/// Whether a request spanning `from..to` seconds may fail: it overlaps PostgreSQL or S3
/// being gone, or the grace after.
fn may_fail(from: f64, to: f64) -> bool {
    let mut t = from - GRACE;
    while t <= to {
        if matches!(fault_at(t), Some("postgres" | "s3")) {
            return true;
        }
        t += 0.25;
    }
    false
}

fn sha(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

fn document(seed: u64) -> Vec<u8> {
    let color = format!("#{:06x}", seed.wrapping_mul(2_654_435_761) & 0xff_ffff);
    serde_json::to_vec(&json!({
        "format": "glyph", "version": 1, "title": format!("soak {seed}"),
        "pages": [{ "width": 160, "height": 100, "background": color, "layers": [
            {"type": "rect", "x": 10, "y": 10, "width": 60 + (seed % 40), "height": 30, "fill": "#335577"},
            {"type": "ellipse", "cx": 110, "cy": 50, "rx": 20, "ry": 12 + (seed % 9), "fill": color}
        ]}]
    }))
    .unwrap()
}

/// What the traffic was told, for the checks at the end.
#[derive(Default)]
struct Ledger {
    /// Per document: its last acknowledged content's hash, and the hashes of attempts
    /// after it that were answered with an error.
    documents: HashMap<String, (String, Vec<String>)>,
    /// Per asset: its bytes' hash.
    assets: HashMap<String, String>,
    /// Accepted render jobs.
    jobs: Vec<String>,
    /// Requests answered 2xx, and the errors: (what, from, to, status, body).
    ok: u64,
    errors: Vec<(String, f64, f64, u16, String)>,
}

struct Traffic {
    base: String,
    token: String,
    epoch: Instant,
    ledger: Mutex<Ledger>,
}

impl Traffic {
    fn now(&self) -> f64 {
        self.epoch.elapsed().as_secs_f64()
    }

    /// Sends `request`; `Some(body)` on 2xx, else the error is recorded.
    async fn send(&self, what: &str, request: reqwest::RequestBuilder) -> Option<Vec<u8>> {
        let from = self.now();
        let answer = request.bearer_auth(&self.token).send().await;
        let to = self.now();
        let (status, body) = match answer {
            Ok(response) => {
                let status = response.status().as_u16();
                let body = response.bytes().await.map(|b| b.to_vec());
                match body {
                    Ok(body) => (status, body),
                    Err(e) => (0, e.to_string().into_bytes()),
                }
            }
            Err(e) => (0, e.to_string().into_bytes()),
        };
        let mut ledger = self.ledger.lock().unwrap();
        if (200..300).contains(&status) {
            ledger.ok += 1;
            return Some(body);
        }
        let body = String::from_utf8_lossy(&body).chars().take(300).collect();
        ledger
            .errors
            .push((what.to_string(), from, to, status, body));
        None
    }

    async fn worker(self: Arc<Self>, n: u64, until: f64) {
        let client = http();
        let mut mine: Vec<String> = Vec::new();
        let mut assets: Vec<String> = Vec::new();
        let mut last_job: Option<String> = None;
        let mut seed = n * 1_000_003;
        while self.now() < until {
            seed += 1;
            match seed % 8 {
                // Create a document.
                0 | 1 => {
                    let bytes = document(seed);
                    let request = client
                        .post(format!("{}/api/v1/documents", self.base))
                        .header("content-type", "application/json")
                        .body(bytes.clone());
                    if let Some(body) = self.send("create a document", request).await {
                        let created: Value = serde_json::from_slice(&body).unwrap();
                        let id = created["id"].as_str().unwrap().to_string();
                        self.ledger
                            .lock()
                            .unwrap()
                            .documents
                            .insert(id.clone(), (sha(&bytes), Vec::new()));
                        mine.push(id);
                    }
                }
                // Replace a document's content.
                2 if !mine.is_empty() => {
                    let id = mine[seed as usize % mine.len()].clone();
                    let bytes = document(seed);
                    let request = client
                        .put(format!("{}/api/v1/documents/{id}/content", self.base))
                        .header("content-type", "application/json")
                        .body(bytes.clone());
                    let done = self.send("replace a document", request).await.is_some();
                    let mut ledger = self.ledger.lock().unwrap();
                    let entry = ledger.documents.get_mut(&id).unwrap();
                    if done {
                        *entry = (sha(&bytes), Vec::new());
                    } else {
                        entry.1.push(sha(&bytes));
                    }
                }
                // Read a document and render its thumbnail (sizes vary: new renders).
                3 | 4 if !mine.is_empty() => {
                    let id = &mine[seed as usize % mine.len()];
                    let request = client.get(format!("{}/api/v1/documents/{id}", self.base));
                    self.send("read a document", request).await;
                    let size = 32 + seed % 96;
                    let request = client.get(format!(
                        "{}/api/v1/documents/{id}/thumbnail?size={size}&format=png",
                        self.base
                    ));
                    self.send("render a thumbnail", request).await;
                }
                // Upload an asset, or read one back.
                5 => {
                    let bytes = noise_png(16, seed as u32);
                    let request = client
                        .post(format!("{}/api/v1/assets", self.base))
                        .header("content-disposition", "attachment; filename=\"n.png\"")
                        .body(bytes.clone());
                    if let Some(body) = self.send("upload an asset", request).await {
                        let asset: Value = serde_json::from_slice(&body).unwrap();
                        let id = asset["id"].as_str().unwrap().to_string();
                        self.ledger
                            .lock()
                            .unwrap()
                            .assets
                            .insert(id.clone(), sha(&bytes));
                        assets.push(id);
                    }
                }
                6 if !assets.is_empty() => {
                    let id = &assets[seed as usize % assets.len()];
                    let request = client.get(format!("{}/api/v1/assets/{id}", self.base));
                    if let Some(bytes) = self.send("read an asset", request).await {
                        let want = self.ledger.lock().unwrap().assets[id].clone();
                        assert_eq!(sha(&bytes), want, "asset {id} read back different");
                    }
                }
                // A render job, when this worker's previous one has ended (as a client
                // that waits for its job would: the queue never outgrows the workers).
                7 if !mine.is_empty() => {
                    if let Some(previous) = &last_job {
                        let request = client.get(format!("{}/api/v1/jobs/{previous}", self.base));
                        let Some(body) = self.send("read a job", request).await else {
                            continue;
                        };
                        let job: Value = serde_json::from_slice(&body).unwrap();
                        if matches!(job["state"].as_str(), Some("queued" | "running")) {
                            continue;
                        }
                    }
                    let id = &mine[seed as usize % mine.len()];
                    let request = client
                        .post(format!("{}/api/v1/jobs/render", self.base))
                        .json(&json!({"document": id, "sizes": [64, 128], "formats": ["png"]}));
                    if let Some(body) = self.send("enqueue a render job", request).await {
                        let job: Value = serde_json::from_slice(&body).unwrap();
                        let job = job["id"].as_str().unwrap().to_string();
                        self.ledger.lock().unwrap().jobs.push(job.clone());
                        last_job = Some(job);
                    }
                }
                _ => {}
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_traffic_under_faults_loses_nothing() {
    let Some(services) = Services::from_env("soak") else {
        return;
    };
    let secs: f64 = std::env::var("SPV_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(50.0);
    let db = TestDatabase::create(&services.postgres_url);
    let mut redis = RedisProcess::start();
    let endpoint = services
        .aws_env
        .iter()
        .find(|(k, _)| k == "AWS_ENDPOINT")
        .map(|(_, v)| v.clone())
        .expect("AWS_ENDPOINT names the S3 server of the tests");
    let bucket = services
        .s3_url
        .trim_start_matches("s3://")
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let created = http()
        .put(format!("{}/{bucket}", endpoint.trim_end_matches('/')))
        .send()
        .await
        .expect("the S3 server answers");
    assert!(created.status().is_success() || created.status() == 409);
    let authority = |url: &str| -> String {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let rest = rest.split('/').next().unwrap();
        rest.rsplit_once('@').map_or(rest, |(_, h)| h).to_string()
    };
    let addr = |hostport: String| -> std::net::SocketAddr {
        use std::net::ToSocketAddrs as _;
        hostport.to_socket_addrs().unwrap().next().unwrap()
    };
    let mut pg_proxy = TcpProxy::start(addr(authority(&db.url)));
    let mut s3_proxy = TcpProxy::start(addr(authority(&endpoint)));
    let database_url = db.url.replacen(
        &authority(&db.url),
        &format!("127.0.0.1:{}", pg_proxy.port()),
        1,
    );
    let s3_endpoint = format!("http://127.0.0.1:{}", s3_proxy.port());
    let blob_url = format!(
        "{}/soak-{}",
        services.s3_url.trim_end_matches('/'),
        uuid_like()
    );
    let redis_url = redis.url();
    let prefix = format!("soak-{}:", uuid_like());
    let mut env: Vec<(&str, &str)> = services
        .aws_env
        .iter()
        .filter(|(k, _)| k != "AWS_ENDPOINT")
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.extend([
        ("AWS_ENDPOINT", s3_endpoint.as_str()),
        ("DATABASE_URL", database_url.as_str()),
        ("REDIS_URL", redis_url.as_str()),
        ("SPV_REDIS_PREFIX", prefix.as_str()),
        ("SPV_BLOB_URL", blob_url.as_str()),
        ("SPV_RENDERER", "cpu"),
        ("SPV_JOB_WORKERS", "2"),
        ("SPV_PRUNE_INTERVAL_SECS", "0"),
        (
            "SPV_RATE_LIMITS",
            "api=off,render=off,auth=off,anonymous=off",
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let server = SpvServer::start(dir.path(), PASSWORD, &env);
    let traffic = Arc::new(Traffic {
        base: server.url(),
        token: server.password_token("admin", PASSWORD).await,
        epoch: Instant::now(),
        ledger: Mutex::default(),
    });

    let workers: Vec<_> = (0..WORKERS as u64)
        .map(|n| tokio::spawn(traffic.clone().worker(n, secs)))
        .collect();
    // The fault schedule, and the RSS four times a second.
    let mut on: Option<&str> = None;
    let mut rss = Vec::new();
    while traffic.now() < secs {
        let want = fault_at(traffic.now());
        if want != on {
            match on {
                Some("postgres") => pg_proxy.restore(),
                Some("redis") => redis.restart(),
                Some("s3") => s3_proxy.restore(),
                _ => {}
            }
            match want {
                Some("postgres") => pg_proxy.cut(),
                Some("redis") => redis.stop(),
                Some("s3") => s3_proxy.cut(),
                _ => {}
            }
            on = want;
        }
        rss.push((traffic.now(), server.rss_kib().unwrap_or(0)));
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    match on {
        Some("postgres") => pg_proxy.restore(),
        Some("redis") => redis.restart(),
        Some("s3") => s3_proxy.restore(),
        _ => {}
    }
    for worker in workers {
        worker.await.unwrap();
    }

    // Errors only while a fault lasted, and only as 503 problems.
    let ledger = std::mem::take(&mut *traffic.ledger.lock().unwrap());
    let outside: Vec<_> = ledger
        .errors
        .iter()
        .filter(|(_, from, to, status, _)| *status != 503 || !may_fail(*from, *to))
        .collect();
    assert!(
        outside.is_empty(),
        "{} errors outside the faults (of {} errors, {} answers in all), first: {:?}",
        outside.len(),
        ledger.errors.len(),
        ledger.ok,
        &outside[..outside.len().min(5)]
    );
    assert!(ledger.ok > 100, "little traffic got through: {}", ledger.ok);

    // Every acknowledged write reads back with its hash (wait for the server to be ready:
    // the last fault may have just cleared).
    let client = http();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .get(format!("{}/ready", server.url()))
        .send()
        .await
        .map_or(true, |r| r.status() != 200)
    {
        assert!(Instant::now() < deadline, "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A read answered 503 is tried again after a second, as a client honouring
    // `Retry-After` would (the S3 server of the tests, moto, closes every connection and
    // now and then refuses one under load); 404 or a different hash is a loss.
    let retried = std::sync::atomic::AtomicU64::new(0);
    let get = |path: String| {
        let (client, retried) = (&client, &retried);
        let url = format!("{}{path}", server.url());
        let token = traffic.token.clone();
        async move {
            let mut tries = 0;
            loop {
                let response = client.get(&url).bearer_auth(&token).send().await;
                match response {
                    Ok(r) if r.status() == 503 && tries < 10 => {}
                    other => return other,
                }
                tries += 1;
                retried.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    // Eight reads at a time.
    use futures_util::StreamExt as _;
    futures_util::stream::iter(&ledger.documents)
        .for_each_concurrent(8, |(id, (acked, attempts))| {
            let response = get(format!("/api/v1/documents/{id}/content"));
            async move {
                let response = response.await.unwrap();
                assert_eq!(response.status(), 200, "document {id}");
                let got = sha(&response.bytes().await.unwrap());
                assert!(
                    &got == acked || attempts.contains(&got),
                    "document {id}: content {got} is neither its last acknowledged version {acked} nor a later attempt"
                );
            }
        })
        .await;
    futures_util::stream::iter(&ledger.assets)
        .for_each_concurrent(8, |(id, want)| {
            let response = get(format!("/api/v1/assets/{id}"));
            let server = &server;
            async move {
                let response = response.await.unwrap();
                let status = response.status();
                let bytes = response.bytes().await.unwrap();
                if status != 200 {
                    let log = server.log();
                    let lines: Vec<&str> = log
                        .lines()
                        .filter(|l| l.contains(id.as_str()) || l.contains("WARN") || l.contains("ERROR"))
                        .map(|l| l.get(..600).unwrap_or(l))
                        .collect::<Vec<_>>();
                    panic!(
                        "asset {id}: {status} {}; the server's log about it and its last warnings:\n{}",
                        String::from_utf8_lossy(&bytes),
                        lines[lines.len().saturating_sub(40)..].join("\n")
                    );
                }
                assert_eq!(&sha(&bytes), want, "asset {id}");
            }
        })
        .await;
    let deadline = Instant::now() + Duration::from_secs(120);
    for job in &ledger.jobs {
        loop {
            let state: Value = get(format!("/api/v1/jobs/{job}"))
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            match state["state"].as_str() {
                Some("succeeded") => break,
                Some("queued" | "running") if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => panic!("job {job} ended {other:?}: {state}"),
            }
        }
    }

    // Memory: the peak RSS of each whole cycle of faults after the first (warm-up); the
    // growth is the last cycle's peak against the second's (the same traffic and faults
    // in both, so a leak shows and a passing burst does not).
    let cycles = (secs / CYCLE).floor() as usize;
    let peaks: Vec<u64> = (1..cycles)
        .map(|c| {
            rss.iter()
                .filter(|(t, _)| (c as f64 * CYCLE..(c + 1) as f64 * CYCLE).contains(t))
                .map(|(_, kib)| *kib)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let last = rss.last().map_or(0, |(_, kib)| *kib);
    let growth = match (peaks.first(), peaks.last()) {
        (Some(&warm), Some(&end)) if peaks.len() >= 2 => end as f64 / warm.max(1) as f64 - 1.0,
        _ => 0.0,
    };
    eprintln!(
        "soak {secs} s: {} answers, {} errors (all during faults), {} reads tried again in the check, {} documents, {} assets, {} jobs; peak RSS of each {CYCLE} s cycle after the first (KiB): {peaks:?}, growth {:.1} %, last {last} KiB",
        ledger.ok,
        ledger.errors.len(),
        retried.load(std::sync::atomic::Ordering::Relaxed),
        ledger.documents.len(),
        ledger.assets.len(),
        ledger.jobs.len(),
        growth * 100.0
    );
    if secs >= 300.0 {
        assert!(
            growth < 0.10,
            "RSS grew {:.1} % from the second cycle's peak to the last's: {peaks:?} KiB",
            growth * 100.0
        );
    }
    let log = server.kill();
    assert!(!log.contains("panicked"), "no panic; the log:\n{log}");
    drop(redis);
}
