//! The thumbnail cache key and the first cache level: [`CacheKey`] and [`MemoryCache`].
//!
//! Pure, synchronous code: no Tokio, no I/O.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::api::{CachedImage, ImageFormat, RenderBackend, ThumbnailSize};
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
    pub fn for_backend(
        backend: RenderBackend,
        owner: Uuid,
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
            owner.as_bytes(),
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
        crate::store::hex(&self.0)
    }

    /// The strong ETag: the hex key in double quotes.
    pub fn etag(&self) -> String {
        let mut etag = String::with_capacity(66);
        etag.push('"');
        crate::store::push_hex(&mut etag, &self.0);
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

/// What an entry costs besides its bytes (key, map slots, metadata).
const ENTRY_OVERHEAD: usize = 128;

/// An in-process cache of encoded thumbnails, bounded by the bytes it holds; the least
/// recently used entries go first. Cheap to share (`&self` everywhere; one short lock
/// per call).
///
/// ```
/// use std::sync::Arc;
/// use spv::api::{CachedImage, ImageFormat, ThumbnailSize};
/// use spv::thumbnails::{CacheKey, MemoryCache};
///
/// let image = |n: usize| CachedImage { bytes: Arc::from(vec![0u8; n]), format: ImageFormat::Png,
///     width: 1, height: 1, warnings: Vec::new() };
/// let key = |page| CacheKey::new(uuid::Uuid::nil(), "00", page, ThumbnailSize::default(), ImageFormat::Png, false);
/// let cache = MemoryCache::new(1200); // two images of 400 bytes and their overhead
/// cache.insert(key(0), image(400));
/// cache.insert(key(1), image(400));
/// assert!(cache.get(&key(0)).is_some()); // now the most recently used
/// cache.insert(key(2), image(400)); // a third does not fit: the least recently used goes
/// assert!(cache.get(&key(1)).is_none());
/// assert!(cache.get(&key(0)).is_some() && cache.get(&key(2)).is_some());
/// assert!(cache.weight() <= 1200);
/// ```
#[derive(Debug)]
pub struct MemoryCache {
    capacity: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    entries: HashMap<CacheKey, Entry, foldhash::fast::RandomState>,
    /// Last use → key, oldest first.
    order: BTreeMap<u64, CacheKey>,
    clock: u64,
    weight: usize,
}

#[derive(Debug)]
struct Entry {
    image: CachedImage,
    used: u64,
    weight: usize,
}

impl MemoryCache {
    /// A cache holding at most `capacity_bytes` (0 keeps nothing).
    pub fn new(capacity_bytes: usize) -> Self {
        MemoryCache {
            capacity: capacity_bytes,
            state: Mutex::new(State::default()),
        }
    }

    /// The most bytes it holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// The bytes it holds now (images plus a fixed overhead per entry).
    pub fn weight(&self) -> usize {
        self.lock().weight
    }

    /// How many thumbnails it holds.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The image under `key`, marked as just used: moved to the newest end of the order,
    /// unless it is among the newest quarter of the entries already (then it would not be
    /// evicted before the older three quarters anyway). That spares the hottest
    /// thumbnails, hit on every request, the reordering.
    pub fn get(&self, key: &CacheKey) -> Option<CachedImage> {
        let mut state = self.lock();
        let state = &mut *state;
        let recent = (state.entries.len() as u64 / 4).max(1);
        let entry = state.entries.get_mut(key)?;
        if state.clock - entry.used >= recent {
            state.order.remove(&entry.used);
            state.clock += 1;
            entry.used = state.clock;
            state.order.insert(entry.used, *key);
        }
        Some(entry.image.clone())
    }

    /// Keeps `image` under `key`, evicting the least recently used entries as needed.
    /// An image larger than the whole cache is not kept.
    pub fn insert(&self, key: CacheKey, image: CachedImage) {
        let weight = image.bytes.len().saturating_add(ENTRY_OVERHEAD);
        if weight > self.capacity {
            return;
        }
        let mut state = self.lock();
        let state = &mut *state;
        if let Some(old) = state.entries.remove(&key) {
            state.order.remove(&old.used);
            state.weight -= old.weight;
        }
        while state.weight + weight > self.capacity {
            let Some((_, oldest)) = state.order.pop_first() else {
                break;
            };
            if let Some(evicted) = state.entries.remove(&oldest) {
                state.weight -= evicted.weight;
            }
        }
        state.clock += 1;
        let used = state.clock;
        state.order.insert(used, key);
        state.entries.insert(
            key,
            Entry {
                image,
                used,
                weight,
            },
        );
        state.weight += weight;
    }

    /// The state; a poisoned lock is taken over (every update leaves it consistent
    /// before anything that could panic).
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
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
    use std::sync::Arc;

    use super::*;

    #[test]
    fn if_none_match_compares_weakly_and_star_matches() {
        assert!(etag_matches("W/\"abc\", \"def\"", "\"abc\""));
        assert!(etag_matches(" \"def\" ", "W/\"def\""));
        assert!(etag_matches("*", "\"x\""));
        assert!(!etag_matches("\"abd\"", "\"abc\""));
        assert!(!etag_matches("", "\"abc\""));
    }
    use crate::glyph::ImageFit;

    fn image(n: usize) -> CachedImage {
        CachedImage {
            bytes: Arc::from(vec![7u8; n]),
            format: ImageFormat::Png,
            width: 1,
            height: 1,
            warnings: Vec::new(),
        }
    }

    fn key(page: usize) -> CacheKey {
        CacheKey::new(
            Uuid::nil(),
            "00",
            page,
            ThumbnailSize::default(),
            ImageFormat::Png,
            false,
        )
    }

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

    #[test]
    fn used_entries_outlive_unused_ones() {
        // Room for 8 entries of 1000 bytes and their overhead.
        let cache = MemoryCache::new(8 * (1000 + ENTRY_OVERHEAD));
        for page in 0..8 {
            cache.insert(key(page), image(1000));
        }
        // The oldest, used again, moves to the newest end; the newest stays there.
        assert!(cache.get(&key(0)).is_some() && cache.get(&key(7)).is_some());
        for page in 8..14 {
            cache.insert(key(page), image(1000));
        }
        // Six went: the unused 1 to 6, not 0 or 7.
        assert!(cache.get(&key(0)).is_some());
        assert!(cache.get(&key(7)).is_some());
        for page in 1..7 {
            assert!(cache.get(&key(page)).is_none(), "{page}");
        }
    }

    #[test]
    fn the_weight_never_passes_the_capacity() {
        let cache = MemoryCache::new(10_000);
        for page in 0..100 {
            cache.insert(key(page), image(1000 + page));
            assert!(cache.weight() <= 10_000, "{}", cache.weight());
        }
        assert_eq!(cache.len(), 8, "8 × ~1200 bytes fit in 10 000");
        assert!(cache.get(&key(99)).is_some(), "the newest stays");
        assert!(cache.get(&key(0)).is_none(), "the oldest went");
    }

    #[test]
    fn too_large_or_zero_capacity_keeps_nothing() {
        let cache = MemoryCache::new(500);
        cache.insert(key(0), image(1000));
        assert!(cache.is_empty());
        let none = MemoryCache::new(0);
        none.insert(key(0), image(1));
        assert!(none.get(&key(0)).is_none());
    }

    #[test]
    fn replacing_a_key_keeps_one_entry_and_its_weight() {
        let cache = MemoryCache::new(10_000);
        cache.insert(key(0), image(100));
        cache.insert(key(0), image(300));
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.weight(), 300 + ENTRY_OVERHEAD);
        assert_eq!(cache.get(&key(0)).unwrap().bytes.len(), 300);
    }
}
