//! `SPV_ALLOWED_HOSTS`: the names a request's `Host` (or HTTP/2 `:authority`) may carry.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// The most entries of `SPV_ALLOWED_HOSTS` (each request walks them).
pub const MAX_ALLOWED_HOSTS: usize = 256;

const VAR: &str = "SPV_ALLOWED_HOSTS";

/// The host names served: exact names (`spv.example.com`, `127.0.0.1`, `[::1]`) and
/// wildcards (`*.example.com`: any subdomain, at any depth, but not `example.com`
/// itself). Empty: every host. Compared without the port, case-insensitively, a
/// trailing dot ignored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostAllowlist {
    /// Lowercase names; a wildcard is stored as its suffix with the dot (`.example.com`).
    entries: Vec<String>,
}

impl HostAllowlist {
    /// Whether every host is allowed (no list).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Whether `host` (a `Host` value, perhaps with a port) is allowed.
    pub fn allows(&self, host: &str) -> bool {
        if self.entries.is_empty() {
            return true;
        }
        let name = strip_port(host.trim());
        let name = name.strip_suffix('.').unwrap_or(name);
        self.entries
            .iter()
            .any(|entry| match entry.strip_prefix('.') {
                Some(_) => {
                    name.len() > entry.len()
                        && name.is_char_boundary(name.len() - entry.len())
                        && name[name.len() - entry.len()..].eq_ignore_ascii_case(entry)
                }
                None => name.eq_ignore_ascii_case(entry),
            })
    }
}

/// `host` without `:port` (an IPv6 literal keeps its brackets).
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(end) => &host[..=end],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

impl FromStr for HostAllowlist {
    type Err = Error;

    fn from_str(text: &str) -> Result<HostAllowlist> {
        let mut entries = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let lower = part.to_ascii_lowercase();
            let (wildcard, name) = match lower.strip_prefix("*.") {
                Some(rest) => (true, rest),
                None => (false, lower.as_str()),
            };
            let name = name.strip_suffix('.').unwrap_or(name);
            let literal6 = name.starts_with('[') && name.ends_with(']');
            let valid = !name.is_empty()
                && name.len() <= 253
                && (literal6 && !wildcard
                    || name
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
            if !valid {
                return Err(Error::invalid_request(format!(
                    "{VAR}: {part:?} is not valid; expected a host name such as spv.example.com, \
                     a wildcard such as *.example.com, or an address"
                )));
            }
            entries.push(if wildcard {
                format!(".{name}")
            } else {
                name.to_owned()
            });
        }
        if entries.len() > MAX_ALLOWED_HOSTS {
            return Err(Error::invalid_request(format!(
                "{VAR}: {} entries; expected at most {MAX_ALLOWED_HOSTS}",
                entries.len()
            )));
        }
        Ok(HostAllowlist { entries })
    }
}

impl fmt::Display for HostAllowlist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, entry) in self.entries.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if entry.starts_with('.') {
                f.write_str("*")?;
            }
            f.write_str(entry)?;
        }
        Ok(())
    }
}

impl Serialize for HostAllowlist {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HostAllowlist {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_names_wildcards_ports_and_case() {
        let list: HostAllowlist = "Spv.Example.com., *.example.net, 127.0.0.1, [::1]"
            .parse()
            .unwrap();
        for ok in [
            "spv.example.com",
            "SPV.example.COM:8443",
            "spv.example.com.",
            "a.example.net",
            "a.b.example.net:80",
            "127.0.0.1:3000",
            "[::1]:3000",
            "[::1]",
        ] {
            assert!(list.allows(ok), "{ok} is allowed");
        }
        for refused in [
            "example.net",
            "xexample.net",
            "spv.example.com.evil",
            "evil.com",
            "",
            "127.0.0.2",
            "[::2]",
        ] {
            assert!(!list.allows(refused), "{refused} is refused");
        }
        assert_eq!(
            list.to_string(),
            "spv.example.com,*.example.net,127.0.0.1,[::1]"
        );
        assert!(HostAllowlist::default().allows("anything"));
    }

    #[test]
    fn bad_entries_are_named() {
        for bad in ["*", "a/b", "*.[::1]", "ex ample.com", "*."] {
            let err = bad.parse::<HostAllowlist>().unwrap_err().to_string();
            assert!(err.starts_with("SPV_ALLOWED_HOSTS:"), "{bad}: {err}");
        }
        let many = vec!["a.example"; MAX_ALLOWED_HOSTS + 1].join(",");
        assert!(many.parse::<HostAllowlist>().is_err());
    }
}
