//! When a failed attempt is tried again, and after how long: exponential backoff with
//! full jitter, `Retry-After` honoured up to a cap.

use std::time::{Duration, SystemTime};

use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The retry settings of a client.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    /// Attempts after the first.
    pub(crate) max_retries: u32,
    /// The delay before the first retry, doubled for each further one (before jitter).
    pub(crate) base_delay: Duration,
    /// The longest wait: a backoff is cut to it, and a `Retry-After` asking for more ends
    /// the retries (the error is returned rather than waiting longer than the caller
    /// allowed).
    pub(crate) max_delay: Duration,
}

impl RetryPolicy {
    /// The backoff before retry number `retry` (0 for the first): a random delay between
    /// zero and `base_delay * 2^retry`, capped at `max_delay` ("full jitter", so that
    /// many clients failing together do not retry together).
    pub(crate) fn backoff(&self, retry: u32) -> Duration {
        let ceiling = self
            .base_delay
            .saturating_mul(1_u32.checked_shl(retry.min(16)).unwrap_or(u32::MAX))
            .min(self.max_delay);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        if nanos == 0 {
            return Duration::ZERO;
        }
        Duration::from_nanos(rand::random_range(0..=nanos))
    }

    /// The wait before retrying an answer of 429 or 503: its `Retry-After` when present
    /// (`None` when that is over `max_delay`: do not retry), else the backoff.
    pub(crate) fn delay_for(&self, headers: &HeaderMap, retry: u32) -> Option<Duration> {
        match retry_after(headers, SystemTime::now()) {
            Some(asked) if asked > self.max_delay => None,
            Some(asked) => Some(asked),
            None => Some(self.backoff(retry)),
        }
    }
}

/// The `Retry-After` of `headers`: delay-seconds or an HTTP date (RFC 9110 §10.2.3); a
/// date in the past is no wait; an unreadable value counts as absent.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_retries: 3,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let policy = policy();
        for retry in 0..40 {
            let ceiling = Duration::from_millis(100)
                .saturating_mul(2_u32.saturating_pow(retry.min(16)))
                .min(Duration::from_secs(2));
            for _ in 0..20 {
                assert!(policy.backoff(retry) <= ceiling, "retry {retry}");
            }
        }
        let zero = RetryPolicy {
            base_delay: Duration::ZERO,
            ..policy
        };
        assert_eq!(zero.backoff(5), Duration::ZERO);
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(3)));
        let later = httpdate::fmt_http_date(now + Duration::from_secs(7));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&later).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(7));
        headers.insert(RETRY_AFTER, HeaderValue::from_str(&earlier).unwrap());
        assert_eq!(retry_after(&headers, now), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers, now), None);
    }

    #[test]
    fn a_retry_after_over_the_cap_ends_the_retries() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("60"));
        assert_eq!(policy().delay_for(&headers, 0), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("1"));
        assert_eq!(
            policy().delay_for(&headers, 0),
            Some(Duration::from_secs(1))
        );
    }
}
