//! [`CachedDocuments`]: document metadata kept in memory in front of another
//! [`DocumentRepo`], so that the hot reads (a document's metadata, the access check of a
//! cached thumbnail) cost no database query.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;

use super::repo::{DocumentFilter, DocumentRepo, LiveBase, StoredChange};
use crate::api::Document;
use crate::store::{BoxFuture, CacheBus, Invalidation};

/// How many documents' metadata [`CachedDocuments`] keeps by default (a few MiB).
pub const DEFAULT_METADATA_ENTRIES: usize = 10_000;

/// Document metadata cached in memory in front of `inner`.
///
/// Sound where this process is the database's only writer: the embedded SQLite
/// default (`Documents::with_db` uses it there and not on PostgreSQL, where several
/// servers may share the database). Writes through this repo invalidate their entry; a
/// read that overlaps a write never stores what it read (a generation counter), so a
/// stale entry cannot outlive the write. When full, the cache starts afresh.
///
/// Where several nodes share the SQLite file, [`CachedDocuments::with_bus`] keeps it
/// sound across them: another node's write reaches this one as an [`Invalidation`]
/// (within the pub/sub latency), a reconnection to Redis empties the cache, and while
/// Redis is away every read goes to the database.
pub struct CachedDocuments {
    inner: Arc<dyn DocumentRepo>,
    capacity: usize,
    state: Mutex<State>,
    bus: Option<CacheBus>,
}

#[derive(Default)]
struct State {
    generation: u64,
    /// Shared, so that a hit copies the document after the lock is released.
    entries: HashMap<Uuid, Arc<Document>, foldhash::fast::RandomState>,
}

