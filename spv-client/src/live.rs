//! [`LiveSession`]: a live editing session on a stored document
//! (`../shared/live-protocol.md`) over a WebSocket, with the document kept up to date.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::Value;
use spv::api::live::{ClientMessage, LiveChange, LiveUser, PROTOCOL, Peer, ServerMessage, close};
use spv::glyph::ops::{LiveDoc, Op, RejectCode};
use spv::{Error, ErrorKind, Result};
use tokio::sync::{mpsc, oneshot};
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{Message, http};
use uuid::Uuid;

use crate::Client;

/// Why a push did not land.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushError {
    /// The server rejected it: nothing of it was applied.
    Rejected {
        /// The protocol's code.
        code: RejectCode,
        /// What was wrong.
        detail: String,
    },
    /// The connection ended before its answer: whether it landed shows after the
    /// session reconnects (the changes it catches up with).
    Disconnected,
}

impl fmt::Display for PushError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PushError::Rejected { code, detail } => write!(f, "push rejected ({code}): {detail}"),
            PushError::Disconnected => f.write_str("the connection ended before the push's answer"),
        }
    }
}

impl std::error::Error for PushError {}

/// What a session hears besides its own acks.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// Another session's change, already applied to [`LiveSession::document`].
    Change(LiveChange),
    /// The document was replaced (a REST write): [`LiveSession::document`] holds the new one.
    Reset {
        /// The document's change counter.
        seq: i64,
    },
    /// A peer's presence changed (`None`: it left or cleared it).
    Presence(Peer),
    /// The session reconnected (after 4008, 1012, 1001 or a lost connection) and caught
    /// up: by the changes it missed (`welcome: false`) or a whole new document.
    Reconnected {
        /// Whether the server sent the whole document.
        welcome: bool,
    },
    /// The session ended for good (a close code it does not reconnect after, or
    /// [`LiveSession::close`]).
    Closed {
        /// The close code.
        code: u16,
        /// The server's reason.
        reason: String,
    },
}

/// Settings of [`Client::live_with`].
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Reconnect (with `lastSeq`) after a close that asks for it (4008, 1001, 1012) or a
    /// lost connection; default true.
    pub reconnect: bool,
    /// Attempts of one reconnection before the session ends (backing off from 100 ms
    /// to 3.2 s); default 8.
    pub max_reconnects: u32,
    /// Events kept for [`LiveSession::next_event`] before older ones are dropped
    /// (the document stays exact regardless); default 4096.
    pub event_queue: usize,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            reconnect: true,
            max_reconnects: 8,
            event_queue: 4096,
        }
    }
}

/// Who waits for a push's answer.
type PushReply = oneshot::Sender<std::result::Result<i64, PushError>>;

/// The state the session keeps from the server's messages.
struct State {
    doc: LiveDoc,
    seq: i64,
    session: String,
    user: LiveUser,
    can_write: bool,
    peers: HashMap<String, Peer>,
    /// Our pushes in flight: their ops (applied at their ack) and who waits.
    pending: HashMap<String, (Vec<Op>, PushReply)>,
}

/// A live editing session on one document: push changes, follow others' changes and
/// presence, read the document as the server has it. Made by [`Client::live`].
///
/// The session's task reads the socket; [`document`](Self::document) is the server's
/// state as of the last message applied (own pushes count from their `ack`, in the
/// server's order). After a close that asks for it (too slow, reload, server going
/// away) or a lost connection, it reconnects with `lastSeq` and catches up.
///
/// ```no_run
/// use spv::glyph::ops::{Op, Target};
///
/// # async fn demo(client: spv_client::Client, id: uuid::Uuid) -> spv::Result<()> {
/// let session = client.live(id).await?;
/// let op = Op::Set { target: Target::Node("logo".into()), key: "x".into(), value: 40.into() };
/// let seq = session.push(vec![op]).await.expect("accepted");
/// assert!(session.seq() >= seq);
/// assert_eq!(session.document()["pages"][0]["layers"][0]["x"], 40);
/// # Ok(()) }
/// ```
pub struct LiveSession {
    state: Arc<Mutex<State>>,
    commands: mpsc::UnboundedSender<Outbound>,
    events: tokio::sync::Mutex<mpsc::Receiver<LiveEvent>>,
    next_push: std::sync::atomic::AtomicU64,
    task: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for LiveSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveSession")
            .field("session", &self.session())
            .field("seq", &self.seq())
            .finish_non_exhaustive()
    }
}

