//! The GPU backend's counters, collected at each scrape (feature `gpu`).

use prometheus_client::encoding::EncodeLabelSet;

/// A GPU's counters ([`crate::render::gpu::Gpu::stats`]), read at each scrape; zeros
/// without a GPU.
#[derive(Debug)]
pub(super) struct GpuCollector(pub(super) Option<crate::render::gpu::Gpu>);

impl prometheus_client::collector::Collector for GpuCollector {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        use prometheus_client::metrics::counter::ConstCounter;
        use prometheus_client::metrics::gauge::ConstGauge;

        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Reason {
            reason: &'static str,
        }
        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Adapter {
            name: String,
            backend: String,
            software: bool,
        }

        let stats = self.0.as_ref().map(|gpu| gpu.stats()).unwrap_or_default();
        let counters = [
            ("spv_gpu_renders", "Renders drawn by the GPU", stats.renders),
            (
                "spv_gpu_batches",
                "GPU batches submitted (one vello render and one readback each)",
                stats.batches,
            ),
            (
                "spv_gpu_device_inits",
                "GPU devices initialised",
                stats.device_inits,
            ),
            (
                "spv_gpu_device_losses",
                "GPU devices given up after a failure (re-initialised later)",
                stats.device_losses,
            ),
        ];
        for (name, help, value) in counters {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let fallbacks = [
            ("failed", stats.fallbacks_failed),
            ("too_large", stats.fallbacks_too_large),
            ("unavailable", stats.fallbacks_unavailable),
        ];
        let mut family = encoder.encode_descriptor(
            "spv_gpu_fallbacks",
            "Renders that asked for the GPU and were drawn by the CPU, by reason (failed: device \
             lost, out of memory or a GPU error; too_large: past the GPU's buffers or texture \
             limit; unavailable: SPV_RENDERER=gpu without a usable adapter)",
            None,
            prometheus_client::metrics::MetricType::Counter,
        )?;
        for (reason, value) in fallbacks {
            ConstCounter::new(value).encode(family.encode_family(&Reason { reason })?)?;
        }
        if let Some(adapter) = self.0.as_ref().and_then(|gpu| gpu.adapter()) {
            let mut info = encoder.encode_descriptor(
                "spv_gpu_adapter",
                "The GPU adapter renders go to (1 while it is healthy)",
                None,
                prometheus_client::metrics::MetricType::Gauge,
            )?;
            let labels = Adapter {
                name: adapter.name,
                backend: adapter.backend,
                software: adapter.software,
            };
            ConstGauge::new(1i64).encode(info.encode_family(&labels)?)?;
        }
        Ok(())
    }
}
