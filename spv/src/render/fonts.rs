//! Fonts for text nodes: the bundled `sans` family and a document's font assets.
//!
//! `sans` is DejaVu Sans, Book (400) and Bold (700), bundled with spv (licence in
//! `spv/fonts/LICENSE-DejaVu.txt`) so that a document renders the same everywhere. Weights
//! pick a face as CSS font matching does with those two faces: 100–500 give Book, 600–900
//! give Bold. A document's font asset is a family of its own, named by the asset.
//!
//! The bundled fonts are parsed once per process; a [`FontBook`] for a document costs only
//! the loading of the font assets its text nodes use.
//!
//! (The example of this module is its test `weights_pick_a_face_and_unknown_families_fall_back`.)

mod context;
mod sfnt;

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, LazyLock, Mutex};

use parley::FontData;
use parley::fontique::{Blob, Collection, CollectionOptions};

use crate::glyph::{AssetResolver, AssetType, Bytes, Document, Node, NodeKind, load_asset};
use crate::{Error, ErrorKind, Result};

pub(crate) use context::with_contexts;

/// DejaVu Sans Book.
pub(crate) static BOOK_TTF: &[u8] = include_bytes!("../../fonts/DejaVuSans.ttf");
/// DejaVu Sans Bold.
pub(crate) static BOLD_TTF: &[u8] = include_bytes!("../../fonts/DejaVuSans-Bold.ttf");

/// The family name of the bundled `sans` faces, as their `name` table gives it (use it as
/// the SVG `font-family`).
pub(crate) const SANS_FAMILY: &str = "DejaVu Sans";

/// One font face: its bytes, its family name and weight, and its vertical metrics.
#[derive(Debug)]
pub(crate) struct Face {
    data: FontData,
    family: String,
    asset: Option<String>,
    weight: u16,
    metrics: sfnt::Metrics,
}

impl Face {
    /// Parses face 0 of `bytes`; `None` when they are not a usable TrueType/OpenType font.
    fn parse(blob: Blob<u8>, asset: Option<String>) -> Option<Face> {
        let metrics = sfnt::metrics(blob.data(), 0)?;
        // fontique (read-fonts underneath) validates the file and reads the family name
        // and weight the way parley will see them.
        let mut scratch = Collection::new(CollectionOptions {
            shared: false,
            system_fonts: false,
        });
        let families = scratch.register_fonts(blob.clone(), None);
        let (family_id, info) = families
            .iter()
            .find_map(|(id, fonts)| Some((*id, fonts.iter().find(|f| f.index() == 0)?)))?;
        let weight = info.weight().value().round().clamp(1.0, 1000.0) as u16;
        let family = scratch.family_name(family_id)?.to_owned();
        Some(Face {
            data: FontData::new(blob, 0),
            family,
            asset,
            weight,
            metrics,
        })
    }

    /// The font file and face index, as the glyph renderers take it.
    pub(crate) fn font_data(&self) -> &FontData {
        &self.data
    }

    /// The family name in the font's `name` table (`DejaVu Sans` for the bundled faces).
    pub(crate) fn family_name(&self) -> &str {
        &self.family
    }

    /// The name of the document asset this face came from; `None` for bundled faces.
    pub(crate) fn asset(&self) -> Option<&str> {
        self.asset.as_deref()
    }

    /// The face's weight class (`OS/2` usWeightClass): 400 for Book, 700 for Bold.
    pub(crate) fn weight(&self) -> u16 {
        self.weight
    }

    /// The `hhea` ascender scaled to `size` px: the first baseline's distance below the
    /// top of a text box.
    pub(crate) fn ascender(&self, size: f64) -> f64 {
        f64::from(self.metrics.ascender) * size / f64::from(self.metrics.units_per_em)
    }

    /// The `hhea` descender scaled to `size` px (negative: below the baseline).
    #[cfg(test)]
    pub(crate) fn descender(&self, size: f64) -> f64 {
        f64::from(self.metrics.descender) * size / f64::from(self.metrics.units_per_em)
    }

