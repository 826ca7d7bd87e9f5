//! The counters of connections and guards (`spv_connections_*`, `spv_requests_blocked_total`).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Why a connection was refused right after accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// `SPV_MAX_CONNECTIONS` connections were open.
    Total,
    /// The client had `SPV_MAX_CONNECTIONS_PER_IP` open.
    PerIp,
}

impl Refused {
    /// Every reason.
    pub const ALL: [Refused; 2] = [Refused::Total, Refused::PerIp];

    /// The `reason` label: `total`, `per-ip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Total => "total",
            Refused::PerIp => "per-ip",
        }
    }
}

/// Why the server closed a connection (or ended a request) by a time limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closed {
    /// No complete request head within `SPV_HEADER_TIMEOUT_SECS` (the TLS handshake
    /// included).
    Head,
    /// Nothing read or written for `SPV_IDLE_TIMEOUT_SECS`.
    Idle,
    /// Open for `SPV_MAX_CONNECTION_AGE_SECS` (closed gracefully).
    Age,
    /// A request body slower than `SPV_BODY_MIN_RATE_BYTES` (a 408).
    Body,
}

impl Closed {
    /// Every reason.
    pub const ALL: [Closed; 4] = [Closed::Head, Closed::Idle, Closed::Age, Closed::Body];

    /// The `reason` label: `head`, `idle`, `age`, `body`.
    pub fn as_str(self) -> &'static str {
        match self {
            Closed::Head => "head",
            Closed::Idle => "idle",
            Closed::Age => "age",
            Closed::Body => "body",
        }
    }
}

/// Why a request was turned away by a guard before routing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// `Host` not in `SPV_ALLOWED_HOSTS` (421) or missing (400).
    Host,
    /// `User-Agent` matched `SPV_BLOCKED_USER_AGENTS` (403).
    UserAgent,
    /// The client sent a disproportionate share of the traffic (429).
    HeavyHitter,
    /// `SPV_MAINTENANCE` (503).
    Maintenance,
}

impl Blocked {
    /// Every reason.
    pub const ALL: [Blocked; 4] = [
        Blocked::Host,
        Blocked::UserAgent,
        Blocked::HeavyHitter,
        Blocked::Maintenance,
    ];

    /// The `reason` label: `host`, `user-agent`, `heavy-hitter`, `maintenance`.
    pub fn as_str(self) -> &'static str {
        match self {
            Blocked::Host => "host",
            Blocked::UserAgent => "user-agent",
            Blocked::HeavyHitter => "heavy-hitter",
            Blocked::Maintenance => "maintenance",
        }
    }
}

/// Counters of the edge: open connections, refusals, time-limit closes and guard
/// refusals. Shared (`Arc`) between the server that counts and the metrics that read.
#[derive(Debug, Default)]
pub struct EdgeStats {
    open: AtomicI64,
    refused: [AtomicU64; 2],
    closed: [AtomicU64; 4],
    blocked: [AtomicU64; 4],
}

impl EdgeStats {
    /// A connection was accepted and is served (`spv_connections_open`).
    pub fn opened(&self) {
        self.open.fetch_add(1, Ordering::Relaxed);
    }

    /// A served connection ended.
    pub fn ended(&self) {
        self.open.fetch_sub(1, Ordering::Relaxed);
    }

    /// Connections being served.
    pub fn open(&self) -> i64 {
        self.open.load(Ordering::Relaxed)
    }

    /// Counts a refused connection (`spv_connections_refused_total{reason}`).
    pub fn refuse(&self, reason: Refused) {
        self.refused[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections refused for `reason`.
    pub fn refused(&self, reason: Refused) -> u64 {
        self.refused[reason as usize].load(Ordering::Relaxed)
    }

    /// Counts a close by a time limit (`spv_connections_timed_out_total{reason}`).
    pub fn close(&self, reason: Closed) {
        self.closed[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Closes by `reason`.
    pub fn closed(&self, reason: Closed) -> u64 {
        self.closed[reason as usize].load(Ordering::Relaxed)
    }

    /// Counts a request turned away (`spv_requests_blocked_total{reason}`).
    pub fn block(&self, reason: Blocked) {
        self.blocked[reason as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Requests turned away for `reason`.
    pub fn blocked(&self, reason: Blocked) -> u64 {
        self.blocked[reason as usize].load(Ordering::Relaxed)
    }
}
