//! The rules of paints and strokes: finite points, stops, radii, widths, dashes.

use super::{Checker, Range};
use crate::glyph::parse::jpath::{JsonPath, num};
use crate::glyph::{Paint, Stop, Stroke};

impl Checker<'_> {
    pub(crate) fn paint(&mut self, paint: &Paint, path: &JsonPath<'_>) {
        match paint {
            Paint::Solid(_) => {}
            Paint::Linear(g) => {
                self.point(g.from, &path.key("from"));
                self.point(g.to, &path.key("to"));
                self.stops(&g.stops, &path.key("stops"));
            }
            Paint::Radial(g) => {
                self.point(g.center, &path.key("center"));
                self.number(&path.key("radius"), g.radius, Range::NonNegative);
                self.stops(&g.stops, &path.key("stops"));
            }
        }
    }

    fn point(&mut self, point: [f64; 2], path: &JsonPath<'_>) {
        for (i, v) in point.iter().enumerate() {
            self.number(&path.index(i), *v, Range::Finite);
        }
    }

    /// At least one stop; offsets in `0..=1`, never decreasing.
    fn stops(&mut self, stops: &[Stop], path: &JsonPath<'_>) {
        if stops.is_empty() {
            return self.error(path, "a gradient needs at least one stop");
        }
        let mut previous: Option<f64> = None;
        for (i, (offset, _)) in stops.iter().enumerate() {
            let stop = path.index(i);
            let at = stop.index(0);
            if !Range::Unit.contains(*offset) {
                self.number(&at, *offset, Range::Unit);
                continue;
            }
            if let Some(prev) = previous.filter(|p| offset < p) {
                let message = format!(
                    "{} is less than the previous stop's offset {} (offsets must not decrease)",
                    num(*offset),
                    num(prev)
                );
                self.error(&at, message);
            } else {
                previous = Some(*offset);
            }
        }
    }

    pub(crate) fn stroke(&mut self, stroke: &Stroke, path: &JsonPath<'_>) {
        self.paint(&stroke.paint, &path.key("paint"));
        if let Some(width) = stroke.width {
            self.number(&path.key("width"), width, Range::NonNegative);
        }
        if let Some(limit) = stroke.miter_limit {
            self.number(&path.key("miterLimit"), limit, Range::AtLeastOne);
        }
        if let Some(dash) = &stroke.dash {
            let at = path.key("dash");
            for (i, v) in dash.iter().enumerate() {
                self.number(&at.index(i), *v, Range::NonNegative);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::glyph::parse::jpath::JsonPath;
    use crate::glyph::{Color, Limits, LinearGradient, LinearTag};

    #[test]
    fn non_finite_points_of_hand_built_gradients_are_errors() {
        let limits = Limits::default();
        let mut c = Checker::new(&limits, 10);
        let gradient = Paint::Linear(LinearGradient {
            kind: LinearTag::Linear,
            from: [f64::INFINITY, 0.0],
            to: [1.0, f64::NAN],
            stops: vec![(0.0, Color::BLACK)],
            extra: Default::default(),
        });
        c.paint(&gradient, &JsonPath::Root.key("fill"));
        let errors: Vec<String> = c.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            errors,
            [
                "fill.from[0]: inf is not a finite number",
                "fill.to[1]: NaN is not a finite number"
            ]
        );
    }
}
