//! The policy: [`Group`], [`Limit`], [`RateLimits`] (`SPV_RATE_LIMITS`) and
//! [`TrustedProxies`] (`SPV_TRUSTED_PROXIES`), with their parsers. Pure, no I/O.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// The variable [`RateLimits`] is read from; errors name it.
pub const RATE_LIMITS_VAR: &str = "SPV_RATE_LIMITS";
/// The variable [`TrustedProxies`] is read from; errors name it.
pub const TRUSTED_PROXIES_VAR: &str = "SPV_TRUSTED_PROXIES";

/// The most requests one limit may name (a billion).
pub const MAX_COUNT: u32 = 1_000_000_000;
/// The longest period one limit may name (a day).
pub const MAX_PERIOD_SECS: u64 = 86_400;

/// What a request is counted as; each group has its own limit and its own keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Group {
    /// `POST /api/v1/auth/token` (every grant) and every credential check that fails:
    /// keyed by client IP, and for password grants also by user name.
    Auth,
    /// Requests without a credential, keyed by client IP.
    Anonymous,
    /// Requests with a valid credential, keyed by user.
    Api,
    /// Work that renders (`POST /api/v1/thumbnails`, thumbnail cache misses, job
    /// enqueues), keyed by user, or by client IP for anonymous callers.
    Render,
}

impl Group {
    /// Every group, in the order of [`Group::index`].
    pub const ALL: [Group; 4] = [Group::Auth, Group::Anonymous, Group::Api, Group::Render];

    /// The group's name as `SPV_RATE_LIMITS` and the headers spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Group::Auth => "auth",
            Group::Anonymous => "anonymous",
            Group::Api => "api",
            Group::Render => "render",
        }
    }

    /// The position of the group in [`Group::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    fn from_name(name: &str) -> Option<Group> {
        Group::ALL.into_iter().find(|g| g.as_str() == name)
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `count` requests per `period`, as a GCRA: a burst of up to `count` at once, then one
/// every `period / count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Limit {
    count: u32,
    period_secs: u64,
}

impl Limit {
    /// `count` requests per `period_secs` seconds: `None` unless `count` is 1 to
    /// [`MAX_COUNT`] and `period_secs` 1 to [`MAX_PERIOD_SECS`].
    pub fn new(count: u32, period_secs: u64) -> Option<Limit> {
        ((1..=MAX_COUNT).contains(&count) && (1..=MAX_PERIOD_SECS).contains(&period_secs))
            .then_some(Limit { count, period_secs })
    }

    /// How many requests a period allows (also the largest burst).
    pub fn count(self) -> u32 {
        self.count
    }

    /// The period in whole seconds (the `w` of `RateLimit-Policy`).
    pub fn period_secs(self) -> u64 {
        self.period_secs
    }

    /// The period.
    pub fn period(self) -> Duration {
        Duration::from_secs(self.period_secs)
    }

    /// The time one request's share of the period takes to come back.
    pub fn emission_interval(self) -> Duration {
        self.period() / self.count
    }
}

impl fmt::Display for Limit {
    /// `10/1m`: the largest unit that divides the period.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.period_secs;
        let (n, unit) = if s.is_multiple_of(3600) {
            (s / 3600, 'h')
        } else if s.is_multiple_of(60) {
            (s / 60, 'm')
        } else {
            (s, 's')
        };
        write!(f, "{}/{n}{unit}", self.count)
    }
}

impl FromStr for Limit {
    type Err = String;

    /// `N/period`, where the period is `s`, `m` or `h`, optionally with a number before
    /// it (`10/1m`, `5/10s`); the error says what was expected.
    fn from_str(text: &str) -> std::result::Result<Limit, String> {
        const EXPECTED: &str =
            "N/period with N from 1 and a period s, m, h or one like 10s, 1m (at most a day)";
        let (count, period) = text.split_once('/').ok_or(EXPECTED)?;
        let count: u32 = count.trim().parse().map_err(|_| EXPECTED)?;
        let period = period.trim();
        // The last character, on a character boundary (a non-ASCII unit must not panic).
        let unit_at = period.char_indices().last().ok_or(EXPECTED)?.0;
        let (n, unit) = period.split_at(unit_at);
        let n: u64 = if n.is_empty() {
            1
        } else {
            n.parse().map_err(|_| EXPECTED)?
        };
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => return Err(EXPECTED.to_string()),
        };
        let secs = n.checked_mul(scale).ok_or(EXPECTED)?;
        Limit::new(count, secs).ok_or_else(|| EXPECTED.to_string())
    }
}

