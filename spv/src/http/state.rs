//! [`AppState`], what the routers share.

use std::sync::Arc;

use super::health::ReadyCheck;
use super::metrics::Metrics;
use crate::assets::Assets;
use crate::auth::Auth;
use crate::config::Config;
use crate::documents::Documents;
use crate::render::pool::RenderPool;
use crate::thumbnails::{DocumentThumbnails, Thumbnails, ThumbnailsConfig};

/// The services and settings behind the routers. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The thumbnails service.
    pub thumbnails: Thumbnails,
    /// The metrics registry.
    pub metrics: Metrics,
    /// The configuration the state was built from.
    pub config: Arc<Config>,
    /// What `GET /ready` checks; `None`: always ready.
    pub ready: Option<ReadyCheck>,
    /// The auth service; `None`: no credential is accepted, so every protected route
    /// answers 401.
    pub auth: Option<Auth>,
    /// The documents service; `None`: the document routes answer 404.
    pub documents: Option<Documents>,
    /// The assets service; `None`: the asset routes answer 404 and stored documents
    /// cannot resolve `sha256:` sources.
    pub assets: Option<Assets>,
    /// Thumbnails of stored documents (cached); `None`: the document thumbnail route
    /// answers 404.
    pub document_thumbnails: Option<DocumentThumbnails>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("thumbnails", &self.thumbnails)
            .field("config", &self.config)
            .field("ready", &self.ready.is_some())
            .field("auth", &self.auth.is_some())
            .field("documents", &self.documents.is_some())
            .field("assets", &self.assets.is_some())
            .field("document_thumbnails", &self.document_thumbnails.is_some())
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// A state from the configuration: a thumbnails service with
    /// `SPV_MAX_THUMBNAIL_SIZE` and a render pool of `SPV_JOB_WORKERS` slots, and a
    /// fresh metrics registry.
    ///
    /// ```
    /// let mut config = spv::config::Config::default();
    /// config.max_thumbnail_size = 512;
    /// let state = spv::http::AppState::new(&config);
    /// assert_eq!(state.thumbnails.max_size(), 512);
    /// ```
    pub fn new(config: &Config) -> Self {
        let thumbnails = Thumbnails::new(
            ThumbnailsConfig::default()
                .with_max_size(config.max_thumbnail_size)
                .with_pool(RenderPool::new(config.job_workers)),
        );
        AppState::with_thumbnails(config, thumbnails)
    }

    /// A state around an existing thumbnails service.
    pub fn with_thumbnails(config: &Config, thumbnails: Thumbnails) -> Self {
        AppState {
            thumbnails,
            metrics: Metrics::new(),
            config: Arc::new(config.clone()),
            ready: None,
            auth: None,
            documents: None,
            assets: None,
            document_thumbnails: None,
        }
    }

    /// Sets what `GET /ready` checks.
    pub fn with_ready_check(mut self, ready: ReadyCheck) -> Self {
        self.ready = Some(ready);
        self
    }

    /// Sets the auth service that checks credentials and serves the auth routes.
    pub fn with_auth(mut self, auth: Auth) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Sets the documents service behind the document routes.
    pub fn with_documents(mut self, documents: Documents) -> Self {
        self.documents = Some(documents);
        self
    }

    /// Sets the assets service behind the asset routes and `sha256:` resolution.
    pub fn with_assets(mut self, assets: Assets) -> Self {
        self.assets = Some(assets);
        self
    }

    /// Sets the service behind `GET /api/v1/documents/{id}/thumbnail`.
    pub fn with_document_thumbnails(mut self, service: DocumentThumbnails) -> Self {
        self.document_thumbnails = Some(service);
        self
    }
}
