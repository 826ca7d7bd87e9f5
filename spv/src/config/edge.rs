//! The variables of the connection limits and guards (issue 15), apart from the
//! others so that [`super::Config::set_var`] stays readable.

use super::{Config, MAX_WAIT_SECS, bad, parse, parse_bool};
use crate::Result;

/// Sets one variable of the edge by its environment name; unknown names are ignored.
pub(super) fn set_var(config: &mut Config, name: &str, value: &str) -> Result<()> {
    match name {
        "SPV_HEADER_TIMEOUT_SECS" => {
            config.header_timeout_secs = parse(name, value, "a number of seconds from 1")?
        }
        "SPV_IDLE_TIMEOUT_SECS" => {
            config.idle_timeout_secs = parse(name, value, "a number of seconds from 1")?
        }
        "SPV_MAX_CONNECTION_AGE_SECS" => {
            config.max_connection_age_secs = parse(name, value, "a number of seconds (0: none)")?
        }
        "SPV_BODY_MIN_RATE_BYTES" => {
            config.body_min_rate_bytes =
                parse(name, value, "a number of bytes per second (0: none)")?
        }
        "SPV_BODY_RATE_GRACE_SECS" => {
            config.body_rate_grace_secs = parse(name, value, "a number of seconds")?
        }
        "SPV_MAX_CONNECTIONS" => {
            config.max_connections = parse(name, value, "a number of connections from 1")?
        }
        "SPV_MAX_CONNECTIONS_PER_IP" => {
            config.max_connections_per_ip =
                parse(name, value, "a number of connections (0: no cap)")?
        }
        "SPV_ALLOWED_HOSTS" => config.allowed_hosts = value.parse()?,
        "SPV_BLOCKED_USER_AGENTS" => config.blocked_user_agents = value.parse()?,
        "SPV_HEAVY_HITTER_PERCENT" => {
            config.heavy_hitter_percent = parse(name, value, "a percentage, 0 (off) to 100")?
        }
        "SPV_HEAVY_HITTER_WINDOW_SECS" => {
            config.heavy_hitter_window_secs = parse(name, value, "a number of seconds from 1")?
        }
        "SPV_HEAVY_HITTER_MIN_REQUESTS" => {
            config.heavy_hitter_min_requests = parse(name, value, "a number of requests")?
        }
        "SPV_HEAVY_HITTER_BLOCK_SECS" => {
            config.heavy_hitter_block_secs = parse(name, value, "a number of seconds from 1")?
        }
        "SPV_MAINTENANCE" => config.maintenance = parse_bool(name, value)?,
        "SPV_MAINTENANCE_RETRY_AFTER_SECS" => {
            config.maintenance_retry_after_secs = parse(name, value, "a number of seconds")?
        }
        "SPV_HSTS_MAX_AGE_SECS" => {
            config.hsts_max_age_secs = parse(name, value, "a number of seconds (0: no header)")?
        }
        _ => {}
    }
    Ok(())
}

/// The rules of the edge's fields.
pub(super) fn validate(config: &Config) -> Result<()> {
    let positive = [
        ("SPV_HEADER_TIMEOUT_SECS", config.header_timeout_secs),
        ("SPV_IDLE_TIMEOUT_SECS", config.idle_timeout_secs),
        ("SPV_MAX_CONNECTIONS", config.max_connections as u64),
        (
            "SPV_HEAVY_HITTER_WINDOW_SECS",
            config.heavy_hitter_window_secs,
        ),
        (
            "SPV_HEAVY_HITTER_BLOCK_SECS",
            config.heavy_hitter_block_secs,
        ),
    ];
    for (name, value) in positive {
        if value == 0 {
            return Err(bad(name, "0", "a number from 1"));
        }
    }
    let capped = [
        ("SPV_HEADER_TIMEOUT_SECS", config.header_timeout_secs),
        ("SPV_IDLE_TIMEOUT_SECS", config.idle_timeout_secs),
        (
            "SPV_MAX_CONNECTION_AGE_SECS",
            config.max_connection_age_secs,
        ),
        ("SPV_BODY_RATE_GRACE_SECS", config.body_rate_grace_secs),
        (
            "SPV_HEAVY_HITTER_WINDOW_SECS",
            config.heavy_hitter_window_secs,
        ),
        (
            "SPV_HEAVY_HITTER_BLOCK_SECS",
            config.heavy_hitter_block_secs,
        ),
        (
            "SPV_MAINTENANCE_RETRY_AFTER_SECS",
            config.maintenance_retry_after_secs,
        ),
    ];
    for (name, value) in capped {
        if value > MAX_WAIT_SECS {
            return Err(bad(
                name,
                &value.to_string(),
                &format!("at most {MAX_WAIT_SECS} seconds (a day)"),
            ));
        }
    }
    if config.heavy_hitter_percent > 100 {
        return Err(bad(
            "SPV_HEAVY_HITTER_PERCENT",
            &config.heavy_hitter_percent.to_string(),
            "a percentage, 0 (off) to 100",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Result<Config> {
        Config::from_env_map(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn edge_variables_are_read_and_bad_ones_named() {
        let config = env(&[
            ("SPV_HEADER_TIMEOUT_SECS", "3"),
            ("SPV_MAX_CONNECTIONS", "50"),
            ("SPV_MAX_CONNECTIONS_PER_IP", "0"),
            ("SPV_ALLOWED_HOSTS", "*.example.com"),
            ("SPV_BLOCKED_USER_AGENTS", "(?i)sqlmap"),
            ("SPV_HEAVY_HITTER_PERCENT", "40"),
            ("SPV_MAINTENANCE", "on"),
        ])
        .unwrap();
        assert_eq!(config.header_timeout_secs, 3);
        assert_eq!(config.max_connections, 50);
        assert_eq!(config.max_connections_per_ip, 0);
        assert!(config.allowed_hosts.allows("a.example.com"));
        assert!(config.blocked_user_agents.blocks("sqlmap"));
        assert_eq!(config.heavy_hitter_percent, 40);
        assert!(config.maintenance);
        for (name, value) in [
            ("SPV_HEADER_TIMEOUT_SECS", "0"),
            ("SPV_IDLE_TIMEOUT_SECS", "soon"),
            ("SPV_MAX_CONNECTIONS", "0"),
            ("SPV_HEAVY_HITTER_PERCENT", "101"),
            ("SPV_MAINTENANCE", "maybe"),
            ("SPV_BLOCKED_USER_AGENTS", "(x"),
            ("SPV_ALLOWED_HOSTS", "a b"),
            ("SPV_MAX_CONNECTION_AGE_SECS", "999999999"),
        ] {
            let err = env(&[(name, value)]).unwrap_err().to_string();
            assert!(err.starts_with(name), "{name}={value}: {err}");
        }
    }

    #[test]
    fn the_toml_file_takes_the_same_text() {
        let config = Config::from_toml_str(
            "maintenance = true\nallowed_hosts = \"spv.example.com, *.cdn.example.com\"\n\
             blocked_user_agents = \"\"\"\nsqlmap\n^$\n\"\"\"\nmax_connections_per_ip = 4\n",
        )
        .unwrap();
        assert!(config.maintenance);
        assert!(config.allowed_hosts.allows("x.cdn.example.com"));
        assert!(config.blocked_user_agents.blocks(""));
        assert_eq!(config.max_connections_per_ip, 4);
        let err = Config::from_toml_str("blocked_user_agents = \"(x\"\n").unwrap_err();
        assert!(err.to_string().contains("SPV_BLOCKED_USER_AGENTS"), "{err}");
    }
}
