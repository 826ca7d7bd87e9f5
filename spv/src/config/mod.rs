//! [`Config`]: every setting of the server, with defaults.
//!
//! The library never reads the environment or files by itself: the binaries collect the
//! environment variables and the optional TOML file and hand them to
//! [`Config::from_env_map`], [`Config::from_toml_str`] and [`Config::merge_env`]; the
//! services take the resulting `Config` value. A bad value is an
//! [`ErrorKind::InvalidRequest`](crate::ErrorKind::InvalidRequest) error naming the
//! variable and what was expected.
//!
//! | variable | field | default |
//! |---|---|---|
//! | `SPV_BIND_ADDR` | `bind_addr` | `0.0.0.0:3000` |
//! | `SPV_DATA_DIR` | `data_dir` | `./spv-data` |
//! | `DATABASE_URL` | `database_url` | SQLite file `<data_dir>/spv.db` |
//! | `REDIS_URL` | `redis_url` | none |
//! | `SPV_REDIS_PREFIX` | `redis_prefix` | `spv:` (the prefix of every Redis key and channel) |
//! | `SPV_ADVERTISE_URL` | `advertise_url` | with `REDIS_URL`: `http(s)://` the bound address, or when bound to `0.0.0.0` / `::` the address this host reaches Redis from (where other nodes reach this one: live sessions of a document another node owns are relayed to it) |
//! | `SPV_BLOB_URL` | `blob_url` | the directory `<data_dir>/blobs` (or another directory, or `s3://bucket/prefix`) |
//! | `AWS_*` (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, …) | `aws` (TOML: an `[aws]` table of the same names) | none: the S3 client of an `s3://` `SPV_BLOB_URL`, as object_store's `AmazonS3Builder::from_env` reads them |
//! | `JWT_SECRET` | `jwt_secret` | none: generated and kept in the data directory |
//! | `JWT_ISSUER` | `jwt_issuer` | `spv` |
//! | `API_KEY_HEADER` | `api_key_header` | `x-api-key` |
//! | `RUST_LOG` | `rust_log` | `info` |
//! | `SPV_LOG_FORMAT` | `log_format` | `text` (or `json`) |
//! | `SPV_MAX_THUMBNAIL_SIZE` | `max_thumbnail_size` | 4096 |
//! | `SPV_THUMBNAIL_CACHE_BYTES` | `thumbnail_cache_bytes` | 256 MiB (0: no in-process thumbnail cache) |
//! | `SPV_THUMBNAIL_STORE_BYTES` | `thumbnail_store_bytes` | 1 GiB (0: no stored thumbnails; least recently used pruned past it) |
//! | `SPV_THUMBNAIL_REDIS_TTL_SECS` | `thumbnail_redis_ttl_secs` | 3600 (with `REDIS_URL`: how long a thumbnail stays in the Redis tier that nodes share; 0: no tier and no claims across nodes; at most 86400) |
//! | `SPV_JOB_WORKERS` | `job_workers` | the number of cores |
//! | `SPV_JOB_RENDER_SLOTS` | `job_render_slots` | half of `SPV_JOB_WORKERS`, at least 1 (render slots of jobs, apart from the `SPV_JOB_WORKERS` slots of synchronous thumbnails) |
//! | `SPV_LIVE_MAX_SESSIONS` | `live_max_sessions` | 200 (live editing sessions of one document; past it the WebSocket closes with 1013) |
//! | `SPV_LIVE_THUMBNAIL_INTERVAL_SECS` | `live_thumbnail_interval_secs` | 2 (a document under live editing is written back from its change log this often, so its thumbnails follow at this pace) |
//! | `SPV_LIVE_SESSION_QUEUE` | `live_session_queue` | 1024 (messages waiting for one live session; past it the session is closed with 4008 and catches up when it reconnects) |
//! | `SPV_ROLE` | `role` | `all` (`api`: HTTP only, no job workers; `worker`: jobs, and only `/health`, `/ready`, `/metrics` over HTTP) |
//! | `SPV_NO_MIGRATE` | `migrate` (inverted) | `false`: migrations run at start; `true` (or `migrate = false`): a database not fully migrated is a start-up error (run `spv-cli migrate`) |
//! | `SPV_RENDERER` | `renderer` | `auto` (a hardware GPU when there is one, else the CPU; or `cpu`, `gpu`) |
//! | `SPV_JOB_LEASE_SECS` | `job_lease_secs` | 30 (how long a worker holds a job without renewing; 1 to 86400) |
//! | `SPV_JOB_OUTPUT_TTL_SECS` | `job_output_ttl_secs` | 604800 (7 days: finished jobs and their outputs kept) |
//! | `SPV_PRUNE_INTERVAL_SECS` | `prune_interval_secs` | 3600 (0: never prune) |
//! | `SPV_BACKUP_INTERVAL_SECS` | `backup_interval_secs` | 86400 (0: no backups; SQLite only) |
//! | `SPV_BACKUP_KEEP` | `backup_keep` | 7 |
//! | `SPV_CORS_ORIGINS` | `cors_origins` | none (comma-separated list; `*` for any) |
//! | `SPV_PROMETHEUS_ENABLED` | `prometheus_enabled` | `true` |
//! | `SPV_TLS_CERT`, `SPV_TLS_KEY` | `tls_cert`, `tls_key` | none (plain HTTP) |
//! | `SPV_ADMIN_USER` | `admin_user` | `admin` |
//! | `SPV_ADMIN_PASSWORD` | `admin_password` | none: generated and printed once |
//! | `SPV_REQUEST_TIMEOUT_SECS` | `request_timeout_secs` | 30 |
//! | `SPV_BODY_LIMIT_BYTES` | `body_limit_bytes` | 64 MiB |
//! | `SPV_SHUTDOWN_TIMEOUT_SECS` | `shutdown_timeout_secs` | 30 (at most 86400) |
//! | `SPV_RATE_LIMITS` | `rate_limits` | `auth=120/1m,anonymous=100000/1s,api=100000/1s,render=3000/1m` (comma-separated `group=N/period` or `group=off`, periods `s`, `m`, `h` or like `10s`; groups not named keep these; see [`RateLimits`](crate::ratelimit::RateLimits)) |
//! | `SPV_TRUSTED_PROXIES` | `trusted_proxies` | none (comma-separated CIDRs whose `Forwarded` / `X-Forwarded-For` name the client) |
//! | `SPV_HEADER_TIMEOUT_SECS` | `header_timeout_secs` | 10 (from accept to the first request head, TLS handshake included; then each HTTP/1.1 head, which also bounds an idle keep-alive wait) |
//! | `SPV_IDLE_TIMEOUT_SECS` | `idle_timeout_secs` | 60 (nothing read or written: the connection is closed) |
//! | `SPV_MAX_CONNECTION_AGE_SECS` | `max_connection_age_secs` | 3600 (then closed gracefully; 0: no limit) |
//! | `SPV_BODY_MIN_RATE_BYTES` | `body_min_rate_bytes` | 1024 (bytes per second a request body must average after the grace; slower: 408; 0: no minimum) |
//! | `SPV_BODY_RATE_GRACE_SECS` | `body_rate_grace_secs` | 10 |
//! | `SPV_MAX_CONNECTIONS` | `max_connections` | 10000 (more are closed right after accept) |
//! | `SPV_MAX_CONNECTIONS_PER_IP` | `max_connections_per_ip` | 256 (per client address, IPv6 by /64; trusted proxies exempt; 0: no cap) |
//! | `SPV_ALLOWED_HOSTS` | `allowed_hosts` | none: any (comma-separated names, `*.example.com` for any subdomain; others get 421, a missing `Host` 400) |
//! | `SPV_BLOCKED_USER_AGENTS` | `blocked_user_agents` | none (one regular expression per line; a match gets 403; `^$` matches a missing one) |
//! | `SPV_HEAVY_HITTER_PERCENT` | `heavy_hitter_percent` | 0: off (a client sending this share of the requests of the window is refused with 429) |
//! | `SPV_HEAVY_HITTER_WINDOW_SECS` | `heavy_hitter_window_secs` | 60 |
//! | `SPV_HEAVY_HITTER_MIN_REQUESTS` | `heavy_hitter_min_requests` | 1000 (requests in the window before anyone is blocked) |
//! | `SPV_HEAVY_HITTER_BLOCK_SECS` | `heavy_hitter_block_secs` | 300 |
//! | `SPV_MAINTENANCE` | `maintenance` | `false` (`true`: 503 with `Retry-After` on every route but `/health`, `/ready`, `/metrics`) |
//! | `SPV_MAINTENANCE_RETRY_AFTER_SECS` | `maintenance_retry_after_secs` | 120 |
//! | `SPV_HSTS_MAX_AGE_SECS` | `hsts_max_age_secs` | 31536000 (with TLS: `Strict-Transport-Security`; 0: none) |
//!
//! The connection limits, guards, rate limits, CORS, maintenance, request timeout and
//! log filter are reloaded on SIGHUP by `spv-server` (see its docs); the rest needs a
//! restart.
//! | `SPV_URL_SIGNING_KEYS` | `url_signing_keys` | none: signed thumbnail URLs refused (comma-separated keys, hex or base64, 32 to 64 bytes each, at most 8; the first signs, any verifies; see [`SigningKeys`](crate::signing::SigningKeys)) |
//!
//! Precedence, lowest first: defaults, the TOML file, the environment, command-line flags.
//!
//! ```
//! use spv::config::Config;
//!
//! let env = [("SPV_MAX_THUMBNAIL_SIZE", "1024"), ("SPV_CORS_ORIGINS", "https://a.example, https://b.example")];
//! let config = Config::from_env_map(env.iter().map(|(k, v)| (k.to_string(), v.to_string()))).unwrap();
//! assert_eq!(config.max_thumbnail_size, 1024);
//! assert_eq!(config.cors_origins.len(), 2);
//! assert_eq!(config.bind_addr.to_string(), "0.0.0.0:3000");
//!
//! let err = Config::from_env_map([("SPV_JOB_WORKERS".to_string(), "many".to_string())]).unwrap_err();
//! assert!(err.to_string().starts_with("SPV_JOB_WORKERS:"), "{err}");
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

