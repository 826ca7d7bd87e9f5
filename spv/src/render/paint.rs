//! Document paints, strokes and blend modes in peniko/kurbo terms.
//!
//! Colours are unpremultiplied sRGB; gradients live in the node's local space (SVG
//! `userSpaceOnUse`), pad beyond their ends and interpolate in sRGB without
//! premultiplying, as SVG renderers do. Degenerate gradients follow SVG: a linear
//! gradient whose ends coincide, or a radial one of radius 0, paints its last stop.
//!
//! (The example of this module is its test `brushes_and_blend_modes`.)

use vello_cpu::peniko::color::{AlphaColor, Srgb};
use vello_cpu::peniko::{
    self, ColorStop, ColorStops, Extend, Gradient, InterpolationAlphaSpace, LinearGradientPosition,
    Mix, RadialGradientPosition,
};

use crate::glyph::{self, BlendMode, Color, LineCap, LineJoin, Paint};

/// A brush: what fills or strokes a shape.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Brush {
    /// One colour, unpremultiplied sRGB.
    Solid(AlphaColor<Srgb>),
    /// A linear or radial gradient, in the same space as the path it paints.
    Gradient(Gradient),
}

impl Brush {
    /// The brush with its alpha multiplied by `alpha` (to fold a node's opacity into its
    /// only paint).
    pub(crate) fn multiply_alpha(self, alpha: f32) -> Brush {
        match self {
            Brush::Solid(c) => Brush::Solid(c.multiply_alpha(alpha)),
            Brush::Gradient(g) => Brush::Gradient(g.multiply_alpha(alpha)),
        }
    }

    /// Whether the brush paints nothing at all (fully transparent everywhere).
    pub(crate) fn is_invisible(&self) -> bool {
        match self {
            Brush::Solid(c) => c.components[3] <= 0.0,
            Brush::Gradient(g) => g.stops.iter().all(|s| s.color.components[3] <= 0.0),
        }
    }
}

/// A document colour as a peniko colour.
pub(crate) fn color(c: Color) -> AlphaColor<Srgb> {
    AlphaColor::from_rgba8(c.r, c.g, c.b, c.a)
}

/// A document paint as a brush; `None` when it paints nothing (a gradient without
/// stops).
pub(crate) fn brush(paint: &Paint) -> Option<Brush> {
    match paint {
        Paint::Solid(c) => Some(Brush::Solid(color(*c))),
        Paint::Linear(g) => {
            let (from, to) = (g.from, g.to);
            let degenerate = from == to;
            let kind = LinearGradientPosition::new((from[0], from[1]), (to[0], to[1]));
            gradient(kind.into(), &g.stops, degenerate)
        }
        Paint::Radial(g) => {
            let radius = g.radius as f32;
            let degenerate = !(radius > 0.0 && radius.is_finite());
            let kind = RadialGradientPosition::new((g.center[0], g.center[1]), radius);
            gradient(kind.into(), &g.stops, degenerate)
        }
    }
}

fn gradient(kind: peniko::GradientKind, stops: &[glyph::Stop], degenerate: bool) -> Option<Brush> {
    let last = stops.last()?;
    if degenerate || stops.len() == 1 {
        return Some(Brush::Solid(color(last.1)));
    }
    // Offsets clamped to 0..1 and made non-decreasing, as SVG does; repeated offsets make
    // hard edges.
    let mut previous = 0.0f32;
    let stops: ColorStops = stops
        .iter()
        .map(|(offset, c)| {
            let offset = (*offset as f32).clamp(0.0, 1.0).max(previous);
            previous = offset;
            ColorStop::from((offset, color(*c)))
        })
        .collect::<Vec<_>>()
        .as_slice()
        .into();
    Some(Brush::Gradient(Gradient {
        kind,
        extend: Extend::Pad,
        interpolation_alpha_space: InterpolationAlphaSpace::Unpremultiplied,
        stops,
        ..Gradient::default()
    }))
}

/// A stroke's geometry as a [`kurbo::Stroke`]; `None` when it draws nothing (a width
/// that is not positive).
pub(crate) fn stroke_style(stroke: &glyph::Stroke) -> Option<kurbo::Stroke> {
    let width = stroke.width();
    if !(width > 0.0 && width.is_finite()) {
        return None;
    }
    let mut style = kurbo::Stroke::new(width)
        .with_join(match stroke.join() {
            LineJoin::Miter => kurbo::Join::Miter,
            LineJoin::Round => kurbo::Join::Round,
            LineJoin::Bevel => kurbo::Join::Bevel,
        })
        .with_caps(match stroke.cap() {
            LineCap::Butt => kurbo::Cap::Butt,
            LineCap::Round => kurbo::Cap::Round,
            LineCap::Square => kurbo::Cap::Square,
        })
        .with_miter_limit(stroke.miter_limit().max(1.0));
    // SVG: a negative or non-finite value disables dashing.
    if let Some(pattern) = stroke.dash_pattern()
        && pattern.iter().all(|d| *d >= 0.0 && d.is_finite())
    {
        style = style.with_dashes(0.0, pattern);
    }
    Some(style)
}

