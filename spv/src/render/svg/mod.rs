//! Writes a page as SVG, faithful to the format and to what spv's renderer paints.
//!
//! | item | what it is |
//! |---|---|
//! | [`page_to_svg`] | a page of a loaded document → an SVG document |
//! | [`export_page`] | the same, with the export's warnings |
//! | [`SvgOptions`] | where assets come from, lenient or strict |
//! | [`image_mime`] | the media type of an image file, from its first bytes |
//!
//! How the format maps to SVG:
//!
//! - the page is the root `<svg>` (`width`, `height`, `viewBox="0 0 W H"`); its background
//!   a full-page `<rect>`; everything sits in one `<g style="isolation:isolate">`, so blend
//!   modes blend with the page and nothing outside it;
//! - `rect`, `ellipse` and `path` nodes are `<rect>` (a `<path>` when the corner radii
//!   differ, starting where the format's dashes start), `<ellipse>` and `<path>` with the
//!   document's own path data; `group` is a `<g>`, its `clip` a `<clipPath>` in user
//!   space; `image` is an `<image>` with the asset's original bytes as an `xlink:href`
//!   `data:` URL and `fit` as `preserveAspectRatio` (a missing image in a lenient export
//!   is the renderer's placeholder, a grey box with a red cross); `text` is a `<text>` with one `<tspan>` per line,
//!   placed where spv's own layout puts the line, so wrapping and alignment match;
//! - `transform` is `transform="matrix(…)"`, `opacity` is SVG's group `opacity`, `blend`
//!   is `mix-blend-mode`; colours are `#rrggbb` with separate `*-opacity` attributes and
//!   gradients are `userSpaceOnUse` paint servers in `<defs>`; fill is always written
//!   (`none` when absent) because SVG's default fill is black; invisible nodes are left
//!   out;
//! - text names the family and weight of the face spv chose (`DejaVu Sans` 400 or 700
//!   for `sans` and unknown families; a font asset's own family and weight), and font
//!   assets are embedded as `@font-face` rules with `data:` URLs. Renderers that ignore
//!   `@font-face` (resvg among them) must be given the font files themselves: load the
//!   bundled DejaVu Sans faces (`spv/fonts/`) and the document's font assets into resvg's
//!   `fontdb` to see the export as spv renders the page.
//!
//! The output is deterministic: the same document gives the same bytes.
//!
//! ```
//! use spv::render::svg::{SvgOptions, page_to_svg};
//! use spv::glyph::{self, Limits};
//!
//! let doc = br##"{"format":"glyph","version":1,"pages":[{"width":40,"height":20,
//!     "layers":[{"type":"rect","x":0,"y":0,"width":10,"height":10,"fill":"#ff000080"}]}]}"##;
//! let loaded = glyph::load(doc, &Limits::default())?;
//! let svg = page_to_svg(&loaded, 0, &SvgOptions::default())?;
//! assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
//! assert!(svg.contains(r##"<rect x="0" y="0" width="10" height="10" fill="#ff0000" fill-opacity="0.50196" stroke="none"/>"##));
//! # Ok::<(), spv::Error>(())
//! ```

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::Result;
use crate::glyph::Loaded;
use crate::glyph::assets::{AssetResolver, Chain, NoAssets};
use crate::glyph::model::{Document, Node, NodeKind};
use crate::render::fonts::FontBook;

mod image;
mod nodes;
mod paint;
#[cfg(test)]
mod tests;
mod text;
mod xml;

pub use image::image_mime;

/// How a page is exported.
#[derive(Clone)]
pub struct SvgOptions {
    /// Where asset bytes come from besides inline `data:` assets and the document's own
    /// package (which is always tried first).
    pub resolver: Arc<dyn AssetResolver>,
    /// Paint a visible placeholder for a missing asset (and report a warning) instead of
    /// failing.
    pub lenient: bool,
}

impl SvgOptions {
    /// Options resolving assets with `resolver`, strict.
    pub fn new(resolver: Arc<dyn AssetResolver>) -> Self {
        SvgOptions {
            resolver,
            lenient: false,
        }
    }

    /// Sets lenient export (placeholders and warnings instead of errors for missing
    /// assets).
    pub fn lenient(mut self, lenient: bool) -> Self {
        self.lenient = lenient;
        self
    }
}

impl Default for SvgOptions {
    /// No resolver beyond the package and inline assets; strict.
    fn default() -> Self {
        SvgOptions::new(Arc::new(NoAssets))
    }
}

impl std::fmt::Debug for SvgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SvgOptions")
            .field("lenient", &self.lenient)
            .finish_non_exhaustive()
    }
}

/// An exported page: the SVG text and the warnings of the export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SvgPage {
    /// The SVG document, UTF-8.
    pub svg: String,
    /// Warnings: placeholders painted and font assets replaced (lenient export only),
    /// fonts that fell back to `sans`.
    pub warnings: Vec<String>,
}

