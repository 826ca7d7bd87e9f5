//! `GET /api/v1/documents/{id}/live`: the live editing protocol
//! (`../shared/live-protocol.md`) over a WebSocket, in front of [`crate::live::Live`].
//!
//! This layer authenticates (the upgrade's headers, or the `token` of `connect`), checks
//! read access, reads frames under the protocol's limits (a message at most 1 MiB, a
//! presence state at most 4 KiB, presence coalesced to 30 updates a second), answers
//! `ping`, and writes what the session's queue yields. Ordering, checks, storage and
//! fan-out are the service's.

use std::time::Duration;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use serde_json::Value;
use tokio::time::Instant;
use uuid::Uuid;

use super::auth::Authenticated;
use super::extract::{caller_with, parse_id};
use super::problem::ApiError;
use super::state::AppState;
use crate::api::live::{
    MAX_MESSAGE_BYTES, MAX_PRESENCE_BYTES, MAX_PRESENCE_PER_SEC, MAX_PUSH_ID_CHARS, PROTOCOL,
    ServerMessage, close,
};
use crate::api::{Principal, Scope};
use crate::glyph::ops::RejectCode;
use crate::live::Joined;
use crate::{Error, ErrorKind};

/// How long a client has to send `connect`.
const CONNECT_WITHIN: Duration = Duration::from_secs(10);
/// The most queued messages written to a session's socket at once.
const WRITE_BATCH: usize = 64;

/// The routes of the live endpoint, for [`super::api`].
pub(crate) fn live_routes() -> Router<AppState> {
    Router::new().route("/api/v1/documents/{id}/live", get(live))
}

/// What a client sends, as read here: a push's operations stay JSON until the service
/// parses them (a bad one is a `reject`, not a protocol error).
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
enum Incoming {
    #[serde(rename_all = "camelCase")]
    Connect {
        protocol: u32,
        #[serde(default)]
        last_seq: Option<i64>,
        #[serde(default)]
        token: Option<String>,
    },
    Push {
        id: String,
        ops: Vec<Value>,
    },
    Presence {
        state: Option<Value>,
    },
    Ping,
}

/// Opens a live editing session on a document (WebSocket, `../shared/live-protocol.md`).
///
/// The client sends `connect` first, within 10 s; credentials come in the upgrade's
/// `Authorization` (or API key) header or in `connect`'s `token`. Close codes: 4001 no or
/// bad credential, 4003 not allowed to read, 4004 no such document, 4008 too slow, 4009
/// protocol error, 4013 message too large, 1001 server going away, 1012 reconnect, 1013
/// too many sessions on the document.
#[utoipa::path(get, path = "/api/v1/documents/{id}/live", tag = "documents",
    params(("id" = Uuid, Path, description = "The document's id")),
    responses(
        (status = 101, description = "Switched to the WebSocket of the live editing protocol"),
        super::responses::NotAWebSocket, super::responses::InvalidCredential,
        super::responses::LacksDocumentsRead),
    security((), ("bearer" = ["documents:read"]), ("apiKey" = ["documents:read"])))]
pub(crate) async fn live(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    extensions: axum::http::Extensions,
    auth: Result<Authenticated, ApiError>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    let sent = headers.contains_key(header::AUTHORIZATION)
        || headers.contains_key(state.config().api_key_header.as_str());
    let relayed = headers.contains_key(RELAYED);
    let mut credentials = credentials(&headers, state.config().api_key_header.as_str());
    // The owner's per-address limits see the client when it trusts this node
    // (`SPV_TRUSTED_PROXIES`).
    let client = super::ratelimit::client_ip(&headers, &extensions, &state);
    credentials.push(("x-forwarded-for".to_string(), client.to_string()));
    let upgrade = match upgrade {
        Ok(upgrade) => upgrade,
        // Plain HTTP: the credential is judged as on every route (401, 403), then 400.
        Err(e) => {
            match auth {
                Err(refused) if sent => return Err(refused),
                Ok(caller) => {
                    caller_with(Some(caller), &[Scope::DocumentsRead, Scope::DocumentsWrite])?;
                }
                Err(_) => {}
            }
            return Err(Error::invalid_request(format!(
                "expected a WebSocket upgrade (the live editing protocol runs over WebSocket only): {}",
                e.body_text()
            ))
            .into());
        }
    };
    let id = parse_id("document", &id)?;
    // A sent credential must be valid; without one, `connect` may carry a token. A
    // refusal by the rate limits is answered before the upgrade (429).
    let from_headers = match auth {
        Ok(Authenticated(principal)) => Caller::Known(principal),
        Err(e) if e.error().kind() == ErrorKind::RateLimited => return Err(e),
        Err(e) if sent => Caller::Bad(e.error().to_string()),
        Err(_) => Caller::None,
    };
    // Read up to four times the protocol's limit, so that a message just over it is read
    // whole and refused with a clean 4013 (a connection closed with unread bytes ends
    // in a reset that can lose the close frame); past that the socket is cut.
    // Small buffers (tungstenite's default is 128 KiB each way, eagerly allocated): a
    // session is mostly idle and its messages small; a large one grows them as needed.
    Ok(upgrade
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(4 * MAX_MESSAGE_BYTES)
        .max_frame_size(4 * MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| async move {
            // Several nodes: a session of a document another node owns is relayed there
            // (never twice: a relayed upgrade is served where it lands).
            let socket = if relayed {
                socket
            } else {
                match to_owner(socket, &state, id, &credentials).await {
                    Some(socket) => socket,
                    None => return,
                }
            };
            session(socket, state, id, from_headers).await;
        }))
}