enum Outbound {
    Text(String),
    /// A push: its id (in `State::pending`) and its text.
    Push(String, String),
    Close,
}

impl Client {
    /// Opens a live editing session on document `id` with default [`LiveOptions`]: the
    /// first answer (`welcome`) is in when this returns.
    pub async fn live(&self, id: Uuid) -> Result<LiveSession> {
        self.live_with(id, LiveOptions::default()).await
    }

    /// [`live`](Self::live) with `options`.
    pub async fn live_with(&self, id: Uuid, options: LiveOptions) -> Result<LiveSession> {
        let connector = Connector {
            client: self.clone(),
            id,
        };
        let (socket, first) = connector.connect(None).await?;
        let (doc, seq, session, user, can_write, peers) = match first {
            ServerMessage::Welcome {
                seq,
                document,
                session,
                user,
                can_write,
                peers,
            } => (load(document)?, seq, session, user, can_write, peers),
            other => {
                return Err(Error::internal(format!(
                    "the server answered connect with {other:?}, not welcome"
                )));
            }
        };
        let state = Arc::new(Mutex::new(State {
            doc,
            seq,
            session,
            user,
            can_write,
            peers: peers.into_iter().map(|p| (p.session.clone(), p)).collect(),
            pending: HashMap::new(),
        }));
        let (commands, outbound) = mpsc::unbounded_channel();
        let (events_tx, events) = mpsc::channel(options.event_queue.max(1));
        let task = tokio::spawn(run(
            connector,
            options,
            socket,
            state.clone(),
            outbound,
            events_tx,
        ));
        Ok(LiveSession {
            state,
            commands,
            events: tokio::sync::Mutex::new(events),
            next_push: std::sync::atomic::AtomicU64::new(1),
            task,
        })
    }
}

impl LiveSession {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The document as the server has it, as of the last message applied.
    pub fn document(&self) -> Value {
        self.state().doc.to_value()
    }

    /// The document's change counter, as of the last message applied.
    pub fn seq(&self) -> i64 {
        self.state().seq
    }

    /// This session's id (a new one after each reconnection).
    pub fn session(&self) -> String {
        self.state().session.clone()
    }

    /// This session's user.
    pub fn user(&self) -> LiveUser {
        self.state().user.clone()
    }

    /// Whether the server lets this session push.
    pub fn can_write(&self) -> bool {
        self.state().can_write
    }

    /// The other sessions and their presence.
    pub fn peers(&self) -> Vec<Peer> {
        self.state().peers.values().cloned().collect()
    }

    /// Pushes `ops` (applied all together or not at all); resolves with the push's
    /// `seq` once the server stored it, or why not.
    pub async fn push(&self, ops: Vec<Op>) -> std::result::Result<i64, PushError> {
        let n = self
            .next_push
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("p{n}");
        let message = ClientMessage::Push {
            id: id.clone(),
            ops: ops.clone(),
        };
        let text = serde_json::to_string(&message).map_err(|_| PushError::Disconnected)?;
        let (tx, rx) = oneshot::channel();
        self.state().pending.insert(id.clone(), (ops, tx));
        if self.commands.send(Outbound::Push(id, text)).is_err() {
            return Err(PushError::Disconnected);
        }
        rx.await.unwrap_or(Err(PushError::Disconnected))
    }

    /// Sets this session's presence (`None` clears it); the server passes on at most 30
    /// a second.
    pub fn presence(&self, state: Option<Value>) -> Result<()> {
        let text = serde_json::to_string(&ClientMessage::Presence { state })
            .map_err(|e| Error::invalid_request(format!("presence: {e}")))?;
        self.commands
            .send(Outbound::Text(text))
            .map_err(|_| Error::new(ErrorKind::Unavailable, "the live session ended"))
    }

