//! Finding the bytes of a document's assets.
//!
//! A document names its assets by `data:` URL, `sha256:` content address or relative
//! path (see [`AssetSource`]). An [`AssetResolver`] turns a source into bytes: the
//! package a document came in, a directory on disk, a server's asset store. Inline
//! `data:` assets never need a resolver.

use std::sync::Arc;

use super::model::{Asset, AssetSource};
use crate::{Error, ErrorKind, Result};

/// Bytes shared cheaply between renders.
pub type Bytes = Arc<[u8]>;

/// Turns an asset source into bytes.
pub trait AssetResolver: Send + Sync {
    /// The bytes at `source`, or `Ok(None)` when this resolver does not have them.
    fn resolve(&self, source: &AssetSource) -> Result<Option<Bytes>>;
}

impl std::fmt::Debug for dyn AssetResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AssetResolver")
    }
}

/// A resolver that has nothing (only inline `data:` assets work with it).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoAssets;

impl AssetResolver for NoAssets {
    fn resolve(&self, _source: &AssetSource) -> Result<Option<Bytes>> {
        Ok(None)
    }
}

impl<T: AssetResolver + ?Sized> AssetResolver for Arc<T> {
    fn resolve(&self, source: &AssetSource) -> Result<Option<Bytes>> {
        (**self).resolve(source)
    }
}

/// Tries each resolver in turn.
#[derive(Clone, Default)]
pub struct Chain(pub Vec<Arc<dyn AssetResolver>>);

impl AssetResolver for Chain {
    fn resolve(&self, source: &AssetSource) -> Result<Option<Bytes>> {
        for resolver in &self.0 {
            if let Some(bytes) = resolver.resolve(source)? {
                return Ok(Some(bytes));
            }
        }
        Ok(None)
    }
}

/// The bytes of asset `name` of a document: inline data directly, the rest through
/// `resolver`; a [`ErrorKind::MissingAsset`] error naming the asset when none has it.
pub fn load_asset(name: &str, asset: &Asset, resolver: &dyn AssetResolver) -> Result<Bytes> {
    if let AssetSource::Data { bytes, .. } = &asset.source {
        return Ok(bytes.clone());
    }
    resolver.resolve(&asset.source)?.ok_or_else(|| {
        Error::new(
            ErrorKind::MissingAsset,
            format!("asset \"{name}\" ({}) was not found", asset.src),
        )
        .at(format!("assets.{name}"))
    })
}
