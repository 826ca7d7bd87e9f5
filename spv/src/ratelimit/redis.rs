//! The GCRA shared by every node: one Lua script on Redis, as `go-redis/redis_rate`
//! runs it (after Pavel Pravosud's `redis-gcra`), so a limit of N holds across all nodes.
//!
//! One round trip per check: `EVALSHA` of the script loaded once per process; a Redis
//! that lost its script cache (a restart) answers `NOSCRIPT`, and the check runs as
//! `EVAL`, which loads it again.

use std::time::Duration;

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

/// `KEYS[1]`: the key; `ARGV`: burst, rate, period (s), cost. Answers `{allowed,
/// remaining, retry_after, reset_after}` (the last two in seconds, as text), as
/// redis_rate's `allowN`. The time is Redis's own (`TIME`), so the nodes' clocks do not
/// matter. Redis 5 and later replicate the script's effects, so no
/// `redis.replicate_commands()`.
pub(crate) const GCRA: &str = r#"
local key = KEYS[1]
local burst = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local period = tonumber(ARGV[3])
local cost = tonumber(ARGV[4])

local emission_interval = period / rate
local increment = emission_interval * cost
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

local new_tat = tat + increment
local allow_at = new_tat - burst_offset
local diff = now - allow_at
local remaining = diff / emission_interval

if remaining < 0 then
  return {0, 0, tostring(-diff), tostring(tat - now)}
end

local reset_after = new_tat - now
if reset_after > 0 then
  redis.call("SET", key, tostring(new_tat), "EX", math.ceil(reset_after))
end
return {cost, remaining, "-1", tostring(reset_after)}
"#;

/// The Redis side of a [`super::RateLimiter`].
pub(crate) struct RedisGcra {
    pub(crate) redis: Redis,
    /// The script's SHA-1, from `SCRIPT LOAD` on first use.
    sha: OnceCell<String>,
}

impl RedisGcra {
    pub(crate) fn new(redis: Redis) -> Self {
        RedisGcra {
            redis,
            sha: OnceCell::new(),
        }
    }

    /// Counts one request of `subject` in `group` on Redis: `Ok(Err(wait))` when it is
    /// refused; `Err` when Redis did not answer (the caller falls back).
    pub(crate) async fn check(
        &self,
        group: Group,
        limit: Limit,
        subject: &Subject,
    ) -> Result<std::result::Result<(), Duration>> {
        let client = self.redis.client();
        let key = self.redis.key(&format!("rl:{group}:{subject}"));
        let args: Vec<Value> = vec![
            i64::from(limit.count()).into(),
            i64::from(limit.count()).into(),
            i64::try_from(limit.period_secs())
                .unwrap_or(i64::MAX)
                .into(),
            1i64.into(),
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
        decode(answer)
    }
}

/// The script's answer: `Ok(())` when allowed, else the wait.
fn decode(answer: Value) -> Result<std::result::Result<(), Duration>> {
    let bad = || Error::internal("Redis: the rate limit script answered something unexpected");
    let fields = answer.into_array();
    let allowed = fields.first().and_then(Value::as_i64).ok_or_else(bad)?;
    if allowed > 0 {
        return Ok(Ok(()));
    }
    let retry_after = fields
        .get(2)
        .and_then(|v| v.as_str().and_then(|s| s.parse::<f64>().ok()))
        .filter(|s| s.is_finite() && *s >= 0.0)
        .ok_or_else(bad)?;
    Ok(Err(Duration::from_secs_f64(retry_after.min(1e9))))
}
