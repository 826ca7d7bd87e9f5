//! The rate limiter's counters, collected at each scrape.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;

use crate::ratelimit::{Group, RateLimitStats};

/// `spv_rate_limited_total{group}` and `spv_rate_limiter_fallback_total`, read from a
/// [`RateLimitStats`].
#[derive(Debug)]
pub(super) struct RateLimitCollector(pub(super) Arc<RateLimitStats>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GroupLabel {
    group: &'static str,
}

impl prometheus_client::collector::Collector for RateLimitCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let mut family = encoder.encode_descriptor(
            "spv_rate_limited",
            "Requests refused with 429 by rate limit group (auth, anonymous, api, render)",
            None,
            MetricType::Counter,
        )?;
        for group in Group::ALL {
            ConstCounter::new(self.0.limited(group)).encode(family.encode_family(
                &GroupLabel {
                    group: group.as_str(),
                },
            )?)?;
        }
        let fallbacks = ConstCounter::new(self.0.fallbacks());
        fallbacks.encode(encoder.encode_descriptor(
            "spv_rate_limiter_fallback",
            "Rate limit checks answered in process because Redis did not answer",
            None,
            fallbacks.metric_type(),
        )?)?;
        Ok(())
    }
}
