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
                    return Err(Error::new(ErrorKind::Io, format!("flake {n}")));
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
        assert!(
            failed
                .error
                .unwrap()
                .contains("panicked: boom on attempt 2"),
            "the panic message is kept"
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
        let handler = handler_fn("slow", move |ctx: JobContext| async move {
            if ctx.job().payload == json!("stuck") {
                std::future::pending::<()>().await;
            }
            // Work that outlasts the start of the shutdown.
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(JobOutcome::Done(json!("finished in grace")))
        });
        // Finishes within the grace.
        let workers = h.workers(1, vec![handler.clone()]);
        let job = h
            .queue
            .enqueue(NewJob::new("slow", json!("ok")))
            .await
            .unwrap();
        h.until(job.id, JobState::Running).await;
        let report = workers.shutdown(Duration::from_secs(30)).await;
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
