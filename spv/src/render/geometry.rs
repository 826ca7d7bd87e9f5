//! Thumbnail geometry: how big the output is and where the page lands in it.
//!
//! The format page's rule: a thumbnail of size `S` scales the page uniformly so that its
//! longer side is `S` pixels, the shorter side rounded to the nearest pixel (at least 1),
//! and renders directly at that scale. An explicit box is filled by `fit`: `contain`
//! (centred, letterboxed with transparency), `cover` (centred, cropped) or `fill`
//! (stretched), as SVG's `preserveAspectRatio` `xMidYMid meet`, `xMidYMid slice` and
//! `none`.
//!
//! ```
//! use spv::api::ThumbnailSize;
//! use spv::glyph::Limits;
//! use spv::render::geometry::Placement;
//!
//! let p = Placement::new(1200.0, 800.0, ThumbnailSize::Longest { size: 300 }, &Limits::default())
//!     .unwrap();
//! assert_eq!((p.width, p.height), (300, 200));
//! assert_eq!(p.transform.as_coeffs(), [0.25, 0.0, 0.0, 0.25, 0.0, 0.0]);
//! ```

use kurbo::{Affine, Rect};

use crate::api::ThumbnailSize;
use crate::glyph::{ImageFit, Limits};
use crate::{Error, ErrorKind, Result};

/// Where a page lands in a thumbnail.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Placement {
    /// Output width in pixels.
    pub width: u32,
    /// Output height in pixels.
    pub height: u32,
    /// Page coordinates → output pixel coordinates.
    pub transform: Affine,
    /// The page's rectangle in output pixels (it may stick out of the output for `cover`,
    /// or leave bands for `contain`).
    pub page_rect: Rect,
    /// Whether the page covers the whole output (everything but `contain` with another
    /// aspect ratio); where it does not, the rest stays transparent.
    pub covers_output: bool,
}

impl Placement {
    /// The placement of a `page_width` × `page_height` page (CSS pixels) for `size`.
    ///
    /// Errors: a size of 0 is [`ErrorKind::InvalidRequest`]; a side above
    /// [`Limits::max_render_side`] is [`ErrorKind::LimitExceeded`].
    pub fn new(
        page_width: f64,
        page_height: f64,
        size: ThumbnailSize,
        limits: &Limits,
    ) -> Result<Placement> {
        if !(page_width > 0.0
            && page_height > 0.0
            && page_width.is_finite()
            && page_height.is_finite())
        {
            return Err(Error::invalid_request(format!(
                "the page is {page_width} × {page_height}; expected a positive size"
            )));
        }
        match size {
            ThumbnailSize::Longest { size } => {
                check_side("size", size, limits)?;
                let scale = f64::from(size) / page_width.max(page_height);
                let short = |side: f64| -> u32 {
                    // In 1..=size, so the conversion is exact.
                    (side * scale).round().clamp(1.0, f64::from(size)) as u32
                };
                let (width, height) = if page_width >= page_height {
                    (size, short(page_height))
                } else {
                    (short(page_width), size)
                };
                let transform = Affine::scale(scale);
                Ok(Placement {
                    width,
                    height,
                    transform,
                    page_rect: transform.transform_rect_bbox(Rect::new(
                        0.0,
                        0.0,
                        page_width,
                        page_height,
                    )),
                    covers_output: true,
                })
            }
            ThumbnailSize::Box { width, height, fit } => {
                check_side("width", width, limits)?;
                check_side("height", height, limits)?;
                let (w, h) = (f64::from(width), f64::from(height));
                let (sx, sy) = (w / page_width, h / page_height);
                let transform = match fit {
                    ImageFit::Fill => Affine::scale_non_uniform(sx, sy),
                    ImageFit::Contain | ImageFit::Cover => {
                        let s = if fit == ImageFit::Contain {
                            sx.min(sy)
                        } else {
                            sx.max(sy)
                        };
                        let dx = (w - page_width * s) / 2.0;
                        let dy = (h - page_height * s) / 2.0;
                        Affine::new([s, 0.0, 0.0, s, dx, dy])
                    }
                };
                let page_rect =
                    transform.transform_rect_bbox(Rect::new(0.0, 0.0, page_width, page_height));
                // Within a hundredth of a pixel counts as covering: float noise must not
                // leave a transparent seam.
                let eps = 0.01;
                let covers_output = page_rect.x0 <= eps
                    && page_rect.y0 <= eps
                    && page_rect.x1 >= w - eps
                    && page_rect.y1 >= h - eps;
                Ok(Placement {
                    width,
                    height,
                    transform,
                    page_rect,
                    covers_output,
                })
            }
        }
    }
}

