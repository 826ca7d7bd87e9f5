//! [`CacheBus`]: what keeps the in-memory caches of several nodes true to each other
//! over Redis pub/sub, and [`CacheCounters`], what it and the thumbnails' Redis tier
//! count.
//!
//! Two channels under the deployment's prefix ([`Redis::key`]):
//!
//! - `invalidate`: a document changed (its id), so every node drops what it keeps in
//!   memory about it (each cache registers a handler with [`CacheBus::on_invalidate`]);
//! - `thumbnail-rendered`: a node that held the claim on a thumbnail finished it (the
//!   cache key), so the requests on other nodes that wait for it look again
//!   ([`CacheBus::watch_rendered`]).
//!
//! A node may miss messages while Redis is away. So each time a Redis client connects
//! again ([`Redis::reconnects`]) every handler is told [`Invalidation::All`] first, and
//! caches that could go stale serve nothing from memory while Redis is away
//! ([`CacheBus::is_live`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use fred::interfaces::{EventInterface, PubsubInterface};
use tokio::sync::broadcast;
use uuid::Uuid;

use super::Redis;
use super::redis::redis_err;
use crate::Result;

/// The channel of document changes, under the prefix.
const INVALIDATE: &str = "invalidate";
/// The channel of finished claimed renders, under the prefix.
const RENDERED: &str = "thumbnail-rendered";
/// The message of [`Invalidation::All`] (a document id never reads so).
const ALL: &str = "*";

/// What a cache is told to forget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalidation {
    /// Everything about the document with this id.
    Document(Uuid),
    /// Everything: messages may have been missed.
    All,
}

/// A cache's reaction to an [`Invalidation`]; called on the bus's task, so it must be
/// quick and must not block.
pub type InvalidationHandler = Arc<dyn Fn(Invalidation) + Send + Sync>;

/// Counters of the caches across nodes, read by `/metrics` (see the README's metrics
/// table). Cheap to share; every field only goes up.
#[derive(Debug, Default)]
pub struct CacheCounters {
    /// Thumbnails found in the Redis tier (`spv_thumbnail_redis_hits_total`).
    pub tier_hits: AtomicU64,
    /// Thumbnails looked for in the Redis tier and not found
    /// (`spv_thumbnail_redis_misses_total`).
    pub tier_misses: AtomicU64,
    /// Redis-tier reads, writes and claims skipped because Redis was away or failed
    /// (`spv_thumbnail_redis_skipped_total`).
    pub tier_skipped: AtomicU64,
    /// Thumbnails written to the Redis tier (`spv_thumbnail_redis_writes_total`).
    pub tier_writes: AtomicU64,
    /// Thumbnail misses that waited for another node's render
    /// (`spv_thumbnail_redis_waits_total`).
    pub cross_node_waits: AtomicU64,
    /// Of those, the waits that saw no result in time and rendered themselves
    /// (`spv_thumbnail_redis_wait_fallbacks_total`).
    pub cross_node_fallbacks: AtomicU64,
    /// Invalidations received from the bus, this node's own included
    /// (`spv_cache_invalidations_total`).
    pub invalidations: AtomicU64,
    /// Invalidations this node published (`spv_cache_invalidations_published_total`).
    pub invalidations_published: AtomicU64,
    /// Times the local caches were flushed because Redis came back
    /// (`spv_cache_flushes_total`).
    pub flushes: AtomicU64,
}

impl CacheCounters {
    /// Adds one to `counter`.
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// The pub/sub side of the caches across nodes: one per process, cheap to clone. See the
/// module docs.
#[derive(Clone)]
pub struct CacheBus {
    inner: Arc<Inner>,
}

struct Inner {
    redis: Redis,
    counters: Arc<CacheCounters>,
    handlers: Mutex<Vec<InvalidationHandler>>,
    rendered: broadcast::Sender<Arc<str>>,
}

impl std::fmt::Debug for CacheBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheBus")
            .field("redis", &self.inner.redis)
            .finish_non_exhaustive()
    }
}

impl CacheBus {
    /// Subscribes to the bus's channels on `redis` and starts the task that hands their
    /// messages out, counting into `counters`. A Redis that is away now is no error:
    /// the subscriptions are made when it comes back.
    pub async fn start(redis: Redis, counters: Arc<CacheCounters>) -> CacheBus {
        let (rendered, _) = broadcast::channel(1024);
        let bus = CacheBus {
            inner: Arc::new(Inner {
                redis,
                counters,
                handlers: Mutex::new(Vec::new()),
                rendered,
            }),
        };
        // Before subscribing, so that no message is lost in between.
        let messages = bus.inner.redis.subscriber().message_rx();
        let reconnects = bus.inner.redis.reconnects();
        if let Err(error) = bus.subscribe().await {
            tracing::warn!(%error, "cache bus: not subscribed yet; will be on reconnect");
        }
        tokio::spawn(listen(Arc::downgrade(&bus.inner), messages, reconnects));
        bus
    }

    async fn subscribe(&self) -> Result<()> {
        let redis = &self.inner.redis;
        redis
            .subscriber()
            .subscribe(vec![redis.key(INVALIDATE), redis.key(RENDERED)])
            .await
            .map_err(redis_err)
    }

    /// The Redis connection.
    pub fn redis(&self) -> &Redis {
        &self.inner.redis
    }

    /// The counters.
    pub fn counters(&self) -> &CacheCounters {
        &self.inner.counters
    }

