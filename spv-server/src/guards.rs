//! The guards every request passes before routing: the `Host` allowlist, the
//! `User-Agent` block list, dynamic blocking of heavy hitters and maintenance mode.
//! `/health`, `/ready` and `/metrics` pass them all: probes and scrapers are never
//! turned away (as the rate limits exempt them).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use spv::config::Config;
use spv::guard::{
    Blocked, EdgeStats, HeavyHitterPolicy, HeavyHitters, HostAllowlist, UserAgentBlocklist,
};
use spv::http::ApiError;
use spv::ratelimit::TrustedProxies;

/// The routes no guard refuses.
const EXEMPT: [&str; 3] = ["/health", "/ready", "/metrics"];

/// The guards of one configuration.
pub(crate) struct Guards {
    hosts: HostAllowlist,
    agents: UserAgentBlocklist,
    heavy: Option<Arc<HeavyHitters>>,
    trusted: TrustedProxies,
    /// `Retry-After` of maintenance answers; `None`: not in maintenance.
    maintenance: Option<u64>,
    stats: Arc<EdgeStats>,
}

impl Guards {
    /// The guards `config` asks for. The heavy-hitter counts of `previous` carry over
    /// when its policy did not change (a reload).
    pub(crate) fn new(config: &Config, stats: Arc<EdgeStats>, previous: Option<&Guards>) -> Guards {
        let heavy = (config.heavy_hitter_percent > 0).then(|| HeavyHitterPolicy {
            percent: config.heavy_hitter_percent,
            window: Duration::from_secs(config.heavy_hitter_window_secs),
            min_requests: config.heavy_hitter_min_requests,
            block: Duration::from_secs(config.heavy_hitter_block_secs),
        });
        let heavy = heavy.map(|policy| match previous.and_then(|p| p.heavy.as_ref()) {
            Some(kept) if kept.policy() == policy => Arc::clone(kept),
            _ => Arc::new(HeavyHitters::new(policy)),
        });
        Guards {
            hosts: config.allowed_hosts.clone(),
            agents: config.blocked_user_agents.clone(),
            heavy,
            trusted: config.trusted_proxies.clone(),
            maintenance: config
                .maintenance
                .then_some(config.maintenance_retry_after_secs),
            stats,
        }
    }

    /// Whether any guard is on (else [`check`](Self::check) is not called).
    pub(crate) fn any(&self) -> bool {
        !self.hosts.is_empty()
            || !self.agents.is_empty()
            || self.heavy.is_some()
            || self.maintenance.is_some()
    }

    /// The refusal of the request `parts` from `peer`, if a guard refuses it.
    pub(crate) fn check(&self, parts: &Parts, peer: Option<SocketAddr>) -> Option<Response> {
        if EXEMPT.contains(&parts.uri.path()) {
            return None;
        }
        let (reason, response) = self.refusal(parts, peer)?;
        self.stats.block(reason);
        Some(response)
    }

    fn refusal(&self, parts: &Parts, peer: Option<SocketAddr>) -> Option<(Blocked, Response)> {
        if !self.hosts.is_empty() {
            // HTTP/2 sends `:authority`, which hyper puts in the URI.
            let host = parts
                .uri
                .authority()
                .map(|a| a.as_str())
                .or_else(|| parts.headers.get(header::HOST)?.to_str().ok());
            match host {
                None => {
                    return Some((
                        Blocked::Host,
                        problem(
                            spv::ErrorKind::InvalidRequest,
                            "the request names no host (Host); this server serves only the hosts of SPV_ALLOWED_HOSTS",
                            StatusCode::BAD_REQUEST,
                        ),
                    ));
                }
                Some(host) if !self.hosts.allows(host) => {
                    return Some((
                        Blocked::Host,
                        problem(
                            spv::ErrorKind::InvalidRequest,
                            "this host is not served here (SPV_ALLOWED_HOSTS)",
                            StatusCode::MISDIRECTED_REQUEST,
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        if !self.agents.is_empty() {
            let agent = parts
                .headers
                .get(header::USER_AGENT)
                .map(|v| String::from_utf8_lossy(v.as_bytes()))
                .unwrap_or_default();
            if self.agents.blocks(&agent) {
                return Some((
                    Blocked::UserAgent,
                    problem(
                        spv::ErrorKind::Forbidden,
                        "this client (User-Agent) is refused (SPV_BLOCKED_USER_AGENTS)",
                        StatusCode::FORBIDDEN,
                    ),
                ));
            }
        }
        if let (Some(heavy), Some(peer)) = (&self.heavy, peer) {
            let client = client_ip(&self.trusted, peer, &parts.headers);
            if let Err(left) = heavy.check(client, Instant::now()) {
                let secs = left.as_secs() + u64::from(left.subsec_nanos() > 0);
                let mut response = problem(
                    spv::ErrorKind::RateLimited,
                    &format!(
                        "this client sent a disproportionate share of the requests and is blocked for {secs} s (SPV_HEAVY_HITTER_PERCENT)"
                    ),
                    StatusCode::TOO_MANY_REQUESTS,
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
                return Some((Blocked::HeavyHitter, response));
            }
        }
        if let Some(retry_after) = self.maintenance {
            let mut response = problem(
                spv::ErrorKind::Overloaded,
                "the server is down for maintenance; try again later (SPV_MAINTENANCE)",
                StatusCode::SERVICE_UNAVAILABLE,
            );
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
            return Some((Blocked::Maintenance, response));
        }
        None
    }
}

/// The client of a request from `peer`: the peer, or behind trusted proxies the first
/// untrusted hop of `Forwarded` / `X-Forwarded-For` (as the rate limits find it).
fn client_ip(trusted: &TrustedProxies, peer: SocketAddr, headers: &HeaderMap) -> std::net::IpAddr {
    if trusted.is_empty() || !trusted.contains(peer.ip()) {
        return peer.ip();
    }
    let values = |name: &str| {
        headers
            .get_all(name)
            .into_iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
    };
    let forwarded = values("forwarded");
    let x_forwarded_for = values("x-forwarded-for");
    trusted.client_ip(
        peer.ip(),
        forwarded.iter().copied(),
        x_forwarded_for.iter().copied(),
    )
}

fn problem(kind: spv::ErrorKind, detail: &str, status: StatusCode) -> Response {
    ApiError::with_status(spv::Error::new(kind, detail.to_owned()), status).into_response()
}
