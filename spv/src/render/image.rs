//! Image assets: decoding (PNG, JPEG, WebP, GIF's first frame), the per-render cache,
//! `fit` placement and smooth downscaling.
//!
//! Dimensions are read from the header and checked against
//! [`Limits::max_image_pixels`] before anything is decoded, so a small file that claims
//! a huge image costs nothing. Pixels are kept premultiplied, ready for compositing.
//! Images are sampled bilinearly; where one is drawn at less than half its size it is
//! first halved with a box filter as often as needed (a mipmap, as browsers do), so
//! thumbnails of large photos do not alias.
//!
//! ```
//! use kurbo::Rect;
//! use spv::glyph::ImageFit;
//! use spv::render::image::fit;
//!
//! // A 200 × 100 image in a 100 × 100 box, `contain`: half size, centred vertically.
//! let (to_box, area) = fit(200, 100, Rect::new(0.0, 0.0, 100.0, 100.0), ImageFit::Contain);
//! assert_eq!(to_box.as_coeffs(), [0.5, 0.0, 0.0, 0.5, 0.0, 25.0]);
//! assert_eq!(area, Rect::new(0.0, 25.0, 100.0, 75.0));
//! ```

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError};

use image::{ImageFormat, ImageReader};
use kurbo::{Affine, Rect};
use vello_cpu::peniko::ImageAlphaType;
use vello_cpu::{PixelMetadata, Pixmap};

use crate::glyph::{AssetResolver, AssetType, Document, ImageFit, Limits, load_asset};
use crate::{Error, ErrorKind, Result};

/// A decoded image: premultiplied sRGB RGBA8 pixels.
#[derive(Debug)]
pub struct DecodedImage {
    pixmap: Arc<Pixmap>,
    /// Halved copies, made on demand: `halves[0]` is half size, `halves[1]` a quarter, …
    halves: Mutex<Vec<Arc<DecodedImage>>>,
    /// The unpremultiplied copy the GPU backend uploads (vello takes straight alpha),
    /// made on first use; one blob per image, so vello's atlas keeps it between draws.
    #[cfg(feature = "gpu")]
    gpu: std::sync::OnceLock<vello::peniko::ImageData>,
}

