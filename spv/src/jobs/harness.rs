//! A test harness for the jobs service and workers: a database (SQLite, and PostgreSQL
//! when configured), blobs in a temporary directory, documents, assets, thumbnails, the
//! queue, outputs and the service, plus users in the `users` table.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use tower::ServiceExt;
use uuid::Uuid;

use super::*;
use crate::api::{CreateDocument, Principal, Scopes, WatchJob};
use crate::api::{Job, JobEvents, JobState};
use crate::assets::{Assets, AssetsConfig};
use crate::documents::{Documents, DocumentsConfig};
use crate::render::pool::RenderPool;
use crate::store::LocalBlobs;
use crate::store::testing::{TestDb, test_dbs};
use crate::thumbnails::{Thumbnails, ThumbnailsConfig};

/// A two-page sample document without assets.
pub(super) const CARD: &[u8] = include_bytes!("../../../examples/docs/business-card.glyph");

/// The largest size the harness's service accepts.
pub(super) const MAX_SIZE: u32 = 512;

pub(super) struct Harness {
    pub(super) test: TestDb,
    pub(super) queue: JobQueue,
    pub(super) documents: Documents,
    pub(super) assets: Assets,
    pub(super) thumbnails: Thumbnails,
    pub(super) outputs: JobOutputs,
    pub(super) jobs: Jobs,
    pub(super) blobs: Arc<LocalBlobs>,
    pub(super) dir: tempfile::TempDir,
}

/// A queue config with tiny backoffs, so retries are quick.
pub(super) fn quick(lease: Duration) -> QueueConfig {
    QueueConfig {
        lease,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(40),
        ..QueueConfig::default()
    }
}

/// One harness per configured database.
pub(super) async fn harnesses(config: QueueConfig) -> Vec<Harness> {
    let mut all = Vec::new();
    for test in test_dbs().await {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Arc::new(LocalBlobs::in_data_dir(dir.path()));
        let pool = RenderPool::new(2);
        let db = test.db.clone();
        let documents = Documents::with_db(db.clone(), DocumentsConfig::default());
        let assets = Assets::with_db(
            db.clone(),
            blobs.clone(),
            AssetsConfig {
                pool: pool.clone(),
                ..AssetsConfig::default()
            },
        );
        let thumbnails = Thumbnails::new(
            ThumbnailsConfig::default()
                .with_pool(pool)
                .with_max_size(MAX_SIZE),
        );
        let queue = JobQueue::new(db.clone(), config.clone());
        let outputs = JobOutputs::new(db.clone(), blobs.clone());
        let jobs = Jobs::new(queue.clone(), documents.clone(), outputs.clone(), MAX_SIZE);
        all.push(Harness {
            test,
            queue,
            documents,
            assets,
            thumbnails,
            outputs,
            jobs,
            blobs,
            dir,
        });
    }
    all
}

impl Harness {
    /// A user stored in the `users` table, signed in with every scope.
    pub(super) async fn user(&self, name: &str, is_admin: bool) -> Principal {
        let id = Uuid::now_v7();
        sqlx::query(
            "INSERT INTO users (id, username, password_hash, is_admin, created_at, updated_at) \
             VALUES ($1, $2, 'x', $3, 0, 0)",
        )
        .bind(id.to_string())
        .bind(name)
        .bind(i64::from(is_admin))
        .execute(self.test.db.pool())
        .await
        .unwrap();
        Principal {
            user_id: id,
            username: name.into(),
            is_admin,
            scopes: Scopes::all(),
        }
    }

    /// Stores `bytes` as a private document of `owner`.
    pub(super) async fn document(&self, owner: &Principal, bytes: &[u8]) -> Uuid {
        self.documents
            .clone()
            .oneshot(CreateDocument::new(owner.clone(), bytes.to_vec()))
            .await
            .unwrap()
            .id
    }

    /// The render handler over the harness's services.
    pub(super) fn render_handler(&self) -> Arc<dyn JobHandler> {
        Arc::new(RenderHandler::new(
            self.thumbnails.clone(),
            self.documents.clone(),
            Some(self.assets.clone()),
            self.outputs.clone(),
            self.test.db.clone(),
        ))
    }

    /// A pool of `n` workers running `handlers`, polling every 20 ms.
    pub(super) fn workers(&self, n: usize, handlers: Vec<Arc<dyn JobHandler>>) -> Workers {
        self.workers_with(
            handlers,
            WorkersConfig {
                workers: n,
                ..fast()
            },
        )
    }

    /// A pool with `config`.
    pub(super) fn workers_with(
        &self,
        handlers: Vec<Arc<dyn JobHandler>>,
        config: WorkersConfig,
    ) -> Workers {
        Workers::start(self.queue.clone(), handlers, config)
    }

    /// Every event of watching job `id` as `principal` until it finished (at most 30 s).
    pub(super) async fn watch_all(&self, principal: &Principal, id: Uuid) -> Vec<Job> {
        collect(self.watch(principal, id).await).await
    }

    /// The events of job `id` as `principal` watches it.
    pub(super) async fn watch(&self, principal: &Principal, id: Uuid) -> JobEvents {
        self.jobs
            .clone()
            .oneshot(WatchJob {
                principal: principal.clone(),
                id,
            })
            .await
            .unwrap()
    }

    /// Waits (at most 30 s) until job `id` is in `state`, woken by the queue's notices.
    pub(super) async fn until(&self, id: Uuid, state: JobState) -> Job {
        let mut changes = self.queue.subscribe();
        let wait = async {
            loop {
                let job = self.queue.get(id).await.unwrap();
                if job.state == state {
                    return job;
                }
                // A notice, or a lag: look again either way.
                let _ = changes.recv().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("job {id} reached {state:?} within 30 s"))
    }
}

/// Worker settings for tests: 20 ms polls, a recognisable prefix.
pub(super) fn fast() -> WorkersConfig {
    WorkersConfig {
        workers: 1,
        poll_interval: Duration::from_millis(20),
        worker_id_prefix: "test".into(),
        recurring: Vec::new(),
        on_finish: None,
    }
}

/// Every event until the job finished (at most 30 s).
pub(super) async fn collect(events: JobEvents) -> Vec<Job> {
    tokio::time::timeout(Duration::from_secs(30), events.collect::<Vec<_>>())
        .await
        .expect("the job finishes within 30 s")
        .into_iter()
        .map(|e| e.unwrap())
        .collect()
}
