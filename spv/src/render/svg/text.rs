//! `text` nodes as `<text>` with one `<tspan>` per line of spv's own layout
//! ([`crate::render::text::layout`]), so wrapping and alignment match the renderer; font
//! assets embedded as `@font-face` rules.

use base64::Engine as _;

use super::Writer;
use super::nodes::common_attrs;
use super::xml::{Tag, escape, escape_into};
use crate::Result;
use crate::glyph::model::{Node, TextNode};
use crate::render::text::layout;

impl Writer<'_> {
    /// A `text` node: its face's family and weight (the face spv picked, so CSS font
    /// matching picks it too), its fill, one `<tspan>` per non-empty line at the line's
    /// left edge and baseline.
    pub(crate) fn text(&mut self, node: &Node, text: &TextNode, path: &str) -> Result<()> {
        let layout = layout(text, &self.fonts);
        if let Some(warning) = &layout.warning {
            // The same words as the renderer's, so a caller sees one warning either way.
            self.warn(format!("{path}.font: {warning}"));
        }
        if let Some(asset) = &layout.asset {
            self.embed_font(asset, text.weight(), &layout.family, layout.weight);
        }
        let mut body = self.take_line();
        let mut tag = Tag::new(&mut body, "text");
        common_attrs(&mut tag, node);
        tag.attr("xml:space", "preserve")
            .attr("font-family", &css_family(&layout.family))
            .num("font-size", layout.size)
            .num("font-weight", f64::from(layout.weight));
        self.paint_attr(&mut tag, "fill", node.effective_fill().as_ref());
        tag.attr("stroke", "none").open();
        for line in layout.lines.iter().filter(|line| !line.text.is_empty()) {
            Tag::new(&mut body, "tspan")
                .num("x", line.x)
                .num("y", line.baseline)
                .open();
            escape_into(&mut body, &line.text);
            body.push_str("</tspan>");
        }
        body.push_str("</text>\n");
        self.body = body;
        Ok(())
    }

    /// Adds an `@font-face` rule carrying font asset `asset` once per export.
    fn embed_font(&mut self, asset: &str, weight: u16, family: &str, face_weight: u16) {
        if self.embedded_fonts.iter().any(|name| name == asset) {
            return;
        }
        self.embedded_fonts.push(asset.to_owned());
        let selection = self.fonts.select(asset, weight);
        let bytes = selection.face.font_data().data.data();
        let data = base64::engine::general_purpose::STANDARD.encode(bytes);
        let rule = format!(
            "@font-face{{font-family:\"{}\";font-weight:{face_weight};src:url(data:{};base64,{data})}}",
            css_string(family),
            font_mime(bytes)
        );
        self.style.push_str(&escape(&rule));
        self.style.push('\n');
    }
}

/// A family name as a CSS `font-family` value: bare when it is a run of plain words (as
/// `DejaVu Sans`), else a quoted string.
fn css_family(family: &str) -> String {
    let plain_word = |word: &str| {
        word.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && word
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    let generic = [
        "serif",
        "sans-serif",
        "monospace",
        "cursive",
        "fantasy",
        "inherit",
        "initial",
        "default",
    ];
    if family.split(' ').all(plain_word) && !generic.contains(&family.to_ascii_lowercase().as_str())
    {
        family.to_owned()
    } else {
        format!("\"{}\"", css_string(family))
    }
}

/// `s` escaped for a double-quoted CSS string.
fn css_string(s: &str) -> String {
    s.chars()
        .flat_map(|c| match c {
            '"' | '\\' => vec!['\\', c],
            '\n' | '\r' | '\u{c}' => vec![' '],
            c => vec![c],
        })
        .collect()
}

/// The media type of a font file, from its first bytes.
fn font_mime(bytes: &[u8]) -> &'static str {
    match bytes.get(..4) {
        Some(b"OTTO") => "font/otf",
        Some(b"ttcf") => "font/collection",
        Some(b"wOFF") => "font/woff",
        Some(b"wOF2") => "font/woff2",
        _ => "font/ttf",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_are_quoted_only_when_needed() {
        assert_eq!(css_family("DejaVu Sans"), "DejaVu Sans");
        assert_eq!(css_family("Inter 2"), "\"Inter 2\"");
        assert_eq!(css_family("serif"), "\"serif\"");
        assert_eq!(css_family("a\"b"), "\"a\\\"b\"");
    }

    #[test]
    fn font_types_are_sniffed() {
        assert_eq!(font_mime(b"OTTO...."), "font/otf");
        assert_eq!(font_mime(&[0, 1, 0, 0, 0]), "font/ttf");
    }
}
