//! [`S3Blobs`]: blobs in an S3 bucket through `object_store`.
//!
//! A blob up to the multipart threshold is buffered and written with one `PUT` under
//! `PutMode::Create` (an existing object is the same bytes: already stored). A larger one
//! streams as a multipart upload to `<prefix>/tmp/<uuid>` while it is hashed, and once
//! complete is copied to its key (S3 copies are atomic, and a concurrent copy of the same
//! key writes the same bytes) and the temporary object deleted. A writer dropped or failed
//! mid-way aborts its multipart upload, so the bucket keeps nothing of it.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path;
use object_store::{
    GetOptions, GetRange, ObjectStore, PutMode, PutOptions, PutPayload, RetryConfig, WriteMultipart,
};
use sha2::{Digest, Sha256};

use super::{BlobKey, BlobList, BlobStore, BlobStream, BlobWriter, PutBlob, too_large};
use crate::store::BoxFuture;
use crate::{Error, ErrorKind, Result};

/// Blobs above this many bytes are uploaded in parts (S3 parts are at least 5 MiB).
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;

/// How many parts of one upload are in flight at once (memory: this many parts).
const PARTS_IN_FLIGHT: usize = 4;

/// How long [`BlobStore::check`] waits for the bucket to answer.
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);

/// Blobs in an S3 bucket: `<prefix>/ab/cd/<sha256>`, multipart uploads in progress under
/// `<prefix>/tmp/`. Cheap to clone.
///
/// Made by [`BlobUrl::open`](super::BlobUrl::open) from `SPV_BLOB_URL=s3://bucket/prefix`
/// and the `AWS_*` variables. A bucket should abort incomplete multipart uploads after a
/// day (a lifecycle rule): a process killed mid-upload cannot abort its own.
#[derive(Clone)]
pub struct S3Blobs {
    store: Arc<dyn ObjectStore>,
    bucket: String,
    prefix: Path,
    multipart_threshold: usize,
}

impl fmt::Debug for S3Blobs {
    /// The bucket and prefix only: the client's configuration holds credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Blobs")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix.as_ref())
            .field("multipart_threshold", &self.multipart_threshold)
            .finish()
    }
}

impl S3Blobs {
    /// Blobs in `bucket` under `prefix` (empty: the bucket's root), with the client
    /// configured by the `AWS_*` entries of `aws` (unknown names are ignored). No request
    /// is made yet.
    pub fn open(bucket: &str, prefix: &str, aws: &BTreeMap<String, String>) -> Result<S3Blobs> {
        let mut builder = AmazonS3Builder::new();
        for (name, value) in aws {
            if !name.starts_with("AWS_") {
                continue;
            }
            if let Ok(key) = name.to_ascii_lowercase().parse::<AmazonS3ConfigKey>() {
                builder = builder.with_config(key, value);
            }
        }
        let store = builder
            .with_bucket_name(bucket)
            .with_retry(RetryConfig {
                max_retries: 3,
                retry_timeout: Duration::from_secs(30),
                ..RetryConfig::default()
            })
            .build()
            .map_err(|e| {
                Error::invalid_request(format!(
                    "SPV_BLOB_URL: the S3 client for bucket {bucket:?} cannot be configured \
                     from the AWS_* variables: {e}"
                ))
            })?;
        let prefix = Path::parse(prefix).map_err(|e| {
            Error::invalid_request(format!("SPV_BLOB_URL: prefix {prefix:?} is not valid: {e}"))
        })?;
        Ok(S3Blobs {
            store: Arc::new(store),
            bucket: bucket.to_string(),
            prefix,
            multipart_threshold: MULTIPART_THRESHOLD,
        })
    }

    /// Uploads blobs larger than `bytes` in parts of that size (at least 5 MiB, S3's
    /// smallest part) instead of [`MULTIPART_THRESHOLD`].
    pub fn with_multipart_threshold(mut self, bytes: usize) -> Self {
        self.multipart_threshold = bytes.max(5 * 1024 * 1024);
        self
    }

    /// The prefix of every object, as given.
    #[cfg(test)]
    pub(crate) fn prefix(&self) -> &str {
        self.prefix.as_ref()
    }

    /// The object of the blob `key`.
    fn path(&self, key: &BlobKey) -> Path {
        let [a, b, k] = key.fanned_out();
        self.prefix.child(a).child(b).child(k)
    }

