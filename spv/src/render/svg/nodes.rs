//! Nodes as SVG elements: shapes, groups and their clips, and the fields every node has.

use std::fmt::Write as _;

use super::Writer;
use super::xml::{Tag, num};
use crate::glyph::model::{BlendMode, Node, NodeKind, RectNode};
use crate::{Error, Result};

impl Writer<'_> {
    /// Writes `nodes` (a page's layers or a group's children) in paint order; `path` is
    /// their JSON path, for errors.
    pub(crate) fn nodes(&mut self, nodes: &[Node], path: &str) -> Result<()> {
        for (i, node) in nodes.iter().enumerate() {
            self.node(node, &format!("{path}[{i}]"))?;
        }
        Ok(())
    }

    fn node(&mut self, node: &Node, path: &str) -> Result<()> {
        if !node.visible() {
            return Ok(());
        }
        match &node.kind {
            NodeKind::Rect(_) | NodeKind::Ellipse(_) | NodeKind::Path(_) => {
                self.shape(node);
                Ok(())
            }
            NodeKind::Group(group) => {
                let clip = match &group.clip {
                    Some(clip) => Some(self.clip_path(clip, &format!("{path}.clip"))?),
                    None => None,
                };
                let mut body = self.take_line();
                let mut tag = Tag::new(&mut body, "g");
                common_attrs(&mut tag, node);
                if let Some(id) = clip {
                    tag.attr("clip-path", &format!("url(#{id})"));
                }
                tag.open();
                body.push('\n');
                self.body = body;
                self.depth += 1;
                self.nodes(&group.children, &format!("{path}.children"))?;
                self.depth -= 1;
                let mut body = self.take_line();
                body.push_str("</g>\n");
                self.body = body;
                Ok(())
            }
            NodeKind::Text(text) => self.text(node, text, path),
            NodeKind::Image(image) => self.image(node, image, path),
        }
    }

    /// A filled and stroked `rect`, `ellipse` or `path`.
    fn shape(&mut self, node: &Node) {
        let mut body = self.take_line();
        let mut tag = geometry(&mut body, &node.kind);
        common_attrs(&mut tag, node);
        self.paint_attr(&mut tag, "fill", node.fill.as_ref());
        if let NodeKind::Path(path) = &node.kind
            && node.fill.is_some()
        {
            tag.attr("fill-rule", path.fill_rule.unwrap_or_default().as_str());
        }
        self.stroke_attrs(&mut tag, node.stroke.as_ref());
        tag.close();
        body.push('\n');
        self.body = body;
    }

    /// Defines a `<clipPath>` holding `clip` (a shape, with its own transform, in the
    /// group's local space) and returns its id.
    fn clip_path(&mut self, clip: &Node, path: &str) -> Result<String> {
        if !matches!(
            clip.kind,
            NodeKind::Rect(_) | NodeKind::Ellipse(_) | NodeKind::Path(_)
        ) {
            return Err(Error::invalid_document(
                path,
                format!(
                    "a clip must be a rect, ellipse or path node, not a {}",
                    clip.type_name()
                ),
            ));
        }
        let id = self.fresh_id("clip");
        let mut defs = std::mem::take(&mut self.defs);
        let _ = write!(
            defs,
            "<clipPath id=\"{id}\" clipPathUnits=\"userSpaceOnUse\">"
        );
        let mut tag = geometry(&mut defs, &clip.kind);
        if let Some(transform) = clip.transform {
            tag.attr("transform", &matrix(transform));
        }
        if let NodeKind::Path(path) = &clip.kind {
            tag.attr("clip-rule", path.fill_rule.unwrap_or_default().as_str());
        }
        tag.close();
        defs.push_str("</clipPath>\n");
        self.defs = defs;
        Ok(id)
    }

    /// Takes the body buffer out (so a tag can borrow it while paints write `<defs>`),
    /// after starting a new line at the current depth.
    pub(crate) fn take_line(&mut self) -> String {
        let mut body = std::mem::take(&mut self.body);
        for _ in 0..self.depth {
            body.push_str("  ");
        }
        body
    }
}

