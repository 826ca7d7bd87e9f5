//! Image and font assets: embedded bytes, resolvers, missing and broken assets.

use super::*;

#[test]
fn images_embed_their_bytes() {
    let url = png_data_url(2, 2, [0, 0, 255, 255]);
    let json = doc(
        40,
        20,
        &format!(r#""pic":{{"type":"image","src":"{url}"}}"#),
        r#"{"type":"image","id":"i","asset":"pic","x":0,"y":0,"width":40,"height":20,"fit":"contain"}"#,
    );
    let svg = export(&json);
    assert!(
        svg.contains(r#"preserveAspectRatio="xMidYMid meet""#),
        "{svg}"
    );
    assert!(svg.contains(&format!("href=\"{url}\"")), "{svg}");
    let tree = parse(&svg);
    let mut nodes = Vec::new();
    all_nodes(tree.root(), &mut nodes);
    let image = nodes
        .iter()
        .find_map(|n| match n {
            usvg::Node::Image(image) => Some(image.clone()),
            _ => None,
        })
        .expect("an image node");
    assert!(matches!(image.kind(), usvg::ImageKind::PNG(_)));
    // `contain` letterboxes the square image in the middle of the 40 × 20 box.
    let pixmap = render(&svg);
    assert!(
        close(pixel(&pixmap, 20, 10), [0, 0, 255, 255]),
        "{:?}",
        pixel(&pixmap, 20, 10)
    );
    assert_eq!(pixel(&pixmap, 2, 10)[3], 0);
}

#[test]
fn missing_assets_fail_unless_lenient() {
    let json = doc(
        40,
        20,
        r#""pic":{"type":"image","src":"assets/pic.png"}"#,
        r#"{"type":"image","asset":"pic","x":0,"y":0,"width":40,"height":20}"#,
    );
    let loaded = load(&json);
    let err = page_to_svg(&loaded, 0, &SvgOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingAsset);
    assert!(err.to_string().contains("pic"), "{err}");

    let page = export_page(&loaded, 0, &SvgOptions::default().lenient(true)).unwrap();
    assert_eq!(page.warnings.len(), 1, "{:?}", page.warnings);
    assert!(page.warnings[0].contains("placeholder"));
    let pixmap = render(&page.svg);
    assert_eq!(
        pixel(&pixmap, 10, 3),
        [224, 224, 224, 255],
        "the placeholder is visible"
    );
}

#[test]
fn assets_come_from_the_resolver() {
    struct One(Bytes);
    impl AssetResolver for One {
        fn resolve(&self, source: &crate::glyph::AssetSource) -> Result<Option<Bytes>> {
            Ok(
                matches!(source, crate::glyph::AssetSource::Path(p) if p == "assets/pic.png")
                    .then(|| self.0.clone()),
            )
        }
    }
    let url = png_data_url(1, 1, [0, 255, 0, 255]);
    let b64 = url.trim_start_matches("data:image/png;base64,");
    let bytes: Bytes = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
        .into();
    let json = doc(
        10,
        10,
        r#""pic":{"type":"image","src":"assets/pic.png"}"#,
        r#"{"type":"image","asset":"pic","x":0,"y":0,"width":10,"height":10}"#,
    );
    let svg = page_to_svg(&load(&json), 0, &SvgOptions::new(Arc::new(One(bytes)))).unwrap();
    assert!(svg.contains(&url), "the original bytes are embedded: {svg}");
    assert!(svg.contains(r#"preserveAspectRatio="none""#));
}

#[test]
fn bytes_that_are_no_image_are_an_invalid_asset() {
    let json = doc(
        10,
        10,
        r#""pic":{"type":"image","src":"data:image/png;base64,aGVsbG8="}"#,
        r#"{"type":"image","asset":"pic","x":0,"y":0,"width":10,"height":10}"#,
    );
    let err = page_to_svg(&load(&json), 0, &SvgOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidAsset);
    assert_eq!(err.path(), Some("assets.pic"));
}
