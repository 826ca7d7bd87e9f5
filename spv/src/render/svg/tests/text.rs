//! Text: lines placed by spv's layout, escaping, fonts.

use super::*;

fn text_nodes(tree: &usvg::Tree) -> Vec<usvg::Text> {
    let mut nodes = Vec::new();
    all_nodes(tree.root(), &mut nodes);
    nodes
        .into_iter()
        .filter_map(|n| match n {
            usvg::Node::Text(text) => Some(*text),
            _ => None,
        })
        .collect()
}

#[test]
fn text_lines_sit_where_spv_lays_them_out() {
    let json = doc(
        300,
        200,
        "",
        r##"{"type":"text","id":"t","x":20,"y":10,"size":20,"weight":700,"align":"center","maxWidth":150,
             "lineHeight":1.5,"fill":"#336699","text":"  Two words and\nmore words that wrap"}"##,
    );
    let loaded = load(&json);
    let svg = page_to_svg(&loaded, 0, &SvgOptions::default()).unwrap();
    let crate::glyph::NodeKind::Text(node) = &loaded.document.pages[0].layers[0].kind else {
        panic!("a text node");
    };
    let layout = crate::render::text::layout(node, &crate::render::fonts::FontBook::bundled());
    assert!(
        layout.lines.len() >= 3,
        "the text wraps: {:?}",
        layout.lines
    );
    assert!(svg.contains(r##"xml:space="preserve" font-family="DejaVu Sans" font-size="20" font-weight="700" fill="#336699""##), "{svg}");

    let tree = parse(&svg);
    let texts = text_nodes(&tree);
    assert_eq!(texts.len(), 1);
    let chunks = texts[0].chunks();
    assert_eq!(chunks.len(), layout.lines.len());
    for (chunk, line) in chunks.iter().zip(&layout.lines) {
        assert_eq!(chunk.text(), line.text);
        assert!(
            (f64::from(chunk.x().unwrap()) - line.x).abs() < 1e-3,
            "{line:?}"
        );
        assert!(
            (f64::from(chunk.y().unwrap()) - line.baseline).abs() < 1e-3,
            "{line:?}"
        );
        assert_eq!(chunk.spans()[0].font().weight(), 700);
    }
    // Leading spaces are kept.
    assert!(chunks[0].text().starts_with("  Two"));
}

#[test]
fn text_is_escaped() {
    let json = doc(
        300,
        50,
        "",
        r##"{"type":"text","x":0,"y":0,"size":12,"text":"a < b & \"c\" 'd' </text>"}"##,
    );
    let svg = export(&json);
    assert!(
        svg.contains("a &lt; b &amp; &quot;c&quot; &apos;d&apos; &lt;/text&gt;"),
        "{svg}"
    );
    let tree = parse(&svg);
    assert_eq!(
        text_nodes(&tree)[0].chunks()[0].text(),
        "a < b & \"c\" 'd' </text>"
    );
}

#[test]
fn font_assets_are_embedded_with_their_family() {
    let url = format!(
        "data:font/ttf;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(BOLD)
    );
    let json = doc(
        100,
        40,
        &format!(r#""heavy":{{"type":"font","src":"{url}"}}"#),
        r#"{"type":"text","x":0,"y":0,"size":12,"font":"heavy","text":"x"},
           {"type":"text","x":0,"y":20,"size":12,"weight":300,"font":"heavy","text":"y"}"#,
    );
    let svg = export(&json);
    // Once, with the face's own family and weight, which the text asks for too.
    assert_eq!(svg.matches("@font-face").count(), 1, "{}", &svg[..200]);
    assert!(svg.contains(r#"<style>@font-face{font-family:&quot;DejaVu Sans&quot;;font-weight:700;src:url(data:font/ttf;base64,"#));
    assert_eq!(
        svg.matches(r#"font-family="DejaVu Sans" font-size="12" font-weight="700""#)
            .count(),
        2
    );
}

#[test]
fn missing_font_assets_fail_unless_lenient() {
    let json = doc(
        100,
        40,
        r#""f":{"type":"font","src":"assets/f.ttf"}"#,
        r#"{"type":"text","x":0,"y":0,"size":12,"font":"f","text":"x"}"#,
    );
    let loaded = load(&json);
    let err = page_to_svg(&loaded, 0, &SvgOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingAsset);
    let page = export_page(&loaded, 0, &SvgOptions::default().lenient(true)).unwrap();
    assert_eq!(page.warnings.len(), 1, "{:?}", page.warnings);
    assert!(page.svg.contains(r#"font-family="DejaVu Sans""#));
}

#[test]
fn unknown_families_fall_back_to_sans_with_a_warning() {
    let json = doc(
        100,
        40,
        "",
        r#"{"type":"text","x":0,"y":0,"size":12,"font":"Comic Sans MS","text":"x"}"#,
    );
    let page = export_page(&load(&json), 0, &SvgOptions::default()).unwrap();
    assert!(page.svg.contains(r#"font-family="DejaVu Sans""#));
    assert_eq!(page.warnings.len(), 1, "{:?}", page.warnings);
    assert!(
        page.warnings[0].starts_with("pages[0].layers[0].font: "),
        "{:?}",
        page.warnings
    );
}
