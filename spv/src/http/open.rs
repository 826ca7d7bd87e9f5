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
use crate::render::pool::RenderPool;
use crate::store::{BlobStore, CacheBus, Db, DbOptions, ObservedBlobs, Redis, RedisOptions};
use crate::thumbnails::{
    DocumentThumbnails, DocumentThumbnailsConfig, RenderedStore, ThumbnailRedis,
};
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
    /// `None` under `SPV_ROLE=api`, which runs no jobs.
    pub workers: Option<Workers>,
    /// The render slots of jobs (`SPV_JOB_RENDER_SLOTS`), apart from the pool of
    /// synchronous thumbnails ([`Thumbnails::pool`](crate::thumbnails::Thumbnails::pool)
    /// of the state); `None` when this process runs no jobs. For metrics and tests.
    pub job_render_pool: Option<RenderPool>,
}

impl Opened {
    /// Ends the job event streams still open
    /// ([`AppState::closing`](super::AppState::closing)), stops the job workers, giving
    /// running jobs up to `grace` to finish before they are released to the queue (not
    /// counted as attempts, so the next start runs them), then closes the database. Call
    /// it after the HTTP server stopped.
    pub async fn shutdown(self, grace: Duration) {
        self.state.closing().close();
        if let Some(live) = self.state.live() {
            // Compacts the documents under live editing while the database is open.
            live.shutdown().await;
        }
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
    ///
    /// `SPV_ROLE` (`config.role`) picks what runs: under [`Role::Api`](crate::config::Role::Api) no job workers
    /// and no maintenance scheduler start ([`Opened::workers`] is `None`; jobs are still
    /// enqueued, for worker processes to run); under [`Role::Worker`](crate::config::Role::Worker) they do, and
    /// [`api`](super::api) serves only health, readiness and metrics. With
    /// `config.migrate` off (`--no-migrate`, `SPV_NO_MIGRATE`) the database is not
    /// migrated, and one that lacks a migration is an error naming `spv-cli migrate`.
    ///
    /// Render jobs render on a pool of their own, `SPV_JOB_RENDER_SLOTS` slots
    /// ([`Config::effective_job_render_slots`]), apart from the `SPV_JOB_WORKERS` slots
    /// of synchronous thumbnails, so a heavy job load does not make
    /// `POST /api/v1/thumbnails` answer 503.
    pub async fn open(config: &Config) -> Result<Opened> {
        tracing::info!(
            role = %config.role,
            migrate = config.migrate,
            job_workers = config.job_workers,
            job_render_slots = config.effective_job_render_slots(),
            "opening spv"
        );
        let db = Db::open_with(
            config.database_url.as_deref(),
            &config.data_dir,
            DbOptions {
                migrate: config.migrate,
                ..DbOptions::default()
            },
        )
        .await?;
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
        // With several nodes: their memory caches kept true over Redis pub/sub.
        let bus = match &redis {
            Some(redis) => {
                let counters = state.metrics().cache_counters();
                Some(CacheBus::start(redis.clone(), counters).await)
            }
            None => None,
        };
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
                bus: bus.clone(),
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
                redis: bus
                    .filter(|_| config.thumbnail_redis_ttl_secs > 0)
                    .map(|bus| ThumbnailRedis {
                        ttl: Duration::from_secs(config.thumbnail_redis_ttl_secs),
                        ..ThumbnailRedis::new(bus)
                    }),
            },
        );
        let (jobs, workers, job_render_pool) =
            start_jobs(config, &db, &blobs, &state, &documents, &assets);
        let live = crate::live::Live::new(
            documents.clone(),
            crate::live::LiveConfig {
                max_sessions: config.live_max_sessions,
                session_queue: config.live_session_queue,
                compact_interval: Duration::from_secs(config.live_thumbnail_interval_secs),
                hook: Some(state.metrics().live_hook()),
                ..crate::live::LiveConfig::default()
            },
        );
        let ready = ready_check(db.clone(), redis.clone(), blobs.clone());
        let mut state = state
            .with_auth(auth)
            .with_documents(documents)
            .with_document_thumbnails(document_thumbnails)
            .with_assets(assets)
            .with_jobs(jobs)
            .with_live(live)
            .with_ready_check(ready);
        if let Some(redis) = redis {
            state = state.with_redis(redis);
        }
        Ok(Opened {
            state,
            db,
            admin_password,
            workers,
            job_render_pool,
        })
    }
}

