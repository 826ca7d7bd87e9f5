//! Tests of batched claims and grouped job endings, on SQLite and (when configured)
//! PostgreSQL.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use super::*;
use crate::ErrorKind;
use crate::api::JobState;
use crate::store::Backend;
use crate::store::testing::test_dbs;

async fn enqueue_n(queue: &JobQueue, n: usize) -> Vec<Uuid> {
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        ids.push(
            queue
                .enqueue(NewJob::new("noop", json!(i)))
                .await
                .unwrap()
                .id,
        );
    }
    ids
}

#[tokio::test]
async fn claim_batch_takes_at_most_max_oldest_first_and_checks_max() {
    for test in test_dbs().await {
        let queue = JobQueue::new(test.db.clone(), QueueConfig::default());
        let ids = enqueue_n(&queue, 5).await;
        let first = queue.claim_batch("w", &["noop"], 3).await.unwrap();
        let got: Vec<Uuid> = first.iter().map(Claimed::id).collect();
        assert_eq!(got, ids[..3], "the three oldest, oldest first");
        assert!(
            first
                .iter()
                .all(|c| c.job.state == JobState::Running && c.job.attempts == 1)
        );
        let rest = queue.claim_batch("w", &[], 10).await.unwrap();
        assert_eq!(rest.iter().map(Claimed::id).collect::<Vec<_>>(), ids[3..]);
        assert!(queue.claim_batch("w", &[], 10).await.unwrap().is_empty());
        for max in [0, MAX_CLAIM_BATCH + 1] {
            let err = queue.claim_batch("w", &[], max).await.unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{err}");
            assert!(err.to_string().contains("expected 1 to"), "{err}");
        }
    }
}

// PostgreSQL takes a job whose worker died (lease ran out) before due queued jobs, even
// older ones, as the single claim did.
#[tokio::test]
async fn on_postgres_a_batch_takes_expired_leases_first() {
    let Some(test) = crate::store::testing::postgres_db().await else {
        return;
    };
    let short = JobQueue::new(
        test.db.clone(),
        QueueConfig {
            lease: Duration::from_millis(1),
            ..QueueConfig::default()
        },
    );
    let queue = JobQueue::new(test.db.clone(), QueueConfig::default());
    let expired = short
        .enqueue(NewJob::new("noop", json!("x")))
        .await
        .unwrap();
    short.claim("dead", &[]).await.unwrap().unwrap();
    let mut older = Vec::new();
    for i in 0..3 {
        let job = NewJob {
            run_at: Some(time::OffsetDateTime::now_utc() - Duration::from_secs(3600 - i)),
            ..NewJob::new("noop", json!(i))
        };
        older.push(queue.enqueue(job).await.unwrap().id);
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let batch = queue.claim_batch("alive", &[], 2).await.unwrap();
    let got: HashSet<Uuid> = batch.iter().map(Claimed::id).collect();
    assert_eq!(got, HashSet::from([expired.id, older[0]]), "{batch:?}");
    let again = batch.iter().find(|c| c.id() == expired.id).unwrap();
    assert_eq!(again.job.attempts, 2);
}

// Two queues on one database stand for two processes; several claimers in each take
// batches concurrently: every job is handed out once, and all of them are.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_claims_never_hand_one_job_to_two_claimers_across_queues() {
    for test in test_dbs().await {
        let a = JobQueue::new(test.db.clone(), QueueConfig::default());
        let b = JobQueue::new(test.db.clone(), QueueConfig::default());
        let ids = enqueue_n(&a, 300).await;
        let mut claimers = Vec::new();
        for n in 0..6 {
            let queue = if n % 2 == 0 { a.clone() } else { b.clone() };
            claimers.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let batch = queue.claim_batch(&format!("c{n}"), &[], 7).await.unwrap();
                    if batch.is_empty() {
                        return mine;
                    }
                    for claimed in batch {
                        assert!(queue.succeed(&claimed, json!(n)).await.unwrap());
                        mine.push(claimed.id());
                    }
                }
            }));
        }
        let mut seen = HashMap::new();
        for claimer in claimers {
            for id in claimer.await.unwrap() {
                *seen.entry(id).or_insert(0) += 1;
            }
        }
        let be = test.db.backend();
        assert_eq!(seen.len(), ids.len(), "{be:?}: every job claimed");
        assert!(
            seen.values().all(|&n| n == 1),
            "{be:?}: a job claimed twice"
        );
        for id in ids {
            let job = a.get(id).await.unwrap();
            assert_eq!(
                (job.state, job.attempts),
                (JobState::Succeeded, 1),
                "{be:?}"
            );
        }
    }
}

