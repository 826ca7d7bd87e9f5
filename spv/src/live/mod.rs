//! Live editing (`../shared/live-protocol.md`): many sessions on one stored document,
//! each change ordered, checked, stored and fanned out by the server.
//!
//! | item | what it is |
//! |---|---|
//! | [`Live`] | the service: [`Live::join`] a document, then push, send presence, leave |
//! | [`LiveConfig`] | its settings: sessions per document, compaction interval, queue bound |
//! | [`Joined`], [`LiveSession`], [`Outgoing`] | what a join gives the transport: the session to act through, the messages to send, the close code when the server ends it |
//! | [`LiveEvent`], [`LiveHook`] | what the service tells the metrics |
//!
//! One task per open document (an actor) holds the authoritative state ([`LiveDoc`](crate::glyph::ops::LiveDoc)),
//! applies pushes one at a time, each checked against the format with the validator the
//! REST API uses, and commits the accepted ones to the document's change log (grouped:
//! the pushes that arrive while a commit runs go together in the next one) before any
//! `ack` or `change` goes out. The document row's version is the fence of every append:
//! a writer that moved it first (a REST write, another node) makes the append change
//! nothing, and the actor catches up from the database and applies the pushes again.
//! The stored content catches up from the log (compaction) every
//! [`LiveConfig::compact_interval`], when the last session leaves and at shutdown.
//!
//! Several nodes (a Redis [`CacheBus`](crate::store::CacheBus) and [`Live::set_address`]):
//! one node owns a document's state at a time, through a lease in Redis with a fencing
//! number (`lease`); any node accepts a session, and one on a node that does not own the
//! document is forwarded to the owner ([`Live::owner`]: the transport relays its
//! WebSocket). The owner renews the lease while it has sessions and gives it up when the
//! last one leaves; when it dies, its lease lapses after [`LiveConfig::lease_ttl`], the
//! next session's node takes the document over from the log, and the forwarded sessions
//! (closed with 1012) reconnect and catch up. Every append stays fenced by the
//! document's version, so a stale owner writes nothing once another has written, and
//! without a lease (no Redis) several nodes' actors may append under that fence and
//! catch up with each other's commits, which the bus announces.
//!
//! The transport (the WebSocket of `spv::http`) is outside: it authenticates, checks
//! read access, parses frames, limits sizes and presence rates, and writes what
//! [`Joined::outgoing`] yields.

mod actor;
mod lease;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use crate::api::Principal;
use crate::api::live::LiveUser;
use crate::documents::Documents;
use crate::glyph::ops::RejectCode;
use crate::{Error, ErrorKind, Result};

use actor::Command;

/// Sessions one document takes by default (`SPV_LIVE_MAX_SESSIONS`).
pub const DEFAULT_MAX_SESSIONS: usize = 200;
/// How often a document under live editing is compacted by default, in seconds
/// (`SPV_LIVE_THUMBNAIL_INTERVAL_SECS`): its thumbnails follow at that pace.
pub const DEFAULT_COMPACT_SECS: u64 = 2;
/// Messages waiting for one session by default before it is closed as too slow (4008).
pub const DEFAULT_SESSION_QUEUE: usize = 1024;
/// Changes kept in the log after a compaction by default, for reconnecting clients.
pub const DEFAULT_KEEP_CHANGES: i64 = 10_000;
/// How long a node's ownership of a document lasts without renewal by default, in
/// seconds.
pub const DEFAULT_LEASE_SECS: u64 = 5;

/// What [`Live`] tells the metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum LiveEvent {
    /// A session joined (+1) or left (-1).
    Sessions(i64),
    /// A document was opened (+1) or closed (-1).
    Documents(i64),
    /// A push was accepted; its `ack` went out after this long.
    Accepted(Duration),
    /// A push was rejected.
    Rejected(RejectCode),
    /// An accepted push reached every other session's queue this long after it arrived.
    FannedOut(Duration),
    /// A document was compacted; its log held this many changes before.
    Compacted(i64),
    /// A session was closed because it fell behind (4008).
    SlowClosed,
    /// A session was forwarded to the document's owner on another node (+1), or such a
    /// session ended (-1).
    Forwarded(i64),
}

/// Where [`LiveEvent`]s go (the server's metrics).
pub type LiveHook = Arc<dyn Fn(LiveEvent) + Send + Sync>;

