//! Outlines of the format's shapes, built by hand so that they start where the format
//! says (this is where a dash pattern starts).
//!
//! A `rect` starts on its top edge just after the top-left corner's radius; an `ellipse`
//! at its rightmost point; both run clockwise on screen (towards +x along the top edge,
//! down first from the rightmost point), as SVG's `rect` and `ellipse`.
//!
//! (The example of this module is its test `an_ellipse_starts_at_its_rightmost_point`.)

use std::f64::consts::{FRAC_PI_2, PI};

use kurbo::{BezPath, Point, Vec2};

/// Cubic segments per quarter turn: two keep the largest radial error near 4·10⁻⁶ of
/// the radius (a fraction of a pixel even for a 16,384 px circle); one would be 3·10⁻⁴.
const CUBICS_PER_QUARTER: usize = 2;

/// A rectangle with corner radii `[top-left, top-right, bottom-right, bottom-left]`
/// (already clamped, as [`crate::glyph::RectNode::radii`] gives them).
pub(crate) fn rounded_rect(x: f64, y: f64, width: f64, height: f64, radii: [f64; 4]) -> BezPath {
    let [tl, tr, br, bl] = radii;
    let (x1, y1) = (x + width, y + height);
    let mut path = BezPath::new();
    path.move_to((x + tl, y));
    line_to(&mut path, Point::new(x1 - tr, y));
    quarter(&mut path, Point::new(x1 - tr, y + tr), tr, -FRAC_PI_2);
    line_to(&mut path, Point::new(x1, y1 - br));
    quarter(&mut path, Point::new(x1 - br, y1 - br), br, 0.0);
    line_to(&mut path, Point::new(x + bl, y1));
    quarter(&mut path, Point::new(x + bl, y1 - bl), bl, FRAC_PI_2);
    line_to(&mut path, Point::new(x, y + tl));
    quarter(&mut path, Point::new(x + tl, y + tl), tl, PI);
    path.close_path();
    path
}

/// An ellipse starting at its rightmost point and running clockwise on screen.
pub(crate) fn ellipse(cx: f64, cy: f64, rx: f64, ry: f64) -> BezPath {
    let mut path = BezPath::new();
    path.move_to((cx + rx, cy));
    arc(&mut path, Point::new(cx, cy), Vec2::new(rx, ry), 0.0, 4);
    path.close_path();
    path
}

fn line_to(path: &mut BezPath, p: Point) {
    if path.elements().last().and_then(|el| el.end_point()) != Some(p) {
        path.line_to(p);
    }
}

/// A quarter circle of radius `r` around `center` from angle `start` (radians, y down so
/// increasing angles turn clockwise on screen); nothing for a zero radius.
fn quarter(path: &mut BezPath, center: Point, r: f64, start: f64) {
    if r > 0.0 {
        arc(path, center, Vec2::new(r, r), start, 1);
    }
}

/// `quarters` quarter turns of an axis-aligned ellipse from angle `start`, as cubics.
fn arc(path: &mut BezPath, center: Point, radii: Vec2, start: f64, quarters: usize) {
    let segments = quarters * CUBICS_PER_QUARTER;
    let step = FRAC_PI_2 / CUBICS_PER_QUARTER as f64;
    // Control-point distance of a cubic approximating an arc of `step` radians.
    let k = 4.0 / 3.0 * (step / 4.0).tan();
    let point = |t: f64| center + Vec2::new(radii.x * t.cos(), radii.y * t.sin());
    let tangent = |t: f64| Vec2::new(-radii.x * t.sin(), radii.y * t.cos());
    for i in 0..segments {
        let t0 = start + step * i as f64;
        let t1 = t0 + step;
        let (p0, p3) = (point(t0), point(t1));
        path.curve_to(p0 + tangent(t0) * k, p3 - tangent(t1) * k, p3);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kurbo::{ParamCurve, PathEl, Shape};

    fn points(path: &BezPath) -> Vec<Point> {
        path.elements()
            .iter()
            .filter_map(|el| el.end_point())
            .collect()
    }

    fn close(a: Point, b: Point) -> bool {
        (a - b).hypot() < 1e-9
    }

    #[test]
    fn sharp_rect_starts_top_left_and_runs_clockwise() {
        let path = rounded_rect(10.0, 20.0, 30.0, 40.0, [0.0; 4]);
        let expected = [
            (10.0, 20.0),
            (40.0, 20.0),
            (40.0, 60.0),
            (10.0, 60.0),
            (10.0, 20.0),
        ];
        let got = points(&path);
        assert_eq!(got.len(), expected.len(), "{got:?}");
        for (g, e) in got.iter().zip(expected) {
            assert!(close(*g, e.into()), "{got:?}");
        }
        assert_eq!(path.elements().last(), Some(&PathEl::ClosePath));
        // Positive area in a y-down system means clockwise on screen.
        assert!(path.area() > 0.0);
    }

    #[test]
    fn rounded_rect_starts_after_the_top_left_radius() {
        let path = rounded_rect(0.0, 0.0, 100.0, 50.0, [10.0, 5.0, 0.0, 20.0]);
        let pts = points(&path);
        assert!(close(pts[0], Point::new(10.0, 0.0)));
        assert!(
            close(pts[1], Point::new(95.0, 0.0)),
            "towards +x first: {pts:?}"
        );
        assert!(pts.iter().any(|p| close(*p, Point::new(100.0, 5.0))));
        assert!(pts.iter().any(|p| close(*p, Point::new(20.0, 50.0))));
        assert!(pts.iter().any(|p| close(*p, Point::new(0.0, 30.0))));
        assert!(close(*pts.last().unwrap(), Point::new(10.0, 0.0)));
        // Area of the rect less the corner cut-offs (1 - π/4) r².
        let cut = (1.0 - PI / 4.0) * (100.0 + 25.0 + 400.0);
        assert!(
            (path.area() - (5000.0 - cut)).abs() < 0.01,
            "{}",
            path.area()
        );
    }

    #[test]
    fn ellipse_starts_rightmost_and_goes_down_first() {
        let path = ellipse(50.0, 40.0, 20.0, 10.0);
        let pts = points(&path);
        assert!(close(pts[0], Point::new(70.0, 40.0)));
        // After a quarter turn (two cubics) it is at the bottom.
        assert!(close(pts[2], Point::new(50.0, 50.0)), "{pts:?}");
        assert!(close(pts[4], Point::new(30.0, 40.0)));
        assert!(close(pts[6], Point::new(50.0, 30.0)));
        assert!(path.area() > 0.0);
        assert!((path.area() - PI * 200.0).abs() < 1e-2, "{}", path.area());
    }

    #[test]
    fn circle_stays_on_the_circle() {
        let r = 10_000.0;
        let path = ellipse(0.0, 0.0, r, r);
        for seg in path.segments() {
            for i in 0..=16 {
                let p = seg.eval(i as f64 / 16.0);
                assert!((p.to_vec2().hypot() - r).abs() < 0.1, "{p:?}");
            }
        }
    }
}

#[cfg(test)]
mod example {
    use crate::render::shapes::ellipse;
    use kurbo::{PathEl, Point};

    /// The module's example.
    #[test]
    fn an_ellipse_starts_at_its_rightmost_point() {
        let path = ellipse(50.0, 50.0, 20.0, 10.0);
        assert_eq!(path.elements()[0], PathEl::MoveTo(Point::new(70.0, 50.0)));
    }
}
