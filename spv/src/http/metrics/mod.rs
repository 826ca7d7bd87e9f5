//! [`Metrics`]: the prometheus-client registry and the request-tracking middleware
//! (`GET /metrics` is in `health`, with the other routes operators read).
//!
//! | item | what it is |
//! |---|---|
//! | [`Metrics`] | the registry and the server's metrics; cheap to clone |
//! | [`TrackLayer`], [`Track`], [`TrackFuture`] | the request metrics of every route: latency by method, route and status, requests in flight, body bytes served |

mod caches;
mod edge;
mod future;
#[cfg(feature = "gpu")]
mod gpu;
mod labels;
mod layer;
mod ratelimit;
mod service;

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

use crate::api::RenderTiming;
use crate::jobs::{FinishHook, JobFinished};
use crate::store::{BlobHook, BlobOp};
use labels::{
    BackendLabels, BlobLabels, BlobOpLabels, CacheLabels, JobLabels, JobResultLabels,
    RequestLabels, ResultLabels, job_histogram, latency_histogram,
};

pub(crate) use future::TrackFuture;
pub(crate) use layer::TrackLayer;
pub(crate) use service::Track;

/// The server's metrics and their registry. Cheap to clone.
///
/// ```
/// let metrics = spv::http::Metrics::new();
/// metrics.observe_render("cpu", std::time::Duration::from_millis(3));
/// let text = metrics.encode();
/// assert!(text.contains("spv_render_duration_seconds_count{backend=\"cpu\"} 1"), "{text}");
/// ```
#[derive(Clone)]
pub struct Metrics {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Registry,
    requests: Family<RequestLabels, Histogram>,
    in_flight: Gauge,
    render: Family<BackendLabels, Histogram>,
    gpu_batch: Histogram,
    queue_wait: Histogram,
    thumbnail_cache: Family<CacheLabels, Counter>,
    /// The series of in-process cache misses and hits (`[miss, hit]`), made once: they
    /// are counted on every thumbnail request, so not looked up in the family each time.
    memory_cache: [Counter; 2],
    /// Signed thumbnail URLs by result (`[refused, valid]`).
    signed_urls: [Counter; 2],
    bytes_served: Counter,
    jobs: Family<JobResultLabels, Counter>,
    job_duration: Family<JobLabels, Histogram>,
    caches: Arc<crate::store::CacheCounters>,
    blobs: Family<BlobLabels, Counter>,
    blob_duration: Family<BlobOpLabels, Histogram>,
    edge: Arc<crate::guard::EdgeStats>,
    live: LiveMetrics,
}

/// The live editing metrics (`spv_live_*`).
#[derive(Clone)]
struct LiveMetrics {
    sessions: Gauge,
    documents: Gauge,
    pushes: Family<LivePushLabels, Counter>,
    ack: Histogram,
    fan_out: Histogram,
    compactions: Counter,
    log_length: Histogram,
    slow_closes: Counter,
    forwarded: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, prometheus_client::encoding::EncodeLabelSet)]
struct LivePushLabels {
    result: &'static str,
}