/// Settings of [`Live`].
#[derive(Clone)]
pub struct LiveConfig {
    /// The most sessions of one document (`SPV_LIVE_MAX_SESSIONS`); past it a join is
    /// refused with [`ErrorKind::Overloaded`] (close code 1013).
    pub max_sessions: usize,
    /// How often the stored content catches up with the log while sessions edit
    /// (`SPV_LIVE_THUMBNAIL_INTERVAL_SECS`): thumbnails of the document follow at this pace.
    pub compact_interval: Duration,
    /// Messages waiting for one session before it is closed as too slow (4008).
    pub session_queue: usize,
    /// Changes kept in the log after a compaction, so that reconnecting clients catch up.
    pub keep_changes: i64,
    /// How long a node's ownership of a document lasts without renewal (several nodes):
    /// how long sessions wait for another node to take over a dead owner's documents.
    pub lease_ttl: Duration,
    /// Where events go (metrics); `None`: nowhere.
    pub hook: Option<LiveHook>,
}

impl Default for LiveConfig {
    fn default() -> Self {
        LiveConfig {
            max_sessions: DEFAULT_MAX_SESSIONS,
            compact_interval: Duration::from_secs(DEFAULT_COMPACT_SECS),
            session_queue: DEFAULT_SESSION_QUEUE,
            keep_changes: DEFAULT_KEEP_CHANGES,
            lease_ttl: Duration::from_secs(DEFAULT_LEASE_SECS),
            hook: None,
        }
    }
}

impl std::fmt::Debug for LiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveConfig")
            .field("max_sessions", &self.max_sessions)
            .field("compact_interval", &self.compact_interval)
            .field("session_queue", &self.session_queue)
            .field("keep_changes", &self.keep_changes)
            .field("lease_ttl", &self.lease_ttl)
            .finish_non_exhaustive()
    }
}

/// The live editing service: one actor per open document, shared by every session of
/// it on this node. Cheap to clone.
///
/// ```
/// use spv::api::{CreateDocument, Principal, Scopes};
/// use spv::api::live::ServerMessage;
/// use spv::documents::{Documents, DocumentsConfig};
/// use spv::live::{Live, LiveConfig};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let db = spv::store::Db::open(None, dir.path()).await.unwrap();
/// let documents = Documents::with_db(db, DocumentsConfig::default());
/// let ann = Principal { user_id: uuid::Uuid::now_v7(), username: "ann".into(),
///     is_admin: false, scopes: Scopes::all() };
/// let bytes = br#"{"format":"glyph","version":1,"pages":[{"id":"p","width":30,"height":20,
///     "layers":[{"id":"r","type":"rect","x":0,"y":0,"width":5,"height":5}]}]}"#;
/// let doc = documents.clone().oneshot(CreateDocument::new(ann.clone(), bytes.to_vec())).await.unwrap();
///
/// let live = Live::new(documents, LiveConfig::default());
/// let mut joined = live.join(Some(ann), doc.id, None).await.unwrap();
/// let welcome: ServerMessage = serde_json::from_str(&joined.outgoing.recv().await.unwrap()).unwrap();
/// assert!(matches!(welcome, ServerMessage::Welcome { seq: 1, can_write: true, .. }));
///
/// let op = serde_json::json!({"op": "set", "target": {"node": "r"}, "key": "x", "value": 9});
/// joined.session.push("p1".into(), vec![op]).await.unwrap();
/// let ack: ServerMessage = serde_json::from_str(&joined.outgoing.recv().await.unwrap()).unwrap();
/// assert_eq!(ack, ServerMessage::Ack { id: "p1".into(), seq: 2 });
/// live.shutdown().await;
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct Live {
    inner: Arc<Hub>,
}

struct Hub {
    documents: Documents,
    config: LiveConfig,
    docs: Mutex<HashMap<Uuid, mpsc::Sender<Command>, foldhash::fast::RandomState>>,
    closing: AtomicBool,
    /// Turns `true` at shutdown: forwarded sessions close.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Actors and sessions still running: shutdown waits for them.
    alive: Arc<Alive>,
    /// This node's id among the nodes (random per process).
    node: String,
    /// Ownership of documents among nodes: set by [`Live::set_address`] with a bus.
    leases: std::sync::OnceLock<lease::Leases>,
}