    /// `head.unitsPerEm`.
    #[cfg(test)]
    pub(crate) fn units_per_em(&self) -> u16 {
        self.metrics.units_per_em
    }
}

struct Bundled {
    book: Arc<Face>,
    bold: Arc<Face>,
    /// A collection holding only the bundled faces; each thread's parley context starts
    /// as a clone of it, so the fonts are scanned once per process.
    collection: Collection,
}

static BUNDLED: LazyLock<Bundled> = LazyLock::new(|| {
    let parse = |bytes: &'static [u8]| {
        let face = Face::parse(Blob::new(Arc::new(bytes)), None);
        Arc::new(face.expect("the bundled DejaVu Sans fonts parse"))
    };
    let (book, bold) = (parse(BOOK_TTF), parse(BOLD_TTF));
    let mut collection = Collection::new(CollectionOptions {
        shared: false,
        system_fonts: false,
    });
    for face in [&book, &bold] {
        collection.register_fonts(face.data.data.clone(), None);
    }
    Bundled {
        book,
        bold,
        collection,
    }
});

/// The bundled `sans` face for `weight`: Bold from 600 up, Book below.
pub(crate) fn sans(weight: u16) -> &'static Arc<Face> {
    if weight >= 600 {
        &BUNDLED.bold
    } else {
        &BUNDLED.book
    }
}

pub(crate) fn bundled_collection() -> &'static Collection {
    &BUNDLED.collection
}

/// The face chosen for a text node, with a warning when it is a fallback.
#[derive(Debug, Clone)]
pub(crate) struct Selection<'a> {
    /// The face to lay the text out in.
    pub face: &'a Arc<Face>,
    /// Why the face is not the one asked for, when it is not (an unknown family).
    pub warning: Option<String>,
}

/// The fonts a render can use: the bundled `sans` family and the document's font assets.
#[derive(Debug, Default, Clone)]
pub(crate) struct FontBook {
    /// Font assets by name; `None` for an asset that was missing or broken in lenient mode.
    assets: HashMap<String, Option<Arc<Face>>>,
    warnings: Vec<String>,
}

impl FontBook {
    /// A font book with only the bundled `sans` family.
    pub(crate) fn bundled() -> FontBook {
        FontBook::default()
    }

    /// The bundled fonts plus every font asset that a text node of `document` names,
    /// loaded through `resolver`.
    ///
    /// A missing asset is an [`ErrorKind::MissingAsset`] error and bytes that are not a
    /// TrueType/OpenType font an [`ErrorKind::InvalidAsset`] error, both naming the asset;
    /// with `lenient`, either gives a warning instead and text in that font falls back to
    /// `sans`.
    pub(crate) fn load(
        document: &Document,
        resolver: &dyn AssetResolver,
        lenient: bool,
    ) -> Result<FontBook> {
        let mut book = FontBook::bundled();
        let Some(assets) = &document.assets else {
            return Ok(book);
        };
        let mut used = Vec::new();
        for page in &document.pages {
            collect_fonts(&page.layers, &mut used);
        }
        for name in used {
            let Some(asset) = assets.get(name).filter(|a| a.kind == AssetType::Font) else {
                continue;
            };
            if book.assets.contains_key(name) {
                continue;
            }
            let loaded = load_asset(name, asset, resolver).and_then(|b| book.add_asset(name, b));
            match loaded {
                Ok(()) => {}
                Err(err) if lenient => {
                    book.warnings
                        .push(format!("{err}; text in this font uses sans instead"));
                    book.assets.insert(name.to_owned(), None);
                }
                Err(err) => return Err(err),
            }
        }
        Ok(book)
    }

