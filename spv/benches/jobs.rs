//! Jobs per second through the queue on SQLite: no-op jobs and 256 px render jobs of a
//! sample document, with the in-process render throughput of the same work (the
//! thumbnails service directly, no queue) as the ceiling.
//!
//! Run with `cargo bench -p spv --features store --bench jobs`. Results: `BENCHMARKS.md`.
//!
//! What is timed, per batch of [`BATCH`] jobs (one criterion element = one job):
//!
//! - `queue/noop`: one task enqueues, claims and succeeds each job in turn (three
//!   writes per job, no workers);
//! - `workers/noop`: the batch is enqueued, then a [`Workers`] pool of two runs it
//!   (claim, spawn the handler, succeed), timed until the last job finished;
//! - `workers/render-256`: the same with render jobs (`business-card.glyph`, page 0,
//!   256 px PNG): each reads the document from the database, parses it, renders, stores
//!   the output blob and row, and records progress;
//! - `direct/render-256`: the ceiling, the same renders through the thumbnails service
//!   (parse and render per job, on the same two-thread pool), all at once.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use spv::api::RENDER_JOB_KIND;
use spv::api::{
    CreateDocument, ImageFormat, Principal, RenderJobSpec, RenderThumbnail, Scopes, ThumbnailSize,
};
use spv::documents::{Documents, DocumentsConfig};
use spv::jobs::{
    FinishHook, JobFinished, JobHandler, JobOutcome, JobOutputs, JobQueue, NewJob, QueueConfig,
    RenderHandler, Workers, WorkersConfig, handler_fn,
};
use spv::render::pool::RenderPool;
use spv::store::{Db, LocalBlobs};
use spv::thumbnails::{Thumbnails, ThumbnailsConfig};
use tokio::sync::Notify;
use tower::ServiceExt;

/// Jobs per measured batch.
const BATCH: usize = 40;
/// Workers and render threads (the benchmark machine has two cores).
const THREADS: usize = 2;

struct Setup {
    queue: JobQueue,
    thumbnails: Thumbnails,
    documents: Documents,
    outputs: JobOutputs,
    db: Db,
    owner: Principal,
    doc: uuid::Uuid,
    bytes: Vec<u8>,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = Db::open(None, dir.path())
        .await
        .expect("an SQLite database");
    let pool = RenderPool::new(THREADS);
    let thumbnails = Thumbnails::new(ThumbnailsConfig::default().with_pool(pool));
    let documents = Documents::with_db(db.clone(), DocumentsConfig::default());
    let outputs = JobOutputs::new(db.clone(), Arc::new(LocalBlobs::in_data_dir(dir.path())));
    let owner_id = uuid::Uuid::now_v7();
    sqlx::query(
        "INSERT INTO users (id, username, password_hash, is_admin, created_at, updated_at) \
         VALUES ($1, 'bench', 'x', 0, 0, 0)",
    )
    .bind(owner_id.to_string())
    .execute(db.pool())
    .await
    .expect("a user");
    let owner = Principal {
        user_id: owner_id,
        username: "bench".into(),
        is_admin: false,
        scopes: Scopes::all(),
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let bytes = std::fs::read(root.join("examples/docs/business-card.glyph")).expect("sample");
    let doc = documents
        .clone()
        .oneshot(CreateDocument::new(owner.clone(), bytes.clone()))
        .await
        .expect("a document")
        .id;
    Setup {
        queue: JobQueue::new(db.clone(), QueueConfig::default()),
        thumbnails,
        documents,
        outputs,
        db,
        owner,
        doc,
        bytes,
        _dir: dir,
    }
}

/// Counts finished runs and wakes the bench when a batch is done.
#[derive(Default)]
struct Done {
    count: AtomicUsize,
    notify: Notify,
}

impl Done {
    fn hook(self: &Arc<Self>) -> FinishHook {
        let done = self.clone();
        Arc::new(move |_: &JobFinished| {
            done.count.fetch_add(1, Ordering::SeqCst);
            done.notify.notify_one();
        })
    }

    async fn wait_for(&self, n: usize) {
        while self.count.load(Ordering::SeqCst) < n {
            self.notify.notified().await;
        }
    }
}

/// Times `iters` batches through a worker pool running `handler`, each job made by `job`.
async fn through_workers(
    s: &Setup,
    handler: Arc<dyn JobHandler>,
    job: impl Fn() -> NewJob,
    iters: u64,
) -> Duration {
    let done = Arc::new(Done::default());
    let workers = Workers::start(
        s.queue.clone(),
        vec![handler],
        WorkersConfig {
            workers: THREADS,
            poll_interval: Duration::from_millis(50),
            on_finish: Some(done.hook()),
            ..WorkersConfig::default()
        },
    );
    let mut total = Duration::ZERO;
    for i in 0..iters {
        let start = Instant::now();
        for _ in 0..BATCH {
            s.queue.enqueue(job()).await.expect("enqueued");
        }
        done.wait_for((i as usize + 1) * BATCH).await;
        total += start.elapsed();
        s.queue
            .prune_finished(Duration::ZERO)
            .await
            .expect("pruned");
    }
    workers.shutdown(Duration::from_secs(10)).await;
    total
}

fn jobs(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(THREADS)
        .enable_all()
        .build()
        .expect("a runtime");
    let s = rt.block_on(setup());
    let mut group = c.benchmark_group("jobs");
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5))
        .throughput(Throughput::Elements(BATCH as u64));

    group.bench_function("queue/noop", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters * BATCH as u64 {
                    s.queue
                        .enqueue(NewJob::new("noop", json!(null)))
                        .await
                        .unwrap();
                    let claimed = s.queue.claim("bench", &["noop"]).await.unwrap().unwrap();
                    s.queue.succeed(&claimed, json!(null)).await.unwrap();
                }
                let elapsed = start.elapsed();
                s.queue.prune_finished(Duration::ZERO).await.unwrap();
                elapsed
            })
        })
    });

    group.bench_function("workers/noop", |b| {
        let noop = handler_fn("noop", |_ctx| async { Ok(JobOutcome::Done(json!(null))) });
        b.iter_custom(|iters| {
            rt.block_on(through_workers(
                &s,
                noop.clone(),
                || NewJob::new("noop", json!(null)),
                iters,
            ))
        })
    });

    let spec = RenderJobSpec {
        pages: vec![0],
        sizes: vec![256],
        formats: vec![ImageFormat::Png],
        ..RenderJobSpec::new(s.doc)
    };
    let payload = serde_json::to_value(&spec).expect("a payload");
    group.bench_function("workers/render-256", |b| {
        let render: Arc<dyn JobHandler> = Arc::new(RenderHandler::new(
            s.thumbnails.clone(),
            s.documents.clone(),
            None,
            s.outputs.clone(),
            s.db.clone(),
        ));
        let job = || NewJob {
            owner: Some(s.owner.user_id),
            ..NewJob::new(RENDER_JOB_KIND, payload.clone())
        };
        b.iter_custom(|iters| rt.block_on(through_workers(&s, render.clone(), job, iters)))
    });

    group.bench_function("direct/render-256", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    let renders = (0..BATCH).map(|_| {
                        let request = RenderThumbnail::new(s.bytes.clone())
                            .size(ThumbnailSize::Longest { size: 256 })
                            .format(ImageFormat::Png);
                        s.thumbnails.clone().oneshot(request)
                    });
                    for thumbnail in futures_util::future::join_all(renders).await {
                        thumbnail.expect("rendered");
                    }
                }
                start.elapsed()
            })
        })
    });
    group.finish();
}

criterion_group!(benches, jobs);
criterion_main!(benches);
