//! [`AppState::open`]: every service of the embedded default (or PostgreSQL), wired from
//! a [`Config`] the way `spv-server` runs them, for hosts that mount spv's routers in
//! their own application.

use std::sync::Arc;
use std::time::Duration;

use super::state::{AppState, ReadyCheck};
use crate::api::Secret;
use crate::assets::{Assets, AssetsConfig};
use crate::auth::{Auth, AuthConfig, JwtSecret};
use crate::config::Config;
use crate::documents::{Documents, DocumentsConfig};
use crate::jobs::{
    BackupHandler, JobHandler, JobOutputs, JobQueue, Jobs, MaintenanceConfig, PruneHandler,
    QueueConfig, RenderHandler, Workers, WorkersConfig,
};
use crate::store::{BlobStore, Db, ObservedBlobs, Redis, RedisOptions};
use crate::thumbnails::{DocumentThumbnails, DocumentThumbnailsConfig, RenderedStore};
use crate::{Error, ErrorKind, Result};

/// What [`AppState::open`] opened.
///
/// When the server stops serving, call [`shutdown`](Self::shutdown): it stops the job
/// workers (running jobs get a grace period, then go back to the queue for the next start)
/// and then closes the database.
#[derive(Debug)]
#[non_exhaustive]
pub struct Opened {
    /// The state for [`api`](super::api) and the other routers.
    pub state: AppState,
    /// The database; closed by [`shutdown`](Self::shutdown) ([`Db::close`]).
    pub db: Db,
    /// The first admin's password when this start created the admin without
    /// `SPV_ADMIN_PASSWORD`: show it once to the operator, never log it.
    pub admin_password: Option<Secret>,
    /// The running job workers and maintenance scheduler; stopped by
    /// [`shutdown`](Self::shutdown). A host that manages them itself may take them.
    pub workers: Option<Workers>,
}

impl Opened {
    /// Ends the job event streams still open
    /// ([`AppState::closing`](super::AppState::closing)), stops the job workers, giving
    /// running jobs up to `grace` to finish before they are released to the queue (not
    /// counted as attempts, so the next start runs them), then closes the database. Call
    /// it after the HTTP server stopped.
    pub async fn shutdown(self, grace: Duration) {
        self.state.closing().close();
        if let Some(workers) = self.workers {
            tracing::info!(
                workers = workers.len(),
                grace_secs = grace.as_secs_f64(),
                "stopping the job workers"
            );
            let report = workers.shutdown(grace).await;
            tracing::info!(
                finished = report.finished,
                released = report.released,
                "job workers stopped"
            );
        }
        self.db.close().await;
    }
}

impl AppState {
    /// Opens the database (`DATABASE_URL`, or SQLite in `SPV_DATA_DIR`, migrated), the
    /// blob store (`SPV_BLOB_URL`: a directory, by default under the data directory, or
    /// an S3 bucket), and the auth, documents, assets, thumbnail and jobs
    /// services over them (renders on a pool of `SPV_JOB_WORKERS`); creates the first
    /// admin (`SPV_ADMIN_USER`) when there is no user; `GET /ready` pings the database, Redis and the blob store.
    ///
    /// Starts `SPV_JOB_WORKERS` job workers (render jobs and the maintenance jobs, which
    /// a scheduler enqueues every `SPV_PRUNE_INTERVAL_SECS` and
    /// `SPV_BACKUP_INTERVAL_SECS`), with job metrics in
    /// [`AppState::metrics`](super::AppState::metrics); stop them with
    /// [`Opened::shutdown`].
    ///
    /// ```no_run
    /// # async fn demo() -> spv::Result<()> {
    /// let config = spv::config::Config::from_env_map(std::env::vars())?;
    /// let opened = spv::http::AppState::open(&config).await?;
    /// let app = axum::Router::new().nest("/spv", spv::http::api(opened.state.clone()));
    /// // ... serve `app` until it is time to stop, then:
    /// opened.shutdown(std::time::Duration::from_secs(30)).await;
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

