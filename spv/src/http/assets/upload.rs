//! Upload bodies: the raw request body or one multipart field, pumped chunk by chunk into
//! the reader the assets service consumes (never buffered whole), and the client's file
//! name from `Content-Disposition`.
//!
//! The pump and the service run side by side (`tokio::join!`) on a small channel, so at
//! most a few chunks are in memory. A body that breaks off sends an error down the
//! channel, so the service never stores a truncated upload; a service that stops reading
//! (over its size limit) drops the reader and the pump stops too.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use axum::body::{Body, Bytes};
use axum::extract::multipart::{Field, MultipartError};
use http_body_util::{BodyExt, LengthLimitError};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

use super::super::body::BodyLimit;
use super::super::problem::ApiError;
use crate::Error;

/// Chunks in flight between the pump and the service.
const CHUNKS_IN_FLIGHT: usize = 4;

/// The sending half of an upload: chunks, or the error that ended the body.
pub(crate) type ChunkSender = mpsc::Sender<io::Result<Bytes>>;

/// The service's end of an upload: an [`AsyncRead`] over the chunks the pump sends; the
/// end of input when the pump is done.
#[derive(Debug)]
pub(crate) struct ChunkReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    chunk: Bytes,
}

/// A connected pump end and reader end.
pub(crate) fn channel() -> (ChunkSender, ChunkReader) {
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    (
        tx,
        ChunkReader {
            rx,
            chunk: Bytes::new(),
        },
    )
}

impl AsyncRead for ChunkReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.chunk.is_empty() {
                let n = self.chunk.len().min(buf.remaining());
                let part = self.chunk.split_to(n);
                buf.put_slice(&part);
                return Poll::Ready(Ok(()));
            }
            match ready!(self.rx.poll_recv(cx)) {
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(error)) => return Poll::Ready(Err(error)),
                None => return Poll::Ready(Ok(())),
            }
        }
    }
}

/// The error of an empty upload.
pub(crate) fn empty_upload() -> ApiError {
    ApiError::new(Error::invalid_request(
        "the upload is empty: send the file's bytes as the request body or as a multipart `file` field",
    ))
}

/// What a failed body read means: 413 past a length limit, else 400.
fn body_error(error: &axum::Error, limit: usize) -> ApiError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.is::<LengthLimitError>() {
            return BodyLimit::server(limit).exceeded();
        }
        source = e.source();
    }
    ApiError::new(Error::invalid_request(format!(
        "request body could not be read: {error}"
    )))
}

pub(super) fn multipart_error(error: &MultipartError, limit: usize) -> ApiError {
    BodyLimit::server(limit).reject_with(error.status(), "multipart body", &error.body_text())
}

/// The next non-empty chunk of a raw body; `None` at its end.
pub(crate) async fn body_chunk(body: &mut Body, limit: usize) -> Result<Option<Bytes>, ApiError> {
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| body_error(&e, limit))?;
        if let Ok(data) = frame.into_data()
            && !data.is_empty()
        {
            return Ok(Some(data));
        }
    }
    Ok(None)
}

/// The next non-empty chunk of a multipart field; `None` at its end.
pub(crate) async fn field_chunk(
    field: &mut Field<'_>,
    limit: usize,
) -> Result<Option<Bytes>, ApiError> {
    loop {
        match field.chunk().await {
            Ok(Some(data)) if data.is_empty() => {}
            Ok(chunk) => return Ok(chunk),
            Err(e) => return Err(multipart_error(&e, limit)),
        }
    }
}

/// Whether to keep pumping after offering `chunk`: `false` when the reader is gone.
async fn send(tx: &ChunkSender, chunk: io::Result<Bytes>) -> bool {
    tx.send(chunk).await.is_ok()
}

/// Tells the reader that the body broke, so the service stores nothing.
async fn fail(tx: &ChunkSender, error: ApiError) -> ApiError {
    let _gone = send(tx, Err(io::Error::other("the request body broke off"))).await;
    error
}

/// Pumps `first` and the rest of a raw body into `tx`.
pub(crate) async fn pump_body(
    first: Bytes,
    mut body: Body,
    tx: ChunkSender,
    limit: usize,
) -> Result<(), ApiError> {
    if !send(&tx, Ok(first)).await {
        return Ok(());
    }
    loop {
        let next = tokio::select! {
            // The service stopped reading (say, over its limit): stop without waiting
            // for more of the body.
            () = tx.closed() => return Ok(()),
            next = body_chunk(&mut body, limit) => next,
        };
        match next {
            Ok(Some(chunk)) => {
                if !send(&tx, Ok(chunk)).await {
                    return Ok(());
                }
            }
            Ok(None) => return Ok(()),
            Err(error) => return Err(fail(&tx, error).await),
        }
    }
}

