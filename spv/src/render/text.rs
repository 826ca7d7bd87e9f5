//! Text layout (parley) and glyph drawing (vello_cpu) for `text` nodes.
//!
//! [`layout`] turns a [`TextNode`] into lines and positioned glyphs in the node's own
//! space, following the format exactly:
//!
//! - `x`, `y` is the top-left of the text box; the first baseline is at `y` plus the
//!   face's `hhea` ascender scaled to `size`, and each further line is `lineHeight × size`
//!   lower;
//! - `\n` breaks a line and `maxWidth`, when given, wraps at word boundaries;
//! - `align` places each line within `maxWidth` when given, else around `x` (`center`: the
//!   line's centre at `x`; `right`: the line ends at `x`). As in CSS, a line wider than
//!   `maxWidth` (one long word) is left-aligned and overflows to the right.
//!
//! The same [`TextLine`]s drive the raster renderer and the SVG export, so both place every
//! line identically.
//!
//! (The example of this module is its test `lines_and_baselines_follow_the_format`.)

use parley::{
    Alignment, AlignmentOptions, FontData, FontFamily, FontWeight, PositionedLayoutItem,
    StyleProperty,
};

use super::fonts::{FontBook, with_contexts};
use crate::glyph::{TextAlign, TextNode};

/// One glyph: its id in the run's font and the position of its origin (on the baseline)
/// in the node's space.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PositionedGlyph {
    /// Glyph id in the font.
    pub id: u32,
    /// Left of the glyph's origin, px.
    pub x: f32,
    /// Baseline of the glyph, px (y grows downwards).
    pub y: f32,
}

/// Glyphs that share a font and a size, ready to fill with one paint.
#[derive(Debug, Clone)]
pub(crate) struct GlyphRun {
    /// The font file and face index the glyph ids refer to.
    pub font: FontData,
    /// Font size in px per em.
    pub size: f32,
    /// The glyphs, positioned in the node's space.
    pub glyphs: Vec<PositionedGlyph>,
}

/// One laid-out line of a text node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TextLine {
    /// The line's characters, without the line break and trailing white space that ends
    /// it (leading white space is kept: write it with `xml:space="preserve"` in SVG).
    pub text: String,
    /// Left edge of the line in node space, alignment applied: an SVG `<tspan x>`.
    pub x: f64,
    /// Baseline of the line in node space: an SVG `<tspan y>`.
    pub baseline: f64,
    /// Advance width of the line without its trailing white space, px.
    pub width: f64,
}

/// A text node laid out: its lines (for SVG) and glyph runs (for the renderers).
#[derive(Debug, Clone)]
pub(crate) struct TextLayout {
    /// The lines, top to bottom.
    pub lines: Vec<TextLine>,
    /// The glyphs, in runs of one font and size.
    pub runs: Vec<GlyphRun>,
    /// The family name of the face used, from its `name` table (`DejaVu Sans` for
    /// `sans`): the SVG `font-family`.
    pub family: String,
    /// The font asset used, when the face is a document font.
    pub asset: Option<String>,
    /// The weight class of the face used: the SVG `font-weight`.
    pub weight: u16,
    /// The font size, px.
    pub size: f64,
    /// Set when the node's font was unknown and `sans` was used instead.
    pub warning: Option<String>,
}

