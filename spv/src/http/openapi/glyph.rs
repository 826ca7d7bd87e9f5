//! The `.glyph` document (`shared/glyph-format.md`) as JSON Schema: `GlyphDocument` and
//! its parts, the body of document uploads and of inline thumbnails.
//!
//! It states every rule of the parser that JSON Schema can (required fields, types,
//! ranges, keywords, colours, lengths of tuples, the page limit); the rules that tie one
//! place to another (unique ids, an `image` node's asset declared in `assets`, gradient
//! stops in order, the document-wide node, nesting and path-command limits) are in the
//! descriptions. Unknown fields are allowed everywhere, as the format keeps them.
//!
//! SVG path data is given as a pattern of the form every writer uses (numbers separated by
//! a space or a comma); the parser reads all of SVG's path grammar.

use serde_json::{Value, json};

use crate::glyph::{
    AssetType, BlendMode, FillRule, ImageFit, Limits, LineCap, LineJoin, TextAlign,
};

/// The largest page side, as the parser checks it.
const MAX_PAGE_SIDE: u32 = 16_384;

fn r(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn number() -> Value {
    json!({"type": "number"})
}

fn at_least(min: f64) -> Value {
    json!({"type": "number", "minimum": min})
}

fn positive() -> Value {
    json!({"type": "number", "exclusiveMinimum": 0})
}

fn keywords(all: &[&str]) -> Value {
    json!({"type": "string", "enum": all})
}

fn point() -> Value {
    json!({"type": "array", "prefixItems": [number(), number()], "minItems": 2, "maxItems": 2,
        "items": false, "description": "[x, y]"})
}

/// The SVG path data pattern: a command letter, then its numbers, each separated by one
/// space (or a comma within a pair), at most six digits before the point and four after.
pub(super) fn path_data_pattern() -> String {
    let num = r"-?(?:0|[1-9][0-9]{0,5})(?:\.[0-9]{1,4})?";
    let pair = format!("{num}[ ,]{num}");
    let flag = "[01]";
    let repeat = |head: &str, args: &str| format!("{head} ?{args}(?: {args})*");
    let commands = [
        repeat("[Mm]", &pair),
        repeat("[LlTt]", &pair),
        repeat("[HhVv]", num),
        repeat("[Cc]", &format!("{pair} {pair} {pair}")),
        repeat("[SsQq]", &format!("{pair} {pair}")),
        repeat("[Aa]", &format!("{num} {num} {num} {flag} {flag} {pair}")),
        "[Zz]".to_owned(),
    ];
    format!("^(?:{}(?: (?:{}))*)?$", commands[0], commands.join("|"))
}

/// Adds `GlyphDocument` and its parts to the components.
pub(super) fn add(doc: &mut Value) {
    let limits = Limits::default();
    let blend: Vec<&str> = BlendMode::ALL.iter().map(|k| k.as_str()).collect();
    let fill_rules: Vec<&str> = FillRule::ALL.iter().map(|k| k.as_str()).collect();
    let joins: Vec<&str> = LineJoin::ALL.iter().map(|k| k.as_str()).collect();
    let caps: Vec<&str> = LineCap::ALL.iter().map(|k| k.as_str()).collect();
    let aligns: Vec<&str> = TextAlign::ALL.iter().map(|k| k.as_str()).collect();
    let fits: Vec<&str> = ImageFit::ALL.iter().map(|k| k.as_str()).collect();
    let asset_types: Vec<&str> = AssetType::ALL.iter().map(|k| k.as_str()).collect();

    let colour = json!({"type": "string",
        "pattern": "^#(?:[0-9a-fA-F]{3,4}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})$",
        "description": "`#rgb`, `#rgba`, `#rrggbb` or `#rrggbbaa` (sRGB)"});
    let stops = json!({"type": "array", "minItems": 1,
        "description": "[offset, colour] pairs, offsets from 0 to 1 and never decreasing",
        "items": {"type": "array", "minItems": 2, "maxItems": 2, "items": false,
            "prefixItems": [{"type": "number", "minimum": 0, "maximum": 1}, r("GlyphColour")]}});
    let paint = json!({
        "description": "A colour or a gradient",
        "oneOf": [
            r("GlyphColour"),
            {"type": "object", "required": ["type", "from", "to", "stops"],
                "properties": {"type": {"const": "linear"}, "from": point(), "to": point(),
                    "stops": stops}},
            {"type": "object", "required": ["type", "center", "radius", "stops"],
                "properties": {"type": {"const": "radial"}, "center": point(),
                    "radius": at_least(0.0), "stops": stops}},
        ]
    });
    let stroke = json!({"type": "object", "required": ["paint"], "properties": {
        "paint": r("GlyphPaint"),
        "width": at_least(0.0),
        "join": keywords(&joins),
        "cap": keywords(&caps),
        "miterLimit": at_least(1.0),
        "dash": {"type": "array", "items": at_least(0.0)},
    }});

    // The fields of every node, then each type's own.
    let common = |kind: &str, extra: Value, required: &[&str]| {
        let mut properties = json!({
            "type": {"const": kind},
            "id": {"type": "string", "description": "Unique among the document's nodes"},
            "name": {"type": "string"},
            "visible": {"type": "boolean"},
            "opacity": {"type": "number", "minimum": 0, "maximum": 1},
            "blend": keywords(&blend),
            "transform": {"type": "array", "items": number(), "minItems": 6, "maxItems": 6,
                "description": "[a, b, c, d, e, f], SVG matrix order"},
            "fill": r("GlyphPaint"),
            "stroke": r("GlyphStroke"),
        });
        if let (Some(all), Value::Object(extra)) = (properties.as_object_mut(), extra) {
            all.extend(extra);
        }
        let mut all_required = vec!["type"];
        all_required.extend_from_slice(required);
        json!({"type": "object", "title": kind, "required": all_required, "properties": properties})
    };
    let box_fields = json!({"x": number(), "y": number(), "width": at_least(0.0),
        "height": at_least(0.0)});
    let with = |base: &Value, extra: Value| {
        let mut out = base.clone();
        if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), extra) {
            out.extend(extra);
        }
        out
    };
    let rect = common(
        "rect",
        with(
            &box_fields,
            json!({"radius": {"oneOf": [at_least(0.0),
            {"type": "array", "items": at_least(0.0), "minItems": 4, "maxItems": 4}]}}),
        ),
        &["x", "y", "width", "height"],
    );
    let ellipse = common(
        "ellipse",
        json!({"cx": number(), "cy": number(), "rx": at_least(0.0), "ry": at_least(0.0)}),
        &["cx", "cy", "rx", "ry"],
    );
    let path = common(
        "path",
        json!({"d": {"type": "string", "pattern": path_data_pattern(),
                "description": format!("SVG path data; at most {} commands in the whole \
                    document (an arc counts as the curves it becomes)",
                    limits.max_path_commands)},
            "fillRule": keywords(&fill_rules)}),
        &["d"],
    );
    let text = common(
        "text",
        json!({"x": number(), "y": number(), "text": {"type": "string"},
            "font": {"type": "string",
                "description": "A font asset's name, or a family (`sans` is bundled)"},
            "size": positive(),
            "weight": {"type": "integer", "minimum": 100, "maximum": 900},
            "lineHeight": positive(), "align": keywords(&aligns), "maxWidth": positive()}),
        &["x", "y", "text", "size"],
    );
    let image = common(
        "image",
        with(
            &box_fields,
            json!({
            "asset": {"type": "string",
                "description": "The name of an `image` asset declared in `assets`"},
            "fit": keywords(&fits)}),
        ),
        &["asset", "x", "y", "width", "height"],
    );
    let group = common(
        "group",
        json!({"children": {"type": "array", "items": r("GlyphNode")},
            "clip": {"description": "A `rect`, `ellipse` or `path` node (its paint ignored)",
                "oneOf": [r("GlyphRect"), r("GlyphEllipse"), r("GlyphPath")]}}),
        &["children"],
    );
    let node = json!({
        "description": format!("A node, by `type`. A document has at most {} nodes and \
            nests groups at most {} deep", limits.max_nodes, limits.max_group_depth),
        "oneOf": [r("GlyphRect"), r("GlyphEllipse"), r("GlyphPath"), r("GlyphText"),
            r("GlyphImage"), r("GlyphGroup")],
    });
    let page = json!({"type": "object", "required": ["width", "height", "layers"],
    "properties": {
        "id": {"type": "string", "description": "Unique among the pages"},
        "name": {"type": "string"},
        "width": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_PAGE_SIDE},
        "height": {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_PAGE_SIDE},
        "background": r("GlyphPaint"),
        "layers": {"type": "array", "items": r("GlyphNode"),
            "description": "Painted first to last"},
    }});
    let asset = json!({"type": "object", "required": ["type", "src"], "properties": {
        "type": keywords(&asset_types),
        "src": {"type": "string",
            "description": "`data:<mime>;base64,<data>`, `sha256:<64 hex digits>` (an upload \
                of the owner, or a file of the package) or a relative path inside the package",
            "pattern": "^(?:data:[a-z]+/[a-z0-9.+-]+;base64,(?:[A-Za-z0-9+/]{4})*|sha256:[0-9a-f]{64})$"},
    }});
    let document = json!({
        "type": "object",
        "description": "A `.glyph` document (format version 1). Unknown fields are kept.",
        "required": ["format", "version", "pages"],
        "properties": {
            "format": {"const": "glyph"},
            "version": {"const": 1},
            "title": {"type": "string"},
            "assets": {"type": "object", "additionalProperties": r("GlyphAsset"),
                "description": "Assets by the name nodes use"},
            "pages": {"type": "array", "minItems": 1, "maxItems": limits.max_pages,
                "items": r("GlyphPage")},
        }
    });
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (name, schema) in [
        ("GlyphDocument", document),
        ("GlyphPage", page),
        ("GlyphAsset", asset),
        ("GlyphNode", node),
        ("GlyphRect", rect),
        ("GlyphEllipse", ellipse),
        ("GlyphPath", path),
        ("GlyphText", text),
        ("GlyphImage", image),
        ("GlyphGroup", group),
        ("GlyphPaint", paint),
        ("GlyphColour", colour),
        ("GlyphStroke", stroke),
    ] {
        schemas.insert(name.to_owned(), schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_path_pattern_accepts_what_the_parser_reads() {
        let pattern = regex::Regex::new(&path_data_pattern()).unwrap();
        for d in [
            "",
            "M0 0 L10 10 Z",
            "m1.5,2 l-3 4 h5 v-6 z",
            "M0 0 C1 1 2 2 3 3 S4 4 5 5 Q6 6 7 7 T8 8 A5 5 0 1 0 10 10 Z",
        ] {
            assert!(pattern.is_match(d), "{d:?}");
            let doc = json!({"format": "glyph", "version": 1, "pages": [{"width": 10,
                "height": 10, "layers": [{"type": "path", "d": d}]}]});
            let parsed = crate::glyph::parse_json(doc.to_string().as_bytes(), &Limits::default());
            assert!(parsed.is_ok(), "{d:?}: {:?}", parsed.err());
        }
        for d in ["L0 0", "M0", "M0  0", "Q", "M0 0 X", "M99999999 0"] {
            assert!(!pattern.is_match(d), "{d:?}");
        }
    }
}