/// The header a node sets on a session it relays to a document's owner.
const RELAYED: &str = "x-spv-live-relayed";

/// The headers a relayed upgrade carries on: the credential (and, added by the caller,
/// the client's address).
fn credentials(headers: &HeaderMap, api_key_header: &str) -> Vec<(String, String)> {
    [header::AUTHORIZATION.as_str(), api_key_header]
        .into_iter()
        .filter_map(|name| {
            let value = headers.get(name)?.to_str().ok()?;
            Some((name.to_string(), value.to_string()))
        })
        .collect()
}

/// Relays `socket` to the node that owns document `id` when another node does; gives
/// the socket back when this node is to serve it. While the owner does not answer (it
/// died and its lease has not lapsed yet), waits for the lease, then serves it here.
async fn to_owner(
    mut socket: WebSocket,
    state: &AppState,
    id: Uuid,
    credentials: &[(String, String)],
) -> Option<WebSocket> {
    // Without the live service the session below refuses the client itself.
    let Some(live) = state.live().cloned() else {
        return Some(socket);
    };
    let deadline = Instant::now() + live.lease_ttl() + Duration::from_secs(2);
    loop {
        let Some(owner) = live.owner(id).await else {
            return Some(socket);
        };
        match connect_owner(&owner, id, credentials).await {
            Ok(upstream) => {
                relay(socket, upstream, live.forwarding()).await;
                return None;
            }
            Err(error) if Instant::now() >= deadline => {
                tracing::warn!(%owner, %error, "live: the document's node does not answer");
                close_with(
                    &mut socket,
                    close::RESTART,
                    "the document's node does not answer: reconnect",
                )
                .await;
                return None;
            }
            Err(error) => {
                tracing::debug!(%owner, %error, "live: the document's node does not answer yet");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
}

type Upstream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens the live WebSocket of document `id` on the node at `owner` (`http://host:port`).
async fn connect_owner(
    owner: &str,
    id: Uuid,
    credentials: &[(String, String)],
) -> Result<Upstream, String> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
    let url = match owner.split_once("://") {
        Some(("https", rest)) => format!("wss://{rest}"),
        Some((_, rest)) => format!("ws://{rest}"),
        None => format!("ws://{owner}"),
    };
    let mut request = format!("{url}/api/v1/documents/{id}/live")
        .into_client_request()
        .map_err(|e| e.to_string())?;
    for (name, value) in credentials {
        let (Ok(name), Ok(value)) = (
            header::HeaderName::from_bytes(name.as_bytes()),
            header::HeaderValue::from_str(value),
        ) else {
            continue;
        };
        request.headers_mut().insert(name, value);
    }
    request
        .headers_mut()
        .insert(RELAYED, header::HeaderValue::from_static("1"));
    // The owner's messages may be large (`welcome` of a big document); the client's are
    // limited where they arrive (here) and again at the owner.
    let config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(8 * 1024)
        .max_message_size(Some(1 << 30))
        .max_frame_size(Some(1 << 30));
    let connect = tokio_tungstenite::connect_async_with_config(request, Some(config), true);
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok((socket, _))) => Ok(socket),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("no answer in 5 s".into()),
    }
}

