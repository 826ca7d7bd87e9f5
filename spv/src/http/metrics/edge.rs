//! The edge's counters (connections and guards), collected at each scrape.

use std::sync::Arc;

use prometheus_client::encoding::{EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

use crate::guard::{Blocked, Closed, EdgeStats, Refused};

/// `spv_connections_open`, `spv_connections_refused_total{reason}`,
/// `spv_connections_timed_out_total{reason}` and `spv_requests_blocked_total{reason}`,
/// read from an [`EdgeStats`].
#[derive(Debug)]
pub(super) struct EdgeCollector(pub(super) Arc<EdgeStats>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: &'static str,
}

impl prometheus_client::collector::Collector for EdgeCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        let stats = &self.0;
        let open = ConstGauge::new(stats.open());
        open.encode(encoder.encode_descriptor(
            "spv_connections_open",
            "Client connections being served",
            None,
            open.metric_type(),
        )?)?;
        let mut family = encoder.encode_descriptor(
            "spv_connections_refused",
            "Connections dropped right after accept, by reason (total: SPV_MAX_CONNECTIONS, per-ip: SPV_MAX_CONNECTIONS_PER_IP)",
            None,
            MetricType::Counter,
        )?;
        for reason in Refused::ALL {
            ConstCounter::new(stats.refused(reason)).encode(family.encode_family(&Reason {
                reason: reason.as_str(),
            })?)?;
        }
        let mut family = encoder.encode_descriptor(
            "spv_connections_timed_out",
            "Connections closed or requests ended by a time limit (head, idle, age, body)",
            None,
            MetricType::Counter,
        )?;
        for reason in Closed::ALL {
            ConstCounter::new(stats.closed(reason)).encode(family.encode_family(&Reason {
                reason: reason.as_str(),
            })?)?;
        }
        let mut family = encoder.encode_descriptor(
            "spv_requests_blocked",
            "Requests turned away before routing, by guard (host, user-agent, heavy-hitter, maintenance)",
            None,
            MetricType::Counter,
        )?;
        for reason in Blocked::ALL {
            ConstCounter::new(stats.blocked(reason)).encode(family.encode_family(&Reason {
                reason: reason.as_str(),
            })?)?;
        }
        Ok(())
    }
}
