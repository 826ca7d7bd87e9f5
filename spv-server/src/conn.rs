//! Connections: the caps checked right after accept, and the time limits of each
//! connection (head, idle, age) around hyper-util's connection future.
//!
//! A refused connection costs the accept and a lock of the per-address table: no task,
//! no buffer, the socket is dropped at once. An admitted one holds a [`Slot`] inside its
//! I/O, so it counts until the socket closes, across TLS and protocol upgrades.

use std::collections::HashMap;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use spv::config::Config;
use spv::guard::{Closed, EdgeStats, Refused};
use spv::ratelimit::{Subject, TrustedProxies};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_rustls::TlsAcceptor;

use crate::layers::App;

/// The settings of new connections (replaced whole on reload; open connections keep
/// theirs).
pub(crate) struct ConnSettings {
    builder: Builder<TokioExecutor>,
    header_timeout: Duration,
    idle_timeout: Duration,
    max_age: Option<Duration>,
    max_connections: usize,
    max_per_ip: usize,
    trusted: TrustedProxies,
}

impl ConnSettings {
    pub(crate) fn new(config: &Config) -> ConnSettings {
        let header_timeout = Duration::from_secs(config.header_timeout_secs);
        let mut builder = Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(header_timeout);
        ConnSettings {
            builder,
            header_timeout,
            idle_timeout: Duration::from_secs(config.idle_timeout_secs),
            max_age: (config.max_connection_age_secs > 0)
                .then(|| Duration::from_secs(config.max_connection_age_secs)),
            max_connections: config.max_connections,
            max_per_ip: config.max_connections_per_ip,
            trusted: config.trusted_proxies.clone(),
        }
    }
}

/// The connection caps: how many are open, in total and by client address.
pub(crate) struct Gate {
    stats: Arc<EdgeStats>,
    open: AtomicUsize,
    by_ip: Mutex<HashMap<Subject, usize, foldhash::fast::RandomState>>,
}

impl Gate {
    pub(crate) fn new(stats: Arc<EdgeStats>) -> Arc<Gate> {
        Arc::new(Gate {
            stats,
            open: AtomicUsize::new(0),
            by_ip: Mutex::default(),
        })
    }

    /// A slot for a connection from `peer`, or `None` (counted) when a cap is reached.
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr, settings: &ConnSettings) -> Option<Slot> {
        if self.open.fetch_add(1, Ordering::AcqRel) >= settings.max_connections {
            self.open.fetch_sub(1, Ordering::AcqRel);
            self.stats.refuse(Refused::Total);
            return None;
        }
        let key = (settings.max_per_ip > 0 && !settings.trusted.contains(peer))
            .then(|| Subject::ip(peer));
        if let Some(key) = key {
            let mut by_ip = self.by_ip.lock().unwrap_or_else(|e| e.into_inner());
            let count = by_ip.entry(key).or_insert(0);
            if *count >= settings.max_per_ip {
                drop(by_ip);
                self.open.fetch_sub(1, Ordering::AcqRel);
                self.stats.refuse(Refused::PerIp);
                return None;
            }
            *count += 1;
        }
        self.stats.opened();
        Some(Slot {
            gate: Arc::clone(self),
            key,
        })
    }
}

/// An admitted connection's place in the [`Gate`], given back on drop.
pub(crate) struct Slot {
    gate: Arc<Gate>,
    key: Option<Subject>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            let mut by_ip = self.gate.by_ip.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(count) = by_ip.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    by_ip.remove(&key);
                }
            }
        }
        self.gate.open.fetch_sub(1, Ordering::AcqRel);
        self.gate.stats.ended();
    }
}

/// What a connection did, for its time limits: I/O operations that moved bytes, and
/// requests begun and in flight (counted by [`App`]).
#[derive(Debug, Default)]
pub(crate) struct Activity {
    io: AtomicU64,
    requests: AtomicU64,
    in_flight: AtomicUsize,
}

impl Activity {
    /// A request began; the returned guard ends it when dropped.
    pub(crate) fn request(self: &Arc<Self>) -> InFlight {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(Arc::clone(self))
    }
}

/// A request in flight on a connection (see [`Activity::request`]).
pub(crate) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

pin_project_lite::pin_project! {
    /// A socket that counts its I/O in [`Activity`] and holds its [`Slot`].
    struct Tracked<T> {
        #[pin]
        inner: T,
        activity: Arc<Activity>,
        slot: Slot,
    }
}

