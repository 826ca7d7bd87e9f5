//! `.glyph` packages (ZIP archives with `document.json` and `assets/`) and the
//! directory resolver the CLI uses for documents on disk.
//!
//! Reading a package trusts nothing the archive declares: sizes are counted as bytes
//! are actually decompressed, through [`Read::take`], so a zip bomb stops at the
//! configured limit without allocating what its headers claim. Entry names that could
//! reach outside the package (`..`, absolute paths, backslashes, drive letters) are
//! refused.
//!
//! ```
//! use spv::glyph::{AssetResolver, AssetSource, Package};
//!
//! let json = br#"{"format":"glyph","version":1,"pages":[{"width":8,"height":4,"layers":[]}]}"#;
//! let zip = Package::write(json, &[("assets/logo.png", b"not really a png")]).unwrap();
//! let loaded = spv::glyph::load(&zip, &Default::default()).unwrap();
//! let package = loaded.package.unwrap();
//! let bytes = package.resolve(&AssetSource::Path("./assets/logo.png".into())).unwrap().unwrap();
//! assert_eq!(&*bytes, b"not really a png");
//! ```

mod dir;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::io::{Cursor, Read, Write};
use std::sync::OnceLock;

use indexmap::IndexMap;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::Limits;
use super::assets::{AssetResolver, Bytes};
use super::model::AssetSource;
use super::parse::jpath::quote;
use super::parse::src::normalise_relative;
use crate::{Error, ErrorKind, Result};

pub use dir::DirAssets;

/// The name of the document inside a package.
const DOCUMENT: &str = "document.json";
/// The folder of a package's assets.
const ASSETS: &str = "assets/";
/// Buffers never start larger than this, whatever an entry declares.
const MAX_INITIAL_CAPACITY: u64 = 1 << 20;

/// The files of a `.glyph` package below `assets/`, by normalised path
/// (`assets/logo.png`), with a SHA-256 index built on first use.
pub struct Package {
    files: IndexMap<String, Bytes>,
    by_hash: OnceLock<HashMap<[u8; 32], usize>>,
}

impl fmt::Debug for Package {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes: Vec<(&str, usize)> = self
            .files
            .iter()
            .map(|(p, b)| (p.as_str(), b.len()))
            .collect();
        f.debug_struct("Package").field("files", &sizes).finish()
    }
}

impl Package {
    /// The file at `path` (`assets/logo.png`, `./assets/logo.png`), if the package has it.
    pub fn get(&self, path: &str) -> Option<&Bytes> {
        self.files.get(normalise_relative(path).ok()?.as_str())
    }

    /// The file whose SHA-256 is `hash`, if the package has one.
    pub fn get_sha256(&self, hash: &[u8; 32]) -> Option<&Bytes> {
        let index = self.by_hash.get_or_init(|| {
            let hashes = self.files.values().enumerate();
            hashes
                .map(|(i, bytes)| (Sha256::digest(bytes).into(), i))
                .collect()
        });
        let (_, bytes) = self.files.get_index(*index.get(hash)?)?;
        Some(bytes)
    }

    /// The paths of the package's asset files, in archive order.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.files.keys().map(String::as_str)
    }

    /// How many asset files the package has.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether the package has no asset files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// Builds a package: `document.json` and `files`, each `(path, bytes)` with a
    /// relative path (normally below `assets/`), deflate-compressed. The output is the
    /// same for the same input.
    pub fn write(document_json: &[u8], files: &[(&str, &[u8])]) -> Result<Vec<u8>> {
        let zip_error =
            |e: zip::result::ZipError| Error::internal(format!("cannot write the package ({e})"));
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .large_file(document_json.len() as u64 >= u64::from(u32::MAX));
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        writer.start_file(DOCUMENT, options).map_err(zip_error)?;
        writer.write_all(document_json)?;
        for (path, bytes) in files {
            let name = normalise_relative(path)
                .map_err(|m| Error::invalid_request(format!("package file refused: {m}")))?;
            let options = options.large_file(bytes.len() as u64 >= u64::from(u32::MAX));
            writer.start_file(name, options).map_err(zip_error)?;
            writer.write_all(bytes)?;
        }
        Ok(writer.finish().map_err(zip_error)?.into_inner())
    }
}

