//! Parley's font and layout contexts, one pair per thread.
//!
//! Parley contexts are not `Sync` and are meant to be long-lived, so each thread keeps its
//! own, started from a clone of the process-wide collection of bundled fonts. Document
//! font assets are registered into a thread's collection on first use under a private
//! family name (so that an asset that is itself, say, DejaVu Sans never mixes with the
//! bundled family); after [`KEEP_ASSETS`] of them the collection starts over from the
//! bundled one, which keeps a long-running server's memory bounded.

use std::cell::Cell;

use parley::fontique::SourceCache;
use parley::{FontContext, LayoutContext};

use super::{Face, bundled_collection};

/// How many asset faces a thread keeps registered before starting over.
const KEEP_ASSETS: usize = 16;

/// A thread's parley contexts.
pub(crate) struct Contexts {
    /// The font database: bundled faces plus recently used asset faces.
    pub(crate) font: FontContext,
    /// Scratch space reused between layouts.
    pub(crate) layout: LayoutContext<()>,
    /// Blob ids of the asset faces registered in `font`.
    registered: Vec<u64>,
}

impl Contexts {
    fn new() -> Contexts {
        Contexts {
            font: FontContext {
                collection: bundled_collection().clone(),
                source_cache: SourceCache::default(),
            },
            layout: LayoutContext::new(),
            registered: Vec::new(),
        }
    }

    /// The family name that makes parley pick `face`, registering the face first if needed.
    pub(crate) fn family_for(&mut self, face: &Face) -> String {
        if face.asset().is_none() {
            return face.family_name().to_owned();
        }
        let blob = face.font_data().data.clone();
        let name = format!("spv asset {}", blob.id());
        if !self.registered.contains(&blob.id()) {
            if self.registered.len() >= KEEP_ASSETS {
                self.font.collection = bundled_collection().clone();
                self.font.source_cache = SourceCache::default();
                self.registered.clear();
            }
            let id = blob.id();
            let override_name = parley::fontique::FontInfoOverride {
                family_name: Some(&name),
                ..Default::default()
            };
            self.font
                .collection
                .register_fonts(blob, Some(override_name));
            self.registered.push(id);
        }
        name
    }
}

thread_local! {
    static CONTEXTS: Cell<Option<Box<Contexts>>> = const { Cell::new(None) };
}

/// Runs `f` with this thread's contexts. Taking them out of the cell (rather than
/// borrowing) means a nested call or a call during thread teardown gets fresh contexts
/// instead of a panic.
pub(crate) fn with_contexts<R>(f: impl FnOnce(&mut Contexts) -> R) -> R {
    let mut contexts = CONTEXTS
        .try_with(Cell::take)
        .ok()
        .flatten()
        .unwrap_or_else(|| Box::new(Contexts::new()));
    let out = f(&mut contexts);
    // Fails only while the thread is being torn down; the contexts are then dropped.
    let _ = CONTEXTS.try_with(|cell| cell.set(Some(contexts)));
    out
}
