//! The counters of the caches across nodes ([`CacheCounters`]), collected at each
//! scrape; zeros on one node.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::store::CacheCounters;

/// Encodes [`CacheCounters`] as Prometheus counters (their names end in `_total`).
#[derive(Debug)]
pub(super) struct CacheCollector(pub(super) Arc<CacheCounters>);

impl prometheus_client::collector::Collector for CacheCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;

        let c = &self.0;
        let counters = [
            (
                "spv_thumbnail_redis_hits",
                "Thumbnails found in the Redis tier that nodes share",
                &c.tier_hits,
            ),
            (
                "spv_thumbnail_redis_misses",
                "Thumbnails looked for in the Redis tier and not found",
                &c.tier_misses,
            ),
            (
                "spv_thumbnail_redis_skipped",
                "Redis-tier reads, writes and claims skipped because Redis was away or failed",
                &c.tier_skipped,
            ),
            (
                "spv_thumbnail_redis_writes",
                "Thumbnails written to the Redis tier",
                &c.tier_writes,
            ),
            (
                "spv_thumbnail_redis_waits",
                "Thumbnail misses that waited for another node's claimed render",
                &c.cross_node_waits,
            ),
            (
                "spv_thumbnail_redis_wait_fallbacks",
                "Waits for another node's render that ended at the claim's expiry (then rendered here)",
                &c.cross_node_fallbacks,
            ),
            (
                "spv_cache_invalidations",
                "Document invalidations received from the cache bus (this node's own included)",
                &c.invalidations,
            ),
            (
                "spv_cache_invalidations_published",
                "Document invalidations this node published on the cache bus",
                &c.invalidations_published,
            ),
            (
                "spv_cache_flushes",
                "Local caches flushed because Redis came back (messages may have been missed)",
                &c.flushes,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value.load(Ordering::Relaxed));
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        Ok(())
    }
}
