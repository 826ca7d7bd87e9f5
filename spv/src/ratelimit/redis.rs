//! The GCRA shared by every node: one Lua script on Redis, as `go-redis/redis_rate`
//! runs it (after Pavel Pravosud's `redis-gcra`), so a limit of N holds across all nodes.
//!
//! One round trip per check for small limits: `EVALSHA` of the script loaded once per
//! process; a Redis that lost its script cache (a restart) answers `NOSCRIPT`, and the
//! check runs as `EVAL`, which loads it again.
//!
//! Large limits (128 or more per period, at least 2 a second: the `api` and `anonymous`
//! defaults) are counted in leases: one round trip takes up to [`MAX_LEASE`] requests'
//! worth of the budget at once, which this node then spends for up to [`LEASE_TTL`]
//! without asking Redis, taking the next one in the background once half of it is spent;
//! a refusal is remembered until its `Retry-After`. What a lease takes is counted on
//! Redis when it is taken, so the nodes together never let more than the limit through;
//! the cost is that a client spread over several nodes may be refused on one while
//! another still holds some of its requests' worth (a lease and a half at most), unspent,
//! for at most [`LEASE_TTL`]. Small limits (`auth=10/1m`) stay exact: one round trip per
//! request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fred::interfaces::LuaInterface;
use fred::types::Value;
use tokio::sync::OnceCell;

use super::Subject;
use super::policy::{Group, Limit};
use crate::store::Redis;
use crate::{Error, ErrorKind, Result};

/// A fred error as ours (`Io`: the caller falls back).
fn redis_err(error: fred::error::Error) -> Error {
    Error::new(ErrorKind::Io, format!("Redis: {}", error.details()))
}

/// How long this node may spend a lease taken from Redis.
pub(crate) const LEASE_TTL: Duration = Duration::from_secs(1);

/// The most requests' worth one lease takes.
pub(crate) const MAX_LEASE: u32 = 32;

/// How many requests' worth one round trip to Redis takes for `limit`: a 64th of the
/// burst and a [`LEASE_TTL`]'s worth of the rate at most, [`MAX_LEASE`] at most; 1 (one
/// round trip per request, exact) for small limits.
pub(crate) fn lease_size(limit: Limit) -> u32 {
    let of_burst = limit.count() / 64;
    let per_ttl = u64::from(limit.count()) * LEASE_TTL.as_millis() as u64
        / (limit.period_secs().saturating_mul(1000)).max(1);
    u32::try_from(per_ttl)
        .unwrap_or(u32::MAX)
        .min(of_burst)
        .clamp(1, MAX_LEASE)
}

/// `KEYS[1]`: the key; `ARGV`: burst, rate, period (s), want. Takes as many of `want`
/// requests' worth as the budget has now, at least 1, else none. Answers `{granted,
/// remaining, retry_after, reset_after}` (the last two in seconds, as text); with
/// `want` 1 it is redis_rate's `allow`. The time is Redis's own (`TIME`), so the nodes'
/// clocks do not matter. Redis 5 and later replicate the script's effects, so no
/// `redis.replicate_commands()`.
pub(crate) const GCRA: &str = r#"
local key = KEYS[1]
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local want = tonumber(ARGV[4])

local emission_interval = period / rate
local burst_offset = emission_interval * burst

local jan_1_2017 = 1483228800
local now = redis.call("TIME")
now = (now[1] - jan_1_2017) + (now[2] / 1000000)

local tat = redis.call("GET", key)
if not tat then
  tat = now
else
  tat = tonumber(tat)
end
tat = math.max(tat, now)

-- How many requests the budget has room for now.
local room = math.floor((now - tat + burst_offset) / emission_interval + 1e-9)
if room < 1 then
  return {0, 0, tostring(tat + emission_interval - burst_offset - now), tostring(tat - now)}
end

local granted = math.min(want, room)
local new_tat = tat + emission_interval * granted
local reset_after = new_tat - now
if reset_after > 0 then
  redis.call("SET", key, tostring(new_tat), "EX", math.ceil(reset_after))
end
return {granted, room - granted, "-1", tostring(reset_after)}
"#;

