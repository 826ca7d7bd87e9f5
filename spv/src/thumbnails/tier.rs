//! [`RedisTier`]: the thumbnail cache level that several nodes share in Redis, between
//! each node's memory and the rendered blobs, and the claims that let one node render a
//! thumbnail that several want (single flight across nodes).
//!
//! Keys under the deployment's prefix: `thumb:<cache key>` holds an image (see
//! [`encode`]) with a TTL; `thumb-claim:<cache key>` holds the token of the node that
//! renders it, with an expiry, taken with `SET NX PX` as pict-rs'
//! `claim_variant_processing_rights` does. The winner renders, writes the tier and the
//! blob level, deletes its claim (only if it is still its own) and publishes the key on
//! the bus; the others wait for that message, bounded by the claim's expiry, then look
//! again, and render themselves if they still find nothing.
//!
//! Every entry is content-addressed ([`CacheKey`] names the owner, the content hash and
//! the renderer), so a document's change makes new keys: stale entries are never
//! served, only left to expire.
//!
//! Redis away (not connected) or failing: the tier is skipped at once and counted,
//! never waited for.

use std::sync::Arc;
use std::time::Duration;

use fred::interfaces::{KeysInterface, LuaInterface};
use fred::types::{Expiration, SetOptions};

use super::key::CacheKey;
use crate::api::{CachedImage, ImageFormat};
use crate::store::{CacheBus, CacheCounters};

/// The default time a thumbnail stays in the Redis tier: one hour.
pub const DEFAULT_REDIS_TTL: Duration = Duration::from_secs(3600);
/// The default largest thumbnail kept in the Redis tier: 1 MiB (larger ones skip it).
pub const DEFAULT_REDIS_MAX_ENTRY_BYTES: usize = 1 << 20;
/// The default expiry of a claim to render: ten seconds, past which waiters render
/// themselves (a node that died mid-render holds nobody up longer).
pub const DEFAULT_CLAIM_TTL: Duration = Duration::from_secs(10);

/// Deletes a claim only if it still holds the given token (it may have expired and been
/// taken by another node).
const RELEASE: &str = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end";

/// Settings of the Redis tier of [`DocumentThumbnails`](super::DocumentThumbnails).
#[derive(Debug, Clone)]
pub struct ThumbnailRedis {
    /// The bus (and through it the Redis connection and counters).
    pub bus: CacheBus,
    /// How long a thumbnail stays in the tier (`SPV_THUMBNAIL_REDIS_TTL`).
    pub ttl: Duration,
    /// The largest encoded thumbnail kept in the tier; larger ones skip it.
    pub max_entry_bytes: usize,
    /// How long a claim to render holds before other nodes render themselves.
    pub claim_ttl: Duration,
}

impl ThumbnailRedis {
    /// The tier on `bus`, with the default TTL, entry size and claim expiry.
    pub fn new(bus: CacheBus) -> Self {
        ThumbnailRedis {
            bus,
            ttl: DEFAULT_REDIS_TTL,
            max_entry_bytes: DEFAULT_REDIS_MAX_ENTRY_BYTES,
            claim_ttl: DEFAULT_CLAIM_TTL,
        }
    }
}

/// The outcome of [`RedisTier::claim`].
#[derive(Debug)]
pub(crate) enum Claim {
    /// This node renders; release with the token.
    Won(String),
    /// Another node renders; the claim ends within this time at the latest.
    Lost(Duration),
    /// Redis is away: render without a claim.
    Unavailable,
}

/// The Redis tier in use (see the module docs).
#[derive(Debug, Clone)]
pub(crate) struct RedisTier {
    config: Arc<ThumbnailRedis>,
}

impl RedisTier {
    pub(crate) fn new(config: ThumbnailRedis) -> Self {
        RedisTier {
            config: Arc::new(config),
        }
    }

    fn counters(&self) -> &CacheCounters {
        self.config.bus.counters()
    }