    /// The next change, presence or reconnection; `None` once the session ended and
    /// every event was read.
    pub async fn next_event(&self) -> Option<LiveEvent> {
        self.events.lock().await.recv().await
    }

    /// The next event within `timeout`; `None` when none came.
    pub async fn next_event_within(&self, timeout: Duration) -> Option<LiveEvent> {
        tokio::time::timeout(timeout, self.next_event())
            .await
            .ok()
            .flatten()
    }

    /// Waits until the session has applied change `seq` (or a later state).
    pub async fn wait_for_seq(&self, seq: i64, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        while self.seq() < seq {
            if tokio::time::Instant::now() >= deadline {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    format!(
                        "the session did not reach seq {seq} in {timeout:?} (at {})",
                        self.seq()
                    ),
                ));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Ends the session (the server clears its presence).
    pub fn close(&self) {
        let _ = self.commands.send(Outbound::Close);
    }
}

impl Drop for LiveSession {
    fn drop(&mut self) {
        let _ = self.commands.send(Outbound::Close);
        // The task ends on its own once the close is sent; abort it if it is stuck.
        let task = self.task.abort_handle();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            task.abort();
        });
    }
}

fn load(document: Value) -> Result<LiveDoc> {
    let mut n = 0u64;
    LiveDoc::from_value(document, &mut || {
        n += 1;
        format!("client-{n}")
    })
    .map(|(doc, _)| doc)
    .map_err(|e| Error::internal(format!("the server's document: {e}")))
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// How to open the socket again.
struct Connector {
    client: Client,
    id: Uuid,
}

impl Connector {
    /// Connects, sends `connect` and reads the first answer.
    async fn connect(&self, last_seq: Option<i64>) -> Result<(Socket, ServerMessage)> {
        let base = self.client.base_url();
        let ws_base = if let Some(rest) = base.strip_prefix("https://") {
            format!("wss://{rest}")
        } else if let Some(rest) = base.strip_prefix("http://") {
            format!("ws://{rest}")
        } else {
            return Err(Error::invalid_request(format!(
                "the base URL {base} is not http:// or https://"
            )));
        };
        let url = format!("{ws_base}/api/v1/documents/{}/live", self.id);
        let mut request = url
            .as_str()
            .into_client_request()
            .map_err(|e| Error::invalid_request(format!("{url}: {e}")))?;
        if let Some(bearer) = self.client.inner.auth.bearer(&self.client).await? {
            let value = http::HeaderValue::from_str(&format!("Bearer {}", bearer.token.expose()))
                .map_err(|_| {
                Error::invalid_request("the credential is not valid header text")
            })?;
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, value);
        }
        let mut config = WebSocketConfig::default();
        config.max_message_size = Some(64 << 20);
        config.max_frame_size = Some(64 << 20);
        let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
        let (mut socket, _) = tokio::time::timeout(Duration::from_secs(30), connect)
            .await
            .map_err(|_| Error::new(ErrorKind::Unavailable, format!("{url}: no answer in 30 s")))?
            .map_err(|e| Error::new(ErrorKind::Unavailable, format!("{url}: {e}")))?;
        let hello = serde_json::to_string(&ClientMessage::Connect {
            protocol: PROTOCOL,
            last_seq,
            token: None,
        })
        .map_err(|e| Error::internal(e.to_string()))?;
        socket
            .send(Message::Text(hello.into()))
            .await
            .map_err(|e| Error::new(ErrorKind::Unavailable, format!("{url}: {e}")))?;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(60), socket.next())
                .await
                .map_err(|_| {
                    Error::new(ErrorKind::Unavailable, format!("{url}: no welcome in 60 s"))
                })?;
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let message: ServerMessage = serde_json::from_str(&text)
                        .map_err(|e| Error::internal(format!("{url}: {e}")))?;
                    if let ServerMessage::Error { code, detail } = &message {
                        return Err(Error::new(refusal_kind(code), detail.clone()));
                    }
                    return Ok((socket, message));
                }
                Some(Ok(Message::Close(frame))) => {
                    let (code, reason) = frame
                        .map(|f| (u16::from(f.code), f.reason.to_string()))
                        .unwrap_or((1005, String::new()));
                    return Err(Error::new(
                        close_kind(code),
                        format!("{url}: closed with {code}: {reason}"),
                    ));
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    return Err(Error::new(ErrorKind::Unavailable, format!("{url}: {e}")));
                }
                None => return Err(Error::new(ErrorKind::Unavailable, format!("{url}: closed"))),
            }
        }
    }
}

