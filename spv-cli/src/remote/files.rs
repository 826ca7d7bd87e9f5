//! Files of the remote commands: documents read with a limit, uploads read with a
//! progress bar, downloads streamed into a file that appears whole or not at all.

use std::io::{self, IsTerminal as _};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll};

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};

/// The largest document `documents put` reads into memory (the server's own body limit,
/// 64 MiB by default, usually refuses earlier).
pub(crate) const MAX_DOCUMENT_BYTES: u64 = 256 * 1024 * 1024;

/// Uploads at least this big get a progress bar (on a terminal).
const PROGRESS_FROM_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a document to upload, refusing one over [`MAX_DOCUMENT_BYTES`].
pub(crate) async fn read_document(path: &Path) -> anyhow::Result<Vec<u8>> {
    let too_big = || {
        anyhow::anyhow!(
            "{} is larger than {} MiB, the most a document may be",
            path.display(),
            MAX_DOCUMENT_BYTES / (1024 * 1024)
        )
    };
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let len = file
        .metadata()
        .await
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    if len > MAX_DOCUMENT_BYTES {
        return Err(too_big());
    }
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // The length again while reading: the file may grow meanwhile.
    file.take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .await
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > MAX_DOCUMENT_BYTES {
        return Err(too_big());
    }
    Ok(bytes)
}

/// Opens a file to upload as a stream, with a progress bar on stderr when it is big and
/// stderr is a terminal.
pub(crate) async fn open_upload(path: &Path) -> anyhow::Result<Upload> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("opening {}", path.display()))?;
    let len = file
        .metadata()
        .await
        .with_context(|| format!("reading {}", path.display()))?
        .len();
    let bar = (len >= PROGRESS_FROM_BYTES && io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} {bar:40} {bytes}/{total_bytes}  {bytes_per_sec}  eta {eta}",
        ) {
            bar.set_style(style);
        }
        bar.set_message(
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        );
        bar
    });
    Ok(Upload { file, bar })
}

/// A file being uploaded; advances its progress bar as the client reads it.
pub(crate) struct Upload {
    file: tokio::fs::File,
    bar: Option<ProgressBar>,
}

impl Upload {
    /// The progress bar, to clear once the upload is answered.
    pub(crate) fn bar(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }
}

impl AsyncRead for Upload {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.file).poll_read(cx, buf);
        if let (Poll::Ready(Ok(())), Some(bar)) = (&polled, &self.bar) {
            bar.inc((buf.filled().len() - before) as u64);
        }
        polled
    }
}

/// Where a download goes: stdout (`-`), or a temporary file beside the target that
/// [`commit`](Self::commit) renames over it, so that a failed download leaves nothing.
pub(crate) enum Destination {
    /// Standard output.
    Stdout(tokio::io::Stdout),
    /// A temporary file, renamed to `path` at the end.
    File {
        /// The temporary file.
        file: tokio::fs::File,
        /// Its name.
        tmp: PathBuf,
        /// The final name.
        path: PathBuf,
    },
}

impl Destination {
    /// Starts a download to `path` (`-`: stdout).
    pub(crate) async fn create(path: &Path) -> anyhow::Result<Destination> {
        if path == Path::new("-") {
            return Ok(Destination::Stdout(tokio::io::stdout()));
        }
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(
            ".{name}.{}.{}.tmp",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .await
            .with_context(|| format!("creating a file in {}", dir.display()))?;
        Ok(Destination::File {
            file,
            tmp,
            path: path.to_owned(),
        })
    }

    /// Finishes the download: flushed, and the file renamed to its name.
    pub(crate) async fn commit(self) -> anyhow::Result<()> {
        match self {
            Destination::Stdout(mut stdout) => stdout.flush().await.context("writing to stdout"),
            Destination::File {
                mut file,
                tmp,
                path,
            } => {
                let done = async {
                    file.flush().await?;
                    file.sync_all().await?;
                    drop(file);
                    tokio::fs::rename(&tmp, &path).await
                }
                .await;
                if let Err(err) = done {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    return Err(err).with_context(|| format!("writing {}", path.display()));
                }
                Ok(())
            }
        }
    }

    /// Abandons the download: the temporary file is removed.
    pub(crate) async fn discard(self) {
        if let Destination::File { file, tmp, .. } = self {
            drop(file);
            let _ = tokio::fs::remove_file(&tmp).await;
        }
    }
}

impl AsyncWrite for Destination {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Destination::Stdout(stdout) => Pin::new(stdout).poll_write(cx, buf),
            Destination::File { file, .. } => Pin::new(file).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Destination::Stdout(stdout) => Pin::new(stdout).poll_flush(cx),
            Destination::File { file, .. } => Pin::new(file).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Destination::Stdout(stdout) => Pin::new(stdout).poll_shutdown(cx),
            Destination::File { file, .. } => Pin::new(file).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_download_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.bin");
        let mut dest = Destination::create(&path).await.unwrap();
        dest.write_all(b"partial").await.unwrap();
        assert!(!path.exists(), "nothing under the name before the commit");
        dest.discard().await;
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

        let mut dest = Destination::create(&path).await.unwrap();
        dest.write_all(b"whole").await.unwrap();
        dest.commit().await.unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[tokio::test]
    async fn documents_over_the_limit_are_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.glyph");
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(MAX_DOCUMENT_BYTES + 1).unwrap();
        let err = read_document(&path).await.unwrap_err().to_string();
        assert!(
            err.contains("big.glyph") && err.contains("larger than"),
            "{err}"
        );
        let err = format!(
            "{:#}",
            read_document(&dir.path().join("none")).await.unwrap_err()
        );
        assert!(err.contains("none"), "{err}");
    }
}
