//! The first cache level of thumbnails: [`MemoryCache`], by [`CacheKey`].
//!
//! Pure, synchronous code: no Tokio, no I/O.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::key::CacheKey;
use crate::api::CachedImage;

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

    /// Drops every entry (a node that may have missed invalidations starts afresh).
    pub fn clear(&self) {
        let mut state = self.lock();
        state.entries.clear();
        state.order.clear();
        state.weight = 0;
    }

    /// The state; a poisoned lock is taken over (every update leaves it consistent
    /// before anything that could panic).
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use uuid::Uuid;

    use super::*;
    use crate::api::{ImageFormat, ThumbnailSize};

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
        cache.clear();
        assert_eq!((cache.len(), cache.weight()), (0, 0));
        assert!(cache.get(&key(0)).is_none());
    }
}
