//! Blob storage: [`BlobStore`] and the local-directory [`LocalBlobs`].
//!
//! Blobs are content-addressed: the key is the SHA-256 of the bytes, so equal uploads
//! share one blob. A blob is written to a temporary name and renamed into place only when
//! complete, so a reader never sees half a blob and a failed upload leaves nothing behind.

use std::fmt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::hex::hex;
use tokio::io::AsyncWriteExt;

use super::BoxFuture;
use crate::{Error, ErrorKind, Result};

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

    /// The key as text.
    pub fn as_str(&self) -> &str {
        &self.0
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

/// Stores blobs by content. Implementations: [`LocalBlobs`] (a directory); an S3 store
/// can follow for scale-out.
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Starts a blob of at most `max_bytes` bytes; write it in chunks, then finish it.
    fn writer(&self, max_bytes: u64) -> BoxFuture<'_, Box<dyn BlobWriter>>;

    /// The bytes of a blob, `None` when there is none under `key`.
    fn get<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, Option<Vec<u8>>>;

    /// Removes a blob; `false` when there was none.
    fn delete<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, bool>;

    /// Whether a blob exists under `key`.
    fn exists<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, bool>;

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
    /// Appends a chunk; [`ErrorKind::LimitExceeded`] past the writer's size limit (the
    /// partial blob is discarded).
    fn write<'a>(&'a mut self, chunk: &'a [u8]) -> BoxFuture<'a, ()>;

    /// How many bytes were written so far.
    fn written(&self) -> u64;

    /// Completes the blob and moves it into place under its SHA-256.
    fn finish(self: Box<Self>) -> BoxFuture<'static, PutBlob>;
}

/// Blobs in a local directory: `<root>/ab/cd/<sha256>`, temporary files in `<root>/tmp`.
///
/// ```
/// use spv::store::{BlobKey, BlobStore, LocalBlobs};
///
/// let dir = tempfile::tempdir().unwrap();
/// let blobs = LocalBlobs::in_data_dir(dir.path());
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let put = rt.block_on(blobs.put(b"hello")).unwrap();
/// assert_eq!(put.key, BlobKey::of(b"hello"));
/// assert_eq!(rt.block_on(blobs.get(&put.key)).unwrap().as_deref(), Some(&b"hello"[..]));
/// assert!(blobs.path(&put.key).starts_with(dir.path().join("blobs/2c/f2")));
/// ```
#[derive(Debug, Clone)]
pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    /// Blobs under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalBlobs { root: root.into() }
    }

    /// Blobs under `<data_dir>/blobs`.
    pub fn in_data_dir(data_dir: &Path) -> Self {
        LocalBlobs::new(data_dir.join("blobs"))
    }

    /// The file of the blob `key` (which may not exist).
    pub fn path(&self, key: &BlobKey) -> PathBuf {
        let k = key.as_str();
        self.root.join(&k[..2]).join(&k[2..4]).join(k)
    }
}

fn io_err(doing: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let at = format!("{doing} {}", path.display());
    move |e| Error::new(ErrorKind::Io, format!("{at}: {e}")).with_source(e)
}

impl BlobStore for LocalBlobs {
    fn writer(&self, max_bytes: u64) -> BoxFuture<'_, Box<dyn BlobWriter>> {
        Box::pin(async move {
            let tmp_dir = self.root.join("tmp");
            tokio::fs::create_dir_all(&tmp_dir)
                .await
                .map_err(io_err("creating", &tmp_dir))?;
            let tmp = tmp_dir.join(format!("{}.part", uuid::Uuid::new_v4().simple()));
            let file = tokio::fs::File::create(&tmp)
                .await
                .map_err(io_err("creating", &tmp))?;
            let writer: Box<dyn BlobWriter> = Box::new(LocalWriter {
                blobs: self.clone(),
                tmp,
                file: Some(file),
                hasher: Sha256::new(),
                written: 0,
                max_bytes,
            });
            Ok(writer)
        })
    }

    fn get<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let path = self.path(key);
            match tokio::fs::read(&path).await {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err("reading", &path)(e)),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let path = self.path(key);
            match tokio::fs::remove_file(&path).await {
                Ok(()) => Ok(true),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
                Err(e) => Err(io_err("removing", &path)(e)),
            }
        })
    }

    fn exists<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let path = self.path(key);
            tokio::fs::try_exists(&path)
                .await
                .map_err(io_err("checking", &path))
        })
    }
}

