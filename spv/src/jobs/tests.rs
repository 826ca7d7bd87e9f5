//! Tests of the job queue on SQLite and (when configured) PostgreSQL.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::ErrorKind;
use crate::api::JobState;
use crate::store::testing::{TestDb, test_dbs};

async fn queues(config: QueueConfig) -> Vec<(JobQueue, TestDb)> {
    test_dbs()
        .await
        .into_iter()
        .map(|test| (JobQueue::new(test.db.clone(), config.clone()), test))
        .collect()
}

fn owned(kind: &str, owner: Uuid, key: Option<&str>) -> NewJob {
    NewJob {
        owner: Some(owner),
        idempotency_key: key.map(str::to_string),
        ..NewJob::new(kind, json!({"n": 1}))
    }
}

/// A lease that runs out at once, to play a worker that died.
fn short_lease() -> QueueConfig {
    QueueConfig {
        lease: Duration::from_millis(1),
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(4),
        ..QueueConfig::default()
    }
}

#[test]
fn futures_are_send_and_the_queue_is_cheap_to_share() {
    fn send_static<T: Send + Sync + 'static>() {}
    send_static::<JobQueue>();
    fn send<F: std::future::Future + Send>(_: F) {}
    let queue: Option<JobQueue> = None;
    if let Some(q) = queue {
        send(async move { q.claim("w", &[]).await });
    }
}

#[tokio::test]
async fn enqueue_claim_succeed_by_kind_and_due_time() {
    for (queue, test) in queues(QueueConfig::default()).await {
        let be = test.db.backend();
        let later = queue
            .enqueue(NewJob {
                run_at: Some(time::OffsetDateTime::now_utc() + Duration::from_secs(3600)),
                ..NewJob::new("render", json!(1))
            })
            .await
            .unwrap();
        let other = queue
            .enqueue(NewJob::new("backup", json!(2)))
            .await
            .unwrap();
        let job = queue
            .enqueue(NewJob::new("render", json!(3)))
            .await
            .unwrap();
        assert_eq!(
            (job.state, job.attempts, job.payload.clone()),
            (JobState::Queued, 0, json!(3))
        );

        let claimed = queue.claim("w1", &["render"]).await.unwrap().unwrap();
        assert_eq!(
            claimed.id(),
            job.id,
            "{be:?}: the due render job, not the later one"
        );
        assert_eq!(claimed.job.state, JobState::Running);
        assert_eq!(claimed.job.worker_id.as_deref(), Some("w1"));
        assert!(claimed.job.lease_until.is_some() && claimed.job.started_at.is_some());
        assert!(
            queue.claim("w2", &["render"]).await.unwrap().is_none(),
            "{be:?}"
        );
        assert!(queue.renew(&claimed).await.unwrap());
        assert!(
            queue
                .progress(&claimed, 0.25, Some("a quarter"))
                .await
                .unwrap()
        );
        let seen = queue.get(job.id).await.unwrap();
        assert_eq!(
            (seen.progress, seen.progress_message.as_deref()),
            (0.25, Some("a quarter"))
        );
        assert_eq!(
            queue
                .progress(&claimed, 1.5, None)
                .await
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidRequest
        );
        assert!(queue.succeed(&claimed, json!({"ok": true})).await.unwrap());
        assert!(
            !queue.succeed(&claimed, json!(0)).await.unwrap(),
            "finished once"
        );
        let done = queue.get(job.id).await.unwrap();
        assert_eq!(done.state, JobState::Succeeded);
        assert_eq!(done.result, Some(json!({"ok": true})));
        assert!(done.finished_at.is_some() && done.lease_until.is_none());

        let any = queue.claim("w2", &[]).await.unwrap().unwrap();
        assert_eq!(any.id(), other.id, "an empty kind list takes any kind");
        assert!(
            queue.claim("w2", &[]).await.unwrap().is_none(),
            "{} waits",
            later.id
        );
        assert_eq!(
            queue.get(Uuid::now_v7()).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_job_per_owner() {
    for (queue, _test) in queues(QueueConfig::default()).await {
        let (ann, bob) = (Uuid::now_v7(), Uuid::now_v7());
        let first = queue
            .enqueue(owned("render", ann, Some("k1")))
            .await
            .unwrap();
        let again = queue
            .enqueue(owned("render", ann, Some("k1")))
            .await
            .unwrap();
        assert_eq!(first.id, again.id);
        assert_eq!(first.idempotency_key.as_deref(), Some("k1"));
        let bobs = queue
            .enqueue(owned("render", bob, Some("k1")))
            .await
            .unwrap();
        assert_ne!(bobs.id, first.id, "keys are per owner");
        let err = queue
            .enqueue(owned("backup", ann, Some("k1")))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        // The same key for a different payload is a conflict naming the key.
        let other = NewJob {
            payload: json!({"n": 2}),
            ..owned("render", ann, Some("k1"))
        };
        let err = queue.enqueue(other).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert!(err.to_string().contains("\"k1\""), "{err}");
        assert!(err.to_string().contains("payload"), "{err}");
        // Ownerless jobs share one key space.
        let keyed = |k: &str| NewJob {
            idempotency_key: Some(k.into()),
            ..NewJob::new("prune", json!(null))
        };
        let a = queue.enqueue(keyed("daily")).await.unwrap();
        assert_eq!(queue.enqueue(keyed("daily")).await.unwrap().id, a.id);
        // Racing enqueues of one key agree on one job.
        let racers: Vec<_> = (0..4)
            .map(|_| {
                let queue = queue.clone();
                tokio::spawn(async move { queue.enqueue(owned("render", ann, Some("race"))).await })
            })
            .collect();
        let mut ids = HashSet::new();
        for racer in racers {
            ids.insert(racer.await.unwrap().unwrap().id);
        }
        assert_eq!(ids.len(), 1);
    }
}

// Guards the claim's atomicity: claimers run in parallel on four threads.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_take_each_job_exactly_once() {
    for (queue, test) in queues(QueueConfig::default()).await {
        let mut all = HashSet::new();
        for i in 0..20 {
            all.insert(
                queue
                    .enqueue(NewJob::new("noop", json!(i)))
                    .await
                    .unwrap()
                    .id,
            );
        }
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let queue = queue.clone();
                tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while let Some(claimed) =
                        queue.claim(&format!("w{w}"), &["noop"]).await.unwrap()
                    {
                        mine.push(claimed.id());
                        assert!(queue.succeed(&claimed, json!(null)).await.unwrap());
                    }
                    mine
                })
            })
            .collect();
        let mut claimed = Vec::new();
        for worker in workers {
            claimed.extend(worker.await.unwrap());
        }
        assert_eq!(
            claimed.len(),
            20,
            "{:?}: no job claimed twice",
            test.db.backend()
        );
        assert_eq!(claimed.into_iter().collect::<HashSet<_>>(), all);
    }
}

