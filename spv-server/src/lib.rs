//! `spv-server`: the spv HTTP daemon as a library, so tests run the real server.
//!
//! | item | what it is |
//! |---|---|
//! | [`run`] | serves [`app`] on a bound listener until a shutdown future completes |
//! | [`app`] | `spv::http::api` with the server's handling of every request around it (request ids, tracing, timeouts, panics, body limit, compression, CORS, security headers) |
//! | [`Cli`] | the command-line flags (`--role`, `--no-migrate`, …); [`Cli::config`] merges file, environment and flags |
//! | [`init_tracing`] | text or JSON logs filtered by `RUST_LOG` |
//! | [`shutdown_signal`] | completes on SIGINT or SIGTERM |
//! | [`run_with_reload`], [`reload`] | [`run`], re-reading the configuration on SIGHUP: what changes at once ([`reload::RELOADABLE`]), what needs a restart |
//!
//! Connections are served by hyper-util's automatic builder: HTTP/1.1 and HTTP/2 (also
//! cleartext HTTP/2 with prior knowledge), over TLS with ALPN when `SPV_TLS_CERT` and
//! `SPV_TLS_KEY` are set. On shutdown the listener closes, in-flight requests finish
//! within `SPV_SHUTDOWN_TIMEOUT_SECS`, then the remaining connections are dropped; then
//! the job workers stop claiming, running jobs get another `SPV_SHUTDOWN_TIMEOUT_SECS`
//! and are then given back to the queue (the next start runs them), and the database
//! closes.
//!
//! Each connection is capped and timed (`conn.rs`): `SPV_MAX_CONNECTIONS` in total and
//! `SPV_MAX_CONNECTIONS_PER_IP` per client address, refused right after accept (the
//! socket dropped, `spv_connections_refused_total{reason}` counted); a request head
//! within `SPV_HEADER_TIMEOUT_SECS` (from accept, the TLS handshake included); closed
//! after `SPV_IDLE_TIMEOUT_SECS` without I/O and no request in flight, and gracefully
//! after `SPV_MAX_CONNECTION_AGE_SECS`.

mod body_rate;
mod cli;
mod conn;
mod guards;
mod layers;
pub mod reload;
mod tls;

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;
use spv::config::{Config, LogFormat};
use tokio::net::TcpListener;

pub use cli::Cli;
pub use layers::{App, AppFuture, app};

/// Serves spv on `listener` until `shutdown` completes, then drains in-flight requests
/// for at most `config.shutdown_timeout_secs`, then stops the job workers with the same
/// grace period ([`spv::http::Opened::shutdown`]).
///
/// Opens every service with [`spv::http::AppState::open`] (the database, migrated; the
/// blobs; auth, documents, assets, thumbnails, jobs and their workers); when that created
/// the first admin with a generated password, prints it once to stderr.
///
/// Bind the listener first (tests bind `127.0.0.1:0` and read its address), then spawn
/// this; no sleeping is needed since the socket already accepts.
pub async fn run(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    serve(
        config,
        listener,
        shutdown,
        None::<fn() -> anyhow::Result<Config>>,
    )
    .await
}

/// [`run`], and on each SIGHUP (Unix) the configuration `reread` returns is applied
/// (see the `reload` module: what changes at once, what needs a restart, and a bad
/// configuration refused with the running one kept). The binary passes
/// [`Cli::config`] over the process's environment.
pub async fn run_with_reload(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    reread: impl FnMut() -> anyhow::Result<Config> + Send + 'static,
) -> anyhow::Result<()> {
    serve(config, listener, shutdown, Some(reread)).await
}