    /// `s3://bucket/prefix`, for messages.
    fn url(&self) -> String {
        if self.prefix.as_ref().is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// An `object_store` error as ours, saying what was being done where.
    fn err(&self, doing: &str, e: object_store::Error) -> Error {
        match e {
            // What object_store answers when the service cannot be reached or fails
            // (after its retries): the client reads a fixed text, the cause is logged.
            object_store::Error::Generic { .. } => {
                tracing::warn!(error = %e, "{doing} in {}", self.url());
                Error::new(
                    ErrorKind::Unavailable,
                    "the blob store does not answer; try again later",
                )
                .with_source(e)
            }
            e => {
                Error::new(ErrorKind::Io, format!("{doing} in {}: {e}", self.url())).with_source(e)
            }
        }
    }

    /// Whether the object of `key` is there with `size` bytes.
    async fn has(&self, key: &BlobKey, size: u64) -> bool {
        matches!(self.size(key).await, Ok(Some(n)) if n == size)
    }
}

impl BlobStore for S3Blobs {
    fn writer(&self, max_bytes: u64) -> BoxFuture<'_, Box<dyn BlobWriter>> {
        Box::pin(async move {
            let writer: Box<dyn BlobWriter> = Box::new(S3Writer {
                blobs: self.clone(),
                hasher: Sha256::new(),
                written: 0,
                max_bytes,
                state: WriteState::Buffer(Vec::new()),
            });
            Ok(writer)
        })
    }

    fn get<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            match self.store.get(&self.path(key)).await {
                Ok(result) => {
                    let bytes = result
                        .bytes()
                        .await
                        .map_err(|e| self.err(&format!("reading blob {key}"), e))?;
                    Ok(Some(bytes.to_vec()))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.err(&format!("reading blob {key}"), e)),
            }
        })
    }

    fn stream<'a>(
        &'a self,
        key: &'a BlobKey,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'a, Option<BlobStream>> {
        Box::pin(async move {
            if range.as_ref().is_some_and(|r| r.start >= r.end) {
                // S3 has no empty range: say whether the blob is there, with no bytes.
                let empty: BlobStream = Box::pin(futures_util::stream::empty());
                return Ok(self.exists(key).await?.then_some(empty));
            }
            let options = GetOptions {
                range: range.map(GetRange::Bounded),
                ..GetOptions::default()
            };
            match self.store.get_opts(&self.path(key), options).await {
                Ok(result) => {
                    let this = self.clone();
                    let key = key.clone();
                    let stream: BlobStream = Box::pin(
                        result
                            .into_stream()
                            .map_err(move |e| this.err(&format!("reading blob {key}"), e)),
                    );
                    Ok(Some(stream))
                }
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.err(&format!("reading blob {key}"), e)),
            }
        })
    }

    fn size<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, Option<u64>> {
        Box::pin(async move {
            match self.store.head(&self.path(key)).await {
                Ok(meta) => Ok(Some(meta.size)),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(self.err(&format!("checking blob {key}"), e)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            // S3 deletes a missing object without a word: ask first.
            if self.size(key).await?.is_none() {
                return Ok(false);
            }
            self.store
                .delete(&self.path(key))
                .await
                .map_err(|e| self.err(&format!("deleting blob {key}"), e))?;
            Ok(true)
        })
    }

    fn list(&self) -> BlobList<'_> {
        let stream = self.store.list(Some(&self.prefix)).filter_map(move |item| {
            let blob = match item {
                Ok(meta) => {
                    let parts: Vec<_> = meta
                        .location
                        .prefix_match(&self.prefix)
                        .map(|parts| parts.collect())
                        .unwrap_or_default();
                    match parts.as_slice() {
                        [a, b, k] => BlobKey::parse(k.as_ref())
                            .ok()
                            .filter(|key| {
                                let [ka, kb, _] = key.fanned_out();
                                a.as_ref() == ka && b.as_ref() == kb
                            })
                            .map(|key| Ok((key, meta.size))),
                        _ => None,
                    }
                }
                Err(e) => Some(Err(self.err("listing blobs", e))),
            };
            std::future::ready(blob)
        });
        Box::pin(stream)
    }

    fn check(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            match tokio::time::timeout(
                CHECK_TIMEOUT,
                self.store.list_with_delimiter(Some(&self.prefix)),
            )
            .await
            {
                Ok(Ok(_)) => Ok(()),
                Ok(Err(e)) => Err(self.err("listing the bucket", e)),
                Err(_) => Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "{} did not answer within {} s",
                        self.url(),
                        CHECK_TIMEOUT.as_secs()
                    ),
                )),
            }
        })
    }
}

/// Where the bytes of an [`S3Writer`] are.
enum WriteState {
    /// In memory, up to the multipart threshold.
    Buffer(Vec<u8>),
    /// Streaming to a temporary object.
    Multipart { tmp: Path, upload: WriteMultipart },
    /// Finished or failed.
    Done,
}

/// A blob of [`S3Blobs`] on its way.
struct S3Writer {
    blobs: S3Blobs,
    hasher: Sha256,
    written: u64,
    max_bytes: u64,
    state: WriteState,
}