        let state = AppState::new(config);
        let blobs: Arc<dyn BlobStore> = Arc::new(ObservedBlobs::new(
            config.open_blobs()?,
            state.metrics().blob_hook(),
        ));
        tracing::info!(blobs = ?blobs, "blob store");
        // Find the adapter and compile vello's shaders before the first render asks, on
        // a probe thread of the GPU's own (logged: which adapter, or why the CPU
        // renders); under `auto` renders go to the CPU meanwhile, and nothing waits.
        state.thumbnails().renderer().start();
        let pool = state.thumbnails().pool().clone();
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
            state.thumbnails().clone(),
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
        let (jobs, workers) = start_jobs(config, &db, &blobs, &state, &documents, &assets);
        let redis = match &config.redis_url {
            Some(url) => Some(
                Redis::connect(
                    url,
                    RedisOptions {
                        prefix: config.redis_prefix.clone(),
                        ..RedisOptions::default()
                    },
                )
                .await?,
            ),
            None => None,
        };
        let ready = ready_check(db.clone(), redis.clone(), blobs.clone());
        let mut state = state
            .with_auth(auth)
            .with_documents(documents)
            .with_document_thumbnails(document_thumbnails)
            .with_assets(assets)
            .with_jobs(jobs)
            .with_ready_check(ready);
        if let Some(redis) = redis {
            state = state.with_redis(redis);
        }
        Ok(Opened {
            state,
            db,
            admin_password,
            workers: Some(workers),
        })
    }
}

/// What `GET /ready` checks: the database, Redis when configured, and the blob store;
/// the error names each that failed (the causes go to the log).
fn ready_check(db: Db, redis: Option<Redis>, blobs: Arc<dyn BlobStore>) -> ReadyCheck {
    Arc::new(move || {
        let db = db.clone();
        let redis = redis.clone();
        let blobs = blobs.clone();
        Box::pin(async move {
            let mut failed = Vec::new();
            if let Err(e) = db.ping().await {
                tracing::warn!(error = %e, "readiness: the database does not answer");
                failed.push("database");
            }
            if let Some(redis) = redis
                && let Err(e) = redis.ping().await
            {
                tracing::warn!(error = %e, "readiness: Redis does not answer");
                failed.push("redis");
            }
            if let Err(e) = blobs.check().await {
                tracing::warn!(error = %e, "readiness: the blob store does not answer");
                failed.push("blobs");
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorKind::Overloaded,
                    format!("{} not answering", failed.join(", ")),
                ))
            }
        })
    })
}

/// The jobs service and its running workers: render jobs and the maintenance jobs,
/// each run counted in the state's metrics.
fn start_jobs(
    config: &Config,
    db: &Db,
    blobs: &Arc<dyn BlobStore>,
    state: &AppState,
    documents: &Documents,
    assets: &Assets,
) -> (Jobs, Workers) {
    let queue = JobQueue::new(
        db.clone(),
        QueueConfig {
            lease: Duration::from_secs(config.job_lease_secs),
            ..QueueConfig::default()
        },
    );
    let outputs = JobOutputs::new(db.clone(), blobs.clone());
    let jobs = Jobs::new(
        queue.clone(),
        documents.clone(),
        outputs.clone(),
        config.max_thumbnail_size,
    );
    let maintenance = MaintenanceConfig {
        prune_interval: Duration::from_secs(config.prune_interval_secs),
        output_ttl: Duration::from_secs(config.job_output_ttl_secs),
        backup_interval: Duration::from_secs(config.backup_interval_secs),
        backup_keep: config.backup_keep,
        data_dir: config.data_dir.clone(),
    };
    let handlers: Vec<Arc<dyn JobHandler>> = vec![
        Arc::new(RenderHandler::new(
            state.thumbnails().clone(),
            documents.clone(),
            Some(assets.clone()),
            outputs.clone(),
            db.clone(),
        )),
        Arc::new(PruneHandler::new(
            queue.clone(),
            outputs,
            maintenance.output_ttl,
        )),
        Arc::new(BackupHandler::new(
            db.clone(),
            &maintenance.data_dir,
            maintenance.backup_keep,
        )),
    ];
    let workers = Workers::start(
        queue,
        handlers,
        WorkersConfig {
            workers: config.job_workers,
            recurring: maintenance.recurring(),
            on_finish: Some(state.metrics().job_hook()),
            ..WorkersConfig::default()
        },
    );
    (jobs, workers)
}
