//! Page → scene commands: the walk over the node tree.
//!
//! A node that is invisible, fully transparent or squashed flat by its transform is
//! skipped. Opacity below 1 or a blend mode other than `normal` isolates the node in a
//! layer, except that a node painting a single thing (a fill, a stroke or an image) with
//! `normal` blending takes its opacity into that paint's alpha instead, which is
//! the same picture without the cost of a layer. Groups with a clip get a clip layer.

use std::borrow::Cow;

use kurbo::{Affine, BezPath, Rect, Shape};
use vello_cpu::peniko::color::AlphaColor;
use vello_cpu::peniko::{self, ImageQuality, Mix};

use super::budget::{self, Dashing};
use super::geometry::Placement;
use super::image::{self, ImageEntry};
use super::paint::{self, Brush};
use super::scene::{Clip, Command, DrawImage, DrawText, FillPath, Layer, Resources, StrokePath};
use super::shapes;
use crate::Result;
use crate::glyph::{
    Color, Document, FillRule, GroupNode, ImageNode, Node, NodeKind, Page, TextNode,
};

pub(crate) struct Builder<'a, 'b, 'r> {
    document: &'a Document,
    page: usize,
    resources: &'b mut Resources<'r>,
    pub(crate) commands: Vec<Command<'a>>,
    /// Where the walk is, for warnings: ("layers" | "children", index).
    place: Vec<(&'static str, usize)>,
}

impl<'a, 'b, 'r> Builder<'a, 'b, 'r> {
    pub(crate) fn new(
        document: &'a Document,
        page: usize,
        resources: &'b mut Resources<'r>,
    ) -> Self {
        Builder {
            document,
            page,
            resources,
            commands: Vec::new(),
            place: Vec::new(),
        }
    }

    pub(crate) fn page(&mut self, page: &'a Page, placement: &Placement) -> Result<()> {
        let base = placement.transform;
        let page_rect = Rect::new(0.0, 0.0, page.width, page.height);
        let clip_to_page = !placement.covers_output;
        if clip_to_page {
            self.commands.push(Command::PushLayer(Layer {
                mix: Mix::Normal,
                opacity: 1.0,
                clip: Some(Clip {
                    path: Cow::Owned(page_rect.to_path(0.1)),
                    transform: base,
                    fill_rule: peniko::Fill::NonZero,
                }),
            }));
        }
        if let Some(brush) = page.background.as_ref().and_then(paint::brush) {
            // Where the page covers the output, the background covers every pixel, even
            // the sliver that rounding the output size leaves: an opaque background
            // gives opaque pixels everywhere.
            let area = if placement.covers_output {
                Rect::new(
                    0.0,
                    0.0,
                    f64::from(placement.width),
                    f64::from(placement.height),
                )
            } else {
                placement.page_rect
            };
            self.commands.push(Command::FillPath(FillPath {
                path: Cow::Owned(area.to_path(0.1)),
                transform: Affine::IDENTITY,
                brush,
                brush_transform: base,
                fill_rule: peniko::Fill::NonZero,
            }));
        }
        for (i, node) in page.layers.iter().enumerate() {
            self.place.push(("layers", i));
            self.node(node, base)?;
            self.place.pop();
        }
        if clip_to_page {
            self.commands.push(Command::PopLayer);
        }
        Ok(())
    }

    fn json_path(&self) -> String {
        let mut path = format!("pages[{}]", self.page);
        for (field, i) in &self.place {
            path.push_str(&format!(".{field}[{i}]"));
        }
        path
    }

    fn node(&mut self, node: &'a Node, parent: Affine) -> Result<()> {
        if !node.visible() {
            return Ok(());
        }
        self.resources.deadline.check()?;
        let opacity = node.opacity();
        let opacity = if opacity.is_nan() {
            1.0
        } else {
            opacity.clamp(0.0, 1.0)
        } as f32;
        if opacity <= 0.0 {
            return Ok(());
        }
        let transform = parent * Affine::new(node.transform());
        if !is_usable(transform) {
            return Ok(());
        }
        let mix = paint::mix(node.blend());
        let isolate = opacity < 1.0 || mix != Mix::Normal;
        let start = self.commands.len();
        if let NodeKind::Group(group) = &node.kind {
            let clip = match &group.clip {
                Some(clip_node) => match clip(clip_node, transform) {
                    Some(clip) => {
                        budget::check_path(&clip.path, clip.transform, 0.0)
                            .map_err(|e| e.at(format!("{}.clip", self.json_path())))?;
                        Some(clip)
                    }
                    // Clipped to nothing: nothing shows.
                    None => return Ok(()),
                },
                None => None,
            };
            let layered = isolate || clip.is_some();
            if layered {
                self.commands
                    .push(Command::PushLayer(Layer { mix, opacity, clip }));
            }
            self.children(group, transform)?;
            if layered {
                if self.commands.len() == start + 1 {
                    self.commands.truncate(start);
                } else {
                    self.commands.push(Command::PopLayer);
                }
            }
            return Ok(());
        }
        self.leaf(node, transform)?;
        let added = self.commands.len() - start;
        if !isolate || added == 0 {
            return Ok(());
        }
        if added == 1 && mix == Mix::Normal {
            match &mut self.commands[start] {
                Command::FillPath(f) => return fold(&mut f.brush, opacity),
                Command::StrokePath(s) => return fold(&mut s.brush, opacity),
                Command::DrawImage(i) => {
                    i.alpha *= opacity;
                    return Ok(());
                }
                _ => {}
            }
        }
        let layer = Layer {
            mix,
            opacity,
            clip: None,
        };
        self.commands.insert(start, Command::PushLayer(layer));
        self.commands.push(Command::PopLayer);
        Ok(())
    }

