//! The configuration reloaded on SIGHUP.
//!
//! The server re-reads what it started from: the `--config` / `SPV_CONFIG` TOML file,
//! under the environment of the process (which cannot change from outside, and still
//! wins over the file) and the flags. A file that does not parse or validate is refused
//! with a logged reason, and the running configuration stays. Otherwise the settings of
//! [`RELOADABLE`] take effect at once (new connections take the connection settings;
//! open ones keep theirs), and every other setting that differs is logged by name as
//! needing a restart.

use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use spv::config::Config;
use spv::ratelimit::RateLimiter;

use crate::conn::ConnSettings;
use crate::layers::App;

/// The settings a reload changes (`Config` field names); the others need a restart.
pub const RELOADABLE: &[&str] = &[
    "header_timeout_secs",
    "idle_timeout_secs",
    "max_connection_age_secs",
    "body_min_rate_bytes",
    "body_rate_grace_secs",
    "max_connections",
    "max_connections_per_ip",
    "allowed_hosts",
    "blocked_user_agents",
    "heavy_hitter_percent",
    "heavy_hitter_window_secs",
    "heavy_hitter_min_requests",
    "heavy_hitter_block_secs",
    "maintenance",
    "maintenance_retry_after_secs",
    "hsts_max_age_secs",
    "rate_limits",
    "cors_origins",
    "request_timeout_secs",
    "rust_log",
];

/// Copies the [`RELOADABLE`] settings of `from` into `into`.
fn take_reloadable(into: &mut Config, from: &Config) {
    into.header_timeout_secs = from.header_timeout_secs;
    into.idle_timeout_secs = from.idle_timeout_secs;
    into.max_connection_age_secs = from.max_connection_age_secs;
    into.body_min_rate_bytes = from.body_min_rate_bytes;
    into.body_rate_grace_secs = from.body_rate_grace_secs;
    into.max_connections = from.max_connections;
    into.max_connections_per_ip = from.max_connections_per_ip;
    into.allowed_hosts = from.allowed_hosts.clone();
    into.blocked_user_agents = from.blocked_user_agents.clone();
    into.heavy_hitter_percent = from.heavy_hitter_percent;
    into.heavy_hitter_window_secs = from.heavy_hitter_window_secs;
    into.heavy_hitter_min_requests = from.heavy_hitter_min_requests;
    into.heavy_hitter_block_secs = from.heavy_hitter_block_secs;
    into.maintenance = from.maintenance;
    into.maintenance_retry_after_secs = from.maintenance_retry_after_secs;
    into.hsts_max_age_secs = from.hsts_max_age_secs;
    into.rate_limits = from.rate_limits;
    into.cors_origins = from.cors_origins.clone();
    into.request_timeout_secs = from.request_timeout_secs;
    into.rust_log = from.rust_log.clone();
}

/// The names of the settings that differ between `old` and `new`: (reloadable, needing
/// a restart). Values are never shown (some are secrets).
pub fn differences(old: &Config, new: &Config) -> (Vec<String>, Vec<String>) {
    let as_map = |config: &Config| match serde_json::to_value(config) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (old, new) = (as_map(old), as_map(new));
    let mut names: Vec<&String> = old.keys().chain(new.keys()).collect();
    names.sort();
    names.dedup();
    let mut reloadable = Vec::new();
    let mut restart = Vec::new();
    for name in names {
        if old.get(name) != new.get(name) {
            if RELOADABLE.contains(&name.as_str()) {
                reloadable.push(name.clone());
            } else {
                restart.push(name.clone());
            }
        }
    }
    (reloadable, restart)
}

/// What a reload changes in the running server.
pub(crate) struct Running {
    /// The configuration in effect (the start's, with the reloaded settings).
    config: Mutex<Config>,
    app: App,
    conn: Arc<ArcSwap<ConnSettings>>,
    rate_limiter: RateLimiter,
}

impl Running {
    pub(crate) fn new(
        config: Config,
        app: App,
        conn: Arc<ArcSwap<ConnSettings>>,
        rate_limiter: RateLimiter,
    ) -> Running {
        Running {
            config: Mutex::new(config),
            app,
            conn,
            rate_limiter,
        }
    }

    /// Applies `new` (a validated configuration): the reloadable settings take effect,
    /// the others are named in a warning. Refused (logged, nothing changed) when its log
    /// filter is not valid.
    pub(crate) fn apply(&self, new: Config) {
        let mut running = self.config.lock().unwrap_or_else(|e| e.into_inner());
        let (changed, restart) = differences(&running, &new);
        if let Err(error) = crate::check_log_filter(&new.rust_log) {
            tracing::error!(
                %error,
                "configuration reload refused: RUST_LOG / rust_log is not a valid filter; the running configuration stays"
            );
            return;
        }
        for name in &restart {
            tracing::warn!(
                setting = %name,
                "configuration reload: this setting changed but takes effect only after a restart; the running value stays"
            );
        }
        let mut effective = running.clone();
        take_reloadable(&mut effective, &new);
        if effective.rust_log != running.rust_log {
            crate::set_log_filter(&effective.rust_log);
        }
        self.conn.store(Arc::new(ConnSettings::new(&effective)));
        self.app.reload(&effective);
        if effective.rate_limits != running.rate_limits {
            self.rate_limiter.set_limits(effective.rate_limits);
        }
        *running = effective;
        tracing::info!(
            changed = %changed.join(","),
            maintenance = running.maintenance,
            "configuration reloaded"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_named_and_sorted_into_reloadable_and_restart() {
        let old = Config::default();
        let mut new = old.clone();
        new.maintenance = true;
        new.cors_origins = vec!["https://a.example".into()];
        new.bind_addr = "127.0.0.1:1".parse().unwrap();
        new.jwt_secret = Some("secret".into());
        let (reloadable, restart) = differences(&old, &new);
        assert_eq!(reloadable, ["cors_origins", "maintenance"]);
        assert_eq!(restart, ["bind_addr", "jwt_secret"]);
        let mut copy = old.clone();
        take_reloadable(&mut copy, &new);
        assert!(copy.maintenance);
        assert_eq!(copy.bind_addr, old.bind_addr, "not reloadable");
    }

    #[test]
    fn every_reloadable_name_is_a_config_field() {
        let serde_json::Value::Object(map) = serde_json::to_value(Config::default()).unwrap()
        else {
            panic!("an object")
        };
        for name in RELOADABLE {
            assert!(map.contains_key(*name), "{name}");
        }
    }
}
