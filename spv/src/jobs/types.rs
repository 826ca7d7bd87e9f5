//! The types of the job queue and its pure rules (limits, backoff). No I/O, no Tokio.

use std::time::Duration;

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::api::{Job, JobState};
use crate::{Error, Result};

/// The longest job kind, in characters.
pub const MAX_KIND_CHARS: usize = 64;
/// The largest payload or result, serialised as JSON, in bytes (1 MiB).
pub const MAX_PAYLOAD_BYTES: usize = 1024 * 1024;
/// The longest idempotency key, in characters.
pub const MAX_IDEMPOTENCY_KEY_CHARS: usize = 200;
/// The longest worker id, in characters.
pub const MAX_WORKER_ID_CHARS: usize = 200;
/// The longest kept error or progress message, in characters (longer ones are cut).
pub const MAX_MESSAGE_CHARS: usize = 4000;
/// The most kinds one claim may ask for.
pub const MAX_CLAIM_KINDS: usize = 64;
/// The most jobs one [`claim_batch`](super::JobQueue::claim_batch) may take.
pub const MAX_CLAIM_BATCH: usize = 1000;

/// Settings of a [`super::JobQueue`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueConfig {
    /// How many times a job runs before a failure is final (at least 1; default 5).
    pub max_attempts: u32,
    /// The wait before the first retry; each later retry waits twice as long (default 1 s).
    pub backoff_base: Duration,
    /// The longest wait between retries (default 5 minutes).
    pub backoff_max: Duration,
    /// How long a claim holds a job without a renewal (default 30 s). A job whose lease
    /// ran out is claimed again by another worker.
    pub lease: Duration,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            lease: Duration::from_secs(30),
        }
    }
}

impl QueueConfig {
    /// The defaults with the lease of `config` (`SPV_JOB_LEASE_SECS`).
    pub fn from_config(config: &crate::config::Config) -> Self {
        QueueConfig {
            lease: Duration::from_secs(config.job_lease_secs.max(1)),
            ..QueueConfig::default()
        }
    }

    /// The wait before retrying after the failure of attempt `attempts` (counting from
    /// 1): `backoff_base · 2^(attempts-1)`, at most `backoff_max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use spv::jobs::QueueConfig;
    ///
    /// let config = QueueConfig::default();
    /// assert_eq!(config.backoff(1), Duration::from_secs(1));
    /// assert_eq!(config.backoff(4), Duration::from_secs(8));
    /// assert_eq!(config.backoff(40), Duration::from_secs(300));
    /// ```
    pub fn backoff(&self, attempts: u32) -> Duration {
        let exponent = attempts.saturating_sub(1).min(31);
        self.backoff_base
            .saturating_mul(1_u32 << exponent)
            .min(self.backoff_max)
    }
}

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// What the job does (1 to [`MAX_KIND_CHARS`] characters).
    pub kind: String,
    /// Its input (at most [`MAX_PAYLOAD_BYTES`] as JSON).
    pub payload: Value,
    /// The user enqueuing it.
    pub owner: Option<Uuid>,
    /// Not before this time (default: now).
    pub run_at: Option<OffsetDateTime>,
    /// A key (1 to [`MAX_IDEMPOTENCY_KEY_CHARS`] characters) that makes enqueuing again
    /// by the same owner return the first job instead of a new one.
    pub idempotency_key: Option<String>,
}

impl NewJob {
    /// A job of `kind` with `payload`, no owner, to run now.
    pub fn new(kind: impl Into<String>, payload: Value) -> Self {
        NewJob {
            kind: kind.into(),
            payload,
            owner: None,
            run_at: None,
            idempotency_key: None,
        }
    }
}

/// A job held by a worker: the proof of its claim, passed back to every write.
#[derive(Debug, Clone, PartialEq)]
pub struct Claimed {
    /// The job as it was when claimed (state running).
    pub job: Job,
    /// The worker that claimed it.
    pub worker_id: String,
    /// This claim's token: writes succeed only while the job still carries it (the jobs
    /// of one batch claim share it; writes name the job as well).
    pub(crate) claim_id: String,
}

impl Claimed {
    /// The job's id.
    pub fn id(&self) -> Uuid {
        self.job.id
    }
}

/// Which jobs a list returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobFilter {
    /// Only jobs of this owner (`None`: everyone's).
    pub owner: Option<Uuid>,
    /// Only jobs in this state.
    pub state: Option<JobState>,
    /// The page, from 1 (default 1).
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    pub per_page: Option<u32>,
}

