use std::sync::Arc;

use vello_cpu::color::palette::css::BLACK;
use vello_cpu::{Pixmap, RenderContext, Resources};

use super::*;
use crate::render::fonts::{self, BOLD_TTF, BOOK_TTF};

fn node(text: &str, size: f64) -> TextNode {
    TextNode {
        x: 10.0,
        y: 20.0,
        text: text.into(),
        font: None,
        size,
        weight: None,
        line_height: None,
        align: None,
        max_width: None,
    }
}

fn lay(node: &TextNode) -> TextLayout {
    layout(node, &FontBook::bundled())
}

fn width_of(text: &str, size: f64) -> f64 {
    let layout = lay(&node(text, size));
    assert_eq!(layout.lines.len(), 1);
    layout.lines[0].width
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-3
}

#[test]
fn first_baseline_is_y_plus_the_hhea_ascender() {
    let layout = lay(&node("Hxg", 40.0));
    // DejaVu Sans: hhea ascender 1901, unitsPerEm 2048 (read from the file in fonts::sfnt).
    let expected = 20.0 + 1901.0 * 40.0 / 2048.0;
    assert!((layout.lines[0].baseline - expected).abs() < 1e-9);
    // The glyphs sit on that baseline.
    for glyph in &layout.runs[0].glyphs {
        assert!((f64::from(glyph.y) - expected).abs() < 1e-3, "{glyph:?}");
    }
}

#[test]
fn further_lines_are_line_height_times_size_lower() {
    let mut n = node("one\ntwo\nthree", 30.0);
    let layout = lay(&n);
    let texts: Vec<_> = layout.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    let first = layout.lines[0].baseline;
    assert!(close(layout.lines[1].baseline - first, 1.2 * 30.0));
    assert!(close(layout.lines[2].baseline - first, 2.0 * 1.2 * 30.0));

    n.line_height = Some(2.5);
    let layout = lay(&n);
    assert!(close(
        layout.lines[1].baseline - layout.lines[0].baseline,
        75.0
    ));
    // The third line's glyphs are on the third baseline.
    let last_glyph = layout.runs.last().unwrap().glyphs.last().unwrap();
    assert!(close(f64::from(last_glyph.y), layout.lines[2].baseline));
}

#[test]
fn line_break_and_trailing_space_do_not_count_in_width() {
    let layout = lay(&node("ab  \ncd", 20.0));
    assert_eq!(layout.lines[0].text, "ab");
    assert!(close(layout.lines[0].width, width_of("ab", 20.0)));
    // Leading spaces are kept, in the text and the width.
    let layout = lay(&node("  ab", 20.0));
    assert_eq!(layout.lines[0].text, "  ab");
    assert!(layout.lines[0].width > width_of("ab", 20.0));
}

#[test]
fn max_width_wraps_words() {
    let two_words = width_of("alpha beta", 20.0);
    let mut n = node("alpha beta alpha beta alpha", 20.0);
    n.max_width = Some(two_words + 1.0);
    let layout = lay(&n);
    let texts: Vec<_> = layout.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["alpha beta", "alpha beta", "alpha"]);
    for line in &layout.lines {
        assert!(line.width <= two_words + 1.0, "{line:?}");
        assert_eq!(line.x, 10.0);
    }
    assert!(close(layout.lines[0].width, two_words));

    // Narrower than any word: one word a line, each left-aligned and overflowing.
    n.max_width = Some(1.0);
    n.align = Some(TextAlign::Right);
    let layout = lay(&n);
    let texts: Vec<_> = layout.lines.iter().map(|l| l.text.as_str()).collect();
    assert_eq!(texts, ["alpha", "beta", "alpha", "beta", "alpha"]);
    assert!(layout.lines.iter().all(|l| l.x == 10.0));
}

#[test]
fn align_within_max_width() {
    let mut n = node("short\na longer line", 16.0);
    n.max_width = Some(300.0);
    n.align = Some(TextAlign::Center);
    let layout = lay(&n);
    for line in &layout.lines {
        assert!(close(line.x, 10.0 + (300.0 - line.width) / 2.0), "{line:?}");
    }
    n.align = Some(TextAlign::Right);
    let layout = lay(&n);
    for line in &layout.lines {
        assert!(close(line.x + line.width, 310.0), "{line:?}");
    }
}