fn check_side(what: &str, side: u32, limits: &Limits) -> Result<()> {
    if side == 0 {
        return Err(Error::invalid_request(format!(
            "thumbnail {what} 0 is not allowed; expected at least 1 pixel"
        )));
    }
    if side > limits.max_render_side {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "thumbnail {what} {side} is larger than the limit of {} pixels",
                limits.max_render_side
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn place(w: f64, h: f64, size: ThumbnailSize) -> Placement {
        Placement::new(w, h, size, &Limits::default()).unwrap()
    }

    fn longest(size: u32) -> ThumbnailSize {
        ThumbnailSize::Longest { size }
    }

    fn boxed(width: u32, height: u32, fit: ImageFit) -> ThumbnailSize {
        ThumbnailSize::Box { width, height, fit }
    }

    #[test]
    fn longest_side_landscape_and_portrait() {
        let p = place(1200.0, 800.0, longest(256));
        assert_eq!((p.width, p.height), (256, 171)); // 170.67 rounds up
        assert_eq!(p.transform.as_coeffs()[0], 256.0 / 1200.0);
        let p = place(800.0, 1200.0, longest(256));
        assert_eq!((p.width, p.height), (171, 256));
        let p = place(100.0, 100.0, longest(64));
        assert_eq!((p.width, p.height), (64, 64));
    }

    #[test]
    fn shorter_side_rounds_to_nearest_and_is_at_least_one() {
        // The longer side 1002 maps to 100; the shorter is 1000 · 100 / 1002 = 99.8 → 100.
        let p = place(1000.0, 1002.0, longest(100));
        assert_eq!((p.width, p.height), (100, 100));
        // 10 × 1.4 at 10: 1.4 → 1; 10 × 1.6 → 2; 10 × 0.01 → at least 1.
        assert_eq!(place(10.0, 1.4, longest(10)).height, 1);
        assert_eq!(place(10.0, 1.6, longest(10)).height, 2);
        assert_eq!(place(10.0, 0.01, longest(10)).height, 1);
        // Exactly half rounds away from zero: 10 × 2.5 at 10 → 3.
        assert_eq!(place(10.0, 2.5, longest(10)).height, 3);
    }

    #[test]
    fn upscaling_is_allowed() {
        let p = place(10.0, 5.0, longest(100));
        assert_eq!((p.width, p.height), (100, 50));
        assert_eq!(p.transform.as_coeffs()[0], 10.0);
    }

    #[test]
    fn contain_centres_and_letterboxes() {
        let p = place(200.0, 100.0, boxed(100, 100, ImageFit::Contain));
        assert_eq!((p.width, p.height), (100, 100));
        assert_eq!(p.transform.as_coeffs(), [0.5, 0.0, 0.0, 0.5, 0.0, 25.0]);
        assert_eq!(p.page_rect, Rect::new(0.0, 25.0, 100.0, 75.0));
        assert!(!p.covers_output);
    }

    #[test]
    fn cover_centres_and_crops() {
        let p = place(200.0, 100.0, boxed(100, 100, ImageFit::Cover));
        assert_eq!(p.transform.as_coeffs(), [1.0, 0.0, 0.0, 1.0, -50.0, 0.0]);
        assert_eq!(p.page_rect, Rect::new(-50.0, 0.0, 150.0, 100.0));
        assert!(p.covers_output);
    }

    #[test]
    fn fill_stretches() {
        let p = place(200.0, 100.0, boxed(100, 100, ImageFit::Fill));
        assert_eq!(p.transform.as_coeffs(), [0.5, 0.0, 0.0, 1.0, 0.0, 0.0]);
        assert!(p.covers_output);
    }

    #[test]
    fn same_aspect_contain_covers() {
        let p = place(300.0, 200.0, boxed(150, 100, ImageFit::Contain));
        assert!(p.covers_output);
        assert_eq!(p.transform.as_coeffs(), [0.5, 0.0, 0.0, 0.5, 0.0, 0.0]);
    }

    #[test]
    fn zero_sizes_are_invalid_requests() {
        let limits = Limits::default();
        for size in [
            longest(0),
            boxed(0, 10, ImageFit::Fill),
            boxed(10, 0, ImageFit::Cover),
        ] {
            let err = Placement::new(10.0, 10.0, size, &limits).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidRequest, "{size:?}");
            assert!(err.to_string().contains(" 0 "), "{err}");
        }
    }

    #[test]
    fn sides_over_the_limit_are_refused() {
        let limits = Limits {
            max_render_side: 500,
            ..Limits::default()
        };
        assert!(Placement::new(10.0, 10.0, longest(500), &limits).is_ok());
        let err = Placement::new(10.0, 10.0, longest(501), &limits).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
        assert_eq!(
            err.to_string(),
            "thumbnail size 501 is larger than the limit of 500 pixels"
        );
        let err = Placement::new(10.0, 10.0, boxed(10, 501, ImageFit::Fill), &limits).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    }
}