    /// Adds the font asset `name` from its bytes; an [`ErrorKind::InvalidAsset`] error
    /// naming the asset when they are not a TrueType/OpenType font.
    pub(crate) fn add_asset(&mut self, name: &str, bytes: Bytes) -> Result<()> {
        let face = parse_asset(name, bytes).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidAsset,
                format!("font asset \"{name}\" is not a TrueType or OpenType font"),
            )
            .at(format!("assets.{name}"))
        })?;
        self.assets.insert(name.to_owned(), Some(face));
        Ok(())
    }

    /// Warnings from loading (assets that were missing or broken in lenient mode).
    pub(crate) fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// The face for a node's `font` and `weight`: the font asset of that name, else the
    /// `sans` family (also reachable as `DejaVu Sans`), else `sans` with a warning.
    pub(crate) fn select(&self, font: &str, weight: u16) -> Selection<'_> {
        match self.assets.get(font) {
            Some(Some(face)) => Selection {
                face,
                warning: None,
            },
            // Already reported when the book was loaded.
            Some(None) => Selection {
                face: sans(weight),
                warning: None,
            },
            None if font == "sans" || font == SANS_FAMILY => Selection {
                face: sans(weight),
                warning: None,
            },
            None => Selection {
                face: sans(weight),
                warning: Some(format!(
                    "font \"{font}\" is neither a font asset nor a known family; using sans"
                )),
            },
        }
    }
}

fn collect_fonts<'a>(nodes: &'a [Node], used: &mut Vec<&'a str>) {
    for node in nodes {
        match &node.kind {
            NodeKind::Text(text) => used.push(text.font()),
            NodeKind::Group(group) => collect_fonts(&group.children, used),
            _ => {}
        }
    }
}

/// Parsed asset faces by their bytes, so that rendering the same document again reuses the
/// face (and its parley registration and glyph caches) instead of parsing it again. Bounded
/// by count and by the bytes it keeps alive.
static ASSET_FACES: LazyLock<Mutex<AssetFaces>> = LazyLock::new(|| Mutex::new(VecDeque::new()));
type AssetFaces = VecDeque<(Bytes, Arc<Face>)>;
const ASSET_FACES_KEPT: usize = 32;
const ASSET_FACES_BYTES: usize = 64 << 20;

fn parse_asset(name: &str, bytes: Bytes) -> Option<Arc<Face>> {
    let cached = |cache: &AssetFaces| {
        cache
            .iter()
            .find(|(b, f)| {
                (Arc::ptr_eq(b, &bytes) || **b == *bytes) && f.asset.as_deref() == Some(name)
            })
            .map(|(_, f)| f.clone())
    };
    if let Some(face) = ASSET_FACES.lock().ok().and_then(|c| cached(&c)) {
        return Some(face);
    }
    let blob = Blob::new(Arc::new(bytes.clone()));
    let face = Arc::new(Face::parse(blob, Some(name.to_owned()))?);
    if let Ok(mut cache) = ASSET_FACES.lock()
        && bytes.len() <= ASSET_FACES_BYTES
    {
        let mut total: usize = cache.iter().map(|(b, _)| b.len()).sum();
        while cache.len() >= ASSET_FACES_KEPT || total + bytes.len() > ASSET_FACES_BYTES {
            let Some((evicted, _)) = cache.pop_front() else {
                break;
            };
            total -= evicted.len();
        }
        cache.push_back((bytes, face.clone()));
    }
    Some(face)
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod example {
    use crate::render::fonts::FontBook;

    /// The module's example.
    #[test]
    fn weights_pick_a_face_and_unknown_families_fall_back() {
        let fonts = FontBook::bundled();
        let bold = fonts.select("sans", 700);
        assert_eq!(bold.face.family_name(), "DejaVu Sans");
        assert_eq!(bold.face.weight(), 700);
        assert!(bold.warning.is_none());
        // An unknown family falls back to `sans`, with a warning.
        let other = fonts.select("Comic Sans MS", 400);
        assert_eq!(other.face.weight(), 400);
        assert!(other.warning.unwrap().contains("Comic Sans MS"));
    }
}