mod edge;

/// The most seconds of `SPV_JOB_LEASE_SECS` and `SPV_SHUTDOWN_TIMEOUT_SECS` (a day).
pub const MAX_WAIT_SECS: u64 = 86_400;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// What one `spv-server` process does (`SPV_ROLE`, `--role`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Serves HTTP and runs jobs (the default: one process does everything).
    #[default]
    All,
    /// Serves HTTP and enqueues jobs, but runs none: no job workers, no maintenance
    /// scheduler.
    Api,
    /// Runs jobs (and the maintenance scheduler); over HTTP only `/health`, `/ready` and
    /// `/metrics`, everything else a problem+json 404.
    Worker,
}

impl Role {
    /// Whether this role serves the API routes.
    pub fn serves_api(self) -> bool {
        matches!(self, Role::All | Role::Api)
    }

    /// Whether this role runs job workers and the maintenance scheduler.
    pub fn runs_jobs(self) -> bool {
        matches!(self, Role::All | Role::Worker)
    }

    /// `all`, `api` or `worker`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::All => "all",
            Role::Api => "api",
            Role::Worker => "worker",
        }
    }
}

impl FromStr for Role {
    type Err = Error;

    /// `all`, `api` or `worker` (any case).
    fn from_str(s: &str) -> Result<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "all" => Ok(Role::All),
            "api" => Ok(Role::Api),
            "worker" => Ok(Role::Worker),
            _ => Err(bad("SPV_ROLE", s, "all, api or worker")),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Every setting of the server. See the [module docs](self) for variables and defaults.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the server listens (`SPV_BIND_ADDR`).
    pub bind_addr: SocketAddr,
    /// The data directory: SQLite database, blobs, generated secrets (`SPV_DATA_DIR`).
    pub data_dir: PathBuf,
    /// The database (`DATABASE_URL`); `None` is SQLite in the data directory.
    pub database_url: Option<String>,
    /// Redis for shared caches and rate limits (`REDIS_URL`); optional.
    pub redis_url: Option<String>,
    /// The prefix of every Redis key and channel (`SPV_REDIS_PREFIX`), so several
    /// deployments can share one Redis.
    pub redis_prefix: String,
    /// Where other nodes reach this one, `http://host:port` (`SPV_ADVERTISE_URL`): live
    /// editing sessions of a document this node owns are relayed here by the others.
    /// `None`: the bound address, or when bound to every interface, the address this
    /// host reaches Redis from ([`Config::advertise_url_for`]).
    pub advertise_url: Option<String>,
    /// Where blobs live (`SPV_BLOB_URL`): a directory or `s3://bucket/prefix`; `None` is
    /// `<data_dir>/blobs`. See [`Config::blob_location`].
    pub blob_url: Option<String>,
    /// The `AWS_*` variables (`AWS_ENDPOINT`, `AWS_ACCESS_KEY_ID`, …) that configure the S3
    /// client of an `s3://` [`blob_url`](Self::blob_url); values are never shown by
    /// `Debug`.
    pub aws: BTreeMap<String, String>,
    /// The JWT signing secret (`JWT_SECRET`); `None`: generated and kept in the data
    /// directory.
    pub jwt_secret: Option<String>,
    /// The JWT issuer (`JWT_ISSUER`).
    pub jwt_issuer: String,
    /// The header that carries API keys (`API_KEY_HEADER`), lowercase.
    pub api_key_header: String,
    /// The log filter, in `RUST_LOG` syntax.
    pub rust_log: String,
    /// Text or JSON logs (`SPV_LOG_FORMAT`).
    pub log_format: LogFormat,
    /// The largest thumbnail side in pixels (`SPV_MAX_THUMBNAIL_SIZE`).
    pub max_thumbnail_size: u32,
    /// Bytes of rendered thumbnails kept in process (`SPV_THUMBNAIL_CACHE_BYTES`).
    pub thumbnail_cache_bytes: u64,
    /// Bytes of rendered thumbnails kept in the database and blob store, surviving
    /// restarts (`SPV_THUMBNAIL_STORE_BYTES`; 0: none).
    pub thumbnail_store_bytes: u64,
    /// With `REDIS_URL`: how long a rendered thumbnail stays in the Redis tier the nodes
    /// share, in seconds (`SPV_THUMBNAIL_REDIS_TTL_SECS`; 0: no tier, and no claims so
    /// that one node renders what several want).
    pub thumbnail_redis_ttl_secs: u64,
    /// Render and job workers (`SPV_JOB_WORKERS`).
    pub job_workers: usize,
    /// Render slots of jobs (`SPV_JOB_RENDER_SLOTS`): a pool of their own, apart from the
    /// `job_workers` slots of synchronous thumbnails, so a heavy job load never takes the
    /// slots `POST /api/v1/thumbnails` needs. `None`: half of `job_workers`, at least 1
    /// ([`effective_job_render_slots`](Self::effective_job_render_slots)).
    pub job_render_slots: Option<usize>,
    /// Live sessions one document takes (`SPV_LIVE_MAX_SESSIONS`, from 1); past it the
    /// WebSocket is closed with 1013.
    pub live_max_sessions: usize,
    /// How often a document under live editing is written back from its change log,
    /// in seconds (`SPV_LIVE_THUMBNAIL_INTERVAL_SECS`, from 1): its thumbnails are
    /// re-rendered at most this often.
    pub live_thumbnail_interval_secs: u64,
    /// Messages waiting for one live session before it is closed as too slow (4008)
    /// (`SPV_LIVE_SESSION_QUEUE`, from 1).
    pub live_session_queue: usize,
    /// What this process does (`SPV_ROLE`): serve the API, run jobs, or both.
    pub role: Role,
    /// Whether the database is migrated at start (`SPV_NO_MIGRATE=true` turns it off;
    /// then a database whose migrations are not all applied is a start-up error naming
    /// `spv-cli migrate`).
    pub migrate: bool,
    /// Which backend renders (`SPV_RENDERER`: `auto`, `cpu` or `gpu`).
    pub renderer: crate::render::RendererChoice,
    /// How long a job worker holds a job without renewing its lease, in seconds
    /// (`SPV_JOB_LEASE_SECS`, 1 to [`MAX_WAIT_SECS`]); a job whose worker died runs
    /// again after it.
    pub job_lease_secs: u64,
    /// How long finished jobs and their outputs are kept, in seconds
    /// (`SPV_JOB_OUTPUT_TTL_SECS`).
    pub job_output_ttl_secs: u64,
    /// How often pruning runs, in seconds (`SPV_PRUNE_INTERVAL_SECS`; 0: never).
    pub prune_interval_secs: u64,
    /// How often the SQLite database is backed up into `<data_dir>/backups`, in seconds
    /// (`SPV_BACKUP_INTERVAL_SECS`; 0: never).
    pub backup_interval_secs: u64,
    /// How many backups are kept (`SPV_BACKUP_KEEP`).
    pub backup_keep: usize,
    /// Origins allowed by CORS (`SPV_CORS_ORIGINS`); empty: no cross-origin access.
    pub cors_origins: Vec<String>,
    /// Serve `GET /metrics` (`SPV_PROMETHEUS_ENABLED`).
    pub prometheus_enabled: bool,
    /// PEM certificate chain for TLS (`SPV_TLS_CERT`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for TLS (`SPV_TLS_KEY`).
    pub tls_key: Option<PathBuf>,
    /// The first admin's username (`SPV_ADMIN_USER`).
    pub admin_user: String,
    /// The first admin's password (`SPV_ADMIN_PASSWORD`); `None`: generated and printed once.
    pub admin_password: Option<String>,
    /// Longest time a request may take, in seconds (`SPV_REQUEST_TIMEOUT_SECS`).
    pub request_timeout_secs: u64,
    /// Largest request body, in bytes (`SPV_BODY_LIMIT_BYTES`).
    pub body_limit_bytes: usize,
    /// How long shutdown waits for in-flight requests, in seconds
    /// (`SPV_SHUTDOWN_TIMEOUT_SECS`, at most [`MAX_WAIT_SECS`]).
    pub shutdown_timeout_secs: u64,
    /// The rate limit of each group (`SPV_RATE_LIMITS`; in TOML, the same text).
    pub rate_limits: crate::ratelimit::RateLimits,
    /// The proxies whose forwarding headers name the client (`SPV_TRUSTED_PROXIES`; in
    /// TOML, the same text).
    pub trusted_proxies: crate::ratelimit::TrustedProxies,
    /// Longest time a client may take to send a request head, in seconds
    /// (`SPV_HEADER_TIMEOUT_SECS`): from accept to the first head (the TLS handshake
    /// included), and for each later head of an HTTP/1.1 connection.
    pub header_timeout_secs: u64,
    /// A connection on which nothing is read or written for this long is closed, in
    /// seconds (`SPV_IDLE_TIMEOUT_SECS`).
    pub idle_timeout_secs: u64,
    /// A connection open this long is closed gracefully (in-flight requests finish), in
    /// seconds (`SPV_MAX_CONNECTION_AGE_SECS`; 0: no limit).
    pub max_connection_age_secs: u64,
    /// The slowest a request body may arrive once
    /// [`body_rate_grace_secs`](Self::body_rate_grace_secs) have passed, in bytes per
    /// second, averaged since the body began (`SPV_BODY_MIN_RATE_BYTES`; 0: no minimum).
    /// Slower: 408.
    pub body_min_rate_bytes: u64,
    /// How long a request body may take before its rate is checked, in seconds
    /// (`SPV_BODY_RATE_GRACE_SECS`).
    pub body_rate_grace_secs: u64,
    /// The most connections served at once (`SPV_MAX_CONNECTIONS`); more are closed
    /// right after accept.
    pub max_connections: usize,
    /// The most connections of one client address (IPv6: its /64) at once
    /// (`SPV_MAX_CONNECTIONS_PER_IP`; 0: no cap); trusted proxies count only in the total.
    pub max_connections_per_ip: usize,
    /// The `Host` names served (`SPV_ALLOWED_HOSTS`; empty: any).
    pub allowed_hosts: crate::guard::HostAllowlist,
    /// `User-Agent` patterns refused with 403 (`SPV_BLOCKED_USER_AGENTS`).
    pub blocked_user_agents: crate::guard::UserAgentBlocklist,
    /// The share of the requests, in percent, that gets a client blocked
    /// (`SPV_HEAVY_HITTER_PERCENT`; 0: no dynamic blocking).
    pub heavy_hitter_percent: u8,
    /// The sliding window of that share, in seconds (`SPV_HEAVY_HITTER_WINDOW_SECS`).
    pub heavy_hitter_window_secs: u64,
    /// Requests in the window before anyone is blocked (`SPV_HEAVY_HITTER_MIN_REQUESTS`).
    pub heavy_hitter_min_requests: u64,
    /// How long a block lasts, in seconds (`SPV_HEAVY_HITTER_BLOCK_SECS`).
    pub heavy_hitter_block_secs: u64,
    /// Maintenance mode (`SPV_MAINTENANCE`): every route but `/health`, `/ready` and
    /// `/metrics` answers 503.
    pub maintenance: bool,
    /// The `Retry-After` of maintenance answers, in seconds
    /// (`SPV_MAINTENANCE_RETRY_AFTER_SECS`).
    pub maintenance_retry_after_secs: u64,
    /// `Strict-Transport-Security: max-age` when serving TLS, in seconds
    /// (`SPV_HSTS_MAX_AGE_SECS`; 0: no header).
    pub hsts_max_age_secs: u64,
    /// The keys of signed thumbnail URLs (`SPV_URL_SIGNING_KEYS`; in TOML, the same
    /// text): the first signs, any verifies; none, signed URLs are refused. `Debug` shows
    /// how many, never the keys.
    pub url_signing_keys: crate::signing::SigningKeys,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            bind_addr: SocketAddr::from(([0, 0, 0, 0], 3000)),
            data_dir: PathBuf::from("./spv-data"),
            database_url: None,
            redis_url: None,
            redis_prefix: "spv:".to_string(),
            advertise_url: None,
            blob_url: None,
            aws: BTreeMap::new(),
            jwt_secret: None,
            jwt_issuer: "spv".to_owned(),
            api_key_header: "x-api-key".to_owned(),
            rust_log: "info".to_owned(),
            log_format: LogFormat::Text,
            max_thumbnail_size: 4096,
            thumbnail_cache_bytes: 256 * 1024 * 1024,
            thumbnail_store_bytes: 1024 * 1024 * 1024,
            thumbnail_redis_ttl_secs: 3600,
            job_workers: std::thread::available_parallelism().map_or(1, |n| n.get()),
            job_render_slots: None,
            live_max_sessions: crate::live::DEFAULT_MAX_SESSIONS,
            live_thumbnail_interval_secs: crate::live::DEFAULT_COMPACT_SECS,
            live_session_queue: crate::live::DEFAULT_SESSION_QUEUE,
            role: Role::All,
            migrate: true,
            renderer: crate::render::RendererChoice::Auto,
            job_lease_secs: 30,
            job_output_ttl_secs: 7 * 24 * 3600,
            prune_interval_secs: 3600,
            backup_interval_secs: 24 * 3600,
            backup_keep: 7,
            cors_origins: Vec::new(),
            prometheus_enabled: true,
            tls_cert: None,
            tls_key: None,
            admin_user: "admin".to_owned(),
            admin_password: None,
            request_timeout_secs: 30,
            body_limit_bytes: 64 * 1024 * 1024,
            shutdown_timeout_secs: 30,
            rate_limits: crate::ratelimit::RateLimits::default(),
            trusted_proxies: crate::ratelimit::TrustedProxies::default(),
            header_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connection_age_secs: 3600,
            body_min_rate_bytes: 1024,
            body_rate_grace_secs: 10,
            max_connections: 10_000,
            max_connections_per_ip: 256,
            allowed_hosts: crate::guard::HostAllowlist::default(),
            blocked_user_agents: crate::guard::UserAgentBlocklist::default(),
            heavy_hitter_percent: 0,
            heavy_hitter_window_secs: 60,
            heavy_hitter_min_requests: 1000,
            heavy_hitter_block_secs: 300,
            maintenance: false,
            maintenance_retry_after_secs: 120,
            hsts_max_age_secs: 31_536_000,
            url_signing_keys: crate::signing::SigningKeys::default(),
        }
    }
}