impl AssetResolver for Package {
    fn resolve(&self, source: &AssetSource) -> Result<Option<Bytes>> {
        Ok(match source {
            AssetSource::Path(path) => self.get(path).cloned(),
            AssetSource::Sha256(hash) => self.get_sha256(hash).cloned(),
            AssetSource::Data { .. } | AssetSource::Unparsed => None,
        })
    }
}

/// Whether `bytes` look like a ZIP archive (a package) rather than JSON.
pub(crate) fn is_package(bytes: &[u8]) -> bool {
    // `PK\x05\x06` starts an empty archive: still a package, one without document.json.
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

fn invalid(message: String) -> Error {
    Error::new(ErrorKind::InvalidDocument, message)
}

fn too_big(message: String) -> Error {
    Error::new(ErrorKind::LimitExceeded, message)
}

/// Reads a package: its assets and the bytes of its `document.json`.
pub(crate) fn read(bytes: &[u8], limits: &Limits) -> Result<(Package, Vec<u8>)> {
    let size = bytes.len() as u64;
    if size > limits.max_package_bytes {
        let max = limits.max_package_bytes;
        return Err(too_big(format!(
            "the package is {size} bytes, more than the limit of {max} bytes"
        )));
    }
    let mut archive = ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| invalid(format!("not a valid ZIP package ({e})")))?;
    let entries = archive.len();
    if entries > limits.max_package_entries {
        let max = limits.max_package_entries;
        return Err(too_big(format!(
            "the package has {entries} entries, more than the limit of {max}"
        )));
    }
    if archive.has_duplicate_names() {
        return Err(invalid(
            "the package has two entries with the same name".into(),
        ));
    }
    let mut left = limits.max_package_uncompressed_bytes;
    let mut document = None;
    let mut files = IndexMap::new();
    for index in 0..entries {
        let raw = match archive.name_for_index(index) {
            Some(Ok(name)) => name.into_owned(),
            _ => {
                return Err(invalid(format!(
                    "package entry {index} has an unreadable name"
                )));
            }
        };
        let name = normalise_relative(&raw).map_err(|m| {
            invalid(format!(
                "package entry {} refused (path traversal): {m}",
                quote(&raw)
            ))
        })?;
        let is_document = name == DOCUMENT;
        if raw.ends_with('/') || !(is_document || name.starts_with(ASSETS)) {
            continue;
        }
        if document.is_some() && is_document || files.contains_key(&name) {
            return Err(invalid(format!(
                "the package has two entries named {}",
                quote(&name)
            )));
        }
        let mut entry = archive.by_index(index).map_err(|e| {
            invalid(format!(
                "package entry {} cannot be read ({e})",
                quote(&raw)
            ))
        })?;
        if entry.is_dir() {
            continue;
        }
        if entry.is_symlink() {
            return Err(invalid(format!(
                "package entry {} is a symbolic link, which is refused",
                quote(&raw)
            )));
        }
        let cap = if is_document {
            left.min(limits.max_json_bytes)
        } else {
            left
        };
        let start = entry.size().min(cap).min(MAX_INITIAL_CAPACITY);
        let mut data = Vec::with_capacity(usize::try_from(start).unwrap_or(0));
        (&mut entry)
            .take(cap.saturating_add(1))
            .read_to_end(&mut data)
            .map_err(|e| invalid(format!("package entry {} is damaged ({e})", quote(&raw))))?;
        let read = data.len() as u64;
        if is_document && read > limits.max_json_bytes {
            let max = limits.max_json_bytes;
            return Err(too_big(format!(
                "{DOCUMENT} is more than {max} bytes, the limit for document JSON"
            )));
        }
        if read > left {
            let max = limits.max_package_uncompressed_bytes;
            return Err(too_big(format!(
                "the package's files are more than {max} bytes uncompressed (the limit)"
            )));
        }
        left -= read;
        if is_document {
            document = Some(data);
        } else {
            files.insert(name, Bytes::from(data));
        }
    }
    let document =
        document.ok_or_else(|| invalid(format!("the package has no {DOCUMENT} at its root")))?;
    let package = Package {
        files,
        by_hash: OnceLock::new(),
    };
    Ok((package, document))
}
