//! Guards at the edge (feature `store`): who may connect and which requests are turned
//! away before any route runs. Pure and synchronous; `spv-server` applies them.
//!
//! | item | what it is |
//! |---|---|
//! | [`HostAllowlist`] | `SPV_ALLOWED_HOSTS`: the `Host` names served, `*.example.com` for any subdomain |
//! | [`UserAgentBlocklist`] | `SPV_BLOCKED_USER_AGENTS`: regular expressions of refused `User-Agent`s |
//! | [`HeavyHitters`], [`HeavyHitterPolicy`] | dynamic blocking of a client that sends a disproportionate share of the traffic (a Space-Saving top-k sketch over a sliding window) |
//! | [`EdgeStats`], [`Refused`], [`Closed`], [`Blocked`] | the counters of connections and guards, read by the metrics at each scrape |
//!
//! ```
//! use spv::guard::{HostAllowlist, UserAgentBlocklist};
//!
//! let hosts: HostAllowlist = "spv.example.com, *.cdn.example.com".parse().unwrap();
//! assert!(hosts.allows("spv.example.com:443"));
//! assert!(hosts.allows("eu.cdn.example.com"));
//! assert!(!hosts.allows("cdn.example.com"));
//! assert!(!hosts.allows("evil.example"));
//!
//! let agents: UserAgentBlocklist = "(?i)sqlmap|nikto".parse().unwrap();
//! assert!(agents.blocks("sqlmap/1.7"));
//! assert!(!agents.blocks("Mozilla/5.0"));
//! ```

mod agents;
mod hosts;
mod sketch;
mod stats;

pub use agents::{MAX_USER_AGENT_PATTERNS, UserAgentBlocklist};
pub use hosts::{HostAllowlist, MAX_ALLOWED_HOSTS};
pub use sketch::{HeavyHitterPolicy, HeavyHitters, SKETCH_CAPACITY};
pub use stats::{Blocked, Closed, EdgeStats, Refused};