#[tokio::test]
async fn an_expired_lease_is_claimed_again_and_the_old_worker_is_refused() {
    for (queue, _test) in queues(short_lease()).await {
        let job = queue
            .enqueue(NewJob::new("render", json!(1)))
            .await
            .unwrap();
        let dead = queue.claim("dead", &[]).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        let alive = queue.claim("alive", &[]).await.unwrap().unwrap();
        assert_eq!((alive.id(), alive.job.attempts), (job.id, 2));
        // The first worker wakes up late: every write is refused, it is told to stop.
        assert!(queue.is_cancelled(&dead).await.unwrap());
        assert!(!queue.succeed(&dead, json!("late")).await.unwrap());
        assert!(!queue.fail(&dead, "late").await.unwrap());
        assert!(!queue.renew(&dead).await.unwrap());
        assert!(!queue.release(&dead).await.unwrap());
        assert!(queue.succeed(&alive, json!("on time")).await.unwrap());
        let done = queue.get(job.id).await.unwrap();
        assert_eq!(done.result, Some(json!("on time")));
        assert_eq!(done.worker_id.as_deref(), Some("alive"));
    }
}

#[tokio::test]
async fn a_dead_workers_job_out_of_attempts_fails() {
    let config = QueueConfig {
        max_attempts: 1,
        ..short_lease()
    };
    for (queue, _test) in queues(config).await {
        let job = queue
            .enqueue(NewJob::new("render", json!(1)))
            .await
            .unwrap();
        let _dead = queue.claim("dead", &[]).await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(queue.claim("next", &[]).await.unwrap().is_none());
        let failed = queue.get(job.id).await.unwrap();
        assert_eq!((failed.state, failed.attempts), (JobState::Failed, 1));
        assert!(failed.error.unwrap().contains("lease expired"));
    }
}