impl<T: AsyncRead> AsyncRead for Tracked<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let result = this.inner.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.io.fetch_add(1, Ordering::Relaxed);
        }
        result
    }
}

impl<T: AsyncWrite> AsyncWrite for Tracked<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let result = this.inner.poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.io.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.project();
        let result = this.inner.poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            this.activity.io.fetch_add(1, Ordering::Relaxed);
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.project().inner.poll_shutdown(cx)
    }
}

/// One admitted connection, served until it ends, a time limit closes it, or the
/// server stops (`shutdown` changes: graceful close).
#[allow(clippy::too_many_arguments)] // One call, in the accept loop.
pub(crate) async fn serve(
    stream: TcpStream,
    peer: std::net::SocketAddr,
    slot: Slot,
    app: App,
    tls: Option<TlsAcceptor>,
    settings: Arc<ConnSettings>,
    stats: Arc<EdgeStats>,
    shutdown: watch::Receiver<bool>,
) {
    let activity = Arc::new(Activity::default());
    let head_deadline = Instant::now() + settings.header_timeout;
    let io = Tracked {
        inner: stream,
        activity: Arc::clone(&activity),
        slot,
    };
    let app = app.with_peer(peer).with_activity(Arc::clone(&activity));
    match tls {
        Some(acceptor) => match tokio::time::timeout_at(head_deadline, acceptor.accept(io)).await {
            Ok(Ok(stream)) => {
                drive(
                    TokioIo::new(stream),
                    app,
                    &settings,
                    &stats,
                    &activity,
                    head_deadline,
                    shutdown,
                )
                .await
            }
            Ok(Err(error)) => tracing::debug!(%peer, %error, "TLS handshake failed"),
            Err(_) => {
                stats.close(Closed::Head);
                tracing::debug!(%peer, "TLS handshake not done within SPV_HEADER_TIMEOUT_SECS");
            }
        },
        None => {
            drive(
                TokioIo::new(io),
                app,
                &settings,
                &stats,
                &activity,
                head_deadline,
                shutdown,
            )
            .await
        }
    }
}

async fn drive<I>(
    io: I,
    app: App,
    settings: &ConnSettings,
    stats: &EdgeStats,
    activity: &Activity,
    head_deadline: Instant,
    mut shutdown: watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let conn = settings.builder.serve_connection_with_upgrades(io, app);
    let mut conn = std::pin::pin!(conn);
    let head = tokio::time::sleep_until(head_deadline);
    let mut head = std::pin::pin!(head);
    let mut head_pending = true;
    let age = tokio::time::sleep(
        settings
            .max_age
            .unwrap_or(Duration::from_secs(86_400 * 365)),
    );
    let mut age = std::pin::pin!(age);
    // The idle check looks four times per timeout: a connection goes at most a quarter
    // of the timeout late.
    let every = (settings.idle_timeout / 4).max(Duration::from_millis(10));
    let mut tick = tokio::time::interval_at(Instant::now() + every, every);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut last_io = activity.io.load(Ordering::Relaxed);
    let mut quiet_since = Instant::now();
    let mut closing = false;
    loop {
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(error) = result {
                    let timed_out = error
                        .downcast_ref::<hyper::Error>()
                        .is_some_and(hyper::Error::is_timeout);
                    if timed_out {
                        stats.close(Closed::Head);
                    }
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = &mut head, if head_pending => {
                head_pending = false;
                if activity.requests.load(Ordering::Relaxed) == 0 {
                    stats.close(Closed::Head);
                    tracing::debug!("no request head within SPV_HEADER_TIMEOUT_SECS: closed");
                    return;
                }
            }
            () = &mut age, if !closing && settings.max_age.is_some() => {
                stats.close(Closed::Age);
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            now = tick.tick() => {
                let io = activity.io.load(Ordering::Relaxed);
                let busy = activity.in_flight.load(Ordering::Relaxed) > 0;
                if io != last_io || busy {
                    last_io = io;
                    quiet_since = now;
                } else if now.duration_since(quiet_since) >= settings.idle_timeout {
                    stats.close(Closed::Idle);
                    tracing::debug!("idle for SPV_IDLE_TIMEOUT_SECS: closed");
                    return;
                }
            }
            _ = shutdown.changed(), if !closing => {
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}