// A worker whose lease ran out sends its ending in the same batch as the endings of the
// job's new holder and of other jobs: its row is refused (the claim id no longer
// matches) and every other row lands. The single-thread test runtime polls all the
// endings before the writer runs, so they reach it together.
#[tokio::test]
async fn a_fenced_ending_in_a_batch_is_refused_while_the_rest_land() {
    for test in test_dbs().await {
        let be = test.db.backend();
        let short = JobQueue::new(
            test.db.clone(),
            QueueConfig {
                lease: Duration::from_millis(20),
                ..QueueConfig::default()
            },
        );
        let queue = JobQueue::new(test.db.clone(), QueueConfig::default());
        let ids = enqueue_n(&queue, 4).await;
        let dead = short.claim("dead", &[]).await.unwrap().unwrap();
        assert_eq!(dead.id(), ids[0]);
        tokio::time::sleep(Duration::from_millis(40)).await;
        let alive = queue.claim_batch("alive", &[], 4).await.unwrap();
        assert_eq!(alive.len(), 4, "{be:?}: the expired job and three more");
        let others: Vec<&Claimed> = alive.iter().filter(|c| c.id() != ids[0]).collect();
        let (statements, _) = queue.writer_stats();
        let (fenced, a, b, c) = tokio::join!(
            queue.succeed(&dead, json!("dead")),
            queue.succeed(others[0], json!("alive")),
            queue.succeed(others[1], json!("alive")),
            queue.succeed(others[2], json!("alive")),
        );
        assert!(
            !fenced.unwrap(),
            "{be:?}: the dead claim's ending is refused"
        );
        assert!(
            a.unwrap() && b.unwrap() && c.unwrap(),
            "{be:?}: the rest land"
        );
        assert_eq!(
            queue.writer_stats().0 - statements,
            1,
            "{be:?}: one statement for the four endings"
        );
        let held = alive.iter().find(|c| c.id() == ids[0]).unwrap();
        let job = queue.get(ids[0]).await.unwrap();
        assert_eq!((job.state, job.attempts), (JobState::Running, 2), "{be:?}");
        assert!(queue.succeed(held, json!("alive")).await.unwrap());
        for id in ids {
            let job = queue.get(id).await.unwrap();
            assert_eq!(job.state, JobState::Succeeded, "{be:?}");
            assert_eq!(job.result, Some(json!("alive")), "{be:?}");
        }
    }
}

// Two endings of one job in one batch (a holder that retries its write while the first
// is still pending) must not both be told they applied: the second waits for the next
// statement and is refused there.
#[tokio::test]
async fn two_endings_of_one_job_apply_once() {
    for test in test_dbs().await {
        let queue = JobQueue::new(test.db.clone(), QueueConfig::default());
        let id = enqueue_n(&queue, 1).await[0];
        let claimed = queue.claim("w", &[]).await.unwrap().unwrap();
        let (first, second) = tokio::join!(
            queue.succeed(&claimed, json!(1)),
            queue.fail_permanently(&claimed, "late"),
        );
        assert_eq!((first.unwrap(), second.unwrap()), (true, false));
        let job = queue.get(id).await.unwrap();
        assert_eq!(
            (job.state, job.result),
            (JobState::Succeeded, Some(json!(1)))
        );
    }
}

/// A trigger that makes any update storing the result `"poison"` fail.
async fn poison(db: &crate::store::Db) {
    let statements: &[&str] = match db.backend() {
        Backend::Postgres => &[
            "CREATE FUNCTION spv_poison() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN IF NEW.result = '\"poison\"' THEN RAISE EXCEPTION 'poisoned'; END IF; \
             RETURN NEW; END $$",
            "CREATE TRIGGER poison BEFORE UPDATE ON jobs FOR EACH ROW \
             EXECUTE FUNCTION spv_poison()",
        ],
        Backend::Sqlite => &["CREATE TRIGGER poison BEFORE UPDATE ON jobs \
             WHEN NEW.result = '\"poison\"' BEGIN SELECT RAISE(ABORT, 'poisoned'); END"],
    };
    for sql in statements {
        sqlx::raw_sql(sql).execute(db.pool()).await.unwrap();
    }
}