    fn skip(&self, what: &str, error: Option<crate::Error>) {
        CacheCounters::bump(&self.counters().tier_skipped);
        if let Some(error) = error {
            tracing::warn!(%error, "thumbnail Redis tier: {what} failed; skipped");
        }
    }

    /// The image under `key`, or `None` (a miss, or Redis away: counted apart).
    pub(crate) async fn get(&self, key: &CacheKey) -> Option<CachedImage> {
        let redis = self.config.bus.redis();
        if !redis.is_connected() {
            self.skip("read", None);
            return None;
        }
        let name = redis.key(&format!("thumb:{}", key.hex()));
        match redis.client().get::<Option<Vec<u8>>, _>(name).await {
            Ok(Some(bytes)) => match decode(&bytes) {
                Some(image) => {
                    CacheCounters::bump(&self.counters().tier_hits);
                    Some(image)
                }
                None => {
                    tracing::warn!(key = %key.hex(), "thumbnail Redis tier: unreadable entry");
                    CacheCounters::bump(&self.counters().tier_misses);
                    None
                }
            },
            Ok(None) => {
                CacheCounters::bump(&self.counters().tier_misses);
                None
            }
            Err(error) => {
                self.skip("read", Some(crate::store::redis_err(error)));
                None
            }
        }
    }

    /// Keeps `image` under `key` for the TTL, unless it is over the entry limit.
    pub(crate) async fn put(&self, key: &CacheKey, image: &CachedImage) {
        if image.bytes.len() > self.config.max_entry_bytes {
            return;
        }
        let redis = self.config.bus.redis();
        if !redis.is_connected() {
            self.skip("write", None);
            return;
        }
        let name = redis.key(&format!("thumb:{}", key.hex()));
        let ttl = Expiration::PX(millis(self.config.ttl));
        match redis
            .client()
            .set::<(), _, _>(name, encode(image), Some(ttl), None, false)
            .await
        {
            Ok(()) => CacheCounters::bump(&self.counters().tier_writes),
            Err(error) => self.skip("write", Some(crate::store::redis_err(error))),
        }
    }

    /// Tries to take the claim to render `key`.
    pub(crate) async fn claim(&self, key: &CacheKey) -> Claim {
        let redis = self.config.bus.redis();
        if !redis.is_connected() {
            self.skip("claim", None);
            return Claim::Unavailable;
        }
        let name = redis.key(&format!("thumb-claim:{}", key.hex()));
        let token = uuid::Uuid::now_v7().simple().to_string();
        let ttl = millis(self.config.claim_ttl);
        let won = redis
            .client()
            .set::<Option<String>, _, _>(
                name.clone(),
                token.as_str(),
                Some(Expiration::PX(ttl)),
                Some(SetOptions::NX),
                false,
            )
            .await;
        match won {
            Ok(Some(_)) => Claim::Won(token),
            Ok(None) => {
                let left = redis.client().pttl::<i64, _>(name).await.unwrap_or(ttl);
                // -2: gone meanwhile; -1: no expiry (never set so): wait the longest.
                let left = match left {
                    -2 => 0,
                    n if n < 0 => ttl,
                    n => n.min(ttl),
                };
                Claim::Lost(Duration::from_millis(u64::try_from(left).unwrap_or(0)))
            }
            Err(error) => {
                self.skip("claim", Some(crate::store::redis_err(error)));
                Claim::Unavailable
            }
        }
    }

    /// Gives the claim on `key` back (if still ours) and tells the waiting nodes.
    pub(crate) async fn release(&self, key: &CacheKey, token: String) {
        let redis = self.config.bus.redis();
        let hex = key.hex();
        let name = redis.key(&format!("thumb-claim:{hex}"));
        if let Err(error) = redis
            .client()
            .eval::<i64, _, _, _>(RELEASE, vec![name], vec![token])
            .await
        {
            // It expires by itself.
            self.skip("release", Some(crate::store::redis_err(error)));
        }
        if let Err(error) = self.config.bus.publish_rendered(&hex).await {
            // The waiters look again at the claim's expiry.
            self.skip("publish", Some(error));
        }
    }

