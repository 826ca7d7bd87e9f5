//! The backend-neutral [`Scene`] as a vello scene, and an estimate of the GPU memory it
//! needs.
//!
//! One match over [`Command`], as the CPU backend has: every node type reaches the GPU
//! through the same scene commands.

use kurbo::{Affine, BezPath, PathEl, Rect, Shape};
use vello::peniko::{self, BlendMode, Compose, Extend, ImageBrush, ImageSampler};

use super::super::Deadline;
use super::super::paint::Brush;
use super::super::scene::{Command, Scene};
use crate::Result;

/// What a scene asks of vello's fixed-size GPU buffers, estimated from above: flattened
/// line segments and 16 × 16 tiles touched by path bounding boxes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Weight {
    pub(crate) lines: u64,
    pub(crate) tiles: u64,
}

impl Weight {
    pub(crate) fn add(&mut self, other: Weight) {
        self.lines = self.lines.saturating_add(other.lines);
        self.tiles = self.tiles.saturating_add(other.tiles);
    }

    pub(crate) fn fits(&self, budget: Weight) -> bool {
        self.lines <= budget.lines && self.tiles <= budget.tiles
    }
}

/// Line segments counted for one curve (a quadratic or cubic Bézier): vello flattens to
/// a quarter of a pixel, which takes a handful of lines for a curve of thumbnail size;
/// this errs high.
const LINES_PER_CURVE: u64 = 16;
/// Curves counted for one glyph outline (those of the bundled and usual fonts have 10
/// to 60).
const CURVES_PER_GLYPH: f64 = 60.0;

/// Converts `scene` for vello and estimates its weight.
///
/// Errors: [`crate::ErrorKind::RenderTimeout`] once `deadline` passes (checked between
/// commands).
pub(crate) fn encode(scene: &Scene<'_>, deadline: &Deadline) -> Result<(vello::Scene, Weight)> {
    let mut out = vello::Scene::new();
    let mut weight = Weight::default();
    let canvas = Rect::new(0.0, 0.0, f64::from(scene.width), f64::from(scene.height));
    for command in &scene.commands {
        deadline.check()?;
        match command {
            Command::PushLayer(layer) => {
                let blend = BlendMode::new(layer.mix, Compose::SrcOver);
                match &layer.clip {
                    Some(clip) => {
                        weight.add(path_weight(&clip.path, clip.transform, 0.0, canvas));
                        out.push_layer(
                            clip.fill_rule,
                            blend,
                            layer.opacity,
                            clip.transform,
                            &*clip.path,
                        );
                    }
                    None => {
                        weight.add(rect_weight(canvas, Affine::IDENTITY, canvas));
                        out.push_layer(
                            peniko::Fill::NonZero,
                            blend,
                            layer.opacity,
                            Affine::IDENTITY,
                            &canvas,
                        );
                    }
                }
            }
            Command::PopLayer => out.pop_layer(),
            Command::FillPath(fill) => {
                weight.add(path_weight(&fill.path, fill.transform, 0.0, canvas));
                let (brush, brush_transform) =
                    paint(&fill.brush, fill.transform, fill.brush_transform);
                out.fill(
                    fill.fill_rule,
                    fill.transform,
                    &brush,
                    brush_transform,
                    &*fill.path,
                );
            }
            Command::StrokePath(stroke) => {
                // Both sides of the outline, the joins and the caps.
                let mut w = path_weight(&stroke.path, stroke.transform, stroke.style.width, canvas);
                w.lines = w.lines.saturating_mul(3);
                weight.add(w);
                let (brush, brush_transform) =
                    paint(&stroke.brush, stroke.transform, stroke.brush_transform);
                out.stroke(
                    &stroke.style,
                    stroke.transform,
                    &brush,
                    brush_transform,
                    &*stroke.path,
                );
            }
            Command::DrawImage(draw) => {
                weight.add(rect_weight(draw.rect, draw.transform, canvas));
                let image = ImageBrush {
                    image: draw.image.gpu_image(),
                    sampler: ImageSampler {
                        x_extend: Extend::Pad,
                        y_extend: Extend::Pad,
                        quality: draw.quality,
                        alpha: draw.alpha.clamp(0.0, 1.0),
                    },
                };
                out.fill(
                    peniko::Fill::NonZero,
                    draw.transform,
                    &image,
                    Some(draw.image_transform),
                    &draw.rect,
                );
            }
            Command::DrawText(text) => {
                let (brush, brush_transform) =
                    paint(&text.brush, text.transform, text.brush_transform);
                for run in &text.layout.runs {
                    let glyphs = run.glyphs.len() as u64;
                    let em = f64::from(run.size) * text.transform.determinant().abs().sqrt();
                    let per_glyph_tiles = ((em / 16.0).ceil() + 1.0).powi(2) as u64;
                    // A curve of a quarter em flattens to about √(em / 8) lines.
                    let per_glyph_lines = (CURVES_PER_GLYPH * (1.0 + (em / 8.0).sqrt())) as u64;
                    weight.add(Weight {
                        lines: glyphs.saturating_mul(per_glyph_lines),
                        tiles: glyphs.saturating_mul(per_glyph_tiles),
                    });
                    out.draw_glyphs(&run.font)
                        .font_size(run.size)
                        .transform(text.transform)
                        .brush(&brush)
                        .brush_transform(brush_transform)
                        .hint(false)
                        .draw(
                            peniko::Fill::NonZero,
                            run.glyphs.iter().map(|g| vello::Glyph {
                                id: g.id,
                                x: g.x,
                                y: g.y,
                            }),
                        );
                }
            }
        }
    }
    Ok((out, weight))
}

