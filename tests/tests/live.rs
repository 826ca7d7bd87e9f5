//! Live editing (`../shared/live-protocol.md`) against a real `spv-server`: every
//! message, operation, rejection code and close code of the contract, through
//! `spv-client`'s `LiveSession` and through raw WebSockets as outside editors speak it;
//! REST and live interleaved; convergence of concurrent editors; durability across a
//! SIGKILL.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use spv::glyph::ops::{LiveDoc, Op, Parent, RejectCode, Target};
use spv_client::api::{
    CreateDocument, CreateUser, GetContent, GetDocument, PatchDocument, Principal, PutContent,
    Secret,
};
use spv_client::{Client, LiveEvent, PushError};
use spv_tests::server::SpvServer;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use uuid::Uuid;

const PASSWORD: &str = "live-admin-password-1";
const WAIT: Duration = Duration::from_secs(10);

fn admin(server: &SpvServer) -> Client {
    Client::builder(server.url())
        .password("admin", Secret::new(PASSWORD))
        .build()
        .unwrap()
}

/// A page with a rect, an ellipse and a group holding a rect; no ids on the second page.
fn document() -> Vec<u8> {
    serde_json::to_vec(&json!({
        "format": "glyph", "version": 1, "title": "Live",
        "pages": [
            {"id": "p1", "width": 400, "height": 300, "layers": [
                {"id": "r1", "type": "rect", "x": 10, "y": 10, "width": 50, "height": 40, "fill": "#ff0000"},
                {"id": "e1", "type": "ellipse", "cx": 200, "cy": 150, "rx": 30, "ry": 20},
                {"id": "g1", "type": "group", "children": [
                    {"id": "r2", "type": "rect", "x": 0, "y": 0, "width": 5, "height": 5}]}]},
            {"width": 100, "height": 100, "layers": [
                {"type": "rect", "x": 1, "y": 1, "width": 2, "height": 2}]}
        ]
    }))
    .unwrap()
}

async fn create(client: &Client, bytes: Vec<u8>, public: bool) -> Uuid {
    let mut request = CreateDocument::new(Principal::default(), bytes);
    request.public = public;
    client.call_service(request).await.unwrap().id
}

async fn content(client: &Client, id: Uuid) -> Value {
    let content = client
        .call_service(GetContent {
            principal: None,
            id,
        })
        .await
        .unwrap();
    serde_json::from_slice(&content.bytes).unwrap()
}

fn op(value: Value) -> Op {
    serde_json::from_value(value).unwrap()
}

/// A raw WebSocket, as an editor outside this repository speaks the protocol.
struct Raw {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

impl Raw {
    async fn open(server: &SpvServer, id: &str, bearer: Option<&str>) -> Raw {
        let url = format!("ws://{}/api/v1/documents/{id}/live", server.addr());
        let mut request = url.into_client_request().unwrap();
        if let Some(token) = bearer {
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {token}").parse().unwrap());
        }
        // The server's messages may be large (a catchup of big changes, a big document).
        let mut config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default();
        config.max_message_size = Some(64 << 20);
        config.max_frame_size = Some(64 << 20);
        let (socket, response) =
            tokio_tungstenite::connect_async_with_config(request, Some(config), false)
                .await
                .unwrap();
        assert_eq!(response.status(), 101);
        Raw { socket }
    }

    async fn send(&mut self, value: Value) {
        self.socket
            .send(Message::Text(value.to_string().into()))
            .await
            .unwrap();
    }

    async fn send_text(&mut self, text: String) {
        let _ = self.socket.send(Message::Text(text.into())).await;
    }

    /// The next JSON message (pongs of the WebSocket layer skipped); panics on a close.
    async fn recv(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(WAIT, self.socket.next())
                .await
                .expect("a message within 10 s")
                .expect("the socket is open")
                .expect("a frame");
            match frame {
                Message::Text(text) => return serde_json::from_str(&text).unwrap(),
                Message::Close(frame) => panic!("closed: {frame:?}"),
                _ => continue,
            }
        }
    }

