//! Thumbnails over several nodes sharing Redis (issue 13): each "node" is its own
//! database pool over one SQLite file, its own Redis connection and bus, its own
//! documents and thumbnails services, as two server processes would have.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tower::ServiceExt;
use uuid::Uuid;

use super::{DocumentThumbnails, DocumentThumbnailsConfig, RenderedStore, ThumbnailRedis};
use crate::api::{CreateDocument, GetDocumentThumbnail, Principal, PutContent, Scopes};
use crate::documents::{Documents, DocumentsConfig};
use crate::store::{CacheBus, Db, LocalBlobs, Redis, RedisOptions};
use crate::thumbnails::{Thumbnails, ThumbnailsConfig};

struct Node {
    bus: CacheBus,
    documents: Documents,
    thumbnails: DocumentThumbnails,
}

/// A node over the SQLite file and blobs in `dir`, on Redis at `url` under `prefix`;
/// with the rendered-blob level when `blobs`.
async fn node(dir: &Path, url: &str, prefix: &str, blobs: bool) -> Node {
    let db = Db::open(None, dir).await.unwrap();
    let redis = Redis::connect(
        url,
        RedisOptions {
            prefix: prefix.to_string(),
            connect_timeout: Duration::from_millis(500),
            ..RedisOptions::default()
        },
    )
    .await
    .unwrap();
    let bus = CacheBus::start(redis, Arc::default()).await;
    let documents = Documents::with_db(
        db.clone(),
        DocumentsConfig {
            bus: Some(bus.clone()),
            ..DocumentsConfig::default()
        },
    );
    let thumbnails = DocumentThumbnails::new(
        Thumbnails::new(ThumbnailsConfig::default().with_pool_size(2)),
        documents.clone(),
        DocumentThumbnailsConfig {
            memory_bytes: 1 << 20,
            assets: None,
            rendered: blobs.then(|| RenderedStore::new(db, Arc::new(LocalBlobs::in_data_dir(dir)))),
            redis: Some(ThumbnailRedis::new(bus.clone())),
        },
    );
    Node {
        bus,
        documents,
        thumbnails,
    }
}

fn ann() -> Principal {
    Principal {
        user_id: Uuid::now_v7(),
        username: "ann".into(),
        is_admin: false,
        scopes: Scopes::all(),
    }
}

fn doc_bytes(colour: &str) -> Vec<u8> {
    format!(
        r#"{{"format":"glyph","version":1,"pages":[{{"width":40,"height":20,"background":"{colour}","layers":[]}}]}}"#
    )
    .into_bytes()
}

