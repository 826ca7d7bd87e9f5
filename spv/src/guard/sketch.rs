//! Dynamic blocking of heavy hitters: a Space-Saving top-k sketch per window, two
//! windows weighted into a sliding one. Synchronous; the caller passes the time.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::ratelimit::Subject;

/// How many clients each window's sketch follows. Space-Saving finds every client
/// above `1 / SKETCH_CAPACITY` of a window's requests (and overestimates a count by at
/// most the smallest count kept), so any share from 2% up is seen.
pub const SKETCH_CAPACITY: usize = 64;

/// The most clients blocked at once (the oldest block is dropped first past it).
const MAX_BLOCKED: usize = 4096;

/// When a client is blocked: its share of the requests of the last `window` reaches
/// `percent`, once the window holds at least `min_requests`; it is then refused for
/// `block`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeavyHitterPolicy {
    /// The share that blocks, 1 to 100 (`SPV_HEAVY_HITTER_PERCENT`).
    pub percent: u8,
    /// The sliding window (`SPV_HEAVY_HITTER_WINDOW_SECS`).
    pub window: Duration,
    /// Requests in the window before anyone is blocked
    /// (`SPV_HEAVY_HITTER_MIN_REQUESTS`): a quiet server with one client blocks no one.
    pub min_requests: u64,
    /// How long a block lasts (`SPV_HEAVY_HITTER_BLOCK_SECS`).
    pub block: Duration,
}

/// Counts requests by client (IPv6 by /64) and blocks a client whose share of the
/// sliding window is disproportionate (see [`HeavyHitterPolicy`]).
///
/// ```
/// use std::time::{Duration, Instant};
/// use spv::guard::{HeavyHitterPolicy, HeavyHitters};
///
/// let policy = HeavyHitterPolicy {
///     percent: 50,
///     window: Duration::from_secs(60),
///     min_requests: 100,
///     block: Duration::from_secs(300),
/// };
/// let guard = HeavyHitters::new(policy);
/// let now = Instant::now();
/// let (flooder, other) = ("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
/// for _ in 0..30 {
///     assert!(guard.check(other, now).is_ok());
/// }
/// let refused = (0..100).find_map(|_| guard.check(flooder, now).err()).unwrap();
/// assert_eq!(refused, Duration::from_secs(300));
/// assert!(guard.check(other, now).is_ok(), "only the flooder is blocked");
/// assert!(guard.check(flooder, now + Duration::from_secs(301)).is_ok(), "until the block ends");
/// ```
#[derive(Debug)]
pub struct HeavyHitters {
    policy: HeavyHitterPolicy,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// When the current window began; `None` before the first request.
    started: Option<Instant>,
    current: SpaceSaving,
    previous: SpaceSaving,
    blocked: HashMap<Subject, Instant, foldhash::fast::RandomState>,
}

impl HeavyHitters {
    /// A guard of `policy`, nothing counted yet.
    pub fn new(policy: HeavyHitterPolicy) -> HeavyHitters {
        HeavyHitters {
            policy,
            state: Mutex::new(State {
                started: None,
                current: SpaceSaving::default(),
                previous: SpaceSaving::default(),
                blocked: HashMap::default(),
            }),
        }
    }

    /// The policy.
    pub fn policy(&self) -> HeavyHitterPolicy {
        self.policy
    }

    /// Counts one request of `ip` at `now`: `Err` with the time left when `ip` is
    /// blocked (already, or by this request).
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let key = Subject::ip(ip);
        let policy = self.policy;
        let window = policy.window.max(Duration::from_millis(1));
        // A poisoned lock only means another request panicked mid-count: the counts
        // are still usable.
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(&until) = state.blocked.get(&key) {
            if until > now {
                return Err(until - now);
            }
            state.blocked.remove(&key);
        }
        let started = *state.started.get_or_insert(now);
        let elapsed = now.saturating_duration_since(started);
        if elapsed >= window {
            let windows = elapsed.as_nanos() / window.as_nanos();
            state.previous = if windows == 1 {
                std::mem::take(&mut state.current)
            } else {
                SpaceSaving::default()
            };
            state.current = SpaceSaving::default();
            let step = window.saturating_mul(u32::try_from(windows).unwrap_or(u32::MAX));
            state.started = Some(started.checked_add(step).unwrap_or(now));
        }
        state.current.add(key);
        // The sliding window: all of this window, and of the previous one the part that
        // the sliding window still covers.
        let into = now.saturating_duration_since(state.started.unwrap_or(now));
        let weight = 1.0 - (into.as_secs_f64() / window.as_secs_f64()).min(1.0);
        let total = state.current.total as f64 + state.previous.total as f64 * weight;
        if total < policy.min_requests as f64 {
            return Ok(());
        }
        let mine = state.current.count(&key) as f64 + state.previous.count(&key) as f64 * weight;
        if mine * 100.0 < total * f64::from(policy.percent) {
            return Ok(());
        }
        if state.blocked.len() >= MAX_BLOCKED {
            let oldest = state
                .blocked
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(k, _)| *k);
            if let Some(oldest) = oldest {
                state.blocked.remove(&oldest);
            }
        }
        state.blocked.insert(key, now + policy.block);
        tracing::warn!(
            client = %ip,
            share = format_args!("{:.0}%", mine * 100.0 / total),
            block_secs = policy.block.as_secs(),
            "blocking a client that sends a disproportionate share of the requests"
        );
        Err(policy.block)
    }

    /// How many clients are blocked now.
    pub fn blocked(&self, now: Instant) -> usize {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.blocked.values().filter(|until| **until > now).count()
    }
}

