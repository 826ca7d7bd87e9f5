//! [`ObservedBlobs`]: any [`BlobStore`] with each operation's outcome and time reported
//! to a hook (the server's `spv_blob_operations_total` and
//! `spv_blob_operation_duration_seconds`).

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{BlobKey, BlobList, BlobStore, BlobStream, BlobWriter, PutBlob};
use crate::store::BoxFuture;

/// A blob store operation, as metrics label it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BlobOp {
    /// A blob written (from the writer's start to its finish).
    Put,
    /// A blob read whole.
    Get,
    /// A blob's read started (a range or all, streamed).
    Stream,
    /// A blob's size asked.
    Size,
    /// A blob deleted.
    Delete,
    /// The readiness check.
    Check,
}

impl BlobOp {
    /// The label: `put`, `get`, `stream`, `size`, `delete`, `check`.
    pub fn as_str(self) -> &'static str {
        match self {
            BlobOp::Put => "put",
            BlobOp::Get => "get",
            BlobOp::Stream => "stream",
            BlobOp::Size => "size",
            BlobOp::Delete => "delete",
            BlobOp::Check => "check",
        }
    }
}

/// Called after each operation: which, whether it succeeded, how long it took.
pub type BlobHook = Arc<dyn Fn(BlobOp, bool, Duration) + Send + Sync>;

/// A [`BlobStore`] whose operations are reported to a [`BlobHook`].
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use spv::store::{BlobOp, BlobStore, LocalBlobs, ObservedBlobs};
///
/// let dir = tempfile::tempdir().unwrap();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// let log = seen.clone();
/// let blobs = ObservedBlobs::new(
///     Arc::new(LocalBlobs::new(dir.path())),
///     Arc::new(move |op, ok, _| log.lock().unwrap().push((op, ok))),
/// );
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let put = rt.block_on(blobs.put(b"x")).unwrap();
/// rt.block_on(blobs.get(&put.key)).unwrap();
/// assert_eq!(*seen.lock().unwrap(), [(BlobOp::Put, true), (BlobOp::Get, true)]);
/// ```
pub struct ObservedBlobs {
    inner: Arc<dyn BlobStore>,
    hook: BlobHook,
}

impl ObservedBlobs {
    /// `inner`, reporting to `hook`.
    pub fn new(inner: Arc<dyn BlobStore>, hook: BlobHook) -> Self {
        ObservedBlobs { inner, hook }
    }
}

impl fmt::Debug for ObservedBlobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.inner.fmt(f)
    }
}

/// Runs `future`, reporting `op` with its outcome and time.
async fn observed<T>(hook: &BlobHook, op: BlobOp, future: BoxFuture<'_, T>) -> crate::Result<T> {
    let started = Instant::now();
    let result = future.await;
    hook(op, result.is_ok(), started.elapsed());
    result
}

impl BlobStore for ObservedBlobs {
    fn writer(&self, max_bytes: u64) -> BoxFuture<'_, Box<dyn BlobWriter>> {
        Box::pin(async move {
            let started = Instant::now();
            match self.inner.writer(max_bytes).await {
                Ok(inner) => {
                    let writer: Box<dyn BlobWriter> = Box::new(ObservedWriter {
                        inner,
                        hook: self.hook.clone(),
                        started,
                    });
                    Ok(writer)
                }
                Err(e) => {
                    (self.hook)(BlobOp::Put, false, started.elapsed());
                    Err(e)
                }
            }
        })
    }

    fn get<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(observed(&self.hook, BlobOp::Get, self.inner.get(key)))
    }

    fn stream<'a>(
        &'a self,
        key: &'a BlobKey,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'a, Option<BlobStream>> {
        Box::pin(observed(
            &self.hook,
            BlobOp::Stream,
            self.inner.stream(key, range),
        ))
    }

    fn size<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, Option<u64>> {
        Box::pin(observed(&self.hook, BlobOp::Size, self.inner.size(key)))
    }

    fn delete<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, bool> {
        Box::pin(observed(&self.hook, BlobOp::Delete, self.inner.delete(key)))
    }

    fn exists<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, bool> {
        Box::pin(observed(&self.hook, BlobOp::Size, self.inner.exists(key)))
    }

    fn list(&self) -> BlobList<'_> {
        self.inner.list()
    }

    fn check(&self) -> BoxFuture<'_, ()> {
        Box::pin(observed(&self.hook, BlobOp::Check, self.inner.check()))
    }
}

/// A writer of [`ObservedBlobs`]: reports [`BlobOp::Put`] when finished or failed.
struct ObservedWriter {
    inner: Box<dyn BlobWriter>,
    hook: BlobHook,
    started: Instant,
}

impl BlobWriter for ObservedWriter {
    fn write<'a>(&'a mut self, chunk: &'a [u8]) -> BoxFuture<'a, ()> {
        self.inner.write(chunk)
    }

    fn written(&self) -> u64 {
        self.inner.written()
    }

    fn finish(self: Box<Self>) -> BoxFuture<'static, PutBlob> {
        let ObservedWriter {
            inner,
            hook,
            started,
        } = *self;
        Box::pin(async move {
            let result = inner.finish().await;
            hook(BlobOp::Put, result.is_ok(), started.elapsed());
            result
        })
    }
}
