//! `spv-cli documents watch ID`: a document's live changes and presence, as lines.

use std::io::Write as _;

use anyhow::Context as _;
use serde_json::json;
use spv_client::LiveEvent;
use uuid::Uuid;

use super::session::Session;
use super::stdout;
use crate::output::Outcome;

/// Follows document `id` until interrupted, the session ends, or `count` events.
///
/// Lines: `welcome seq=N pages=P nodes=K`, then `change seq=N user=NAME ops=OP,OP`,
/// `reset seq=N`, `presence user=NAME session=S state=JSON|left`, `reconnected`; with
/// `--json`, one JSON object per line (`{"type":"change",...}` as the protocol spells it).
pub(crate) async fn watch(
    session: &Session,
    id: Uuid,
    count: Option<u64>,
    json: bool,
) -> anyhow::Result<Outcome> {
    let live = session
        .client()
        .live(id)
        .await
        .with_context(|| format!("watching document {id}"))?;
    let doc = live.document();
    let pages = doc["pages"].as_array().map_or(0, Vec::len);
    let first = if json {
        json!({"type": "welcome", "seq": live.seq(), "session": live.session(), "document": doc})
            .to_string()
    } else {
        format!(
            "welcome seq={} pages={pages} session={} write={}",
            live.seq(),
            live.session(),
            live.can_write()
        )
    };
    print_line(&first)?;
    let mut seen = 0u64;
    while count.is_none_or(|n| seen < n) {
        let event = tokio::select! {
            event = live.next_event() => event,
            _ = tokio::signal::ctrl_c() => break,
        };
        let Some(event) = event else { break };
        seen += 1;
        let line = if json {
            match &event {
                LiveEvent::Change(change) => json!({"type": "change", "seq": change.seq,
                    "session": change.session, "user": change.user, "ops": change.ops}),
                LiveEvent::Reset { seq } => {
                    json!({"type": "reset", "seq": seq, "document": live.document()})
                }
                LiveEvent::Presence(peer) => json!({"type": "presence", "session": peer.session,
                    "user": peer.user, "state": peer.state}),
                LiveEvent::Reconnected { welcome } => {
                    json!({"type": "reconnected", "welcome": welcome, "seq": live.seq()})
                }
                LiveEvent::Closed { code, reason } => {
                    json!({"type": "closed", "code": code, "reason": reason})
                }
            }
            .to_string()
        } else {
            match &event {
                LiveEvent::Change(change) => {
                    let ops: Vec<String> = change
                        .ops
                        .iter()
                        .map(|op| {
                            serde_json::to_value(op).map_or_else(
                                |_| "?".into(),
                                |v| v["op"].as_str().unwrap_or("?").to_string(),
                            )
                        })
                        .collect();
                    format!(
                        "change seq={} user={} session={} ops={}",
                        change.seq,
                        change.user.name,
                        change.session,
                        ops.join(",")
                    )
                }
                LiveEvent::Reset { seq } => format!("reset seq={seq}"),
                LiveEvent::Presence(peer) => format!(
                    "presence user={} session={} state={}",
                    peer.user.name,
                    peer.session,
                    peer.state
                        .as_ref()
                        .map_or_else(|| "left".to_string(), |s| s.to_string())
                ),
                LiveEvent::Reconnected { welcome } => {
                    format!("reconnected seq={} welcome={welcome}", live.seq())
                }
                LiveEvent::Closed { code, reason } => format!("closed code={code} reason={reason}"),
            }
        };
        print_line(&line)?;
        if let LiveEvent::Closed { code, reason } = event {
            if code == 1000 {
                break;
            }
            anyhow::bail!("the live session of document {id} ended: {code} {reason}");
        }
    }
    Ok(Outcome::Success)
}

/// One line on stdout, flushed (the lock is not held across waits).
fn print_line(line: &str) -> anyhow::Result<()> {
    let mut out = stdout();
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}
