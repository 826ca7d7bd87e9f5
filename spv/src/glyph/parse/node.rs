//! JSON → [`Node`]: the common fields, each node type's own fields, group children and
//! clips, and the outline of path data.

use serde_json::{Map, Value};

use super::convert::{
    Obj, array, boolean, fixed, keyword, number, object, optional, required, rest, string,
};
use super::jpath::{JsonPath, describe, quote};
use super::rules::{Assets, Checker};
use super::{paint, path_data};
use crate::glyph::{
    BlendMode, EllipseNode, FillRule, GroupNode, ImageFit, ImageNode, Node, NodeKind, PathNode,
    Radius, RectNode, TextAlign, TextNode,
};

const TYPES: &str = "\"rect\", \"ellipse\", \"path\", \"text\", \"image\" or \"group\"";

/// Converts a list of nodes (`layers`, `children`). Nodes too broken to build are left
/// out; their errors are recorded.
pub(super) fn nodes(
    c: &mut Checker<'_>,
    items: Vec<Value>,
    path: &JsonPath<'_>,
    groups: usize,
    assets: Option<&Assets>,
) -> Vec<Node> {
    let mut out = Vec::with_capacity(items.len().min(c.limits.max_nodes));
    for (i, item) in items.into_iter().enumerate() {
        if c.stopped() {
            break;
        }
        if let Some(node) = one_node(c, item, &path.index(i), groups, assets, false) {
            out.push(*node);
        }
    }
    out
}

/// Converts one node. `groups` is the number of groups around it; `clip` marks a
/// group's clip shape. Nodes are boxed while they are converted: this function recurses
/// once per level of nesting, and a `Node` held by value in each frame would take a
/// thread's stack much sooner.
fn one_node(
    c: &mut Checker<'_>,
    value: Value,
    path: &JsonPath<'_>,
    groups: usize,
    assets: Option<&Assets>,
    clip: bool,
) -> Option<Box<Node>> {
    let (mut node, (children, clip_shape)) = build(c, value, path, groups, assets, clip)?;
    if let NodeKind::Group(g) = &mut node.kind {
        if let Some(shape) = clip_shape.filter(|_| !c.stopped()) {
            g.clip = one_node(c, shape, &path.key("clip"), groups + 1, assets, true);
        }
        if let Some(items) = children {
            g.children = nodes(c, items, &path.key("children"), groups + 1, assets);
        }
    }
    Some(node)
}

/// A node's children and clip shape, still JSON.
type Unconverted = (Option<Vec<Value>>, Option<Value>);

/// One node without its children and clip, checked. Kept out of the recursion, so its
/// large frame is on the stack once, not once per level of nesting.
#[inline(never)]
fn build(
    c: &mut Checker<'_>,
    value: Value,
    path: &JsonPath<'_>,
    groups: usize,
    assets: Option<&Assets>,
    clip: bool,
) -> Option<(Box<Node>, Unconverted)> {
    let mut map = object(c, path, value, "a node object")?;
    let kind = required(c, &mut map, path, "type", TYPES, string)?;
    let m = &mut map;
    let mut node = Node {
        id: optional(c, m, path, "id", string),
        name: optional(c, m, path, "name", string),
        visible: optional(c, m, path, "visible", boolean),
        opacity: optional(c, m, path, "opacity", number),
        blend: optional(c, m, path, "blend", |c, p, v| {
            keyword(
                c,
                p,
                v,
                "a blend mode",
                BlendMode::parse,
                BlendMode::expected,
            )
        }),
        transform: optional(c, m, path, "transform", |c, p, v| {
            fixed(c, p, v, "a transform [a, b, c, d, e, f]")
        }),
        fill: optional(c, m, path, "fill", paint::paint),
        stroke: optional(c, m, path, "stroke", paint::stroke),
        kind: match kind.as_str() {
            "rect" => NodeKind::Rect(rect(c, m, path)),
            "ellipse" => NodeKind::Ellipse(EllipseNode {
                cx: need(c, m, path, "cx", "a number", 0.0),
                cy: need(c, m, path, "cy", "a number", 0.0),
                rx: need(c, m, path, "rx", "a number >= 0", 0.0),
                ry: need(c, m, path, "ry", "a number >= 0", 0.0),
            }),
            "path" => NodeKind::Path(PathNode {
                d: required(c, m, path, "d", "SVG path data", string).unwrap_or_default(),
                fill_rule: optional(c, m, path, "fillRule", |c, p, v| {
                    keyword(c, p, v, "a fill rule", FillRule::parse, FillRule::expected)
                }),
                outline: kurbo::BezPath::new(),
            }),
            "text" => NodeKind::Text(text(c, m, path)),
            "image" => NodeKind::Image(image(c, m, path)),
            "group" => NodeKind::Group(GroupNode {
                children: Vec::new(),
                clip: None,
            }),
            other => {
                c.error(
                    &path.key("type"),
                    format!("{} is not a node type (expected {TYPES})", quote(other)),
                );
                return None;
            }
        },
        extra: Map::new(),
    };
    // A group's children and clip are converted after the group itself is checked, so
    // the node and depth limits stop a huge tree early.
    let (children, clip_shape) = match node.kind {
        NodeKind::Group(_) => (
            required(c, m, path, "children", "an array of nodes", |c, p, v| {
                array(c, p, v, "an array of nodes")
            }),
            map.shift_remove("clip"),
        ),
        _ => (None, None),
    };
    node.extra = rest(map);
    c.node(&node, path, groups, assets, clip);
    if let NodeKind::Path(p) = &mut node.kind {
        let at = path.key("d");
        if c.path_data(&p.d, &at) {
            match path_data::outline(&p.d) {
                Ok(outline) => p.outline = outline,
                Err(message) => c.error(&at, message),
            }
        }
    }
    Some((Box::new(node), (children, clip_shape)))
}