// The grouped statement fails as a whole (one row trips a database error): nothing of
// it applied, so each ending is written again alone. The good ones land once; the bad
// one is an error and its job stays running under its claim, to be claimed again when
// its lease runs out and finished once then.
#[tokio::test]
async fn a_failed_grouped_write_loses_and_doubles_nothing() {
    for test in test_dbs().await {
        let be = test.db.backend();
        poison(&test.db).await;
        let queue = JobQueue::new(
            test.db.clone(),
            QueueConfig {
                lease: Duration::from_millis(200),
                ..QueueConfig::default()
            },
        );
        let ids = enqueue_n(&queue, 4).await;
        let held = queue.claim_batch("w", &[], 4).await.unwrap();
        let (statements, _) = queue.writer_stats();
        let (a, bad, c, d) = tokio::join!(
            queue.succeed(&held[0], json!("ok")),
            queue.succeed(&held[1], json!("poison")),
            queue.succeed(&held[2], json!("ok")),
            queue.succeed(&held[3], json!("ok")),
        );
        assert!(a.unwrap() && c.unwrap() && d.unwrap(), "{be:?}");
        let err = bad.unwrap_err();
        assert!(err.to_string().contains("poisoned"), "{be:?}: {err}");
        assert_eq!(
            queue.writer_stats().0 - statements,
            5,
            "{be:?}: the failed batch, then each of its four rows alone"
        );
        for (i, id) in ids.iter().enumerate() {
            let job = queue.get(*id).await.unwrap();
            let expected = if i == 1 {
                (JobState::Running, None)
            } else {
                (JobState::Succeeded, Some(json!("ok")))
            };
            assert_eq!((job.state, job.result), expected, "{be:?}: job {i}");
        }
        // Written again, the landed endings change nothing: nothing finishes twice.
        assert!(!queue.succeed(&held[0], json!("again")).await.unwrap());
        // The failed one is not lost: once its lease ran out it is claimed again.
        tokio::time::sleep(Duration::from_millis(250)).await;
        let again = queue.claim("w2", &[]).await.unwrap().unwrap();
        assert_eq!((again.id(), again.job.attempts), (ids[1], 2), "{be:?}");
        assert!(queue.succeed(&again, json!("cured")).await.unwrap());
        assert!(!queue.succeed(&held[1], json!("late")).await.unwrap());
        let job = queue.get(ids[1]).await.unwrap();
        assert_eq!(
            (job.state, job.result),
            (JobState::Succeeded, Some(json!("cured")))
        );
    }
}

// Two pools on one database (two processes): each job runs once, and a pool never runs
// more handlers at once than it has slots, claiming in batches for its free slots.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_pools_run_every_job_once_within_their_slots() {
    for test in test_dbs().await {
        let be = test.db.backend();
        let runs: Arc<Mutex<HashMap<Uuid, u32>>> = Arc::default();
        let mut pools = Vec::new();
        let mut peaks = Vec::new();
        for name in ["a", "b"] {
            let queue = JobQueue::new(test.db.clone(), QueueConfig::default());
            let (runs, now, peak) = (
                runs.clone(),
                Arc::new(AtomicUsize::new(0)),
                Arc::new(AtomicUsize::new(0)),
            );
            peaks.push(peak.clone());
            let handler = handler_fn("noop", move |ctx: JobContext| {
                let (runs, now, peak) = (runs.clone(), now.clone(), peak.clone());
                async move {
                    let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(running, Ordering::SeqCst);
                    *runs.lock().unwrap().entry(ctx.job().id).or_default() += 1;
                    tokio::task::yield_now().await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    Ok(JobOutcome::Done(json!(null)))
                }
            });
            let config = WorkersConfig {
                workers: 3,
                worker_id_prefix: format!("pool-{name}"),
                poll_interval: Duration::from_millis(20),
                ..WorkersConfig::default()
            };
            pools.push((queue.clone(), Workers::start(queue, vec![handler], config)));
        }
        let ids = enqueue_n(&pools[0].0, 200).await;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            let done: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE state = 'succeeded'")
                    .fetch_one(test.db.pool())
                    .await
                    .unwrap();
            if done as usize == ids.len() {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{be:?}: {done} done");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for (_, pool) in pools {
            assert_eq!(pool.shutdown(Duration::from_secs(5)).await.released, 0);
        }
        let runs = runs.lock().unwrap();
        assert_eq!(runs.len(), ids.len(), "{be:?}");
        assert!(runs.values().all(|&n| n == 1), "{be:?}: a job ran twice");
        for peak in peaks {
            let peak = peak.load(Ordering::SeqCst);
            assert!((1..=3).contains(&peak), "{be:?}: {peak} handlers at once");
        }
    }
}
