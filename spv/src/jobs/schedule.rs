//! Recurring jobs: enqueued once per period by every server, deduplicated by an
//! idempotency key naming the period, so that however many servers run, each period's job
//! runs once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::watch;

use super::{JobQueue, NewJob};
use crate::store::now_ms;

/// The longest the scheduler sleeps, so that a failed enqueue is tried again soon.
const MAX_SLEEP: Duration = Duration::from_secs(60);

/// A job enqueued every `every` (on the Unix-time grid: periods start at multiples of
/// `every`), with the idempotency key `<kind>:<period number>`.
#[derive(Debug, Clone, PartialEq)]
pub struct Recurring {
    /// The job's kind.
    pub kind: String,
    /// The period; zero turns it off.
    pub every: Duration,
    /// The job's payload.
    pub payload: Value,
}

impl Recurring {
    /// A job of `kind` every `every`, with a null payload.
    pub fn new(kind: impl Into<String>, every: Duration) -> Self {
        Recurring {
            kind: kind.into(),
            every,
            payload: Value::Null,
        }
    }

    /// The period number of `now_ms` (Unix milliseconds); `None` when off.
    pub fn period(&self, now_ms: i64) -> Option<i64> {
        let every = i64::try_from(self.every.as_millis()).ok()?;
        (every > 0).then(|| now_ms.max(0) / every)
    }

    /// The idempotency key of `period`.
    pub fn key(&self, period: i64) -> String {
        format!("{}:{period}", self.kind)
    }
}

/// Enqueues each recurring job once per period until shutdown starts.
pub(super) async fn run_scheduler(
    queue: JobQueue,
    recurring: Vec<Recurring>,
    mut stop: watch::Receiver<Option<Instant>>,
) {
    let mut done: HashMap<usize, i64> = HashMap::new();
    loop {
        let now = now_ms();
        let mut sleep = MAX_SLEEP;
        for (n, job) in recurring.iter().enumerate() {
            let Some(period) = job.period(now) else {
                continue;
            };
            if done.get(&n) != Some(&period) {
                let new = NewJob {
                    idempotency_key: Some(job.key(period)),
                    ..NewJob::new(job.kind.clone(), job.payload.clone())
                };
                match queue.enqueue(new).await {
                    Ok(_) => {
                        done.insert(n, period);
                    }
                    Err(error) => {
                        tracing::warn!(%error, kind = %job.kind, "enqueuing a recurring job failed");
                        continue;
                    }
                }
            }
            let every = i64::try_from(job.every.as_millis()).unwrap_or(i64::MAX);
            let next = period.saturating_add(1).saturating_mul(every);
            let wait = u64::try_from(next.saturating_sub(now)).unwrap_or(0);
            sleep = sleep.min(Duration::from_millis(wait.max(1)));
        }
        tokio::select! {
            () = tokio::time::sleep(sleep) => {}
            stopped = async { stop.wait_for(Option::is_some).await.is_ok() } => {
                if stopped {
                    return;
                }
                // `Workers` was dropped without a shutdown: keep scheduling.
                tokio::time::sleep(sleep).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_follow_the_unix_grid_and_name_the_key() {
        let hourly = Recurring::new("maintenance.prune", Duration::from_secs(3600));
        assert_eq!(hourly.period(3_600_000 * 5 + 17), Some(5));
        assert_eq!(hourly.key(5), "maintenance.prune:5");
        assert_eq!(Recurring::new("x", Duration::ZERO).period(10), None);
    }
}
