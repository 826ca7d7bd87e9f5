//! `SPV_BLOCKED_USER_AGENTS`: regular expressions of the `User-Agent`s refused.

use std::fmt;
use std::str::FromStr;

use regex::{RegexSet, RegexSetBuilder};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{Error, Result};

/// The most patterns of `SPV_BLOCKED_USER_AGENTS`.
pub const MAX_USER_AGENT_PATTERNS: usize = 100;

/// The longest pattern, in bytes.
const MAX_PATTERN_LEN: usize = 1000;

/// The most memory the compiled patterns may take (the regex crate's size limit).
const SIZE_LIMIT: usize = 4 << 20;

const VAR: &str = "SPV_BLOCKED_USER_AGENTS";

/// `User-Agent`s refused with 403: one regular expression per line (`regex` crate
/// syntax, unanchored: `(?i)sqlmap` matches anywhere, `^$` matches a missing or empty
/// one). A single line may hold alternatives (`(?i)sqlmap|nikto|masscan`). Empty: none
/// refused.
#[derive(Clone, Default)]
pub struct UserAgentBlocklist {
    patterns: Vec<String>,
    set: Option<RegexSet>,
}

impl UserAgentBlocklist {
    /// Whether no pattern is set.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether `user_agent` (empty when the request has none) is refused.
    pub fn blocks(&self, user_agent: &str) -> bool {
        self.set
            .as_ref()
            .is_some_and(|set| set.is_match(user_agent))
    }
}

impl fmt::Debug for UserAgentBlocklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.patterns).finish()
    }
}

impl PartialEq for UserAgentBlocklist {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl FromStr for UserAgentBlocklist {
    type Err = Error;

    fn from_str(text: &str) -> Result<UserAgentBlocklist> {
        let patterns: Vec<String> = text
            .lines()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(str::to_owned)
            .collect();
        if patterns.len() > MAX_USER_AGENT_PATTERNS {
            return Err(Error::invalid_request(format!(
                "{VAR}: {} patterns; expected at most {MAX_USER_AGENT_PATTERNS}",
                patterns.len()
            )));
        }
        if let Some(long) = patterns.iter().find(|p| p.len() > MAX_PATTERN_LEN) {
            return Err(Error::invalid_request(format!(
                "{VAR}: a pattern of {} bytes; expected at most {MAX_PATTERN_LEN}",
                long.len()
            )));
        }
        if patterns.is_empty() {
            return Ok(UserAgentBlocklist::default());
        }
        // Each pattern alone first, so the error names the one that is wrong.
        for pattern in &patterns {
            RegexSetBuilder::new([pattern])
                .size_limit(SIZE_LIMIT)
                .build()
                .map_err(|e| {
                    Error::invalid_request(format!(
                        "{VAR}: {pattern:?} is not a valid regular expression: {}",
                        first_line(&e.to_string())
                    ))
                })?;
        }
        let set = RegexSetBuilder::new(&patterns)
            .size_limit(SIZE_LIMIT)
            .dfa_size_limit(SIZE_LIMIT)
            .build()
            .map_err(|e| {
                Error::invalid_request(format!(
                    "{VAR}: the patterns together are too large: {}",
                    first_line(&e.to_string())
                ))
            })?;
        Ok(UserAgentBlocklist {
            patterns,
            set: Some(set),
        })
    }
}

fn first_line(text: &str) -> String {
    text.lines()
        .rfind(|l| !l.trim().is_empty())
        .unwrap_or(text)
        .trim()
        .to_owned()
}

impl fmt::Display for UserAgentBlocklist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.patterns.join("\n"))
    }
}

impl Serialize for UserAgentBlocklist {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for UserAgentBlocklist {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_patterns_and_an_empty_agent_can_be_refused() {
        let list: UserAgentBlocklist = "(?i)sqlmap|nikto\n\n  ^$  \ncurl/7\\.".parse().unwrap();
        assert!(list.blocks("SQLMap/1.7 (https://sqlmap.org)"));
        assert!(list.blocks("Mozilla/5.0 Nikto"));
        assert!(list.blocks(""));
        assert!(list.blocks("curl/7.88"));
        assert!(!list.blocks("curl/8.1"));
        assert!(!list.blocks("Mozilla/5.0"));
        assert_eq!(list.to_string(), "(?i)sqlmap|nikto\n^$\ncurl/7\\.");
        assert!(!UserAgentBlocklist::default().blocks(""));
    }

    #[test]
    fn a_bad_pattern_is_named() {
        let err = "ok\n(unclosed".parse::<UserAgentBlocklist>().unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("SPV_BLOCKED_USER_AGENTS: \"(unclosed\""),
            "{text}"
        );
        let huge = "a{1000}{1000}".parse::<UserAgentBlocklist>().unwrap_err();
        assert!(
            huge.to_string().contains("SPV_BLOCKED_USER_AGENTS"),
            "{huge}"
        );
    }
}