/// Relays frames both ways until either side closes; the owner's close code goes to
/// the client, a lost owner is 1012 (reconnect: the next node to own the document
/// takes it from the log), and this node's shutdown 1001.
async fn relay(mut client: WebSocket, upstream: Upstream, mut forwarding: crate::live::Forwarding) {
    use futures_util::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message as Up;
    let (mut up_tx, mut up_rx) = upstream.split();
    loop {
        tokio::select! {
            () = forwarding.stopping() => {
                let _ = up_tx.close().await;
                close_with(&mut client, close::GOING_AWAY, "the server is going away").await;
                return;
            }
            frame = client.recv() => {
                let message = match frame {
                    Some(Ok(Message::Text(text))) => Up::Text(text.as_str().into()),
                    Some(Ok(Message::Binary(bytes))) => Up::Binary(bytes),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None => {
                        let _ = up_tx.close().await;
                        return;
                    }
                    Some(Err(e)) => {
                        let _ = up_tx.close().await;
                        let text = e.to_string();
                        if text.contains("too long") || text.contains("too big") || text.contains("size") {
                            refuse(&mut client, close::TOO_LARGE, "too-large", "a message is at most 1 MiB").await;
                        }
                        return;
                    }
                };
                if up_tx.send(message).await.is_err() {
                    close_with(&mut client, close::RESTART, "the document's node went away: reconnect").await;
                    return;
                }
            }
            frame = up_rx.next() => {
                let message = match frame {
                    Some(Ok(Up::Text(text))) => Message::Text(text.as_str().into()),
                    Some(Ok(Up::Binary(bytes))) => Message::Binary(bytes),
                    Some(Ok(Up::Ping(_) | Up::Pong(_) | Up::Frame(_))) => continue,
                    Some(Ok(Up::Close(Some(frame)))) => {
                        let code = u16::from(frame.code);
                        // Let the owner's side of the handshake finish.
                        let _ = up_tx.close().await;
                        close_with(&mut client, code, frame.reason.as_str()).await;
                        return;
                    }
                    Some(Ok(Up::Close(None))) => {
                        let _ = up_tx.close().await;
                        close_with(&mut client, 1000, "").await;
                        return;
                    }
                    None | Some(Err(_)) => {
                        close_with(&mut client, close::RESTART, "the document's node went away: reconnect").await;
                        return;
                    }
                };
                if client.send(message).await.is_err() {
                    let _ = up_tx.close().await;
                    return;
                }
            }
        }
    }
}

/// Who the upgrade's headers say the caller is.
enum Caller {
    Known(Principal),
    Bad(String),
    None,
}

/// Sends `error` and closes with `code`.
async fn refuse(socket: &mut WebSocket, code: u16, kind: &str, detail: impl Into<String>) {
    let detail = detail.into();
    let message = ServerMessage::Error {
        code: kind.to_string(),
        detail: detail.clone(),
    };
    if let Ok(text) = serde_json::to_string(&message) {
        let _ = socket.send(Message::Text(text.into())).await;
    }
    close_with(socket, code, &detail).await;
}

