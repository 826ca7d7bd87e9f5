//! Tests of the JSON reader: syntax, header, error collection, warnings, `validate`.

mod fuzz;
mod limits;
mod paints;
mod roundtrip;
mod rules;

use serde_json::{Value, json};

use crate::ErrorKind;
use crate::glyph::{self, Document, Limits, NodeKind};

/// A one-page document with these layers (and these assets, when not null).
pub(super) fn doc_with(layers: Value, assets: Value) -> Value {
    let mut doc = json!({
        "format": "glyph", "version": 1,
        "pages": [{ "width": 100, "height": 50, "layers": layers }],
    });
    if !assets.is_null() {
        doc["assets"] = assets;
    }
    doc
}

pub(super) fn doc(layers: Value) -> Value {
    doc_with(layers, Value::Null)
}

/// Every error of `doc`, displayed.
pub(super) fn errors(doc: &Value) -> Vec<String> {
    errors_with(doc, &Limits::default())
}

pub(super) fn errors_with(doc: &Value, limits: &Limits) -> Vec<String> {
    let bytes = serde_json::to_vec(doc).unwrap();
    glyph::check(&bytes, limits)
        .errors
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// The one error `doc` has, displayed; also checks `load` returns the same.
#[track_caller]
pub(super) fn only_error(doc: &Value) -> String {
    let all = errors(doc);
    assert_eq!(all.len(), 1, "expected one error, got {all:#?}");
    let bytes = serde_json::to_vec(doc).unwrap();
    let first = glyph::load(&bytes, &Limits::default()).unwrap_err();
    assert_eq!(first.to_string(), all[0]);
    // The same error from the document in memory (what live edits are checked with).
    let in_memory = glyph::parse_value(doc.clone(), &Limits::default()).unwrap_err();
    assert_eq!(in_memory.to_string(), all[0], "parse_value");
    all.into_iter().next().unwrap()
}

#[test]
fn parse_value_agrees_with_parse_json_on_every_sample() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/docs");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "glyph") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let Ok(value) = serde_json::from_slice::<Value>(&bytes) else {
            continue;
        };
        let limits = Limits::default();
        let from_bytes = glyph::parse_json(&bytes, &limits).unwrap();
        let from_value = glyph::parse_value(value.clone(), &limits).unwrap();
        assert_eq!(from_value, from_bytes, "{}", path.display());
        // The size limit counts the compact JSON, as `to_vec` writes it.
        let compact = serde_json::to_vec(&value).unwrap().len() as u64;
        let tight = Limits {
            max_json_bytes: compact - 1,
            ..Limits::default()
        };
        let err = glyph::parse_value(value.clone(), &tight).unwrap_err();
        assert_eq!(
            err.to_string(),
            glyph::parse_json(&serde_json::to_vec(&value).unwrap(), &tight)
                .unwrap_err()
                .to_string()
        );
        seen += 1;
    }
    assert!(seen >= 10, "only {seen} samples read");
}

fn parse(text: &str) -> crate::Result<Document> {
    glyph::parse_json(text.as_bytes(), &Limits::default())
}