#[test]
fn align_around_x_without_max_width() {
    let mut n = node("short\na longer line", 16.0);
    n.align = Some(TextAlign::Center);
    let layout = lay(&n);
    for line in &layout.lines {
        assert!(close(line.x + line.width / 2.0, 10.0), "{line:?}");
    }
    n.align = Some(TextAlign::Right);
    let layout = lay(&n);
    let widths: Vec<f64> = layout.lines.iter().map(|l| l.width).collect();
    assert!(widths[1] > widths[0] * 2.0);
    for line in &layout.lines {
        assert!(close(line.x + line.width, 10.0), "{line:?}");
    }
}

#[test]
fn glyphs_follow_their_line() {
    let mut n = node("Hi\nthere", 20.0);
    n.align = Some(TextAlign::Right);
    let layout = lay(&n);
    let glyphs = &layout.runs[0].glyphs;
    let on_line = |i: usize| -> Vec<PositionedGlyph> {
        let baseline = layout.lines[i].baseline;
        glyphs
            .iter()
            .copied()
            .filter(|g| close(f64::from(g.y), baseline))
            .collect()
    };
    let (first, second) = (on_line(0), on_line(1));
    assert_eq!(first.len(), 2);
    assert_eq!(second.len(), 5);
    // `H` starts its line; `t` starts the second; advances increase along a line.
    assert!(close(f64::from(first[0].x), layout.lines[0].x));
    assert!(close(f64::from(second[0].x), layout.lines[1].x));
    assert!(second.windows(2).all(|w| w[1].x > w[0].x));
}

#[test]
fn bold_weight_picks_the_bold_face() {
    let mut n = node("Hamburgefonstiv", 24.0);
    let book = lay(&n);
    n.weight = Some(700);
    let bold = lay(&n);
    assert_eq!(book.weight, 400);
    assert_eq!(bold.weight, 700);
    assert_eq!(book.runs[0].font.data.data(), BOOK_TTF);
    assert_eq!(bold.runs[0].font.data.data(), BOLD_TTF);
    // DejaVu Sans Bold is wider.
    assert!(bold.lines[0].width > book.lines[0].width * 1.05);
    n.weight = Some(500);
    assert_eq!(lay(&n).runs[0].font.data.data(), BOOK_TTF);
}

#[test]
fn font_asset_is_used_for_layout() {
    let mut fonts = FontBook::bundled();
    fonts.add_asset("brand", Arc::from(BOLD_TTF)).unwrap();
    let mut n = node("Hamburgefonstiv", 24.0);
    n.font = Some("brand".into());
    let layout = layout(&n, &fonts);
    assert_eq!(layout.asset.as_deref(), Some("brand"));
    assert_eq!(layout.family, "DejaVu Sans");
    assert!(layout.warning.is_none());
    let asset_face = fonts.select("brand", 400).face;
    assert_eq!(
        layout.runs[0].font.data.id(),
        asset_face.font_data().data.id()
    );
    // Same bytes as the bundled bold: same advances.
    n.font = None;
    n.weight = Some(700);
    assert!(close(layout.lines[0].width, lay(&n).lines[0].width));
}

#[test]
fn many_assets_on_one_thread_each_get_their_own_font() {
    // More assets than a thread keeps registered: the collection starts over and every
    // layout still uses its own asset.
    let mut fonts = FontBook::bundled();
    let names: Vec<String> = (0..40).map(|i| format!("font{i}")).collect();
    for (i, name) in names.iter().enumerate() {
        let bytes = if i % 2 == 0 { BOOK_TTF } else { BOLD_TTF };
        fonts.add_asset(name, Arc::from(bytes)).unwrap();
    }
    for round in 0..2 {
        for name in &names {
            let mut n = node("Wave", 12.0);
            n.font = Some(name.clone());
            let layout = layout(&n, &fonts);
            let face = fonts.select(name, 400).face;
            assert_eq!(
                layout.runs[0].font.data.id(),
                face.font_data().data.id(),
                "{name}, round {round}"
            );
        }
    }
}

#[test]
fn unknown_font_warns_and_uses_sans() {
    let mut n = node("Hi", 12.0);
    n.font = Some("Papyrus".into());
    let layout = lay(&n);
    assert_eq!(layout.family, "DejaVu Sans");
    assert!(layout.warning.unwrap().contains("Papyrus"));
    assert_eq!(layout.runs[0].font.data.data(), BOOK_TTF);
}