    /// Whether messages arrive now. While not, caches whose entries another node may
    /// change serve nothing from memory.
    pub fn is_live(&self) -> bool {
        self.inner.redis.is_connected()
    }

    /// Calls `handler` with every invalidation from now on.
    pub fn on_invalidate(&self, handler: InvalidationHandler) {
        self.inner
            .handlers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(handler);
    }

    /// Tells every node (this one included) that document `id` changed. Best effort:
    /// with Redis away nothing is sent (the other nodes flush everything when they
    /// reconnect) and this node's handlers are called at once.
    pub async fn publish_document(&self, id: Uuid) {
        let redis = &self.inner.redis;
        let sent = if redis.is_connected() {
            redis
                .client()
                .publish::<i64, _, _>(redis.key(INVALIDATE), id.to_string())
                .await
                .map_err(redis_err)
        } else {
            Err(crate::Error::new(
                crate::ErrorKind::Io,
                "Redis: not connected",
            ))
        };
        match sent {
            Ok(_) => CacheCounters::bump(&self.inner.counters.invalidations_published),
            Err(error) => {
                tracing::warn!(%error, document = %id, "cache bus: invalidation not published");
                dispatch(&self.inner, Invalidation::Document(id));
            }
        }
    }

    /// A receiver of the cache keys (hex) whose claimed render finished on some node.
    /// Take it before looking at the claim, so that no message is missed in between.
    pub(crate) fn watch_rendered(&self) -> broadcast::Receiver<Arc<str>> {
        self.inner.rendered.subscribe()
    }

    /// Tells every node that the claimed render of `key_hex` finished.
    pub(crate) async fn publish_rendered(&self, key_hex: &str) -> Result<()> {
        let redis = &self.inner.redis;
        redis
            .client()
            .publish::<i64, _, _>(redis.key(RENDERED), key_hex)
            .await
            .map_err(redis_err)?;
        Ok(())
    }
}

/// Calls every handler with `what`.
fn dispatch(inner: &Inner, what: Invalidation) {
    let handlers = inner
        .handlers
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .clone();
    for handler in handlers {
        handler(what);
    }
}

/// The bus's task: messages to handlers and waiters; on each reconnection, a flush and
/// the subscriptions made again. Ends when the bus is dropped.
async fn listen(
    inner: std::sync::Weak<Inner>,
    mut messages: broadcast::Receiver<fred::types::Message>,
    mut reconnects: broadcast::Receiver<()>,
) {
    loop {
        tokio::select! {
            message = messages.recv() => {
                let Some(inner) = inner.upgrade() else { return };
                match message {
                    Ok(message) => on_message(&inner, message),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "cache bus: messages missed; flushing local caches");
                        CacheCounters::bump(&inner.counters.flushes);
                        dispatch(&inner, Invalidation::All);
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
            event = reconnects.recv() => {
                let Some(inner) = inner.upgrade() else { return };
                if matches!(event, Err(broadcast::error::RecvError::Closed)) {
                    return;
                }
                tracing::info!("cache bus: Redis connected again; flushing local caches");
                CacheCounters::bump(&inner.counters.flushes);
                dispatch(&inner, Invalidation::All);
                let bus = CacheBus { inner };
                if let Err(error) = bus.subscribe().await {
                    tracing::warn!(%error, "cache bus: subscribing again failed");
                }
            }
        }
    }
}

fn on_message(inner: &Inner, message: fred::types::Message) {
    let channel: &str = &message.channel;
    let Some(name) = channel.strip_prefix(inner.redis.key("").as_str()) else {
        return;
    };
    let Some(text) = message.value.as_str() else {
        return;
    };
    match name {
        INVALIDATE => {
            let what = if text == ALL {
                Invalidation::All
            } else if let Ok(id) = Uuid::parse_str(&text) {
                Invalidation::Document(id)
            } else {
                tracing::warn!("cache bus: an invalidation names no document");
                return;
            };
            CacheCounters::bump(&inner.counters.invalidations);
            dispatch(inner, what);
        }
        RENDERED => {
            // No receiver: nobody waits on this node.
            let _ = inner.rendered.send(Arc::from(&*text));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::store::RedisOptions;

    async fn bus(url: &str, prefix: &str) -> CacheBus {
        let redis = Redis::connect(
            url,
            RedisOptions {
                prefix: prefix.to_string(),
                ..RedisOptions::default()
            },
        )
        .await
        .unwrap();
        CacheBus::start(redis, Arc::default()).await
    }

    #[tokio::test]
    async fn an_invalidation_reaches_every_node() {
        let Some(url) =
            crate::store::testing::redis_url("store::bus::an_invalidation_reaches_every_node")
        else {
            return;
        };
        let prefix = crate::store::testing::redis_prefix();
        let (a, b) = (bus(&url, &prefix).await, bus(&url, &prefix).await);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        b.on_invalidate(Arc::new(move |what| {
            let _ = tx.send(what);
        }));
        let id = Uuid::now_v7();
        a.publish_document(id).await;
        let got = tokio::time::timeout(Duration::from_secs(1), rx.recv())
            .await
            .expect("within a second")
            .unwrap();
        assert_eq!(got, Invalidation::Document(id));
        assert_eq!(b.counters().invalidations.load(Ordering::Relaxed), 1);
        assert_eq!(
            a.counters().invalidations_published.load(Ordering::Relaxed),
            1
        );
        a.redis().quit().await;
        b.redis().quit().await;
    }
}
