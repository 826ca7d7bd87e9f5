//! Reading answers: problem+json back into [`spv::Error`]s of the same kind, bodies read
//! under a size limit, JSON decoded with errors that name the URL.

use std::time::Duration;

use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderMap};
use reqwest::{Method, Response, StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use spv::{Error, ErrorKind, Result};
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// The most bytes of an error body read (a problem is a few hundred bytes).
pub(crate) const MAX_PROBLEM_BYTES: usize = 64 * 1024;

/// The most bytes of a JSON answer (a page of 100 documents is far below this).
pub(crate) const MAX_JSON_BYTES: usize = 16 * 1024 * 1024;

/// The fields of an RFC 9457 problem that spv reads back; others are ignored.
#[derive(Debug, Deserialize)]
struct ProblemBody {
    #[serde(default, rename = "type")]
    type_: Option<String>,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    detail: Option<String>,
    #[serde(default)]
    code: Option<String>,
}

/// A URL as errors and logs show it: without the query, which may hold filters a user
/// typed (credentials never travel in URLs, but there is no need to repeat the query).
pub(crate) fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

/// The kind of an error answer that carries no problem+json: its status's usual meaning.
pub(crate) fn kind_for_status(status: StatusCode) -> ErrorKind {
    match status.as_u16() {
        400 | 405 | 406 | 415 | 416 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Unauthenticated,
        403 => ErrorKind::Forbidden,
        404 | 410 => ErrorKind::NotFound,
        409 => ErrorKind::Conflict,
        412 => ErrorKind::PreconditionFailed,
        413 => ErrorKind::LimitExceeded,
        422 => ErrorKind::InvalidAsset,
        429 => ErrorKind::RateLimited,
        503 => ErrorKind::Overloaded,
        504 => ErrorKind::RenderTimeout,
        _ => ErrorKind::Internal,
    }
}

fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// The error of an answer with an error status: a problem+json body becomes an error of
/// its `code`'s kind with its `detail` as the message; anything else an error of the
/// status's kind naming the method, URL and status.
pub(crate) async fn error_from(method: &Method, response: Response) -> Error {
    let status = response.status();
    let url = display_url(response.url());
    let json = matches!(
        media_type(response.headers()).as_str(),
        "application/problem+json" | "application/json"
    );
    let body = read_limited(response, MAX_PROBLEM_BYTES as u64, "error body")
        .await
        .unwrap_or_default();
    if json && let Ok(problem) = serde_json::from_slice::<ProblemBody>(&body) {
        let code = problem.code.as_deref().or_else(|| {
            problem
                .type_
                .as_deref()
                .and_then(|t| t.strip_prefix("urn:spv:problem:"))
        });
        let kind = code
            .and_then(ErrorKind::from_code)
            .unwrap_or_else(|| kind_for_status(status));
        if let Some(message) = problem.detail.or(problem.title) {
            return Error::new(kind, message);
        }
    }
    Error::new(
        kind_for_status(status),
        format!("{method} {url}: the server answered {status}"),
    )
}

/// The error of a request that got no answer (connection refused, reset, timed out).
pub(crate) fn transport_error(method: &Method, url: &Url, error: reqwest::Error) -> Error {
    let url = display_url(url);
    let what = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    // The chain (`error sending request: connection refused`) without the URL, which
    // reqwest repeats with its query.
    let error = error.without_url();
    let mut cause = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(inner) = source {
        cause.push_str(": ");
        cause.push_str(&inner.to_string());
        source = inner.source();
    }
    Error::new(ErrorKind::Io, format!("{method} {url} {what}: {cause}"))
}

/// The whole body, refused past `limit` bytes (by `Content-Length` before reading, and
/// while reading).
pub(crate) async fn read_limited(
    mut response: Response,
    limit: u64,
    what: &str,
) -> Result<Vec<u8>> {
    let url = display_url(response.url());
    let too_large = || {
        Error::new(
            ErrorKind::LimitExceeded,
            format!("{what} of {url} is larger than the limit of {limit} bytes"),
        )
    };
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let capacity = declared.unwrap_or(0).min(limit).min(1 << 20);
    let mut body = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("reading the {what} of {url} failed: {}", e.without_url()),
            )
        })?;
        let Some(chunk) = chunk else { break };
        if body.len() as u64 + chunk.len() as u64 > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Copies the body into `writer` chunk by chunk as it arrives: at most `limit` bytes,
/// failing when no chunk arrives for `idle`; flushes at the end. Answers the byte count.
pub(crate) async fn copy_limited<W>(
    mut response: Response,
    writer: &mut W,
    limit: u64,
    idle: Duration,
) -> Result<u64>
where
    W: AsyncWrite + Unpin + ?Sized,
{
    let url = display_url(response.url());
    let too_large = || {
        Error::new(
            ErrorKind::LimitExceeded,
            format!("the answer of {url} is larger than the limit of {limit} bytes"),
        )
    };
    let declared = response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut written = 0_u64;
    loop {
        let chunk = tokio::time::timeout(idle, response.chunk())
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Io,
                    format!("reading {url} stalled: no data for {idle:?}"),
                )
            })?
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("reading {url} failed: {}", e.without_url()),
                )
            })?;
        let Some(chunk) = chunk else { break };
        written += chunk.len() as u64;
        if written > limit {
            return Err(too_large());
        }
        writer.write_all(&chunk).await?;
    }
    writer.flush().await?;
    Ok(written)
}

/// The body decoded as JSON of `T`, at most [`MAX_JSON_BYTES`].
pub(crate) async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T> {
    let url = display_url(response.url());
    let body = read_limited(response, MAX_JSON_BYTES as u64, "answer").await?;
    decode_json(&body, &url)
}

/// `body` decoded as JSON of `T`; an error names `url`.
pub(crate) fn decode_json<T: DeserializeOwned>(body: &[u8], url: &str) -> Result<T> {
    serde_json::from_slice(body).map_err(|e| {
        Error::new(
            ErrorKind::Internal,
            format!("the answer of {url} is not the expected JSON ({e}); is this an spv server?"),
        )
    })
}

/// A header's value as text, if present and text.
pub(crate) fn header_text(
    headers: &HeaderMap,
    name: reqwest::header::HeaderName,
) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_without_problems_map_to_kinds() {
        assert_eq!(kind_for_status(StatusCode::NOT_FOUND), ErrorKind::NotFound);
        assert_eq!(
            kind_for_status(StatusCode::PRECONDITION_FAILED),
            ErrorKind::PreconditionFailed
        );
        assert_eq!(
            kind_for_status(StatusCode::TOO_MANY_REQUESTS),
            ErrorKind::RateLimited
        );
        assert_eq!(
            kind_for_status(StatusCode::PAYLOAD_TOO_LARGE),
            ErrorKind::LimitExceeded
        );
        assert_eq!(
            kind_for_status(StatusCode::BAD_GATEWAY),
            ErrorKind::Internal
        );
    }

    #[test]
    fn urls_are_shown_without_their_query() {
        let url = Url::parse("http://h:1/spv/api/v1/documents?title=x#f").unwrap();
        assert_eq!(display_url(&url), "http://h:1/spv/api/v1/documents");
    }

    #[test]
    fn bad_json_names_the_url() {
        let err = decode_json::<u32>(b"<html>", "http://h/x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Internal);
        assert!(err.to_string().contains("http://h/x"), "{err}");
    }
}
