//! One test per rule of the format page, each asserting the exact path and message.

use serde_json::{Value, json};

use super::{doc, doc_with, errors, only_error};

pub(super) fn rect(extra: Value) -> Value {
    let mut node = json!({ "type": "rect", "x": 0, "y": 0, "width": 10, "height": 10 });
    node.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    node
}

pub(super) fn with_fill(fill: Value) -> Value {
    doc(json!([rect(json!({ "fill": fill }))]))
}

#[test]
fn page_sizes() {
    for (width, message) in [
        (
            json!(0),
            "pages[0].width: 0 is not a number > 0 and <= 16384",
        ),
        (
            json!(16385),
            "pages[0].width: 16385 is not a number > 0 and <= 16384",
        ),
        (
            json!("10"),
            r#"pages[0].width: expected a number, found "10""#,
        ),
    ] {
        let mut d = doc(json!([]));
        d["pages"][0]["width"] = width;
        assert_eq!(only_error(&d), message);
    }
    let mut d = doc(json!([]));
    d["pages"][0]["height"] = json!(16384);
    assert_eq!(errors(&d), Vec::<String>::new());
}

#[test]
fn pages_are_required_and_not_empty() {
    assert_eq!(
        only_error(&json!({ "format": "glyph", "version": 1 })),
        "pages: required field is missing (expected an array of pages)"
    );
    assert_eq!(
        only_error(&json!({ "format": "glyph", "version": 1, "pages": [] })),
        "pages: a document needs at least one page"
    );
    let mut d = doc(json!([]));
    d["pages"][0].as_object_mut().unwrap().remove("layers");
    assert_eq!(
        only_error(&d),
        "pages[0].layers: required field is missing (expected an array of nodes)"
    );
}

#[test]
fn page_ids_are_unique_among_pages() {
    let mut d = doc(json!([]));
    d["pages"][0]["id"] = json!("cover");
    let page = d["pages"][0].clone();
    d["pages"].as_array_mut().unwrap().push(page);
    assert_eq!(
        only_error(&d),
        r#"pages[1].id: duplicate id "cover" (also used at pages[0])"#
    );
}

#[test]
fn node_ids_are_unique_within_the_document() {
    let mut d = doc(json!([
        rect(json!({ "id": "a" })),
        { "type": "group", "children": [rect(json!({ "id": "b" }))], "clip": rect(json!({ "id": "c" })) },
    ]));
    let mut page = d["pages"][0].clone();
    page["layers"] = json!([rect(json!({ "id": "c" }))]);
    d["pages"].as_array_mut().unwrap().push(page);
    assert_eq!(
        only_error(&d),
        r#"pages[1].layers[0].id: duplicate id "c" (also used at pages[0].layers[1].clip)"#
    );
    // Page ids and node ids are separate namespaces.
    let mut d = doc(json!([rect(json!({ "id": "x" }))]));
    d["pages"][0]["id"] = json!("x");
    assert!(errors(&d).is_empty());
}

#[test]
fn common_node_fields() {
    let cases = [
        (
            json!({ "opacity": 1.5 }),
            "pages[0].layers[0].opacity: 1.5 is not a number from 0 to 1",
        ),
        (
            json!({ "opacity": -0.1 }),
            "pages[0].layers[0].opacity: -0.1 is not a number from 0 to 1",
        ),
        (
            json!({ "visible": "yes" }),
            r#"pages[0].layers[0].visible: expected true or false, found "yes""#,
        ),
        (
            json!({ "id": 5 }),
            "pages[0].layers[0].id: expected a string, found 5",
        ),
        (
            json!({ "blend": "add" }),
            r#"pages[0].layers[0].blend: "add" is not a blend mode (expected "normal", "multiply", "screen", "overlay", "darken", "lighten", "color-dodge", "color-burn", "hard-light", "soft-light", "difference", "exclusion", "hue", "saturation", "color" or "luminosity")"#,
        ),
        (
            json!({ "transform": [1, 0, 0, 1, 0] }),
            "pages[0].layers[0].transform: expected a transform [a, b, c, d, e, f], found an array of 5 items",
        ),
        (
            json!({ "transform": [1, 0, 0, 1, 0, "x"] }),
            r#"pages[0].layers[0].transform[5]: expected a number, found "x""#,
        ),
        (
            json!({ "transform": "scale(2)" }),
            r#"pages[0].layers[0].transform: expected a transform [a, b, c, d, e, f], found "scale(2)""#,
        ),
    ];
    for (extra, message) in cases {
        assert_eq!(only_error(&doc(json!([rect(extra)]))), message);
    }
}