    /// Waits until another node announces `key` rendered, or `limit` passes (counted as
    /// a fallback). `watch` is taken before the claim was tried, so that the message is
    /// not missed in between.
    pub(crate) async fn wait(
        &self,
        key: &CacheKey,
        mut watch: tokio::sync::broadcast::Receiver<Arc<str>>,
        limit: Duration,
    ) {
        CacheCounters::bump(&self.counters().cross_node_waits);
        let hex = key.hex();
        let heard = tokio::time::timeout(limit, async {
            loop {
                match watch.recv().await {
                    Ok(done) if *done == *hex => return,
                    Ok(_) => {}
                    // Missed some: look now rather than risk waiting for nothing.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => {
                        std::future::pending::<()>().await
                    }
                }
            }
        })
        .await;
        if heard.is_err() {
            CacheCounters::bump(&self.counters().cross_node_fallbacks);
        }
    }

    /// A receiver of announced renders, to take before [`Self::claim`].
    pub(crate) fn watch(&self) -> tokio::sync::broadcast::Receiver<Arc<str>> {
        self.config.bus.watch_rendered()
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis())
        .unwrap_or(i64::MAX)
        .max(1)
}

/// The first byte of an entry: the layout's version.
const LAYOUT: u8 = 1;

/// An image as the tier keeps it: the layout byte, the format's index in
/// [`ImageFormat::ALL`], width and height (u32, little-endian), the warnings as JSON
/// after their length (u32), then the encoded bytes.
pub(crate) fn encode(image: &CachedImage) -> Vec<u8> {
    let warnings = serde_json::to_vec(&image.warnings).unwrap_or_else(|_| b"[]".to_vec());
    let format = ImageFormat::ALL
        .iter()
        .position(|f| *f == image.format)
        .unwrap_or(0);
    let mut out = Vec::with_capacity(14 + warnings.len() + image.bytes.len());
    out.push(LAYOUT);
    out.push(u8::try_from(format).unwrap_or(0));
    out.extend_from_slice(&image.width.to_le_bytes());
    out.extend_from_slice(&image.height.to_le_bytes());
    out.extend_from_slice(&u32::try_from(warnings.len()).unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&warnings);
    out.extend_from_slice(&image.bytes);
    out
}

/// The image of an entry; `None` when it is not one of ours.
pub(crate) fn decode(bytes: &[u8]) -> Option<CachedImage> {
    let u32_at = |at: usize| -> Option<u32> {
        Some(u32::from_le_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
    };
    if *bytes.first()? != LAYOUT {
        return None;
    }
    let format = *ImageFormat::ALL.get(usize::from(*bytes.get(1)?))?;
    let (width, height) = (u32_at(2)?, u32_at(6)?);
    let warnings_len = usize::try_from(u32_at(10)?).ok()?;
    let warnings_end = 14usize.checked_add(warnings_len)?;
    let warnings = serde_json::from_slice(bytes.get(14..warnings_end)?).ok()?;
    Some(CachedImage {
        bytes: Arc::from(bytes.get(warnings_end..)?),
        format,
        width,
        height,
        warnings,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_and_garbage_does_not() {
        let image = CachedImage {
            bytes: Arc::from(&b"webp bytes"[..]),
            format: ImageFormat::Webp,
            width: 64,
            height: 32,
            warnings: vec!["font substituted".into()],
        };
        assert_eq!(decode(&encode(&image)), Some(image.clone()));
        let mut truncated = encode(&image);
        truncated.truncate(12);
        assert_eq!(decode(&truncated), None);
        assert_eq!(decode(b""), None);
        assert_eq!(decode(&[9, 0, 0]), None);
    }
}