impl fmt::Debug for Config {
    /// Like the derived `Debug`, with secrets redacted.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("Config")
            .field("bind_addr", &self.bind_addr)
            .field("data_dir", &self.data_dir)
            .field("database_url", &redact(&self.database_url))
            .field("redis_url", &redact(&self.redis_url))
            .field("redis_prefix", &self.redis_prefix)
            .field("advertise_url", &self.advertise_url)
            .field("blob_url", &self.blob_url)
            .field("aws", &self.aws.keys().collect::<Vec<_>>())
            .field("jwt_secret", &redact(&self.jwt_secret))
            .field("jwt_issuer", &self.jwt_issuer)
            .field("api_key_header", &self.api_key_header)
            .field("rust_log", &self.rust_log)
            .field("log_format", &self.log_format)
            .field("max_thumbnail_size", &self.max_thumbnail_size)
            .field("thumbnail_cache_bytes", &self.thumbnail_cache_bytes)
            .field("thumbnail_store_bytes", &self.thumbnail_store_bytes)
            .field("thumbnail_redis_ttl_secs", &self.thumbnail_redis_ttl_secs)
            .field("job_workers", &self.job_workers)
            .field("job_render_slots", &self.job_render_slots)
            .field("live_max_sessions", &self.live_max_sessions)
            .field(
                "live_thumbnail_interval_secs",
                &self.live_thumbnail_interval_secs,
            )
            .field("role", &self.role)
            .field("migrate", &self.migrate)
            .field("renderer", &self.renderer)
            .field("job_lease_secs", &self.job_lease_secs)
            .field("job_output_ttl_secs", &self.job_output_ttl_secs)
            .field("prune_interval_secs", &self.prune_interval_secs)
            .field("backup_interval_secs", &self.backup_interval_secs)
            .field("backup_keep", &self.backup_keep)
            .field("cors_origins", &self.cors_origins)
            .field("prometheus_enabled", &self.prometheus_enabled)
            .field("tls_cert", &self.tls_cert)
            .field("tls_key", &self.tls_key)
            .field("admin_user", &self.admin_user)
            .field("admin_password", &redact(&self.admin_password))
            .field("request_timeout_secs", &self.request_timeout_secs)
            .field("body_limit_bytes", &self.body_limit_bytes)
            .field("shutdown_timeout_secs", &self.shutdown_timeout_secs)
            .field("rate_limits", &self.rate_limits)
            .field("trusted_proxies", &self.trusted_proxies)
            .field("header_timeout_secs", &self.header_timeout_secs)
            .field("idle_timeout_secs", &self.idle_timeout_secs)
            .field("max_connection_age_secs", &self.max_connection_age_secs)
            .field("body_min_rate_bytes", &self.body_min_rate_bytes)
            .field("body_rate_grace_secs", &self.body_rate_grace_secs)
            .field("max_connections", &self.max_connections)
            .field("max_connections_per_ip", &self.max_connections_per_ip)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("blocked_user_agents", &self.blocked_user_agents)
            .field("heavy_hitter_percent", &self.heavy_hitter_percent)
            .field("heavy_hitter_window_secs", &self.heavy_hitter_window_secs)
            .field("heavy_hitter_min_requests", &self.heavy_hitter_min_requests)
            .field("heavy_hitter_block_secs", &self.heavy_hitter_block_secs)
            .field("maintenance", &self.maintenance)
            .field(
                "maintenance_retry_after_secs",
                &self.maintenance_retry_after_secs,
            )
            .field("hsts_max_age_secs", &self.hsts_max_age_secs)
            .field("url_signing_keys", &self.url_signing_keys)
            .finish()
    }
}