async fn two_nodes(test: &str, blobs_on_b: bool) -> Option<(Node, Node, tempfile::TempDir)> {
    let url = crate::store::testing::redis_url(test)?;
    let prefix = crate::store::testing::redis_prefix();
    let dir = tempfile::tempdir().unwrap();
    let a = node(dir.path(), &url, &prefix, true).await;
    let b = node(dir.path(), &url, &prefix, blobs_on_b).await;
    Some((a, b, dir))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_render_on_one_node_is_served_from_redis_on_another() {
    let Some((a, b, _dir)) = two_nodes("thumbnails::a_render_on_one_node_is_served", false).await
    else {
        return;
    };
    let ann = ann();
    let doc = a
        .documents
        .clone()
        .oneshot(CreateDocument::new(ann.clone(), doc_bytes("#ff0000")))
        .await
        .unwrap();
    let request = GetDocumentThumbnail::new(Some(ann), doc.id);
    let on_a = a.thumbnails.clone().oneshot(request.clone()).await.unwrap();
    assert!(on_a.rendered.is_some());
    // B has no blob level: only the Redis tier can spare it the render.
    let on_b = b.thumbnails.clone().oneshot(request).await.unwrap();
    assert_eq!((a.thumbnails.renders(), b.thumbnails.renders()), (1, 0));
    assert_eq!(on_b.etag, on_a.etag);
    assert_eq!(on_b.image.unwrap().bytes, on_a.image.unwrap().bytes);
    assert_eq!(b.bus.counters().tier_hits.load(Ordering::Relaxed), 1);
    assert_eq!(a.bus.counters().tier_writes.load(Ordering::Relaxed), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_on_one_node_replaces_the_thumbnail_on_another_within_a_second() {
    let Some((a, b, _dir)) = two_nodes("thumbnails::an_update_on_one_node_replaces", true).await
    else {
        return;
    };
    let ann = ann();
    let doc = a
        .documents
        .clone()
        .oneshot(CreateDocument::new(ann.clone(), doc_bytes("#ff0000")))
        .await
        .unwrap();
    let request = GetDocumentThumbnail::new(Some(ann.clone()), doc.id);
    let before = b.thumbnails.clone().oneshot(request.clone()).await.unwrap();
    // Cached on B: its metadata and its thumbnail are in B's memory now.
    let again = b.thumbnails.clone().oneshot(request.clone()).await.unwrap();
    assert_eq!(again.memory_hit, Some(true));

    let put = PutContent {
        principal: ann,
        id: doc.id,
        content: doc_bytes("#0000ff"),
        if_match: None,
    };
    a.documents.clone().oneshot(put).await.unwrap();
    let updated = Instant::now();
    let after = loop {
        let answer = b.thumbnails.clone().oneshot(request.clone()).await.unwrap();
        if answer.etag != before.etag {
            break answer;
        }
        assert!(
            updated.elapsed() < Duration::from_secs(1),
            "B still serves the old thumbnail a second after the update on A"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_ne!(after.image.unwrap().bytes, before.image.unwrap().bytes);
    assert!(b.bus.counters().invalidations.load(Ordering::Relaxed) >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_requests_over_two_nodes_render_once() {
    let Some((a, b, _dir)) = two_nodes("thumbnails::twenty_concurrent_requests", true).await else {
        return;
    };
    let ann = ann();
    let doc = a
        .documents
        .clone()
        .oneshot(CreateDocument::new(ann.clone(), doc_bytes("#00ff00")))
        .await
        .unwrap();
    let request = GetDocumentThumbnail::new(Some(ann), doc.id);
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let service = if i % 2 == 0 { &a } else { &b }.thumbnails.clone();
            tokio::spawn(service.oneshot(request.clone()))
        })
        .collect();
    let mut etags = Vec::new();
    for task in tasks {
        etags.push(task.await.unwrap().unwrap().etag.unwrap());
    }
    assert!(etags.iter().all(|e| *e == etags[0]), "{etags:?}");
    assert_eq!(
        a.thumbnails.renders() + b.thumbnails.renders(),
        1,
        "twenty requests over two nodes, one render"
    );
}

/// A `redis-server` of the test's own on a free port (never the shared one: this test
/// stops it), killed when dropped.
struct OwnRedis {
    port: u16,
    child: Option<std::process::Child>,
}

impl OwnRedis {
    fn start() -> OwnRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut own = OwnRedis { port, child: None };
        own.restart();
        own
    }

    fn restart(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on the PATH");
        self.child = Some(child);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Polls `done` every 10 ms for up to `limit`.
async fn until(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    done()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_serves_while_redis_is_away_and_flushes_when_it_comes_back() {
    // Gated like every Redis test (the shared server's variable), though it runs its own.
    if crate::store::testing::redis_url("thumbnails::a_node_serves_while_redis_is_away").is_none() {
        return;
    }
    let mut redis = OwnRedis::start();
    let dir = tempfile::tempdir().unwrap();
    // Wait for the server to listen before the node connects.
    let url = redis.url();
    assert!(
        until(Duration::from_secs(5), || std::net::TcpStream::connect(
            url.trim_start_matches("redis://")
        )
        .is_ok())
        .await
    );
    let n = node(dir.path(), &url, "spv:", true).await;
    assert!(n.bus.is_live());
    let ann = ann();
    let doc = n
        .documents
        .clone()
        .oneshot(CreateDocument::new(ann.clone(), doc_bytes("#ff0000")))
        .await
        .unwrap();
    let request = GetDocumentThumbnail::new(Some(ann.clone()), doc.id);
    n.thumbnails.clone().oneshot(request.clone()).await.unwrap();
    assert_eq!(n.thumbnails.memory().len(), 1);

    redis.stop();
    assert!(until(Duration::from_secs(5), || !n.bus.is_live()).await);
    // Served with Redis away: from memory, and a change still takes effect here.
    let away = n.thumbnails.clone().oneshot(request.clone()).await.unwrap();
    assert_eq!(away.memory_hit, Some(true));
    let put = PutContent {
        principal: ann,
        id: doc.id,
        content: doc_bytes("#0000ff"),
        if_match: None,
    };
    n.documents.clone().oneshot(put).await.unwrap();
    let changed = n.thumbnails.clone().oneshot(request.clone()).await.unwrap();
    assert_ne!(changed.etag, away.etag);
    assert!(n.bus.counters().tier_skipped.load(Ordering::Relaxed) >= 1);
    assert_eq!(n.thumbnails.memory().len(), 2);

    redis.restart();
    let flushed = until(Duration::from_secs(10), || {
        n.bus.counters().flushes.load(Ordering::Relaxed) >= 1
    })
    .await;
    assert!(flushed, "no flush after Redis came back");
    assert!(n.thumbnails.memory().is_empty(), "flushed on reconnect");
    assert!(until(Duration::from_secs(5), || n.bus.is_live()).await);
    let back = n.thumbnails.clone().oneshot(request).await.unwrap();
    assert_eq!((back.memory_hit, back.etag), (Some(false), changed.etag));
}