    /// Reads until the close frame: its code (messages before it skipped), and the last
    /// `error` message seen.
    async fn closed(&mut self) -> (u16, Option<Value>) {
        let mut error = None;
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(30), self.socket.next())
                .await
                .expect("a close within 30 s");
            match frame {
                Some(Ok(Message::Text(text))) => {
                    let value: Value = serde_json::from_str(&text).unwrap();
                    if value["type"] == "error" {
                        error = Some(value);
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    return (frame.map_or(1005, |f| u16::from(f.code)), error);
                }
                Some(Ok(_)) => {}
                // A reset after the server's `error` (it stopped reading a message too
                // large): the refusal came through, the close frame may not.
                Some(Err(e)) if error.is_some() => {
                    eprintln!("reset after the error message: {e}");
                    return (0, error);
                }
                Some(Err(e)) => panic!("socket error before the close frame: {e}"),
                None => panic!("the socket ended without a close frame"),
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_and_op_through_the_client() {
    let dir = tempfile::tempdir().unwrap();
    let server = SpvServer::start(&dir.path().join("data"), PASSWORD, &[]);
    let client = admin(&server);
    let id = create(&client, document(), false).await;

    // Ids: the page and node that lacked them get some, stored as a new version.
    let a = client.live(id).await.unwrap();
    let doc = a.document();
    let page2 = doc["pages"][1]["id"]
        .as_str()
        .expect("page id given")
        .to_string();
    let node = doc["pages"][1]["layers"][0]["id"]
        .as_str()
        .expect("node id given");
    assert!(!page2.is_empty() && !node.is_empty());
    assert_eq!(a.seq(), 2, "ids stored as version 2");
    assert!(a.can_write());
    let stored = client
        .call_service(GetDocument {
            principal: None,
            id,
        })
        .await
        .unwrap();
    assert_eq!(stored.version, 2);
    assert_eq!(content(&client, id).await["pages"][1]["id"], page2.as_str());

    let b = client.live(id).await.unwrap();
    assert_eq!(b.document(), a.document());
    assert_eq!(b.peers().len(), 1, "a is b's peer");

    // Every op, each acknowledged to its pusher and seen by the other session.
    let pushes = [
        vec![op(
            json!({"op": "set", "target": {"node": "r1"}, "key": "x", "value": 120}),
        )],
        vec![op(
            json!({"op": "set", "target": "document", "key": "title", "value": "Renamed"}),
        )],
        vec![op(
            json!({"op": "set", "target": {"page": "p1"}, "key": "background", "value": "#eeeeee"}),
        )],
        vec![op(
            json!({"op": "insert", "node": {"id": "n1", "type": "rect", "x": 3, "y": 4, "width": 6, "height": 7}, "parent": {"page": "p1"}, "after": "e1"}),
        )],
        vec![op(
            json!({"op": "insertPage", "page": {"id": "p3", "width": 50, "height": 60, "layers": []}, "after": "p1"}),
        )],
        vec![op(
            json!({"op": "move", "target": {"node": "n1"}, "parent": {"node": "g1"}, "after": null}),
        )],
        vec![op(json!({"op": "delete", "target": {"node": "e1"}}))],
        vec![op(json!({"op": "delete", "target": {"page": page2}}))],
        vec![op(
            json!({"op": "set", "target": {"node": "r1"}, "key": "fill", "value": null}),
        )],
    ];
    let mut seq = a.seq();
    for ops in pushes {
        let acked = a.push(ops.clone()).await.expect("accepted");
        assert_eq!(acked, seq + 1, "the next seq");
        seq = acked;
        match b.next_event_within(WAIT).await {
            Some(LiveEvent::Change(change)) => {
                assert_eq!(change.seq, seq);
                assert_eq!(change.ops, ops);
                assert_eq!(change.session, a.session());
                assert_eq!(change.user.name, "admin");
            }
            other => panic!("expected a change, got {other:?}"),
        }
    }
    let expected = a.document();
    assert_eq!(b.document(), expected);
    assert_eq!(expected["title"], "Renamed");
    assert_eq!(expected["pages"][0]["background"], "#eeeeee");
    assert_eq!(expected["pages"][0]["layers"][0]["x"], 120);
    assert!(expected["pages"][0]["layers"][0].get("fill").is_none());
    assert_eq!(expected["pages"][0]["layers"][1]["children"][0]["id"], "n1");
    assert_eq!(expected["pages"][1]["id"], "p3");
    assert_eq!(expected["pages"].as_array().unwrap().len(), 2);

    // REST reflects every acknowledged change at once.
    assert_eq!(content(&client, id).await, expected);
    let meta = client
        .call_service(GetDocument {
            principal: None,
            id,
        })
        .await
        .unwrap();
    assert!(meta.version >= seq, "{} < {seq}", meta.version);

    // Presence: set, seen by the peer, cleared on leave.
    a.presence(Some(json!({"cursor": [10, 20]}))).unwrap();
    match b.next_event_within(WAIT).await {
        Some(LiveEvent::Presence(peer)) => {
            assert_eq!(peer.session, a.session());
            assert_eq!(peer.state, Some(json!({"cursor": [10, 20]})));
        }
        other => panic!("expected presence, got {other:?}"),
    }

    // A REST write with a stale If-Match: 412 while live changes move on.
    let stale = client
        .call_service(PutContent {
            principal: Principal::default(),
            id,
            content: document(),
            if_match: Some("\"1\"".into()),
        })
        .await
        .unwrap_err();
    assert_eq!(stale.kind(), spv::ErrorKind::PreconditionFailed, "{stale}");
    // With the current ETag: every session gets `reset` with the new document.
    let current = client
        .call_service(GetDocument {
            principal: None,
            id,
        })
        .await
        .unwrap();
    let replaced = client
        .call_service(PutContent {
            principal: Principal::default(),
            id,
            content: document(),
            if_match: Some(current.etag()),
        })
        .await
        .unwrap();
    let reset = loop {
        match b.next_event_within(WAIT).await {
            // The replacement lacks ids on its second page again: they are given and
            // stored as the next version, which the reset carries.
            Some(LiveEvent::Reset { seq }) => break seq,
            Some(LiveEvent::Presence(_)) => continue,
            other => panic!("expected reset, got {other:?}"),
        }
    };
    assert!(
        reset == replaced.version || reset == replaced.version + 1,
        "{reset}"
    );
    assert_eq!(b.document()["title"], "Live");
    assert!(b.document()["pages"][1]["id"].is_string());
    a.wait_for_seq(reset, WAIT).await.unwrap();
    assert_eq!(a.document(), b.document());
    // Live edits go on from the replaced document.
    let after = a
        .push(vec![op(
            json!({"op": "set", "target": {"node": "r1"}, "key": "y", "value": 77}),
        )])
        .await
        .expect("accepted after the reset");
    assert_eq!(after, reset + 1);
    assert_eq!(content(&client, id).await["pages"][0]["layers"][0]["y"], 77);

    // A metadata PATCH moves the version too: sessions stay in step (an empty change).
    let patched = client
        .call_service(PatchDocument {
            principal: Principal::default(),
            id,
            patch: json!({"title": "Patched"}),
            if_match: None,
        })
        .await
        .unwrap();
    b.wait_for_seq(patched.version, WAIT).await.unwrap();
    assert_eq!(
        patched.version,
        after + 1,
        "a metadata change takes one version"
    );
    let next = b
        .push(vec![op(
            json!({"op": "set", "target": {"node": "r1"}, "key": "y", "value": 78}),
        )])
        .await
        .expect("accepted after the patch");
    assert_eq!(next, patched.version + 1);

    // Leaving clears presence at the peer.
    let a_session = a.session();
    drop(a);
    let mut cleared = false;
    for _ in 0..20 {
        match b.next_event_within(WAIT).await {
            Some(LiveEvent::Presence(peer))
                if peer.session == a_session && peer.state.is_none() =>
            {
                cleared = true;
                break;
            }
            Some(_) => continue,
            None => break,
        }
    }
    assert!(cleared, "a's presence was not cleared when it left");

    // Metrics count what happened.
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("spv_live_pushes_total{result=\"accepted\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spv_live_ack_duration_seconds_count"),
        "{metrics}"
    );
    assert!(metrics.contains("spv_live_sessions 1"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = SpvServer::start(&dir.path().join("data"), PASSWORD, &[]);
    let client = admin(&server);
    let id = create(&client, document(), true).await;
    let a = client.live(id).await.unwrap();
    let before = a.document();
    let seq = a.seq();

    let cases = [
        (
            vec![op(
                json!({"op": "set", "target": {"node": "r1"}, "key": "width", "value": -5}),
            )],
            RejectCode::InvalidDocument,
            "pages[0].layers[0].width",
        ),
        (
            vec![op(
                json!({"op": "set", "target": {"node": "ghost"}, "key": "x", "value": 1}),
            )],
            RejectCode::UnknownTarget,
            "ghost",
        ),
        (
            vec![op(
                json!({"op": "insert", "node": {"id": "r2", "type": "rect", "width": 1, "height": 1}, "parent": {"page": "p1"}}),
            )],
            RejectCode::IdTaken,
            "r2",
        ),
        (
            vec![op(
                json!({"op": "move", "target": {"node": "g1"}, "parent": {"node": "g1"}}),
            )],
            RejectCode::Cycle,
            "g1",
        ),
        (
            vec![op(
                json!({"op": "set", "target": {"node": "r1"}, "key": "type", "value": "ellipse"}),
            )],
            RejectCode::BadOp,
            "type",
        ),
        (
            vec![op(json!({"op": "delete", "target": {"node": "r1"}})); 1001],
            RejectCode::TooLarge,
            "1000",
        ),
        // A valid op before a failing one: nothing of the push applies.
        (
            vec![
                op(json!({"op": "set", "target": {"node": "r1"}, "key": "x", "value": 1})),
                op(json!({"op": "delete", "target": {"node": "nope"}})),
            ],
            RejectCode::UnknownTarget,
            "ops[1]",
        ),
    ];
    for (ops, code, detail) in cases {
        match a.push(ops).await {
            Err(PushError::Rejected {
                code: got,
                detail: text,
            }) => {
                assert_eq!(got, code, "{text}");
                assert!(text.contains(detail), "{code}: {text:?} lacks {detail:?}");
            }
            other => panic!("expected {code}, got {other:?}"),
        }
    }
    assert_eq!(a.seq(), seq, "no seq taken by rejected pushes");
    assert_eq!(content(&client, id).await, before);

    // forbidden: a reader of the public document may watch but not push.
    client
        .call_service(CreateUser {
            principal: Principal::default(),
            username: "bob".into(),
            password: Secret::new("bob-password-1"),
            is_admin: false,
        })
        .await
        .unwrap();
    let bob = Client::builder(server.url())
        .password("bob", Secret::new("bob-password-1"))
        .build()
        .unwrap();
    let watcher = bob.live(id).await.unwrap();
    assert!(!watcher.can_write());
    match watcher
        .push(vec![op(
            json!({"op": "set", "target": {"node": "r1"}, "key": "x", "value": 9}),
        )])
        .await
    {
        Err(PushError::Rejected { code, .. }) => assert_eq!(code, RejectCode::Forbidden),
        other => panic!("expected forbidden, got {other:?}"),
    }
    // An anonymous viewer of the public document gets welcome, read-only.
    let mut raw = Raw::open(&server, &id.to_string(), None).await;
    raw.send(json!({"type": "connect", "protocol": 1, "lastSeq": null}))
        .await;
    let welcome = raw.recv().await;
    assert_eq!(welcome["type"], "welcome");
    assert_eq!(welcome["canWrite"], false);
    assert_eq!(welcome["seq"], seq);
    // ping → pong; a bad op in a push is a reject, not a protocol error.
    raw.send(json!({"type": "ping"})).await;
    assert_eq!(raw.recv().await, json!({"type": "pong"}));
    let mut raw_writer = Raw::open(&server, &id.to_string(), None).await;
    let admin_token = server.password_token("admin", PASSWORD).await;
    raw_writer
        .send(json!({"type": "connect", "protocol": 1, "lastSeq": null, "token": admin_token}))
        .await;
    assert_eq!(raw_writer.recv().await["canWrite"], true);
    raw_writer
        .send(json!({"type": "push", "id": "x1", "ops": [{"op": "explode"}]}))
        .await;
    let reject = raw_writer.recv().await;
    assert_eq!(reject["type"], "reject");
    assert_eq!(reject["id"], "x1");
    assert_eq!(reject["code"], "bad-op");
    raw_writer
        .send(json!({"type": "push", "id": "x2", "ops": [{"op": "set", "target": {"node": "r1"}, "key": "x", "value": 33}]}))
        .await;
    assert_eq!(
        raw_writer.recv().await,
        json!({"type": "ack", "id": "x2", "seq": seq + 1})
    );
    // The change reaches the anonymous viewer, in the contract's shape.
    let change = raw.recv().await;
    assert_eq!(change["type"], "change");
    assert_eq!(change["seq"], seq + 1);
    assert_eq!(change["user"]["name"], "admin");
    assert_eq!(change["ops"][0]["op"], "set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_close_code() {
    let dir = tempfile::tempdir().unwrap();
    let server = SpvServer::start(
        &dir.path().join("data"),
        PASSWORD,
        &[
            ("SPV_LIVE_MAX_SESSIONS", "2"),
            ("SPV_LIVE_SESSION_QUEUE", "8"),
        ],
    );
    let client = admin(&server);
    let private = create(&client, document(), false).await;
    let connect = json!({"type": "connect", "protocol": 1, "lastSeq": null});
    // 4001: no credential on a private document; a bad credential.
    let mut raw = Raw::open(&server, &private.to_string(), None).await;
    raw.send(connect.clone()).await;
    assert_eq!(raw.closed().await.0, 4001);
    let mut raw = Raw::open(&server, &private.to_string(), Some("not-a-token")).await;
    raw.send(connect.clone()).await;
    assert_eq!(raw.closed().await.0, 4001);
    let mut raw = Raw::open(&server, &private.to_string(), None).await;
    raw.send(json!({"type": "connect", "protocol": 1, "lastSeq": null, "token": "bad"}))
        .await;
    assert_eq!(raw.closed().await.0, 4001);
    // 4003: another user may not read it.
    client
        .call_service(CreateUser {
            principal: Principal::default(),
            username: "carol".into(),
            password: Secret::new("carol-password-1"),
            is_admin: false,
        })
        .await
        .unwrap();
    let carol = server.password_token("carol", "carol-password-1").await;
    let mut raw = Raw::open(&server, &private.to_string(), Some(&carol)).await;
    raw.send(connect.clone()).await;
    assert_eq!(raw.closed().await.0, 4003);
    // 4003 also mid-session: a public document made private closes the sessions that may
    // no longer read it (carol's); the owner's goes on.
    let public = create(&client, document(), true).await;
    let mut watcher = Raw::open(&server, &public.to_string(), Some(&carol)).await;
    watcher.send(connect.clone()).await;
    assert_eq!(watcher.recv().await["type"], "welcome");
    let owner = client.live(public).await.unwrap();
    let hidden = client
        .call_service(PatchDocument {
            principal: Principal::default(),
            id: public,
            patch: json!({"public": false}),
            if_match: None,
        })
        .await
        .unwrap();
    assert!(!hidden.public);
    assert_eq!(watcher.closed().await.0, 4003);
    owner.wait_for_seq(hidden.version, WAIT).await.unwrap();
    drop(owner);
    // 4004: no such document (and not a UUID).
    let admin_token = server.password_token("admin", PASSWORD).await;
    let mut raw = Raw::open(&server, &Uuid::now_v7().to_string(), Some(&admin_token)).await;
    raw.send(connect.clone()).await;
    assert_eq!(raw.closed().await.0, 4004);
    // 4009: a first message that is not connect, bad JSON, an unknown type, a wrong version.
    for first in [
        json!({"type": "ping"}).to_string(),
        "{not json".to_string(),
        json!({"type": "hello"}).to_string(),
        json!({"type": "connect", "protocol": 2, "lastSeq": null}).to_string(),
    ] {
        let mut raw = Raw::open(&server, &private.to_string(), Some(&admin_token)).await;
        raw.send_text(first.clone()).await;
        let (code, error) = raw.closed().await;
        assert_eq!(code, 4009, "{first}");
        assert_eq!(error.expect("an error message first")["type"], "error");
    }
    let own = create(&client, document(), false).await;
    let mut raw = Raw::open(&server, &own.to_string(), Some(&admin_token)).await;
    raw.send(connect.clone()).await;
    assert_eq!(raw.recv().await["type"], "welcome");
    raw.send(json!({"type": "dance"})).await;
    assert_eq!(raw.closed().await.0, 4009);
    // 4013: a message over 1 MiB.
    let own = create(&client, document(), false).await;
    let mut raw = Raw::open(&server, &own.to_string(), Some(&admin_token)).await;
    raw.send(connect.clone()).await;
    assert_eq!(raw.recv().await["type"], "welcome");
    let huge = "x".repeat((1 << 20) + 10);
    raw.send_text(json!({"type": "presence", "state": {"big": huge}}).to_string())
        .await;
    let (code, error) = raw.closed().await;
    assert!(code == 4013 || code == 0, "{code}");
    assert_eq!(error.expect("an error message")["code"], "too-large");
    // A presence state over 4 KiB is too large as well.
    let own = create(&client, document(), false).await;
    let mut raw = Raw::open(&server, &own.to_string(), Some(&admin_token)).await;
    raw.send(connect.clone()).await;
    assert_eq!(raw.recv().await["type"], "welcome");
    raw.send(json!({"type": "presence", "state": {"big": "y".repeat(5000)}}))
        .await;
    assert_eq!(raw.closed().await.0, 4013);

    // 1013: past SPV_LIVE_MAX_SESSIONS (2) on one document.
    // A document of its own: sessions of the steps above may still be closing.
    let crowded = create(&client, document(), false).await;
    let one = client.live(crowded).await.unwrap();
    let mut slow = Raw::open(&server, &crowded.to_string(), Some(&admin_token)).await;
    slow.send(connect.clone()).await;
    let welcome = slow.recv().await;
    assert_eq!(welcome["type"], "welcome");
    let mut third = Raw::open(&server, &crowded.to_string(), Some(&admin_token)).await;
    third.send(connect.clone()).await;
    assert_eq!(third.closed().await.0, 1013);

    // 4008: `slow` reads nothing while `one` pushes large changes; its queue (8) and
    // the socket's buffers fill, and the server closes it rather than buffer more.
    let big = "z".repeat(200_000);
    let mut last = 0;
    for i in 0..120 {
        last = one
            .push(vec![op(json!({"op": "set", "target": {"node": "r1"}, "key": "name", "value": format!("{i}{big}")}))])
            .await
            .expect("accepted");
    }
    let (code, _) = slow.closed().await;
    assert_eq!(code, 4008);
    // It reconnects with lastSeq and catches up on what it missed.
    let mut back = Raw::open(&server, &crowded.to_string(), Some(&admin_token)).await;
    let from = welcome["seq"].as_i64().unwrap();
    back.send(json!({"type": "connect", "protocol": 1, "lastSeq": from}))
        .await;
    let catchup = back.recv().await;
    assert_eq!(catchup["type"], "catchup");
    assert_eq!(catchup["seq"], last);
    assert_eq!(
        catchup["changes"].as_array().unwrap().len() as i64,
        last - from
    );
    assert_eq!(catchup["changes"][0]["seq"], from + 1);
    let metrics = reqwest::get(format!("{}/metrics", server.url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("spv_live_slow_closes_total 1"),
        "{metrics}"
    );

    // 1001: the server going away closes every session (after compacting).
    let closing = tokio::spawn(async move { back.closed().await });
    let status = tokio::task::spawn_blocking(move || server.stop(Duration::from_secs(20)))
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    let (code, _) = closing.await.unwrap();
    assert_eq!(code, 1001);
}

/// A small deterministic generator (no dependency for the tests' randomness).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// A random op on the document as this session last saw it: sets, inserts, deletes and
/// moves, some bound to conflict with other sessions (targets they delete meanwhile).
fn random_op(rng: &mut Lcg, doc: &Value, session: usize, n: usize) -> Op {
    let mut nodes = Vec::new();
    let mut groups = vec![Parent::Page("p1".into())];
    fn walk(list: &Value, nodes: &mut Vec<String>, groups: &mut Vec<Parent>) {
        for node in list.as_array().into_iter().flatten() {
            let id = node["id"].as_str().unwrap_or_default().to_string();
            if node.get("children").is_some() {
                groups.push(Parent::Node(id.clone()));
                walk(&node["children"], nodes, groups);
            }
            nodes.push(id);
        }
    }
    walk(&doc["pages"][0]["layers"], &mut nodes, &mut groups);
    let pick = |rng: &mut Lcg, list: &[String]| list[rng.below(list.len())].clone();
    match (rng.below(10), nodes.is_empty()) {
        (0..=4, false) => Op::Set {
            target: Target::Node(pick(rng, &nodes)),
            key: ["x", "y", "opacity"][rng.below(3)].into(),
            value: if rng.below(3) == 2 {
                json!(rng.below(100) as f64 / 100.0)
            } else {
                json!(rng.below(300))
            },
        },
        (5..=6, _) | (_, true) => {
            let group = rng.below(4) == 0;
            let id = format!("s{session}n{n}");
            let node = if group {
                json!({"id": id, "type": "group", "children": []})
            } else {
                json!({"id": id, "type": "rect", "x": 1, "y": 1, "width": 5, "height": 5})
            };
            Op::Insert {
                node,
                parent: groups[rng.below(groups.len())].clone(),
                after: None,
            }
        }
        (7, false) => Op::Delete {
            target: Target::Node(pick(rng, &nodes)),
        },
        _ => Op::Move {
            target: Target::Node(pick(rng, &nodes)),
            parent: groups[rng.below(groups.len())].clone(),
            after: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_sessions_converge_with_the_server_and_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let server = SpvServer::start(&dir.path().join("data"), PASSWORD, &[]);
    let client = admin(&server);
    let id = create(&client, document(), false).await;
    let first = client.live(id).await.unwrap();
    let start_seq = first.seq();
    let start_doc = first.document();
    drop(first);

    let mut tasks = Vec::new();
    for s in 0..5 {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let session = client.live(id).await.unwrap();
            let mut rng = Lcg(1000 + s as u64);
            let (mut accepted, mut rejected) = (0, 0);
            for n in 0..200 {
                let op = random_op(&mut rng, &session.document(), s, n);
                match session.push(vec![op]).await {
                    Ok(_) => accepted += 1,
                    Err(PushError::Rejected { .. }) => rejected += 1,
                    Err(e) => panic!("session {s}: {e}"),
                }
            }
            (session, accepted, rejected)
        }));
    }
    let mut sessions = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for task in tasks {
        let (session, a, r) = task.await.unwrap();
        accepted += a;
        rejected += r;
        sessions.push(session);
    }
    assert!(accepted > 500, "{accepted} accepted, {rejected} rejected");
    let last = start_seq + accepted as i64;
    for session in &sessions {
        session.wait_for_seq(last, WAIT).await.unwrap();
    }
    let server_doc = content(&client, id).await;
    for (i, session) in sessions.iter().enumerate() {
        assert_eq!(session.seq(), last);
        assert_eq!(
            session.document(),
            server_doc,
            "session {i} differs from the server"
        );
    }
    // Replaying the change log from the starting document gives the same.
    let admin_token = server.password_token("admin", PASSWORD).await;
    let mut raw = Raw::open(&server, &id.to_string(), Some(&admin_token)).await;
    raw.send(json!({"type": "connect", "protocol": 1, "lastSeq": start_seq}))
        .await;
    let catchup = raw.recv().await;
    assert_eq!(catchup["type"], "catchup");
    let changes = catchup["changes"].as_array().unwrap();
    assert_eq!(changes.len() as i64, last - start_seq);
    let (mut replay, _) = LiveDoc::from_value(start_doc, &mut || unreachable!()).unwrap();
    for (i, change) in changes.iter().enumerate() {
        assert_eq!(change["seq"], start_seq + 1 + i as i64);
        let ops: Vec<Op> = serde_json::from_value(change["ops"].clone()).unwrap();
        replay.apply(&ops, None).unwrap();
    }
    assert_eq!(replay.to_value(), server_doc);
}

/// While a session edits, the stored content catches up with the log every
/// `SPV_LIVE_THUMBNAIL_INTERVAL_SECS` (its hash, which thumbnails key on, follows), not
/// once only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stored_content_follows_the_log_while_sessions_edit() {
    let dir = tempfile::tempdir().unwrap();
    let server = SpvServer::start(
        &dir.path().join("data"),
        PASSWORD,
        &[("SPV_LIVE_THUMBNAIL_INTERVAL_SECS", "1")],
    );
    let client = admin(&server);
    let id = create(&client, document(), false).await;
    let session = client.live(id).await.unwrap();
    let stored_hash = || async {
        client
            .call_service(GetDocument {
                principal: None,
                id,
            })
            .await
            .unwrap()
            .content_sha256
    };
    let mut hash = stored_hash().await;
    for round in 1..=3 {
        let seq = session
            .push(vec![op(
                json!({"op": "set", "target": {"node": "r1"}, "key": "x", "value": 100 + round}),
            )])
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + WAIT;
        loop {
            let compactions = server.metric("spv_live_compactions_total").await;
            let now = stored_hash().await;
            if compactions >= f64::from(round) && now != hash {
                hash = now;
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "round {round} (seq {seq}): {compactions} compactions, stored hash still {now}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(content(&client, id).await, session.document());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_changes_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // A long compaction interval: the changes live only in the log when the server dies.
    let env = [("SPV_LIVE_THUMBNAIL_INTERVAL_SECS", "3600")];
    let server = SpvServer::start(&data, PASSWORD, &env);
    let client = admin(&server);
    let id = create(&client, document(), false).await;
    let session = std::sync::Arc::new(client.live(id).await.unwrap());
    let start = session.seq();
    // A burst of pipelined pushes, each setting its own key.
    let mut pushes = Vec::new();
    for i in 0..300 {
        let session = session.clone();
        pushes.push(tokio::spawn(async move {
            let op = Op::Set {
                target: Target::Node("r1".into()),
                key: format!("k{i}"),
                value: json!(i),
            };
            session.push(vec![op]).await.map(|seq| (i, seq))
        }));
    }
    let mut acked = Vec::new();
    for push in pushes {
        acked.push(push.await.unwrap().expect("accepted"));
    }
    // Killed right after the last ack.
    server.kill();
    let server = SpvServer::start(&data, PASSWORD, &env);
    let client = admin(&server);
    let doc = content(&client, id).await;
    for (i, _) in &acked {
        assert_eq!(
            doc["pages"][0]["layers"][0][format!("k{i}")],
            *i,
            "k{i} lost"
        );
    }
    let last = acked.iter().map(|(_, seq)| *seq).max().unwrap();
    assert_eq!(last, start + 300);
    // A session that saw seq `start` reconnects with lastSeq and catches up.
    let admin_token = server.password_token("admin", PASSWORD).await;
    let mut raw = Raw::open(&server, &id.to_string(), Some(&admin_token)).await;
    raw.send(json!({"type": "connect", "protocol": 1, "lastSeq": start}))
        .await;
    let catchup = raw.recv().await;
    assert_eq!(catchup["type"], "catchup");
    assert_eq!(catchup["seq"], last);
    assert_eq!(catchup["changes"].as_array().unwrap().len(), 300);
    // A client already up to date gets an empty catchup.
    let mut raw = Raw::open(&server, &id.to_string(), Some(&admin_token)).await;
    raw.send(json!({"type": "connect", "protocol": 1, "lastSeq": last}))
        .await;
    let catchup = raw.recv().await;
    assert_eq!(catchup["type"], "catchup");
    assert_eq!(catchup["changes"], json!([]));
}

/// Two nodes on one PostgreSQL and Redis: one owns the document (a lease), the other
/// relays its session there, so editors on both flooding at once all get their pushes
/// accepted; the owner is killed with SIGKILL mid-burst and the other node takes the
/// document over after the lease, its session reconnects and catches up, and every
/// acknowledged change is there. Needs `SPV_TEST_POSTGRES_URL` and `redis-server`
/// (skipped without, except in CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_one_owner_and_a_takeover() {
    let Some(postgres) = std::env::var("SPV_TEST_POSTGRES_URL")
        .ok()
        .filter(|v| !v.is_empty())
    else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "SPV_TEST_POSTGRES_URL is not set; CI must set it"
        );
        eprintln!("skipped two_nodes_one_owner_and_a_takeover: SPV_TEST_POSTGRES_URL is not set");
        return;
    };
    let db = spv_tests::cluster::TestDatabase::create(&postgres);
    let redis = spv_tests::cluster::RedisProcess::start();
    let root = tempfile::tempdir().unwrap();
    let redis_url = redis.url();
    // Bound to every interface, as in production: each node advertises the address it
    // reaches Redis from (loopback here).
    let env = |port: u16| -> Vec<(&'static str, String)> {
        vec![
            ("DATABASE_URL", db.url.clone()),
            ("REDIS_URL", redis_url.clone()),
            ("SPV_REDIS_PREFIX", "live-mn:".into()),
            (
                "JWT_SECRET",
                "live-multinode-jwt-secret-0123456789abcdef".into(),
            ),
            ("SPV_RENDERER", "cpu".into()),
            ("SPV_PRUNE_INTERVAL_SECS", "0".into()),
            ("SPV_BACKUP_INTERVAL_SECS", "0".into()),
            ("SPV_BIND_ADDR", format!("0.0.0.0:{port}")),
        ]
    };
    let start = |name: &str| {
        let env = env(spv_tests::cluster::free_port());
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        SpvServer::start(&root.path().join(name), PASSWORD, &env)
    };
    let (a, b) = (start("a"), start("b"));
    let (client_a, client_b) = (admin(&a), admin(&b));
    let id = create(&client_a, document(), false).await;
    let on_a = std::sync::Arc::new(client_a.live(id).await.unwrap());
    let on_b = std::sync::Arc::new(client_b.live(id).await.unwrap());
    // A opened the document first and owns it; B holds no state and relays.
    assert_eq!(a.metric("spv_live_documents").await, 1.0);
    assert_eq!(a.metric("spv_live_sessions").await, 2.0);
    assert_eq!(b.metric("spv_live_documents").await, 0.0);
    assert_eq!(b.metric("spv_live_forwarded_sessions").await, 1.0);

    // `n` pushes, each after the previous one's ack (and `pause`), until one fails
    // because the connection went.
    let burst = |session: std::sync::Arc<spv_client::LiveSession>,
                 tag: &'static str,
                 n: usize,
                 pause: Duration| {
        tokio::spawn(async move {
            let mut acked = Vec::new();
            for i in 0..n {
                let op = Op::Set {
                    target: Target::Node(["r1", "e1", "r2"][i % 3].into()),
                    key: format!("{tag}{i}"),
                    value: json!(i),
                };
                tokio::time::sleep(pause).await;
                match session.push(vec![op]).await {
                    Ok(seq) => acked.push((format!("{tag}{i}"), i, seq)),
                    Err(PushError::Disconnected) => break,
                    Err(e) => panic!("{tag}{i}: {e}"),
                }
            }
            acked
        })
    };
    // Both flood at once: one actor orders every push, none is lost to a race.
    let flood = 150;
    let (acked_a, acked_b) = (
        burst(on_a.clone(), "a", flood, Duration::ZERO),
        burst(on_b.clone(), "b", flood, Duration::ZERO),
    );
    let (acked_a, acked_b) = (acked_a.await.unwrap(), acked_b.await.unwrap());
    let live_lines = |node: &SpvServer| -> String {
        node.log()
            .lines()
            .filter(|l| l.contains("live") || l.contains("WARN") || l.contains("ERROR"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(
        (acked_a.len(), acked_b.len()),
        (flood, flood),
        "A:\n{}\nB:\n{}",
        live_lines(&a),
        live_lines(&b)
    );
    let last = acked_a
        .iter()
        .chain(&acked_b)
        .map(|(_, _, s)| *s)
        .max()
        .unwrap();
    on_a.wait_for_seq(last, WAIT).await.unwrap();
    on_b.wait_for_seq(last, WAIT).await.unwrap();
    assert_eq!(
        on_a.document(),
        on_b.document(),
        "the nodes' sessions differ"
    );
    assert_eq!(content(&client_b, id).await, on_a.document());

    // The owner dies in the middle of a burst of B's (relayed) session.
    let dying = burst(on_b.clone(), "c", 200, Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill();
    // Pushes stop at the first one in flight when the connection went (`Disconnected`);
    // one sent while the session reconnects waits and is acknowledged after the takeover,
    // so the burst may also end whole.
    let acked_c = dying.await.unwrap();
    assert!(!acked_c.is_empty(), "B's session pushed before A died");
    // B's session was closed with 1012, reconnected to B, which took the document over
    // once A's lease lapsed, and caught up.
    let reconnected = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match on_b.next_event().await {
                Some(LiveEvent::Reconnected { welcome }) => return welcome,
                Some(_) => {}
                None => panic!("B's session ended"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("B's session did not reconnect:\n{}", live_lines(&b)));
    assert!(!reconnected, "a catchup, not a welcome");
    assert_eq!(b.metric("spv_live_documents").await, 1.0);
    assert_eq!(b.metric("spv_live_forwarded_sessions").await, 0.0);
    // Everything A acknowledged is there, read through B.
    let doc = content(&client_b, id).await;
    let layers = &doc["pages"][0]["layers"];
    let find = |id: &str| -> Value {
        let mut stack: Vec<&Value> = layers.as_array().unwrap().iter().collect();
        while let Some(node) = stack.pop() {
            if node["id"] == id {
                return node.clone();
            }
            stack.extend(node["children"].as_array().into_iter().flatten());
        }
        Value::Null
    };
    for (key, i, _) in acked_a.iter().chain(&acked_b).chain(&acked_c) {
        let node = find(["r1", "e1", "r2"][i % 3]);
        assert!(
            node.get(key.as_str()).is_some(),
            "{key} lost with node A: {node}"
        );
    }
    let last_c = acked_c.last().map_or(last, |(_, _, s)| *s);
    let stored = client_b
        .call_service(GetDocument {
            principal: None,
            id,
        })
        .await
        .unwrap();
    // The catchup may still be applying when the reconnect event is read.
    on_b.wait_for_seq(stored.version, WAIT).await.unwrap();
    assert_eq!(on_b.seq(), stored.version, "caught up with every change");
    let seq = on_b
        .push(vec![op(
            json!({"op": "set", "target": {"node": "r1"}, "key": "after", "value": 1}),
        )])
        .await
        .expect("B accepts after A died");
    assert!(seq > last_c, "{seq} <= {last_c}");
    // A's editor reconnects to B with lastSeq and catches up.
    let token_b = b.password_token("admin", PASSWORD).await;
    let mut raw = Raw::open(&b, &id.to_string(), Some(&token_b)).await;
    raw.send(json!({"type": "connect", "protocol": 1, "lastSeq": last}))
        .await;
    let catchup = raw.recv().await;
    assert_eq!(catchup["type"], "catchup");
    assert_eq!(catchup["seq"], seq);
    drop(redis);
}