impl fmt::Debug for CachedDocuments {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachedDocuments")
            .field("inner", &self.inner)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl CachedDocuments {
    /// Caches the metadata of at most `capacity` documents read from `inner`.
    pub fn new(inner: Arc<dyn DocumentRepo>, capacity: usize) -> Self {
        CachedDocuments {
            inner,
            capacity,
            state: Mutex::default(),
            bus: None,
        }
    }

    /// As [`CachedDocuments::new`], following `bus`: invalidations from any node drop
    /// their entries, and nothing is served from memory while the bus is not live.
    pub fn with_bus(inner: Arc<dyn DocumentRepo>, capacity: usize, bus: CacheBus) -> Arc<Self> {
        let cached = Arc::new(CachedDocuments {
            bus: Some(bus.clone()),
            ..CachedDocuments::new(inner, capacity)
        });
        let weak = Arc::downgrade(&cached);
        bus.on_invalidate(Arc::new(move |what| {
            if let Some(cached) = weak.upgrade() {
                match what {
                    Invalidation::Document(id) => cached.invalidate(id),
                    Invalidation::All => cached.clear(),
                }
            }
        }));
        cached
    }

    /// Drops every entry (and fences reads under way, as a write does).
    pub fn clear(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.clear();
    }

    /// How many documents' metadata it holds.
    pub fn len(&self) -> usize {
        self.state().entries.len()
    }

    /// Whether it holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether entries may be served and stored now: always without a bus, only while
    /// it is live with one (messages missed meanwhile would leave entries stale).
    fn trusted(&self) -> bool {
        self.bus.as_ref().is_none_or(CacheBus::is_live)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Before and after every write: a new generation, and the entry gone.
    fn invalidate(&self, id: Uuid) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.remove(&id);
    }
}

impl DocumentRepo for CachedDocuments {
    fn insert<'a>(&'a self, document: &'a Document, content: &'a [u8]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            self.invalidate(document.id);
            let result = self.inner.insert(document, content).await;
            self.invalidate(document.id);
            result
        })
    }

    fn get(&self, id: Uuid) -> BoxFuture<'_, Option<Document>> {
        Box::pin(async move {
            if !self.trusted() {
                return self.inner.get(id).await;
            }
            let (hit, generation) = {
                let state = self.state();
                (state.entries.get(&id).cloned(), state.generation)
            };
            if let Some(document) = hit {
                return Ok(Some(Document::clone(&document)));
            }
            let found = self.inner.get(id).await?;
            if let Some(document) = &found {
                let mut state = self.state();
                if state.generation == generation {
                    if state.entries.len() >= self.capacity {
                        state.entries.clear();
                    }
                    state.entries.insert(id, Arc::new(document.clone()));
                }
            }
            Ok(found)
        })
    }

    fn content(&self, id: Uuid) -> BoxFuture<'_, Option<(Document, Vec<u8>)>> {
        self.inner.content(id)
    }

    fn list<'a>(&'a self, filter: &'a DocumentFilter) -> BoxFuture<'a, Vec<Document>> {
        self.inner.list(filter)
    }

    fn update<'a>(
        &'a self,
        document: &'a Document,
        content: Option<&'a [u8]>,
        expected_version: i64,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            self.invalidate(document.id);
            let result = self.inner.update(document, content, expected_version).await;
            self.invalidate(document.id);
            result
        })
    }

    fn delete(&self, id: Uuid, expected_version: i64) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            self.invalidate(id);
            let result = self.inner.delete(id, expected_version).await;
            self.invalidate(id);
            result
        })
    }

    fn live_base(&self, id: Uuid) -> BoxFuture<'_, Option<LiveBase>> {
        self.inner.live_base(id)
    }

    fn changes_after(&self, id: Uuid, seq: i64, limit: i64) -> BoxFuture<'_, Vec<StoredChange>> {
        self.inner.changes_after(id, seq, limit)
    }

    fn append_changes<'a>(
        &'a self,
        id: Uuid,
        expected_version: i64,
        changes: &'a [StoredChange],
        updated_at: time::OffsetDateTime,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            self.invalidate(id);
            let result = self
                .inner
                .append_changes(id, expected_version, changes, updated_at)
                .await;
            self.invalidate(id);
            result
        })
    }

    fn compact<'a>(
        &'a self,
        document: &'a Document,
        content: &'a [u8],
        trim_through: i64,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            self.invalidate(document.id);
            let result = self.inner.compact(document, content, trim_through).await;
            self.invalidate(document.id);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::sync::Notify;

    use super::*;

    /// One document in memory; counts reads; a read can be held until released.
    #[derive(Debug, Default)]
    struct Fake {
        document: Mutex<Option<Document>>,
        reads: AtomicUsize,
        hold: Mutex<Option<Arc<Notify>>>,
    }

    impl DocumentRepo for Fake {
        fn insert<'a>(&'a self, document: &'a Document, _: &'a [u8]) -> BoxFuture<'a, ()> {
            *self.document.lock().unwrap() = Some(document.clone());
            Box::pin(async { Ok(()) })
        }
        fn get(&self, _id: Uuid) -> BoxFuture<'_, Option<Document>> {
            Box::pin(async move {
                self.reads.fetch_add(1, Ordering::SeqCst);
                let seen = self.document.lock().unwrap().clone();
                let hold = self.hold.lock().unwrap().take();
                if let Some(hold) = hold {
                    hold.notified().await;
                }
                Ok(seen)
            })
        }
        fn content(&self, _id: Uuid) -> BoxFuture<'_, Option<(Document, Vec<u8>)>> {
            Box::pin(async { Ok(None) })
        }
        fn list<'a>(&'a self, _: &'a DocumentFilter) -> BoxFuture<'a, Vec<Document>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn update<'a>(
            &'a self,
            d: &'a Document,
            _: Option<&'a [u8]>,
            _: i64,
        ) -> BoxFuture<'a, bool> {
            *self.document.lock().unwrap() = Some(d.clone());
            Box::pin(async { Ok(true) })
        }
        fn delete(&self, _: Uuid, _: i64) -> BoxFuture<'_, bool> {
            *self.document.lock().unwrap() = None;
            Box::pin(async { Ok(true) })
        }
    }

    fn cached() -> (Arc<Fake>, CachedDocuments) {
        let fake = Arc::new(Fake::default());
        let repo = CachedDocuments::new(fake.clone(), 2);
        (fake, repo)
    }

    #[tokio::test]
    async fn reads_are_served_from_memory_until_a_write() {
        let (fake, repo) = cached();
        let mut doc = Document::example();
        repo.insert(&doc, b"{}").await.unwrap();
        assert_eq!(repo.get(doc.id).await.unwrap().unwrap().version, 1);
        assert_eq!(repo.get(doc.id).await.unwrap().unwrap().version, 1);
        assert_eq!(
            fake.reads.load(Ordering::SeqCst),
            1,
            "the second read is cached"
        );

        doc.version = 2;
        assert!(repo.update(&doc, None, 1).await.unwrap());
        assert_eq!(repo.get(doc.id).await.unwrap().unwrap().version, 2);
        assert_eq!(fake.reads.load(Ordering::SeqCst), 2);
        assert!(repo.delete(doc.id, 2).await.unwrap());
        assert!(repo.get(doc.id).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_read_overlapping_a_write_stores_nothing_stale() {
        let (fake, repo) = cached();
        let repo = Arc::new(repo);
        let mut doc = Document::example();
        repo.insert(&doc, b"{}").await.unwrap();
        // A read that sees version 1, then waits while version 2 is written.
        let hold = Arc::new(Notify::new());
        *fake.hold.lock().unwrap() = Some(hold.clone());
        let reader = tokio::spawn({
            let repo = repo.clone();
            let id = doc.id;
            async move { repo.get(id).await.unwrap().unwrap().version }
        });
        while fake.reads.load(Ordering::SeqCst) == 0 {
            tokio::task::yield_now().await;
        }
        doc.version = 2;
        repo.update(&doc, None, 1).await.unwrap();
        hold.notify_one();
        assert_eq!(
            reader.await.unwrap(),
            1,
            "the overlapping read saw the old row"
        );
        assert_eq!(
            repo.get(doc.id).await.unwrap().unwrap().version,
            2,
            "but did not cache it"
        );
    }

    #[tokio::test]
    async fn a_full_cache_starts_afresh() {
        let (fake, repo) = cached();
        let doc = Document::example();
        repo.insert(&doc, b"{}").await.unwrap();
        for _ in 0..3 {
            // The fake answers the same document for any id: three ids, capacity two.
            repo.get(Uuid::now_v7()).await.unwrap();
        }
        assert!(repo.state().entries.len() <= 2);
        assert_eq!(fake.reads.load(Ordering::SeqCst), 3);
    }
}
