//! The actor of one open document: the authoritative state, the order of pushes, group
//! commits to the change log, fan-out, presence, compaction.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

use super::{Hub, LiveEvent, Outgoing, random_id};
use crate::api::live::{LiveChange, LiveUser, Peer, ServerMessage, close};
use crate::api::{Document, PageSummary, Principal, Scope};
use crate::documents::{self, LiveBase, StoredChange};
use crate::glyph::ops::{Applied, LiveDoc, Op, OpError, RejectCode, parse_ops};
use crate::glyph::{self, Limits};
use crate::store::{from_ms, hex, now_ms};
use crate::{Error, ErrorKind, Result};

/// The most pushes one group commit carries.
const MAX_BATCH: usize = 512;
/// The most times a group commit is applied again after another writer got in first.
const MAX_ATTEMPTS: u32 = 50;
/// The most changes a `catchup` carries; a client further behind gets `welcome`.
const MAX_CATCHUP: i64 = 10_000;
/// The most bytes of operations a `catchup` carries (else `welcome`).
const MAX_CATCHUP_BYTES: usize = 32 << 20;

pub(super) enum Command {
    Join {
        session: String,
        user: LiveUser,
        principal: Option<Principal>,
        last_seq: Option<i64>,
        tx: mpsc::Sender<Outgoing>,
        kill: oneshot::Sender<u16>,
        reply: oneshot::Sender<Result<bool>>,
    },
    Leave {
        session: String,
    },
    Push {
        session: String,
        id: String,
        ops: Vec<Value>,
        received: Instant,
    },
    Presence {
        session: String,
        state: Option<Value>,
    },
    Refresh,
    /// The lease of the document is no longer this node's (see `lease`).
    LeaseLost,
    /// A compaction's write ended.
    Compacted {
        version: i64,
        logged: i64,
        stored: Result<bool>,
    },
    Shutdown {
        done: oneshot::Sender<()>,
    },
}

struct Session {
    user: LiveUser,
    /// Who the session is (`None`: anonymous): its rights are judged again when the
    /// document's owner or visibility changes.
    principal: Option<Principal>,
    can_write: bool,
    tx: mpsc::Sender<Outgoing>,
    kill: Option<oneshot::Sender<u16>>,
    state: Option<Value>,
}

struct PushIn {
    session: String,
    id: String,
    ops: Vec<Value>,
    received: Instant,
}

/// What the blocking step made of one push.
enum Outcome {
    Accepted { json: String },
    Rejected(OpError),
}

struct Actor {
    hub: Arc<Hub>,
    id: Uuid,
    doc: Option<LiveDoc>,
    meta: Document,
    seq: i64,
    content_version: i64,
    sessions: HashMap<String, Session, foldhash::fast::RandomState>,
    last_compaction: Instant,
    /// A compaction's write is under way.
    compacting: bool,
}

/// Starts the actor of document `id`; its state loads before the first command is
/// answered.
pub(super) fn spawn(hub: Arc<Hub>, id: Uuid) -> mpsc::Sender<Command> {
    let (tx, rx) = mpsc::channel(super::ACTOR_QUEUE);
    let span = tracing::info_span!("live", document = %id);
    let alive = hub.alive.guard();
    let task = run(hub, id, rx, tx.clone());
    tokio::spawn(tracing::Instrument::instrument(
        async move {
            task.await;
            drop(alive);
        },
        span,
    ));
    tx
}

async fn run(hub: Arc<Hub>, id: Uuid, rx: mpsc::Receiver<Command>, me: mpsc::Sender<Command>) {
    // Several nodes: own the document first (a lease), or tell the joins where it is.
    let lease = match hub.leases.get() {
        None => None,
        Some(leases) => match leases.acquire(id).await {
            Ok(Ok(lease)) => Some(lease),
            Ok(Err(holder)) => {
                let url = match holder {
                    super::lease::Holder::Node { url, .. } => url,
                    _ => String::from("another node"),
                };
                let error = Error::new(
                    ErrorKind::Conflict,
                    format!("document {id} is open on another node ({url}): reconnect"),
                );
                return refuse(&hub, id, rx, &me, &error).await;
            }
            Err(error) => {
                // Redis away: serve under the version fence (safe, if not alone).
                tracing::warn!(%error, "live: no lease for the document; serving it under the version fence");
                None
            }
        },
    };
    let (renewing, renewal_ended) = oneshot::channel::<()>();
    if let (Some(lease), Some(leases)) = (&lease, hub.leases.get()) {
        tokio::spawn(renew(
            leases.clone(),
            lease.clone(),
            me.clone(),
            renewal_ended,
        ));
    }
    run_owned(hub.clone(), id, rx, me).await;
    drop(renewing);
    if let (Some(lease), Some(leases)) = (&lease, hub.leases.get()) {
        leases.release(lease).await;
    }
}