impl S3Writer {
    /// Abandons the upload (awaited), leaving nothing behind.
    async fn abort(&mut self) {
        if let WriteState::Multipart { tmp, upload } =
            std::mem::replace(&mut self.state, WriteState::Done)
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(error = %e, %tmp, "aborting a multipart blob upload failed");
        }
    }

    async fn write_chunk(&mut self, chunk: &[u8]) -> Result<()> {
        let threshold = self.blobs.multipart_threshold;
        match &mut self.state {
            WriteState::Buffer(buffer) if buffer.len() + chunk.len() <= threshold => {
                buffer.extend_from_slice(chunk);
            }
            WriteState::Buffer(buffer) => {
                let buffered = std::mem::take(buffer);
                let tmp = self
                    .blobs
                    .prefix
                    .child("tmp")
                    .child(uuid::Uuid::new_v4().simple().to_string());
                let upload = self
                    .blobs
                    .store
                    .put_multipart(&tmp)
                    .await
                    .map_err(|e| self.blobs.err("starting a multipart upload", e))?;
                let mut upload = WriteMultipart::new_with_chunk_size(upload, threshold);
                upload.write(&buffered);
                upload.write(chunk);
                tracing::debug!(%tmp, "a blob goes to S3 in parts");
                self.state = WriteState::Multipart { tmp, upload };
            }
            WriteState::Multipart { upload, .. } => {
                if let Err(e) = upload.wait_for_capacity(PARTS_IN_FLIGHT).await {
                    let err = self.blobs.err("uploading a part", e);
                    self.abort().await;
                    return Err(err);
                }
                upload.write(chunk);
            }
            WriteState::Done => return Err(Error::internal("write to a finished or failed blob")),
        }
        Ok(())
    }
}

impl BlobWriter for S3Writer {
    fn write<'a>(&'a mut self, chunk: &'a [u8]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let total = self.written.saturating_add(chunk.len() as u64);
            if total > self.max_bytes {
                self.abort().await;
                self.state = WriteState::Done;
                return Err(too_large(self.max_bytes));
            }
            self.write_chunk(chunk).await?;
            self.hasher.update(chunk);
            self.written = total;
            Ok(())
        })
    }

    fn written(&self) -> u64 {
        self.written
    }

    fn finish(mut self: Box<Self>) -> BoxFuture<'static, PutBlob> {
        Box::pin(async move {
            let key = BlobKey::from_hasher(std::mem::take(&mut self.hasher));
            let size = self.written;
            let blobs = self.blobs.clone();
            let path = blobs.path(&key);
            match std::mem::replace(&mut self.state, WriteState::Done) {
                WriteState::Buffer(buffer) => {
                    let options = PutOptions {
                        mode: PutMode::Create,
                        ..PutOptions::default()
                    };
                    let put = blobs
                        .store
                        .put_opts(&path, PutPayload::from(buffer), options)
                        .await;
                    match put {
                        Ok(_) => {}
                        // Already stored (a create refused, or a concurrent create's
                        // conflict): the same bytes are there under the same key.
                        Err(e) if blobs.has(&key, size).await => {
                            tracing::debug!(%key, reason = %e, "blob already stored");
                        }
                        Err(e) => return Err(blobs.err(&format!("storing blob {key}"), e)),
                    }
                }
                WriteState::Multipart { tmp, upload } => {
                    upload
                        .finish()
                        .await
                        .map_err(|e| blobs.err(&format!("completing blob {key}"), e))?;
                    let copied = if blobs.has(&key, size).await {
                        Ok(())
                    } else {
                        blobs.store.copy(&tmp, &path).await
                    };
                    if let Err(e) = blobs.store.delete(&tmp).await {
                        tracing::warn!(error = %e, %tmp, "deleting a temporary blob failed");
                    }
                    copied.map_err(|e| blobs.err(&format!("storing blob {key}"), e))?;
                }
                WriteState::Done => {
                    return Err(Error::internal("finish of a finished or failed blob"));
                }
            }
            tracing::debug!(%key, size, "blob stored in S3");
            Ok(PutBlob { key, size })
        })
    }
}

impl Drop for S3Writer {
    fn drop(&mut self) {
        if let WriteState::Multipart { tmp, upload } =
            std::mem::replace(&mut self.state, WriteState::Done)
        {
            // Abandoned mid-way: its parts must not linger in the bucket.
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        if let Err(e) = upload.abort().await {
                            tracing::warn!(error = %e, %tmp, "aborting an abandoned blob upload failed");
                        }
                    });
                }
                Err(_) => {
                    tracing::warn!(%tmp, "an abandoned blob upload outlived its runtime");
                }
            }
        }
    }
}