impl DecodedImage {
    fn new(pixmap: Pixmap) -> Self {
        DecodedImage {
            pixmap: Arc::new(pixmap),
            halves: Mutex::new(Vec::new()),
            #[cfg(feature = "gpu")]
            gpu: std::sync::OnceLock::new(),
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        u32::from(self.pixmap.width())
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        u32::from(self.pixmap.height())
    }

    /// The pixels, premultiplied RGBA8, row by row.
    pub fn premultiplied_rgba8(&self) -> &[u8] {
        self.pixmap.data_as_u8_slice()
    }

    /// The pixels as the GPU backend draws them: straight (unpremultiplied) RGBA8.
    #[cfg(feature = "gpu")]
    pub(crate) fn gpu_image(&self) -> vello::peniko::ImageData {
        use vello::peniko::{Blob, ImageAlphaType, ImageData, ImageFormat};
        self.gpu
            .get_or_init(|| {
                let mut data = self.premultiplied_rgba8().to_vec();
                for px in data.chunks_exact_mut(4) {
                    let a = u32::from(px[3]);
                    if a != 0 && a != 255 {
                        for c in &mut px[..3] {
                            // Round to nearest; premultiplied channels never exceed alpha.
                            *c = ((u32::from(*c) * 255 + a / 2) / a).min(255) as u8;
                        }
                    }
                }
                ImageData {
                    data: Blob::new(Arc::new(data)),
                    format: ImageFormat::Rgba8,
                    alpha_type: ImageAlphaType::Alpha,
                    width: self.width(),
                    height: self.height(),
                }
            })
            .clone()
    }

    /// Whether some pixel may be less than opaque.
    pub fn may_have_transparency(&self) -> bool {
        self.pixmap.may_have_transparency()
    }

    /// The pixmap, for the CPU backend.
    pub(crate) fn pixmap(&self) -> &Arc<Pixmap> {
        &self.pixmap
    }

    /// The image halved `levels` times (each side rounded up), made once and kept.
    pub fn halved(self: &Arc<Self>, levels: u32) -> Arc<DecodedImage> {
        if levels == 0 {
            return self.clone();
        }
        let mut halves = self.halves.lock().unwrap_or_else(PoisonError::into_inner);
        while halves.len() < levels as usize {
            let source = halves.last().map_or(&self.pixmap, |h| &h.pixmap);
            let half = DecodedImage::new(halve(source));
            halves.push(Arc::new(half));
        }
        halves[levels as usize - 1].clone()
    }

    /// How many times to halve this image for drawing it at `scale` (device pixels per
    /// image pixel, the larger of the two axes): until the scale is above one half.
    pub fn levels_for_scale(&self, scale: f64) -> u32 {
        let mut levels = 0;
        let (mut w, mut h, mut scale) = (self.width(), self.height(), scale);
        while scale <= 0.5 && scale > 0.0 && (w > 1 || h > 1) && levels < 16 {
            scale *= 2.0;
            w = w.div_ceil(2);
            h = h.div_ceil(2);
            levels += 1;
        }
        levels
    }
}

/// A 2×2 box filter on premultiplied pixels (odd edges repeat their last row/column).
fn halve(source: &Pixmap) -> Pixmap {
    let (w, h) = (usize::from(source.width()), usize::from(source.height()));
    let (hw, hh) = (w.div_ceil(2), h.div_ceil(2));
    let src = source.data_as_u8_slice();
    let mut out = Vec::with_capacity(hw * hh * 4);
    for y in 0..hh {
        let (y0, y1) = (2 * y, (2 * y + 1).min(h - 1));
        for x in 0..hw {
            let (x0, x1) = (2 * x, (2 * x + 1).min(w - 1));
            for c in 0..4 {
                let px = |x: usize, y: usize| u32::from(src[(y * w + x) * 4 + c]);
                let sum = px(x0, y0) + px(x1, y0) + px(x0, y1) + px(x1, y1);
                // Rounded mean of four bytes: at most 255.
                out.push(((sum + 2) / 4) as u8);
            }
        }
    }
    // Both halves fit in u16 because the source did.
    let mut pixmap = pixmap_from_rgba(
        out,
        hw as u16,
        hh as u16,
        ImageAlphaType::AlphaPremultiplied,
    );
    pixmap.set_may_have_transparency(source.may_have_transparency());
    pixmap
}

fn pixmap_from_rgba(data: Vec<u8>, width: u16, height: u16, alpha: ImageAlphaType) -> Pixmap {
    // `Pixmap::from_parts` needs a capacity that is a multiple of 4; `with_capacity` of
    // an exact length gives one in practice, and the copy below makes sure of it.
    let data = if data.capacity().is_multiple_of(4) {
        data
    } else {
        let mut exact = Vec::with_capacity(data.len());
        exact.extend_from_slice(&data);
        exact
    };
    if data.capacity().is_multiple_of(4) {
        return Pixmap::from_parts(data, width, height, PixelMetadata::new(alpha, true));
    }
    let mut pixmap = Pixmap::new(width, height);
    for (dst, src) in pixmap.data_mut().iter_mut().zip(data.chunks_exact(4)) {
        let premul = |c: u8| {
            if alpha == ImageAlphaType::Alpha {
                ((u32::from(c) * u32::from(src[3]) + 127) / 255) as u8
            } else {
                c
            }
        };
        dst.r = premul(src[0]);
        dst.g = premul(src[1]);
        dst.b = premul(src[2]);
        dst.a = src[3];
    }
    pixmap.recompute_may_have_transparency();
    pixmap
}

/// Decodes the bytes of image asset `name`.
///
/// Errors: [`ErrorKind::InvalidAsset`] when the bytes are not a PNG, JPEG, WebP or GIF
/// image or do not decode; [`ErrorKind::LimitExceeded`] when the image has more pixels
/// than `limits.max_image_pixels` or a side over 65,535 pixels.
pub fn decode(name: &str, bytes: &[u8], limits: &Limits) -> Result<DecodedImage> {
    let invalid = |what: String| {
        Error::new(ErrorKind::InvalidAsset, format!("asset \"{name}\": {what}"))
            .at(format!("assets.{name}"))
    };
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP | ImageFormat::Gif)) => f,
        _ => return Err(invalid("not a PNG, JPEG, WebP or GIF image".into())),
    };
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| invalid(format!("cannot read the image header: {e}")))?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > limits.max_image_pixels
        || width > u32::from(u16::MAX)
        || height > u32::from(u16::MAX)
    {
        return Err(Error::new(
            ErrorKind::LimitExceeded,
            format!(
                "asset \"{name}\": the image is {width} × {height} pixels; the limit is {} pixels and 65535 a side",
                limits.max_image_pixels
            ),
        )
        .at(format!("assets.{name}")));
    }
    if pixels == 0 {
        return Err(invalid("the image has no pixels".into()));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decode_limits = image::Limits::default();
    decode_limits.max_image_width = Some(width);
    decode_limits.max_image_height = Some(height);
    // Room for the widest pixel type (RGBA, 32-bit float) plus decoder buffers.
    decode_limits.max_alloc = Some((pixels * 16 * 2).max(64 << 20));
    reader.limits(decode_limits);
    let rgba = reader
        .decode()
        .map_err(|e| invalid(format!("cannot decode the image: {e}")))?
        .into_rgba8();
    let (w, h) = (rgba.width(), rgba.height());
    let (Ok(w16), Ok(h16)) = (u16::try_from(w), u16::try_from(h)) else {
        return Err(invalid(format!("decoded to an unexpected size {w} × {h}")));
    };
    Ok(DecodedImage::new(pixmap_from_rgba(
        rgba.into_raw(),
        w16,
        h16,
        ImageAlphaType::Alpha,
    )))
}