/// Pumps `first` and the rest of a multipart field into `tx`.
pub(crate) async fn pump_field(
    first: Bytes,
    mut field: Field<'_>,
    tx: ChunkSender,
    limit: usize,
) -> Result<(), ApiError> {
    if !send(&tx, Ok(first)).await {
        return Ok(());
    }
    loop {
        let next = tokio::select! {
            // The service stopped reading (say, over its limit): stop without waiting
            // for more of the body.
            () = tx.closed() => return Ok(()),
            next = field_chunk(&mut field, limit) => next,
        };
        match next {
            Ok(Some(chunk)) => {
                if !send(&tx, Ok(chunk)).await {
                    return Ok(());
                }
            }
            Ok(None) => return Ok(()),
            Err(error) => return Err(fail(&tx, error).await),
        }
    }
}

/// The file name of a `Content-Disposition` value: `filename*` (RFC 8187, UTF-8) wins
/// over `filename`; see [`clean_filename`].
pub(crate) fn disposition_filename(value: &str) -> Option<String> {
    let mut plain = None;
    let mut extended = None;
    for (name, value) in parameters(value) {
        if name.eq_ignore_ascii_case("filename*") {
            extended = extended.or_else(|| decode_extended(&value));
        } else if name.eq_ignore_ascii_case("filename") {
            plain = plain.or(Some(value));
        }
    }
    extended.or(plain).as_deref().and_then(clean_filename)
}

/// The `name=value` parameters after the disposition type; quoted values unescaped.
fn parameters(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = match value.split_once(';') {
        Some((_, rest)) => rest,
        None => return out,
    };
    loop {
        let Some((name, after)) = rest.split_once('=') else {
            return out;
        };
        let name = name.trim().to_owned();
        let after = after.trim_start();
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next().map(|(_, c)| c)),
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    c => value.push(c),
                }
            }
            let remaining = &quoted[end..];
            let remaining = remaining.split_once(';').map_or("", |(_, r)| r);
            (value, remaining)
        } else {
            let (value, remaining) = after.split_once(';').unwrap_or((after, ""));
            (value.trim().to_owned(), remaining)
        };
        out.push((name, value));
        rest = remaining;
    }
}

/// `UTF-8'<lang>'<percent-encoded>`; other charsets are not accepted.
fn decode_extended(value: &str) -> Option<String> {
    let (charset, rest) = value.split_once('\'')?;
    let (_language, encoded) = rest.split_once('\'')?;
    if !charset.eq_ignore_ascii_case("utf-8") {
        return None;
    }
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = encoded.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A file name fit to keep: its last path segment, without control characters, trimmed,
/// at most 255 characters; `None` when nothing is left.
pub(crate) fn clean_filename(name: &str) -> Option<String> {
    let last = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = last.chars().filter(|c| !c.is_control()).take(255).collect();
    let cleaned = cleaned.trim();
    (!cleaned.is_empty() && cleaned != "." && cleaned != "..").then(|| cleaned.to_owned())
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;

    #[test]
    fn filenames_from_content_disposition() {
        let name = |v: &str| disposition_filename(v);
        assert_eq!(
            name("attachment; filename=\"a.png\"").as_deref(),
            Some("a.png")
        );
        assert_eq!(name("inline; filename=b.png").as_deref(), Some("b.png"));
        assert_eq!(
            name("attachment; filename=\"x.png\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe.png").as_deref(),
            Some("Grüße.png"),
            "filename* wins"
        );
        assert_eq!(
            name("attachment; filename=\"q\\\"uote;d.png\"; size=3").as_deref(),
            Some("q\"uote;d.png")
        );
        assert_eq!(
            name("attachment; filename=\"../../etc/passwd\"").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            name("attachment; filename*=ISO-8859-1''a.png").as_deref(),
            None
        );
        assert_eq!(
            name("attachment; filename*=UTF-8''%ZZ; filename=ok.png").as_deref(),
            Some("ok.png"),
            "a broken filename* falls back"
        );
        assert_eq!(name("attachment").as_deref(), None);
        assert_eq!(name("attachment; filename=\"\"").as_deref(), None);
    }

    #[test]
    fn filenames_are_cleaned() {
        assert_eq!(clean_filename("C:\\x\\y.ttf").as_deref(), Some("y.ttf"));
        assert_eq!(clean_filename(" a\u{0}\nb ").as_deref(), Some("ab"));
        assert_eq!(clean_filename(".."), None);
        assert_eq!(clean_filename(&"n".repeat(300)).map(|n| n.len()), Some(255));
    }

    #[tokio::test]
    async fn the_reader_yields_chunks_then_the_end_or_the_error() {
        let (tx, mut reader) = channel();
        let pump = async move {
            for chunk in [&b"ab"[..], b"", b"cde"] {
                tx.send(Ok(Bytes::from_static(chunk))).await.unwrap();
            }
        };
        let mut got = Vec::new();
        let (_, read) = tokio::join!(pump, reader.read_to_end(&mut got));
        read.unwrap();
        assert_eq!(got, b"abcde");

        let (tx, mut reader) = channel();
        let pump = async move {
            tx.send(Ok(Bytes::from_static(b"ab"))).await.unwrap();
            tx.send(Err(io::Error::other("broke"))).await.unwrap();
        };
        let mut got = Vec::new();
        let (_, read) = tokio::join!(pump, reader.read_to_end(&mut got));
        assert!(read.is_err(), "a broken body is an error, not the end");
    }
}
