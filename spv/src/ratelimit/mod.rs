//! Rate limits (feature `store`): who may send how many requests of each kind.
//!
//! | item | what it is |
//! |---|---|
//! | [`Group`], [`Limit`], [`RateLimits`] | the policy: `SPV_RATE_LIMITS` (`auth=10/1m,anonymous=off`) over the defaults |
//! | [`TrustedProxies`] | `SPV_TRUSTED_PROXIES`, and [`TrustedProxies::client_ip`]: the client of a request behind proxies |
//! | [`Subject`] | what a count is kept for: a client address, a user, a user name (hashed) |
//! | [`RateLimiter`] | the GCRA: in process (`governor`, keyed), or on Redis for every node with an in-process fallback |
//! | [`Refusal`] | a refused request: its group, limit and wait, as an [`ErrorKind::RateLimited`] error and as headers |
//! | [`RateLimitStats`] | refusals by group and checks answered in process while Redis was away |
//!
//! Each group is a GCRA of `N/period`: a burst of up to N at once, then one more each
//! `period / N`. On Redis, a limit of 128 or more per period and 2 or more a second is
//! taken in leases of up to 32 requests' worth per round trip, spent by the node within a
//! second (never more than N across the nodes; a client spread over nodes may be refused
//! a little early); smaller ones (`auth`) cost one round trip per request and are exact.
//! The HTTP layer decides which group a request counts in (`spv::http`'s module docs list
//! them) and turns a [`Refusal`] into `429` with `Retry-After`,
//! `RateLimit-Policy` and `RateLimit`.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use spv::ratelimit::{Group, RateLimiter, RateLimits, Subject};
//!
//! let limiter = RateLimiter::new("auth=2/1m".parse().unwrap());
//! let client = Subject::ip("192.0.2.7".parse().unwrap());
//! assert!(limiter.check(Group::Auth, &client).await.is_ok());
//! assert!(limiter.check(Group::Auth, &client).await.is_ok());
//! let refusal = limiter.check(Group::Auth, &client).await.unwrap_err();
//! assert_eq!(refusal.retry_after_secs(), 30);
//! assert_eq!(refusal.policy_header(), "\"auth\";q=2;w=60");
//! assert_eq!(refusal.header(), "\"auth\";r=0;t=30");
//! assert_eq!(limiter.stats().limited(Group::Auth), 1);
//! # });
//! ```
//!
//! Memory: the in-process state holds a key per client seen within about one period; the
//! keys back to a full budget are dropped every [`CLEAN_EVERY`] (at the next check). IPv6
//! clients are keyed by their /64, which is what one subscriber gets.

mod client;
mod local;
mod policy;
mod redis;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use sha2::Digest;

pub use policy::{
    Group, Limit, MAX_COUNT, MAX_PERIOD_SECS, MAX_TRUSTED_PROXIES, RATE_LIMITS_VAR, RateLimits,
    TRUSTED_PROXIES_VAR, TrustedProxies,
};

use crate::store::Redis;
use crate::{Error, ErrorKind};
use local::Local;
use redis::RedisGcra;

/// How often idle keys are dropped from the in-process state.
pub const CLEAN_EVERY: Duration = Duration::from_secs(10);

/// How often the fallback to the in-process limiter is logged while it lasts.
const LOG_FALLBACK_EVERY: Duration = Duration::from_secs(30);

/// What a count is kept for. Cheap to copy and hash: no text is made for a key on the
/// in-process path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A client address (IPv6: its /64).
    Ip(IpAddr),
    /// A user (by id: all of a user's keys and tokens share one budget).
    User(u128),
    /// A user name as a password grant sends it (lowercased, hashed).
    Name(u128),
}

impl Subject {
    /// A client address; an IPv6 one is reduced to its /64, an IPv4-mapped one to IPv4.
    pub fn ip(ip: IpAddr) -> Subject {
        match policy::canonical(ip) {
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !((1u128 << 64) - 1);
                Subject::Ip(IpAddr::V6(bits.into()))
            }
            v4 => Subject::Ip(v4),
        }
    }

    /// A user, by id.
    pub fn user(id: uuid::Uuid) -> Subject {
        Subject::User(id.as_u128())
    }

    /// A user name: trimmed, lowercased and hashed (SHA-256, 128 bits), so the same
    /// account is one key however it is spelled, and no name is kept or sent to Redis.
    pub fn name(name: &str) -> Subject {
        let digest = sha2::Sha256::digest(name.trim().to_lowercase().as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Subject::Name(u128::from_be_bytes(bytes))
    }
}

impl fmt::Display for Subject {
    /// The key's text on Redis: `ip:192.0.2.1`, `user:<hex>`, `name:<hex>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Ip(ip) => write!(f, "ip:{ip}"),
            Subject::User(id) => write!(f, "user:{id:032x}"),
            Subject::Name(hash) => write!(f, "name:{hash:032x}"),
        }
    }
}

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The group whose limit refused it.
    pub group: Group,
    /// That limit.
    pub limit: Limit,
    /// How long until a request of this key is allowed again.
    pub retry_after: Duration,
}