impl Config {
    /// The defaults overridden by the known variables of `env` (unknown ones are
    /// ignored).
    pub fn from_env_map(env: impl IntoIterator<Item = (String, String)>) -> Result<Config> {
        Config::default().merge_env(env)
    }

    /// A configuration from a TOML file's text: keys are the field names
    /// (`bind_addr = "127.0.0.1:8080"`), missing keys keep their defaults, unknown keys
    /// are an error.
    ///
    /// ```
    /// let config = spv::config::Config::from_toml_str("max_thumbnail_size = 512\n").unwrap();
    /// assert_eq!(config.max_thumbnail_size, 512);
    /// assert!(spv::config::Config::from_toml_str("max_thumbnail = 1").is_err());
    /// ```
    pub fn from_toml_str(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).map_err(|e| {
            Error::invalid_request(format!("configuration file: {}", e.to_string().trim_end()))
        })?;
        config.validate()?;
        Ok(config)
    }

    /// The configuration as the binaries load it: defaults, then the TOML `file` (if
    /// any), then the known variables of `env`. Flags, applied by the caller afterwards,
    /// win over both.
    ///
    /// ```
    /// let env = [("SPV_MAX_THUMBNAIL_SIZE".to_string(), "300".to_string())];
    /// let config = spv::config::Config::load(None, env).unwrap();
    /// assert_eq!(config.max_thumbnail_size, 300);
    /// let missing = spv::config::Config::load(Some("/nonexistent/spv.toml".as_ref()), []);
    /// assert!(missing.unwrap_err().to_string().contains("/nonexistent/spv.toml"));
    /// ```
    pub fn load(
        file: Option<&std::path::Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config> {
        let base = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    Error::new(
                        crate::ErrorKind::Io,
                        format!("cannot read the configuration file {}: {e}", path.display()),
                    )
                })?;
                Config::from_toml_str(&text).map_err(|e| {
                    Error::new(e.kind(), format!("{}: {}", path.display(), e.message()))
                })?
            }
            None => Config::default(),
        };
        base.merge_env(env)
    }

    /// This configuration overridden by the known variables of `env`.
    pub fn merge_env(mut self, env: impl IntoIterator<Item = (String, String)>) -> Result<Config> {
        for (name, value) in env {
            self.set_var(&name, &value)?;
        }
        self.validate()?;
        Ok(self)
    }

    /// Sets one variable by its environment name; unknown names are ignored.
    fn set_var(&mut self, name: &str, value: &str) -> Result<()> {
        let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
        match name {
            "SPV_BIND_ADDR" => {
                self.bind_addr = parse(name, value, "host:port such as 0.0.0.0:3000")?
            }
            "SPV_DATA_DIR" => self.data_dir = PathBuf::from(value),
            "DATABASE_URL" => self.database_url = some(value),
            "REDIS_URL" => self.redis_url = some(value),
            "SPV_REDIS_PREFIX" => self.redis_prefix = value.to_string(),
            "SPV_ADVERTISE_URL" => self.advertise_url = some(value),
            "SPV_BLOB_URL" => self.blob_url = some(value),
            aws if aws.starts_with("AWS_") => {
                if value.is_empty() {
                    self.aws.remove(aws);
                } else {
                    self.aws.insert(aws.to_string(), value.to_string());
                }
            }
            "JWT_SECRET" => self.jwt_secret = some(value),
            "JWT_ISSUER" => self.jwt_issuer = value.to_owned(),
            "API_KEY_HEADER" => self.api_key_header = value.to_ascii_lowercase(),
            "RUST_LOG" => self.rust_log = value.to_owned(),
            "SPV_LOG_FORMAT" => {
                self.log_format = match value.to_ascii_lowercase().as_str() {
                    "text" => LogFormat::Text,
                    "json" => LogFormat::Json,
                    _ => return Err(bad(name, value, "text or json")),
                }
            }
            "SPV_MAX_THUMBNAIL_SIZE" => {
                self.max_thumbnail_size = parse(name, value, "a number of pixels from 1")?
            }
            "SPV_THUMBNAIL_CACHE_BYTES" => {
                self.thumbnail_cache_bytes = parse(name, value, "a number of bytes (0: no cache)")?
            }
            "SPV_THUMBNAIL_STORE_BYTES" => {
                self.thumbnail_store_bytes =
                    parse(name, value, "a number of bytes (0: no stored thumbnails)")?
            }
            "SPV_THUMBNAIL_REDIS_TTL_SECS" => {
                self.thumbnail_redis_ttl_secs =
                    parse(name, value, "a number of seconds (0: no Redis tier)")?
            }
            "SPV_JOB_WORKERS" => {
                self.job_workers = parse(name, value, "a number of workers from 1")?
            }
            "SPV_JOB_RENDER_SLOTS" => {
                self.job_render_slots = match value.trim() {
                    "" => None,
                    v => Some(parse(name, v, "a number of render slots from 1")?),
                }
            }
            "SPV_LIVE_MAX_SESSIONS" => {
                self.live_max_sessions = parse(name, value, "a number of sessions from 1")?
            }
            "SPV_LIVE_THUMBNAIL_INTERVAL_SECS" => {
                self.live_thumbnail_interval_secs =
                    parse(name, value, "a number of seconds from 1")?
            }
            "SPV_LIVE_SESSION_QUEUE" => {
                self.live_session_queue = parse(name, value, "a number of messages from 1")?
            }
            "SPV_ROLE" => self.role = value.parse()?,
            "SPV_NO_MIGRATE" => self.migrate = !parse_bool(name, value)?,
            "SPV_RENDERER" => {
                self.renderer = value
                    .parse()
                    .map_err(|_| bad(name, value, "auto, cpu or gpu"))?
            }
            "SPV_JOB_LEASE_SECS" => {
                self.job_lease_secs = parse(name, value, "a number of seconds from 1")?
            }
            "SPV_JOB_OUTPUT_TTL_SECS" => {
                self.job_output_ttl_secs = parse(name, value, "a number of seconds")?
            }
            "SPV_PRUNE_INTERVAL_SECS" => {
                self.prune_interval_secs = parse(name, value, "a number of seconds (0: never)")?
            }
            "SPV_BACKUP_INTERVAL_SECS" => {
                self.backup_interval_secs =
                    parse(name, value, "a number of seconds (0: no backups)")?
            }
            "SPV_BACKUP_KEEP" => {
                self.backup_keep = parse(name, value, "a number of backups from 1")?
            }
            "SPV_CORS_ORIGINS" => {
                self.cors_origins = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            }
            "SPV_PROMETHEUS_ENABLED" => self.prometheus_enabled = parse_bool(name, value)?,
            "SPV_TLS_CERT" => self.tls_cert = some(value).map(PathBuf::from),
            "SPV_TLS_KEY" => self.tls_key = some(value).map(PathBuf::from),
            "SPV_ADMIN_USER" => self.admin_user = value.to_owned(),
            "SPV_ADMIN_PASSWORD" => self.admin_password = some(value),
            "SPV_REQUEST_TIMEOUT_SECS" => {
                self.request_timeout_secs = parse(name, value, "a number of seconds from 1")?
            }
            "SPV_BODY_LIMIT_BYTES" => {
                self.body_limit_bytes = parse(name, value, "a number of bytes from 1")?
            }
            "SPV_SHUTDOWN_TIMEOUT_SECS" => {
                self.shutdown_timeout_secs = parse(name, value, "a number of seconds")?
            }
            "SPV_RATE_LIMITS" => self.rate_limits = self.rate_limits.merged(value)?,
            "SPV_TRUSTED_PROXIES" => self.trusted_proxies = value.parse()?,
            "SPV_URL_SIGNING_KEYS" => self.url_signing_keys = value.parse()?,
            _ => edge::set_var(self, name, value)?,
        }
        Ok(())
    }

    /// Where other nodes reach this server when it listens on `bound`:
    /// [`advertise_url`](Self::advertise_url) when set; else `http://` (`https://` with
    /// TLS) and the bound address, with a wildcard address (`0.0.0.0`, `::`) replaced by
    /// the address this host reaches Redis from (a UDP socket's route, no packet sent),
    /// or loopback without Redis.
    ///
    /// ```
    /// let config = spv::config::Config::default();
    /// let bound: std::net::SocketAddr = "10.1.2.3:3000".parse().unwrap();
    /// assert_eq!(config.advertise_url_for(bound), "http://10.1.2.3:3000");
    /// ```
    pub fn advertise_url_for(&self, bound: SocketAddr) -> String {
        if let Some(url) = &self.advertise_url {
            return url.trim_end_matches('/').to_string();
        }
        let scheme = if self.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let mut addr = bound;
        if addr.ip().is_unspecified() {
            let route = self
                .redis_url
                .as_deref()
                .and_then(redis_host)
                .and_then(|host| {
                    use std::net::ToSocketAddrs as _;
                    host.to_socket_addrs().ok()?.next()
                })
                .and_then(|redis| {
                    let local = if redis.is_ipv4() {
                        "0.0.0.0:0"
                    } else {
                        "[::]:0"
                    };
                    let socket = std::net::UdpSocket::bind(local).ok()?;
                    socket.connect(redis).ok()?;
                    socket.local_addr().ok()
                });
            addr.set_ip(match route {
                Some(local) => local.ip(),
                None if addr.is_ipv4() => std::net::Ipv4Addr::LOCALHOST.into(),
                None => std::net::Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("{scheme}://{addr}")
    }

    /// Checks the rules between and within fields, naming the variable of a bad one.
    pub fn validate(&self) -> Result<()> {
        let positive = [
            ("SPV_MAX_THUMBNAIL_SIZE", self.max_thumbnail_size as u64),
            ("SPV_JOB_WORKERS", self.job_workers as u64),
            ("SPV_JOB_LEASE_SECS", self.job_lease_secs),
            ("SPV_BACKUP_KEEP", self.backup_keep as u64),
            ("SPV_REQUEST_TIMEOUT_SECS", self.request_timeout_secs),
            ("SPV_BODY_LIMIT_BYTES", self.body_limit_bytes as u64),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(bad(name, "0", "a number from 1"));
            }
        }
        // Longer would overflow time arithmetic (and means nothing useful).
        let capped = [
            ("SPV_JOB_LEASE_SECS", self.job_lease_secs),
            ("SPV_SHUTDOWN_TIMEOUT_SECS", self.shutdown_timeout_secs),
            (
                "SPV_THUMBNAIL_REDIS_TTL_SECS",
                self.thumbnail_redis_ttl_secs,
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
        edge::validate(self)?;
        if self.live_session_queue == 0 {
            return Err(bad(
                "SPV_LIVE_SESSION_QUEUE",
                "0",
                "a number of messages from 1",
            ));
        }
        if self.live_max_sessions == 0 {
            return Err(bad(
                "SPV_LIVE_MAX_SESSIONS",
                "0",
                "a number of sessions from 1",
            ));
        }
        if self.live_thumbnail_interval_secs == 0
            || self.live_thumbnail_interval_secs > MAX_WAIT_SECS
        {
            return Err(bad(
                "SPV_LIVE_THUMBNAIL_INTERVAL_SECS",
                &self.live_thumbnail_interval_secs.to_string(),
                &format!("a number of seconds from 1 to {MAX_WAIT_SECS}"),
            ));
        }
        if self.job_render_slots == Some(0) {
            return Err(bad("SPV_JOB_RENDER_SLOTS", "0", "a number from 1"));
        }
        if let Some(url) = &self.advertise_url {
            let ok = url.split_once("://").is_some_and(|(scheme, rest)| {
                let rest = rest.strip_suffix('/').unwrap_or(rest);
                matches!(scheme, "http" | "https")
                    && !rest.is_empty()
                    && !rest.contains(['/', '?', '#', ' '])
            });
            if !ok {
                return Err(bad(
                    "SPV_ADVERTISE_URL",
                    url,
                    "http://host:port or https://host:port (no path)",
                ));
            }
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(Error::invalid_request(
                "SPV_TLS_CERT and SPV_TLS_KEY: only one is set; expected both (TLS) or neither (plain HTTP)",
            ));
        }
        let header_ok = !self.api_key_header.is_empty()
            && self
                .api_key_header
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !header_ok {
            return Err(bad(
                "API_KEY_HEADER",
                &self.api_key_header,
                "a header name such as x-api-key",
            ));
        }
        if self.jwt_issuer.is_empty() {
            return Err(bad("JWT_ISSUER", "", "a non-empty issuer name"));
        }
        if self.admin_user.is_empty() {
            return Err(bad("SPV_ADMIN_USER", "", "a non-empty username"));
        }
        if let Some(url) = &self.blob_url {
            crate::store::BlobUrl::parse(url)
                .map_err(|e| Error::invalid_request(format!("SPV_BLOB_URL: {}", e.message())))?;
        }
        if let Some(name) = self.aws.keys().find(|k| !k.starts_with("AWS_")) {
            return Err(bad(
                &format!("aws.{name}"),
                "<set>",
                "names of AWS_* variables such as AWS_REGION",
            ));
        }
        if let Some(url) = &self.database_url {
            let known = ["sqlite:", "postgres://", "postgresql://"];
            if !known.iter().any(|p| url.starts_with(p)) {
                return Err(bad(
                    "DATABASE_URL",
                    "<set>",
                    "a URL starting with sqlite:, postgres:// or postgresql://",
                ));
            }
        }
        Ok(())
    }

    /// Where blobs live: [`blob_url`](Self::blob_url), or the directory `blobs` in the
    /// data directory. Open it with [`BlobUrl::open`](crate::store::BlobUrl::open) and
    /// [`aws`](Self::aws), or [`Config::open_blobs`].
    ///
    /// ```
    /// use spv::store::BlobUrl;
    ///
    /// let config = spv::config::Config::default();
    /// assert_eq!(config.blob_location().unwrap(), BlobUrl::Dir("./spv-data/blobs".into()));
    /// let env = [("SPV_BLOB_URL".to_string(), "ftp://x".to_string())];
    /// let err = spv::config::Config::from_env_map(env).unwrap_err();
    /// assert!(err.to_string().starts_with("SPV_BLOB_URL:"), "{err}");
    /// ```
    pub fn blob_location(&self) -> Result<crate::store::BlobUrl> {
        match &self.blob_url {
            Some(url) => crate::store::BlobUrl::parse(url)
                .map_err(|e| Error::invalid_request(format!("SPV_BLOB_URL: {}", e.message()))),
            None => Ok(crate::store::BlobUrl::Dir(self.data_dir.join("blobs"))),
        }
    }

    /// The blob store of [`blob_location`](Self::blob_location), an S3 one configured by
    /// [`aws`](Self::aws). Nothing is contacted yet.
    pub fn open_blobs(&self) -> Result<std::sync::Arc<dyn crate::store::BlobStore>> {
        self.blob_location()?.open(&self.aws)
    }

    /// The render slots of jobs: `job_render_slots`, or half of `job_workers`, at least 1.
    ///
    /// ```
    /// let mut config = spv::config::Config::default();
    /// config.job_workers = 8;
    /// assert_eq!(config.effective_job_render_slots(), 4);
    /// config.job_workers = 1;
    /// assert_eq!(config.effective_job_render_slots(), 1);
    /// config.job_render_slots = Some(3);
    /// assert_eq!(config.effective_job_render_slots(), 3);
    /// ```
    pub fn effective_job_render_slots(&self) -> usize {
        self.job_render_slots.unwrap_or(self.job_workers / 2).max(1)
    }

    /// The database to connect to: `database_url`, or the SQLite file `spv.db` in the
    /// data directory (created when missing).
    ///
    /// ```
    /// let config = spv::config::Config::default();
    /// assert_eq!(config.effective_database_url(), "sqlite://./spv-data/spv.db?mode=rwc");
    /// ```
    pub fn effective_database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("spv.db").display()
            ),
        }
    }
}

/// "NAME: "value" is not valid; expected ...".
/// `host:port` of a Redis URL (`redis://[user:pass@]host[:port][/db]`), port 6379 when
/// none is named.
fn redis_host(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    let host = rest.split(['/', '?']).next().filter(|h| !h.is_empty())?;
    let has_port = match host.rsplit_once(':') {
        Some((name, port)) => {
            port.parse::<u16>().is_ok() && (!host.starts_with('[') || name.ends_with(']'))
        }
        None => false,
    };
    Some(if has_port {
        host.to_string()
    } else {
        format!("{host}:6379")
    })
}

fn bad(name: &str, value: &str, expected: &str) -> Error {
    Error::invalid_request(format!(
        "{name}: {value:?} is not valid; expected {expected}"
    ))
}

fn parse<T: FromStr>(name: &str, value: &str, expected: &str) -> Result<T> {
    value.trim().parse().map_err(|_| bad(name, value, expected))
}

fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(bad(name, value, "true or false")),
    }
}

#[cfg(test)]
mod tests;