#[test]
fn a_minimal_document_parses() {
    let doc =
        parse(r#"{"format":"glyph","version":1,"pages":[{"width":10,"height":20,"layers":[]}]}"#)
            .unwrap();
    assert_eq!((doc.pages[0].width, doc.pages[0].height), (10.0, 20.0));
    assert!(doc.assets.is_none() && doc.title.is_none());
    let loaded = glyph::load(&doc.to_vec(), &Limits::default()).unwrap();
    assert!(loaded.package.is_none());
    assert!(loaded.warnings.is_empty());
}

#[test]
fn a_utf8_bom_is_allowed() {
    let text = "\u{feff}{\"format\":\"glyph\",\"version\":1,\"pages\":[{\"width\":1,\"height\":1,\"layers\":[]}]}";
    assert!(parse(text).is_ok());
}

#[test]
fn bad_json_names_line_and_column() {
    let err = parse("{\"format\": \"glyph\",\n  \"version\": 1,,\n}").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDocument);
    assert!(err.to_string().starts_with("not valid JSON: "), "{err}");
    assert!(err.to_string().contains("line 2 column 16"), "{err}");
    assert!(
        parse("")
            .unwrap_err()
            .to_string()
            .contains("line 1 column 0")
    );
    let trailing = parse(r#"{"format":"glyph","version":1,"pages":[]} x"#).unwrap_err();
    assert!(
        trailing.to_string().contains("trailing characters"),
        "{trailing}"
    );
    assert!(glyph::load(b"\xff\xfe{}", &Limits::default()).is_err());
}

#[test]
fn a_document_must_be_an_object() {
    assert_eq!(
        parse("[1]").unwrap_err().to_string(),
        "a document must be a JSON object, found an array"
    );
}

#[test]
fn the_format_must_be_glyph() {
    let err = parse(r#"{"format":"svg","version":1,"pages":[]}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"format: "svg" is not a supported format (expected "glyph")"#
    );
    let err = parse(r#"{"version":1,"pages":[]}"#).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"format: required field is missing (expected "glyph")"#
    );
}

#[test]
fn a_newer_version_is_refused_by_name() {
    let err = parse(r#"{"format":"glyph","version":2,"pages":"whatever"}"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::UnsupportedVersion);
    assert_eq!(err.path(), Some("version"));
    assert_eq!(
        err.message(),
        "version 2 is not supported (this build reads version 1)"
    );
    // Nothing else of a newer document is judged by this version's rules.
    let report = glyph::check(
        br#"{"format":"glyph","version":7,"pages":5}"#,
        &Limits::default(),
    );
    assert_eq!(report.errors.len(), 1);
    for (version, message) in [
        ("0", "0 is not a valid version (expected 1)"),
        ("1.5", "1.5 is not a valid version (expected 1)"),
        ("\"1\"", "\"1\" is not a valid version (expected 1)"),
    ] {
        let err = parse(&format!(
            r#"{{"format":"glyph","version":{version},"pages":[]}}"#
        ))
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDocument);
        assert_eq!(err.message(), message);
    }
}

#[test]
fn the_doc_example_colour_error() {
    let doc =
        doc(json!([{ "type": "rect", "x": 0, "y": 0, "width": 5, "height": 5, "fill": "#ggg" }]));
    assert_eq!(
        only_error(&doc),
        r##"pages[0].layers[0].fill: "#ggg" is not a colour (expected #rgb, #rgba, #rrggbb or #rrggbbaa, or a gradient object)"##
    );
}

#[test]
fn check_collects_every_error_in_document_order() {
    let doc = json!({
        "format": "glyph", "version": 1,
        "pages": [
            { "width": -1, "height": 10, "layers": [
                { "type": "rect", "x": 0, "y": 0, "width": 1, "height": 1, "opacity": 3 },
                { "type": "blob" },
                { "type": "ellipse", "cx": 0, "cy": 0, "rx": -1, "ry": 1, "fill": "red" },
            ]},
            { "width": 10, "layers": [] },
        ],
    });
    assert_eq!(
        errors(&doc),
        [
            "pages[0].width: -1 is not a number > 0 and <= 16384",
            "pages[0].layers[0].opacity: 3 is not a number from 0 to 1",
            r#"pages[0].layers[1].type: "blob" is not a node type (expected "rect", "ellipse", "path", "text", "image" or "group")"#,
            r#"pages[0].layers[2].fill: "red" is not a colour (expected #rgb, #rgba, #rrggbb or #rrggbbaa, or a gradient object)"#,
            "pages[0].layers[2].rx: -1 is not a number >= 0",
            "pages[1].height: required field is missing (expected a number > 0 and <= 16384)",
        ]
    );
    // `load` stops at the first.
    let err = glyph::load(&serde_json::to_vec(&doc).unwrap(), &Limits::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "pages[0].width: -1 is not a number > 0 and <= 16384"
    );
}

#[test]
fn check_stops_after_a_hundred_errors() {
    let layers: Vec<Value> = (0..300).map(|_| json!({ "type": "nope" })).collect();
    let report = glyph::check(
        &serde_json::to_vec(&doc(Value::Array(layers))).unwrap(),
        &Limits::default(),
    );
    assert_eq!(report.errors.len(), 100);
    assert!(!report.is_ok());
}

#[test]
fn unknown_font_families_are_warnings() {
    let text = |font: &str| json!({ "type": "text", "x": 0, "y": 0, "text": "hi", "size": 12, "font": font });
    let doc = doc(json!([
        text("Helvetica"),
        text("sans"),
        text("DejaVu Sans"),
        text("dejavu sans")
    ]));
    let loaded = glyph::load(&serde_json::to_vec(&doc).unwrap(), &Limits::default()).unwrap();
    assert_eq!(
        loaded.warnings,
        [r#"pages[0].layers[0].font: unknown font family "Helvetica"; using sans"#]
    );
    let report = glyph::check(&serde_json::to_vec(&doc).unwrap(), &Limits::default());
    assert!(report.is_ok());
    assert_eq!(report.warnings, loaded.warnings);
}

#[test]
fn paint_that_does_nothing_is_a_warning() {
    let doc = doc(json!([
        { "type": "text", "x": 0, "y": 0, "text": "hi", "size": 12, "stroke": { "paint": "#000" } },
        { "type": "group", "children": [], "fill": "#fff" },
    ]));
    let loaded = glyph::load(&serde_json::to_vec(&doc).unwrap(), &Limits::default()).unwrap();
    assert_eq!(
        loaded.warnings,
        [
            "pages[0].layers[0].stroke: stroke is ignored on text nodes",
            "pages[0].layers[1].fill: fill is ignored on group nodes",
        ]
    );
}

#[test]
fn groups_nest_as_deep_as_the_limit_allows() {
    // Regression: serde_json's fixed 128-level recursion limit used to refuse documents
    // within the default group depth of 64.
    let mut node = json!({ "type": "rect", "x": 0, "y": 0, "width": 1, "height": 1,
        "fill": { "type": "linear", "from": [0, 0], "to": [1, 1], "stops": [[0, "#000"]] } });
    for _ in 0..64 {
        node = json!({ "type": "group", "children": [node], "extra": { "deep": [[{}]] } });
    }
    let doc = doc(json!([node]));
    let loaded = glyph::load(&serde_json::to_vec(&doc).unwrap(), &Limits::default()).unwrap();
    let mut depth = 0;
    let mut nodes = &loaded.document.pages[0].layers;
    while let Some(NodeKind::Group(g)) = nodes.first().map(|n| &n.kind) {
        depth += 1;
        nodes = &g.children;
    }
    assert_eq!(depth, 64);
}

#[test]
fn validate_checks_a_hand_built_model() {
    let text = serde_json::to_vec(&doc(json!([
        { "type": "rect", "id": "a", "x": 0, "y": 0, "width": 1, "height": 1 },
        { "type": "group", "children": [], "clip": { "type": "path", "d": "M0 0 L1 1" } },
    ])))
    .unwrap();
    let limits = Limits::default();
    let parsed = glyph::parse_json(&text, &limits).unwrap();
    assert!(glyph::validate(&parsed, &limits).is_ok());

    let mut dup = parsed.clone();
    let copy = dup.pages[0].layers[0].clone();
    dup.pages[0].layers.push(copy);
    let err = glyph::validate(&dup, &limits).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"pages[0].layers[2].id: duplicate id "a" (also used at pages[0].layers[0])"#
    );

    let mut bad = parsed.clone();
    bad.pages[0].layers[0].opacity = Some(f64::NAN);
    assert_eq!(
        glyph::validate(&bad, &limits).unwrap_err().to_string(),
        "pages[0].layers[0].opacity: NaN is not a number from 0 to 1"
    );

    let mut bad = parsed.clone();
    if let NodeKind::Group(g) = &mut bad.pages[0].layers[1].kind {
        let clip = g.clip.as_mut().unwrap();
        clip.kind = NodeKind::Path(crate::glyph::PathNode {
            d: "M0 0 Lx".into(),
            fill_rule: None,
            outline: Default::default(),
        });
    }
    let err = glyph::validate(&bad, &limits).unwrap_err();
    assert_eq!(err.path(), Some("pages[0].layers[1].clip.d"));
    assert!(err.message().starts_with("invalid SVG path data"), "{err}");

    let mut bad = parsed.clone();
    bad.version = 3;
    assert_eq!(
        glyph::validate(&bad, &limits).unwrap_err().kind(),
        ErrorKind::UnsupportedVersion
    );

    let mut bad = parsed;
    bad.pages.clear();
    assert_eq!(
        glyph::validate(&bad, &limits).unwrap_err().to_string(),
        "pages: a document needs at least one page"
    );
}

#[test]
fn validate_checks_hand_written_asset_sources() {
    let text = serde_json::to_vec(&doc_with(
        json!([]),
        json!({ "a": { "type": "image", "src": "a.png" } }),
    ))
    .unwrap();
    let mut parsed = glyph::parse_json(&text, &Limits::default()).unwrap();
    if let Some(assets) = &mut parsed.assets {
        assets["a"].src = "../a.png".into();
    }
    let err = glyph::validate(&parsed, &Limits::default()).unwrap_err();
    assert_eq!(err.path(), Some("assets.a.src"));
    assert!(err.message().contains("\"..\" component"), "{err}");
}

#[test]
fn from_slice_uses_default_limits() {
    let doc = Document::from_slice(
        br#"{"format":"glyph","version":1,"pages":[{"width":1,"height":1,"layers":[]}]}"#,
    );
    assert!(doc.is_ok());
    assert!(Document::from_slice(b"{}").is_err());
}

#[test]
fn a_300_node_mixed_document_parses() {
    let layers: Vec<Value> = (0..300)
        .map(|i| match i % 3 {
            0 => json!({ "type": "rect", "id": format!("r{i}"), "x": i, "y": 1, "width": 10, "height": 10, "fill": "#336699",
                          "stroke": { "paint": "#000", "width": 2, "dash": [4, 2] } }),
            1 => json!({ "type": "path", "d": "M0 0 C10 0 20 10 20 20 A5 5 0 0 1 30 30 Z", "fill": { "type": "linear",
                          "from": [0, 0], "to": [30, 30], "stops": [[0, "#f00"], [1, "#00f"]] } }),
            _ => json!({ "type": "text", "x": 0, "y": i, "text": "Hello, world", "size": 14, "font": "sans" }),
        })
        .collect();
    let bytes = serde_json::to_vec(&doc(Value::Array(layers))).unwrap();
    let limits = Limits::default();
    let parsed = glyph::parse_json(&bytes, &limits).unwrap();
    // Speed is measured in benches/; here the whole mixed document must come through.
    assert_eq!(parsed.pages[0].layers.len(), 300);
    assert_eq!(
        parsed.to_json(),
        glyph::parse_json(&parsed.to_vec(), &limits)
            .unwrap()
            .to_json()
    );
}
