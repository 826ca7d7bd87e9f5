use std::sync::Arc;

use super::*;
use crate::glyph::{self, Limits, NoAssets};

fn doc_with_font_asset(src: &str) -> Document {
    let json = format!(
        r#"{{"format":"glyph","version":1,
            "assets":{{"brand":{{"type":"font","src":"{src}"}}}},
            "pages":[{{"width":100,"height":100,"layers":[
                {{"type":"group","children":[
                    {{"type":"text","x":0,"y":0,"text":"Hi","size":12,"font":"brand"}}]}}]}}]}}"#
    );
    glyph::load(json.as_bytes(), &Limits::default())
        .expect("test document parses")
        .document
}

fn data_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    format!("data:font/ttf;base64,{b64}")
}

#[test]
fn bundled_faces_are_dejavu_book_and_bold() {
    let book = sans(400);
    let bold = sans(700);
    assert_eq!(book.family_name(), "DejaVu Sans");
    assert_eq!(bold.family_name(), "DejaVu Sans");
    assert_eq!((book.weight(), bold.weight()), (400, 700));
    assert_eq!(book.font_data().data.data(), BOOK_TTF);
    assert_eq!(bold.font_data().data.data(), BOLD_TTF);
    assert_eq!(book.units_per_em(), 2048);
    assert!((book.ascender(2048.0) - 1901.0).abs() < 1e-12);
    assert!((book.descender(2048.0) + 483.0).abs() < 1e-12);
    // Parsed once per process: the same face every time.
    assert!(Arc::ptr_eq(sans(400), sans(100)));
}

#[test]
fn weight_picks_the_face_as_css_matching_does() {
    let fonts = FontBook::bundled();
    for (weight, expected) in [
        (100, 400),
        (300, 400),
        (400, 400),
        (500, 400),
        (599, 400),
        (600, 700),
        (700, 700),
        (900, 700),
    ] {
        let selection = fonts.select("sans", weight);
        assert_eq!(selection.face.weight(), expected, "weight {weight}");
        assert!(selection.warning.is_none());
    }
    assert_eq!(fonts.select("DejaVu Sans", 700).face.weight(), 700);
}

#[test]
fn unknown_family_falls_back_to_sans_with_a_warning() {
    let fonts = FontBook::bundled();
    let selection = fonts.select("Helvetica Neue", 700);
    assert!(Arc::ptr_eq(selection.face, sans(700)));
    let warning = selection.warning.expect("a warning");
    assert!(warning.contains("\"Helvetica Neue\""), "{warning}");
    assert!(warning.contains("sans"), "{warning}");
}

#[test]
fn font_asset_from_bytes_is_its_own_family() {
    let mut fonts = FontBook::bundled();
    fonts.add_asset("brand", Arc::from(BOLD_TTF)).unwrap();
    // The asset is used whatever the weight: it is the family's only face.
    let selection = fonts.select("brand", 400);
    assert!(selection.warning.is_none());
    assert_eq!(selection.face.asset(), Some("brand"));
    assert_eq!(selection.face.family_name(), "DejaVu Sans");
    assert_eq!(selection.face.weight(), 700);
    assert_eq!(selection.face.font_data().data.data(), BOLD_TTF);
    assert!(!Arc::ptr_eq(selection.face, sans(700)));
}

#[test]
fn bad_font_bytes_are_an_invalid_asset_error_naming_it() {
    let mut fonts = FontBook::bundled();
    for bytes in [&b""[..], b"not a font", &BOOK_TTF[..2000]] {
        let err = fonts.add_asset("brand", Arc::from(bytes)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidAsset);
        assert_eq!(err.path(), Some("assets.brand"));
        assert_eq!(
            err.message(),
            "font asset \"brand\" is not a TrueType or OpenType font"
        );
    }
    // PNG bytes are not a font either.
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    assert_eq!(
        fonts
            .add_asset("logo", Arc::from(&png[..]))
            .unwrap_err()
            .kind(),
        ErrorKind::InvalidAsset
    );
}

#[test]
fn load_reads_font_assets_used_by_text_nodes() {
    let doc = doc_with_font_asset(&data_url(BOLD_TTF));
    let fonts = FontBook::load(&doc, &NoAssets, false).unwrap();
    assert!(fonts.warnings().is_empty());
    let face = fonts.select("brand", 400).face;
    assert_eq!(face.asset(), Some("brand"));
    assert_eq!(face.font_data().data.data(), BOLD_TTF);
}

#[test]
fn missing_font_asset_is_an_error_unless_lenient() {
    let doc = doc_with_font_asset("assets/brand.ttf");
    let err = FontBook::load(&doc, &NoAssets, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingAsset);
    assert_eq!(err.path(), Some("assets.brand"));

    let fonts = FontBook::load(&doc, &NoAssets, true).unwrap();
    assert_eq!(fonts.warnings().len(), 1);
    assert!(
        fonts.warnings()[0].contains("\"brand\""),
        "{:?}",
        fonts.warnings()
    );
    let selection = fonts.select("brand", 700);
    assert!(Arc::ptr_eq(selection.face, sans(700)));
}

#[test]
fn broken_font_asset_is_an_error_unless_lenient() {
    let doc = doc_with_font_asset(&data_url(b"definitely not a font"));
    let err = FontBook::load(&doc, &NoAssets, false).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidAsset);
    let fonts = FontBook::load(&doc, &NoAssets, true).unwrap();
    assert_eq!(fonts.warnings().len(), 1);
    assert!(Arc::ptr_eq(fonts.select("brand", 400).face, sans(400)));
}

#[test]
fn the_same_asset_bytes_reuse_the_parsed_face() {
    let bytes: Bytes = Arc::from(BOLD_TTF);
    let mut a = FontBook::bundled();
    let mut b = FontBook::bundled();
    a.add_asset("reused", bytes.clone()).unwrap();
    // Equal bytes in another allocation hit the cache too.
    b.add_asset("reused", Arc::from(BOLD_TTF.to_vec())).unwrap();
    assert!(Arc::ptr_eq(
        a.select("reused", 400).face,
        b.select("reused", 400).face
    ));
}