impl LiveMetrics {
    fn register(registry: &mut Registry) -> Self {
        let live = LiveMetrics {
            sessions: Gauge::default(),
            documents: Gauge::default(),
            pushes: Family::default(),
            ack: labels::latency_histogram(),
            fan_out: labels::latency_histogram(),
            compactions: Counter::default(),
            log_length: Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                1.0, 4.0, 10,
            )),
            slow_closes: Counter::default(),
            forwarded: Gauge::default(),
        };
        registry.register(
            "spv_live_sessions",
            "Open live editing sessions",
            live.sessions.clone(),
        );
        registry.register(
            "spv_live_documents",
            "Documents open for live editing on this node",
            live.documents.clone(),
        );
        registry.register(
            "spv_live_pushes",
            "Live pushes by result: accepted, or the reject code",
            live.pushes.clone(),
        );
        registry.register(
            "spv_live_ack_duration_seconds",
            "From a push's arrival to its ack (stored durably first)",
            live.ack.clone(),
        );
        registry.register(
            "spv_live_fanout_duration_seconds",
            "From a push's arrival to its change queued for every other session",
            live.fan_out.clone(),
        );
        registry.register(
            "spv_live_compactions",
            "Documents under live editing written back from their change log",
            live.compactions.clone(),
        );
        registry.register(
            "spv_live_log_length",
            "Changes in a document's log when it was compacted",
            live.log_length.clone(),
        );
        registry.register(
            "spv_live_slow_closes",
            "Live sessions closed because they fell behind (4008)",
            live.slow_closes.clone(),
        );
        registry.register(
            "spv_live_forwarded_sessions",
            "Live sessions this node relays to the node that owns their document",
            live.forwarded.clone(),
        );
        live
    }

    fn observe(&self, event: crate::live::LiveEvent) {
        use crate::live::LiveEvent;
        match event {
            LiveEvent::Sessions(delta) => {
                self.sessions.inc_by(delta);
            }
            LiveEvent::Documents(delta) => {
                self.documents.inc_by(delta);
            }
            LiveEvent::Accepted(elapsed) => {
                self.pushes
                    .get_or_create(&LivePushLabels { result: "accepted" })
                    .inc();
                self.ack.observe(elapsed.as_secs_f64());
            }
            LiveEvent::Rejected(code) => {
                self.pushes
                    .get_or_create(&LivePushLabels {
                        result: code.as_str(),
                    })
                    .inc();
            }
            LiveEvent::FannedOut(elapsed) => self.fan_out.observe(elapsed.as_secs_f64()),
            LiveEvent::Compacted(logged) => {
                self.compactions.inc();
                self.log_length.observe(logged as f64);
            }
            LiveEvent::SlowClosed => {
                self.slow_closes.inc();
            }
            LiveEvent::Forwarded(delta) => {
                self.forwarded.inc_by(delta);
            }
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// A fresh registry with every metric registered; the GPU's counters stay at zero
    /// (see [`Metrics::for_renderer`]).
    pub fn new() -> Self {
        Metrics::for_renderer(&crate::render::Renderer::cpu())
    }

    /// A fresh registry with every metric registered, the GPU's counters and adapter
    /// read from `renderer`'s GPU at each scrape.
    pub fn for_renderer(renderer: &crate::render::Renderer) -> Self {
        Metrics::with_rate_limits(renderer, Arc::default())
    }

    /// [`Metrics::for_renderer`], with the rate limiter's counters (`stats`) read at each
    /// scrape.
    pub fn with_rate_limits(
        renderer: &crate::render::Renderer,
        stats: Arc<crate::ratelimit::RateLimitStats>,
    ) -> Self {
        #[cfg(not(feature = "gpu"))]
        let _ = renderer;
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "spv_http_request_duration_seconds",
            "HTTP request latency by method, matched route and status",
            requests.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "spv_http_requests_in_flight",
            "HTTP requests being served",
            in_flight.clone(),
        );
        let render = Family::<BackendLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "spv_render_duration_seconds",
            "Thumbnail render time (parse, render, encode; not the render-pool wait) by backend",
            render.clone(),
        );
        let gpu_batch = latency_histogram();
        registry.register(
            "spv_gpu_batch_seconds",
            "For each GPU render: the wall time of the GPU batch it rode in (submission to pixels read back)",
            gpu_batch.clone(),
        );
        #[cfg(feature = "gpu")]
        registry.register_collector(Box::new(gpu::GpuCollector(renderer.gpu().cloned())));
        registry.register_collector(Box::new(ratelimit::RateLimitCollector(stats)));
        let edge = Arc::new(crate::guard::EdgeStats::default());
        registry.register_collector(Box::new(edge::EdgeCollector(edge.clone())));
        let queue_wait = latency_histogram();
        registry.register(
            "spv_render_queue_wait_seconds",
            "Time renders waited for a free slot of the render pool",
            queue_wait.clone(),
        );
        let thumbnail_cache = Family::<CacheLabels, Counter>::default();
        registry.register(
            "spv_thumbnail_cache",
            "Thumbnail cache lookups by level (memory, blob) and result (hit, miss)",
            thumbnail_cache.clone(),
        );
        let memory_cache = [false, true].map(|hit| {
            thumbnail_cache
                .get_or_create(&CacheLabels {
                    level: "memory",
                    result: if hit { "hit" } else { "miss" },
                })
                .clone()
        });
        let signed = Family::<ResultLabels, Counter>::default();
        registry.register(
            "spv_signed_urls",
            "Signed thumbnail URLs checked, by result (valid, refused)",
            signed.clone(),
        );
        let signed_urls = [false, true].map(|valid| {
            signed
                .get_or_create(&ResultLabels {
                    result: if valid { "valid" } else { "refused" },
                })
                .clone()
        });
        let bytes_served = Counter::default();
        registry.register(
            "spv_http_response_body_bytes",
            "Response body bytes served (bodies of known size)",
            bytes_served.clone(),
        );
        let jobs = Family::<JobResultLabels, Counter>::default();
        registry.register(
            "spv_jobs",
            "Job runs by kind and how they ended (succeeded, failed, retried, cancelled, released, lost)",
            jobs.clone(),
        );
        let job_duration = Family::<JobLabels, Histogram>::new_with_constructor(
            job_histogram as fn() -> Histogram,
        );
        registry.register(
            "spv_job_duration_seconds",
            "Time a worker ran a job (one attempt), by kind",
            job_duration.clone(),
        );
        let caches = Arc::new(crate::store::CacheCounters::default());
        registry.register_collector(Box::new(caches::CacheCollector(caches.clone())));
        let blobs = Family::<BlobLabels, Counter>::default();
        registry.register(
            "spv_blob_operations",
            "Blob store operations by op (put, get, stream, size, delete, check) and result (ok, error)",
            blobs.clone(),
        );
        let blob_duration = Family::<BlobOpLabels, Histogram>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        registry.register(
            "spv_blob_operation_duration_seconds",
            "Time of blob store operations by op (a put from its first byte to stored; a stream until its first byte can be read)",
            blob_duration.clone(),
        );
        let live = LiveMetrics::register(&mut registry);
        Metrics {
            inner: Arc::new(Inner {
                live,
                registry,
                requests,
                in_flight,
                render,
                gpu_batch,
                queue_wait,
                thumbnail_cache,
                memory_cache,
                signed_urls,
                bytes_served,
                jobs,
                job_duration,
                caches,
                blobs,
                blob_duration,
                edge,
            }),
        }
    }

    /// The counters of connections and guards, which the server counts into:
    /// `spv_connections_open`, `spv_connections_refused_total{reason}`,
    /// `spv_connections_timed_out_total{reason}`, `spv_requests_blocked_total{reason}`.
    ///
    /// ```
    /// use spv::guard::{Blocked, Refused};
    ///
    /// let metrics = spv::http::Metrics::new();
    /// metrics.edge().opened();
    /// metrics.edge().refuse(Refused::PerIp);
    /// metrics.edge().block(Blocked::Maintenance);
    /// let text = metrics.encode();
    /// assert!(text.contains("spv_connections_open 1"), "{text}");
    /// assert!(text.contains("spv_connections_refused_total{reason=\"per-ip\"} 1"), "{text}");
    /// assert!(text.contains("spv_requests_blocked_total{reason=\"maintenance\"} 1"), "{text}");
    /// ```
    pub fn edge(&self) -> &Arc<crate::guard::EdgeStats> {
        &self.inner.edge
    }

    /// Records one render's time on `backend` (`cpu`).
    pub fn observe_render(&self, backend: &'static str, elapsed: Duration) {
        self.inner
            .render
            .get_or_create(&BackendLabels { backend })
            .observe(elapsed.as_secs_f64());
    }

    /// Records one render: its wait for a render-pool slot, its work by backend and, for
    /// a GPU render, its batch's GPU time.
    ///
    /// ```
    /// use spv::api::{RenderBackend, RenderTiming};
    /// use std::time::Duration;
    /// let metrics = spv::http::Metrics::new();
    /// metrics.observe_render_timing(&RenderTiming {
    ///     queue_wait: Duration::from_millis(1),
    ///     render: Duration::from_millis(4),
    ///     backend: RenderBackend::Gpu,
    ///     gpu: Some(Duration::from_millis(2)),
    /// });
    /// let text = metrics.encode();
    /// assert!(text.contains("spv_render_duration_seconds_count{backend=\"gpu\"} 1"), "{text}");
    /// assert!(text.contains("spv_gpu_batch_seconds_count 1"), "{text}");
    /// ```
    pub fn observe_render_timing(&self, timing: &RenderTiming) {
        self.inner
            .queue_wait
            .observe(timing.queue_wait.as_secs_f64());
        self.observe_render(timing.backend.as_str(), timing.render);
        if let Some(gpu) = timing.gpu {
            self.inner.gpu_batch.observe(gpu.as_secs_f64());
        }
    }

    /// The counters of the caches across nodes (the Redis tier, claims, invalidations),
    /// to hand to [`crate::store::CacheBus::start`]; exposed as `spv_thumbnail_redis_*`
    /// and `spv_cache_*`.
    ///
    /// ```
    /// let metrics = spv::http::Metrics::new();
    /// metrics.cache_counters().tier_hits.fetch_add(2, std::sync::atomic::Ordering::Relaxed);
    /// let text = metrics.encode();
    /// assert!(text.contains("spv_thumbnail_redis_hits_total 2"), "{text}");
    /// assert!(text.contains("spv_cache_invalidations_total 0"), "{text}");
    /// ```
    pub fn cache_counters(&self) -> Arc<crate::store::CacheCounters> {
        self.inner.caches.clone()
    }

    /// Counts one thumbnail cache lookup at `level` (`memory` or `blob`).
    ///
    /// ```
    /// let metrics = spv::http::Metrics::new();
    /// metrics.observe_cache("memory", true);
    /// metrics.observe_cache("blob", false);
    /// let text = metrics.encode();
    /// assert!(text.contains("spv_thumbnail_cache_total{level=\"memory\",result=\"hit\"} 1"), "{text}");
    /// assert!(text.contains("spv_thumbnail_cache_total{level=\"memory\",result=\"miss\"} 0"), "{text}");
    /// assert!(text.contains("spv_thumbnail_cache_total{level=\"blob\",result=\"miss\"} 1"), "{text}");
    /// ```
    pub fn observe_cache(&self, level: &'static str, hit: bool) {
        if level == "memory" {
            self.inner.memory_cache[usize::from(hit)].inc();
            return;
        }
        let result = if hit { "hit" } else { "miss" };
        self.inner
            .thumbnail_cache
            .get_or_create(&CacheLabels { level, result })
            .inc();
    }

    /// Counts one signed thumbnail URL checked: `valid`, or refused (403).
    ///
    /// ```
    /// let metrics = spv::http::Metrics::new();
    /// metrics.observe_signed_url(false);
    /// let text = metrics.encode();
    /// assert!(text.contains("spv_signed_urls_total{result=\"refused\"} 1"), "{text}");
    /// assert!(text.contains("spv_signed_urls_total{result=\"valid\"} 0"), "{text}");
    /// ```
    pub fn observe_signed_url(&self, valid: bool) {
        self.inner.signed_urls[usize::from(valid)].inc();
    }

    /// Counts one run of a job by kind and how it ended (`succeeded`, `failed`,
    /// `retried`, `cancelled`, `released` at shutdown, `lost` with its lease), and its time.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spv::jobs::{JobFinished, RunResult};
    ///
    /// let metrics = spv::http::Metrics::new();
    /// let finished = JobFinished {
    ///     kind: "render".to_owned(),
    ///     result: RunResult::Retried,
    ///     duration: Duration::from_millis(5),
    /// };
    /// metrics.observe_job(&finished);
    /// let text = metrics.encode();
    /// assert!(text.contains("spv_jobs_total{kind=\"render\",result=\"retried\"} 1"), "{text}");
    /// assert!(text.contains("spv_job_duration_seconds_count{kind=\"render\"} 1"), "{text}");
    /// ```
    pub fn observe_job(&self, finished: &JobFinished) {
        self.inner
            .jobs
            .get_or_create(&JobResultLabels {
                kind: finished.kind.clone(),
                result: finished.result.as_str(),
            })
            .inc();
        self.inner
            .job_duration
            .get_or_create(&JobLabels {
                kind: finished.kind.clone(),
            })
            .observe(finished.duration.as_secs_f64());
    }

    /// A [`WorkersConfig::on_finish`](crate::jobs::WorkersConfig::on_finish) hook that
    /// records each run with [`observe_job`](Self::observe_job).
    pub fn job_hook(&self) -> FinishHook {
        let metrics = self.clone();
        Arc::new(move |finished: &JobFinished| metrics.observe_job(finished))
    }

    /// Records one blob store operation.
    pub fn observe_blob(&self, op: BlobOp, ok: bool, elapsed: Duration) {
        let op = op.as_str();
        let result = if ok { "ok" } else { "error" };
        self.inner
            .blobs
            .get_or_create(&BlobLabels { op, result })
            .inc();
        self.inner
            .blob_duration
            .get_or_create(&BlobOpLabels { op })
            .observe(elapsed.as_secs_f64());
    }

    /// A hook for [`ObservedBlobs`](crate::store::ObservedBlobs) that records each
    /// operation with [`observe_blob`](Self::observe_blob).
    ///
    /// ```
    /// let metrics = spv::http::Metrics::new();
    /// (metrics.blob_hook())(spv::store::BlobOp::Put, true, std::time::Duration::from_millis(2));
    /// let text = metrics.encode();
    /// assert!(text.contains("spv_blob_operations_total{op=\"put\",result=\"ok\"} 1"), "{text}");
    /// ```
    pub fn blob_hook(&self) -> BlobHook {
        let metrics = self.clone();
        Arc::new(move |op, ok, elapsed| metrics.observe_blob(op, ok, elapsed))
    }

    /// A [`LiveConfig::hook`](crate::live::LiveConfig::hook) that records live editing:
    /// `spv_live_sessions`, `spv_live_documents`, `spv_live_pushes_total{result}`,
    /// `spv_live_ack_duration_seconds`, `spv_live_fanout_duration_seconds`,
    /// `spv_live_compactions_total`, `spv_live_log_length`, `spv_live_slow_closes_total`,
    /// `spv_live_forwarded_sessions`.
    ///
    /// ```
    /// use spv::live::LiveEvent;
    /// let metrics = spv::http::Metrics::new();
    /// let hook = metrics.live_hook();
    /// hook(LiveEvent::Sessions(2));
    /// hook(LiveEvent::Accepted(std::time::Duration::from_millis(1)));
    /// hook(LiveEvent::Rejected(spv::glyph::ops::RejectCode::Cycle));
    /// let text = metrics.encode();
    /// assert!(text.contains("spv_live_sessions 2"), "{text}");
    /// assert!(text.contains("spv_live_pushes_total{result=\"accepted\"} 1"), "{text}");
    /// assert!(text.contains("spv_live_pushes_total{result=\"cycle\"} 1"), "{text}");
    /// assert!(text.contains("spv_live_ack_duration_seconds_count 1"), "{text}");
    /// ```
    pub fn live_hook(&self) -> crate::live::LiveHook {
        let metrics = self.clone();
        Arc::new(move |event| metrics.inner.live.observe(event))
    }

    /// The registry in the Prometheus/OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.inner.registry).is_err() {
            tracing::error!("encoding the metrics failed");
        }
        text
    }
}