/// Checks the kind, payload and key of a new job; answers the payload as JSON text.
pub(crate) fn check_new(job: &NewJob) -> Result<String> {
    check_kind(&job.kind)?;
    let payload = json_within(&job.payload, "payload")?;
    if let Some(key) = &job.idempotency_key {
        let chars = key.chars().count();
        if chars == 0 || chars > MAX_IDEMPOTENCY_KEY_CHARS {
            return Err(Error::invalid_request(format!(
                "idempotency_key of {chars} characters is not valid: expected 1 to \
                 {MAX_IDEMPOTENCY_KEY_CHARS}"
            )));
        }
    }
    Ok(payload)
}

/// Checks a job kind: 1 to [`MAX_KIND_CHARS`] characters, no control characters.
pub(crate) fn check_kind(kind: &str) -> Result<()> {
    let chars = kind.chars().count();
    if chars == 0 || chars > MAX_KIND_CHARS || kind.chars().any(char::is_control) {
        return Err(Error::invalid_request(format!(
            "kind of {chars} characters is not valid: expected 1 to {MAX_KIND_CHARS} \
             characters without control characters"
        )));
    }
    Ok(())
}

/// Checks a worker id: 1 to [`MAX_WORKER_ID_CHARS`] characters.
pub(crate) fn check_worker_id(worker_id: &str) -> Result<()> {
    let chars = worker_id.chars().count();
    if chars == 0 || chars > MAX_WORKER_ID_CHARS {
        return Err(Error::invalid_request(format!(
            "worker_id of {chars} characters is not valid: expected 1 to {MAX_WORKER_ID_CHARS}"
        )));
    }
    Ok(())
}

/// `value` as JSON text, refused over [`MAX_PAYLOAD_BYTES`] naming `field`.
pub(crate) fn json_within(value: &Value, field: &str) -> Result<String> {
    let text = serde_json::to_string(value)
        .map_err(|e| Error::internal(format!("encoding the {field}: {e}")))?;
    if text.len() > MAX_PAYLOAD_BYTES {
        return Err(Error::invalid_request(format!(
            "{field} of {} bytes is too large: expected at most {MAX_PAYLOAD_BYTES} bytes \
             of JSON",
            text.len()
        )));
    }
    Ok(text)
}

/// `text` cut to [`MAX_MESSAGE_CHARS`] characters.
pub(crate) fn clip(text: &str) -> String {
    match text.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn backoff_doubles_and_caps() {
        let config = QueueConfig {
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            ..QueueConfig::default()
        };
        let waits: Vec<u128> = (1..=6).map(|a| config.backoff(a).as_millis()).collect();
        assert_eq!(waits, vec![100, 200, 400, 800, 1000, 1000]);
        assert_eq!(config.backoff(0).as_millis(), 100);
        assert_eq!(config.backoff(u32::MAX).as_millis(), 1000);
    }

    #[test]
    fn limits_name_the_field() {
        let mut job = NewJob::new("x".repeat(MAX_KIND_CHARS), json!({}));
        assert!(check_new(&job).is_ok());
        job.kind.push('x');
        assert!(
            check_new(&job)
                .unwrap_err()
                .to_string()
                .starts_with("kind ")
        );
        job.kind = "render".into();
        job.idempotency_key = Some("k".repeat(MAX_IDEMPOTENCY_KEY_CHARS + 1));
        let err = check_new(&job).unwrap_err();
        assert!(err.to_string().starts_with("idempotency_key "), "{err}");
        job.idempotency_key = None;
        job.payload = json!("x".repeat(MAX_PAYLOAD_BYTES));
        let err = check_new(&job).unwrap_err();
        assert!(err.to_string().starts_with("payload "), "{err}");
        assert_eq!(
            clip(&"é".repeat(MAX_MESSAGE_CHARS + 5)).chars().count(),
            MAX_MESSAGE_CHARS + 1
        );
    }

    #[test]
    fn states_round_trip_their_names() {
        for name in ["queued", "running", "succeeded", "failed", "cancelled"] {
            assert_eq!(JobState::parse(name).unwrap().as_str(), name);
        }
        assert_eq!(JobState::parse("done"), None);
        assert!(JobState::Cancelled.is_finished() && !JobState::Running.is_finished());
    }
}
