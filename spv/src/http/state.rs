//! [`AppState`], what the routers share.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::watch;

use super::metrics::Metrics;
use crate::assets::Assets;
use crate::auth::Auth;
use crate::config::Config;
use crate::documents::Documents;
use crate::jobs::Jobs;
use crate::ratelimit::{RateLimiter, TrustedProxies};
use crate::render::pool::RenderPool;
use crate::thumbnails::{DocumentThumbnails, Thumbnails, ThumbnailsConfig};

/// What `GET /ready` runs: `Ok` when the server can take traffic (e.g. the database
/// answers).
pub type ReadyCheck = Arc<
    dyn Fn() -> Pin<Box<dyn Future<Output = crate::Result<()>> + Send + 'static>> + Send + Sync,
>;

/// The services and settings behind the routers: one reference count to clone (the
/// routers clone it per request), read with its accessors (`state.config()`,
/// `state.documents()`, ...), set with the `with_*` builders.
#[derive(Clone)]
pub struct AppState {
    services: Arc<AppServices>,
}

/// What an [`AppState`] holds, behind its one reference count.
#[derive(Clone)]
struct AppServices {
    /// The thumbnails service.
    thumbnails: Thumbnails,
    /// The metrics registry.
    metrics: Metrics,
    /// The configuration the state was built from.
    config: Arc<Config>,
    /// What `GET /ready` checks; `None`: always ready.
    ready: Option<ReadyCheck>,
    /// The Redis connection of a scaled-out deployment (`REDIS_URL`).
    redis: Option<crate::store::Redis>,
    /// The rate limits (`SPV_RATE_LIMITS`), on Redis when there is one.
    rate_limiter: RateLimiter,
    /// Whose forwarding headers name the client (`SPV_TRUSTED_PROXIES`).
    trusted_proxies: Arc<TrustedProxies>,
    /// The auth service; `None`: no credential is accepted, so every protected route
    /// answers 401.
    auth: Option<Auth>,
    /// The documents service; `None`: the document routes answer 404.
    documents: Option<Documents>,
    /// The assets service; `None`: the asset routes answer 404 and stored documents
    /// cannot resolve `sha256:` sources.
    assets: Option<Assets>,
    /// Thumbnails of stored documents (cached); `None`: the document thumbnail route
    /// answers 404.
    document_thumbnails: Option<DocumentThumbnails>,
    /// The jobs service; `None`: the job routes answer 404.
    jobs: Option<Jobs>,
    /// Live editing; `None`: the live route closes every session with 4004.
    live: Option<crate::live::Live>,
    /// Ends long-lived responses (job event streams) when the server begins to stop.
    closing: Closing,
}

/// A signal shared by every clone of an [`AppState`]: once [`close`](Self::close)d, the
/// job event streams end (without `done`; clients read the job or follow it again), so
/// that a server draining its connections at shutdown does not wait for them.
///
/// ```
/// let state = spv::http::AppState::new(&spv::config::Config::default());
/// let copy = state.clone();
/// assert!(!copy.closing().is_closed());
/// state.closing().close();
/// assert!(copy.closing().is_closed());
/// ```
#[derive(Debug, Clone)]
pub struct Closing {
    sender: Arc<watch::Sender<bool>>,
}

