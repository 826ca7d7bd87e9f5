//! The in-process GCRA of one group: a keyed `governor` limiter. Synchronous, no I/O.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::HashMapStateStore;
use governor::{Quota, RateLimiter};

use super::Subject;
use super::policy::Limit;

type Store = HashMapStateStore<Subject, foldhash::fast::RandomState>;

/// One group's keyed limiter (`C`: the clock; tests advance a fake one).
pub(crate) struct Local<C: Clock = DefaultClock> {
    limiter: RateLimiter<Subject, Store, C, NoOpMiddleware<C::Instant>>,
    clock: C,
}

impl<C: Clock + Clone> Local<C> {
    /// A limiter of `limit`: a burst of `count`, one more every `period / count`.
    pub(crate) fn with_clock(limit: Limit, clock: C) -> Self {
        let burst = NonZeroU32::new(limit.count()).unwrap_or(NonZeroU32::MIN);
        // `Limit` keeps the interval at 1 ns or more (a period of 1 s at least, a
        // billion requests at most), so `with_period` has no zero to refuse.
        let quota = Quota::with_period(limit.emission_interval())
            .unwrap_or_else(|| Quota::per_second(burst))
            .allow_burst(burst);
        Local {
            limiter: RateLimiter::new(quota, Store::default(), clock.clone()),
            clock,
        }
    }

    /// Counts one request of `subject`: `Err` with the wait until one is allowed again.
    pub(crate) fn check(&self, subject: &Subject) -> Result<(), Duration> {
        self.limiter
            .check_key(subject)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets the keys whose state is back to full (idle for a period), so that memory
    /// follows the clients of the last period, not every client ever seen.
    pub(crate) fn retain_recent(&self) {
        self.limiter.retain_recent();
        self.limiter.shrink_to_fit();
    }

    /// How many keys are held.
    pub(crate) fn len(&self) -> usize {
        self.limiter.len()
    }
}

impl Local {
    /// A limiter on the monotonic clock.
    pub(crate) fn new(limit: Limit) -> Self {
        Local::with_clock(limit, DefaultClock::default())
    }
}

#[cfg(test)]
mod tests {
    use governor::clock::FakeRelativeClock;

    use super::*;

    #[test]
    fn exactly_n_pass_then_refusals_then_refill() {
        let clock = FakeRelativeClock::default();
        let local = Local::with_clock(Limit::new(6, 60).unwrap(), clock.clone());
        let a = Subject::ip("192.0.2.1".parse().unwrap());
        let b = Subject::ip("192.0.2.2".parse().unwrap());
        for i in 0..6 {
            assert!(local.check(&a).is_ok(), "request {i} passes");
        }
        let wait = local.check(&a).unwrap_err();
        assert_eq!(
            wait,
            Duration::from_secs(10),
            "one request back every 60/6 s"
        );
        assert!(local.check(&a).is_err(), "still refused");
        assert!(local.check(&b).is_ok(), "another key has its own budget");
        clock.advance(Duration::from_secs(9));
        assert_eq!(local.check(&a).unwrap_err(), Duration::from_secs(1));
        clock.advance(Duration::from_secs(1));
        assert!(local.check(&a).is_ok(), "one came back after the interval");
        assert!(local.check(&a).is_err(), "and only one");
        clock.advance(Duration::from_secs(60));
        for i in 0..6 {
            assert!(
                local.check(&a).is_ok(),
                "a full burst again after a period ({i})"
            );
        }
        assert!(local.check(&a).is_err());
    }

    #[test]
    fn idle_keys_are_forgotten() {
        let clock = FakeRelativeClock::default();
        let local = Local::with_clock(Limit::new(2, 1).unwrap(), clock.clone());
        for i in 0..1000u32 {
            let _ = local.check(&Subject::ip(std::net::IpAddr::from(i.to_be_bytes())));
        }
        assert_eq!(local.len(), 1000);
        clock.advance(Duration::from_secs(2));
        local.retain_recent();
        assert_eq!(local.len(), 0, "keys back to a full budget are dropped");
    }
}