#[test]
fn node_types() {
    assert_eq!(
        only_error(&doc(json!([{ "x": 1 }]))),
        r#"pages[0].layers[0].type: required field is missing (expected "rect", "ellipse", "path", "text", "image" or "group")"#
    );
    assert_eq!(
        only_error(&doc(json!([{ "type": "star" }]))),
        r#"pages[0].layers[0].type: "star" is not a node type (expected "rect", "ellipse", "path", "text", "image" or "group")"#
    );
    assert_eq!(
        only_error(&doc(json!([7]))),
        "pages[0].layers[0]: expected a node object, found 7"
    );
}

#[test]
fn rect_fields() {
    let cases = [
        (
            json!({ "width": -1 }),
            "pages[0].layers[0].width: -1 is not a number >= 0",
        ),
        (
            json!({ "height": -0.5 }),
            "pages[0].layers[0].height: -0.5 is not a number >= 0",
        ),
        (
            json!({ "radius": -2 }),
            "pages[0].layers[0].radius: -2 is not a number >= 0",
        ),
        (
            json!({ "radius": [1, 2, -3, 4] }),
            "pages[0].layers[0].radius[2]: -3 is not a number >= 0",
        ),
        (
            json!({ "radius": [1, 2, 3] }),
            "pages[0].layers[0].radius: expected a number or [tl, tr, br, bl], found an array of 3 items",
        ),
        (
            json!({ "radius": "round" }),
            r#"pages[0].layers[0].radius: expected a number or [tl, tr, br, bl], found "round""#,
        ),
    ];
    for (extra, message) in cases {
        assert_eq!(only_error(&doc(json!([rect(extra)]))), message);
    }
    let d = doc(json!([{ "type": "rect", "x": 0, "y": 0, "width": 1 }]));
    assert_eq!(
        only_error(&d),
        "pages[0].layers[0].height: required field is missing (expected a number >= 0)"
    );
}

#[test]
fn ellipse_fields() {
    let d = doc(json!([{ "type": "ellipse", "cx": 0, "cy": 0, "rx": 1, "ry": -1 }]));
    assert_eq!(
        only_error(&d),
        "pages[0].layers[0].ry: -1 is not a number >= 0"
    );
    let d = doc(json!([{ "type": "ellipse", "cx": 0, "rx": 1, "ry": 1 }]));
    assert_eq!(
        only_error(&d),
        "pages[0].layers[0].cy: required field is missing (expected a number)"
    );
}

#[test]
fn path_fields() {
    let d = doc(json!([{ "type": "path", "d": "M0 0 L10 10 Q" }]));
    let err = only_error(&d);
    assert!(
        err.starts_with("pages[0].layers[0].d: invalid SVG path data ("),
        "{err}"
    );
    let d = doc(json!([{ "type": "path", "d": "M0 0 L10 x" }]));
    assert!(
        only_error(&d).contains("at position 10"),
        "the position of the bad byte is named"
    );
    let d = doc(json!([{ "type": "path", "d": "M0 0", "fillRule": "odd" }]));
    assert_eq!(
        only_error(&d),
        r#"pages[0].layers[0].fillRule: "odd" is not a fill rule (expected "nonzero" or "evenodd")"#
    );
}

#[test]
fn text_fields() {
    let text = |extra: Value| {
        let mut node = json!({ "type": "text", "x": 0, "y": 0, "text": "hi", "size": 12 });
        node.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        doc(json!([node]))
    };
    let cases = [
        (
            json!({ "size": 0 }),
            "pages[0].layers[0].size: 0 is not a number > 0",
        ),
        (
            json!({ "weight": 950 }),
            "pages[0].layers[0].weight: 950 is not an integer from 100 to 900",
        ),
        (
            json!({ "weight": 50 }),
            "pages[0].layers[0].weight: 50 is not an integer from 100 to 900",
        ),
        (
            json!({ "weight": 450.5 }),
            "pages[0].layers[0].weight: 450.5 is not an integer from 100 to 900",
        ),
        (
            json!({ "weight": "bold" }),
            r#"pages[0].layers[0].weight: expected an integer from 100 to 900, found "bold""#,
        ),
        (
            json!({ "lineHeight": 0 }),
            "pages[0].layers[0].lineHeight: 0 is not a number > 0",
        ),
        (
            json!({ "maxWidth": -5 }),
            "pages[0].layers[0].maxWidth: -5 is not a number > 0",
        ),
        (
            json!({ "align": "justify" }),
            r#"pages[0].layers[0].align: "justify" is not an alignment (expected "left", "center" or "right")"#,
        ),
        (
            json!({ "text": ["a"] }),
            "pages[0].layers[0].text: expected a string, found an array",
        ),
    ];
    for (extra, message) in cases {
        assert_eq!(only_error(&text(extra)), message);
    }
    assert!(
        errors(&text(
            json!({ "weight": 700, "lineHeight": 1.5, "maxWidth": 80, "align": "center" })
        ))
        .is_empty()
    );
}

