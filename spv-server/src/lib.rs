//! `spv-server`: the spv HTTP daemon as a library, so tests run the real server.
//!
//! | item | what it is |
//! |---|---|
//! | [`run`] | serves [`app`] on a bound listener until a shutdown future completes |
//! | [`app`] | `spv::http::api` with the server's handling of every request around it (request ids, tracing, timeouts, panics, body limit, compression, CORS, security headers) |
//! | [`Cli`] | the command-line flags (`--role`, `--no-migrate`, …); [`Cli::config`] merges file, environment and flags |
//! | [`init_tracing`] | text or JSON logs filtered by `RUST_LOG` |
//! | [`shutdown_signal`] | completes on SIGINT or SIGTERM |
//!
//! Connections are served by hyper-util's automatic builder: HTTP/1.1 and HTTP/2 (also
//! cleartext HTTP/2 with prior knowledge), over TLS with ALPN when `SPV_TLS_CERT` and
//! `SPV_TLS_KEY` are set. On shutdown the listener closes, in-flight requests finish
//! within `SPV_SHUTDOWN_TIMEOUT_SECS`, then the remaining connections are dropped; then
//! the job workers stop claiming, running jobs get another `SPV_SHUTDOWN_TIMEOUT_SECS`
//! and are then given back to the queue (the next start runs them), and the database
//! closes.

mod cli;
mod layers;
mod tls;

use std::future::Future;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
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
    let app = app(&config, opened.state.clone());
    let drain = Duration::from_secs(config.shutdown_timeout_secs);
    tracing::info!(%addr, tls = tls.is_some(), role = %config.role, "spv-server listening");

    let builder = Builder::new(TokioExecutor::new());
    let graceful = GracefulShutdown::new();
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
        let service = app.clone().with_peer(peer);
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let result = match tls {
                Some(acceptor) => match acceptor.accept(stream).await {
                    Ok(stream) => {
                        let conn =
                            builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                        watcher.watch(conn.into_owned()).await
                    }
                    Err(error) => {
                        tracing::debug!(%peer, %error, "TLS handshake failed");
                        return;
                    }
                },
                None => {
                    let conn =
                        builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
                    watcher.watch(conn.into_owned()).await
                }
            };
            if let Err(error) = result {
                tracing::debug!(%peer, %error, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // Job event streams would hold their connections open until their jobs finish.
    opened.state.closing().close();
    tracing::info!("shutting down: draining in-flight requests");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
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

/// Installs the global tracing subscriber: `config.rust_log` as the filter, text or JSON
/// lines on stderr. Does nothing when one is installed already.
pub fn init_tracing(config: &Config) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_new(&config.rust_log).unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only for people: log files and collectors get plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _already_set = match config.log_format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
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