/// A required number, `fallback` standing in when it is missing or not a number.
fn need(
    c: &mut Checker<'_>,
    map: &mut Obj,
    path: &JsonPath<'_>,
    key: &'static str,
    expected: &str,
    fallback: f64,
) -> f64 {
    required(c, map, path, key, expected, number).unwrap_or(fallback)
}

fn rect(c: &mut Checker<'_>, m: &mut Obj, path: &JsonPath<'_>) -> RectNode {
    RectNode {
        x: need(c, m, path, "x", "a number", 0.0),
        y: need(c, m, path, "y", "a number", 0.0),
        width: need(c, m, path, "width", "a number >= 0", 0.0),
        height: need(c, m, path, "height", "a number >= 0", 0.0),
        radius: optional(c, m, path, "radius", |c, p, v| match v {
            Value::Array(_) => fixed(c, p, v, "a number or [tl, tr, br, bl]").map(Radius::Corners),
            Value::Number(n) => n.as_f64().map(Radius::Uniform),
            other => {
                c.error(
                    p,
                    format!(
                        "expected a number or [tl, tr, br, bl], found {}",
                        describe(&other)
                    ),
                );
                None
            }
        }),
    }
}

fn text(c: &mut Checker<'_>, m: &mut Obj, path: &JsonPath<'_>) -> TextNode {
    TextNode {
        x: need(c, m, path, "x", "a number", 0.0),
        y: need(c, m, path, "y", "a number", 0.0),
        text: required(c, m, path, "text", "a string", string).unwrap_or_default(),
        font: optional(c, m, path, "font", string),
        size: need(c, m, path, "size", "a number > 0", 1.0),
        weight: optional(c, m, path, "weight", |c, p, v| {
            const EXPECTED: &str = "an integer from 100 to 900";
            let Some(n) = v.as_f64() else {
                c.error(p, format!("expected {EXPECTED}, found {}", describe(&v)));
                return None;
            };
            let weight =
                (n.fract() == 0.0 && (0.0..=f64::from(u16::MAX)).contains(&n)).then_some(n as u16);
            if weight.is_none() {
                c.error(p, format!("{} is not {EXPECTED}", describe(&v)));
            }
            weight
        }),
        line_height: optional(c, m, path, "lineHeight", number),
        align: optional(c, m, path, "align", |c, p, v| {
            keyword(
                c,
                p,
                v,
                "an alignment",
                TextAlign::parse,
                TextAlign::expected,
            )
        }),
        max_width: optional(c, m, path, "maxWidth", number),
    }
}

fn image(c: &mut Checker<'_>, m: &mut Obj, path: &JsonPath<'_>) -> ImageNode {
    ImageNode {
        asset: required(c, m, path, "asset", "the name of an image asset", string)
            .unwrap_or_default(),
        x: need(c, m, path, "x", "a number", 0.0),
        y: need(c, m, path, "y", "a number", 0.0),
        width: need(c, m, path, "width", "a number >= 0", 0.0),
        height: need(c, m, path, "height", "a number >= 0", 0.0),
        fit: optional(c, m, path, "fit", |c, p, v| {
            keyword(c, p, v, "an image fit", ImageFit::parse, ImageFit::expected)
        }),
    }
}
