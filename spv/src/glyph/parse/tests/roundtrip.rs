//! Parse → serialise keeps every field, unknown ones included.

use serde_json::{Value, json};

use crate::glyph::{self, AssetSource, Limits, NodeKind, Paint};

/// A document with every optional field of every object and unknown fields on each.
/// Colours are written as the model writes them (`#rrggbb`, `#rrggbbaa`).
fn everything() -> Value {
    let stroke = json!({ "paint": "#112233", "width": 2.5, "join": "bevel", "cap": "round",
        "miterLimit": 3, "dash": [4, 2, 1], "x-stroke": { "a": [1, 2] } });
    let linear = json!({ "type": "linear", "from": [0, 0], "to": [10, 5], "stops": [[0, "#ff000080"], [1, "#0000ff"]], "x-grad": true });
    let radial = json!({ "type": "radial", "center": [5, 5], "radius": 5, "stops": [[0.25, "#000000"]], "x-grad": null });
    let common = |id: &str| {
        json!({ "id": id, "name": format!("node {id}"), "visible": false, "opacity": 0.5,
        "blend": "color-dodge", "transform": [1, 0, 0.5, 1, 10, -3], "x-editor": { "locked": true } })
    };
    let node = |id: &str, fields: Value| {
        let mut node = common(id);
        node.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        node
    };
    json!({
        "format": "glyph",
        "version": 1,
        "title": "Everything",
        "x-top": [1, "two", { "three": 3 }],
        "assets": {
            "logo": { "type": "image", "src": "assets/logo.png", "x-asset": 1 },
            "inline": { "type": "image", "src": "data:image/png;base64,aGVsbG8=" },
            "brand": { "type": "font", "src": format!("sha256:{}", "ab".repeat(32)) },
        },
        "pages": [{
            "id": "cover", "name": "Cover", "width": 320.5, "height": 200,
            "background": radial, "x-page": "kept",
            "layers": [
                node("r", json!({ "type": "rect", "x": 1, "y": 2, "width": 30, "height": 20, "radius": [1, 2, 3, 4], "fill": linear, "stroke": stroke })),
                node("r2", json!({ "type": "rect", "x": 1, "y": 2, "width": 30, "height": 20, "radius": 4 })),
                node("e", json!({ "type": "ellipse", "cx": 5, "cy": 6, "rx": 7, "ry": 8, "fill": "#abcdef" })),
                node("p", json!({ "type": "path", "d": "M0 0 h10 a5 5 0 0 1 5 5 z", "fillRule": "evenodd", "fill": "#000000" })),
                node("t", json!({ "type": "text", "x": 3, "y": 4, "text": "Hi\nthere", "font": "brand", "size": 14,
                    "weight": 700, "lineHeight": 1.4, "align": "right", "maxWidth": 120 })),
                node("i", json!({ "type": "image", "asset": "logo", "x": 0, "y": 0, "width": 40, "height": 30, "fit": "contain" })),
                node("g", json!({ "type": "group", "clip": node("c", json!({ "type": "ellipse", "cx": 1, "cy": 1, "rx": 1, "ry": 1 })),
                    "children": [node("g.r", json!({ "type": "rect", "x": 0, "y": 0, "width": 1, "height": 1 }))] })),
            ],
        }],
    })
}

/// Numbers compared by value: the model keeps every number as `f64`, so `1` comes
/// back as `1.0`.
fn normalised(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64()),
        Value::Array(items) => Value::Array(items.iter().map(normalised).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), normalised(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[test]
fn every_field_survives_a_round_trip() {
    let input = everything();
    let bytes = serde_json::to_vec(&input).unwrap();
    let doc = glyph::parse_json(&bytes, &Limits::default()).unwrap();
    assert_eq!(normalised(&doc.to_json()), normalised(&input));
    // And through bytes again: the same model.
    let again = glyph::parse_json(&doc.to_vec(), &Limits::default()).unwrap();
    assert_eq!(again, doc);
}

#[test]
fn unknown_fields_keep_their_order() {
    let doc = glyph::parse_json(
        &serde_json::to_vec(&everything()).unwrap(),
        &Limits::default(),
    )
    .unwrap();
    let node = &doc.pages[0].layers[0];
    assert_eq!(node.extra.keys().collect::<Vec<_>>(), ["x-editor"]);
    let mut input = everything();
    input["z"] = json!(1);
    input["a"] = json!(2);
    let doc = glyph::parse_json(&serde_json::to_vec(&input).unwrap(), &Limits::default()).unwrap();
    assert_eq!(doc.extra.keys().collect::<Vec<_>>(), ["x-top", "z", "a"]);
}

#[test]
fn the_parser_fills_in_outlines_and_sources() {
    let doc = glyph::parse_json(
        &serde_json::to_vec(&everything()).unwrap(),
        &Limits::default(),
    )
    .unwrap();
    let NodeKind::Path(path) = &doc.pages[0].layers[3].kind else {
        panic!("not a path")
    };
    assert!(path.outline.elements().len() >= 4);
    let assets = doc.assets.as_ref().unwrap();
    assert_eq!(
        assets["logo"].source,
        AssetSource::Path("assets/logo.png".into())
    );
    assert_eq!(assets["brand"].source, AssetSource::Sha256([0xab; 32]));
    assert!(
        matches!(&assets["inline"].source, AssetSource::Data { mime, bytes } if mime == "image/png" && &**bytes == b"hello")
    );
    assert!(matches!(doc.pages[0].background, Some(Paint::Radial(_))));
}
