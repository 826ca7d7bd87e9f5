//! Work budgets for single drawing commands.
//!
//! The render deadline is checked between commands, but one command can be made to
//! take minutes by a small document: a curve reaching 10¹⁵ pixels flattens into
//! millions of segments, and a long path with a tiny dash pattern has billions of
//! dashes. These checks estimate that work up front and refuse it with
//! [`ErrorKind::LimitExceeded`], so every render stays bounded.

use kurbo::{Affine, BezPath, PathEl, Point, Rect};

use crate::{Error, ErrorKind, Result};

/// Most line segments one path may flatten into (about half a second of work).
const MAX_SEGMENTS: f64 = 20_000_000.0;

/// Most dashes one stroke may have.
const MAX_DASHES: f64 = 100_000.0;

/// Longest segment, and farthest point from the origin, in local units, that is dashed.
/// kurbo dashes in local units, searching arc lengths to 10⁻⁶: beyond this its search
/// loses precision and overflows in debug builds. Far points count too: a short curve
/// at 10⁷⁰ has rounding errors of 10⁵⁴ in every point kurbo evaluates on it, so its
/// pieces look that long (a crash found by `fuzz/`'s `path_data` target).
const MAX_DASHED_SEGMENT: f64 = 1e11;

/// The flattening tolerance the estimate assumes, in output pixels.
const TOLERANCE: f64 = 0.25;

/// Refuses a path that would flatten into more than [`MAX_SEGMENTS`] line segments when
/// drawn with `transform` (`grow`: half a stroke's width in local units, 0 for fills).
pub(crate) fn check_path(path: &BezPath, transform: Affine, grow: f64) -> Result<()> {
    let mut segments = 0.0;
    let mut last = Point::ZERO;
    for el in path.elements() {
        segments += match *el {
            PathEl::MoveTo(p) | PathEl::LineTo(p) => {
                last = p;
                1.0
            }
            PathEl::ClosePath => 1.0,
            PathEl::QuadTo(p1, p2) => {
                let cost = curve_cost(&[last, p1, p2], transform, grow);
                last = p2;
                cost
            }
            PathEl::CurveTo(p1, p2, p3) => {
                let cost = curve_cost(&[last, p1, p2, p3], transform, grow);
                last = p3;
                cost
            }
        };
    }
    if segments > MAX_SEGMENTS || segments.is_nan() {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "the shape is too large to draw at this size (about {segments:.0} line segments; the limit is {MAX_SEGMENTS:.0})"
            ),
        ));
    }
    Ok(())
}

/// About how many segments a curve flattens into: the square root of its size over the
/// tolerance, in output pixels.
fn curve_cost(points: &[Point], transform: Affine, grow: f64) -> f64 {
    let mut rect = Rect::from_points(points[0], points[0]);
    for p in &points[1..] {
        rect = rect.union_pt(*p);
    }
    let rect = transform.transform_rect_bbox(rect.inflate(grow, grow));
    let extent = rect.width() + rect.height();
    (extent / TOLERANCE).sqrt().max(1.0)
}

/// Refuses text whose glyph outlines would flatten into too many segments: `glyphs`
/// glyphs at `size` px under `transform`.
pub(crate) fn check_text(glyphs: usize, size: f64, transform: Affine) -> Result<()> {
    let [a, b, c, d, _, _] = transform.as_coeffs();
    let px = size * a.hypot(b).max(c.hypot(d));
    // A glyph has a few dozen curves about as large as the font size.
    let segments = glyphs as f64 * 20.0 * (px / TOLERANCE).sqrt().max(1.0);
    if segments > 2.0 * MAX_SEGMENTS || segments.is_nan() {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!("the text is too large to draw at this size ({glyphs} glyphs at {px:.0} px)"),
        ));
    }
    Ok(())
}

/// What to do with a dashed stroke.
#[derive(Debug, PartialEq)]
pub(crate) enum Dashing {
    /// Dash as asked.
    Dash,
    /// Too many dashes, all smaller than a couple of pixels: draw a solid stroke with its
    /// alpha multiplied by the pattern's "on" share, which looks the same.
    Solid {
        /// The share of the pattern that is drawn.
        coverage: f32,
    },
}