/// One window's Space-Saving sketch (Metwally et al., 2005): at most
/// [`SKETCH_CAPACITY`] counters; a new client when full takes the smallest counter's
/// place and count, plus one.
#[derive(Debug, Default)]
struct SpaceSaving {
    counts: HashMap<Subject, u64, foldhash::fast::RandomState>,
    total: u64,
}

impl SpaceSaving {
    fn add(&mut self, key: Subject) {
        self.total += 1;
        if let Some(count) = self.counts.get_mut(&key) {
            *count += 1;
            return;
        }
        if self.counts.len() < SKETCH_CAPACITY {
            self.counts.insert(key, 1);
            return;
        }
        let smallest = self
            .counts
            .iter()
            .min_by_key(|(_, c)| **c)
            .map(|(k, c)| (*k, *c));
        if let Some((evicted, count)) = smallest {
            self.counts.remove(&evicted);
            self.counts.insert(key, count + 1);
        }
    }

    fn count(&self, key: &Subject) -> u64 {
        self.counts.get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(percent: u8) -> HeavyHitterPolicy {
        HeavyHitterPolicy {
            percent,
            window: Duration::from_secs(10),
            min_requests: 50,
            block: Duration::from_secs(60),
        }
    }

    fn ip(i: u32) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i))
    }

    #[test]
    fn a_flooder_hidden_among_many_clients_is_found() {
        let guard = HeavyHitters::new(policy(20));
        let start = Instant::now();
        // 1,000 distinct clients (far more than the sketch holds), one request each,
        // interleaved with a client that sends a third of everything.
        let mut blocked_at = None;
        for i in 0..1000u32 {
            let now = start + Duration::from_millis(u64::from(i));
            assert!(
                guard.check(ip(100 + i), now).is_ok(),
                "client {i} is not blocked"
            );
            if i % 2 == 0 && guard.check(ip(1), now).is_err() && blocked_at.is_none() {
                blocked_at = Some(i);
            }
        }
        assert!(blocked_at.is_some(), "the flooder was blocked");
        assert_eq!(guard.blocked(start + Duration::from_secs(1)), 1);
    }

    #[test]
    fn even_traffic_blocks_no_one_and_quiet_servers_block_no_one() {
        let guard = HeavyHitters::new(policy(20));
        let start = Instant::now();
        for round in 0..200u64 {
            for client in 0..10 {
                let now = start + Duration::from_millis(round * 100);
                assert!(guard.check(ip(client), now).is_ok());
            }
        }
        // One client alone, but under min_requests per window.
        let guard = HeavyHitters::new(policy(20));
        for i in 0..1000u64 {
            let now = start + Duration::from_millis(i * 250);
            assert!(guard.check(ip(1), now).is_ok(), "request {i}");
        }
    }

    #[test]
    fn the_window_slides_and_a_block_ends() {
        let guard = HeavyHitters::new(policy(50));
        let start = Instant::now();
        for i in 0..40 {
            assert!(guard.check(ip(i % 4), start).is_ok());
        }
        // Nearly a window later the old requests weigh a tenth (4 of 40): one client's
        // 46 or 47 new ones (floating point) make the 50 that the window needs.
        let later = start + Duration::from_secs(19);
        let refused = (0..60).find_map(|_| guard.check(ip(9), later).err());
        assert_eq!(refused, Some(Duration::from_secs(60)));
        assert_eq!(
            guard.check(ip(9), later + Duration::from_secs(30)),
            Err(Duration::from_secs(30))
        );
        assert!(guard.check(ip(9), later + Duration::from_secs(61)).is_ok());
        // Long idle: both windows are empty again.
        let much_later = start + Duration::from_secs(3600);
        assert!(guard.check(ip(3), much_later).is_ok());
    }
}