/// The limit of each [`Group`] (`None`: the group is off): `SPV_RATE_LIMITS` and the
/// TOML key `rate_limits`, written `auth=10/1m,anonymous=off`. Groups a value does not
/// name keep their defaults.
///
/// The defaults are generous on purpose: they stop floods and password guessing at
/// network speed without any client of a normal deployment (nor spv's own tests and load
/// benchmarks, which send tens of thousands of cached thumbnail requests a second from
/// one address) ever meeting them. A public deployment tightens them.
///
/// ```
/// use spv::ratelimit::{Group, RateLimits};
///
/// let limits: RateLimits = "auth=10/1m, render=off".parse().unwrap();
/// assert_eq!(limits.get(Group::Auth).unwrap().to_string(), "10/1m");
/// assert_eq!(limits.get(Group::Render), None);
/// assert_eq!(limits.get(Group::Api), RateLimits::default().get(Group::Api));
/// let err = "auth=10/1y".parse::<RateLimits>().unwrap_err();
/// assert!(err.to_string().contains("SPV_RATE_LIMITS") && err.to_string().contains("auth=10/1y"));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    limits: [Option<Limit>; 4],
}

impl Default for RateLimits {
    fn default() -> Self {
        let limit = |count, secs| Limit::new(count, secs);
        RateLimits {
            // Indexed as Group::ALL: auth, anonymous, api, render.
            limits: [
                limit(120, 60),
                limit(100_000, 1),
                limit(100_000, 1),
                limit(3_000, 60),
            ],
        }
    }
}

impl RateLimits {
    /// Every group off.
    pub fn off() -> Self {
        RateLimits { limits: [None; 4] }
    }

    /// The limit of `group`; `None` when it is off.
    pub fn get(&self, group: Group) -> Option<Limit> {
        self.limits[group.index()]
    }

    /// Sets the limit of `group` (`None`: off).
    pub fn set(&mut self, group: Group, limit: Option<Limit>) {
        self.limits[group.index()] = limit;
    }

    /// These limits changed by the parts of `text` (`group=N/period` or `group=off`,
    /// comma-separated); an error names [`RATE_LIMITS_VAR`] and the bad part.
    pub fn merged(mut self, text: &str) -> Result<RateLimits> {
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let bad = |expected: &str| {
                Error::invalid_request(format!(
                    "{RATE_LIMITS_VAR}: {part:?} is not valid; expected {expected}"
                ))
            };
            let (name, value) = part
                .split_once('=')
                .ok_or_else(|| bad("group=N/period or group=off"))?;
            let group = Group::from_name(&name.trim().to_ascii_lowercase())
                .ok_or_else(|| bad("a group auth, anonymous, api or render"))?;
            let value = value.trim();
            let limit = if value.eq_ignore_ascii_case("off") {
                None
            } else {
                Some(value.parse::<Limit>().map_err(|e| bad(&e))?)
            };
            self.set(group, limit);
        }
        Ok(self)
    }
}

impl FromStr for RateLimits {
    type Err = Error;

    /// The defaults changed by `text` (see [`RateLimits::merged`]).
    fn from_str(text: &str) -> Result<RateLimits> {
        RateLimits::default().merged(text)
    }
}

impl fmt::Display for RateLimits {
    /// Every group, `auth=120/1m,anonymous=off,...`: parses back to the same value.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, group) in Group::ALL.into_iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            match self.get(group) {
                Some(limit) => write!(f, "{group}={limit}")?,
                None => write!(f, "{group}=off")?,
            }
        }
        Ok(())
    }
}

impl Serialize for RateLimits {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateLimits {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The proxies whose `Forwarded` and `X-Forwarded-For` headers are believed
/// (`SPV_TRUSTED_PROXIES`: comma-separated CIDRs or addresses); empty by default, so the
/// client is the socket's peer.
///
/// ```
/// use spv::ratelimit::TrustedProxies;
///
/// let proxies: TrustedProxies = "10.0.0.0/8, ::1".parse().unwrap();
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
/// assert!("10.0.0.0/33".parse::<TrustedProxies>().unwrap_err().to_string().contains("SPV_TRUSTED_PROXIES"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<ipnet::IpNet>,
}

/// The most entries of `SPV_TRUSTED_PROXIES`: each request's check walks them.
pub const MAX_TRUSTED_PROXIES: usize = 64;

impl TrustedProxies {
    /// Whether `ip` is one of the trusted proxies.
    pub fn contains(&self, ip: std::net::IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|net| net.contains(&ip))
    }

    /// Whether there are none (the peer is always the client).
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }
}

impl FromStr for TrustedProxies {
    type Err = Error;

    fn from_str(text: &str) -> Result<TrustedProxies> {
        let mut nets = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = part
                .parse::<ipnet::IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    Error::invalid_request(format!(
                        "{TRUSTED_PROXIES_VAR}: {part:?} is not valid; expected a CIDR such as 10.0.0.0/8 or an address"
                    ))
                })?;
            nets.push(net.trunc());
        }
        if nets.len() > MAX_TRUSTED_PROXIES {
            return Err(Error::invalid_request(format!(
                "{TRUSTED_PROXIES_VAR}: {} entries; expected at most {MAX_TRUSTED_PROXIES}",
                nets.len()
            )));
        }
        Ok(TrustedProxies { nets })
    }
}