#[test]
fn characters_missing_from_the_font_stay_in_it() {
    // No system fonts: a missing character is the font's .notdef, never some other font.
    let layout = lay(&node("a中b", 12.0));
    assert_eq!(layout.runs.len(), 1);
    assert_eq!(layout.runs[0].font.data.data(), BOOK_TTF);
    assert_eq!(layout.runs[0].glyphs[1].id, 0);
}

#[test]
fn empty_and_odd_text_do_not_panic() {
    for text in [
        "",
        "\n",
        "\n\n\n",
        " ",
        "\t",
        "\u{200b}",
        "\r\n",
        "a\u{2028}b",
        "مرحبا",
    ] {
        let layout = lay(&node(text, 12.0));
        assert!(!layout.lines.is_empty(), "{text:?}");
        assert!(layout.lines.iter().all(|l| l.width.is_finite()), "{text:?}");
    }
}

fn render(layout: &TextLayout, width: u16, height: u16) -> Pixmap {
    let mut ctx = RenderContext::new(width, height);
    let mut resources = Resources::new();
    ctx.set_paint(BLACK);
    draw(&mut ctx, &mut resources, layout);
    ctx.flush();
    let mut pixmap = Pixmap::new(width, height);
    ctx.render(&mut pixmap, &mut resources);
    pixmap
}

/// Alpha sum inside the rectangle `x0..x1`, `y0..y1`.
fn ink(pixmap: &Pixmap, x0: u16, y0: u16, x1: u16, y1: u16) -> u64 {
    let mut sum = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            sum += u64::from(pixmap.sample(x, y).a);
        }
    }
    sum
}

#[test]
fn draw_fills_glyphs_where_the_text_is() {
    let mut n = node("Hi", 40.0);
    (n.x, n.y) = (10.0, 10.0);
    let layout = lay(&n);
    let pixmap = render(&layout, 200, 80);
    let line = &layout.lines[0];
    let right = (line.x + line.width).ceil() as u16;
    let baseline = line.baseline.round() as u16;
    // `H` is a cap-height tall: ink between the top of the box and the baseline.
    let inside = ink(&pixmap, 10, 10, right, baseline);
    assert!(inside > 255 * 200, "too little ink: {inside}");
    // Fully dark pixels exist (the stems of H).
    let h = &pixmap;
    assert!((10..right).any(|x| (15..baseline).any(|y| h.sample(x, y).a == 255)));
    // Nothing right of the line, above the box or below the descender.
    assert_eq!(ink(&pixmap, right + 1, 0, 200, 80), 0);
    assert_eq!(ink(&pixmap, 0, 0, 200, 10), 0);
    assert_eq!(ink(&pixmap, 0, baseline + 1, 200, 80), 0);
}

#[test]
fn draw_bold_inks_more_than_book() {
    let mut n = node("Hamburg", 30.0);
    (n.x, n.y) = (0.0, 0.0);
    let book = ink(&render(&lay(&n), 300, 50), 0, 0, 300, 50);
    n.weight = Some(700);
    let bold = ink(&render(&lay(&n), 300, 50), 0, 0, 300, 50);
    assert!(bold > book + book / 5, "bold {bold}, book {book}");
}

#[test]
fn draw_respects_the_context_transform() {
    let mut n = node("H", 20.0);
    (n.x, n.y) = (0.0, 0.0);
    let layout = lay(&n);
    let mut ctx = RenderContext::new(100, 100);
    let mut resources = Resources::new();
    ctx.set_paint(BLACK);
    ctx.set_transform(
        vello_cpu::kurbo::Affine::translate((50.0, 50.0)) * vello_cpu::kurbo::Affine::scale(2.0),
    );
    draw(&mut ctx, &mut resources, &layout);
    ctx.flush();
    let mut pixmap = Pixmap::new(100, 100);
    ctx.render(&mut pixmap, &mut resources);
    assert_eq!(ink(&pixmap, 0, 0, 50, 100), 0);
    assert_eq!(ink(&pixmap, 0, 0, 100, 50), 0);
    assert!(ink(&pixmap, 50, 50, 100, 100) > 255 * 100);
}