/// A count of running actors and sessions, and a wake-up when it drops.
#[derive(Default)]
pub(crate) struct Alive {
    count: std::sync::atomic::AtomicUsize,
    changed: tokio::sync::Notify,
}

/// Counted in [`Alive`] while it lives.
pub(crate) struct AliveGuard(Arc<Alive>);

impl Alive {
    pub(crate) fn guard(self: &Arc<Self>) -> AliveGuard {
        self.count.fetch_add(1, Ordering::AcqRel);
        AliveGuard(self.clone())
    }
}

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::AcqRel);
        self.0.changed.notify_waiters();
    }
}

impl std::fmt::Debug for AliveGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AliveGuard")
    }
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Live")
            .field("config", &self.config)
            .field("open", &self.open_documents())
            .finish_non_exhaustive()
    }
}

impl Hub {
    fn docs(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<Uuid, mpsc::Sender<Command>, foldhash::fast::RandomState>>
    {
        self.docs.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn open_documents(&self) -> usize {
        self.docs().len()
    }

    fn event(&self, event: LiveEvent) {
        if let Some(hook) = &self.config.hook {
            hook(event);
        }
    }
}

/// A session forwarded to the document's owner on another node, from
/// [`Live::forwarding`].
pub struct Forwarding {
    hub: Arc<Hub>,
    _alive: AliveGuard,
    stopping: tokio::sync::watch::Receiver<bool>,
}

impl Forwarding {
    /// Completes when this node begins to shut down: the forwarded session then closes
    /// (1001).
    pub async fn stopping(&mut self) {
        let _ = self.stopping.wait_for(|stopping| *stopping).await;
    }
}

impl Drop for Forwarding {
    fn drop(&mut self) {
        self.hub.event(LiveEvent::Forwarded(-1));
    }
}

impl std::fmt::Debug for Forwarding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Forwarding")
    }
}

/// What a session sends to its client: one JSON text frame each.
pub type Outgoing = Arc<str>;

/// What [`Live::join`] gives the transport.
#[derive(Debug)]
pub struct Joined {
    /// The session, to push and send presence through; leaves when dropped.
    pub session: LiveSession,
    /// The messages for the client, in order: first `welcome` or `catchup`.
    pub outgoing: mpsc::Receiver<Outgoing>,
    /// Completes with a close code when the server ends the session: 4008 (too slow),
    /// 4004 (the document was deleted), 1001 (shutdown), 1012 (reload: reconnect).
    pub closed: oneshot::Receiver<u16>,
}

/// One session of a document: what its client does goes through here. Dropping it
/// leaves the document (peers see its presence cleared).
#[derive(Debug)]
pub struct LiveSession {
    id: String,
    document: Uuid,
    can_write: bool,
    user: LiveUser,
    actor: mpsc::Sender<Command>,
    _alive: AliveGuard,
}

impl LiveSession {
    /// The session's id, as peers see it.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The document.
    pub fn document(&self) -> Uuid {
        self.document
    }

    /// Whether the session may push.
    pub fn can_write(&self) -> bool {
        self.can_write
    }

    /// The session's user.
    pub fn user(&self) -> &LiveUser {
        &self.user
    }

    /// Sends a push (`id`: the client's id, `ops`: the operations as sent); its `ack` or
    /// `reject` comes through [`Joined::outgoing`]. Waits while the document's queue is
    /// full; an error when the document closed.
    pub async fn push(&self, id: String, ops: Vec<Value>) -> Result<()> {
        self.send(Command::Push {
            session: self.id.clone(),
            id,
            ops,
            received: Instant::now(),
        })
        .await
    }

    /// Sets this session's presence (`None` clears it); peers get it as `presence`.
    pub async fn presence(&self, state: Option<Value>) -> Result<()> {
        self.send(Command::Presence {
            session: self.id.clone(),
            state,
        })
        .await
    }

    async fn send(&self, command: Command) -> Result<()> {
        self.actor
            .send(command)
            .await
            .map_err(|_| Error::new(ErrorKind::Unavailable, "the document's live session ended"))
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        let leave = Command::Leave {
            session: self.id.clone(),
        };
        if let Err(mpsc::error::TrySendError::Full(leave)) = self.actor.try_send(leave) {
            let actor = self.actor.clone();
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = actor.send(leave).await;
                });
            }
        }
    }
}