    fn children(&mut self, group: &'a GroupNode, transform: Affine) -> Result<()> {
        for (i, child) in group.children.iter().enumerate() {
            self.place.push(("children", i));
            self.node(child, transform)?;
            self.place.pop();
        }
        Ok(())
    }

    fn leaf(&mut self, node: &'a Node, transform: Affine) -> Result<()> {
        let (path, fill_rule): (Cow<'a, BezPath>, _) = match &node.kind {
            NodeKind::Rect(_) | NodeKind::Ellipse(_) | NodeKind::Path(_) => {
                match outline(&node.kind) {
                    Some(outline) => outline,
                    None => return Ok(()),
                }
            }
            NodeKind::Image(image) => return self.image(image, transform),
            NodeKind::Text(text) => return self.text(node, text, transform),
            NodeKind::Group(_) => return Ok(()),
        };
        if let Some(brush) = node.fill.as_ref().and_then(paint::brush)
            && !brush.is_invisible()
        {
            budget::check_path(&path, transform, 0.0).map_err(|e| e.at(self.json_path()))?;
            self.commands.push(Command::FillPath(FillPath {
                path: path.clone(),
                transform,
                brush,
                brush_transform: Affine::IDENTITY,
                fill_rule,
            }));
        }
        if let Some(stroke) = &node.stroke
            && let Some(mut style) = paint::stroke_style(stroke)
            && let Some(mut brush) = paint::brush(&stroke.paint)
            && !brush.is_invisible()
        {
            let place = || self.json_path();
            // Half the width, or more at miter joins: what a stroke adds around its path.
            let grow = style.width / 2.0 * style.miter_limit.max(1.0);
            budget::check_path(&path, transform, grow).map_err(|e| e.at(place()))?;
            if !style.dash_pattern.is_empty() {
                let dashing = budget::check_dashes(&path, &style.dash_pattern, transform)
                    .map_err(|e| e.at(place()))?;
                if let Dashing::Solid { coverage } = dashing {
                    style.dash_pattern.clear();
                    brush = brush.multiply_alpha(coverage);
                }
            }
            self.commands.push(Command::StrokePath(StrokePath {
                path,
                transform,
                style,
                brush,
                brush_transform: Affine::IDENTITY,
            }));
        }
        Ok(())
    }

    fn image(&mut self, node: &'a ImageNode, transform: Affine) -> Result<()> {
        if !(node.width > 0.0 && node.height > 0.0) {
            return Ok(());
        }
        let bounds = Rect::new(node.x, node.y, node.x + node.width, node.y + node.height);
        let res = &mut *self.resources;
        let entry = res
            .images
            .get(
                self.document,
                &node.asset,
                res.resolver,
                res.limits,
                res.lenient,
                &mut res.warnings,
            )
            .map_err(|e| match e.path() {
                Some(_) => e,
                None => e.at(format!("{}.asset", self.json_path())),
            })?;
        let decoded = match entry {
            ImageEntry::Ready(decoded) => decoded,
            ImageEntry::Missing => {
                self.placeholder(bounds, transform);
                return Ok(());
            }
        };
        let (image_transform, rect) = image::fit(
            decoded.width(),
            decoded.height(),
            bounds,
            node.fit.unwrap_or_default(),
        );
        if rect.is_zero_area() {
            return Ok(());
        }
        let device = transform * image_transform;
        let [a, b, c, d, _, _] = device.as_coeffs();
        let scale = a.hypot(b).max(c.hypot(d));
        let levels = decoded.levels_for_scale(scale);
        let (image, image_transform) = if levels == 0 {
            (decoded, image_transform)
        } else {
            let half = decoded.halved(levels);
            let sx = f64::from(decoded.width()) / f64::from(half.width());
            let sy = f64::from(decoded.height()) / f64::from(half.height());
            (half, image_transform * Affine::scale_non_uniform(sx, sy))
        };
        self.commands.push(Command::DrawImage(DrawImage {
            image,
            transform,
            image_transform,
            rect,
            quality: ImageQuality::Medium,
            alpha: 1.0,
        }));
        Ok(())
    }

