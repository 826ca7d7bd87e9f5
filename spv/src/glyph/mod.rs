//! The `.glyph` document format, version 1.
//!
//! | item | what it is |
//! |---|---|
//! | [`model`] | the typed document: [`Document`], [`Page`], [`Node`], [`Paint`], … |
//! | [`Limits`] | limits on every input, defaults from the format page |
//! | [`load`] | bytes (JSON or ZIP package) → [`Loaded`] document and its package assets |
//! | [`check`] | every error of a document at once, for `spv-cli validate` |
//! | [`ops`] | live editing: the protocol's operations and [`ops::LiveDoc`], which applies them |
//! | [`AssetResolver`] | where asset bytes come from: packages, directories, stores |
//!
//! Errors name the place as a JSON path and say what was expected:
//!
//! ```
//! use spv::glyph::{self, Limits};
//!
//! let doc = br##"{"format":"glyph","version":1,"pages":[{"width":10,"height":10,
//!     "layers":[{"type":"rect","x":0,"y":0,"width":5,"height":5,"fill":"#ggg"}]}]}"##;
//! let err = glyph::load(doc, &Limits::default()).unwrap_err();
//! assert_eq!(err.to_string(), r##"pages[0].layers[0].fill: "#ggg" is not a colour (expected #rgb, #rgba, #rrggbb or #rrggbbaa, or a gradient object)"##);
//! ```

pub mod assets;
pub mod limits;
pub mod model;
pub mod ops;
mod package;
mod parse;

pub use assets::{AssetResolver, Bytes, Chain, NoAssets, load_asset};
pub use limits::Limits;
pub use model::*;
pub use package::{DirAssets, Package};
pub use parse::{Report, check, load, parse_json, parse_value, validate};

/// A document as read from a `.glyph` file: the document and, for a package, the
/// package's files (which resolve the document's relative and `sha256:` assets).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The parsed, validated document.
    pub document: Document,
    /// The package it came in, if it was a ZIP package.
    pub package: Option<std::sync::Arc<Package>>,
    /// Non-fatal findings (for example a font family that falls back to `sans`).
    pub warnings: Vec<String>,
}