fn refusal_kind(code: &str) -> ErrorKind {
    match code {
        "unauthorized" => ErrorKind::Unauthenticated,
        "forbidden" => ErrorKind::Forbidden,
        "not-found" => ErrorKind::NotFound,
        "overloaded" => ErrorKind::Overloaded,
        "protocol" | "unsupported" | "too-large" => ErrorKind::InvalidRequest,
        _ => ErrorKind::Unavailable,
    }
}

fn close_kind(code: u16) -> ErrorKind {
    match code {
        close::UNAUTHORIZED => ErrorKind::Unauthenticated,
        close::FORBIDDEN => ErrorKind::Forbidden,
        close::NOT_FOUND => ErrorKind::NotFound,
        close::TRY_AGAIN_LATER => ErrorKind::Overloaded,
        close::PROTOCOL | close::TOO_LARGE => ErrorKind::InvalidRequest,
        _ => ErrorKind::Unavailable,
    }
}

/// Close codes after which the session reconnects.
fn reconnects_after(code: u16) -> bool {
    matches!(
        code,
        close::TOO_SLOW | close::RESTART | close::GOING_AWAY | 1006 | 1011
    )
}

async fn run(
    connector: Connector,
    options: LiveOptions,
    mut socket: Socket,
    state: Arc<Mutex<State>>,
    mut outbound: mpsc::UnboundedReceiver<Outbound>,
    events: mpsc::Sender<LiveEvent>,
) {
    let emit = |event: LiveEvent| {
        // A reader that does not keep up loses events, never the document.
        let _ = events.try_send(event);
    };
    loop {
        // One connection: until it closes.
        let (code, reason) = loop {
            tokio::select! {
                command = outbound.recv() => match command {
                    Some(Outbound::Text(text)) => {
                        if socket.send(Message::Text(text.into())).await.is_err() {
                            break (1006, "the connection was lost".to_string());
                        }
                    }
                    Some(Outbound::Push(id, text)) => {
                        // A push queued on a connection that then ended was answered
                        // `Disconnected` already: it is never sent on the next one (it
                        // would be applied while its caller was told it failed, and its
                        // ack would find no one waiting).
                        let waiting = state
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .pending
                            .contains_key(&id);
                        if waiting && socket.send(Message::Text(text.into())).await.is_err() {
                            break (1006, "the connection was lost".to_string());
                        }
                    }
                    Some(Outbound::Close) | None => {
                        let _ = socket.close(None).await;
                        fail_pending(&state);
                        emit(LiveEvent::Closed { code: 1000, reason: "closed by the client".into() });
                        return;
                    }
                },
                frame = socket.next() => match frame {
                    Some(Ok(Message::Text(text))) => {
                        match serde_json::from_str::<ServerMessage>(&text) {
                            Ok(message) => handle(&state, message, &emit),
                            Err(e) => tracing::warn!(error = %e, "live: a message that does not parse"),
                        }
                    }
                    Some(Ok(Message::Close(frame))) => {
                        break frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new()));
                    }
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => break (1006, "the connection was lost".to_string()),
                },
            }
        };
        fail_pending(&state);
        if !options.reconnect || !reconnects_after(code) {
            emit(LiveEvent::Closed { code, reason });
            return;
        }
        // Reconnect with lastSeq and catch up.
        let mut attempt = 0;
        let reconnected = loop {
            let last_seq = state.lock().unwrap_or_else(PoisonError::into_inner).seq;
            match connector.connect(Some(last_seq)).await {
                Ok(done) => break Some(done),
                Err(error)
                    if attempt < options.max_reconnects
                        && matches!(
                            error.kind(),
                            ErrorKind::Unavailable | ErrorKind::Overloaded
                        ) =>
                {
                    attempt += 1;
                    let delay = Duration::from_millis(50 * 2u64.pow(attempt.min(6)));
                    tokio::time::sleep(delay).await;
                }
                Err(error) => {
                    fail_pending(&state);
                    emit(LiveEvent::Closed {
                        code,
                        reason: format!("{reason}; reconnecting failed: {error}"),
                    });
                    break None;
                }
            }
        };
        let Some((next, first)) = reconnected else {
            return;
        };
        socket = next;
        let welcome = matches!(first, ServerMessage::Welcome { .. });
        handle(&state, first, &emit);
        emit(LiveEvent::Reconnected { welcome });
    }
}