/// What `GET /ready` checks: the database (answers and takes writes), Redis when
/// configured, and the blob store (answers and, for a directory, takes a write); the
/// error names each that failed and how (`database read-only, blobs not writable`), the
/// causes go to the log.
fn ready_check(db: Db, redis: Option<Redis>, blobs: Arc<dyn BlobStore>) -> ReadyCheck {
    Arc::new(move || {
        let db = db.clone();
        let redis = redis.clone();
        let blobs = blobs.clone();
        Box::pin(async move {
            let mut failed = Vec::new();
            if let Err(e) = db.check().await {
                tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "readiness: the database fails");
                failed.push(if e.message().contains("read-only") {
                    "database read-only"
                } else {
                    "database not answering"
                });
            }
            if let Some(redis) = redis
                && let Err(e) = redis.ping().await
            {
                tracing::warn!(error = %e, "readiness: Redis does not answer");
                failed.push("redis not answering");
            }
            if let Err(e) = blobs.check().await {
                tracing::warn!(error = %e, source = ?std::error::Error::source(&e), "readiness: the blob store fails");
                failed.push(if e.message().contains("cannot be written") {
                    "blobs not writable"
                } else {
                    "blobs not answering"
                });
            }
            if failed.is_empty() {
                Ok(())
            } else {
                Err(Error::new(ErrorKind::Unavailable, failed.join(", ")))
            }
        })
    })
}

/// The jobs service and its running workers (none under [`Role::Api`](crate::config::Role::Api)): render jobs,
/// on the job render slots, and the maintenance jobs, each run counted in the state's
/// metrics.
fn start_jobs(
    config: &Config,
    db: &Db,
    blobs: &Arc<dyn BlobStore>,
    state: &AppState,
    documents: &Documents,
    assets: &Assets,
) -> (Jobs, Option<Workers>, Option<RenderPool>) {
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
    if !config.role.runs_jobs() {
        tracing::info!(role = %config.role, "this process runs no jobs: it only enqueues them");
        return (jobs, None, None);
    }
    let job_pool = RenderPool::new(config.effective_job_render_slots());
    let maintenance = MaintenanceConfig {
        prune_interval: Duration::from_secs(config.prune_interval_secs),
        output_ttl: Duration::from_secs(config.job_output_ttl_secs),
        backup_interval: Duration::from_secs(config.backup_interval_secs),
        backup_keep: config.backup_keep,
        data_dir: config.data_dir.clone(),
    };
    let handlers: Vec<Arc<dyn JobHandler>> = vec![
        Arc::new(RenderHandler::new(
            state.thumbnails().with_pool(job_pool.clone()),
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
    (jobs, Some(workers), Some(job_pool))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// With `REDIS_URL` the caches across nodes are wired: the bus, the thumbnails'
    /// Redis tier and their counters on `/metrics`.
    #[tokio::test]
    async fn redis_wires_the_caches_across_nodes() {
        let Some(url) = crate::store::testing::redis_url("http::open::redis_wires_the_caches")
        else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: dir.path().to_owned(),
            job_workers: 1,
            redis_url: Some(url),
            redis_prefix: crate::store::testing::redis_prefix(),
            admin_password: Some("correct horse battery".to_owned()),
            ..Config::default()
        };
        let opened = AppState::open(&config).await.unwrap();
        assert!(opened.state.redis().is_some_and(Redis::is_connected));
        let text = opened.state.metrics().encode();
        assert!(text.contains("spv_thumbnail_redis_hits_total 0"), "{text}");
        assert!(text.contains("spv_cache_flushes_total 0"), "{text}");
        opened.shutdown(Duration::from_secs(5)).await;
    }
}
