//! Blob storage: the [`BlobStore`] trait and its two homes, a local directory
//! ([`LocalBlobs`]) and an S3 bucket ([`S3Blobs`]), chosen by [`BlobUrl`]
//! (`SPV_BLOB_URL`).
//!
//! Blobs are content-addressed: the key is the SHA-256 of the bytes, so equal uploads
//! share one blob. Nothing of a blob is ever visible half-written under its key: the
//! directory writes a temporary file and renames it; S3 writes a small blob with one
//! conditional `PUT` and a large one as a multipart upload to a temporary key, copied to
//! its key once complete. A writer dropped or failed mid-way leaves nothing behind.
//!
//! | item | what it is |
//! |---|---|
//! | [`BlobKey`], [`PutBlob`] | a blob's key (its SHA-256) and what a write stored |
//! | [`BlobStore`], [`BlobWriter`], [`BlobStream`] | the store (trait object), a write in progress, streamed bytes |
//! | [`LocalBlobs`] | `<root>/ab/cd/<sha256>`, temporary files in `<root>/tmp` |
//! | [`S3Blobs`] | `s3://bucket/prefix/ab/cd/<sha256>`, temporary objects under `prefix/tmp/` |
//! | [`BlobUrl`] | what `SPV_BLOB_URL` names, and [`BlobUrl::open`] |
//! | [`ObservedBlobs`], [`BlobOp`], [`BlobHook`] | any store with each operation's outcome and time reported (metrics) |
//!
//! ```
//! use spv::store::{BlobKey, BlobUrl};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let url = BlobUrl::parse(&dir.path().join("blobs").display().to_string()).unwrap();
//! let blobs = url.open(&Default::default()).unwrap();
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! let put = rt.block_on(blobs.put(b"hello")).unwrap();
//! assert_eq!(put.key, BlobKey::of(b"hello"));
//! assert_eq!(rt.block_on(blobs.size(&put.key)).unwrap(), Some(5));
//! assert!(BlobUrl::parse("s3://").is_err());
//! ```

mod local;
mod observed;
mod s3;
#[cfg(test)]
mod tests;
mod url;

use std::fmt;
use std::ops::Range;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::Stream;
use sha2::{Digest, Sha256};

use super::BoxFuture;
use crate::hex::hex;
use crate::{Error, Result};

pub use local::LocalBlobs;
pub use observed::{BlobHook, BlobOp, ObservedBlobs};
pub use s3::{MULTIPART_THRESHOLD, S3Blobs};
pub use url::BlobUrl;

/// The key of a blob: the lowercase hex SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

impl BlobKey {
    /// Checks that `key` is 64 lowercase hex digits (so it is safe in a file path).
    pub fn parse(key: &str) -> Result<BlobKey> {
        if key.len() == 64 && key.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            Ok(BlobKey(key.to_string()))
        } else {
            Err(Error::invalid_request(format!(
                "blob key \"{key}\" is not valid: expected 64 lowercase hex digits (a sha256)"
            )))
        }
    }

    /// The key of `bytes`.
    pub fn of(bytes: &[u8]) -> BlobKey {
        BlobKey(hex(&Sha256::digest(bytes)))
    }

    /// The key of a finished hash.
    pub(crate) fn from_hasher(hasher: Sha256) -> BlobKey {
        BlobKey(hex(&hasher.finalize()))
    }

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The blob's place below a store's root: `ab/cd/<sha256>`, the same in a directory
    /// and in a bucket (so either can be copied onto the other with ordinary tools).
    pub(crate) fn fanned_out(&self) -> [&str; 3] {
        let k = self.as_str();
        [&k[..2], &k[2..4], k]
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What [`BlobWriter::finish`] stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutBlob {
    /// Where the blob is (its SHA-256).
    pub key: BlobKey,
    /// How many bytes it has.
    pub size: u64,
}

/// A blob's bytes as they are read, in chunks.
pub type BlobStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// The blobs of a store as they are listed: each key with its size in bytes.
pub type BlobList<'a> = Pin<Box<dyn Stream<Item = Result<(BlobKey, u64)>> + Send + 'a>>;

/// Stores blobs by content. Implementations: [`LocalBlobs`] (a directory) and
/// [`S3Blobs`] (an S3 bucket); [`BlobUrl::open`] makes either from `SPV_BLOB_URL`.
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Starts a blob of at most `max_bytes` bytes; write it in chunks, then finish it.
    fn writer(&self, max_bytes: u64) -> BoxFuture<'_, Box<dyn BlobWriter>>;

    /// The bytes of a blob, `None` when there is none under `key`.
    fn get<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, Option<Vec<u8>>>;

    /// The bytes `range` of a blob (all of them with `None`) as a stream, `None` when
    /// there is no blob under `key`. The range must lie within the blob (the caller knows
    /// its size); a range past the end is an error or a short stream, never more bytes.
    fn stream<'a>(
        &'a self,
        key: &'a BlobKey,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'a, Option<BlobStream>>;

    /// The size of a blob in bytes, `None` when there is none under `key`.
    fn size<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, Option<u64>>;

    /// Removes a blob; `false` when there was none.
    fn delete<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, bool>;

    /// Whether a blob exists under `key`.
    fn exists<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, bool> {
        Box::pin(async move { Ok(self.size(key).await?.is_some()) })
    }

    /// Every blob of the store with its size, in no particular order (temporary files of
    /// writes in progress are not blobs and are left out).
    fn list(&self) -> BlobList<'_>;

    /// Whether the store answers (`GET /ready`): the directory or the bucket can be
    /// listed. Bounded in time by the implementation.
    fn check(&self) -> BoxFuture<'_, ()>;

    /// Stores `bytes` in one go.
    fn put<'a>(&'a self, bytes: &'a [u8]) -> BoxFuture<'a, PutBlob> {
        Box::pin(async move {
            let mut writer = self.writer(bytes.len() as u64).await?;
            writer.write(bytes).await?;
            writer.finish().await
        })
    }
}

/// A blob being written. Dropping it without [`finish`](Self::finish) discards it.
pub trait BlobWriter: Send {
    /// Appends a chunk; [`ErrorKind::LimitExceeded`](crate::ErrorKind::LimitExceeded)
    /// past the writer's size limit (the partial blob is discarded).
    fn write<'a>(&'a mut self, chunk: &'a [u8]) -> BoxFuture<'a, ()>;

    /// How many bytes were written so far.
    fn written(&self) -> u64;

    /// Completes the blob and moves it into place under its SHA-256.
    fn finish(self: Box<Self>) -> BoxFuture<'static, PutBlob>;
}

/// The error of a write past `max_bytes`.
fn too_large(max_bytes: u64) -> Error {
    Error::new(
        crate::ErrorKind::LimitExceeded,
        format!("upload is too large: more than the limit of {max_bytes} bytes"),
    )
}

/// A whole stream read into memory.
#[cfg(test)]
pub(crate) async fn collect(mut stream: BlobStream) -> Result<Vec<u8>> {
    use futures_util::StreamExt as _;
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(bytes)
}