/// Pushes in flight when the connection ended: their answers will not come.
fn fail_pending(state: &Mutex<State>) {
    let pending: Vec<_> = state
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .pending
        .drain()
        .collect();
    for (_, (_, tx)) in pending {
        let _ = tx.send(Err(PushError::Disconnected));
    }
}

fn handle(state: &Mutex<State>, message: ServerMessage, emit: &dyn Fn(LiveEvent)) {
    let mut s = state.lock().unwrap_or_else(PoisonError::into_inner);
    match message {
        ServerMessage::Welcome {
            seq,
            document,
            session,
            user,
            can_write,
            peers,
        } => match load(document) {
            Ok(doc) => {
                s.doc = doc;
                s.seq = seq;
                s.session = session;
                s.user = user;
                s.can_write = can_write;
                s.peers = peers.into_iter().map(|p| (p.session.clone(), p)).collect();
            }
            Err(e) => tracing::warn!(error = %e, "live: welcome's document does not load"),
        },
        ServerMessage::Catchup {
            seq,
            changes,
            session,
            user,
            can_write,
            peers,
        } => {
            for change in changes {
                if change.seq == s.seq + 1 {
                    if let Err(e) = s.doc.apply(&change.ops, None) {
                        tracing::warn!(error = %e, seq = change.seq, "live: a change does not apply");
                    }
                    s.seq = change.seq;
                    drop(s);
                    emit(LiveEvent::Change(change));
                    s = state.lock().unwrap_or_else(PoisonError::into_inner);
                }
            }
            s.seq = s.seq.max(seq);
            s.session = session;
            s.user = user;
            s.can_write = can_write;
            s.peers = peers.into_iter().map(|p| (p.session.clone(), p)).collect();
        }
        ServerMessage::Ack { id, seq } => {
            if let Some((ops, tx)) = s.pending.remove(&id) {
                if let Err(e) = s.doc.apply(&ops, None) {
                    tracing::warn!(error = %e, seq, "live: our own acknowledged push does not apply");
                }
                s.seq = seq;
                let _ = tx.send(Ok(seq));
            }
        }
        ServerMessage::Reject { id, code, detail } => {
            if let Some((_, tx)) = s.pending.remove(&id) {
                let _ = tx.send(Err(PushError::Rejected { code, detail }));
            }
        }
        ServerMessage::Change {
            seq,
            session,
            user,
            ops,
        } => {
            if let Err(e) = s.doc.apply(&ops, None) {
                tracing::warn!(error = %e, seq, "live: a change does not apply");
            }
            s.seq = seq;
            drop(s);
            emit(LiveEvent::Change(LiveChange {
                seq,
                session,
                user,
                ops,
            }));
        }
        ServerMessage::Reset { seq, document } => match load(document) {
            Ok(doc) => {
                s.doc = doc;
                s.seq = seq;
                drop(s);
                emit(LiveEvent::Reset { seq });
            }
            Err(e) => tracing::warn!(error = %e, "live: reset's document does not load"),
        },
        ServerMessage::Presence {
            session,
            user,
            state: presence,
        } => {
            let peer = Peer {
                session: session.clone(),
                user,
                state: presence,
            };
            if peer.state.is_none() {
                s.peers.remove(&session);
            } else {
                s.peers.insert(session, peer.clone());
            }
            drop(s);
            emit(LiveEvent::Presence(peer));
        }
        ServerMessage::Pong | ServerMessage::Error { .. } => {}
    }
}
