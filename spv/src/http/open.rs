//! [`AppState::open`]: every service of the embedded default (or PostgreSQL), wired from
//! a [`Config`] the way `spv-server` runs them, for hosts that mount spv's routers in
//! their own application.

use std::sync::Arc;

use super::state::AppState;
use crate::Result;
use crate::api::Secret;
use crate::assets::{Assets, AssetsConfig};
use crate::auth::{Auth, AuthConfig, JwtSecret};
use crate::config::Config;
use crate::documents::{Documents, DocumentsConfig};
use crate::store::{BlobStore, Db, LocalBlobs};
use crate::thumbnails::{DocumentThumbnails, DocumentThumbnailsConfig, RenderedStore};

/// What [`AppState::open`] opened.
#[derive(Debug)]
#[non_exhaustive]
pub struct Opened {
    /// The state for [`api`](super::api) and the other routers.
    pub state: AppState,
    /// The database; close it after the server stops ([`Db::close`]).
    pub db: Db,
    /// The first admin's password when this start created the admin without
    /// `SPV_ADMIN_PASSWORD`: show it once to the operator, never log it.
    pub admin_password: Option<Secret>,
}

impl AppState {
    /// Opens the database (`DATABASE_URL`, or SQLite in `SPV_DATA_DIR`, migrated), the
    /// blobs under the data directory, and the auth, documents, assets and thumbnail
    /// services over them (renders on a pool of `SPV_JOB_WORKERS`); creates the first
    /// admin (`SPV_ADMIN_USER`) when there is no user; `GET /ready` pings the database.
    ///
    /// ```no_run
    /// # async fn demo() -> spv::Result<()> {
    /// let config = spv::config::Config::from_env_map(std::env::vars())?;
    /// let opened = spv::http::AppState::open(&config).await?;
    /// let app = axum::Router::new().nest("/spv", spv::http::api(opened.state));
    /// # drop(app);
    /// # Ok(()) }
    /// ```
    pub async fn open(config: &Config) -> Result<Opened> {
        let db = Db::open(config.database_url.as_deref(), &config.data_dir).await?;
        let secret = JwtSecret::resolve(config.jwt_secret.as_deref(), &config.data_dir)?;
        let auth = Auth::new(
            db.clone(),
            &secret,
            AuthConfig {
                issuer: config.jwt_issuer.clone(),
                ..AuthConfig::default()
            },
        );
        let given = config.admin_password.clone().map(Secret::new);
        let admin_password = auth.bootstrap_admin(&config.admin_user, given).await?;

        let blobs: Arc<dyn BlobStore> = Arc::new(LocalBlobs::in_data_dir(&config.data_dir));
        let state = AppState::new(config);
        let pool = state.thumbnails.pool().clone();
        let assets = Assets::with_db(
            db.clone(),
            blobs.clone(),
            AssetsConfig {
                pool: pool.clone(),
                ..AssetsConfig::default()
            },
        );
        let documents = Documents::with_db(
            db.clone(),
            DocumentsConfig {
                pool,
                ..DocumentsConfig::default()
            },
        );
        let document_thumbnails = DocumentThumbnails::new(
            state.thumbnails.clone(),
            documents.clone(),
            DocumentThumbnailsConfig {
                memory_bytes: usize::try_from(config.thumbnail_cache_bytes).unwrap_or(usize::MAX),
                assets: Some(assets.clone()),
                rendered: (config.thumbnail_store_bytes > 0).then(|| {
                    RenderedStore::new(db.clone(), blobs.clone())
                        .with_max_bytes(config.thumbnail_store_bytes)
                }),
            },
        );
        let ready_db = db.clone();
        let state = state
            .with_auth(auth)
            .with_documents(documents)
            .with_document_thumbnails(document_thumbnails)
            .with_assets(assets)
            .with_ready_check(Arc::new(move || {
                let db = ready_db.clone();
                Box::pin(async move { db.ping().await })
            }));
        Ok(Opened {
            state,
            db,
            admin_password,
        })
    }
}
