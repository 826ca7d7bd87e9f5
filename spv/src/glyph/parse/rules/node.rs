//! The rules of nodes: ranges, ids, references, and the node and depth limits.

use super::{Assets, Checker, Ids, Range, unique};
use crate::glyph::parse::jpath::{JsonPath, quote};
use crate::glyph::{AssetType, Node, NodeKind, Radius};

/// Font families every build has (`sans` is DejaVu Sans).
const KNOWN_FAMILIES: [&str; 2] = ["sans", "dejavu sans"];

impl Checker<'_> {
    /// The rules of one node, not of its children. `groups` is the number of groups
    /// around it; `clip` says it is a group's clip shape.
    pub(crate) fn node(
        &mut self,
        node: &Node,
        path: &JsonPath<'_>,
        groups: usize,
        assets: Option<&Assets>,
        clip: bool,
    ) {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            let max = self.limits.max_nodes;
            let message = format!("the document has more than {max} nodes (the limit)");
            return self.limit(path, message);
        }
        let shape = matches!(
            node.kind,
            NodeKind::Rect(_) | NodeKind::Ellipse(_) | NodeKind::Path(_)
        );
        if clip && !shape {
            let message = format!(
                "a {} node cannot be a clip (expected \"rect\", \"ellipse\" or \"path\")",
                node.type_name()
            );
            self.error(&path.key("type"), message);
        }
        if let Some(id) = &node.id {
            unique(self, Ids::Nodes, id, path);
        }
        if let Some(opacity) = node.opacity {
            self.number(&path.key("opacity"), opacity, Range::Unit);
        }
        if let Some(transform) = &node.transform {
            let at = path.key("transform");
            for (i, v) in transform.iter().enumerate() {
                self.number(&at.index(i), *v, Range::Finite);
            }
        }
        if let Some(fill) = &node.fill {
            let at = path.key("fill");
            self.paint(fill, &at);
            if !clip && matches!(node.kind, NodeKind::Image(_) | NodeKind::Group(_)) {
                self.warn(
                    &at,
                    format_args!("fill is ignored on {} nodes", node.type_name()),
                );
            }
        }
        if let Some(stroke) = &node.stroke {
            let at = path.key("stroke");
            self.stroke(stroke, &at);
            if !shape {
                self.warn(
                    &at,
                    format_args!("stroke is ignored on {} nodes", node.type_name()),
                );
            }
        }
        self.kind(&node.kind, path, groups, assets);
    }

    fn numbers(&mut self, path: &JsonPath<'_>, fields: &[(&str, f64, Range)]) {
        for &(key, value, range) in fields {
            self.number(&path.key(key), value, range);
        }
    }

    fn kind(
        &mut self,
        kind: &NodeKind,
        path: &JsonPath<'_>,
        groups: usize,
        assets: Option<&Assets>,
    ) {
        use Range::{Finite, NonNegative, Positive};
        match kind {
            NodeKind::Rect(r) => {
                let fields = [("x", r.x, Finite), ("y", r.y, Finite)];
                self.numbers(path, &fields);
                let fields = [
                    ("width", r.width, NonNegative),
                    ("height", r.height, NonNegative),
                ];
                self.numbers(path, &fields);
                let at = path.key("radius");
                match r.radius {
                    Some(Radius::Uniform(v)) => self.number(&at, v, NonNegative),
                    Some(Radius::Corners(corners)) => {
                        for (i, v) in corners.iter().enumerate() {
                            self.number(&at.index(i), *v, NonNegative);
                        }
                    }
                    None => {}
                }
            }
            NodeKind::Ellipse(e) => {
                self.numbers(path, &[("cx", e.cx, Finite), ("cy", e.cy, Finite)]);
                self.numbers(
                    path,
                    &[("rx", e.rx, NonNegative), ("ry", e.ry, NonNegative)],
                );
            }
            NodeKind::Path(_) => {}
            NodeKind::Text(t) => {
                self.numbers(
                    path,
                    &[
                        ("x", t.x, Finite),
                        ("y", t.y, Finite),
                        ("size", t.size, Positive),
                    ],
                );
                if let Some(w) = t.weight.filter(|w| !(100..=900).contains(w)) {
                    self.error(
                        &path.key("weight"),
                        format!("{w} is not an integer from 100 to 900"),
                    );
                }
                if let Some(v) = t.line_height {
                    self.number(&path.key("lineHeight"), v, Positive);
                }
                if let Some(v) = t.max_width {
                    self.number(&path.key("maxWidth"), v, Positive);
                }
                if let Some(font) = &t.font {
                    self.font(font, &path.key("font"), assets);
                }
            }
            NodeKind::Image(i) => {
                self.numbers(path, &[("x", i.x, Finite), ("y", i.y, Finite)]);
                let fields = [
                    ("width", i.width, NonNegative),
                    ("height", i.height, NonNegative),
                ];
                self.numbers(path, &fields);
                let at = path.key("asset");
                let name = quote(&i.asset);
                match assets.and_then(|a| a.get(&i.asset)) {
                    None => self.error(
                        &at,
                        format!("no asset named {name} is declared (expected the name of an image asset)"),
                    ),
                    Some(a) if a.kind != AssetType::Image => {
                        self.error(&at, format!("asset {name} is a {}, not an image", a.kind.as_str()));
                    }
                    Some(_) => {}
                }
            }
            NodeKind::Group(_) => {
                let max = self.limits.max_group_depth;
                if groups + 1 > max {
                    self.limit(
                        path,
                        format!("groups are nested more than {max} deep (the limit)"),
                    );
                }
            }
        }
    }

    fn font(&mut self, font: &str, path: &JsonPath<'_>, assets: Option<&Assets>) {
        match assets.and_then(|a| a.get(font)) {
            Some(asset) if asset.kind != AssetType::Font => {
                let kind = asset.kind.as_str();
                self.error(
                    path,
                    format!("asset {} is an {kind}, not a font", quote(font)),
                );
            }
            Some(_) => {}
            None if KNOWN_FAMILIES.iter().any(|f| f.eq_ignore_ascii_case(font)) => {}
            None => self.warn(
                path,
                format_args!("unknown font family {}; using sans", quote(font)),
            ),
        }
    }
}