/// The peniko colour-mixing function of a CSS blend mode.
pub(crate) fn mix(blend: BlendMode) -> Mix {
    match blend {
        BlendMode::Normal => Mix::Normal,
        BlendMode::Multiply => Mix::Multiply,
        BlendMode::Screen => Mix::Screen,
        BlendMode::Overlay => Mix::Overlay,
        BlendMode::Darken => Mix::Darken,
        BlendMode::Lighten => Mix::Lighten,
        BlendMode::ColorDodge => Mix::ColorDodge,
        BlendMode::ColorBurn => Mix::ColorBurn,
        BlendMode::HardLight => Mix::HardLight,
        BlendMode::SoftLight => Mix::SoftLight,
        BlendMode::Difference => Mix::Difference,
        BlendMode::Exclusion => Mix::Exclusion,
        BlendMode::Hue => Mix::Hue,
        BlendMode::Saturation => Mix::Saturation,
        BlendMode::Color => Mix::Color,
        BlendMode::Luminosity => Mix::Luminosity,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glyph::{LinearGradient, LinearTag, RadialGradient, RadialTag};

    const RED: Color = Color::rgba(255, 0, 0, 255);
    const BLUE: Color = Color::rgba(0, 0, 255, 255);

    fn linear(from: [f64; 2], to: [f64; 2], stops: Vec<glyph::Stop>) -> Paint {
        Paint::Linear(LinearGradient {
            kind: LinearTag::Linear,
            from,
            to,
            stops,
            extra: Default::default(),
        })
    }

    #[test]
    fn every_blend_mode_maps_to_its_own_mix() {
        let mixes: Vec<Mix> = BlendMode::ALL.iter().map(|b| mix(*b)).collect();
        assert_eq!(mixes.len(), 16);
        for (i, a) in mixes.iter().enumerate() {
            assert_eq!(mixes.iter().filter(|b| *b == a).count(), 1, "{i}");
        }
        assert_eq!(mix(BlendMode::Luminosity), Mix::Luminosity);
    }

    #[test]
    fn gradient_offsets_are_clamped_and_non_decreasing() {
        let paint = linear(
            [0.0, 0.0],
            [10.0, 0.0],
            vec![(0.5, RED), (0.2, BLUE), (1.5, RED)],
        );
        let Some(Brush::Gradient(g)) = brush(&paint) else {
            panic!("expected a gradient")
        };
        let offsets: Vec<f32> = g.stops.iter().map(|s| s.offset).collect();
        assert_eq!(offsets, [0.5, 0.5, 1.0]);
        assert_eq!(g.extend, Extend::Pad);
        assert_eq!(
            g.interpolation_alpha_space,
            InterpolationAlphaSpace::Unpremultiplied
        );
    }

    #[test]
    fn degenerate_gradients_paint_the_last_stop() {
        let paint = linear([3.0, 3.0], [3.0, 3.0], vec![(0.0, RED), (1.0, BLUE)]);
        assert_eq!(brush(&paint), Some(Brush::Solid(color(BLUE))));
        let radial = Paint::Radial(RadialGradient {
            kind: RadialTag::Radial,
            center: [0.0, 0.0],
            radius: 0.0,
            stops: vec![(0.0, RED), (1.0, BLUE)],
            extra: Default::default(),
        });
        assert_eq!(brush(&radial), Some(Brush::Solid(color(BLUE))));
        let one = linear([0.0, 0.0], [1.0, 0.0], vec![(0.3, RED)]);
        assert_eq!(brush(&one), Some(Brush::Solid(color(RED))));
        assert_eq!(brush(&linear([0.0, 0.0], [1.0, 0.0], vec![])), None);
    }

    #[test]
    fn stroke_defaults_and_dashes() {
        let mut stroke = glyph::Stroke {
            paint: Paint::Solid(RED),
            width: None,
            join: None,
            cap: None,
            miter_limit: None,
            dash: Some(vec![5.0]),
            extra: Default::default(),
        };
        let style = stroke_style(&stroke).unwrap();
        assert_eq!(style.width, 1.0);
        assert_eq!(style.join, kurbo::Join::Miter);
        assert_eq!(style.start_cap, kurbo::Cap::Butt);
        assert_eq!(style.miter_limit, 4.0);
        assert_eq!(style.dash_pattern.as_slice(), [5.0, 5.0]);
        stroke.dash = Some(vec![5.0, -1.0]);
        assert!(stroke_style(&stroke).unwrap().dash_pattern.is_empty());
        stroke.width = Some(0.0);
        assert!(stroke_style(&stroke).is_none());
    }
}

#[cfg(test)]
mod example {
    use crate::glyph::{BlendMode, Color, Paint};
    use crate::render::paint::{Brush, brush, mix};
    use vello_cpu::peniko::Mix;

    /// The module's example.
    #[test]
    fn brushes_and_blend_modes() {
        let red = brush(&Paint::Solid(Color::rgba(255, 0, 0, 255))).unwrap();
        assert!(matches!(red, Brush::Solid(c) if c.to_rgba8().to_u32() == 0xff0000ff));
        assert_eq!(mix(BlendMode::ColorDodge), Mix::ColorDodge);
    }
}