/// What this node holds of one key's budget.
#[derive(Debug)]
struct Lease {
    /// The limit it was taken under (a reload that changes it drops the lease).
    limit: Limit,
    /// Requests' worth left to spend, until `until`.
    left: u32,
    until: Instant,
    /// Refused on Redis until then (once `left` is spent).
    refused_until: Option<Instant>,
    /// A round trip for the next lease is under way in the background.
    refilling: bool,
}

impl Lease {
    fn new(limit: Limit) -> Lease {
        Lease {
            limit,
            left: 0,
            until: Instant::now(),
            refused_until: None,
            refilling: false,
        }
    }

    /// Adds what Redis answered: requests' worth for another [`LEASE_TTL`] (what was
    /// left and not run out is kept), or a refusal for when this lease is spent.
    fn add(&mut self, taken: std::result::Result<u32, Duration>, now: Instant) {
        match taken {
            Ok(granted) => {
                if now >= self.until {
                    self.left = 0;
                }
                self.left += granted;
                self.until = now + LEASE_TTL;
                self.refused_until = None;
            }
            Err(wait) => self.refused_until = Some(now + wait),
        }
    }
}

/// One key's lease and the gate that lets one request at a time take a lease when it
/// is spent (the others wait for that round trip instead of making their own).
#[derive(Debug)]
struct Entry {
    lease: Mutex<Lease>,
    gate: tokio::sync::Mutex<()>,
}

impl Entry {
    fn lease(&self) -> std::sync::MutexGuard<'_, Lease> {
        self.lease.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Spends one request's worth of the lease when it has one: `Some(Ok(refill))`,
    /// `refill` when this request should start taking the next lease in the background;
    /// `Some(Err(wait))` when refused; `None` when Redis must be asked now.
    fn spend(
        &self,
        limit: Limit,
        size: u32,
        now: Instant,
    ) -> Option<std::result::Result<bool, Duration>> {
        let mut lease = self.lease();
        if lease.limit != limit {
            *lease = Lease::new(limit);
        }
        if lease.left > 0 && now < lease.until {
            lease.left -= 1;
            // Half spent: the next lease is taken while this one is still spent, so no
            // request waits for Redis while the key is busy.
            let refill =
                lease.left <= size / 2 && !lease.refilling && lease.refused_until.is_none();
            lease.refilling |= refill;
            return Some(Ok(refill));
        }
        lease
            .refused_until
            .filter(|until| now < *until)
            .map(|until| Err(until - now))
    }
}

type Leases = HashMap<(Group, Subject), Arc<Entry>, foldhash::fast::RandomState>;

/// The script on one Redis: cheap to clone into a background refill.
#[derive(Clone)]
struct Script {
    redis: Redis,
    /// The script's SHA-1, from `SCRIPT LOAD` on first use.
    sha: Arc<OnceCell<String>>,
}

/// The Redis side of a [`super::RateLimiter`].
pub(crate) struct RedisGcra {
    pub(crate) redis: Redis,
    script: Script,
    /// The leases of large limits, by key.
    leases: Mutex<Leases>,
}

impl RedisGcra {
    pub(crate) fn new(redis: Redis) -> Self {
        RedisGcra {
            script: Script {
                redis: redis.clone(),
                sha: Arc::default(),
            },
            redis,
            leases: Mutex::default(),
        }
    }

    /// Counts one request of `subject` in `group` on Redis (or, for a large limit, from
    /// this node's lease of it): `Ok(Err(wait))` when it is refused; `Err` when Redis did
    /// not answer (the caller falls back).
    pub(crate) async fn check(
        &self,
        group: Group,
        limit: Limit,
        subject: &Subject,
    ) -> Result<std::result::Result<(), Duration>> {
        let size = lease_size(limit);
        if size == 1 {
            let taken = self.script.take(group, limit, subject, 1).await?;
            return Ok(taken.map(|_| ()));
        }
        let entry = {
            let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
            leases
                .entry((group, *subject))
                .or_insert_with(|| {
                    Arc::new(Entry {
                        lease: Mutex::new(Lease::new(limit)),
                        gate: tokio::sync::Mutex::new(()),
                    })
                })
                .clone()
        };
        match entry.spend(limit, size, Instant::now()) {
            Some(Ok(refill)) => {
                if refill {
                    self.refill(entry, group, limit, *subject, size);
                }
                return Ok(Ok(()));
            }
            Some(Err(wait)) => return Ok(Err(wait)),
            None => {}
        }
        // Spent: one request takes the next lease, the others wait for it.
        let _gate = entry.gate.lock().await;
        if let Some(spent) = entry.spend(limit, size, Instant::now()) {
            return Ok(spent.map(drop));
        }
        let taken = self.script.take(group, limit, subject, size).await?;
        let mut lease = entry.lease();
        lease.add(taken, Instant::now());
        Ok(match taken {
            Ok(_) => {
                lease.left -= 1;
                Ok(())
            }
            Err(wait) => Err(wait),
        })
    }