/// Writes page `page` (0-based) of `loaded` as an SVG document.
///
/// Fails with [`crate::ErrorKind::InvalidRequest`] when the page does not exist, and
/// with [`crate::ErrorKind::MissingAsset`] (or `InvalidAsset`) for an image or font that
/// cannot be loaded, unless `options.lenient`. See the [module docs](self).
pub fn page_to_svg(loaded: &Loaded, page: usize, options: &SvgOptions) -> Result<String> {
    export_page(loaded, page, options).map(|page| page.svg)
}

/// [`page_to_svg`], also returning the warnings of the export.
pub fn export_page(loaded: &Loaded, page: usize, options: &SvgOptions) -> Result<SvgPage> {
    let document = &loaded.document;
    let count = document.pages.len();
    let the_page = document
        .pages
        .get(page)
        .ok_or_else(|| crate::render::page_out_of_range(page, count))?;
    let mut resolvers: Vec<Arc<dyn AssetResolver>> = Vec::new();
    if let Some(package) = &loaded.package {
        resolvers.push(package.clone());
    }
    resolvers.push(options.resolver.clone());
    let resolver = Chain(resolvers);

    let fonts = FontBook::load(document, &resolver, options.lenient)?;
    let mut writer = Writer::new(document, &resolver, options.lenient, fonts);
    writer.depth = 1;
    if let Some(background) = &the_page.background {
        let mut body = writer.take_line();
        let mut tag = xml::Tag::new(&mut body, "rect");
        tag.num("x", 0.0)
            .num("y", 0.0)
            .num("width", the_page.width)
            .num("height", the_page.height);
        writer.paint_attr(&mut tag, "fill", Some(background));
        tag.attr("stroke", "none").close();
        body.push('\n');
        writer.body = body;
    }
    writer.nodes(&the_page.layers, &format!("pages[{page}].layers"))?;

    let mut svg = String::new();
    let mut root = xml::Tag::new(&mut svg, "svg");
    root.attr("xmlns", "http://www.w3.org/2000/svg")
        .attr("xmlns:xlink", "http://www.w3.org/1999/xlink")
        .num("width", the_page.width)
        .num("height", the_page.height)
        .attr(
            "viewBox",
            &format!(
                "0 0 {} {}",
                xml::num(the_page.width),
                xml::num(the_page.height)
            ),
        )
        .open();
    svg.push('\n');
    if let Some(title) = &document.title {
        let _ = writeln!(svg, "<title>{}</title>", xml::escape(title));
    }
    if !writer.style.is_empty() {
        let _ = writeln!(svg, "<style>{}</style>", writer.style);
    }
    if !writer.defs.is_empty() {
        let _ = write!(svg, "<defs>\n{}</defs>\n", writer.defs);
    }
    svg.push_str("<g style=\"isolation:isolate\">\n");
    svg.push_str(&writer.body);
    svg.push_str("</g>\n</svg>\n");
    Ok(SvgPage {
        svg,
        warnings: writer.warnings,
    })
}

/// The state of one export: the body and `<defs>` written so far, ids handed out,
/// warnings.
pub(crate) struct Writer<'a> {
    document: &'a Document,
    resolver: &'a dyn AssetResolver,
    lenient: bool,
    /// The page's content, inside the root group.
    body: String,
    /// Gradients and clip paths.
    defs: String,
    /// `@font-face` rules.
    style: String,
    /// Indentation depth of the next body line.
    depth: usize,
    next_id: usize,
    /// Ids the document's nodes use, which generated ids must avoid.
    taken: HashSet<&'a str>,
    /// The bundled fonts and the document's font assets.
    fonts: FontBook,
    /// Font assets already embedded as `@font-face` rules.
    embedded_fonts: Vec<String>,
    warnings: Vec<String>,
}

impl<'a> Writer<'a> {
    fn new(
        document: &'a Document,
        resolver: &'a dyn AssetResolver,
        lenient: bool,
        fonts: FontBook,
    ) -> Self {
        let mut taken = HashSet::new();
        for page in &document.pages {
            collect_ids(&page.layers, &mut taken);
        }
        Writer {
            document,
            resolver,
            lenient,
            body: String::new(),
            defs: String::new(),
            style: String::new(),
            depth: 0,
            next_id: 0,
            taken,
            warnings: fonts.warnings().to_vec(),
            fonts,
            embedded_fonts: Vec::new(),
        }
    }

    /// A new id `spv-<kind>-<n>`, unused by the document.
    pub(crate) fn fresh_id(&mut self, kind: &str) -> String {
        loop {
            self.next_id += 1;
            let id = format!("spv-{kind}-{}", self.next_id);
            if !self.taken.contains(id.as_str()) {
                return id;
            }
        }
    }

    /// Records a warning (once).
    pub(crate) fn warn(&mut self, warning: String) {
        if !self.warnings.contains(&warning) {
            tracing::warn!("{warning}");
            self.warnings.push(warning);
        }
    }
}

fn collect_ids<'a>(nodes: &'a [Node], taken: &mut HashSet<&'a str>) {
    for node in nodes {
        if let Some(id) = &node.id {
            taken.insert(id);
        }
        if let NodeKind::Group(group) = &node.kind {
            collect_ids(&group.children, taken);
        }
    }
}