/// Answers every join waiting in `rx` with `error`, and ends.
async fn refuse(
    hub: &Hub,
    id: Uuid,
    mut rx: mpsc::Receiver<Command>,
    me: &mpsc::Sender<Command>,
    error: &Error,
) {
    forget(hub, id, me);
    rx.close();
    while let Some(command) = rx.recv().await {
        if let Command::Join { reply, .. } = command {
            let _ = reply.send(Err(Error::new(error.kind(), error.to_string())));
        }
    }
}

/// Renews `lease` every third of its time to live until `ended` (the actor ended);
/// tells the actor when the lease is lost (another node holds it, or no renewal
/// succeeded for a whole time to live).
async fn renew(
    leases: super::lease::Leases,
    lease: super::lease::Lease,
    actor: mpsc::Sender<Command>,
    mut ended: oneshot::Receiver<()>,
) {
    let every = leases.ttl() / 3;
    let mut renewed = Instant::now();
    loop {
        tokio::select! {
            _ = &mut ended => return,
            () = tokio::time::sleep(every) => {}
        }
        match leases.renew(&lease).await {
            Ok(true) => renewed = Instant::now(),
            Ok(false) => {
                tracing::warn!(epoch = lease.epoch, "live lease lost to another node");
                break;
            }
            Err(error) if renewed.elapsed() >= leases.ttl() => {
                tracing::warn!(%error, epoch = lease.epoch, "live lease not renewed in time");
                break;
            }
            Err(error) => tracing::debug!(%error, "live lease renewal failed: trying again"),
        }
    }
    let _ = actor.send(Command::LeaseLost).await;
}

async fn run_owned(
    hub: Arc<Hub>,
    id: Uuid,
    mut rx: mpsc::Receiver<Command>,
    me: mpsc::Sender<Command>,
) {
    let mut actor = match Actor::load(hub.clone(), id).await {
        Ok(actor) => actor,
        Err(error) => {
            // Answer whoever waits with the error, then end: the next join tries again.
            return refuse(&hub, id, rx, &me, &error).await;
        }
    };
    hub.event(LiveEvent::Documents(1));
    let mut tick =
        tokio::time::interval(hub.config.compact_interval.max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch: Vec<PushIn> = Vec::new();
    loop {
        let command = tokio::select! {
            command = rx.recv() => command,
            _ = tick.tick() => {
                if actor.seq > actor.content_version
                    && actor.last_compaction.elapsed() >= hub.config.compact_interval
                {
                    actor.compact_in_background(&me).await;
                }
                continue;
            }
        };
        let Some(command) = command else { break };
        // Everything already waiting goes in this round: pushes in one group commit.
        let mut commands = vec![command];
        while commands.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(command) => commands.push(command),
                Err(_) => break,
            }
        }
        let mut stop = None;
        for command in commands {
            match command {
                Command::Push {
                    session,
                    id,
                    ops,
                    received,
                } => batch.push(PushIn {
                    session,
                    id,
                    ops,
                    received,
                }),
                // Presence is not ordered with changes: it does not end the group.
                Command::Presence { session, state } => actor.presence(&session, state),
                Command::Compacted {
                    version,
                    logged,
                    stored,
                } => {
                    actor.compacting = false;
                    actor.compacted(version, logged, stored);
                }
                other => {
                    // Pushes before another command are committed first, so that a join
                    // or a refresh sees them.
                    if !batch.is_empty() && !actor.commit(std::mem::take(&mut batch)).await {
                        stop = Some(None);
                        break;
                    }
                    match other {
                        Command::Join {
                            session,
                            user,
                            principal,
                            last_seq,
                            tx,
                            kill,
                            reply,
                        } => {
                            let answer = actor
                                .join(session, user, principal.as_ref(), last_seq, tx, kill)
                                .await;
                            let _ = reply.send(answer);
                        }
                        Command::Leave { session } => actor.leave(&session),
                        Command::Refresh => {
                            if !actor.refresh().await {
                                stop = Some(None);
                                break;
                            }
                        }
                        Command::Shutdown { done } => {
                            stop = Some(Some(done));
                            break;
                        }
                        Command::LeaseLost => {
                            // Another node owns the document now: its sessions go there.
                            actor.close_all(close::RESTART);
                            stop = Some(None);
                            break;
                        }
                        Command::Push { .. }
                        | Command::Presence { .. }
                        | Command::Compacted { .. } => {}
                    }
                }
            }
        }
        if stop.is_none() && !batch.is_empty() && !actor.commit(std::mem::take(&mut batch)).await {
            stop = Some(None);
        }
        match stop {
            Some(Some(done)) => {
                // Shutdown: the pushes read so far are committed above; compact, close.
                if !batch.is_empty() {
                    actor.commit(std::mem::take(&mut batch)).await;
                }
                actor.compact().await;
                actor.close_all(close::GOING_AWAY);
                forget(&hub, id, &me);
                let _ = done.send(());
                break;
            }
            Some(None) => {
                // The state could not be kept true (the database failed, or the document
                // is gone): sessions were closed; the next join loads afresh.
                forget(&hub, id, &me);
                break;
            }
            None => {}
        }
        if actor.doc.is_none() {
            // The state was lost (a task that held it panicked): sessions reconnect and
            // the next join loads it afresh.
            actor.close_all(close::RESTART);
            forget(&hub, id, &me);
            break;
        }
        if actor.sessions.is_empty() {
            actor.compact().await;
            // Leave only when no join is on its way: joins send under the hub's lock.
            let mut docs = hub.docs();
            if rx.is_empty() && actor.sessions.is_empty() {
                if docs.get(&id).is_some_and(|a| a.same_channel(&me)) {
                    docs.remove(&id);
                }
                break;
            }
        }
    }
    hub.event(LiveEvent::Documents(-1));
}