#[test]
fn bundled_faces_are_parsed_once_per_process() {
    // Guards the per-process font parsing: every lookup hands out the same parsed face,
    // never a fresh parse of the bundled bytes (speed itself is measured in benches/).
    let n = node("Launch poster 2025", 32.0);
    let first = lay(&n);
    assert!(std::sync::Arc::ptr_eq(fonts::sans(400), fonts::sans(400)));
    assert!(std::sync::Arc::ptr_eq(fonts::sans(700), fonts::sans(900)));
    assert_eq!(lay(&n).lines, first.lines);
}

#[test]
fn right_to_left_lines_start_at_their_left_edge() {
    // The trailing space of an RTL line sits at its visual left; it must not push the
    // visible text off `x`.
    let with_space = lay(&node("مرحبا \nب", 20.0));
    let without = lay(&node("مرحبا", 20.0));
    assert_eq!(with_space.lines[0].text, "مرحبا");
    assert!(close(with_space.lines[0].width, without.lines[0].width));
    let first_line = with_space.lines[0].baseline;
    let space = lay(&node(" ", 20.0)).runs[0].glyphs[0].id;
    let leftmost = with_space.runs[0]
        .glyphs
        .iter()
        .filter(|g| close(f64::from(g.y), first_line) && g.id != space)
        .map(|g| g.x)
        .fold(f32::INFINITY, f32::min);
    assert!(
        close(f64::from(leftmost), 10.0),
        "leftmost glyph at {leftmost}"
    );
}

#[test]
fn extreme_numbers_do_not_panic() {
    for size in [1e-9, 0.01, 1e4, 1e9, 1e30, 1e300, f64::MAX] {
        for max_width in [None, Some(0.0), Some(1e-9), Some(1e300)] {
            let mut n = node("Wrap these words\nplease", size);
            n.max_width = max_width;
            n.align = Some(TextAlign::Center);
            let layout = lay(&n);
            let _ = render(&layout, 20, 20);
        }
    }
    let mut n = node("far away", 12.0);
    (n.x, n.y) = (1e300, -1e300);
    let _ = render(&lay(&n), 20, 20);
}

#[test]
fn text_node_renders_through_the_cpu_backend() {
    use crate::api::ThumbnailSize;
    use crate::glyph::{self, Limits};
    use crate::render::{RenderOptions, render_page};

    // A 200 × 100 page rendered at 400 px: 2 device pixels a page pixel. "HH" at (20, 20),
    // 40 px: ascender 37.1, cap height about 29, so ink between y ≈ 28 and the baseline at
    // 57.1, and between x = 20 and the line's end.
    let doc = br##"{"format":"glyph","version":1,"pages":[{"width":200,"height":100,
        "background":"#ffffff","layers":[{"type":"text","x":20,"y":20,"text":"HH",
        "size":40,"fill":"#000000"}]}]}"##;
    let loaded = glyph::load(doc, &Limits::default()).unwrap();
    let page = render_page(
        &loaded,
        0,
        ThumbnailSize::Longest { size: 400 },
        &RenderOptions::default(),
    )
    .unwrap();
    assert_eq!((page.width, page.height), (400, 200));
    let end = 20.0 + width_of("HH", 40.0);
    let dark = |x: u32, y: u32| page.pixel(x, y)[0] < 64;
    let dark_in = |x0: f64, y0: f64, x1: f64, y1: f64| {
        let (x0, y0, x1, y1) = (
            (x0 * 2.0) as u32,
            (y0 * 2.0) as u32,
            (x1 * 2.0) as u32,
            (y1 * 2.0) as u32,
        );
        (y0..y1)
            .flat_map(|y| (x0..x1).map(move |x| (x, y)))
            .filter(|&(x, y)| dark(x, y))
            .count()
    };
    let baseline = 20.0 + 1901.0 * 40.0 / 2048.0;
    // The stems of both H's: plenty of dark pixels inside the text's box.
    assert!(dark_in(20.0, 28.0, end, baseline) > 1000);
    // None above the caps, below the baseline, or right of the line.
    assert_eq!(dark_in(0.0, 0.0, 200.0, 26.0), 0);
    assert_eq!(dark_in(0.0, baseline + 1.0, 200.0, 100.0), 0);
    assert_eq!(dark_in(end + 1.0, 0.0, 200.0, 100.0), 0);
    assert!(page.warnings.is_empty(), "{:?}", page.warnings);
}
