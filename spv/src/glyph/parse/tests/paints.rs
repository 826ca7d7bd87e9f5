//! The rules of paints, strokes and assets, each asserting the exact path and message.

use serde_json::{Value, json};

use super::rules::{rect, with_fill};
use super::{doc, doc_with, errors, only_error};

#[test]
fn colours() {
    for good in ["#abc", "#abcd", "#aabbcc", "#AABBCC80"] {
        assert!(errors(&with_fill(json!(good))).is_empty(), "{good}");
    }
    for (bad, shown) in [
        (json!("#ggg"), "\"#ggg\""),
        (json!("#12345"), "\"#12345\""),
        (json!("red"), "\"red\""),
        (json!(5), "5"),
        (json!([1, 2, 3]), "an array"),
    ] {
        assert_eq!(
            only_error(&with_fill(bad)),
            format!(
                "pages[0].layers[0].fill: {shown} is not a colour (expected #rgb, #rgba, #rrggbb or #rrggbbaa, or a gradient object)"
            )
        );
    }
    let mut d = doc(json!([]));
    d["pages"][0]["background"] = json!("#12");
    assert!(only_error(&d).starts_with(r##"pages[0].background: "#12" is not a colour"##));
}

#[test]
fn gradients() {
    let linear =
        |stops: Value| json!({ "type": "linear", "from": [0, 0], "to": [10, 0], "stops": stops });
    assert!(
        errors(&with_fill(linear(json!([
            [0, "#000"],
            [0.5, "#f00"],
            [0.5, "#0f0"],
            [1, "#00f"]
        ]))))
        .is_empty()
    );
    let cases = [
        (
            linear(json!([])),
            "pages[0].layers[0].fill.stops: a gradient needs at least one stop",
        ),
        (
            linear(json!([[0, "#000"], [1.5, "#fff"]])),
            "pages[0].layers[0].fill.stops[1][0]: 1.5 is not a number from 0 to 1",
        ),
        (
            linear(json!([[0.6, "#000"], [0.4, "#fff"]])),
            "pages[0].layers[0].fill.stops[1][0]: 0.4 is less than the previous stop's offset 0.6 (offsets must not decrease)",
        ),
        (
            linear(json!([[0, "nope"]])),
            r#"pages[0].layers[0].fill.stops[0][1]: "nope" is not a colour (expected #rgb, #rgba, #rrggbb or #rrggbbaa)"#,
        ),
        (
            linear(json!([[0, "#000", 1]])),
            "pages[0].layers[0].fill.stops[0]: expected a stop [offset, colour], found an array",
        ),
        (
            linear(json!({})),
            "pages[0].layers[0].fill.stops: expected an array of [offset, colour] stops, found an object",
        ),
        (
            json!({ "type": "linear", "from": [0], "to": [1, 1], "stops": [[0, "#000"]] }),
            "pages[0].layers[0].fill.from: expected a point [x, y], found an array of 1 items",
        ),
        (
            json!({ "type": "linear", "from": [0, 0], "stops": [[0, "#000"]] }),
            "pages[0].layers[0].fill.to: required field is missing (expected a point [x, y])",
        ),
        (
            json!({ "type": "radial", "center": [0, 0], "radius": -1, "stops": [[0, "#000"]] }),
            "pages[0].layers[0].fill.radius: -1 is not a number >= 0",
        ),
        (
            json!({ "type": "conic", "stops": [] }),
            r#"pages[0].layers[0].fill.type: "conic" is not a gradient type (expected "linear" or "radial")"#,
        ),
        (
            json!({ "stops": [] }),
            r#"pages[0].layers[0].fill.type: required field is missing (expected "linear" or "radial")"#,
        ),
    ];
    for (fill, message) in cases {
        assert_eq!(only_error(&with_fill(fill)), message);
    }
}

#[test]
fn strokes() {
    let stroke = |s: Value| doc(json!([rect(json!({ "stroke": s }))]));
    let full = json!({ "paint": "#000", "width": 2, "join": "round", "cap": "square", "miterLimit": 1, "dash": [0, 3, 0.5] });
    assert!(errors(&stroke(full)).is_empty());
    let cases = [
        (
            json!({ "width": 1 }),
            "pages[0].layers[0].stroke.paint: required field is missing (expected a colour or a gradient object)",
        ),
        (
            json!({ "paint": "#000", "width": -1 }),
            "pages[0].layers[0].stroke.width: -1 is not a number >= 0",
        ),
        (
            json!({ "paint": "#000", "miterLimit": 0.5 }),
            "pages[0].layers[0].stroke.miterLimit: 0.5 is not a number >= 1",
        ),
        (
            json!({ "paint": "#000", "dash": [2, -1] }),
            "pages[0].layers[0].stroke.dash[1]: -1 is not a number >= 0",
        ),
        (
            json!({ "paint": "#000", "dash": [2, "x"] }),
            r#"pages[0].layers[0].stroke.dash[1]: expected a number, found "x""#,
        ),
        (
            json!({ "paint": "#000", "join": "sharp" }),
            r#"pages[0].layers[0].stroke.join: "sharp" is not a line join (expected "miter", "round" or "bevel")"#,
        ),
        (
            json!({ "paint": "#000", "cap": "flat" }),
            r#"pages[0].layers[0].stroke.cap: "flat" is not a line cap (expected "butt", "round" or "square")"#,
        ),
        (
            json!({ "paint": { "type": "radial", "center": [0, 0], "radius": 1, "stops": [] } }),
            "pages[0].layers[0].stroke.paint.stops: a gradient needs at least one stop",
        ),
        (
            json!("#000"),
            r##"pages[0].layers[0].stroke: expected a stroke object, found "#000""##,
        ),
    ];
    for (s, message) in cases {
        assert_eq!(only_error(&stroke(s)), message);
    }
}

#[test]
fn assets() {
    let with = |asset: Value| doc_with(json!([]), json!({ "logo": asset }));
    for src in [
        "assets/logo.png",
        "./logo.png",
        "data:image/png;base64,iVBORw0KGgo=",
        &format!("sha256:{}", "0F".repeat(32)),
    ] {
        assert!(
            errors(&with(json!({ "type": "image", "src": src }))).is_empty(),
            "{src}"
        );
    }
    let cases = [
        (
            json!({ "type": "video", "src": "a.mp4" }),
            r#"assets.logo.type: "video" is not an asset type (expected "image" or "font")"#,
        ),
        (
            json!({ "type": "image" }),
            "assets.logo.src: required field is missing (expected a data: URL, sha256: hash or relative path)",
        ),
        (
            json!({ "type": "image", "src": "../secret.png" }),
            r#"assets.logo.src: "../secret.png" contains a ".." component, which is refused"#,
        ),
        (
            json!({ "type": "image", "src": "/etc/passwd" }),
            r#"assets.logo.src: "/etc/passwd" is an absolute path; only relative paths are allowed"#,
        ),
        (
            json!({ "type": "image", "src": "C:\\logo.png" }),
            r#"assets.logo.src: "C:\\logo.png" starts with a drive letter; only relative paths are allowed"#,
        ),
        (
            json!({ "type": "image", "src": "https://example.com/a.png" }),
            r#"assets.logo.src: "https://example.com/a.png" is a URL (https:); URLs are refused (expected data:<mime>;base64,<data>, sha256:<64 hex digits> or a relative path)"#,
        ),
        (
            json!({ "type": "image", "src": "img\\logo.png" }),
            r#"assets.logo.src: "img\\logo.png" contains a backslash; use / to separate folders"#,
        ),
        (
            json!({ "type": "image", "src": "sha256:1234" }),
            r#"assets.logo.src: "sha256:1234" is not a SHA-256 hash (expected sha256: followed by 64 hex digits)"#,
        ),
        (
            json!("logo.png"),
            r#"assets.logo: expected an asset object, found "logo.png""#,
        ),
    ];
    for (asset, message) in cases {
        assert_eq!(only_error(&with(asset)), message);
    }
    let err = only_error(&with(
        json!({ "type": "image", "src": "data:image/png;base64,!!" }),
    ));
    assert!(
        err.starts_with("assets.logo.src: the data URL's base64 is invalid"),
        "{err}"
    );
    let odd_name = doc_with(
        json!([]),
        json!({ "my logo": { "type": "image", "src": "/x" } }),
    );
    assert!(only_error(&odd_name).starts_with(r#"assets["my logo"].src: "#));
}
