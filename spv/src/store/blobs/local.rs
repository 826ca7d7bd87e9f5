//! [`LocalBlobs`]: blobs in a local directory, written to a temporary file and renamed.

use std::ops::Range;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt as _, AsyncSeekExt as _, AsyncWriteExt as _};

use super::{BlobKey, BlobList, BlobStore, BlobStream, BlobWriter, PutBlob, too_large};
use crate::store::BoxFuture;
use crate::{Error, ErrorKind};

/// The chunk of a streamed read.
const READ_CHUNK: usize = 64 * 1024;

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
        let [a, b, k] = key.fanned_out();
        self.root.join(a).join(b).join(k)
    }

    /// The directory of the blobs.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes one byte to a file in `<root>/tmp` and removes it: a full or read-only
    /// directory is an [`ErrorKind::Unavailable`] error.
    async fn check_writable(&self) -> crate::Result<()> {
        let tmp_dir = self.root.join("tmp");
        tokio::fs::create_dir_all(&tmp_dir)
            .await
            .map_err(io_err("creating", &tmp_dir))?;
        let probe = tmp_dir.join(format!("ready-{}.probe", uuid::Uuid::new_v4().simple()));
        let written = async {
            let mut file = tokio::fs::File::create(&probe).await?;
            file.write_all(b"r").await?;
            // tokio's file writes in the background: the write's own error (ENOSPC, EROFS)
            // comes back from `flush`, while `sync_data` would only see what reached it.
            file.flush().await?;
            file.sync_data().await
        }
        .await;
        let _ = tokio::fs::remove_file(&probe).await;
        written.map_err(io_err("writing", &probe))
    }
}

fn io_err(doing: &str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let at = format!("{doing} {}", path.display());
    move |e| {
        if cannot_write(&e) {
            // The client reads this message; the path and the cause go to the log.
            tracing::warn!(error = %e, "{at}");
            Error::new(
                ErrorKind::Unavailable,
                "the blob store cannot be written now (full or read-only); try again later",
            )
            .with_source(e)
        } else {
            Error::new(ErrorKind::Io, format!("{at}: {e}")).with_source(e)
        }
    }
}

/// Whether `e` says the directory cannot take writes now (full, over quota, read-only,
/// not permitted): a state of the machine, not of the request, which clears by itself
/// once an operator frees space or fixes the permissions.
fn cannot_write(e: &std::io::Error) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        e.kind(),
        K::StorageFull | K::ReadOnlyFilesystem | K::PermissionDenied | K::QuotaExceeded
    )
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

    fn stream<'a>(
        &'a self,
        key: &'a BlobKey,
        range: Option<Range<u64>>,
    ) -> BoxFuture<'a, Option<BlobStream>> {
        Box::pin(async move {
            let path = self.path(key);
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(file) => file,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
                Err(e) => return Err(io_err("reading", &path)(e)),
            };
            let (start, left) = match range {
                Some(r) => (r.start, r.end.saturating_sub(r.start)),
                None => (0, u64::MAX),
            };
            if start > 0 {
                file.seek(std::io::SeekFrom::Start(start))
                    .await
                    .map_err(io_err("reading", &path))?;
            }
            let stream = futures_util::stream::try_unfold(
                (file, left, path),
                |(mut file, left, path)| async move {
                    if left == 0 {
                        return Ok(None);
                    }
                    let want = usize::try_from(left).unwrap_or(usize::MAX).min(READ_CHUNK);
                    let mut buffer = vec![0; want];
                    let n = file
                        .read(&mut buffer)
                        .await
                        .map_err(io_err("reading", &path))?;
                    if n == 0 {
                        return Ok(None);
                    }
                    buffer.truncate(n);
                    Ok(Some((Bytes::from(buffer), (file, left - n as u64, path))))
                },
            );
            let stream: BlobStream = Box::pin(stream);
            Ok(Some(stream))
        })
    }

    fn size<'a>(&'a self, key: &'a BlobKey) -> BoxFuture<'a, Option<u64>> {
        Box::pin(async move {
            let path = self.path(key);
            match tokio::fs::metadata(&path).await {
                Ok(meta) => Ok(Some(meta.len())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(io_err("checking", &path)(e)),
            }
        })
    }

    fn list(&self) -> BlobList<'_> {
        // Depth-first over `ab/cd/`, one directory read at a time; `tmp` and anything
        // that is not a blob's place are skipped.
        let start = (vec![(self.root.clone(), 0u8)], Vec::<(BlobKey, u64)>::new());
        Box::pin(futures_util::stream::try_unfold(
            start,
            |(mut dirs, mut found)| async move {
                loop {
                    if let Some(blob) = found.pop() {
                        return Ok(Some((blob, (dirs, found))));
                    }
                    let Some((dir, depth)) = dirs.pop() else {
                        return Ok(None);
                    };
                    let mut entries = match tokio::fs::read_dir(&dir).await {
                        Ok(entries) => entries,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(e) => return Err(io_err("listing", &dir)(e)),
                    };
                    while let Some(entry) = entries
                        .next_entry()
                        .await
                        .map_err(io_err("listing", &dir))?
                    {
                        let name = entry.file_name();
                        let Some(name) = name.to_str() else { continue };
                        if depth < 2 {
                            let fan = name.len() == 2
                                && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
                            if fan {
                                dirs.push((entry.path(), depth + 1));
                            }
                        } else if let Ok(key) = BlobKey::parse(name) {
                            let meta = entry
                                .metadata()
                                .await
                                .map_err(io_err("checking", &entry.path()))?;
                            if meta.is_file() {
                                found.push((key, meta.len()));
                            }
                        }
                    }
                }
            },
        ))
    }

    fn check(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            match tokio::fs::metadata(&self.root).await {
                Ok(meta) if meta.is_dir() => self.check_writable().await,
                // Created by the first write.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Ok(_) => Err(Error::new(
                    ErrorKind::Io,
                    format!(
                        "the blob directory {} is not a directory",
                        self.root.display()
                    ),
                )),
                Err(e) => Err(io_err("checking", &self.root)(e)),
            }
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
                return Err(too_large(self.max_bytes));
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
            let key = BlobKey::from_hasher(std::mem::take(&mut self.hasher));
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

    fn tmp_files(blobs: &LocalBlobs) -> usize {
        std::fs::read_dir(blobs.root.join("tmp")).map_or(0, |d| d.count())
    }

    #[tokio::test]
    async fn the_layout_is_ab_cd_sha256_and_no_temporary_file_stays() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::in_data_dir(dir.path());
        let put = blobs.put(b"hello you").await.unwrap();
        let k = put.key.as_str();
        assert_eq!(
            blobs.path(&put.key),
            dir.path()
                .join("blobs")
                .join(&k[..2])
                .join(&k[2..4])
                .join(k)
        );
        assert!(blobs.path(&put.key).is_file());
        assert_eq!(tmp_files(&blobs), 0, "no temporary file is left");
        let mut abandoned = blobs.writer(100).await.unwrap();
        abandoned.write(b"partial").await.unwrap();
        assert_eq!(tmp_files(&blobs), 1);
        drop(abandoned);
        assert_eq!(tmp_files(&blobs), 0);
    }

    #[tokio::test]
    async fn a_file_where_the_directory_should_be_fails_the_check() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("blobs"), b"not a directory").unwrap();
        let err = LocalBlobs::in_data_dir(dir.path())
            .check()
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
        LocalBlobs::new(dir.path().join("missing"))
            .check()
            .await
            .unwrap();
    }
}
