//! [`migrate_blobs`]: every blob of one store copied into another, verified, resumable
//! (what `spv-cli blobs migrate --from URL --to URL` runs; pict-rs' `migrate-store`).

use futures_util::{StreamExt as _, TryStreamExt as _};
use sha2::{Digest, Sha256};

use super::{BlobKey, BlobStore};
use crate::{Error, ErrorKind, Result};

/// How many failures a [`MigrateReport`] keeps with their messages (all are counted).
pub const MAX_REPORTED_FAILURES: usize = 1000;

/// Settings of [`migrate_blobs`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MigrateOptions {
    /// Blobs copied at once (1 to 64; default 4).
    pub concurrency: usize,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions { concurrency: 4 }
    }
}

/// What [`migrate_blobs`] tells its caller as it goes (a progress bar).
#[derive(Debug)]
#[non_exhaustive]
pub enum MigrateEvent<'a> {
    /// The source was listed: this many blobs of this many bytes.
    Listed {
        /// How many blobs.
        blobs: u64,
        /// Their bytes together.
        bytes: u64,
    },
    /// A blob was copied.
    Copied(&'a BlobKey, u64),
    /// A blob was already in the destination with the same size.
    Skipped(&'a BlobKey, u64),
    /// A blob could not be copied (a hash mismatch, a read or write error).
    Failed(&'a BlobKey, &'a Error),
}

/// What [`migrate_blobs`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MigrateReport {
    /// Blobs copied.
    pub copied: u64,
    /// Bytes copied.
    pub copied_bytes: u64,
    /// Blobs already in the destination with the right size.
    pub skipped: u64,
    /// Blobs that could not be copied.
    pub failed: u64,
    /// The first [`MAX_REPORTED_FAILURES`] failures: the key and what went wrong.
    pub failures: Vec<(BlobKey, String)>,
}

/// Copies every blob of `from` into `to`: lists `from`, skips a blob `to` already has with
/// the same size (so a run after an interruption finishes the job), streams the others
/// while hashing them, and stores a blob only when its SHA-256 is its key (a corrupted
/// source blob is reported and not copied: nothing of it reaches `to`).
///
/// Failures of single blobs are counted in the report and the migration goes on; an
/// error is returned only when `from` cannot be listed.
///
/// ```
/// use spv::store::{BlobStore, LocalBlobs, MigrateOptions, migrate_blobs};
///
/// let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
/// let (from, to) = (LocalBlobs::new(a.path()), LocalBlobs::new(b.path()));
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// rt.block_on(async {
///     let put = from.put(b"bytes").await.unwrap();
///     let report = migrate_blobs(&from, &to, MigrateOptions::default(), &|_| {}).await.unwrap();
///     assert_eq!((report.copied, report.skipped, report.failed), (1, 0, 0));
///     assert_eq!(to.get(&put.key).await.unwrap().unwrap(), b"bytes");
///     let again = migrate_blobs(&from, &to, MigrateOptions::default(), &|_| {}).await.unwrap();
///     assert_eq!((again.copied, again.skipped), (0, 1));
/// });
/// ```
pub async fn migrate_blobs(
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    options: MigrateOptions,
    on_event: &(dyn Fn(MigrateEvent<'_>) + Sync),
) -> Result<MigrateReport> {
    if !(1..=64).contains(&options.concurrency) {
        return Err(Error::invalid_request(format!(
            "concurrency {} is not valid; expected 1 to 64",
            options.concurrency
        )));
    }
    let blobs: Vec<(BlobKey, u64)> = from.list().try_collect().await?;
    let bytes = blobs.iter().map(|(_, size)| size).sum();
    tracing::info!(blobs = blobs.len(), bytes, ?from, ?to, "migrating blobs");
    on_event(MigrateEvent::Listed {
        blobs: blobs.len() as u64,
        bytes,
    });
    let mut report = MigrateReport::default();
    let mut copies = futures_util::stream::iter(blobs)
        .map(|(key, size)| async move {
            let outcome = copy_one(from, to, &key, size).await;
            (key, size, outcome)
        })
        .buffer_unordered(options.concurrency);
    while let Some((key, size, outcome)) = copies.next().await {
        match outcome {
            Ok(true) => {
                report.copied += 1;
                report.copied_bytes += size;
                on_event(MigrateEvent::Copied(&key, size));
            }
            Ok(false) => {
                report.skipped += 1;
                on_event(MigrateEvent::Skipped(&key, size));
            }
            Err(e) => {
                tracing::warn!(%key, error = %e, "a blob was not migrated");
                report.failed += 1;
                on_event(MigrateEvent::Failed(&key, &e));
                if report.failures.len() < MAX_REPORTED_FAILURES {
                    report.failures.push((key, e.to_string()));
                }
            }
        }
    }
    tracing::info!(
        copied = report.copied,
        skipped = report.skipped,
        failed = report.failed,
        "blob migration done"
    );
    Ok(report)
}

/// Copies one blob; `false` when `to` already had it.
async fn copy_one(
    from: &dyn BlobStore,
    to: &dyn BlobStore,
    key: &BlobKey,
    size: u64,
) -> Result<bool> {
    if to.size(key).await? == Some(size) {
        return Ok(false);
    }
    let Some(mut stream) = from.stream(key, None).await? else {
        return Err(Error::new(
            ErrorKind::NotFound,
            format!("blob {key} was listed but is gone from the source"),
        ));
    };
    let mut writer = to.writer(size).await?;
    let mut hasher = Sha256::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        writer.write(&chunk).await?;
    }
    let got = BlobKey::from_hasher(hasher);
    if &got != key {
        // Dropping the writer discards what it holds.
        return Err(Error::new(
            ErrorKind::InvalidAsset,
            format!("blob {key} is corrupted in the source: its bytes hash to {got}; not copied"),
        ));
    }
    writer.finish().await?;
    Ok(true)
}