#[test]
fn text_fonts_name_font_assets_or_families() {
    let assets = json!({
        "brand": { "type": "font", "src": "fonts/brand.ttf" },
        "logo": { "type": "image", "src": "logo.png" },
    });
    let text = |font: &str| json!({ "type": "text", "x": 0, "y": 0, "text": "hi", "size": 12, "font": font });
    assert!(errors(&doc_with(json!([text("brand")]), assets.clone())).is_empty());
    assert_eq!(
        only_error(&doc_with(json!([text("logo")]), assets)),
        r#"pages[0].layers[0].font: asset "logo" is an image, not a font"#
    );
}

#[test]
fn image_fields() {
    let assets = json!({
        "logo": { "type": "image", "src": "logo.png" },
        "brand": { "type": "font", "src": "brand.ttf" },
    });
    let image = |asset: &str, extra: Value| {
        let mut node =
            json!({ "type": "image", "asset": asset, "x": 0, "y": 0, "width": 10, "height": 10 });
        node.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        doc_with(json!([node]), assets.clone())
    };
    assert!(errors(&image("logo", json!({ "fit": "cover" }))).is_empty());
    let cases = [
        (
            image("nope", json!({})),
            r#"pages[0].layers[0].asset: no asset named "nope" is declared (expected the name of an image asset)"#,
        ),
        (
            image("brand", json!({})),
            r#"pages[0].layers[0].asset: asset "brand" is a font, not an image"#,
        ),
        (
            image("logo", json!({ "fit": "stretch" })),
            r#"pages[0].layers[0].fit: "stretch" is not an image fit (expected "fill", "contain" or "cover")"#,
        ),
        (
            image("logo", json!({ "width": -1 })),
            "pages[0].layers[0].width: -1 is not a number >= 0",
        ),
    ];
    for (d, message) in cases {
        assert_eq!(only_error(&d), message);
    }
    let no_assets =
        doc(json!([{ "type": "image", "asset": "logo", "x": 0, "y": 0, "width": 1, "height": 1 }]));
    assert!(
        only_error(&no_assets).starts_with(r#"pages[0].layers[0].asset: no asset named "logo""#)
    );
}

#[test]
fn group_fields() {
    let group = |clip: Value| {
        doc(json!([{ "type": "group", "children": [rect(json!({}))], "clip": clip }]))
    };
    assert!(
        errors(&group(
            json!({ "type": "ellipse", "cx": 5, "cy": 5, "rx": 5, "ry": 5 })
        ))
        .is_empty()
    );
    assert!(errors(&group(json!({ "type": "path", "d": "M0 0 L5 5 L0 5 Z" }))).is_empty());
    assert_eq!(
        only_error(&group(
            json!({ "type": "text", "x": 0, "y": 0, "text": "a", "size": 5 })
        )),
        r#"pages[0].layers[0].clip.type: a text node cannot be a clip (expected "rect", "ellipse" or "path")"#
    );
    assert_eq!(
        only_error(&group(json!({ "type": "group", "children": [] }))),
        r#"pages[0].layers[0].clip.type: a group node cannot be a clip (expected "rect", "ellipse" or "path")"#
    );
    assert_eq!(
        only_error(&group(
            json!({ "type": "rect", "x": 0, "y": 0, "width": -1, "height": 1 })
        )),
        "pages[0].layers[0].clip.width: -1 is not a number >= 0"
    );
    assert_eq!(
        only_error(&doc(json!([{ "type": "group" }]))),
        "pages[0].layers[0].children: required field is missing (expected an array of nodes)"
    );
    let nested = doc(
        json!([{ "type": "group", "children": [{ "type": "group", "children": [rect(json!({ "opacity": 2 }))] }] }]),
    );
    assert_eq!(
        only_error(&nested),
        "pages[0].layers[0].children[0].children[0].opacity: 2 is not a number from 0 to 1"
    );
}