    /// Takes the next lease of `subject` in the background; a failure is left to the
    /// next request that finds the lease spent.
    fn refill(&self, entry: Arc<Entry>, group: Group, limit: Limit, subject: Subject, size: u32) {
        let script = self.script.clone();
        tokio::spawn(async move {
            let taken = script.take(group, limit, &subject, size).await;
            let mut lease = entry.lease();
            lease.refilling = false;
            if let Ok(taken) = taken
                && lease.limit == limit
            {
                lease.add(taken, Instant::now());
            }
        });
    }

    /// Drops the leases spent or run out and the refusals over (with the in-process
    /// keys, every [`CLEAN_EVERY`](super::CLEAN_EVERY)).
    pub(crate) fn retain_recent(&self) {
        let now = Instant::now();
        let mut leases = self.leases.lock().unwrap_or_else(|e| e.into_inner());
        leases.retain(|_, entry| {
            let lease = entry.lease();
            (lease.left > 0 && now < lease.until)
                || lease.refused_until.is_some_and(|until| now < until)
                || lease.refilling
                || Arc::strong_count(entry) > 1
        });
        leases.shrink_to_fit();
    }

    /// How many keys hold a lease or a refusal.
    pub(crate) fn leases(&self) -> usize {
        self.leases.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

impl Script {
    /// Takes up to `want` requests' worth of `subject`'s budget in `group` on Redis:
    /// `Ok(Ok(granted))`, at least 1, or `Ok(Err(wait))` when there is none now.
    async fn take(
        &self,
        group: Group,
        limit: Limit,
        subject: &Subject,
        want: u32,
    ) -> Result<std::result::Result<u32, Duration>> {
        let client = self.redis.client();
        let key = self.redis.key(&format!("rl:{group}:{subject}"));
        let args: Vec<Value> = vec![
            i64::from(limit.count()).into(),
            i64::from(limit.count()).into(),
            i64::try_from(limit.period_secs())
                .unwrap_or(i64::MAX)
                .into(),
            i64::from(want.max(1)).into(),
        ];
        let sha = self
            .sha
            .get_or_try_init(|| async {
                client
                    .script_load::<String, _>(GCRA)
                    .await
                    .map_err(redis_err)
            })
            .await?;
        let answer: Value = match client
            .evalsha::<Value, _, _, _>(sha.as_str(), key.as_str(), args.clone())
            .await
        {
            Err(error) if error.details().starts_with("NOSCRIPT") => client
                .eval::<Value, _, _, _>(GCRA, key.as_str(), args)
                .await
                .map_err(redis_err)?,
            other => other.map_err(redis_err)?,
        };
        decode(answer, want)
    }
}

/// The script's answer: `Ok(granted)` (1 to `want`) when allowed, else the wait.
fn decode(answer: Value, want: u32) -> Result<std::result::Result<u32, Duration>> {
    let bad = || Error::internal("Redis: the rate limit script answered something unexpected");
    let fields = answer.into_array();
    let granted = fields.first().and_then(Value::as_i64).ok_or_else(bad)?;
    if granted > 0 {
        let granted = u32::try_from(granted).map_err(|_| bad())?;
        return Ok(Ok(granted.min(want.max(1))));
    }
    let retry_after = fields
        .get(2)
        .and_then(|v| v.as_str().and_then(|s| s.parse::<f64>().ok()))
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(bad)?;
    Ok(Err(Duration::from_secs_f64(retry_after.min(1e9))))
}