/// Commands waiting for one document's actor before senders wait.
const ACTOR_QUEUE: usize = 4096;

impl Live {
    /// The service over `documents` (their repository keeps the change log). Follows
    /// the documents' changes (REST writes here, and with a bus, commits of other
    /// nodes): open documents catch up at once.
    pub fn new(documents: Documents, config: LiveConfig) -> Self {
        let live = Live {
            inner: Arc::new(Hub {
                documents: documents.clone(),
                config,
                docs: Mutex::default(),
                closing: AtomicBool::new(false),
                stopping: tokio::sync::watch::Sender::new(false),
                alive: Arc::default(),
                node: random_id(12),
                leases: std::sync::OnceLock::new(),
            }),
        };
        let weak = Arc::downgrade(&live.inner);
        let mut changes = documents.subscribe();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                loop {
                    let id = match changes.recv().await {
                        Ok(id) => Some(id),
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    };
                    let Some(hub) = weak.upgrade() else { return };
                    hub.refresh(id);
                }
            });
        }
        if let Some(bus) = documents.bus() {
            let weak = Arc::downgrade(&live.inner);
            bus.on_invalidate(Arc::new(move |what| {
                if let Some(hub) = weak.upgrade() {
                    match what {
                        crate::store::Invalidation::Document(id) => hub.refresh(Some(id)),
                        crate::store::Invalidation::All => hub.refresh(None),
                    }
                }
            }));
        }
        live
    }

    /// The settings.
    pub fn config(&self) -> &LiveConfig {
        &self.inner.config
    }

    /// How many documents have an actor on this node now.
    pub fn open_documents(&self) -> usize {
        self.inner.open_documents()
    }

    /// Tells the service where other nodes reach this one (`http://host:port`, the
    /// server's own address). With a Redis bus under the documents, documents are then
    /// owned by one node at a time (a lease), and sessions that reach another node are
    /// forwarded here when this node owns their document (see [`Live::owner`]). Without
    /// a bus, or before this is called, every node serves its sessions itself. The first
    /// call counts.
    pub fn set_address(&self, url: &str) {
        let Some(bus) = self.inner.documents.bus() else {
            return;
        };
        let url = url.trim_end_matches('/').to_string();
        let leases = lease::Leases::new(
            bus.redis().clone(),
            self.inner.node.clone(),
            url.clone(),
            self.inner.config.lease_ttl,
        );
        if self.inner.leases.set(leases).is_ok() {
            tracing::info!(node = %self.inner.node, %url, "live documents are owned by one node at a time");
        }
    }

    /// The address of the node that owns document `id` when it is another node
    /// (sessions of it are forwarded there); `None` when this node owns it, nobody does
    /// (a join here takes it), or nodes do not share ownership (no lease, or Redis away:
    /// then this node serves it under the version fence).
    pub async fn owner(&self, id: Uuid) -> Option<String> {
        let leases = self.inner.leases.get()?;
        if self.inner.docs().get(&id).is_some_and(|a| !a.is_closed()) {
            return None;
        }
        match leases.holder(id).await {
            Ok(lease::Holder::Node { url, .. }) => Some(url),
            Ok(_) => None,
            Err(error) => {
                tracing::warn!(%error, "live: the owner of a document is unknown; serving it here");
                None
            }
        }
    }

    /// How long a dead owner's documents wait before another node takes them over (the
    /// lease's time to live).
    pub fn lease_ttl(&self) -> Duration {
        self.inner.config.lease_ttl
    }

    /// Counts a session forwarded to another node while the guard lives (shutdown
    /// waits for it), and tells the metrics.
    pub fn forwarding(&self) -> Forwarding {
        self.inner.event(LiveEvent::Forwarded(1));
        Forwarding {
            hub: self.inner.clone(),
            _alive: self.inner.alive.guard(),
            stopping: self.inner.stopping.subscribe(),
        }
    }

    /// Joins document `id` as `principal` (`None`: an anonymous viewer), which the
    /// caller has checked may read it. `last_seq`: the last change the client applied
    /// (a reconnect): the first message is `catchup` when the log still holds the
    /// changes after it, else `welcome`.
    ///
    /// Errors: [`ErrorKind::NotFound`] (no such document), [`ErrorKind::Overloaded`]
    /// (the document has `max_sessions` sessions, or the server is stopping),
    /// [`ErrorKind::InvalidRequest`] (a package, which live editing does not change),
    /// and those of the database.
    pub async fn join(
        &self,
        principal: Option<Principal>,
        id: Uuid,
        last_seq: Option<i64>,
    ) -> Result<Joined> {
        for _ in 0..3 {
            if self.inner.closing.load(Ordering::Acquire) {
                return Err(Error::new(ErrorKind::Overloaded, "the server is stopping"));
            }
            let (reply, answer) = oneshot::channel();
            let (tx, outgoing) = mpsc::channel(self.inner.config.session_queue.max(4));
            let (kill, closed) = oneshot::channel();
            let session = session_id();
            let user = match &principal {
                Some(p) if !p.is_anonymous() => LiveUser {
                    id: p.user_id.to_string(),
                    name: p.username.clone(),
                },
                _ => LiveUser {
                    id: Uuid::nil().to_string(),
                    name: "anonymous".into(),
                },
            };
            let command = Command::Join {
                session: session.clone(),
                user: user.clone(),
                principal: principal.clone(),
                last_seq,
                tx,
                kill,
                reply,
            };
            let actor = {
                let mut docs = self.inner.docs();
                let actor = match docs.get(&id) {
                    Some(actor) if !actor.is_closed() => actor.clone(),
                    _ => {
                        let actor = actor::spawn(self.inner.clone(), id);
                        docs.insert(id, actor.clone());
                        actor
                    }
                };
                match actor.try_send(command) {
                    Ok(()) => actor,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        return Err(Error::new(
                            ErrorKind::Overloaded,
                            format!("document {id} is busy: try again later"),
                        ));
                    }
                    // The actor ended meanwhile: start another.
                    Err(mpsc::error::TrySendError::Closed(_)) => {
                        docs.remove(&id);
                        continue;
                    }
                }
            };
            match answer.await {
                Ok(Ok(can_write)) => {
                    return Ok(Joined {
                        session: LiveSession {
                            id: session,
                            document: id,
                            can_write,
                            user,
                            actor,
                            _alive: self.inner.alive.guard(),
                        },
                        outgoing,
                        closed,
                    });
                }
                Ok(Err(error)) => return Err(error),
                // The actor ended before it answered (it was closing): try again.
                Err(_) => continue,
            }
        }
        Err(Error::new(
            ErrorKind::Unavailable,
            format!("document {id} could not be opened for live editing"),
        ))
    }

    /// Compacts every open document and closes its sessions (1001): call it when the
    /// server stops. Joins are refused from now on.
    pub async fn shutdown(&self) {
        self.inner.closing.store(true, Ordering::Release);
        self.inner.stopping.send_replace(true);
        let actors: Vec<_> = self.inner.docs().drain().map(|(_, a)| a).collect();
        let mut waits = Vec::new();
        for actor in actors {
            let (done, wait) = oneshot::channel();
            if actor.send(Command::Shutdown { done }).await.is_ok() {
                waits.push(wait);
            }
        }
        for wait in waits {
            let _ = tokio::time::timeout(Duration::from_secs(10), wait).await;
        }
        // Until every actor (a shutdown begun elsewhere too) and every session has ended:
        // the sessions' close frames go out before the process does.
        let alive = &self.inner.alive;
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                let changed = alive.changed.notified();
                if alive.count.load(Ordering::Acquire) == 0 {
                    break;
                }
                changed.await;
            }
        })
        .await;
    }
}

impl Hub {
    /// Tells the actor of `id` (every actor for `None`) to catch up with the database.
    fn refresh(&self, id: Option<Uuid>) {
        let docs = self.docs();
        let actors: Vec<_> = match id {
            Some(id) => docs.get(&id).cloned().into_iter().collect(),
            None => docs.values().cloned().collect(),
        };
        drop(docs);
        for actor in actors {
            // A full queue has work under way: the actor checks the database then anyway.
            let _ = actor.try_send(Command::Refresh);
        }
    }
}

/// A fresh session id: 12 characters of `A-Za-z0-9`.
fn session_id() -> String {
    random_id(12)
}

/// A random id of `len` characters of `A-Za-z0-9` (ids of sessions and of the pages and
/// nodes that lacked one).
pub(crate) fn random_id(len: usize) -> String {
    use rand::Rng as _;
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}