/// Lays out `node` with the fonts of `fonts`. Layout cannot fail: an unknown font falls
/// back to `sans` and says so in [`TextLayout::warning`].
pub(crate) fn layout(node: &TextNode, fonts: &FontBook) -> TextLayout {
    let selection = fonts.select(node.font(), node.weight());
    let face = selection.face;
    let size = node.size;
    let first_baseline = node.y + face.ascender(size);
    let line_step = node.line_height() * size;
    let mut lines = Vec::new();
    let mut runs: Vec<GlyphRun> = Vec::new();

    with_contexts(|cx| {
        let family = cx.family_for(face);
        let mut builder = cx
            .layout
            .ranged_builder(&mut cx.font, &node.text, 1.0, false);
        builder.push_default(StyleProperty::FontFamily(FontFamily::named(&family)));
        builder.push_default(StyleProperty::FontSize(size as f32));
        builder.push_default(StyleProperty::FontWeight(FontWeight::new(f32::from(
            face.weight(),
        ))));
        let mut parley_layout: parley::Layout<()> = builder.build(&node.text);
        parley_layout.break_all_lines(node.max_width.map(|w| w as f32));
        parley_layout.align(Alignment::Left, AlignmentOptions::default());

        for (index, line) in parley_layout.lines().enumerate() {
            let range = line.text_range();
            let text = node.text.get(range.clone()).unwrap_or_default();
            let text = text.trim_end_matches(hangs);
            // Trailing white space and the line break hang past the line's end: they count
            // neither in the width nor for alignment (parley's own hanging advance is not
            // reliable for unwrapped lines, so measure the visible clusters here).
            let visible_end = range.start + text.len();
            let (mut left, mut visible) = (f32::INFINITY, 0.0_f32);
            for item in line.items() {
                if let PositionedLayoutItem::GlyphRun(glyph_run) = item {
                    let mut pen = glyph_run.offset();
                    for cluster in glyph_run.run().visual_clusters() {
                        if cluster.text_range().start < visible_end {
                            left = left.min(pen);
                            visible += cluster.advance();
                        }
                        pen += cluster.advance();
                    }
                }
            }
            let left = if left.is_finite() { left } else { 0.0 };
            let width = f64::from(visible);
            let x = line_left(node, width);
            let baseline = first_baseline + index as f64 * line_step;
            lines.push(TextLine {
                text: text.to_owned(),
                x,
                baseline,
                width,
            });
            for item in line.items() {
                let PositionedLayoutItem::GlyphRun(glyph_run) = item else {
                    continue;
                };
                // Parley's own baseline and alignment are replaced by ours.
                let dx = x as f32 - left;
                let dy = baseline as f32 - glyph_run.baseline();
                let font = glyph_run.run().font();
                let run_size = glyph_run.run().font_size();
                let glyphs = glyph_run.positioned_glyphs().map(|g| PositionedGlyph {
                    id: g.id,
                    x: g.x + dx,
                    y: g.y + dy,
                });
                match runs.last_mut() {
                    Some(last) if same_font(&last.font, font) && last.size == run_size => {
                        last.glyphs.extend(glyphs);
                    }
                    _ => runs.push(GlyphRun {
                        font: font.clone(),
                        size: run_size,
                        glyphs: glyphs.collect(),
                    }),
                }
            }
        }
    });

    TextLayout {
        lines,
        runs,
        family: face.family_name().to_owned(),
        asset: face.asset().map(str::to_owned),
        weight: face.weight(),
        size,
        warning: selection.warning,
    }
}

/// White space that hangs at the end of a line (CSS `pre-wrap`): spaces, tabs and breaks.
fn hangs(c: char) -> bool {
    matches!(
        c,
        ' ' | '\t' | '\n' | '\r' | '\u{b}' | '\u{c}' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

fn same_font(a: &FontData, b: &FontData) -> bool {
    a.data.id() == b.data.id() && a.index == b.index
}

/// The left edge of a line `width` wide.
fn line_left(node: &TextNode, width: f64) -> f64 {
    match (node.align(), node.max_width) {
        (TextAlign::Left, _) => node.x,
        // CSS Text 3: a line too long for its box is start-aligned.
        (_, Some(max)) if width > max => node.x,
        (TextAlign::Center, Some(max)) => node.x + (max - width) / 2.0,
        (TextAlign::Right, Some(max)) => node.x + max - width,
        (TextAlign::Center, None) => node.x - width / 2.0,
        (TextAlign::Right, None) => node.x - width,
    }
}

/// Fills every glyph run of `layout` with the context's current paint and transform.
pub(crate) fn draw(
    ctx: &mut vello_cpu::RenderContext,
    resources: &mut vello_cpu::Resources,
    layout: &TextLayout,
) {
    for run in &layout.runs {
        draw_run(ctx, resources, run);
    }
}

/// Fills one glyph run with the context's current paint and transform.
pub(crate) fn draw_run(
    ctx: &mut vello_cpu::RenderContext,
    resources: &mut vello_cpu::Resources,
    run: &GlyphRun,
) {
    let glyphs = run.glyphs.iter().map(|g| vello_cpu::Glyph {
        id: g.id,
        x: g.x,
        y: g.y,
    });
    // Unhinted outlines: thumbnails are drawn at arbitrary scales, and resvg (the
    // reference for the SVG export) does not hint either.
    let drawn = ctx
        .glyph_run(resources, &run.font)
        .font_size(run.size)
        .hint(false)
        .fill_glyphs(glyphs);
    if let Err(err) = drawn {
        // The other glyphs are still drawn; one broken outline is not worth failing for.
        tracing::debug!("some glyphs of a text run could not be drawn: {err:?}");
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod example {
    use crate::glyph::TextNode;
    use crate::render::{fonts::FontBook, text};

    /// The module's example.
    #[test]
    fn lines_and_baselines_follow_the_format() {
        let node = TextNode {
            x: 10.0,
            y: 20.0,
            text: "Hello\nworld".into(),
            font: None,
            size: 20.0,
            weight: None,
            line_height: None,
            align: None,
            max_width: None,
        };
        let layout = text::layout(&node, &FontBook::bundled());
        assert_eq!(layout.lines.len(), 2);
        assert_eq!(layout.lines[1].text, "world");
        // DejaVu Sans: hhea ascender 1901 of 2048 units per em; lines 1.2 × size apart.
        assert!((layout.lines[0].baseline - (20.0 + 1901.0 * 20.0 / 2048.0)).abs() < 1e-9);
        assert!((layout.lines[1].baseline - layout.lines[0].baseline - 24.0).abs() < 1e-9);
        assert_eq!(layout.family, "DejaVu Sans");
    }
}