/// A blob of [`LocalBlobs`] on its way: a temporary file and a running hash.
struct LocalWriter {
    blobs: LocalBlobs,
    tmp: PathBuf,
    /// `None` once finished (so `Drop` keeps the renamed file).
    file: Option<tokio::fs::File>,
    hasher: Sha256,
    written: u64,
    max_bytes: u64,
}

impl BlobWriter for LocalWriter {
    fn write<'a>(&'a mut self, chunk: &'a [u8]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let total = self.written.saturating_add(chunk.len() as u64);
            if total > self.max_bytes {
                self.file = None;
                let _ = tokio::fs::remove_file(&self.tmp).await;
                return Err(Error::new(
                    ErrorKind::LimitExceeded,
                    format!(
                        "upload is too large: more than the limit of {} bytes",
                        self.max_bytes
                    ),
                ));
            }
            let file = self
                .file
                .as_mut()
                .ok_or_else(|| Error::internal("write to a finished or failed blob"))?;
            file.write_all(chunk)
                .await
                .map_err(io_err("writing", &self.tmp))?;
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
            let mut file = self
                .file
                .take()
                .ok_or_else(|| Error::internal("finish of a finished or failed blob"))?;
            let tmp = self.tmp.clone();
            let synced = async {
                file.flush().await?;
                file.sync_all().await
            };
            if let Err(e) = synced.await {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(io_err("writing", &tmp)(e));
            }
            drop(file);
            let key = BlobKey(hex(&std::mem::take(&mut self.hasher).finalize()));
            let path = self.blobs.path(&key);
            let result = async {
                if let Some(parent) = path.parent() {
                    tokio::fs::create_dir_all(parent).await?;
                }
                tokio::fs::rename(&tmp, &path).await
            }
            .await;
            if let Err(e) = result {
                let _ = tokio::fs::remove_file(&tmp).await;
                return Err(io_err("storing", &path)(e));
            }
            Ok(PutBlob {
                key,
                size: self.written,
            })
        })
    }
}

impl Drop for LocalWriter {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            // Abandoned mid-way: the partial blob must not linger.
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lowercase_and_whole_past_one_chunk() {
        assert_eq!(hex(&[]), "");
        assert_eq!(hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        let bytes: Vec<u8> = (0..70).collect();
        let expected: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex(&bytes), expected);
    }

    fn tmp_files(blobs: &LocalBlobs) -> usize {
        std::fs::read_dir(blobs.root.join("tmp")).map_or(0, |d| d.count())
    }

    #[tokio::test]
    async fn chunks_are_stored_under_their_hash_and_deduplicated() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::in_data_dir(dir.path());
        let mut writer = blobs.writer(10).await.unwrap();
        writer.write(b"hello ").await.unwrap();
        writer.write(b"you").await.unwrap();
        assert_eq!(writer.written(), 9);
        let put = writer.finish().await.unwrap();
        assert_eq!(
            put,
            PutBlob {
                key: BlobKey::of(b"hello you"),
                size: 9
            }
        );
        assert_eq!(put.key, BlobKey::parse(put.key.as_str()).unwrap());
        let again = blobs.put(b"hello you").await.unwrap();
        assert_eq!(again.key, put.key);
        assert!(blobs.exists(&put.key).await.unwrap());
        assert_eq!(blobs.get(&put.key).await.unwrap().unwrap(), b"hello you");
        assert_eq!(tmp_files(&blobs), 0, "no temporary file is left");
        assert!(blobs.delete(&put.key).await.unwrap());
        assert!(!blobs.delete(&put.key).await.unwrap());
        assert!(!blobs.exists(&put.key).await.unwrap());
        assert_eq!(blobs.get(&put.key).await.unwrap(), None);
    }

    #[tokio::test]
    async fn too_large_or_abandoned_blobs_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::in_data_dir(dir.path());
        let mut writer = blobs.writer(4).await.unwrap();
        writer.write(b"abc").await.unwrap();
        let err = writer.write(b"de").await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
        assert!(err.to_string().contains("4 bytes"), "{err}");
        assert!(writer.finish().await.is_err());
        let mut abandoned = blobs.writer(100).await.unwrap();
        abandoned.write(b"partial").await.unwrap();
        assert_eq!(tmp_files(&blobs), 1);
        drop(abandoned);
        assert_eq!(tmp_files(&blobs), 0);
        assert!(!blobs.exists(&BlobKey::of(b"partial")).await.unwrap());
    }

    #[test]
    fn keys_are_checked_before_they_reach_a_path() {
        assert!(BlobKey::parse("../../etc/passwd").is_err());
        assert!(BlobKey::parse(&"A".repeat(64)).is_err());
        assert_eq!(
            BlobKey::of(b"").as_str(),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
