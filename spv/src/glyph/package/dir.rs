//! [`DirAssets`]: assets from a directory on disk (`--assets DIR`, or the folder of a
//! JSON document).

use std::collections::HashMap;
use std::fmt;
use std::fs::File;
use std::io::{ErrorKind as IoKind, Read};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use sha2::{Digest, Sha256};

use super::super::assets::{AssetResolver, Bytes};
use super::super::model::AssetSource;
use super::super::parse::jpath::quote;
use super::super::parse::src::normalise_relative;
use crate::{Error, ErrorKind, Result};

/// Files larger than this are neither read nor hashed (256 MiB) unless changed with
/// [`DirAssets::with_max_file_bytes`].
const DEFAULT_MAX_FILE_BYTES: u64 = 256 << 20;
/// The `sha256:` index looks at most this many files, this many folders deep.
const MAX_INDEXED_FILES: usize = 100_000;
const MAX_INDEX_DEPTH: usize = 16;

/// Resolves relative paths against a directory, and `sha256:` sources from the files in
/// it (and its subfolders), hashed once, on first use.
///
/// Paths never leave the directory: `..` and absolute paths are refused, and a path
/// that leads outside through a symbolic link is an error.
///
/// ```
/// use spv::glyph::{AssetResolver, AssetSource, DirAssets};
///
/// let dir = std::env::temp_dir().join(format!("spv-dirassets-doc-{}", std::process::id()));
/// std::fs::create_dir_all(dir.join("assets")).unwrap();
/// std::fs::write(dir.join("assets/a.txt"), b"hi").unwrap();
/// let assets = DirAssets::new(&dir);
/// let bytes = assets.resolve(&AssetSource::Path("assets/a.txt".into())).unwrap();
/// assert_eq!(bytes.as_deref(), Some(&b"hi"[..]));
/// assert_eq!(assets.resolve(&AssetSource::Path("assets/none.txt".into())).unwrap(), None);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub struct DirAssets {
    dir: PathBuf,
    max_file_bytes: u64,
    root: OnceLock<Option<PathBuf>>,
    hashes: OnceLock<HashMap<[u8; 32], PathBuf>>,
}

impl fmt::Debug for DirAssets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DirAssets")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl DirAssets {
    /// Assets in `dir`. Nothing is read until an asset is resolved.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirAssets {
            dir: dir.into(),
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
            root: OnceLock::new(),
            hashes: OnceLock::new(),
        }
    }

    /// Sets the largest file that is read or hashed.
    pub fn with_max_file_bytes(mut self, max: u64) -> Self {
        self.max_file_bytes = max;
        self
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The directory's canonical path; `None` when it does not exist.
    fn root(&self) -> Option<&Path> {
        self.root
            .get_or_init(|| std::fs::canonicalize(&self.dir).ok())
            .as_deref()
    }

    fn read(&self, path: &Path) -> Result<Bytes> {
        let file = File::open(path)?;
        let mut data = Vec::new();
        file.take(self.max_file_bytes.saturating_add(1))
            .read_to_end(&mut data)?;
        if data.len() as u64 > self.max_file_bytes {
            let message = format!(
                "{} is more than {} bytes, the limit for one asset file",
                path.display(),
                self.max_file_bytes
            );
            return Err(Error::new(ErrorKind::LimitExceeded, message));
        }
        Ok(Bytes::from(data))
    }

    fn resolve_path(&self, root: &Path, path: &str) -> Result<Option<Bytes>> {
        let relative = normalise_relative(path).map_err(|m| {
            Error::new(
                ErrorKind::InvalidDocument,
                format!("asset path refused: {m}"),
            )
        })?;
        let real = match std::fs::canonicalize(root.join(&relative)) {
            Ok(real) => real,
            Err(e) if e.kind() == IoKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        if !real.starts_with(root) {
            let message = format!(
                "asset path {} leads outside {} through a symbolic link, which is refused",
                quote(path),
                self.dir.display()
            );
            return Err(Error::new(ErrorKind::MissingAsset, message));
        }
        if !real.is_file() {
            return Ok(None);
        }
        self.read(&real).map(Some)
    }

    fn resolve_hash(&self, root: &Path, hash: &[u8; 32]) -> Result<Option<Bytes>> {
        let hashes = self.hashes.get_or_init(|| index(root, self.max_file_bytes));
        let Some(path) = hashes.get(hash) else {
            return Ok(None);
        };
        let bytes = self.read(path)?;
        // The file may have changed since it was hashed.
        Ok((Sha256::digest(&bytes)[..] == hash[..]).then_some(bytes))
    }
}

impl AssetResolver for DirAssets {
    fn resolve(&self, source: &AssetSource) -> Result<Option<Bytes>> {
        let Some(root) = self.root() else {
            return Ok(None);
        };
        match source {
            AssetSource::Path(path) => self.resolve_path(root, path),
            AssetSource::Sha256(hash) => self.resolve_hash(root, hash),
            AssetSource::Data { .. } | AssetSource::Unparsed => Ok(None),
        }
    }
}

/// SHA-256 → path of the regular files below `root` (links only when they stay inside).
fn index(root: &Path, max_file_bytes: u64) -> HashMap<[u8; 32], PathBuf> {
    let mut hashes = HashMap::new();
    let mut seen = 0usize;
    let mut stack = vec![(root.to_path_buf(), 0usize)];
    while let Some((dir, depth)) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                if depth < MAX_INDEX_DEPTH {
                    stack.push((path, depth + 1));
                }
                continue;
            }
            let file = if kind.is_symlink() {
                match std::fs::canonicalize(&path) {
                    Ok(real) if real.starts_with(root) && real.is_file() => real,
                    _ => continue,
                }
            } else if kind.is_file() {
                path
            } else {
                continue;
            };
            seen += 1;
            if seen > MAX_INDEXED_FILES {
                return hashes;
            }
            if let Some(hash) = hash_file(&file, max_file_bytes) {
                hashes.entry(hash).or_insert(file);
            }
        }
    }
    hashes
}

fn hash_file(path: &Path, max_bytes: u64) -> Option<[u8; 32]> {
    let file = File::open(path).ok()?;
    if file.metadata().ok()?.len() > max_bytes {
        return None;
    }
    let mut reader = file.take(max_bytes);
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        match reader.read(&mut buffer) {
            Ok(0) => return Some(hasher.finalize().into()),
            Ok(n) => hasher.update(&buffer[..n]),
            Err(e) if e.kind() == IoKind::Interrupted => {}
            Err(_) => return None,
        }
    }
}