/// Removes the hub's entry of `id` when it is this actor's.
fn forget(hub: &Hub, id: Uuid, me: &mpsc::Sender<Command>) {
    let mut docs = hub.docs();
    if docs.get(&id).is_some_and(|a| a.same_channel(me)) {
        docs.remove(&id);
    }
}

/// The state of a document at its version: the stored content with the logged changes
/// after it, ids given to pages and nodes that lacked them (then stored as a new
/// version).
async fn load_state(hub: &Hub, id: Uuid) -> Result<(LiveDoc, Document, i64, i64)> {
    let repo = hub.documents.repo().clone();
    for _ in 0..3 {
        let Some(base) = repo.live_base(id).await? else {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("document {id} was not found"),
            ));
        };
        if base.document.package {
            return Err(Error::invalid_request(format!(
                "document {id} is a package (zip): live editing changes JSON documents only"
            )));
        }
        let wanted = base.document.version - base.content_version;
        let changes = if wanted > 0 {
            repo.changes_after(id, base.content_version, wanted).await?
        } else {
            Vec::new()
        };
        if changes.len() as i64 != wanted {
            // Compacted meanwhile: read again.
            continue;
        }
        let LiveBase {
            document,
            content,
            content_version,
        } = base;
        let (doc, assigned) = tokio::task::spawn_blocking(move || -> Result<(LiveDoc, bool)> {
            let value: Value = serde_json::from_slice(&content)
                .map_err(|e| Error::internal(format!("stored document: {e}")))?;
            let (mut doc, assigned) = LiveDoc::from_value(value, &mut || random_id(10))
                .map_err(|e| Error::internal(format!("stored document: {e}")))?;
            for change in &changes {
                let ops: Vec<Op> = serde_json::from_str(&change.ops)
                    .map_err(|e| Error::internal(format!("change {}: {e}", change.seq)))?;
                doc.apply(&ops, None)
                    .map_err(|e| Error::internal(format!("change {}: {e}", change.seq)))?;
            }
            Ok((doc, assigned))
        })
        .await
        .map_err(|e| Error::internal(format!("loading a document: {e}")))??;
        if !assigned {
            let seq = document.version;
            return Ok((doc, document, seq, content_version));
        }
        // Pages or nodes lacked ids: store the document with them as the next version.
        let (doc, encoded) = serialize(doc, hub.documents.limits().clone()).await;
        let (bytes, pages) = encoded?;
        let Some(doc) = doc else {
            return Err(Error::internal("encoding a document lost it"));
        };
        let mut next = document.clone();
        next.version = document.version + 1;
        next.updated_at = from_ms(now_ms()).max(document.updated_at);
        next.content_sha256 = hex(&Sha256::digest(&bytes));
        next.content_length = bytes.len() as u64;
        next.pages = pages;
        if repo.update(&next, Some(&bytes), document.version).await? {
            hub.documents.notify_changed(id).await;
            let seq = next.version;
            return Ok((doc, next, seq, seq));
        }
    }
    Err(Error::new(
        ErrorKind::Conflict,
        format!("document {id} kept changing while it was opened for live editing"),
    ))
}