    fn text(&mut self, node: &Node, text: &TextNode, transform: Affine) -> Result<()> {
        let Some(brush) = node.effective_fill().as_ref().and_then(paint::brush) else {
            return Ok(());
        };
        if brush.is_invisible() || text.text.trim().is_empty() {
            return Ok(());
        }
        let layout = super::text::layout(text, &self.resources.fonts);
        if let Some(warning) = &layout.warning {
            let warning = format!("{}.font: {warning}", self.json_path());
            if !self.resources.warnings.contains(&warning) {
                self.resources.warnings.push(warning);
            }
        }
        let glyphs = layout.runs.iter().map(|run| run.glyphs.len()).sum();
        if glyphs == 0 {
            return Ok(());
        }
        budget::check_text(glyphs, text.size, transform).map_err(|e| e.at(self.json_path()))?;
        self.commands.push(Command::DrawText(DrawText {
            layout,
            transform,
            brush,
            brush_transform: Affine::IDENTITY,
        }));
        Ok(())
    }

    /// A light grey box with a red cross where a missing image would be.
    fn placeholder(&mut self, bounds: Rect, transform: Affine) {
        let grey = Brush::Solid(paint::color(Color::rgba(0xe0, 0xe0, 0xe0, 0xff)));
        let red = Brush::Solid(paint::color(Color::rgba(0xff, 0x00, 0x00, 0xff)));
        self.commands.push(Command::FillPath(FillPath {
            path: Cow::Owned(bounds.to_path(0.1)),
            transform,
            brush: grey,
            brush_transform: Affine::IDENTITY,
            fill_rule: peniko::Fill::NonZero,
        }));
        let mut cross = BezPath::new();
        cross.move_to((bounds.x0, bounds.y0));
        cross.line_to((bounds.x1, bounds.y1));
        cross.move_to((bounds.x1, bounds.y0));
        cross.line_to((bounds.x0, bounds.y1));
        let width = (bounds.width().min(bounds.height()) / 25.0).max(f64::EPSILON);
        self.commands.push(Command::StrokePath(StrokePath {
            path: Cow::Owned(cross),
            transform,
            style: kurbo::Stroke::new(width),
            brush: red,
            brush_transform: Affine::IDENTITY,
        }));
    }
}

fn fold(brush: &mut Brush, opacity: f32) -> Result<()> {
    let taken = std::mem::replace(brush, Brush::Solid(AlphaColor::TRANSPARENT));
    *brush = taken.multiply_alpha(opacity);
    Ok(())
}

/// Whether a transform is finite and does not squash everything flat.
fn is_usable(t: Affine) -> bool {
    let det = t.determinant();
    t.is_finite() && det != 0.0 && det.is_finite()
}

/// The outline of a shape node and its fill rule; `None` for an empty shape (as SVG, a
/// zero width, height or radius disables rendering).
fn outline(kind: &NodeKind) -> Option<(Cow<'_, BezPath>, peniko::Fill)> {
    match kind {
        NodeKind::Rect(r) => (r.width > 0.0 && r.height > 0.0).then(|| {
            let path = shapes::rounded_rect(r.x, r.y, r.width, r.height, r.radii());
            (Cow::Owned(path), peniko::Fill::NonZero)
        }),
        NodeKind::Ellipse(e) => (e.rx > 0.0 && e.ry > 0.0).then(|| {
            let path = shapes::ellipse(e.cx, e.cy, e.rx, e.ry);
            (Cow::Owned(path), peniko::Fill::NonZero)
        }),
        NodeKind::Path(p) => (!p.outline.elements().is_empty()).then(|| {
            let rule = match p.fill_rule.unwrap_or_default() {
                FillRule::NonZero => peniko::Fill::NonZero,
                FillRule::EvenOdd => peniko::Fill::EvenOdd,
            };
            (Cow::Borrowed(&p.outline), rule)
        }),
        _ => None,
    }
}

/// A group's clip: the clip node's outline with its own transform after the group's.
/// `None` when the clip shape is empty (or squashed flat), which hides the group.
fn clip(node: &Node, group: Affine) -> Option<Clip<'_>> {
    let transform = group * Affine::new(node.transform());
    if !is_usable(transform) {
        return None;
    }
    let (path, fill_rule) = outline(&node.kind)?;
    Some(Clip {
        path,
        transform,
        fill_rule,
    })
}