async fn close_with(socket: &mut WebSocket, code: u16, reason: &str) {
    // A close reason is at most 123 bytes.
    let mut reason: String = reason.to_string();
    while reason.len() > 120 {
        reason.pop();
    }
    let sent = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
    if sent.is_err() {
        return;
    }
    // The closing handshake: the client's close frame, briefly, so that the connection
    // ends cleanly rather than with a reset that could lose the close frame.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// The close code and protocol error code for an error of joining.
fn join_refusal(error: &Error) -> (u16, &'static str) {
    match error.kind() {
        ErrorKind::NotFound => (close::NOT_FOUND, "not-found"),
        ErrorKind::Forbidden => (close::FORBIDDEN, "forbidden"),
        ErrorKind::Unauthenticated => (close::UNAUTHORIZED, "unauthorized"),
        ErrorKind::Overloaded => (close::TRY_AGAIN_LATER, "overloaded"),
        ErrorKind::InvalidRequest => (close::PROTOCOL, "unsupported"),
        // Another node took the document meanwhile (or it kept changing under a load):
        // a reconnect is relayed to its owner.
        ErrorKind::Conflict => (close::RESTART, "moved"),
        _ => (1011, "internal"),
    }
}

async fn session(mut socket: WebSocket, state: AppState, id: Uuid, caller: Caller) {
    // `connect` first.
    let first = match tokio::time::timeout(CONNECT_WITHIN, socket.recv()).await {
        Err(_) => {
            return refuse(
                &mut socket,
                close::PROTOCOL,
                "protocol",
                "no connect within 10 s",
            )
            .await;
        }
        Ok(None) | Ok(Some(Err(_))) => return,
        Ok(Some(Ok(message))) => message,
    };
    let Message::Text(text) = first else {
        return refuse(
            &mut socket,
            close::PROTOCOL,
            "protocol",
            "the first message must be a connect text frame",
        )
        .await;
    };
    let (last_seq, token) = match serde_json::from_str::<Incoming>(&text) {
        Ok(Incoming::Connect {
            protocol: PROTOCOL,
            last_seq,
            token,
        }) => (last_seq, token),
        Ok(Incoming::Connect { protocol, .. }) => {
            return refuse(
                &mut socket,
                close::PROTOCOL,
                "protocol",
                format!("protocol {protocol} is not supported: expected 1"),
            )
            .await;
        }
        Ok(_) => {
            return refuse(
                &mut socket,
                close::PROTOCOL,
                "protocol",
                "the first message must be connect",
            )
            .await;
        }
        Err(e) => {
            return refuse(
                &mut socket,
                close::PROTOCOL,
                "protocol",
                format!("bad connect: {e}"),
            )
            .await;
        }
    };
    let principal = match (caller, token) {
        (Caller::Bad(detail), _) => {
            return refuse(&mut socket, close::UNAUTHORIZED, "unauthorized", detail).await;
        }
        (Caller::Known(principal), _) => Some(principal),
        (Caller::None, Some(token)) => {
            let Some(auth) = state.auth() else {
                return refuse(
                    &mut socket,
                    close::UNAUTHORIZED,
                    "unauthorized",
                    "this server accepts no credential",
                )
                .await;
            };
            match auth.authenticate(token.trim()).await {
                Ok(principal) => Some(principal),
                Err(e) => {
                    return refuse(
                        &mut socket,
                        close::UNAUTHORIZED,
                        "unauthorized",
                        e.to_string(),
                    )
                    .await;
                }
            }
        }
        (Caller::None, None) => None,
    };
    let (Some(documents), Some(live)) = (state.documents(), state.live()) else {
        return refuse(
            &mut socket,
            close::NOT_FOUND,
            "not-found",
            "this server has no documents",
        )
        .await;
    };
    // Reading needs what `GET /api/v1/documents/{id}` needs.
    if let Some(p) = &principal
        && !p.scopes.contains(Scope::DocumentsRead)
        && !p.scopes.contains(Scope::DocumentsWrite)
    {
        return refuse(
            &mut socket,
            close::FORBIDDEN,
            "forbidden",
            "the credential lacks the scope \"documents:read\"",
        )
        .await;
    }
    match documents.repo().get(id).await {
        Ok(Some(doc)) => {
            if !crate::documents::can_read(principal.as_ref(), &doc) {
                let (code, kind) = match principal {
                    None => (close::UNAUTHORIZED, "unauthorized"),
                    Some(_) => (close::FORBIDDEN, "forbidden"),
                };
                return refuse(
                    &mut socket,
                    code,
                    kind,
                    format!("document {id} may not be read with this credential"),
                )
                .await;
            }
        }
        Ok(None) => {
            return refuse(
                &mut socket,
                close::NOT_FOUND,
                "not-found",
                format!("document {id} was not found"),
            )
            .await;
        }
        Err(e) => {
            let (code, kind) = join_refusal(&e);
            return refuse(&mut socket, code, kind, e.to_string()).await;
        }
    }
    let joined = match live.join(principal, id, last_seq).await {
        Ok(joined) => joined,
        Err(e) => {
            let (code, kind) = join_refusal(&e);
            return refuse(&mut socket, code, kind, e.to_string()).await;
        }
    };
    run(socket, joined).await;
}

/// The session's loop: frames in, queued messages out, presence at its rate.
async fn run(mut socket: WebSocket, joined: Joined) {
    use futures_util::SinkExt as _;
    let Joined {
        session,
        mut outgoing,
        mut closed,
    } = joined;
    let every = Duration::from_secs(1) / MAX_PRESENCE_PER_SEC;
    let mut next_presence = Instant::now();
    let mut pending_presence: Option<Option<Value>> = None;
    loop {
        tokio::select! {
            biased;
            code = &mut closed => {
                let code = code.unwrap_or(close::GOING_AWAY);
                // What was queued before the close still goes out.
                while let Ok(text) = outgoing.try_recv() {
                    if socket.send(Message::Text(text.as_ref().into())).await.is_err() {
                        return;
                    }
                }
                let reason = match code {
                    close::TOO_SLOW => "too slow: reconnect with lastSeq",
                    close::RESTART => "reconnect",
                    close::NOT_FOUND => "the document was deleted",
                    close::FORBIDDEN => "the document may no longer be read with this credential",
                    _ => "the server is going away",
                };
                close_with(&mut socket, code, reason).await;
                return;
            }
            text = outgoing.recv() => {
                let Some(text) = text else { return };
                // What else is queued goes out in the same write: under load one
                // system call carries many messages.
                if socket.feed(Message::Text(text.as_ref().into())).await.is_err() {
                    return;
                }
                for _ in 1..WRITE_BATCH {
                    let Ok(text) = outgoing.try_recv() else { break };
                    if socket.feed(Message::Text(text.as_ref().into())).await.is_err() {
                        return;
                    }
                }
                if socket.flush().await.is_err() {
                    return;
                }
            }
            () = tokio::time::sleep_until(next_presence), if pending_presence.is_some() => {
                let state = pending_presence.take().flatten();
                next_presence = Instant::now() + every;
                if session.presence(state).await.is_err() {
                    return;
                }
            }
            frame = socket.recv() => {
                let message = match frame {
                    None => return,
                    Some(Ok(message)) => message,
                    Some(Err(e)) => {
                        let text = e.to_string();
                        if text.contains("too long") || text.contains("too big") || text.contains("size") {
                            refuse(&mut socket, close::TOO_LARGE, "too-large", "a message is at most 1 MiB").await;
                        }
                        return;
                    }
                };
                let text = match message {
                    Message::Text(text) => text,
                    Message::Binary(_) => {
                        return refuse(&mut socket, close::PROTOCOL, "protocol", "messages are JSON text frames").await;
                    }
                    Message::Close(_) => return,
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                if text.len() > MAX_MESSAGE_BYTES {
                    return refuse(&mut socket, close::TOO_LARGE, "too-large", "a message is at most 1 MiB").await;
                }
                let incoming = match serde_json::from_str::<Incoming>(&text) {
                    Ok(incoming) => incoming,
                    Err(e) => {
                        return refuse(&mut socket, close::PROTOCOL, "protocol", format!("bad message: {e}")).await;
                    }
                };
                match incoming {
                    Incoming::Connect { .. } => {
                        return refuse(&mut socket, close::PROTOCOL, "protocol", "connect was already sent").await;
                    }
                    Incoming::Ping => {
                        if socket.send(Message::Text(r#"{"type":"pong"}"#.into())).await.is_err() {
                            return;
                        }
                    }
                    Incoming::Presence { state } => {
                        let size = state.as_ref().map_or(0, |s| s.to_string().len());
                        if size > MAX_PRESENCE_BYTES {
                            return refuse(&mut socket, close::TOO_LARGE, "too-large", "a presence state is at most 4 KiB").await;
                        }
                        let now = Instant::now();
                        if now >= next_presence && pending_presence.is_none() {
                            next_presence = now + every;
                            if session.presence(state).await.is_err() {
                                return;
                            }
                        } else {
                            // Coalesced: the latest goes out when the interval allows.
                            pending_presence = Some(state);
                        }
                    }
                    Incoming::Push { id, ops } => {
                        let refusal = if id.chars().count() > MAX_PUSH_ID_CHARS || id.is_empty() {
                            Some((RejectCode::BadOp, "a push id is 1 to 64 characters".to_string()))
                        } else if !session.can_write() {
                            Some((RejectCode::Forbidden, "this session may not change the document: it needs documents:write and the right to write it".to_string()))
                        } else {
                            None
                        };
                        if let Some((code, detail)) = refusal {
                            let reject = ServerMessage::Reject { id, code, detail };
                            let text = serde_json::to_string(&reject).unwrap_or_default();
                            if socket.send(Message::Text(text.into())).await.is_err() {
                                return;
                            }
                            continue;
                        }
                        if session.push(id, ops).await.is_err() {
                            return;
                        }
                    }
                }
            }
        }
    }
}
