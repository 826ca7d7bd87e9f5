//! SVG path data (`d`): its cost against the path-command limit, and its outline.
//!
//! The outline comes from `svgtypes::SimplifyingPathParser` (absolute `M`/`L`/`C`/`Q`/`Z`,
//! arcs turned into cubic curves), the geometry resvg uses too. An arc becomes as many
//! curves as its radius needs, and a huge radius would need billions, so [`measure`]
//! counts each arc as the curves it will become before anything is expanded.

use kurbo::BezPath;
use svgtypes::{PathParser, PathSegment, SimplePathSegment, SimplifyingPathParser};

/// The tolerance `SimplifyingPathParser` gives kurbo when it flattens arcs.
const ARC_TOLERANCE: f64 = 0.1;

/// The cost of `d` against the path-command limit: one per command, and for an arc the
/// number of curves it becomes. Errors are messages without the path.
pub(crate) fn measure(d: &str) -> Result<usize, String> {
    let mut cost = 0usize;
    let (mut x, mut y) = (0.0f64, 0.0f64);
    let (mut start_x, mut start_y) = (0.0f64, 0.0f64);
    for segment in PathParser::from(d) {
        let segment = segment.map_err(|e| format!("invalid SVG path data ({e})"))?;
        let (abs, to) = match segment {
            PathSegment::MoveTo { abs, x, y } | PathSegment::LineTo { abs, x, y } => {
                (abs, Some((x, y)))
            }
            PathSegment::HorizontalLineTo { abs, x: nx } => {
                (abs, Some((nx, if abs { y } else { 0.0 })))
            }
            PathSegment::VerticalLineTo { abs, y: ny } => {
                (abs, Some((if abs { x } else { 0.0 }, ny)))
            }
            PathSegment::CurveTo { abs, x, y, .. }
            | PathSegment::SmoothCurveTo { abs, x, y, .. }
            | PathSegment::Quadratic { abs, x, y, .. }
            | PathSegment::SmoothQuadratic { abs, x, y }
            | PathSegment::EllipticalArc { abs, x, y, .. } => (abs, Some((x, y))),
            PathSegment::ClosePath { .. } => (true, None),
        };
        let (nx, ny) = match to {
            Some((tx, ty)) if abs => (tx, ty),
            Some((tx, ty)) => (x + tx, y + ty),
            None => (start_x, start_y),
        };
        if !(nx.is_finite() && ny.is_finite()) {
            return Err("path coordinates too large to represent".into());
        }
        let step = match segment {
            PathSegment::EllipticalArc {
                rx,
                ry,
                x_axis_rotation,
                ..
            } => arc_curves((x, y), (nx, ny), rx, ry, x_axis_rotation)?,
            _ => 1,
        };
        cost = cost.saturating_add(step);
        if matches!(segment, PathSegment::MoveTo { .. }) {
            (start_x, start_y) = (nx, ny);
        }
        (x, y) = (nx, ny);
    }
    Ok(cost)
}

/// An upper bound of the curves kurbo makes of one SVG arc (its `Arc::append_iter`
/// with the radii scaled up as SVG requires), at least 1.
fn arc_curves(
    from: (f64, f64),
    to: (f64, f64),
    rx: f64,
    ry: f64,
    rotation: f64,
) -> Result<usize, String> {
    let (mut rx, mut ry) = (rx.abs(), ry.abs());
    if from == to || rx == 0.0 || ry == 0.0 {
        return Ok(1);
    }
    let (sin, cos) = (rotation.to_radians() % std::f64::consts::TAU).sin_cos();
    let (hx, hy) = ((from.0 - to.0) * 0.5, (from.1 - to.1) * 0.5);
    let (px, py) = (cos * hx + sin * hy, -sin * hx + cos * hy);
    let scale = (px * px / (rx * rx) + py * py / (ry * ry)).sqrt();
    if scale > 1.0 {
        rx *= scale;
        ry *= scale;
    }
    let n = ((1.1163 * rx.max(ry) / ARC_TOLERANCE).powf(1.0 / 6.0))
        .max(4.0)
        .ceil()
        + 1.0;
    if !n.is_finite() || n > 1e12 {
        return Err("an arc too large to draw (its radii are huge)".into());
    }
    // `n` is finite, positive and at most 1e12, so the cast is exact.
    Ok(n as usize)
}

