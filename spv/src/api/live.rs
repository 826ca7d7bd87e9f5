//! The messages of the live editing protocol (`../shared/live-protocol.md`, version 1):
//! what a client sends ([`ClientMessage`]) and what the server answers
//! ([`ServerMessage`]), one JSON text frame each, tagged by `type`. The operations are
//! [`crate::glyph::ops::Op`].
//!
//! ```
//! use spv::api::live::{ClientMessage, ServerMessage};
//!
//! let connect = ClientMessage::Connect { protocol: 1, last_seq: None, token: None };
//! assert_eq!(serde_json::to_string(&connect).unwrap(),
//!     r#"{"type":"connect","protocol":1,"lastSeq":null}"#);
//! let ack: ServerMessage = serde_json::from_str(r#"{"type":"ack","id":"p1","seq":7}"#).unwrap();
//! assert_eq!(ack, ServerMessage::Ack { id: "p1".into(), seq: 7 });
//! ```

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::glyph::ops::{Op, RejectCode};

/// The protocol version this crate speaks.
pub const PROTOCOL: u32 = 1;
/// The largest message either side sends, in bytes (1 MiB).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;
/// The largest presence state, in bytes of JSON (4 KiB).
pub const MAX_PRESENCE_BYTES: usize = 4 << 10;
/// The most presence updates a second a session sends (the server coalesces the rest).
pub const MAX_PRESENCE_PER_SEC: u32 = 30;
/// The longest client id of a push, in characters.
pub const MAX_PUSH_ID_CHARS: usize = 64;

/// The close codes of the protocol.
pub mod close {
    /// No or bad credential.
    pub const UNAUTHORIZED: u16 = 4001;
    /// Not allowed to read the document.
    pub const FORBIDDEN: u16 = 4003;
    /// No such document.
    pub const NOT_FOUND: u16 = 4004;
    /// The session fell behind: reconnect with `lastSeq`.
    pub const TOO_SLOW: u16 = 4008;
    /// A protocol error (a bad first message, bad JSON, an unknown type).
    pub const PROTOCOL: u16 = 4009;
    /// A message too large.
    pub const TOO_LARGE: u16 = 4013;
    /// The server is going away.
    pub const GOING_AWAY: u16 = 1001;
    /// The document has too many sessions: try again later.
    pub const TRY_AGAIN_LATER: u16 = 1013;
    /// The document moved to another node, or was reloaded: reconnect.
    pub const RESTART: u16 = 1012;
}

/// A message from a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMessage {
    /// Join; the first message, within 10 s.
    #[serde(rename_all = "camelCase")]
    Connect {
        /// The protocol version: 1.
        protocol: u32,
        /// The last sequence number this client applied (reconnects); `None` for a
        /// fresh start.
        last_seq: Option<i64>,
        /// A credential, for clients that cannot set headers (browsers).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// A batch of changes, applied together or not at all.
    Push {
        /// The client's id of the push (at most 64 characters).
        id: String,
        /// 1 to 1,000 operations.
        ops: Vec<Op>,
    },
    /// This session's ephemeral state; `None` clears it.
    Presence {
        /// Free-form (cursor, selection, colour), at most 4 KiB.
        state: Option<Value>,
    },
    /// The server answers `pong`.
    Ping,
}

/// Who a session is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveUser {
    /// The user's id (a UUID; the nil UUID for an anonymous viewer).
    pub id: String,
    /// The user's name.
    pub name: String,
}

/// Another session of the document, as `welcome` and `catchup` list them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Peer {
    /// Its session id.
    pub session: String,
    /// Its user.
    pub user: LiveUser,
    /// Its presence state; `None` when it has none.
    pub state: Option<Value>,
}

/// One accepted push, as `catchup` carries them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveChange {
    /// Its sequence number.
    pub seq: i64,
    /// The session that pushed it.
    pub session: String,
    /// Its user.
    pub user: LiveUser,
    /// Its operations.
    pub ops: Vec<Op>,
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    /// The answer to `connect` without a usable `lastSeq`: the whole document.
    #[serde(rename_all = "camelCase")]
    Welcome {
        /// The document's change counter.
        seq: i64,
        /// The whole document, ids included.
        document: Value,
        /// This session's id.
        session: String,
        /// This session's user.
        user: LiveUser,
        /// Whether this session may push.
        can_write: bool,
        /// The other sessions.
        peers: Vec<Peer>,
    },
    /// The answer to `connect` with a `lastSeq` the server still has the changes after.
    #[serde(rename_all = "camelCase")]
    Catchup {
        /// The document's change counter.
        seq: i64,
        /// The changes after the client's `lastSeq`, in order.
        changes: Vec<LiveChange>,
        /// This session's id.
        session: String,
        /// This session's user.
        user: LiveUser,
        /// Whether this session may push.
        can_write: bool,
        /// The other sessions.
        peers: Vec<Peer>,
    },
    /// The push was accepted and is durable.
    Ack {
        /// The push's id.
        id: String,
        /// Its sequence number.
        seq: i64,
    },
    /// The push changed nothing.
    Reject {
        /// The push's id.
        id: String,
        /// Why.
        code: RejectCode,
        /// What was wrong, naming the operation or the JSON path.
        detail: String,
    },
    /// Another session's accepted push.
    Change {
        /// Its sequence number.
        seq: i64,
        /// The session that pushed it.
        session: String,
        /// Its user.
        user: LiveUser,
        /// Its operations.
        ops: Vec<Op>,
    },
    /// The document was replaced outside the session: take this whole.
    Reset {
        /// The document's change counter.
        seq: i64,
        /// The whole document.
        document: Value,
    },
    /// A peer's presence changed (`None`: it left or cleared it).
    Presence {
        /// The peer's session.
        session: String,
        /// Its user.
        user: LiveUser,
        /// Its state.
        state: Option<Value>,
    },
    /// The answer to `ping`.
    Pong,
    /// A protocol error; the server then closes the socket.
    Error {
        /// What kind (`protocol`, `unauthorized`, `too-large`, ...).
        code: String,
        /// What was wrong.
        detail: String,
    },
}