/// Decides how to draw `path` dashed with `pattern` under `transform`; refuses a pattern
/// that would make more than [`MAX_DASHES`] visible dashes.
pub(crate) fn check_dashes(path: &BezPath, pattern: &[f64], transform: Affine) -> Result<Dashing> {
    let period: f64 = pattern.iter().sum();
    let on: f64 = pattern.iter().step_by(2).sum();
    let mut length = 0.0;
    let mut longest = 0.0f64;
    let mut farthest = 0.0f64;
    let mut last = Point::ZERO;
    let mut start = Point::ZERO;
    for el in path.elements() {
        let mut buf = [Point::ZERO; 3];
        let points: &[Point] = match *el {
            PathEl::MoveTo(p) => {
                last = p;
                start = p;
                farthest = farthest.max(p.x.abs()).max(p.y.abs());
                continue;
            }
            PathEl::LineTo(p) => {
                buf[0] = p;
                &buf[..1]
            }
            PathEl::QuadTo(p1, p2) => {
                buf[..2].copy_from_slice(&[p1, p2]);
                &buf[..2]
            }
            PathEl::CurveTo(p1, p2, p3) => {
                buf = [p1, p2, p3];
                &buf[..]
            }
            PathEl::ClosePath => {
                buf[0] = start;
                &buf[..1]
            }
        };
        // The control polygon's length bounds the arc length from above.
        let mut segment = 0.0;
        let mut from = last;
        for p in points {
            segment += (*p - from).hypot();
            farthest = farthest.max(p.x.abs()).max(p.y.abs());
            from = *p;
        }
        length += segment;
        longest = longest.max(segment);
        last = from;
    }
    let dashes = length / period;
    // Written so that NaN lengths (infinite points) are not dashed either.
    if dashes <= MAX_DASHES && longest <= MAX_DASHED_SEGMENT && farthest <= MAX_DASHED_SEGMENT {
        return Ok(Dashing::Dash);
    }
    let [a, b, c, d, _, _] = transform.as_coeffs();
    let device_period = period * a.hypot(b).max(c.hypot(d));
    if device_period < 2.0 {
        return Ok(Dashing::Solid {
            coverage: (on / period) as f32,
        });
    }
    let message = if dashes > MAX_DASHES {
        format!(
            "the dash pattern makes too many dashes to draw (about {dashes:.0}; the limit is {MAX_DASHES:.0})"
        )
    } else if longest > MAX_DASHED_SEGMENT {
        format!(
            "a dashed segment is too long to dash (about {longest:.0} units; the limit is {MAX_DASHED_SEGMENT:.0})"
        )
    } else {
        format!(
            "a dashed path lies too far from the origin to dash (about {farthest:.1e} units; the limit is {MAX_DASHED_SEGMENT:.0})"
        )
    };
    Err(Error::new(ErrorKind::LimitExceeded, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kurbo::Shape;

    fn curve(size: f64) -> BezPath {
        let mut path = BezPath::new();
        path.move_to((0.0, 0.0));
        path.curve_to((size, 0.0), (size, size), (0.0, size));
        path
    }

    #[test]
    fn ordinary_paths_pass_and_absurd_curves_do_not() {
        let rect = Rect::new(0.0, 0.0, 1000.0, 1000.0).to_path(0.1);
        assert!(check_path(&rect, Affine::scale(16.0), 10.0).is_ok());
        assert!(check_path(&curve(1e6), Affine::IDENTITY, 0.0).is_ok());
        let err = check_path(&curve(1e15), Affine::IDENTITY, 0.0).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
        // The same curve scaled down to a sane size is fine.
        assert!(check_path(&curve(1e15), Affine::scale(1e-12), 0.0).is_ok());
    }

    #[test]
    fn dashes_are_counted() {
        let mut line = BezPath::new();
        line.move_to((0.0, 0.0));
        line.line_to((1000.0, 0.0));
        assert_eq!(
            check_dashes(&line, &[5.0, 5.0], Affine::IDENTITY).unwrap(),
            Dashing::Dash
        );
        // 1000 / 0.004 = 250,000 dashes, each far below a pixel: solid, a quarter alpha.
        assert_eq!(
            check_dashes(&line, &[0.001, 0.003], Affine::IDENTITY).unwrap(),
            Dashing::Solid { coverage: 0.25 }
        );
        // The same pattern scaled up 1000×: visible dashes, too many of them.
        let err = check_dashes(&line, &[0.001, 0.003], Affine::scale(1000.0)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
        assert!(err.to_string().contains("250000"), "{err}");
        // One segment too long to dash precisely.
        let mut long = BezPath::new();
        long.move_to((0.0, 0.0));
        long.line_to((1e12, 0.0));
        let err = check_dashes(&long, &[1e9, 1e9], Affine::IDENTITY).unwrap_err();
        assert!(err.to_string().contains("too long"), "{err}");
    }

    /// Regression (fuzz/corpus/path_data/crash-7816…): a short curve very far from the
    /// origin was dashed, and kurbo's arc-length search overflowed a shift.
    #[test]
    fn far_paths_are_not_dashed() {
        let mut far = BezPath::new();
        far.move_to((1.6e71, 305.0));
        far.quad_to((1.6e71, 305.0), (1.6e71 + 3.0, 326.0));
        // Dashes below two pixels: drawn solid, as too many would be.
        assert_eq!(
            check_dashes(&far, &[3.0, 1.0], Affine::scale(0.32)).unwrap(),
            Dashing::Solid { coverage: 0.75 }
        );
        let err = check_dashes(&far, &[3.0, 1.0], Affine::scale(2.0)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
        assert!(err.to_string().contains("too far from the origin"), "{err}");
        let mut infinite = BezPath::new();
        infinite.move_to((0.0, 0.0));
        infinite.line_to((f64::INFINITY, 0.0));
        assert!(check_dashes(&infinite, &[3.0, 1.0], Affine::scale(2.0)).is_err());
    }

    #[test]
    fn text_size_is_bounded() {
        assert!(check_text(1000, 16.0, Affine::scale(4.0)).is_ok());
        let err = check_text(100, 1e12, Affine::IDENTITY).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    }
}