/// The outline of `d` (call [`measure`] first: it refuses data whose arcs would
/// explode). Errors are messages without the path.
pub(crate) fn outline(d: &str) -> Result<BezPath, String> {
    let mut path = BezPath::new();
    for segment in SimplifyingPathParser::from(d) {
        let segment = segment.map_err(|e| format!("invalid SVG path data ({e})"))?;
        match segment {
            SimplePathSegment::MoveTo { x, y } => path.move_to((x, y)),
            SimplePathSegment::LineTo { x, y } => path.line_to((x, y)),
            SimplePathSegment::CurveTo {
                x1,
                y1,
                x2,
                y2,
                x,
                y,
            } => path.curve_to((x1, y1), (x2, y2), (x, y)),
            SimplePathSegment::Quadratic { x1, y1, x, y } => path.quad_to((x1, y1), (x, y)),
            SimplePathSegment::ClosePath => path.close_path(),
        }
    }
    let finite = path
        .elements()
        .iter()
        .all(|el| el.end_point().is_none_or(|p| p.is_finite()) && control_points_finite(el));
    if !finite {
        return Err("path coordinates too large to represent".into());
    }
    Ok(path)
}

fn control_points_finite(el: &kurbo::PathEl) -> bool {
    match *el {
        kurbo::PathEl::QuadTo(a, _) => a.is_finite(),
        kurbo::PathEl::CurveTo(a, b, _) => a.is_finite() && b.is_finite(),
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kurbo::{PathEl, Point};

    #[test]
    fn commands_are_counted() {
        assert_eq!(measure("").unwrap(), 0);
        assert_eq!(measure("M0 0 L10 0 L10 10 Z").unwrap(), 4);
        // Implicit repetitions count as commands, as in SVG.
        assert_eq!(measure("M0 0 10 0 10 10z").unwrap(), 4);
        assert_eq!(
            measure("m0 0 h10 v10 H0 V0 c1 1 2 2 3 3 s1 1 2 2 q1 1 2 2 t3 3 z").unwrap(),
            10
        );
    }

    #[test]
    fn arcs_count_the_curves_they_become() {
        let cost = measure("M0 0 A50 50 0 1 1 100 0").unwrap();
        let outline = outline("M0 0 A50 50 0 1 1 100 0").unwrap();
        let curves = outline
            .elements()
            .iter()
            .filter(|e| matches!(e, PathEl::CurveTo(..)))
            .count();
        assert!(cost > curves, "cost {cost} must bound the {curves} curves");
        assert!(cost < 16, "{cost}");
    }

    #[test]
    fn huge_arcs_are_refused_before_they_are_expanded() {
        // Radii this lopsided scale to 1e200 and would make ~1e33 curves.
        let d = "M0 0 A1e100 1e-100 0 1 1 1 1";
        let started = std::time::Instant::now();
        let err = measure(d).unwrap_err();
        assert!(err.contains("arc too large"), "{err}");
        assert!(started.elapsed().as_millis() < 100);
    }

    #[test]
    fn outlines_are_absolute_with_arcs_as_curves() {
        let path = outline("m10 10 l5 0 v5 a5 5 0 0 1 -5 5 z").unwrap();
        let els = path.elements();
        assert_eq!(els[0], PathEl::MoveTo(Point::new(10.0, 10.0)));
        assert_eq!(els[1], PathEl::LineTo(Point::new(15.0, 10.0)));
        assert_eq!(els[2], PathEl::LineTo(Point::new(15.0, 15.0)));
        assert!(matches!(els[3], PathEl::CurveTo(..)));
        assert_eq!(els.last(), Some(&PathEl::ClosePath));
    }

    #[test]
    fn bad_data_is_an_error_with_a_position() {
        let err = measure("M0 0 L10 x").unwrap_err();
        assert!(err.starts_with("invalid SVG path data ("), "{err}");
        assert!(err.contains("position"), "{err}");
        assert!(
            measure("L10 10").is_err(),
            "path data must start with a move"
        );
    }

    #[test]
    fn overflowing_coordinates_are_refused() {
        let err = measure("M1e308 0 l1e308 0").unwrap_err();
        assert!(err.contains("too large"), "{err}");
    }
}