impl fmt::Display for TrustedProxies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, net) in self.nets.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{net}")?;
        }
        Ok(())
    }
}

impl Serialize for TrustedProxies {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TrustedProxies {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is (a dual-stack socket's peers).
pub(crate) fn canonical(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, std::net::IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_every_period_form() {
        for (text, count, secs) in [
            ("10/s", 10, 1),
            ("10/1s", 10, 1),
            ("5/10s", 5, 10),
            ("10/m", 10, 60),
            ("10/1m", 10, 60),
            ("6000/1h", 6000, 3600),
            (" 7 / 2m ", 7, 120),
            ("1/24h", 1, 86_400),
        ] {
            let limit: Limit = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(
                (limit.count(), limit.period_secs()),
                (count, secs),
                "{text}"
            );
        }
        for bad in [
            "",
            "10",
            "10/",
            "/m",
            "10/1é",
            "10/é",
            "0/m",
            "10/0s",
            "10/x",
            "10/1y",
            "-1/m",
            "10/25h",
            "1/m/s",
            "2000000000/s",
        ] {
            assert!(bad.parse::<Limit>().is_err(), "{bad:?} must be refused");
        }
        assert_eq!(Limit::new(10, 60).unwrap().to_string(), "10/1m");
        assert_eq!(Limit::new(10, 90).unwrap().to_string(), "10/90s");
        assert_eq!(Limit::new(3, 7200).unwrap().to_string(), "3/2h");
        assert_eq!(
            Limit::new(4, 60).unwrap().emission_interval(),
            Duration::from_secs(15)
        );
    }

    #[test]
    fn rate_limits_merge_over_the_defaults() {
        let limits: RateLimits = "auth=10/1m,anonymous=600/1m,api=6000/1m,render=600/1m"
            .parse()
            .unwrap();
        assert_eq!(
            limits.to_string(),
            "auth=10/1m,anonymous=600/1m,api=6000/1m,render=600/1m"
        );
        let limits: RateLimits = "Auth=off, ,render=5/s".parse().unwrap();
        assert_eq!(limits.get(Group::Auth), None);
        assert_eq!(limits.get(Group::Render), Limit::new(5, 1));
        let defaults = RateLimits::default();
        assert_eq!(limits.get(Group::Api), defaults.get(Group::Api));
        assert_eq!(limits.get(Group::Anonymous), defaults.get(Group::Anonymous));
        assert_eq!(
            RateLimits::default()
                .to_string()
                .parse::<RateLimits>()
                .unwrap(),
            RateLimits::default()
        );
        assert_eq!("".parse::<RateLimits>().unwrap(), RateLimits::default());
    }

    #[test]
    fn bad_rate_limits_name_the_variable_and_the_part() {
        for (text, part, expected) in [
            ("auth=10/1m,login=5/m", "login=5/m", "a group auth"),
            ("auth", "auth", "group=N/period"),
            ("api=ten/m", "api=ten/m", "N/period"),
            ("render=10/1y", "render=10/1y", "N/period"),
            ("anonymous=0/s", "anonymous=0/s", "N from 1"),
        ] {
            let err = text.parse::<RateLimits>().unwrap_err();
            let message = err.to_string();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidRequest);
            assert!(message.starts_with("SPV_RATE_LIMITS: "), "{message}");
            assert!(message.contains(&format!("{part:?}")), "{message}");
            assert!(message.contains(expected), "{message}");
        }
    }

    #[test]
    fn trusted_proxies_parse_cidrs_and_addresses() {
        let proxies: TrustedProxies = "10.0.0.0/8,192.168.1.7, fd00::/8".parse().unwrap();
        for (ip, trusted) in [
            ("10.255.0.1", true),
            ("192.168.1.7", true),
            ("192.168.1.8", false),
            ("fd12::1", true),
            ("::ffff:10.0.0.1", true),
            ("2001:db8::1", false),
        ] {
            assert_eq!(proxies.contains(ip.parse().unwrap()), trusted, "{ip}");
        }
        assert!("".parse::<TrustedProxies>().unwrap().is_empty());
        let err = "10.0.0.0/8,proxy.local"
            .parse::<TrustedProxies>()
            .unwrap_err();
        assert!(err.to_string().contains("\"proxy.local\""), "{err}");
        let many = vec!["10.0.0.1"; MAX_TRUSTED_PROXIES + 1].join(",");
        assert!(many.parse::<TrustedProxies>().is_err());
    }
}
