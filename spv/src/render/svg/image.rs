//! `image` nodes as `<image>` elements carrying the asset's original bytes as a `data:` URL.

use base64::Engine as _;

use super::Writer;
use super::nodes::common_attrs;
use super::xml::Tag;
use crate::glyph::assets::{Bytes, load_asset};
use crate::glyph::model::{AssetType, ImageFit, ImageNode, Node};
use crate::{Error, ErrorKind, Result};

/// The media type of an image file, told from its first bytes: PNG, JPEG, WebP or GIF,
/// the image formats of the format page.
///
/// ```
/// use spv::render::svg::image_mime;
/// assert_eq!(image_mime(b"\x89PNG\r\n\x1a\n...."), Some("image/png"));
/// assert_eq!(image_mime(b"GIF89a"), Some("image/gif"));
/// assert_eq!(image_mime(b"<svg>"), None);
/// ```
pub fn image_mime(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else {
        None
    }
}

impl Writer<'_> {
    /// An `image` node: the asset's bytes inline, `fit` as `preserveAspectRatio`; in
    /// lenient mode a missing or unreadable asset becomes a placeholder.
    pub(crate) fn image(&mut self, node: &Node, image: &ImageNode, path: &str) -> Result<()> {
        // An empty box shows nothing (as in SVG), so its asset is not even needed.
        if !(image.width > 0.0 && image.height > 0.0) {
            return Ok(());
        }
        let href = match self.image_href(&image.asset, path) {
            Ok(href) => href,
            Err(err) if self.lenient => {
                self.warn(format!("{err}; painted a placeholder"));
                self.placeholder(node, image);
                return Ok(());
            }
            Err(err) => return Err(err),
        };
        let fit = match image.fit.unwrap_or_default() {
            ImageFit::Fill => "none",
            ImageFit::Contain => "xMidYMid meet",
            ImageFit::Cover => "xMidYMid slice",
        };
        let mut body = self.take_line();
        let mut tag = Tag::new(&mut body, "image");
        common_attrs(&mut tag, node);
        tag.num("x", image.x)
            .num("y", image.y)
            .num("width", image.width)
            .num("height", image.height)
            .attr("preserveAspectRatio", fit)
            // `xlink:href` rather than SVG 2's `href`: every SVG reader knows it.
            .attr("xlink:href", &href)
            .close();
        body.push('\n');
        self.body = body;
        Ok(())
    }

    /// `data:<mime>;base64,…` of the image asset `name`.
    fn image_href(&mut self, name: &str, path: &str) -> Result<String> {
        let bytes = self.asset(name, AssetType::Image, &format!("{path}.asset"))?;
        let mime = image_mime(&bytes).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidAsset,
                format!("asset \"{name}\" is not a PNG, JPEG, WebP or GIF image"),
            )
            .at(format!("assets.{name}"))
        })?;
        let data = base64::engine::general_purpose::STANDARD.encode(&bytes);
        Ok(format!("data:{mime};base64,{data}"))
    }

    /// The bytes of asset `name`, which must be of type `kind`; `path` is where the
    /// document names it.
    pub(crate) fn asset(&self, name: &str, kind: AssetType, path: &str) -> Result<Bytes> {
        let asset = self.document.asset(name).ok_or_else(|| {
            Error::new(
                ErrorKind::MissingAsset,
                format!("no asset named \"{name}\" (expected a key of the document's assets)"),
            )
            .at(path)
        })?;
        if asset.kind != kind {
            return Err(Error::invalid_document(
                path,
                format!(
                    "asset \"{name}\" is of type \"{}\", expected \"{}\"",
                    asset.kind.as_str(),
                    kind.as_str()
                ),
            ));
        }
        load_asset(name, asset, self.resolver)
    }

    /// A visible stand-in for an image that could not be loaded, the one spv's renderer
    /// paints: a light grey box with a red cross, the cross 1/25 of the shorter side wide.
    fn placeholder(&mut self, node: &Node, image: &ImageNode) {
        let (x0, y0) = (image.x, image.y);
        let (x1, y1) = (x0 + image.width, y0 + image.height);
        let mut body = self.take_line();
        let mut tag = Tag::new(&mut body, "g");
        common_attrs(&mut tag, node);
        tag.open();
        Tag::new(&mut body, "rect")
            .num("x", x0)
            .num("y", y0)
            .num("width", image.width)
            .num("height", image.height)
            .attr("fill", "#e0e0e0")
            .attr("stroke", "none")
            .close();
        let cross = format!(
            "M{} {}L{} {}M{} {}L{} {}",
            super::xml::num(x0),
            super::xml::num(y0),
            super::xml::num(x1),
            super::xml::num(y1),
            super::xml::num(x1),
            super::xml::num(y0),
            super::xml::num(x0),
            super::xml::num(y1)
        );
        Tag::new(&mut body, "path")
            .attr("d", &cross)
            .attr("fill", "none")
            .attr("stroke", "#ff0000")
            .num("stroke-width", image.width.min(image.height) / 25.0)
            .close();
        body.push_str("</g>\n");
        self.body = body;
    }
}