/// Writes the fields every node has: `id`, `transform`, `opacity` (group opacity, an
/// isolated layer, as the format says) and `mix-blend-mode`.
pub(crate) fn common_attrs(tag: &mut Tag<'_>, node: &Node) {
    if let Some(id) = &node.id {
        tag.attr("id", id);
    }
    if let Some(transform) = node.transform
        && transform != [1.0, 0.0, 0.0, 1.0, 0.0, 0.0]
    {
        tag.attr("transform", &matrix(transform));
    }
    if node.opacity() != 1.0 {
        tag.num("opacity", node.opacity().clamp(0.0, 1.0));
    }
    if node.blend() != BlendMode::Normal {
        tag.attr(
            "style",
            &format!("mix-blend-mode:{}", node.blend().as_str()),
        );
    }
}

/// `matrix(a b c d e f)`.
pub(crate) fn matrix(m: [f64; 6]) -> String {
    let parts: Vec<String> = m.iter().map(|v| num(*v)).collect();
    format!("matrix({})", parts.join(" "))
}

/// Starts the element of a shape with its geometry attributes; other kinds get an empty
/// `<path>` (never called with them).
fn geometry<'a>(out: &'a mut String, kind: &NodeKind) -> Tag<'a> {
    match kind {
        NodeKind::Rect(rect) => {
            let radii = rect.radii();
            if radii.iter().all(|r| *r == radii[0]) {
                let mut tag = Tag::new(out, "rect");
                tag.num("x", rect.x)
                    .num("y", rect.y)
                    .num("width", rect.width)
                    .num("height", rect.height);
                if radii[0] > 0.0 {
                    tag.num("rx", radii[0]);
                }
                tag
            } else {
                let mut tag = Tag::new(out, "path");
                tag.attr("d", &rounded_rect(rect));
                tag
            }
        }
        NodeKind::Ellipse(ellipse) => {
            let mut tag = Tag::new(out, "ellipse");
            tag.num("cx", ellipse.cx)
                .num("cy", ellipse.cy)
                .num("rx", ellipse.rx)
                .num("ry", ellipse.ry);
            tag
        }
        NodeKind::Path(path) => {
            let mut tag = Tag::new(out, "path");
            tag.attr("d", &path.d);
            tag
        }
        _ => {
            let mut tag = Tag::new(out, "path");
            tag.attr("d", "");
            tag
        }
    }
}

/// Path data of a rectangle with per-corner radii. Like SVG's `<rect>`, it starts on the
/// top edge just after the top-left radius and runs clockwise on screen, so dashes start
/// where the format says they do.
fn rounded_rect(rect: &RectNode) -> String {
    let [tl, tr, br, bl] = rect.radii();
    let (x0, y0) = (rect.x, rect.y);
    let (x1, y1) = (rect.x + rect.width, rect.y + rect.height);
    let mut d = String::new();
    let arc = |d: &mut String, r: f64, x: f64, y: f64| {
        if r > 0.0 {
            let _ = write!(d, "A{} {} 0 0 1 {} {}", num(r), num(r), num(x), num(y));
        }
    };
    let _ = write!(d, "M{} {}", num(x0 + tl), num(y0));
    let _ = write!(d, "H{}", num(x1 - tr));
    arc(&mut d, tr, x1, y0 + tr);
    let _ = write!(d, "V{}", num(y1 - br));
    arc(&mut d, br, x1 - br, y1);
    let _ = write!(d, "H{}", num(x0 + bl));
    arc(&mut d, bl, x0, y1 - bl);
    let _ = write!(d, "V{}", num(y0 + tl));
    arc(&mut d, tl, x0 + tl, y0);
    d.push('Z');
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glyph::model::Radius;

    #[test]
    fn per_corner_radii_start_after_the_top_left_radius() {
        let rect = RectNode {
            x: 10.0,
            y: 20.0,
            width: 100.0,
            height: 50.0,
            radius: Some(Radius::Corners([5.0, 0.0, 40.0, 10.0])),
        };
        // br is clamped to half the shorter side (25); tr is 0 so no arc is written.
        assert_eq!(
            rounded_rect(&rect),
            "M15 20H110V45A25 25 0 0 1 85 70H20A10 10 0 0 1 10 60V25A5 5 0 0 1 15 20Z"
        );
    }

    #[test]
    fn matrices_are_compact() {
        assert_eq!(
            matrix([1.0, 0.0, 0.0, 1.0, 10.5, -3.0]),
            "matrix(1 0 0 1 10.5 -3)"
        );
    }
}