impl Default for Closing {
    fn default() -> Self {
        Closing {
            sender: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl Closing {
    /// Ends the streams, now and for those opened later.
    pub fn close(&self) {
        self.sender.send_replace(true);
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        *self.sender.borrow()
    }

    /// Completes once [`close`](Self::close) is called.
    pub(crate) fn closed(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut receiver = self.sender.subscribe();
        async move {
            // The sender lives as long as this receiver's `Closing`: no error to expect,
            // and if there were one, ending the stream is the safe answer.
            let _ = receiver.wait_for(|closed| *closed).await;
        }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.services, f)
    }
}

impl std::fmt::Debug for AppServices {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("thumbnails", &self.thumbnails)
            .field("config", &self.config)
            .field("ready", &self.ready.is_some())
            .field("redis", &self.redis)
            .field("rate_limiter", &self.rate_limiter)
            .field("auth", &self.auth.is_some())
            .field("documents", &self.documents.is_some())
            .field("assets", &self.assets.is_some())
            .field("document_thumbnails", &self.document_thumbnails.is_some())
            .field("jobs", &self.jobs.is_some())
            .field("live", &self.live.is_some())
            .field("closing", &self.closing.is_closed())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// The thumbnails service.
    pub fn thumbnails(&self) -> &Thumbnails {
        &self.services.thumbnails
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.services.metrics
    }

    /// The configuration the state was built from.
    pub fn config(&self) -> &Config {
        &self.services.config
    }

    /// What `GET /ready` checks; `None`: always ready.
    pub fn ready(&self) -> Option<&ReadyCheck> {
        self.services.ready.as_ref()
    }

    /// The Redis connection (`REDIS_URL`), when the deployment has one.
    pub fn redis(&self) -> Option<&crate::store::Redis> {
        self.services.redis.as_ref()
    }

    /// The rate limiter of the routes (`SPV_RATE_LIMITS`).
    pub fn rate_limiter(&self) -> &RateLimiter {
        &self.services.rate_limiter
    }

    /// The proxies whose `Forwarded` / `X-Forwarded-For` name the client
    /// (`SPV_TRUSTED_PROXIES`).
    pub fn trusted_proxies(&self) -> &TrustedProxies {
        &self.services.trusted_proxies
    }

    /// The auth service; `None`: no credential is accepted, so every protected route
    /// answers 401.
    pub fn auth(&self) -> Option<&Auth> {
        self.services.auth.as_ref()
    }

    /// The documents service; `None`: the document routes answer 404.
    pub fn documents(&self) -> Option<&Documents> {
        self.services.documents.as_ref()
    }

    /// The assets service; `None`: the asset routes answer 404 and stored documents
    /// cannot resolve `sha256:` sources.
    pub fn assets(&self) -> Option<&Assets> {
        self.services.assets.as_ref()
    }

    /// Thumbnails of stored documents (cached); `None`: the document thumbnail route
    /// answers 404, and `POST /api/v1/thumbnails` renders sent documents only.
    pub fn document_thumbnails(&self) -> Option<&DocumentThumbnails> {
        self.services.document_thumbnails.as_ref()
    }

    /// The jobs service; `None`: the job routes answer 404.
    pub fn jobs(&self) -> Option<&Jobs> {
        self.services.jobs.as_ref()
    }

    /// Live editing (`GET /api/v1/documents/{id}/live`); `None`: not served.
    pub fn live(&self) -> Option<&crate::live::Live> {
        self.services.live.as_ref()
    }

    /// Ends long-lived responses (job event streams) when the server begins to stop.
    pub fn closing(&self) -> &Closing {
        &self.services.closing
    }

    /// A state from the configuration: a thumbnails service with
    /// `SPV_MAX_THUMBNAIL_SIZE` and a render pool of `SPV_JOB_WORKERS` slots, and a
    /// fresh metrics registry.
    ///
    /// ```
    /// let mut config = spv::config::Config::default();
    /// config.max_thumbnail_size = 512;
    /// let state = spv::http::AppState::new(&config);
    /// assert_eq!(state.thumbnails().max_size(), 512);
    /// ```
    pub fn new(config: &Config) -> Self {
        let thumbnails = Thumbnails::new(
            ThumbnailsConfig::default()
                .with_max_size(config.max_thumbnail_size)
                .with_max_size_setting("SPV_MAX_THUMBNAIL_SIZE")
                .with_pool(RenderPool::new(config.job_workers))
                .with_renderer(config.renderer),
        );
        AppState::with_thumbnails(config, thumbnails)
    }

    /// A state around an existing thumbnails service.
    pub fn with_thumbnails(config: &Config, thumbnails: Thumbnails) -> Self {
        let rate_limiter = RateLimiter::new(config.rate_limits);
        let services = AppServices {
            // The GPU's counters and adapter, read from the renderer's GPU at each scrape,
            // and the rate limiter's counters.
            metrics: Metrics::with_rate_limits(thumbnails.renderer(), rate_limiter.stats().clone()),
            rate_limiter,
            trusted_proxies: Arc::new(config.trusted_proxies.clone()),
            thumbnails,
            config: Arc::new(config.clone()),
            ready: None,
            redis: None,
            auth: None,
            documents: None,
            assets: None,
            document_thumbnails: None,
            jobs: None,
            live: None,
            closing: Closing::default(),
        };
        AppState {
            services: Arc::new(services),
        }
    }

    /// The services, to change one of them (copied first when other clones of this
    /// state share them).
    fn services_mut(&mut self) -> &mut AppServices {
        Arc::make_mut(&mut self.services)
    }

    /// Sets what `GET /ready` checks.
    pub fn with_ready_check(mut self, ready: ReadyCheck) -> Self {
        self.services_mut().ready = Some(ready);
        self
    }

    /// Sets the Redis connection that rate limits, caches and claims share across nodes
    /// (the rate limiter moves onto it, keeping its limits and counters).
    pub fn with_redis(mut self, redis: crate::store::Redis) -> Self {
        let services = self.services_mut();
        services.rate_limiter = services.rate_limiter.clone().with_redis(redis.clone());
        services.redis = Some(redis);
        self
    }

    /// Sets the auth service that checks credentials and serves the auth routes.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.services_mut().auth = Some(auth);
        self
    }

    /// Sets the documents service behind the document routes.
    pub fn with_documents(mut self, documents: Documents) -> Self {
        self.services_mut().documents = Some(documents);
        self
    }

    /// Sets the assets service behind the asset routes and `sha256:` resolution.
    pub fn with_assets(mut self, assets: Assets) -> Self {
        self.services_mut().assets = Some(assets);
        self
    }

    /// Sets the service behind `GET /api/v1/documents/{id}/thumbnail`.
    pub fn with_document_thumbnails(mut self, service: DocumentThumbnails) -> Self {
        self.services_mut().document_thumbnails = Some(service);
        self
    }

    /// Sets the live editing service behind `GET /api/v1/documents/{id}/live`; its
    /// sessions close (1001, documents compacted first) when [`Closing`] closes.
    pub fn with_live(mut self, live: crate::live::Live) -> Self {
        let closing = self.closing().closed();
        let watched = live.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                closing.await;
                watched.shutdown().await;
            });
        }
        self.services_mut().live = Some(live);
        self
    }

    /// Sets the jobs service behind the job routes (`/api/v1/jobs/...`).
    pub fn with_jobs(mut self, jobs: Jobs) -> Self {
        self.services_mut().jobs = Some(jobs);
        self
    }
}