/// The JSON of `doc` and its page summaries, on a blocking thread; checked against the
/// format.
async fn serialize(
    doc: LiveDoc,
    limits: Limits,
) -> (Option<LiveDoc>, Result<(Vec<u8>, Vec<PageSummary>)>) {
    let encoded = tokio::task::spawn_blocking(move || {
        let encoded = (|| {
            let bytes = serde_json::to_vec(&doc.to_value())
                .map_err(|e| Error::internal(format!("encoding a document: {e}")))?;
            let parsed = glyph::parse_json(&bytes, &limits)?;
            Ok((bytes, crate::documents::page_summaries(&parsed)))
        })();
        (doc, encoded)
    })
    .await;
    match encoded {
        Ok((doc, encoded)) => (Some(doc), encoded),
        // The state went with the task (it panicked): the caller reloads or ends.
        Err(e) => (
            None,
            Err(Error::internal(format!("encoding a document: {e}"))),
        ),
    }
}

/// The document as a JSON value, on a blocking thread.
async fn document_value(doc: LiveDoc) -> Result<(LiveDoc, Value)> {
    tokio::task::spawn_blocking(move || {
        let value = doc.to_value();
        (doc, value)
    })
    .await
    .map_err(|e| Error::internal(format!("encoding a document: {e}")))
}

fn text(message: &ServerMessage) -> Outgoing {
    // Our own types always serialize.
    serde_json::to_string(message)
        .unwrap_or_else(|_| {
            String::from(r#"{"type":"error","code":"internal","detail":"encoding"}"#)
        })
        .into()
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| String::from("\"\""))
}

/// The user of a logged change.
fn logged_user(change: &StoredChange) -> LiveUser {
    LiveUser {
        id: change.user_id.clone(),
        name: change.user_name.clone(),
    }
}

/// A `change` message from the stored form of the change (its ops JSON as logged).
fn change_text(seq: i64, session: &str, user: &LiveUser, ops_json: &str) -> Outgoing {
    format!(
        r#"{{"type":"change","seq":{seq},"session":{},"user":{{"id":{},"name":{}}},"ops":{ops_json}}}"#,
        json_string(session),
        json_string(&user.id),
        json_string(&user.name),
    )
    .into()
}

impl Actor {
    async fn load(hub: Arc<Hub>, id: Uuid) -> Result<Actor> {
        let (doc, meta, seq, content_version) = load_state(&hub, id).await?;
        Ok(Actor {
            hub,
            id,
            doc: Some(doc),
            meta,
            seq,
            content_version,
            sessions: HashMap::default(),
            last_compaction: Instant::now(),
            compacting: false,
        })
    }

    fn can_write(&self, principal: Option<&Principal>) -> bool {
        principal.is_some_and(|p| {
            p.scopes.contains(Scope::DocumentsWrite) && documents::can_write(p, &self.meta)
        })
    }

    /// Whether `principal` may read the document as it stands (what the transport
    /// checked at join).
    fn can_read(&self, principal: Option<&Principal>) -> bool {
        documents::can_read(principal, &self.meta)
    }

    /// Takes in new metadata; when the owner or the visibility changed, judges every
    /// session's rights again: one that may no longer read is closed (4003), one that
    /// may no longer write has its pushes rejected (`forbidden`).
    fn set_meta(&mut self, meta: Document) {
        let rights_changed = meta.owner_id != self.meta.owner_id || meta.public != self.meta.public;
        self.meta = meta;
        if !rights_changed {
            return;
        }
        let mut refused = Vec::new();
        let judged: Vec<(String, bool, bool)> = self
            .sessions
            .iter()
            .map(|(id, s)| {
                let p = s.principal.as_ref();
                (id.clone(), self.can_read(p), self.can_write(p))
            })
            .collect();
        for (id, read, write) in judged {
            if !read {
                refused.push(id);
            } else if let Some(session) = self.sessions.get_mut(&id) {
                session.can_write = write;
            }
        }
        for id in refused {
            tracing::info!(session = %id, "live session may no longer read the document: closed (4003)");
            self.drop_session(&id, Some(close::FORBIDDEN));
        }
    }

    fn peers(&self, except: &str) -> Vec<Peer> {
        self.sessions
            .iter()
            .filter(|(id, _)| id.as_str() != except)
            .map(|(id, s)| Peer {
                session: id.clone(),
                user: s.user.clone(),
                state: s.state.clone(),
            })
            .collect()
    }

