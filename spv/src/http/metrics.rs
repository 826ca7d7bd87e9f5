//! [`Metrics`]: the prometheus-client registry, the request-tracking middleware and
//! `GET /metrics`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::HttpBody as _;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use super::state::AppState;
use crate::api::RenderTiming;
use crate::jobs::{FinishHook, JobFinished};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: &'static str,
    status: u16,
}

/// The label of `method`: its name for the methods of RFC 9110 and PATCH, else `OTHER`
/// (so that arbitrary methods cannot grow the label set).
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// The label of a matched route: route templates are a fixed set (the application's
/// routes), so each is interned once and labels are made without allocating. Each
/// thread remembers the labels it has seen, so the shared set (and its lock, which two
/// cores would pass back and forth) is read once per route and thread.
fn route_label(route: Option<&MatchedPath>) -> &'static str {
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::sync::{PoisonError, RwLock};
    type Labels = HashSet<&'static str, foldhash::fast::RandomState>;
    static ROUTES: RwLock<Option<HashSet<&'static str>>> = RwLock::new(None);
    thread_local! {
        static SEEN: RefCell<Labels> = RefCell::new(Labels::default());
    }
    let Some(route) = route.map(MatchedPath::as_str) else {
        return "unmatched";
    };
    if let Some(known) = SEEN.with_borrow(|seen| seen.get(route).copied()) {
        return known;
    }
    let interned = {
        let mut routes = ROUTES.write().unwrap_or_else(PoisonError::into_inner);
        let set = routes.get_or_insert_with(HashSet::new);
        match set.get(route) {
            Some(known) => *known,
            None => {
                let leaked: &'static str = Box::leak(route.to_owned().into_boxed_str());
                set.insert(leaked);
                leaked
            }
        }
    };
    SEEN.with_borrow_mut(|seen| seen.insert(interned));
    interned
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BackendLabels {
    backend: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    level: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobResultLabels {
    kind: String,
    result: &'static str,
}

fn job_histogram() -> Histogram {
    // 1 ms to about 9 minutes.
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

fn latency_histogram() -> Histogram {
    // 0.1 ms to about 6.5 s.
    Histogram::new(exponential_buckets(0.0001, 2.0, 17))
}

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
    bytes_served: Counter,
    jobs: Family<JobResultLabels, Counter>,
    job_duration: Family<JobLabels, Histogram>,
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
        registry.register_collector(Box::new(GpuCollector(renderer.gpu().cloned())));
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
        Metrics {
            inner: Arc::new(Inner {
                registry,
                requests,
                in_flight,
                render,
                gpu_batch,
                queue_wait,
                thumbnail_cache,
                memory_cache,
                bytes_served,
                jobs,
                job_duration,
            }),
        }
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

    /// The registry in the Prometheus/OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.inner.registry).is_err() {
            tracing::error!("encoding the metrics failed");
        }
        text
    }
}

/// The request metrics of every route (latency by method, route and status, requests in
/// flight, body bytes served) and the JSON finishing of
/// [`FinishJsonLayer`](super::json::FinishJsonLayer), in one future. A hand-written
/// layer: no route clone, boxed future per concern or label allocation per request.
#[derive(Clone)]
pub(crate) struct TrackLayer {
    metrics: Metrics,
}

impl TrackLayer {
    pub(crate) fn new(metrics: Metrics) -> Self {
        TrackLayer { metrics }
    }
}

impl<S> tower::Layer<S> for TrackLayer {
    type Service = Track<S>;

    fn layer(&self, inner: S) -> Track<S> {
        Track::new(inner, Some(self.metrics.clone()))
    }
}

/// The service of spv's route layers: [`TrackLayer`], and
/// [`FinishJsonLayer`](super::json::FinishJsonLayer) (no metrics) for the routers
/// served on their own.
#[derive(Clone)]
pub(crate) struct Track<S> {
    inner: S,
    metrics: Option<Metrics>,
}

impl<S> Track<S> {
    pub(crate) fn new(inner: S, metrics: Option<Metrics>) -> Self {
        Track { inner, metrics }
    }
}

impl<S> tower::Service<Request> for Track<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = super::json::RouteFuture;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let tracked = self.metrics.clone().map(|metrics| {
            let started = Instant::now();
            let method = method_label(request.method());
            let route = route_label(request.extensions().get::<MatchedPath>());
            // The request span of a server (spv-server's, at INFO) is made before
            // routing; the route is known here. A no-op where the span has no such field.
            if tracing::level_enabled!(tracing::Level::INFO) {
                tracing::Span::current().record("route", route);
            }
            metrics.inner.in_flight.inc();
            (metrics, started, method, route)
        });
        let uri = request.uri().clone();
        let future = self.inner.call(request);
        Box::pin(async move {
            // Decremented however the request ends (a dropped connection included).
            let _in_flight = tracked
                .as_ref()
                .map(|(metrics, ..)| InFlight(&metrics.inner.in_flight));
            let response = super::json::finish(&uri, future.await?).await;
            if let Some((metrics, started, method, route)) = &tracked {
                let inner = &metrics.inner;
                let labels = RequestLabels {
                    method,
                    route,
                    status: response.status().as_u16(),
                };
                inner
                    .requests
                    .get_or_create(&labels)
                    .observe(started.elapsed().as_secs_f64());
                if let Some(bytes) = response.body().size_hint().exact() {
                    inner.bytes_served.inc_by(bytes);
                }
            }
            Ok(response)
        })
    }
}

/// Takes one off the in-flight gauge when dropped.
struct InFlight<'a>(&'a Gauge);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// `GET /metrics`.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(serve_metrics))
        .with_state(state)
}

/// The metrics in the Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format", body = String,
        content_type = "application/openmetrics-text")))]
pub(crate) async fn serve_metrics(State(state): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        state.metrics.encode(),
    )
        .into_response()
}

/// A GPU's counters ([`crate::render::gpu::Gpu::stats`]), read at each scrape; zeros
/// without a GPU.
#[cfg(feature = "gpu")]
#[derive(Debug)]
struct GpuCollector(Option<crate::render::gpu::Gpu>);

#[cfg(feature = "gpu")]
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