impl Refusal {
    /// The wait in whole seconds, rounded up, at least 1 (`Retry-After`, and `t` of
    /// `RateLimit`).
    pub fn retry_after_secs(&self) -> u64 {
        let secs = self.retry_after.as_secs() + u64::from(self.retry_after.subsec_nanos() > 0);
        secs.max(1)
    }

    /// The `RateLimit-Policy` field (draft-ietf-httpapi-ratelimit-headers):
    /// `"auth";q=10;w=60`.
    pub fn policy_header(&self) -> String {
        format!(
            "\"{}\";q={};w={}",
            self.group,
            self.limit.count(),
            self.limit.period_secs()
        )
    }

    /// The `RateLimit` field: `"auth";r=0;t=42`, nothing left for `t` seconds.
    pub fn header(&self) -> String {
        format!("\"{}\";r=0;t={}", self.group, self.retry_after_secs())
    }

    /// The refusal as an [`ErrorKind::RateLimited`] error (the refusal is its source,
    /// where the HTTP layer finds the headers' values).
    pub fn into_error(self) -> Error {
        Error::new(ErrorKind::RateLimited, self.to_string()).with_source(self)
    }

    /// The refusal inside `error`, when it is one.
    pub fn of(error: &Error) -> Option<&Refusal> {
        std::error::Error::source(error)?.downcast_ref::<Refusal>()
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "too many requests: the {} rate limit allows {} requests per {} s ({}); try again in {} s",
            self.group,
            self.limit.count(),
            self.limit.period_secs(),
            self.limit,
            self.retry_after_secs()
        )
    }
}

impl std::error::Error for Refusal {}

/// Counters of a [`RateLimiter`], read by the metrics at each scrape.
#[derive(Debug, Default)]
pub struct RateLimitStats {
    limited: [AtomicU64; 4],
    fallbacks: AtomicU64,
}

impl RateLimitStats {
    /// Requests refused in `group` (`spv_rate_limited_total{group}`).
    pub fn limited(&self, group: Group) -> u64 {
        self.limited[group.index()].load(Ordering::Relaxed)
    }

    /// Checks answered in process because Redis was unreachable
    /// (`spv_rate_limiter_fallback_total`).
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }
}

/// The rate limiter of a process: each group's GCRA, in process or (with
/// [`with_redis`](Self::with_redis)) on Redis, shared by every node, falling back to the
/// in-process one while Redis does not answer and going back by itself when it does.
/// Cheap to clone.
#[derive(Clone)]
pub struct RateLimiter {
    inner: Arc<Inner>,
}

struct Inner {
    /// The limits and their in-process state, replaced whole by
    /// [`RateLimiter::set_limits`] (a configuration reload).
    policy: ArcSwap<Policy>,
    redis: Option<RedisGcra>,
    stats: Arc<RateLimitStats>,
    started: Instant,
    checks: AtomicU64,
    /// When idle keys were last dropped, in ms since `started`.
    cleaned_ms: AtomicU64,
    /// When the fallback was last logged, in ms since `started` (0: never).
    logged_ms: AtomicU64,
    /// Whether the last check that wanted Redis fell back.
    falling_back: AtomicBool,
}

/// One set of limits and the in-process GCRA of each group that has one.
struct Policy {
    limits: RateLimits,
    local: [Option<Arc<Local>>; 4],
}

impl Policy {
    fn new(limits: RateLimits) -> Policy {
        Policy {
            local: Group::ALL.map(|group| limits.get(group).map(|l| Arc::new(Local::new(l)))),
            limits,
        }
    }
}

