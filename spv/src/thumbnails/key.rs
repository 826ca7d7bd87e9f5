//! The thumbnail cache key, which is also the ETag: [`CacheKey`], and matching
//! `If-None-Match` against an ETag. Pure, synchronous code; no feature beyond `render`.

use std::fmt::Write as _;

use sha2::{Digest, Sha256};
#[cfg(feature = "api")]
use uuid::Uuid;

use crate::api::{ImageFormat, RenderBackend, ThumbnailSize};
use crate::render::renderer_version;

/// What identifies a rendered thumbnail of a stored document: the SHA-256 of the
/// document owner's id, the document's content hash, the page, size, format and
/// leniency, and the renderer version of the backend expected to draw it
/// ([`renderer_version`]). Quoted, it is the thumbnail's strong ETag.
///
/// The `sha256:` assets a document refers to resolve from its owner's uploads, so the
/// owner is part of the key: two owners' byte-identical documents never share a render
/// (one could otherwise see pixels of an asset only the other uploaded). The bytes
/// behind a content address never change, so they need no part in the key. What can
/// change is whether the owner has uploaded them; a render that missed one is never
/// cached (see [`DocumentThumbnails`](super::DocumentThumbnails)).
///
/// ```
/// use spv::api::{ImageFormat, ThumbnailSize};
/// use spv::thumbnails::CacheKey;
///
/// let (ann, bob) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
/// let hash = "ab".repeat(32);
/// let size = ThumbnailSize::Longest { size: 64 };
/// let key = CacheKey::new(ann, &hash, 0, size, ImageFormat::Png, false);
/// assert_eq!(key.hex().len(), 64);
/// assert_eq!(key.etag(), format!("\"{}\"", key.hex()));
/// assert_ne!(key, CacheKey::new(ann, &hash, 0, size, ImageFormat::Webp, false));
/// assert_ne!(key, CacheKey::new(bob, &hash, 0, size, ImageFormat::Png, false));
/// // The GPU's pixels are keyed apart from the CPU's.
/// use spv::api::RenderBackend;
/// let cpu = CacheKey::for_backend(RenderBackend::Cpu, ann, &hash, 0, size, ImageFormat::Png, false);
/// let gpu = CacheKey::for_backend(RenderBackend::Gpu, ann, &hash, 0, size, ImageFormat::Png, false);
/// assert_eq!(cpu, key);
/// assert_ne!(gpu, key);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// The key of page `page` of `owner`'s document whose content's SHA-256 is
    /// `content_sha256`.
    #[cfg(feature = "api")]
    pub fn new(
        owner: Uuid,
        content_sha256: &str,
        page: usize,
        size: ThumbnailSize,
        format: ImageFormat,
        lenient: bool,
    ) -> Self {
        Self::for_backend(
            RenderBackend::Cpu,
            owner,
            content_sha256,
            page,
            size,
            format,
            lenient,
        )
    }

    /// As [`CacheKey::new`], for the pixels of `backend` (the GPU's differ slightly from
    /// the CPU's, so they are cached and revalidated apart).
    #[cfg(feature = "api")]
    pub fn for_backend(
        backend: RenderBackend,
        owner: Uuid,
        content_sha256: &str,
        page: usize,
        size: ThumbnailSize,
        format: ImageFormat,
        lenient: bool,
    ) -> Self {
        let owner = owner.as_bytes();
        Self::for_owner(backend, owner, content_sha256, page, size, format, lenient)
    }

    /// As [`CacheKey::for_backend`], the owner given as bytes: empty for a document sent
    /// to a router that knows no callers (`http::render_router`).
    pub(crate) fn for_owner(
        backend: RenderBackend,
        owner: &[u8],
        content_sha256: &str,
        page: usize,
        size: ThumbnailSize,
        format: ImageFormat,
        lenient: bool,
    ) -> Self {
        // Spelled out rather than `Debug`, so that the key (and the rendered blobs that
        // outlive a restart) does not move when a type's debug output does. Written into
        // buffers on the stack: keys are made on every thumbnail request.
        let mut size_text = TextBuf::<40>::default();
        let mut page_text = TextBuf::<20>::default();
        let _ = match size {
            ThumbnailSize::Longest { size } => write!(size_text, "longest:{size}"),
            ThumbnailSize::Box { width, height, fit } => {
                write!(size_text, "box:{width}x{height}:{}", fit.as_str())
            }
        };
        let _ = write!(page_text, "{page}");
        let parts: [&[u8]; 7] = [
            owner,
            content_sha256.as_bytes(),
            page_text.as_bytes(),
            size_text.as_bytes(),
            format.extension().as_bytes(),
            &[u8::from(lenient)],
            renderer_version(backend).as_bytes(),
        ];
        let mut hasher = Sha256::new();
        for part in parts {
            // Length-prefixed, so that different splits never collide.
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        CacheKey(hasher.finalize().into())
    }

    /// The key as 64 lowercase hex digits.
    pub fn hex(&self) -> String {
        crate::hex::hex(&self.0)
    }

    /// The strong ETag: the hex key in double quotes.
    pub fn etag(&self) -> String {
        let mut etag = String::with_capacity(66);
        etag.push('"');
        crate::hex::push_hex(&mut etag, &self.0);
        etag.push('"');
        etag
    }
}