async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    reread: Option<impl FnMut() -> anyhow::Result<Config> + Send + 'static>,
) -> anyhow::Result<()> {
    let tls = match (&config.tls_cert, &config.tls_key) {
        (Some(cert), Some(key)) => Some(tls::acceptor(cert, key)?),
        _ => None,
    };
    let addr = listener.local_addr()?;
    let opened = spv::http::AppState::open(&config).await?;
    if let Some(password) = &opened.admin_password {
        // On purpose not through tracing, so it does not end up in collected logs.
        eprintln!(
            "spv-server: created admin user {:?} with password: {}",
            config.admin_user,
            password.expose()
        );
        eprintln!("spv-server: this password is shown only once; keep it now");
    }
    if let Some(live) = opened.state.live() {
        // Several nodes (Redis): one owns each live document; the others relay here.
        live.set_address(&config.advertise_url_for(addr));
    }
    let app = app(&config, opened.state.clone());
    let drain = Duration::from_secs(config.shutdown_timeout_secs);
    let stats = opened.state.metrics().edge().clone();
    let settings = Arc::new(ArcSwap::from_pointee(conn::ConnSettings::new(&config)));
    let gate = conn::Gate::new(stats.clone());
    let running = reload::Running::new(
        config.clone(),
        app.clone(),
        settings.clone(),
        opened.state.rate_limiter().clone(),
    );
    // Installed before the first log line says the server listens, so that a SIGHUP
    // sent after it never finds the default action (which ends the process).
    let reloads = match reread {
        Some(reread) => Some(reload_on_sighup(running, reread)?),
        None => None,
    };
    tracing::info!(%addr, tls = tls.is_some(), role = %config.role, "spv-server listening");

    let (closing, _) = tokio::sync::watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors and the like: keep serving the others.
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let settings = settings.load_full();
        // Refused: the socket is dropped here, before any task or buffer.
        let Some(slot) = gate.admit(peer.ip(), &settings) else {
            continue;
        };
        // Small writes go out at once (a WebSocket message, an HTTP/2 frame): with Nagle's
        // algorithm one waits for the peer's delayed ACK, up to 40 ms on Linux.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "TCP_NODELAY not set");
        }
        tokio::spawn(conn::serve(
            stream,
            peer,
            slot,
            app.clone(),
            tls.clone(),
            settings,
            stats.clone(),
            closing.subscribe(),
        ));
    }
    drop(listener);
    if let Some(reloads) = reloads {
        reloads.abort();
    }
    // Job event streams would hold their connections open until their jobs finish.
    opened.state.closing().close();
    tracing::info!("shutting down: draining in-flight requests");
    closing.send_replace(true);
    tokio::select! {
        () = closing.closed() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(drain) => {
            tracing::warn!(seconds = drain.as_secs(), "drain deadline passed; dropping connections");
        }
    }
    // Jobs kept running while requests drained (watchers saw them progress); now they get
    // their own grace period, then go back to the queue for the next start.
    opened.shutdown(drain).await;
    tracing::info!("spv-server stopped");
    Ok(())
}

/// Listens for SIGHUP and applies what `reread` returns each time (on other platforms:
/// nothing to listen for).
fn reload_on_sighup(
    running: reload::Running,
    mut reread: impl FnMut() -> anyhow::Result<Config> + Send + 'static,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut hangups = signal(SignalKind::hangup())
            .map_err(|e| anyhow::anyhow!("cannot listen for SIGHUP: {e}"))?;
        Ok(tokio::spawn(async move {
            while hangups.recv().await.is_some() {
                tracing::info!("SIGHUP: reloading the configuration");
                match reread() {
                    Ok(config) => running.apply(config),
                    Err(error) => tracing::error!(
                        error = %format!("{error:#}"),
                        "configuration reload refused; the running configuration stays"
                    ),
                }
            }
        }))
    }
    #[cfg(not(unix))]
    {
        let _ = (running, &mut reread);
        Ok(tokio::spawn(async {}))
    }
}

/// Installs the global tracing subscriber: `config.rust_log` as the filter, text or JSON
/// lines on stderr. Does nothing when one is installed already. The filter can be
/// replaced later ([`set_log_filter`], a SIGHUP reload).
pub fn init_tracing(config: &Config) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&config.rust_log).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for people: log files and collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let installed = match config.log_format {
        LogFormat::Json => {
            let builder = builder.json().with_filter_reloading();
            let handle = builder.reload_handle();
            builder
                .try_init()
                .map(|()| reloader(move |f| handle.reload(f).map_err(|e| e.to_string())))
        }
        LogFormat::Text => {
            let builder = builder.with_filter_reloading();
            let handle = builder.reload_handle();
            builder
                .try_init()
                .map(|()| reloader(move |f| handle.reload(f).map_err(|e| e.to_string())))
        }
    };
    if let Ok(reload) = installed {
        let _first = LOG_FILTER.set(reload);
    }
}

/// Replaces the log filter of the subscriber [`init_tracing`] installed.
type FilterReload = Box<dyn Fn(tracing_subscriber::EnvFilter) -> Result<(), String> + Send + Sync>;

static LOG_FILTER: OnceLock<FilterReload> = OnceLock::new();

fn reloader(
    f: impl Fn(tracing_subscriber::EnvFilter) -> Result<(), String> + Send + Sync + 'static,
) -> FilterReload {
    Box::new(f)
}

/// Whether `filter` is a valid `RUST_LOG` filter.
pub(crate) fn check_log_filter(filter: &str) -> Result<(), String> {
    tracing_subscriber::EnvFilter::try_new(filter)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Replaces the log filter (`RUST_LOG` syntax) of the subscriber [`init_tracing`]
/// installed; logs why when it cannot (no such subscriber, a bad filter).
pub fn set_log_filter(filter: &str) {
    let Some(reload) = LOG_FILTER.get() else {
        tracing::warn!("the log filter cannot change: the subscriber is not spv-server's");
        return;
    };
    match tracing_subscriber::EnvFilter::try_new(filter) {
        Ok(parsed) => match reload(parsed) {
            Ok(()) => tracing::info!(filter, "log filter changed"),
            Err(error) => tracing::warn!(%error, "the log filter could not change"),
        },
        Err(error) => tracing::warn!(%error, "not a valid log filter; unchanged"),
    }
}

/// Completes on SIGINT (Ctrl-C) or, on Unix, SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