#[tokio::test]
async fn failures_retry_with_backoff_then_stay_failed_with_the_error() {
    let config = QueueConfig {
        max_attempts: 3,
        backoff_base: Duration::from_millis(200),
        backoff_max: Duration::from_millis(300),
        ..QueueConfig::default()
    };
    for (queue, _test) in queues(config).await {
        let job = queue
            .enqueue(NewJob::new("render", json!(1)))
            .await
            .unwrap();
        for attempt in 1..=3_u32 {
            let claimed = loop {
                if let Some(claimed) = queue.claim("w", &[]).await.unwrap() {
                    break claimed;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            assert_eq!(claimed.job.attempts, attempt);
            let before = crate::store::now_ms();
            assert!(
                queue
                    .fail(&claimed, &format!("boom {attempt}"))
                    .await
                    .unwrap()
            );
            let seen = queue.get(job.id).await.unwrap();
            assert_eq!(seen.error, Some(format!("boom {attempt}")));
            if attempt < 3 {
                assert_eq!(seen.state, JobState::Queued);
                let wait = crate::store::to_ms(seen.run_at) - before;
                let expected = [200, 300][attempt as usize - 1];
                assert!(
                    (expected..expected + 1000).contains(&wait),
                    "waits {wait} ms"
                );
                assert!(
                    queue.claim("w", &[]).await.unwrap().is_none(),
                    "not yet due"
                );
            } else {
                assert_eq!((seen.state, seen.attempts), (JobState::Failed, 3));
                assert!(seen.finished_at.is_some());
            }
        }
        assert!(queue.claim("w", &[]).await.unwrap().is_none());
    }
}

#[tokio::test]
async fn cancel_queued_running_and_finished_jobs() {
    for (queue, _test) in queues(QueueConfig::default()).await {
        let ann = Uuid::now_v7();
        let queued = queue.enqueue(owned("render", ann, None)).await.unwrap();
        let cancelled = queue.cancel(queued.id, Some(ann)).await.unwrap();
        assert_eq!(cancelled.state, JobState::Cancelled);
        assert!(queue.claim("w", &[]).await.unwrap().is_none(), "never runs");
        let err = queue.cancel(queued.id, Some(ann)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);

        let running = queue.enqueue(owned("render", ann, None)).await.unwrap();
        let claimed = queue.claim("w", &[]).await.unwrap().unwrap();
        let err = queue
            .cancel(running.id, Some(Uuid::now_v7()))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotFound, "another owner's job");
        assert!(!queue.is_cancelled(&claimed).await.unwrap());
        let flagged = queue.cancel(running.id, None).await.unwrap();
        assert_eq!(
            (flagged.state, flagged.cancel_requested),
            (JobState::Running, true)
        );
        assert!(queue.is_cancelled(&claimed).await.unwrap());
        assert!(queue.finish_cancelled(&claimed).await.unwrap());
        assert_eq!(
            queue.get(running.id).await.unwrap().state,
            JobState::Cancelled
        );

        let done = queue.enqueue(owned("render", ann, None)).await.unwrap();
        let claimed = queue.claim("w", &[]).await.unwrap().unwrap();
        assert!(queue.succeed(&claimed, json!(1)).await.unwrap());
        let err = queue.cancel(done.id, Some(ann)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Conflict);
        assert_eq!(
            queue.cancel(Uuid::now_v7(), None).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}

#[tokio::test]
async fn release_requeues_without_counting_the_attempt() {
    for (queue, _test) in queues(QueueConfig::default()).await {
        let job = queue
            .enqueue(NewJob::new("render", json!(1)))
            .await
            .unwrap();
        let claimed = queue.claim("w", &[]).await.unwrap().unwrap();
        assert!(queue.release(&claimed).await.unwrap());
        let seen = queue.get(job.id).await.unwrap();
        assert_eq!((seen.state, seen.attempts), (JobState::Queued, 0));
        assert!(
            !queue.succeed(&claimed, json!(1)).await.unwrap(),
            "released is lost"
        );
        let again = queue.claim("w", &[]).await.unwrap().unwrap();
        assert_eq!(again.job.attempts, 1);
        assert!(
            !queue.succeed(&claimed, json!(1)).await.unwrap(),
            "same worker, old claim"
        );
        assert!(queue.succeed(&again, json!(2)).await.unwrap());
    }
}

#[tokio::test]
async fn list_pages_and_filters_by_owner_and_state() {
    for (queue, _test) in queues(QueueConfig::default()).await {
        let ann = Uuid::now_v7();
        let mut ids = Vec::new();
        for _ in 0..5 {
            ids.push(queue.enqueue(owned("render", ann, None)).await.unwrap().id);
        }
        queue
            .enqueue(owned("render", Uuid::now_v7(), None))
            .await
            .unwrap();
        let mine = |page, state| JobFilter {
            owner: Some(ann),
            state,
            page: Some(page),
            per_page: Some(2),
        };
        let first = queue.list(&mine(1, None)).await.unwrap();
        let got: Vec<Uuid> = first.items.iter().map(|j| j.id).collect();
        assert_eq!(got, vec![ids[4], ids[3]], "newest first");
        assert!(first.metainfo.has_next && !first.metainfo.has_prev);
        let last = queue.list(&mine(3, None)).await.unwrap();
        assert_eq!(last.items.len(), 1);
        assert!(!last.metainfo.has_next && last.metainfo.has_prev);
        queue.cancel(ids[0], Some(ann)).await.unwrap();
        let cancelled = queue
            .list(&mine(1, Some(JobState::Cancelled)))
            .await
            .unwrap();
        assert_eq!(
            cancelled.items.iter().map(|j| j.id).collect::<Vec<_>>(),
            vec![ids[0]]
        );
        let everyone = queue.list(&JobFilter::default()).await.unwrap();
        assert_eq!(everyone.items.len(), 6);
        let too_many = JobFilter {
            per_page: Some(101),
            ..JobFilter::default()
        };
        let err = queue.list(&too_many).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidRequest);
        // Pruning keeps recent and unfinished jobs.
        assert_eq!(
            queue.prune_finished(Duration::from_secs(60)).await.unwrap(),
            0
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(queue.prune_finished(Duration::ZERO).await.unwrap(), 1);
        assert_eq!(
            queue.list(&JobFilter::default()).await.unwrap().items.len(),
            5
        );
    }
}

#[tokio::test]
async fn limits_are_refused_naming_the_field() {
    for (queue, _test) in queues(QueueConfig::default()).await {
        let refused = |job: NewJob| {
            let queue = queue.clone();
            async move {
                let err = queue.enqueue(job).await.unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidRequest);
                err.to_string()
            }
        };
        let long_kind = NewJob::new("k".repeat(MAX_KIND_CHARS + 1), json!(1));
        assert!(refused(long_kind).await.starts_with("kind "));
        let big = NewJob::new("render", json!("x".repeat(MAX_PAYLOAD_BYTES)));
        assert!(refused(big).await.starts_with("payload "));
        let key = NewJob {
            idempotency_key: Some("k".repeat(MAX_IDEMPOTENCY_KEY_CHARS + 1)),
            ..NewJob::new("render", json!(1))
        };
        assert!(refused(key).await.starts_with("idempotency_key "));
        assert!(queue.claim("", &[]).await.is_err());
        assert!(queue.claim("w", &[""]).await.is_err());
        queue
            .enqueue(NewJob::new("render", json!(1)))
            .await
            .unwrap();
        let claimed = queue.claim("w", &[]).await.unwrap().unwrap();
        let big = json!("x".repeat(MAX_PAYLOAD_BYTES));
        let err = queue.succeed(&claimed, big).await.unwrap_err();
        assert!(err.to_string().starts_with("result "), "{err}");
        // A huge error message is cut, not refused.
        assert!(
            queue
                .fail(&claimed, &"e".repeat(MAX_PAYLOAD_BYTES))
                .await
                .unwrap()
        );
        let error = queue.get(claimed.id()).await.unwrap().error.unwrap();
        assert_eq!(error.chars().count(), MAX_MESSAGE_CHARS + 1);
    }
}

#[tokio::test]
async fn an_enqueue_wakes_a_waiting_worker() {
    for (queue, _test) in queues(QueueConfig::default()).await {
        assert!(
            !queue.wait_for_work(Duration::from_millis(10)).await,
            "nothing to do"
        );
        let waiter = {
            let queue = queue.clone();
            tokio::spawn(async move {
                let woken = queue.wait_for_work(Duration::from_secs(30)).await;
                (woken, queue.claim("w", &[]).await.unwrap().map(|c| c.id()))
            })
        };
        tokio::task::yield_now().await;
        let job = queue
            .enqueue(NewJob::new("render", json!(1)))
            .await
            .unwrap();
        let (woken, claimed) = tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("woken long before the 30 s poll")
            .unwrap();
        assert!(woken);
        assert_eq!(claimed, Some(job.id));
    }
}

// An attempt that met an overloaded server is queued again after the backoff, its
// attempt not counted.
#[tokio::test]
async fn retry_uncounted_requeues_after_the_backoff_without_counting() {
    let config = QueueConfig {
        backoff_base: Duration::from_secs(3600),
        backoff_max: Duration::from_secs(3600),
        ..QueueConfig::default()
    };
    for (queue, _test) in queues(config).await {
        let job = queue
            .enqueue(NewJob::new("busy", json!(null)))
            .await
            .unwrap();
        let claimed = queue.claim("w", &[]).await.unwrap().unwrap();
        assert!(queue.retry_uncounted(&claimed, "overloaded").await.unwrap());
        let again = queue.get(job.id).await.unwrap();
        assert_eq!((again.state, again.attempts), (JobState::Queued, 0));
        assert_eq!(again.error.as_deref(), Some("overloaded"));
        assert!(again.run_at > job.run_at, "after the backoff");
        assert!(
            queue.claim("w", &[]).await.unwrap().is_none(),
            "not due before the backoff"
        );
        assert!(
            !queue.retry_uncounted(&claimed, "again").await.unwrap(),
            "a lost claim changes nothing"
        );
    }
}

// Two queues over one PostgreSQL schema stand for two processes: nothing in-process is
// shared between them (each has its own wake-up), so only LISTEN/NOTIFY can wake B.
#[tokio::test]
async fn on_postgres_an_enqueue_wakes_a_worker_of_another_process() {
    let Some(test) = crate::store::testing::postgres_db().await else {
        return;
    };
    let a = JobQueue::new(test.db.clone(), QueueConfig::default());
    let b = JobQueue::new(test.db.clone(), QueueConfig::default());
    b.listen().await;
    let mut wakes = Vec::new();
    for round in 0..5 {
        let waiter = {
            let b = b.clone();
            tokio::spawn(async move {
                // The poll interval of this worker: 5 s.
                let woken = b.wait_for_work(Duration::from_secs(5)).await;
                (woken, std::time::Instant::now())
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        let enqueued = std::time::Instant::now();
        let job = a
            .enqueue(NewJob::new("render", json!(round)))
            .await
            .unwrap();
        let (woken, at) = waiter.await.unwrap();
        let took = at.duration_since(enqueued);
        assert!(woken, "round {round}: B was not woken (polled after 5 s)");
        assert!(took < Duration::from_secs(1), "round {round}: {took:?}");
        wakes.push(took);
        let claimed = b.claim("b", &[]).await.unwrap().unwrap();
        assert_eq!(claimed.id(), job.id);
        assert!(b.succeed(&claimed, json!(null)).await.unwrap());
    }
    wakes.sort();
    eprintln!("cross-process wake after enqueue: median {:?}", wakes[2]);

    // A queue of another schema hears nothing of these.
    let Some(other) = crate::store::testing::postgres_db().await else {
        return;
    };
    let c = JobQueue::new(other.db.clone(), QueueConfig::default());
    c.listen().await;
    a.enqueue(NewJob::new("render", json!("not for c")))
        .await
        .unwrap();
    assert!(!c.wait_for_work(Duration::from_millis(300)).await);
}

// A worker process dies holding a job (its queue dropped, nothing released): another
// process claims the job once the lease ran out, and the dead claim can never record
// success afterwards, so the job completes exactly once.
#[tokio::test]
async fn a_dead_processes_job_is_claimed_again_after_its_lease_and_completes_once() {
    for test in test_dbs().await {
        let lease = QueueConfig {
            lease: Duration::from_millis(300),
            ..QueueConfig::default()
        };
        let a = JobQueue::new(test.db.clone(), lease.clone());
        let b = JobQueue::new(test.db.clone(), lease);
        let job = a.enqueue(NewJob::new("render", json!(1))).await.unwrap();
        let dead = a.claim("process-a", &[]).await.unwrap().unwrap();
        drop(a);
        assert!(
            b.claim("process-b", &[]).await.unwrap().is_none(),
            "the lease still holds"
        );
        tokio::time::sleep(Duration::from_millis(400)).await;
        let alive = b.claim("process-b", &[]).await.unwrap().unwrap();
        assert_eq!((alive.id(), alive.job.attempts), (job.id, 2));
        assert_ne!(alive.claim_id, dead.claim_id);
        // The dead process's late writes, whoever sends them, change nothing.
        assert!(!b.succeed(&dead, json!("dead")).await.unwrap());
        assert!(!b.progress(&dead, 0.5, None).await.unwrap());
        assert!(b.succeed(&alive, json!("alive")).await.unwrap());
        assert!(
            !b.succeed(&alive, json!("twice")).await.unwrap(),
            "finished once"
        );
        assert!(!b.succeed(&dead, json!("dead")).await.unwrap());
        let done = b.get(job.id).await.unwrap();
        assert_eq!(done.state, JobState::Succeeded);
        assert_eq!(done.result, Some(json!("alive")));
        assert_eq!(done.worker_id.as_deref(), Some("process-b"));
    }
}
