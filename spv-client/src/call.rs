//! [`Call`]: one request to the server as a typed call describes it, before the
//! client adds the credential and sends it.

use bytes::Bytes;
use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use spv::{Error, Result};

/// The body of a [`Call`].
pub(crate) enum Payload {
    /// No body.
    Empty,
    /// Bytes held whole, sent again on a retry.
    Bytes {
        bytes: Bytes,
        content_type: &'static str,
    },
    /// A stream, sent once: a call with it is never retried.
    Stream(Option<reqwest::Body>),
}

/// One request to the server, as the typed calls describe it.
pub(crate) struct Call {
    pub(crate) method: Method,
    pub(crate) path: String,
    pub(crate) query: Vec<(&'static str, String)>,
    pub(crate) headers: HeaderMap,
    pub(crate) payload: Payload,
    pub(crate) authenticate: bool,
    pub(crate) idempotent: bool,
    /// Whether the client's total timeout applies (not to streams).
    pub(crate) bounded: bool,
}

impl Call {
    /// A request of `method` to `path` (below the base URL, starting with `/`), with the
    /// client's credential, retried when the method is idempotent (GET, HEAD, PUT,
    /// DELETE).
    pub(crate) fn new(method: Method, path: impl Into<String>) -> Self {
        let idempotent = matches!(
            method,
            Method::GET | Method::HEAD | Method::PUT | Method::DELETE
        );
        Call {
            method,
            path: path.into(),
            query: Vec::new(),
            headers: HeaderMap::new(),
            payload: Payload::Empty,
            authenticate: true,
            idempotent,
            bounded: true,
        }
    }

    /// Adds a query parameter when `value` is `Some`.
    pub(crate) fn query(mut self, name: &'static str, value: Option<impl ToString>) -> Self {
        if let Some(value) = value {
            self.query.push((name, value.to_string()));
        }
        self
    }

    /// Adds a header when `value` is `Some`; a value that is not a valid header is an
    /// error naming the header.
    pub(crate) fn header(mut self, name: HeaderName, value: Option<&str>) -> Result<Self> {
        if let Some(value) = value {
            let value = HeaderValue::from_str(value).map_err(|_| {
                Error::invalid_request(format!(
                    "{name}: {value:?} is not a valid header value (visible ASCII expected)"
                ))
            })?;
            self.headers.insert(name, value);
        }
        Ok(self)
    }

    /// A JSON body.
    pub(crate) fn json(self, value: &impl serde::Serialize) -> Result<Self> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::internal(format!("encoding the request body failed: {e}")))?;
        Ok(self.bytes(bytes, "application/json"))
    }

    /// A body held whole.
    pub(crate) fn bytes(mut self, bytes: impl Into<Bytes>, content_type: &'static str) -> Self {
        self.payload = Payload::Bytes {
            bytes: bytes.into(),
            content_type,
        };
        self
    }

    /// A streamed body: sent once, never retried, no total timeout (the stream may be
    /// long; the server's own limits apply).
    pub(crate) fn stream(mut self, body: reqwest::Body) -> Self {
        self.payload = Payload::Stream(Some(body));
        self.bounded = false;
        self
    }

    /// Sent without the client's credential (the token endpoint).
    pub(crate) fn anonymous(mut self) -> Self {
        self.authenticate = false;
        self
    }

    /// Marks a POST as safe to repeat (it carries an `Idempotency-Key`, or repeating it
    /// only mints another token).
    pub(crate) fn idempotent(mut self) -> Self {
        self.idempotent = true;
        self
    }

    /// No total timeout: for answers read as a stream (downloads, events), which the
    /// reader bounds by an idle timeout between chunks instead.
    pub(crate) fn streamed_answer(mut self) -> Self {
        self.bounded = false;
        self
    }

    /// Whether the body can be sent again (it is not a stream).
    pub(crate) fn can_resend(&self) -> bool {
        !matches!(self.payload, Payload::Stream(_))
    }
}