/// Where an image of `width` × `height` pixels goes in `bounds` (the node's box, in its
/// local space): the map from image pixels to local space, and the area to paint (the
/// image's rectangle, cut to the box for `cover`).
pub fn fit(width: u32, height: u32, bounds: Rect, fit: ImageFit) -> (Affine, Rect) {
    let (iw, ih) = (f64::from(width), f64::from(height));
    let (bw, bh) = (bounds.width(), bounds.height());
    match fit {
        ImageFit::Fill => (
            Affine::new([bw / iw, 0.0, 0.0, bh / ih, bounds.x0, bounds.y0]),
            bounds,
        ),
        ImageFit::Contain | ImageFit::Cover => {
            let (sx, sy) = (bw / iw, bh / ih);
            let s = if fit == ImageFit::Contain {
                sx.min(sy)
            } else {
                sx.max(sy)
            };
            let (dw, dh) = (iw * s, ih * s);
            let x = bounds.x0 + (bw - dw) / 2.0;
            let y = bounds.y0 + (bh - dh) / 2.0;
            let image_rect = Rect::new(x, y, x + dw, y + dh);
            let area = if fit == ImageFit::Contain {
                image_rect
            } else {
                image_rect.intersect(bounds)
            };
            (Affine::new([s, 0.0, 0.0, s, x, y]), area)
        }
    }
}

/// What became of an image asset in this render.
#[derive(Debug, Clone)]
pub enum ImageEntry {
    /// Decoded.
    Ready(Arc<DecodedImage>),
    /// Missing, in a lenient render: paint a placeholder.
    Missing,
}

/// Decoded images of one render, by asset name: each asset is fetched and decoded once.
#[derive(Debug, Default)]
pub struct ImageCache {
    entries: HashMap<String, ImageEntry>,
}

impl ImageCache {
    /// The image asset `name` of `document`: decoded, or [`ImageEntry::Missing`] when it
    /// cannot be found and `lenient` is set (a warning is pushed once per asset).
    pub fn get(
        &mut self,
        document: &Document,
        name: &str,
        resolver: &dyn AssetResolver,
        limits: &Limits,
        lenient: bool,
        warnings: &mut Vec<String>,
    ) -> Result<ImageEntry> {
        if let Some(entry) = self.entries.get(name) {
            return Ok(entry.clone());
        }
        let bytes = match document.asset(name) {
            Some(asset) if asset.kind != AssetType::Image => {
                return Err(Error::new(
                    ErrorKind::InvalidAsset,
                    format!(
                        "asset \"{name}\" is a {}, expected an image",
                        asset.kind.as_str()
                    ),
                )
                .at(format!("assets.{name}")));
            }
            Some(asset) => load_asset(name, asset, resolver),
            None => Err(Error::new(
                ErrorKind::MissingAsset,
                format!("image asset \"{name}\" is not declared in the document's assets"),
            )),
        };
        let entry = match bytes {
            Ok(bytes) => ImageEntry::Ready(Arc::new(decode(name, &bytes, limits)?)),
            Err(e) if lenient && e.kind() == ErrorKind::MissingAsset => {
                warnings.push(format!("{e}; painted a placeholder"));
                ImageEntry::Missing
            }
            Err(e) => return Err(e),
        };
        self.entries.insert(name.to_owned(), entry.clone());
        Ok(entry)
    }
}

#[cfg(test)]
#[path = "image_tests.rs"]
mod tests;
