//! An incremental parser of Server-Sent Events (the `text/event-stream` format of the
//! HTML standard, §9.2.6): bytes in as they arrive, whole events out.
//!
//! Pure and synchronous; the job watcher feeds it the chunks of the answer.

use spv::{Error, ErrorKind, Result};

/// The longest line or event data accepted (a job is a few KiB of JSON).
pub(crate) const MAX_EVENT_BYTES: usize = 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SseEvent {
    /// `event:`, `message` when absent.
    pub(crate) event: String,
    /// The `data:` lines joined by `\n`.
    pub(crate) data: String,
    /// The last `id:` seen.
    pub(crate) id: Option<String>,
}

/// The parser's state between chunks.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    /// Bytes of the current, unfinished line.
    line: Vec<u8>,
    /// The last line ended with `\r`: a `\n` right after it belongs to it.
    after_cr: bool,
    event: String,
    data: String,
    has_data: bool,
    id: Option<String>,
}

fn too_long() -> Error {
    Error::new(
        ErrorKind::LimitExceeded,
        format!("an event of the stream is longer than {MAX_EVENT_BYTES} bytes"),
    )
}

impl SseParser {
    /// Feeds `chunk`; answers the events it completed, in order.
    pub(crate) fn push(&mut self, chunk: &[u8]) -> Result<Vec<SseEvent>> {
        let mut events = Vec::new();
        for &byte in chunk {
            if std::mem::take(&mut self.after_cr) && byte == b'\n' {
                continue;
            }
            match byte {
                b'\r' | b'\n' => {
                    self.after_cr = byte == b'\r';
                    let line = std::mem::take(&mut self.line);
                    if let Some(event) = self.line_done(&line)? {
                        events.push(event);
                    }
                }
                _ => {
                    if self.line.len() >= MAX_EVENT_BYTES {
                        return Err(too_long());
                    }
                    self.line.push(byte);
                }
            }
        }
        Ok(events)
    }

    fn line_done(&mut self, line: &[u8]) -> Result<Option<SseEvent>> {
        if line.is_empty() {
            return Ok(self.dispatch());
        }
        let line = std::str::from_utf8(line)
            .map_err(|_| Error::new(ErrorKind::Io, "the event stream is not valid UTF-8"))?;
        if line.starts_with(':') {
            return Ok(None);
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        match field {
            "event" => value.clone_into(&mut self.event),
            "data" => {
                if self.data.len() + value.len() + 1 > MAX_EVENT_BYTES {
                    return Err(too_long());
                }
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(value);
                self.has_data = true;
            }
            "id" if !value.contains('\0') => self.id = Some(value.to_owned()),
            // `retry` and unknown fields: nothing to do for this client.
            _ => {}
        }
        Ok(None)
    }

    fn dispatch(&mut self) -> Option<SseEvent> {
        let event = std::mem::take(&mut self.event);
        let data = std::mem::take(&mut self.data);
        if !std::mem::take(&mut self.has_data) {
            return None;
        }
        Some(SseEvent {
            event: if event.is_empty() {
                "message".to_owned()
            } else {
                event
            },
            data,
            id: self.id.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parser: &mut SseParser, chunks: &[&[u8]]) -> Vec<SseEvent> {
        chunks
            .iter()
            .flat_map(|c| parser.push(c).unwrap())
            .collect()
    }

    #[test]
    fn events_split_across_chunks_in_any_place() {
        let text = b": keep-alive\n\nid: 0\nevent: progress\ndata: {\"a\":1}\n\nid: 1\r\nevent: done\r\ndata: x\r\ndata: y\r\n\r\n";
        let whole = all(&mut SseParser::default(), &[text]);
        assert_eq!(
            whole,
            [
                SseEvent {
                    event: "progress".into(),
                    data: "{\"a\":1}".into(),
                    id: Some("0".into())
                },
                SseEvent {
                    event: "done".into(),
                    data: "x\ny".into(),
                    id: Some("1".into())
                },
            ]
        );
        // Every split point, including between \r and \n, gives the same events.
        for split in 0..text.len() {
            let (a, b) = text.split_at(split);
            assert_eq!(
                all(&mut SseParser::default(), &[a, b]),
                whole,
                "split {split}"
            );
        }
        let bytes: Vec<&[u8]> = text.chunks(1).collect();
        assert_eq!(all(&mut SseParser::default(), &bytes), whole);
    }

    #[test]
    fn defaults_and_comments() {
        let events = all(
            &mut SseParser::default(),
            &[b"data:plain\n\n:only a comment\n\nevent: x\n\n"],
        );
        assert_eq!(events.len(), 1, "an event without data is not dispatched");
        assert_eq!(events[0].event, "message");
        assert_eq!(events[0].data, "plain");
    }

    #[test]
    fn long_lines_and_bad_text_are_refused() {
        let mut parser = SseParser::default();
        let long = vec![b'a'; MAX_EVENT_BYTES + 1];
        assert_eq!(
            parser.push(&long).unwrap_err().kind(),
            ErrorKind::LimitExceeded
        );
        let err = SseParser::default().push(b"data: \xff\n").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io);
    }
}