/// A short text written on the stack (`write!` without allocating); longer text than
/// `N` bytes is cut, which the cache key's parts never are (`u32` sides, a `usize` page,
/// a fit of at most 7 letters).
struct TextBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Default for TextBuf<N> {
    fn default() -> Self {
        TextBuf {
            bytes: [0; N],
            len: 0,
        }
    }
}

impl<const N: usize> TextBuf<N> {
    fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl<const N: usize> std::fmt::Write for TextBuf<N> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        let end = self.len + text.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Whether an `If-None-Match` header value matches `etag` (weak comparison, as RFC 9110
/// asks for `If-None-Match`; `*` matches anything). No allocation: it runs on every
/// conditional request.
pub(crate) fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    fn bare(tag: &str) -> &str {
        let tag = tag.trim();
        tag.strip_prefix("W/").unwrap_or(tag)
    }
    let etag = bare(etag);
    if_none_match
        .split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == etag)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[cfg(feature = "api")]
    use crate::glyph::ImageFit;

    #[test]
    fn if_none_match_compares_weakly_and_star_matches() {
        assert!(etag_matches("W/\"abc\", \"def\"", "\"abc\""));
        assert!(etag_matches(" \"def\" ", "W/\"def\""));
        assert!(etag_matches("*", "\"x\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
        assert!(!etag_matches("", "\"abc\""));
    }

    #[cfg(feature = "api")]
    #[test]
    fn every_part_of_the_key_counts() {
        let size = ThumbnailSize::Longest { size: 64 };
        let (ann, bob) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let key = |owner, hash, page, size, format, lenient| {
            CacheKey::new(owner, hash, page, size, format, lenient)
        };
        let base = key(ann, "aa", 0, size, ImageFormat::Png, false);
        let others = [
            key(bob, "aa", 0, size, ImageFormat::Png, false),
            key(ann, "ab", 0, size, ImageFormat::Png, false),
            key(ann, "aa", 1, size, ImageFormat::Png, false),
            key(
                ann,
                "aa",
                0,
                ThumbnailSize::Longest { size: 65 },
                ImageFormat::Png,
                false,
            ),
            key(
                ann,
                "aa",
                0,
                ThumbnailSize::Box {
                    width: 64,
                    height: 64,
                    fit: ImageFit::Cover,
                },
                ImageFormat::Png,
                false,
            ),
            key(ann, "aa", 0, size, ImageFormat::Jpeg, false),
            key(ann, "aa", 0, size, ImageFormat::Png, true),
        ];
        for other in others {
            assert_ne!(base, other);
        }
        assert_eq!(base, key(ann, "aa", 0, size, ImageFormat::Png, false));
    }

    #[cfg(feature = "api")]
    #[test]
    fn keys_are_the_hash_of_their_spelled_out_parts() {
        // Rendered blobs outlive restarts under these keys: the spelling must not move.
        let ann = Uuid::from_u128(7);
        let spelled = |page: &str, size: &str| {
            let parts: [&[u8]; 7] = [
                ann.as_bytes(),
                b"ab",
                page.as_bytes(),
                size.as_bytes(),
                b"png",
                &[0],
                renderer_version(RenderBackend::Cpu).as_bytes(),
            ];
            let mut hasher = Sha256::new();
            for part in parts {
                hasher.update((part.len() as u64).to_le_bytes());
                hasher.update(part);
            }
            CacheKey(hasher.finalize().into())
        };
        let longest = ThumbnailSize::Longest { size: 4096 };
        let boxed = ThumbnailSize::Box {
            width: 4_294_967_295,
            height: 3,
            fit: crate::glyph::ImageFit::Contain,
        };
        let key = |page, size| CacheKey::new(ann, "ab", page, size, ImageFormat::Png, false);
        assert_eq!(key(12, longest), spelled("12", "longest:4096"));
        assert_eq!(
            key(usize::MAX, boxed),
            spelled(&usize::MAX.to_string(), "box:4294967295x3:contain")
        );
    }
}