/// The brush and brush transform to hand vello for `brush` on a shape drawn with
/// `transform`.
///
/// vello 0.11 maps a linear gradient's two points to the output and takes the lines
/// perpendicular to them there (`draw_leaf.wgsl`), which is what SVG and CSS draw only
/// when the transform keeps angles. Under a skew or an uneven scale the lines of equal
/// colour must be the images of the gradient's own perpendiculars, so such a gradient is
/// restated here in output space, with the points that give those lines, and drawn with
/// a brush transform that undoes `transform`.
fn paint(
    brush: &Brush,
    transform: Affine,
    brush_transform: Affine,
) -> (peniko::Brush, Option<Affine>) {
    let as_given = |b: peniko::Brush| {
        (
            b,
            (brush_transform != Affine::IDENTITY).then_some(brush_transform),
        )
    };
    let gradient = match brush {
        Brush::Solid(color) => return as_given(peniko::Brush::Solid(*color)),
        Brush::Gradient(gradient) => gradient,
    };
    let peniko::GradientKind::Linear(line) = gradient.kind else {
        return as_given(peniko::Brush::Gradient(gradient.clone()));
    };
    let full = transform * brush_transform;
    let [a, b, c, d, _, _] = full.as_coeffs();
    let conformal =
        |x: f64, y: f64| (x - y).abs() <= 1e-9 * (a.abs() + b.abs() + c.abs() + d.abs());
    let det = a * d - b * c;
    if (conformal(a, d) && conformal(b, -c))
        || (conformal(a, -d) && conformal(b, c))
        || det.abs() < 1e-12
    {
        return as_given(peniko::Brush::Gradient(gradient.clone()));
    }
    let inverse_transform = transform.inverse();
    // t(q) = (q − start)·g with g = (end − start) / |end − start|², in brush space; in
    // output space p = full(q): t = (p − full(start))·G with G = full⁻ᵀ g.
    let along = line.end - line.start;
    let length2 = along.hypot2();
    if length2 <= 0.0 {
        return as_given(peniko::Brush::Gradient(gradient.clone()));
    }
    let g = along / length2;
    // full⁻ᵀ of the linear part [[a c] [b d]]: (1 / det) [[d −b] [−c a]].
    let big_g = kurbo::Vec2::new((d * g.x - b * g.y) / det, (-c * g.x + a * g.y) / det);
    let big_g2 = big_g.hypot2();
    if big_g2 <= 0.0 || !big_g2.is_finite() {
        return as_given(peniko::Brush::Gradient(gradient.clone()));
    }
    let start = full * line.start;
    let end = start + big_g / big_g2;
    let mut restated = gradient.clone();
    restated.kind = peniko::GradientKind::Linear(peniko::LinearGradientPosition { start, end });
    (peniko::Brush::Gradient(restated), Some(inverse_transform))
}

/// The weight of `path` under `transform`, its bounding box grown by `halo` local units
/// (half a stroke's width and more), clipped to the canvas.
fn path_weight(path: &BezPath, transform: Affine, halo: f64, canvas: Rect) -> Weight {
    let lines = path
        .elements()
        .iter()
        .map(|el| match el {
            PathEl::MoveTo(_) | PathEl::ClosePath => 1,
            PathEl::LineTo(_) => 1,
            PathEl::QuadTo(..) | PathEl::CurveTo(..) => LINES_PER_CURVE,
        })
        .sum::<u64>();
    let bounds = path.bounding_box().inflate(halo, halo);
    Weight {
        lines,
        tiles: rect_weight(bounds, transform, canvas).tiles,
    }
}

fn rect_weight(rect: Rect, transform: Affine, canvas: Rect) -> Weight {
    let bounds = transform.transform_rect_bbox(rect).intersect(canvas);
    let tiles = if bounds.width() > 0.0 && bounds.height() > 0.0 {
        ((bounds.width() / 16.0).ceil() + 1.0) * ((bounds.height() / 16.0).ceil() + 1.0)
    } else {
        0.0
    };
    Weight {
        lines: 4,
        tiles: tiles as u64,
    }
}