impl fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RateLimiter")
            .field("limits", &self.limits().to_string())
            .field("redis", &self.inner.redis.as_ref().map(|r| &r.redis))
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter of `limits`, in process.
    pub fn new(limits: RateLimits) -> Self {
        RateLimiter::build(limits, None, Arc::default())
    }

    /// This limiter's limits and counters on `redis`, so that they hold across every
    /// node on that Redis (and prefix); in process while Redis does not answer.
    pub fn with_redis(self, redis: Redis) -> Self {
        RateLimiter::build(
            self.limits(),
            Some(RedisGcra::new(redis)),
            self.inner.stats.clone(),
        )
    }

    fn build(limits: RateLimits, redis: Option<RedisGcra>, stats: Arc<RateLimitStats>) -> Self {
        RateLimiter {
            inner: Arc::new(Inner {
                policy: ArcSwap::from_pointee(Policy::new(limits)),
                redis,
                stats,
                started: Instant::now(),
                checks: AtomicU64::new(0),
                cleaned_ms: AtomicU64::new(0),
                logged_ms: AtomicU64::new(0),
                falling_back: AtomicBool::new(false),
            }),
        }
    }

    /// The limits.
    pub fn limits(&self) -> RateLimits {
        self.inner.policy.load().limits
    }

    /// Replaces the limits (a configuration reload): every clone of this limiter
    /// counts by `limits` from now on. A group whose limit did not change keeps its
    /// counts; a changed or new one starts with full budgets. Counts on Redis are keyed
    /// by the limit and so follow the new limit there too.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use spv::ratelimit::{Group, RateLimiter, Subject};
    ///
    /// let limiter = RateLimiter::new("auth=1/1m".parse().unwrap());
    /// let client = Subject::ip("192.0.2.7".parse().unwrap());
    /// assert!(limiter.check(Group::Auth, &client).await.is_ok());
    /// assert!(limiter.check(Group::Auth, &client).await.is_err());
    /// limiter.clone().set_limits("auth=off".parse().unwrap());
    /// assert!(limiter.check(Group::Auth, &client).await.is_ok());
    /// # });
    /// ```
    pub fn set_limits(&self, limits: RateLimits) {
        let old = self.inner.policy.load_full();
        let local = Group::ALL.map(|group| match (old.limits.get(group), limits.get(group)) {
            (Some(was), Some(now)) if was == now => None,
            (_, now) => Some(now.map(|l| Arc::new(Local::new(l)))),
        });
        // Unchanged groups keep their state: rebuild only the others.
        let mut policy = Policy::new(RateLimits::default());
        policy.limits = limits;
        for (index, fresh) in local.into_iter().enumerate() {
            policy.local[index] = match fresh {
                Some(fresh) => fresh,
                None => old.local[index].clone(),
            };
        }
        self.inner.policy.store(Arc::new(policy));
    }

    /// Whether `group` has a limit (is not off).
    pub fn is_on(&self, group: Group) -> bool {
        self.inner.policy.load().local[group.index()].is_some()
    }

    /// The counters.
    pub fn stats(&self) -> &Arc<RateLimitStats> {
        &self.inner.stats
    }

    /// Counts one request of `subject` in `group`; a [`Refusal`] when over the limit.
    /// Always `Ok` for a group that is off. Never fails for Redis: without an answer
    /// the in-process limiter decides (logged and counted).
    pub async fn check(&self, group: Group, subject: &Subject) -> Result<(), Refusal> {
        let inner = &*self.inner;
        let policy = inner.policy.load();
        let (Some(limit), Some(local)) = (policy.limits.get(group), &policy.local[group.index()])
        else {
            return Ok(());
        };
        self.clean_now_and_then();
        let decision = match &inner.redis {
            None => local.check(subject),
            Some(redis) if redis.redis.is_connected() => {
                match redis.check(group, limit, subject).await {
                    Ok(decision) => {
                        if inner.falling_back.swap(false, Ordering::Relaxed) {
                            tracing::info!("Redis answers again: rate limits are shared again");
                        }
                        decision
                    }
                    Err(error) => {
                        self.fell_back(Some(&error));
                        local.check(subject)
                    }
                }
            }
            Some(_) => {
                self.fell_back(None);
                local.check(subject)
            }
        };
        decision.map_err(|retry_after| {
            inner.stats.limited[group.index()].fetch_add(1, Ordering::Relaxed);
            Refusal {
                group,
                limit,
                retry_after,
            }
        })
    }

    /// Counts and (at most every [`LOG_FALLBACK_EVERY`]) logs a check answered in process.
    fn fell_back(&self, error: Option<&Error>) {
        let inner = &*self.inner;
        inner.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
        inner.falling_back.store(true, Ordering::Relaxed);
        let now = self.elapsed_ms();
        let last = inner.logged_ms.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= LOG_FALLBACK_EVERY.as_millis() as u64;
        if due
            && inner
                .logged_ms
                .compare_exchange(last, now.max(1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            match error {
                Some(error) => {
                    tracing::warn!(%error, "rate limits: Redis failed; limiting in process meanwhile")
                }
                None => tracing::warn!(
                    "rate limits: Redis is not connected; limiting in process meanwhile"
                ),
            }
        }
    }

    fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.inner.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Drops idle keys every [`CLEAN_EVERY`], looked at once per 1024 checks (a time
    /// read per request would cost more than it saves).
    fn clean_now_and_then(&self) {
        let inner = &*self.inner;
        if inner.checks.fetch_add(1, Ordering::Relaxed) % 1024 != 1023 {
            return;
        }
        let now = self.elapsed_ms();
        let last = inner.cleaned_ms.load(Ordering::Relaxed);
        if now.saturating_sub(last) < CLEAN_EVERY.as_millis() as u64
            || inner
                .cleaned_ms
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.retain_recent();
    }

    /// Drops the in-process keys that are back to a full budget now, and the Redis
    /// leases spent or run out (done by itself every [`CLEAN_EVERY`]); returns how many
    /// keys are left.
    pub fn retain_recent(&self) -> usize {
        let leases = self.inner.redis.as_ref().map_or(0, |redis| {
            redis.retain_recent();
            redis.leases()
        });
        leases
            + self
                .inner
                .policy
                .load()
                .local
                .iter()
                .flatten()
                .map(|local| {
                    local.retain_recent();
                    local.len()
                })
                .sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
