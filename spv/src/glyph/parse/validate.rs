//! Walks a model built by hand through the same rules the converter applies, plus the
//! checks the converter makes while parsing (asset sources, path data).

use super::jpath::JsonPath;
use super::rules::{Assets, Checker};
use super::src;
use crate::glyph::{Document, Node, NodeKind};

pub(super) fn document(c: &mut Checker<'_>, document: &Document) {
    let root = JsonPath::Root;
    if !c.format(&root.key("format"), &document.format)
        || !c.version(&root.key("version"), document.version.into())
    {
        return;
    }
    let assets = document.assets.as_ref();
    let assets_path = root.key("assets");
    for (name, asset) in assets.into_iter().flatten() {
        if let Err(message) = src::parse_src(&asset.src) {
            c.error(&assets_path.key(name).key("src"), message);
        }
    }
    let pages = root.key("pages");
    c.page_count(&pages, document.pages.len());
    for (i, page) in document.pages.iter().enumerate() {
        if c.stopped() {
            return;
        }
        let path = pages.index(i);
        c.page(page, &path);
        nodes(c, &page.layers, &path.key("layers"), 0, assets);
    }
}

fn nodes(
    c: &mut Checker<'_>,
    nodes: &[Node],
    path: &JsonPath<'_>,
    groups: usize,
    assets: Option<&Assets>,
) {
    for (i, n) in nodes.iter().enumerate() {
        if c.stopped() {
            return;
        }
        node(c, n, &path.index(i), groups, assets, false);
    }
}

fn node(
    c: &mut Checker<'_>,
    node: &Node,
    path: &JsonPath<'_>,
    groups: usize,
    assets: Option<&Assets>,
    clip: bool,
) {
    c.node(node, path, groups, assets, clip);
    match &node.kind {
        NodeKind::Path(p) => {
            c.path_data(&p.d, &path.key("d"));
        }
        NodeKind::Group(g) if !c.stopped() => {
            if let Some(shape) = &g.clip {
                self::node(c, shape, &path.key("clip"), groups + 1, assets, true);
            }
            nodes(c, &g.children, &path.key("children"), groups + 1, assets);
        }
        _ => {}
    }
}
