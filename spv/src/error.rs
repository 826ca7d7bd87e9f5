//! The one error type of spv.
//!
//! Every fallible function of the library returns [`Error`]. Its [`ErrorKind`] is what
//! callers match on; each kind has a stable kebab-case [`ErrorKind::code`] that the HTTP
//! layer uses as the problem type and that `spv-client` maps back, so local and remote
//! callers match the same enum.
//!
//! ```
//! use spv::{Error, ErrorKind};
//!
//! let err = Error::invalid_document("pages[0].width", "-3 is not a positive number");
//! assert_eq!(err.kind(), ErrorKind::InvalidDocument);
//! assert_eq!(err.kind().code(), "invalid-document");
//! assert_eq!(err.to_string(), "pages[0].width: -3 is not a positive number");
//! ```

use std::fmt;

/// What went wrong, in a form to match on.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The document breaks a rule of the format (bad JSON, bad value, unknown node type).
    InvalidDocument,
    /// The document's `version` is newer than this build understands.
    UnsupportedVersion,
    /// An input is larger than a configured limit allows.
    LimitExceeded,
    /// A document refers to an asset (or a font) that cannot be found.
    MissingAsset,
    /// An asset was found but its bytes are not a supported image or font.
    InvalidAsset,
    /// A request names something impossible (page out of range, size 0, bad option).
    InvalidRequest,
    /// A render ran past its time limit.
    RenderTimeout,
    /// The render pool is saturated; try again later.
    Overloaded,
    /// The caller sent more requests of a kind than its rate limit allows; try again
    /// after the wait the answer names.
    RateLimited,
    /// The thing asked for does not exist.
    NotFound,
    /// The request carries no credentials, or bad or expired ones.
    Unauthenticated,
    /// The caller is known but may not do this (missing scope, not the owner).
    Forbidden,
    /// A signed URL's signature is missing a part, does not match the URL, or has
    /// expired (`spv::signing`).
    InvalidSignature,
    /// The request conflicts with the current state (a name taken, a duplicate).
    Conflict,
    /// A precondition (`If-Match`) does not hold: the resource changed meanwhile.
    PreconditionFailed,
    /// A service the server depends on (the database, the blob store, Redis) cannot
    /// do its part now: gone, read-only or full. Try again later; nothing was changed.
    Unavailable,
    /// Reading or writing a file failed.
    Io,
    /// A bug or an unexpected failure inside spv.
    Internal,
}

impl ErrorKind {
    /// A stable, kebab-case name for this kind, used as the problem type over HTTP.
    pub fn code(self) -> &'static str {
        match self {
            ErrorKind::InvalidDocument => "invalid-document",
            ErrorKind::UnsupportedVersion => "unsupported-version",
            ErrorKind::LimitExceeded => "limit-exceeded",
            ErrorKind::MissingAsset => "missing-asset",
            ErrorKind::InvalidAsset => "invalid-asset",
            ErrorKind::InvalidRequest => "invalid-request",
            ErrorKind::RenderTimeout => "render-timeout",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::NotFound => "not-found",
            ErrorKind::Unauthenticated => "unauthenticated",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::InvalidSignature => "invalid-signature",
            ErrorKind::Conflict => "conflict",
            ErrorKind::PreconditionFailed => "precondition-failed",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Io => "io",
            ErrorKind::Internal => "internal",
        }
    }

    /// The kind whose [`code`](Self::code) is `code`; `None` for a code this build does
    /// not know (a newer server's, say).
    ///
    /// ```
    /// use spv::ErrorKind;
    /// assert_eq!(ErrorKind::from_code("not-found"), Some(ErrorKind::NotFound));
    /// assert_eq!(ErrorKind::from_code("teapot"), None);
    /// ```
    pub fn from_code(code: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|kind| kind.code() == code)
    }

    /// Every kind, for mapping codes back ([`from_code`](Self::from_code)).
    const ALL: [ErrorKind; 18] = [
        ErrorKind::InvalidDocument,
        ErrorKind::UnsupportedVersion,
        ErrorKind::LimitExceeded,
        ErrorKind::MissingAsset,
        ErrorKind::InvalidAsset,
        ErrorKind::InvalidRequest,
        ErrorKind::RenderTimeout,
        ErrorKind::Overloaded,
        ErrorKind::RateLimited,
        ErrorKind::NotFound,
        ErrorKind::Unauthenticated,
        ErrorKind::Forbidden,
        ErrorKind::InvalidSignature,
        ErrorKind::Conflict,
        ErrorKind::PreconditionFailed,
        ErrorKind::Unavailable,
        ErrorKind::Io,
        ErrorKind::Internal,
    ];
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// The error of every spv operation: a kind, a message for people and, for errors
/// inside a document, the JSON path of the place (`pages[0].layers[3].fill`).
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    path: Option<String>,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            path: None,
            message: message.into(),
            source: None,
        }
    }

    /// An [`ErrorKind::InvalidDocument`] error at a JSON path.
    pub fn invalid_document(path: impl Into<String>, message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidDocument, message).at(path)
    }

    /// An [`ErrorKind::InvalidRequest`] error.
    pub fn invalid_request(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidRequest, message)
    }

    /// An [`ErrorKind::Internal`] error.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    /// Sets the JSON path of the place the error is about.
    pub fn at(mut self, path: impl Into<String>) -> Self {
        let path = path.into();
        self.path = (!path.is_empty()).then_some(path);
        self
    }

    /// Attaches the underlying cause.
    pub fn with_source(
        mut self,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        self.source = Some(source.into());
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The JSON path of the place in the document, when the error is about one.
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// The message without the path.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{path}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<std::io::Error> for Error {
    fn from(err: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, err.to_string()).with_source(err)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_back_to_its_kind() {
        for kind in ErrorKind::ALL {
            assert_eq!(ErrorKind::from_code(kind.code()), Some(kind), "{kind}");
        }
        // Guards ALL against a kind added to the enum but not to the list: the match
        // below stops compiling, and its arm count equals the list's length.
        let listed = |kind: ErrorKind| match kind {
            ErrorKind::InvalidDocument
            | ErrorKind::UnsupportedVersion
            | ErrorKind::LimitExceeded
            | ErrorKind::MissingAsset
            | ErrorKind::InvalidAsset
            | ErrorKind::InvalidRequest
            | ErrorKind::RenderTimeout
            | ErrorKind::Overloaded
            | ErrorKind::RateLimited
            | ErrorKind::NotFound
            | ErrorKind::Unauthenticated
            | ErrorKind::Forbidden
            | ErrorKind::InvalidSignature
            | ErrorKind::Conflict
            | ErrorKind::PreconditionFailed
            | ErrorKind::Unavailable
            | ErrorKind::Io
            | ErrorKind::Internal => true,
        };
        assert!(ErrorKind::ALL.into_iter().all(listed));
        assert_eq!(ErrorKind::from_code("Not-Found"), None, "codes are exact");
    }
}
