//! Tests of the worker pool with closure handlers, on SQLite and (when configured)
//! PostgreSQL.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;
use tokio::sync::oneshot;
use tower::ServiceExt;
use uuid::Uuid;

use super::harness::{fast, harnesses, quick};
use super::*;
use crate::api::JobState;
use crate::api::WatchJob;
use crate::{Error, ErrorKind};

/// Runs of each job id, counted by a handler.
type Runs = Arc<Mutex<HashMap<Uuid, u32>>>;

fn count(runs: &Runs, id: Uuid) -> u32 {
    let mut runs = runs.lock().unwrap();
    let n = runs.entry(id).or_default();
    *n += 1;
    *n
}

/// A hook that records each run's result.
fn recorder() -> (FinishHook, Arc<Mutex<Vec<RunResult>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let hook_seen = seen.clone();
    let hook: FinishHook = Arc::new(move |finished: &JobFinished| {
        hook_seen.lock().unwrap().push(finished.result);
    });
    (hook, seen)
}

// The watch stream shows progress as it happens: the handler waits until the test has
// seen its progress event before it finishes.
#[tokio::test]
async fn progress_is_seen_through_watch() {
    for h in harnesses(QueueConfig::default()).await {
        let ann = h.user("ann", false).await;
        let (seen_tx, seen_rx) = oneshot::channel::<()>();
        let seen_rx = Arc::new(tokio::sync::Mutex::new(Some(seen_rx)));
        let handler = handler_fn("steps", move |ctx: JobContext| {
            let seen_rx = seen_rx.clone();
            async move {
                assert!(ctx.progress(0.5, "half way").await?);
                if let Some(rx) = seen_rx.lock().await.take() {
                    rx.await
                        .map_err(|_| Error::internal("the test went away"))?;
                }
                Ok(JobOutcome::Done(json!({"steps": 2})))
            }
        });
        let job = h
            .queue
            .enqueue(NewJob {
                owner: Some(ann.user_id),
                ..NewJob::new("steps", json!(null))
            })
            .await
            .unwrap();
        let mut events = h
            .jobs
            .clone()
            .oneshot(WatchJob {
                principal: ann.clone(),
                id: job.id,
            })
            .await
            .unwrap();
        let workers = h.workers(1, vec![handler]);
        let mut seen_tx = Some(seen_tx);
        let mut states = Vec::new();
        let watch = async {
            while let Some(event) = events.next().await {
                let event = event.unwrap();
                if event.progress_message.as_deref() == Some("half way")
                    && let Some(tx) = seen_tx.take()
                {
                    assert_eq!((event.state, event.progress), (JobState::Running, 0.5));
                    tx.send(()).unwrap();
                }
                states.push(event.state);
            }
        };
        tokio::time::timeout(Duration::from_secs(30), watch)
            .await
            .unwrap();
        assert!(seen_tx.is_none(), "the progress event was seen");
        assert_eq!(states.first(), Some(&JobState::Queued));
        assert_eq!(states.last(), Some(&JobState::Succeeded));
        workers.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn failures_retry_with_backoff_then_succeed() {
    for h in harnesses(quick(Duration::from_secs(30))).await {
        let tries = Arc::new(AtomicU32::new(0));
        let handler_tries = tries.clone();
        let handler = handler_fn("flaky", move |_ctx| {
            let n = handler_tries.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n <= 2 {
                    return Err(Error::new(ErrorKind::RenderTimeout, format!("flake {n}")));
                }
                Ok(JobOutcome::Done(json!(n)))
            }
        });
        let (hook, seen) = recorder();
        let workers = h.workers_with(
            vec![handler],
            WorkersConfig {
                on_finish: Some(hook),
                ..fast()
            },
        );
        let job = h
            .queue
            .enqueue(NewJob::new("flaky", json!(null)))
            .await
            .unwrap();
        let done = h.until(job.id, JobState::Succeeded).await;
        assert_eq!((done.attempts, done.result), (3, Some(json!(3))));
        assert_eq!(
            done.error.as_deref(),
            Some("flake 2"),
            "the last error is kept"
        );
        workers.shutdown(Duration::from_secs(5)).await;
        assert_eq!(
            *seen.lock().unwrap(),
            vec![RunResult::Retried, RunResult::Retried, RunResult::Succeeded]
        );
    }
}

#[tokio::test]
async fn permanent_errors_and_panics() {
    let config = QueueConfig {
        max_attempts: 2,
        ..quick(Duration::from_secs(30))
    };
    for h in harnesses(config).await {
        let bad = handler_fn("bad", |_ctx| async {
            Err(Error::invalid_request(
                "payload is not valid: expected a page",
            ))
        });
        let panics = handler_fn("panics", |ctx: JobContext| async move {
            let attempt = ctx.job().attempts;
            if attempt < 100 {
                panic!("boom on attempt {attempt}");
            }
            Ok(JobOutcome::Done(json!(null)))
        });
        let (hook, seen) = recorder();
        let workers = h.workers_with(
            vec![bad, panics],
            WorkersConfig {
                on_finish: Some(hook),
                ..fast()
            },
        );
        let bad = h
            .queue
            .enqueue(NewJob::new("bad", json!(null)))
            .await
            .unwrap();
        let failed = h.until(bad.id, JobState::Failed).await;
        assert_eq!(failed.attempts, 1, "a permanent error is not retried");
        assert!(failed.error.unwrap().contains("expected a page"));

        let panicky = h
            .queue
            .enqueue(NewJob::new("panics", json!(null)))
            .await
            .unwrap();
        let failed = h.until(panicky.id, JobState::Failed).await;
        assert_eq!(failed.attempts, 2, "a panic is a failed attempt, retried");
        assert_eq!(
            failed.error.as_deref(),
            Some(
                format!(
                    "an internal error occurred; it has been logged (job {})",
                    panicky.id
                )
                .as_str()
            ),
            "the panic message is logged, not shown to the job's owner"
        );
        workers.shutdown(Duration::from_secs(5)).await;
        assert_eq!(
            *seen.lock().unwrap(),
            vec![RunResult::Failed, RunResult::Retried, RunResult::Failed]
        );
    }
}

// A worker that dies (its claim dropped, never renewed) loses the job once its short
// lease runs out; the pool runs it once, to completion; the dead worker's late write is
// refused. A long job under the same short lease is kept by its renewals.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_lease_is_run_again_exactly_once_and_renewals_keep_a_long_job() {
    for h in harnesses(quick(Duration::from_millis(300))).await {
        let runs: Runs = Arc::default();
        let handler_runs = runs.clone();
        let handler = handler_fn("work", move |ctx: JobContext| {
            let runs = handler_runs.clone();
            async move {
                count(&runs, ctx.job().id);
                if ctx.job().payload == json!("long") {
                    // Work well past the lease: only renewals keep the claim.
                    tokio::time::sleep(Duration::from_millis(1200)).await;
                }
                Ok(JobOutcome::Done(json!(ctx.job().attempts)))
            }
        });
        let dead_job = h
            .queue
            .enqueue(NewJob::new("work", json!("short")))
            .await
            .unwrap();
        let dead = h.queue.claim("dead", &[]).await.unwrap().unwrap();
        let workers = h.workers(3, vec![handler]);
        let long = h
            .queue
            .enqueue(NewJob::new("work", json!("long")))
            .await
            .unwrap();
        let done = h.until(dead_job.id, JobState::Succeeded).await;
        assert_eq!((done.attempts, done.result), (2, Some(json!(2))));
        assert!(!h.queue.succeed(&dead, json!("late")).await.unwrap());
        let long_done = h.until(long.id, JobState::Succeeded).await;
        assert_eq!(long_done.attempts, 1, "renewed, never claimed again");
        workers.shutdown(Duration::from_secs(5)).await;
        let runs = runs.lock().unwrap();
        assert_eq!((runs[&dead_job.id], runs[&long.id]), (1, 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn many_workers_finish_each_job_exactly_once() {
    for h in harnesses(QueueConfig::default()).await {
        let runs: Runs = Arc::default();
        let handler_runs = runs.clone();
        let handler = handler_fn("noop", move |ctx: JobContext| {
            let runs = handler_runs.clone();
            async move {
                count(&runs, ctx.job().id);
                Ok(JobOutcome::Done(json!(null)))
            }
        });
        let workers = h.workers(4, vec![handler]);
        let mut ids = Vec::new();
        for i in 0..30 {
            ids.push(
                h.queue
                    .enqueue(NewJob::new("noop", json!(i)))
                    .await
                    .unwrap()
                    .id,
            );
        }
        for id in &ids {
            assert_eq!(h.until(*id, JobState::Succeeded).await.attempts, 1);
        }
        workers.shutdown(Duration::from_secs(5)).await;
        let runs = runs.lock().unwrap();
        assert_eq!(runs.len(), 30);
        assert!(runs.values().all(|n| *n == 1), "{runs:?}");
    }
}

#[tokio::test]
async fn an_enqueue_wakes_an_idle_pool_at_once() {
    for h in harnesses(QueueConfig::default()).await {
        let handler = handler_fn("noop", |_ctx| async { Ok(JobOutcome::Done(json!(null))) });
        // A poll far longer than the test may take: only the wake-up can start the job.
        let workers = h.workers_with(
            vec![handler],
            WorkersConfig {
                poll_interval: Duration::from_secs(3600),
                ..fast()
            },
        );
        tokio::task::yield_now().await;
        let job = h
            .queue
            .enqueue(NewJob::new("noop", json!(null)))
            .await
            .unwrap();
        h.until(job.id, JobState::Succeeded).await;
        workers.shutdown(Duration::from_secs(5)).await;
    }
}

#[tokio::test]
async fn shutdown_waits_the_grace_then_releases_running_jobs() {
    for h in harnesses(QueueConfig::default()).await {
        // Opened by the test once the shutdown has begun: work that outlasts its start.
        let gate = Arc::new(tokio::sync::Notify::new());
        let opened = gate.clone();
        let handler = handler_fn("slow", move |ctx: JobContext| {
            let gate = opened.clone();
            async move {
                if ctx.job().payload == json!("stuck") {
                    std::future::pending::<()>().await;
                }
                gate.notified().await;
                Ok(JobOutcome::Done(json!("finished in grace")))
            }
        });
        // Finishes within the grace.
        let workers = h.workers(1, vec![handler.clone()]);
        let job = h
            .queue
            .enqueue(NewJob::new("slow", json!("ok")))
            .await
            .unwrap();
        h.until(job.id, JobState::Running).await;
        let shutdown = workers.shutdown(Duration::from_secs(30));
        tokio::pin!(shutdown);
        // One poll starts the shutdown (the workers are told to stop at once); it then
        // waits for the running job, which may finish only now.
        tokio::select! {
            biased;
            _ = &mut shutdown => panic!("the shutdown ended while a job was running"),
            () = std::future::ready(()) => {}
        }
        gate.notify_one();
        let report = shutdown.await;
        assert_eq!(
            report,
            ShutdownReport {
                finished: 1,
                released: 0
            }
        );
        assert_eq!(
            h.queue.get(job.id).await.unwrap().state,
            JobState::Succeeded
        );

        // Outlives the grace: aborted and released, its attempt not counted.
        let workers = h.workers(1, vec![handler.clone()]);
        let stuck = h
            .queue
            .enqueue(NewJob::new("slow", json!("stuck")))
            .await
            .unwrap();
        h.until(stuck.id, JobState::Running).await;
        let report = workers.shutdown(Duration::from_millis(100)).await;
        assert_eq!(
            report,
            ShutdownReport {
                finished: 0,
                released: 1
            }
        );
        let released = h.queue.get(stuck.id).await.unwrap();
        assert_eq!((released.state, released.attempts), (JobState::Queued, 0));
        // The next start runs it.
        let next = h.queue.claim("next", &[]).await.unwrap().unwrap();
        assert_eq!((next.id(), next.job.attempts), (stuck.id, 1));
    }
}

// Two pools (two servers) on one database: each period's recurring job is enqueued once.
#[tokio::test]
async fn recurring_jobs_run_once_per_period_across_servers() {
    for h in harnesses(QueueConfig::default()).await {
        let handler = handler_fn("tick", |_ctx| async { Ok(JobOutcome::Done(json!(null))) });
        let config = || WorkersConfig {
            recurring: vec![Recurring::new("tick", Duration::from_millis(200))],
            ..fast()
        };
        let one = h.workers_with(vec![handler.clone()], config());
        let two = h.workers_with(vec![handler], config());
        let mut changes = h.queue.subscribe();
        let ticks = async {
            loop {
                let list = h
                    .queue
                    .list(&JobFilter {
                        state: Some(JobState::Succeeded),
                        ..JobFilter::default()
                    })
                    .await
                    .unwrap();
                if list.items.len() >= 3 {
                    return;
                }
                let _ = changes.recv().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(30), ticks)
            .await
            .unwrap();
        one.shutdown(Duration::from_secs(5)).await;
        two.shutdown(Duration::from_secs(5)).await;
        let all = h.queue.list(&JobFilter::default()).await.unwrap().items;
        let mut keys: Vec<String> = all
            .iter()
            .filter_map(|j| j.idempotency_key.clone())
            .collect();
        assert_eq!(keys.len(), all.len(), "every tick has its period's key");
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), all.len(), "one job per period: {keys:?}");
        assert!(keys.iter().all(|k| k.starts_with("tick:")));
    }
}

// A running job stops at its next checkpoint once cancelled, and ends cancelled.
#[tokio::test]
async fn a_cancelled_running_job_stops_at_its_checkpoint() {
    for h in harnesses(QueueConfig::default()).await {
        let handler = handler_fn("steps", |ctx: JobContext| async move {
            for step in 0..3000 {
                if ctx.should_stop().await? {
                    return Ok(JobOutcome::Stopped);
                }
                ctx.progress(step as f32 / 3000.0, "stepping").await?;
                // One step of work.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Ok(JobOutcome::Done(json!("not cancelled")))
        });
        let (hook, seen) = recorder();
        let workers = h.workers_with(
            vec![handler],
            WorkersConfig {
                on_finish: Some(hook),
                ..fast()
            },
        );
        let job = h
            .queue
            .enqueue(NewJob::new("steps", json!(null)))
            .await
            .unwrap();
        h.until(job.id, JobState::Running).await;
        assert!(h.queue.cancel(job.id, None).await.unwrap().cancel_requested);
        let cancelled = h.until(job.id, JobState::Cancelled).await;
        assert!(cancelled.result.is_none() && cancelled.progress < 1.0);
        workers.shutdown(Duration::from_secs(5)).await;
        assert_eq!(*seen.lock().unwrap(), vec![RunResult::Cancelled]);
    }
}

// Internal and I/O errors may tell paths or SQL: the job keeps a fixed text naming it;
// user-facing errors keep their message.
#[tokio::test]
async fn internal_errors_are_hidden_from_the_jobs_owner() {
    let config = QueueConfig {
        max_attempts: 1,
        ..quick(Duration::from_secs(30))
    };
    for h in harnesses(config).await {
        let handler = handler_fn("leaky", |ctx: JobContext| async move {
            let kind = match ctx.job().payload.as_str() {
                Some("io") => ErrorKind::Io,
                Some("internal") => ErrorKind::Internal,
                _ => ErrorKind::RenderTimeout,
            };
            Err(Error::new(kind, "secret /var/lib/spv/db.sqlite: SELECT 1"))
        });
        let workers = h.workers(1, vec![handler]);
        for (payload, shown) in [("io", false), ("internal", false), ("timeout", true)] {
            let job = h
                .queue
                .enqueue(NewJob::new("leaky", json!(payload)))
                .await
                .unwrap();
            let failed = h.until(job.id, JobState::Failed).await;
            let error = failed.error.unwrap();
            if shown {
                assert!(error.contains("secret"), "{payload}: {error}");
            } else {
                assert_eq!(
                    error,
                    format!(
                        "an internal error occurred; it has been logged (job {})",
                        job.id
                    ),
                    "{payload}"
                );
            }
        }
        workers.shutdown(Duration::from_secs(5)).await;
    }
}

// An overloaded server is no fault of the job: its retries use no attempt, so a burst
// longer than max_attempts does not fail the job.
#[tokio::test]
async fn overloaded_attempts_are_retried_without_counting() {
    let config = QueueConfig {
        max_attempts: 2,
        ..quick(Duration::from_secs(30))
    };
    for h in harnesses(config).await {
        let tries = Arc::new(AtomicU32::new(0));
        let handler_tries = tries.clone();
        let handler = handler_fn("busy", move |_ctx| {
            let n = handler_tries.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if n <= 4 {
                    return Err(Error::new(ErrorKind::Overloaded, format!("busy {n}")));
                }
                Ok(JobOutcome::Done(json!(n)))
            }
        });
        let (hook, seen) = recorder();
        let workers = h.workers_with(
            vec![handler],
            WorkersConfig {
                on_finish: Some(hook),
                ..fast()
            },
        );
        let job = h
            .queue
            .enqueue(NewJob::new("busy", json!(null)))
            .await
            .unwrap();
        let done = h.until(job.id, JobState::Succeeded).await;
        assert_eq!((done.attempts, done.result), (1, Some(json!(5))));
        workers.shutdown(Duration::from_secs(5)).await;
        assert_eq!(seen.lock().unwrap().len(), 5);
        assert_eq!(
            seen.lock().unwrap()[..4],
            [RunResult::Retried; 4],
            "each overloaded run is retried"
        );
    }
}

// A handler that completes as the grace runs out (its last step does not yield, so the
// abort cannot land) keeps its result: the job is not released to run again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_finishing_as_the_grace_ends_keeps_its_result() {
    for h in harnesses(QueueConfig::default()).await {
        let (started_tx, started_rx) = std::sync::mpsc::channel::<()>();
        let started_tx = Arc::new(Mutex::new(started_tx));
        let handler = handler_fn("busy-cpu", move |_ctx| {
            let started_tx = started_tx.clone();
            async move {
                let _ = started_tx.lock().unwrap().send(());
                // Work that does not yield, outlasting the grace.
                std::thread::sleep(Duration::from_millis(400));
                Ok(JobOutcome::Done(json!("done")))
            }
        });
        let workers = h.workers(1, vec![handler]);
        let job = h
            .queue
            .enqueue(NewJob::new("busy-cpu", json!(null)))
            .await
            .unwrap();
        tokio::task::spawn_blocking(move || started_rx.recv().unwrap())
            .await
            .unwrap();
        let report = workers.shutdown(Duration::from_millis(50)).await;
        assert_eq!(
            report,
            ShutdownReport {
                finished: 1,
                released: 0
            }
        );
        let done = h.queue.get(job.id).await.unwrap();
        assert_eq!(
            (done.state, done.result),
            (JobState::Succeeded, Some(json!("done")))
        );
    }
}

// A claim lost during the grace (another worker has the job) stops the job at once
// rather than waiting out the grace.
#[tokio::test]
async fn a_claim_lost_during_the_grace_stops_the_job() {
    for h in harnesses(quick(Duration::from_millis(300))).await {
        let handler = handler_fn("stuck", |_ctx| async {
            std::future::pending::<()>().await;
            Ok(JobOutcome::Done(json!(null)))
        });
        let (hook, seen) = recorder();
        let workers = h.workers_with(
            vec![handler],
            WorkersConfig {
                on_finish: Some(hook),
                ..fast()
            },
        );
        let job = h
            .queue
            .enqueue(NewJob::new("stuck", json!(null)))
            .await
            .unwrap();
        h.until(job.id, JobState::Running).await;
        // Another worker took the job over.
        sqlx::query("UPDATE jobs SET claim_id = 'taken' WHERE id = $1")
            .bind(job.id.to_string())
            .execute(h.queue.db().pool())
            .await
            .unwrap();
        let report = tokio::time::timeout(
            Duration::from_secs(20),
            workers.shutdown(Duration::from_secs(600)),
        )
        .await
        .expect("the lost job is stopped without waiting out the grace");
        assert_eq!(report.released, 0);
        assert_eq!(*seen.lock().unwrap(), vec![RunResult::Lost]);
        let job = h.queue.get(job.id).await.unwrap();
        assert_eq!(job.state, JobState::Running, "left to its new worker");
    }
}