    async fn join(
        &mut self,
        session: String,
        user: LiveUser,
        principal: Option<&Principal>,
        last_seq: Option<i64>,
        tx: mpsc::Sender<Outgoing>,
        kill: oneshot::Sender<u16>,
    ) -> Result<bool> {
        if self.sessions.len() >= self.hub.config.max_sessions {
            return Err(Error::new(
                ErrorKind::Overloaded,
                format!(
                    "document {} has {} live sessions, the most it takes: try again later",
                    self.id, self.hub.config.max_sessions
                ),
            ));
        }
        let can_write = self.can_write(principal);
        let peers = self.peers(&session);
        // A reconnect within the log's reach gets the changes it missed.
        let catchup = match last_seq {
            Some(last) if last == self.seq => Some(Vec::new()),
            Some(last) if last < self.seq && last >= 0 => {
                // A catchup larger than the document would be is no help: welcome then.
                self.logged(last, self.seq).await?.filter(|changes| {
                    changes.iter().map(|c| c.ops.len()).sum::<usize>() <= MAX_CATCHUP_BYTES
                })
            }
            _ => None,
        };
        let first = match catchup {
            Some(changes) => {
                let changes = changes
                    .into_iter()
                    .map(|c| {
                        Ok(LiveChange {
                            seq: c.seq,
                            ops: serde_json::from_str(&c.ops)
                                .map_err(|e| Error::internal(format!("change {}: {e}", c.seq)))?,
                            session: c.session,
                            user: LiveUser {
                                id: c.user_id,
                                name: c.user_name,
                            },
                        })
                    })
                    .collect::<Result<Vec<_>>>()?;
                text(&ServerMessage::Catchup {
                    seq: self.seq,
                    changes,
                    session: session.clone(),
                    user: user.clone(),
                    can_write,
                    peers,
                })
            }
            None => {
                let Some(doc) = self.doc.take() else {
                    return Err(Error::new(
                        ErrorKind::Unavailable,
                        "the document is reloading",
                    ));
                };
                let (doc, document) = document_value(doc).await?;
                self.doc = Some(doc);
                let welcome = ServerMessage::Welcome {
                    seq: self.seq,
                    document,
                    session: session.clone(),
                    user: user.clone(),
                    can_write,
                    peers,
                };
                tokio::task::spawn_blocking(move || text(&welcome))
                    .await
                    .map_err(|e| Error::internal(format!("encoding welcome: {e}")))?
            }
        };
        if tx.try_send(first).is_err() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the session closed while joining",
            ));
        }
        self.sessions.insert(
            session,
            Session {
                user,
                principal: principal.cloned(),
                can_write,
                tx,
                kill: Some(kill),
                state: None,
            },
        );
        self.hub.event(LiveEvent::Sessions(1));
        Ok(can_write)
    }

    /// Sends `message` to every session but `except`; a session whose queue is full is
    /// closed as too slow (4008), one whose client is gone is dropped.
    fn broadcast(&mut self, message: &Outgoing, except: Option<&str>) {
        let mut gone = Vec::new();
        for (id, session) in &self.sessions {
            if Some(id.as_str()) == except {
                continue;
            }
            match session.tx.try_send(message.clone()) {
                Ok(()) => {}
                Err(mpsc::error::TrySendError::Full(_)) => gone.push((id.clone(), true)),
                Err(mpsc::error::TrySendError::Closed(_)) => gone.push((id.clone(), false)),
            }
        }
        for (id, slow) in gone {
            self.drop_session(&id, slow.then_some(close::TOO_SLOW));
        }
    }

    /// Sends `message` to one session (as `broadcast` does for all).
    fn send_to(&mut self, session: &str, message: Outgoing) {
        let result = match self.sessions.get(session) {
            Some(s) => s.tx.try_send(message),
            None => return,
        };
        match result {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.drop_session(session, Some(close::TOO_SLOW))
            }
            Err(mpsc::error::TrySendError::Closed(_)) => self.drop_session(session, None),
        }
    }

    /// Removes a session (closing it with `code`), and tells the others its presence is
    /// gone.
    fn drop_session(&mut self, session: &str, code: Option<u16>) {
        let Some(mut removed) = self.sessions.remove(session) else {
            return;
        };
        self.hub.event(LiveEvent::Sessions(-1));
        if let Some(code) = code {
            if code == close::TOO_SLOW {
                tracing::info!(session, "live session too slow: closed (4008)");
                self.hub.event(LiveEvent::SlowClosed);
            }
            if let Some(kill) = removed.kill.take() {
                let _ = kill.send(code);
            }
        }
        let gone = text(&ServerMessage::Presence {
            session: session.to_string(),
            user: removed.user,
            state: None,
        });
        self.broadcast(&gone, None);
    }

    fn leave(&mut self, session: &str) {
        self.drop_session(session, None);
    }

    fn close_all(&mut self, code: u16) {
        for (_, mut session) in self.sessions.drain() {
            self.hub.event(LiveEvent::Sessions(-1));
            if let Some(kill) = session.kill.take() {
                let _ = kill.send(code);
            }
        }
    }

    fn presence(&mut self, session: &str, state: Option<Value>) {
        let Some(entry) = self.sessions.get_mut(session) else {
            return;
        };
        entry.state = state.clone();
        let message = text(&ServerMessage::Presence {
            session: session.to_string(),
            user: entry.user.clone(),
            state,
        });
        self.broadcast(&message, Some(session));
    }

    /// Applies `pushes` in order on a blocking thread, each checked against the format.
    async fn apply(&mut self, pushes: &[PushIn]) -> Result<(Vec<Outcome>, Vec<Applied>)> {
        let Some(doc) = self.doc.take() else {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the document's state was lost",
            ));
        };
        let limits = self.hub.documents.limits().clone();
        let work: Vec<(bool, Vec<Value>)> = pushes
            .iter()
            .map(|p| {
                let can_write = self.sessions.get(&p.session).is_some_and(|s| s.can_write);
                (can_write, p.ops.clone())
            })
            .collect();
        let (doc, outcomes, applied) = tokio::task::spawn_blocking(move || {
            let mut doc = doc;
            let mut applied = Vec::new();
            // The REST checks (`parse_json`), on the changed document as it is in memory.
            let check: crate::glyph::ops::Check<'_> = &|doc| {
                glyph::parse_value(doc.to_value(), &limits)
                    .map(drop)
                    .map_err(|e| OpError::new(RejectCode::InvalidDocument, e.to_string()))
            };
            let outcomes = work
                .into_iter()
                .map(|(can_write, raw)| {
                    if !can_write {
                        return Outcome::Rejected(OpError::new(
                            RejectCode::Forbidden,
                            "this session may not change the document",
                        ));
                    }
                    let ops = match parse_ops(&raw) {
                        Ok(ops) => ops,
                        Err(e) => return Outcome::Rejected(e),
                    };
                    match doc.apply_undoable(&ops, Some(check)) {
                        Ok(undo) => {
                            applied.push(undo);
                            let json = serde_json::to_string(&ops).unwrap_or_default();
                            Outcome::Accepted { json }
                        }
                        Err(e) => Outcome::Rejected(e),
                    }
                })
                .collect::<Vec<_>>();
            (doc, outcomes, applied)
        })
        .await
        .map_err(|e| Error::internal(format!("applying a push: {e}")))?;
        self.doc = Some(doc);
        Ok((outcomes, applied))
    }

    /// Takes back pushes applied but not stored (latest first).
    fn revert(&mut self, applied: Vec<Applied>) {
        if let Some(doc) = self.doc.as_mut() {
            for push in applied.into_iter().rev() {
                doc.revert(push);
            }
        }
    }

    /// Applies, stores and acknowledges `pushes`; `false` when the actor must end (its
    /// sessions are closed).
    async fn commit(&mut self, pushes: Vec<PushIn>) -> bool {
        for attempt in 0..MAX_ATTEMPTS {
            let (outcomes, applied) = match self.apply(&pushes).await {
                Ok(done) => done,
                Err(error) => return self.fail(&error),
            };
            let user_of = |s: &HashMap<String, Session, foldhash::fast::RandomState>, id: &str| {
                s.get(id).map(|s| s.user.clone()).unwrap_or(LiveUser {
                    id: Uuid::nil().to_string(),
                    name: String::new(),
                })
            };
            let mut changes = Vec::new();
            let mut seq = self.seq;
            for (push, outcome) in pushes.iter().zip(&outcomes) {
                if let Outcome::Accepted { json } = outcome {
                    seq += 1;
                    let user = user_of(&self.sessions, &push.session);
                    changes.push(StoredChange {
                        seq,
                        session: push.session.clone(),
                        user_id: user.id,
                        user_name: user.name,
                        ops: json.clone(),
                    });
                }
            }
            let stored = if changes.is_empty() {
                Ok(true)
            } else {
                self.hub
                    .documents
                    .repo()
                    .append_changes(self.id, self.seq, &changes, from_ms(now_ms()))
                    .await
            };
            match stored {
                Ok(true) => {}
                Ok(false) => {
                    // Another writer (another node, REST) moved the version first: take
                    // the pushes back, catch up with what it wrote, apply them again.
                    tracing::debug!(attempt, "live append fenced off: catching up");
                    self.revert(applied);
                    if !self.refresh().await {
                        return false;
                    }
                    // Two nodes racing for one document: a little jitter breaks the tie.
                    let jitter = rand::random_range(0..=(2u64 << attempt.min(5)));
                    tokio::time::sleep(Duration::from_millis(jitter)).await;
                    continue;
                }
                Err(error) => return self.fail(&error),
            }
            if !changes.is_empty() {
                self.seq = seq;
                if let Some(bus) = self.hub.documents.bus() {
                    let bus = bus.clone();
                    let id = self.id;
                    tokio::spawn(async move { bus.publish_document(id).await });
                }
            }
            // Durable: now tell everyone, in seq order.
            let mut seq = seq - changes.len() as i64;
            for (push, outcome) in pushes.iter().zip(outcomes) {
                match outcome {
                    Outcome::Accepted { json } => {
                        seq += 1;
                        let user = user_of(&self.sessions, &push.session);
                        let change = change_text(seq, &push.session, &user, &json);
                        self.send_to(
                            &push.session,
                            text(&ServerMessage::Ack {
                                id: push.id.clone(),
                                seq,
                            }),
                        );
                        self.hub.event(LiveEvent::Accepted(push.received.elapsed()));
                        self.broadcast(&change, Some(&push.session));
                        self.hub
                            .event(LiveEvent::FannedOut(push.received.elapsed()));
                    }
                    Outcome::Rejected(error) => {
                        self.hub.event(LiveEvent::Rejected(error.code));
                        self.send_to(
                            &push.session,
                            text(&ServerMessage::Reject {
                                id: push.id.clone(),
                                code: error.code,
                                detail: error.detail,
                            }),
                        );
                    }
                }
            }
            return true;
        }
        self.fail(&Error::new(
            ErrorKind::Conflict,
            "the document kept changing under live editing",
        ))
    }

    /// The state could not be kept: every session is closed with 1012 (reconnect and
    /// catch up), and the actor ends.
    fn fail(&mut self, error: &Error) -> bool {
        tracing::warn!(error = %error, "live document closed: its state could not be stored");
        self.close_all(close::RESTART);
        false
    }

    fn gone_or_fail(&mut self, error: &Error) -> bool {
        if error.kind() == ErrorKind::NotFound {
            self.close_all(close::NOT_FOUND);
            return false;
        }
        self.fail(error)
    }

    /// Takes a state loaded from the database: sessions get the changes between the old
    /// seq and the new one when the log has them, else `reset`.
    async fn publish_catchup(
        &mut self,
        doc: LiveDoc,
        meta: Document,
        seq: i64,
        content_version: i64,
    ) -> bool {
        let from = self.seq;
        self.set_meta(meta);
        self.content_version = content_version;
        let changes = self.logged(from, seq).await.ok().flatten();
        self.doc = Some(doc);
        self.seq = seq;
        match changes {
            Some(changes) => self.broadcast_logged(&changes),
            None if seq != from => {
                let doc = self.doc.take().expect("set above");
                match document_value(doc).await {
                    Ok((doc, document)) => {
                        self.doc = Some(doc);
                        let reset = text(&ServerMessage::Reset { seq, document });
                        self.broadcast(&reset, None);
                    }
                    Err(error) => return self.fail(&error),
                }
            }
            None => {}
        }
        // Rights may have changed (owner, visibility): writers keep what the owner gives.
        true
    }

    /// Catches up with the database (a REST write, another node's commit).
    async fn refresh(&mut self) -> bool {
        let base = match self.hub.documents.repo().get(self.id).await {
            Ok(Some(meta)) => meta,
            Ok(None) => {
                self.close_all(close::NOT_FOUND);
                return false;
            }
            Err(error) => {
                tracing::warn!(error = %error, "live refresh: the database did not answer");
                return true;
            }
        };
        if base.version == self.seq {
            self.set_meta(base);
            return true;
        }
        if base.version < self.seq {
            return true;
        }
        // Another node's commits: the changes after ours, applied as they are.
        if self.catch_up(&base).await {
            self.set_meta(base);
            return true;
        }
        match load_state(&self.hub, self.id).await {
            Ok((doc, meta, seq, content_version)) => {
                self.publish_catchup(doc, meta, seq, content_version).await
            }
            Err(error) => self.gone_or_fail(&error),
        }
    }

    /// Applies the logged changes between our seq and `base.version`, when the log holds
    /// all of them and they apply; `false` (nothing changed) otherwise.
    async fn catch_up(&mut self, base: &Document) -> bool {
        let Ok(Some(changes)) = self.logged(self.seq, base.version).await else {
            return false;
        };
        let mut parsed = Vec::with_capacity(changes.len());
        for change in &changes {
            match serde_json::from_str::<Vec<Op>>(&change.ops) {
                Ok(ops) => parsed.push(ops),
                Err(_) => return false,
            }
        }
        // A change that does not apply leaves the state half-changed: the caller then
        // loads it afresh, which replaces it.
        let Some(doc) = self.doc.take() else {
            return false;
        };
        let applied = tokio::task::spawn_blocking(move || {
            let mut doc = doc;
            let ok = parsed.iter().all(|ops| doc.apply(ops, None).is_ok());
            (doc, ok)
        })
        .await;
        match applied {
            Ok((doc, ok)) => {
                self.doc = Some(doc);
                if !ok {
                    return false;
                }
            }
            // The state went with the task: the caller loads it afresh (or ends).
            Err(_) => return false,
        }
        self.broadcast_logged(&changes);
        self.seq = base.version;
        true
    }

    /// The logged changes `from + 1 ..= to`, when the log holds every one of them and
    /// they are few enough for a catchup; `None` otherwise (compacted away, too many).
    async fn logged(&self, from: i64, to: i64) -> Result<Option<Vec<StoredChange>>> {
        let wanted = to - from;
        if wanted <= 0 || wanted > MAX_CATCHUP {
            return Ok(None);
        }
        let repo = self.hub.documents.repo();
        let changes = repo.changes_after(self.id, from, wanted).await?;
        let whole = changes.len() as i64 == wanted
            && changes.iter().zip(from + 1..).all(|(c, seq)| c.seq == seq);
        Ok(whole.then_some(changes))
    }

    /// Sends logged changes to every session, as `change` messages.
    fn broadcast_logged(&mut self, changes: &[StoredChange]) {
        for change in changes {
            let message = change_text(
                change.seq,
                &change.session,
                &logged_user(change),
                &change.ops,
            );
            self.broadcast(&message, None);
        }
    }

    /// Encodes the state as the stored content at the current seq: what a compaction
    /// writes. `None` when there is nothing to write or it does not encode.
    async fn snapshot(&mut self) -> Option<Compaction> {
        self.last_compaction = Instant::now();
        if self.seq <= self.content_version {
            return None;
        }
        let doc = self.doc.take()?;
        let (doc, encoded) = serialize(doc, self.hub.documents.limits().clone()).await;
        // Without the state (a panic while encoding) the actor ends at its next turn.
        self.doc = doc;
        let (bytes, pages) = match encoded {
            Ok(done) => done,
            Err(error) => {
                tracing::warn!(error = %error, "live compaction: the state does not encode");
                return None;
            }
        };
        let mut meta = self.meta.clone();
        meta.version = self.seq;
        meta.content_sha256 = hex(&Sha256::digest(&bytes));
        meta.content_length = bytes.len() as u64;
        meta.pages = pages;
        Some(Compaction {
            meta,
            bytes,
            trim: self.seq - self.hub.config.keep_changes,
            logged: self.seq - self.content_version,
        })
    }

    /// Writes the state as the stored content and trims the log, waiting for it (when
    /// the actor ends).
    async fn compact(&mut self) {
        if let Some(compaction) = self.snapshot().await {
            let stored = compaction.write(&self.hub, self.id).await;
            self.compacted(compaction.meta.version, compaction.logged, stored);
        }
    }

    /// Starts a compaction whose write runs in a task of its own, so that pushes go on
    /// meanwhile (the write is conditioned on the version having reached the snapshot's,
    /// not on it staying there); its outcome comes back as [`Command::Compacted`].
    async fn compact_in_background(&mut self, me: &mpsc::Sender<Command>) {
        if self.compacting {
            return;
        }
        let Some(compaction) = self.snapshot().await else {
            return;
        };
        self.compacting = true;
        let (hub, id, me) = (self.hub.clone(), self.id, me.clone());
        tokio::spawn(tracing::Instrument::in_current_span(async move {
            let stored = compaction.write(&hub, id).await;
            let _ = me
                .send(Command::Compacted {
                    version: compaction.meta.version,
                    logged: compaction.logged,
                    stored,
                })
                .await;
        }));
    }

    /// Takes in the outcome of a compaction's write.
    fn compacted(&mut self, version: i64, logged: i64, stored: Result<bool>) {
        match stored {
            Ok(true) => {
                self.content_version = self.content_version.max(version);
                self.hub.event(LiveEvent::Compacted(logged));
            }
            Ok(false) => tracing::debug!("live compaction skipped: the content moved on"),
            Err(error) => tracing::warn!(error = %error, "live compaction failed"),
        }
    }
}

/// A compaction's content: the state encoded at `meta.version`.
struct Compaction {
    meta: Document,
    bytes: Vec<u8>,
    /// The log is trimmed through this seq.
    trim: i64,
    /// Changes the log held after the stored content.
    logged: i64,
}

impl Compaction {
    async fn write(&self, hub: &Hub, id: Uuid) -> Result<bool> {
        let stored = hub
            .documents
            .repo()
            .compact(&self.meta, &self.bytes, self.trim)
            .await;
        if matches!(stored, Ok(true)) {
            // Other nodes' caches and this node's thumbnails follow the new content.
            if let Some(bus) = hub.documents.bus() {
                bus.publish_document(id).await;
            }
        }
        stored
    }
}
