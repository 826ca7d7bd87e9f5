//! JSON value → typed model: the document, its pages and assets, and the field
//! helpers the node and paint converters share.
//!
//! The converter owns the parsed [`Value`]: it takes each known field out of its
//! object, so what is left is the object's `extra` map (unknown fields, in order) and
//! strings move into the model without copies. Every problem is recorded in the
//! [`Checker`] and conversion goes on with a harmless stand-in value, so one pass finds
//! every error; the model is only used when there were none.

use indexmap::IndexMap;
use serde_json::{Map, Value};

use super::jpath::{JsonPath, describe, quote};
use super::rules::{Assets, Checker};
use super::{node, paint, src};
use crate::glyph::{Asset, AssetSource, AssetType, Document, Page};

/// A JSON object.
pub(super) type Obj = Map<String, Value>;

/// Converts the whole document; `None` when its header (format, version) is wrong or
/// it is not an object, in which case nothing else is looked at.
pub(super) fn document(c: &mut Checker<'_>, value: Value) -> Option<Document> {
    let root = JsonPath::Root;
    let Value::Object(mut map) = value else {
        c.error(
            &root,
            format!(
                "a document must be a JSON object, found {}",
                describe(&value)
            ),
        );
        return None;
    };
    let format = required(c, &mut map, &root, "format", "\"glyph\"", string)?;
    if !c.format(&root.key("format"), &format) {
        return None;
    }
    let version = required(c, &mut map, &root, "version", "1", |c, p, v| {
        let n = v
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..1e15).contains(f));
        if n.is_none() {
            c.error(
                p,
                format!("{} is not a valid version (expected 1)", describe(&v)),
            );
        }
        // An integer below 1e15 converts exactly.
        n.map(|f| f as u64)
    })?;
    if !c.version(&root.key("version"), version) {
        return None;
    }
    let title = optional(c, &mut map, &root, "title", string);
    let assets = optional(c, &mut map, &root, "assets", assets);
    let mut document = Document {
        format,
        version: 1,
        title,
        assets,
        pages: Vec::new(),
        extra: Map::new(),
    };
    let pages_path = root.key("pages");
    if let Some(items) = required(
        c,
        &mut map,
        &root,
        "pages",
        "an array of pages",
        |c, p, v| array(c, p, v, "an array of pages"),
    ) {
        c.page_count(&pages_path, items.len());
        document.pages.reserve(items.len().min(c.limits.max_pages));
        for (i, item) in items.into_iter().enumerate() {
            if c.stopped() {
                break;
            }
            if let Some(page) = page(c, item, &pages_path.index(i), document.assets.as_ref()) {
                document.pages.push(page);
            }
        }
    }
    document.extra = rest(map);
    Some(document)
}

fn assets(c: &mut Checker<'_>, path: &JsonPath<'_>, value: Value) -> Option<Assets> {
    let map = object(c, path, value, "an object of named assets")?;
    let mut assets = IndexMap::with_capacity(map.len());
    for (name, value) in map {
        if let Some(asset) = asset(c, &path.key(&name), value) {
            assets.insert(name, asset);
        }
    }
    Some(assets)
}

fn asset(c: &mut Checker<'_>, path: &JsonPath<'_>, value: Value) -> Option<Asset> {
    let mut map = object(c, path, value, "an asset object")?;
    let kind = required(
        c,
        &mut map,
        path,
        "type",
        "\"image\" or \"font\"",
        |c, p, v| {
            keyword(
                c,
                p,
                v,
                "an asset type",
                AssetType::parse,
                AssetType::expected,
            )
        },
    );
    let src = required(
        c,
        &mut map,
        path,
        "src",
        "a data: URL, sha256: hash or relative path",
        string,
    );
    let (kind, src) = (kind?, src?);
    let source = src::parse_src(&src).unwrap_or_else(|message| {
        c.error(&path.key("src"), message);
        AssetSource::Unparsed
    });
    Some(Asset {
        kind,
        src,
        source,
        extra: rest(map),
    })
}

fn page(
    c: &mut Checker<'_>,
    value: Value,
    path: &JsonPath<'_>,
    assets: Option<&Assets>,
) -> Option<Page> {
    let mut map = object(c, path, value, "a page object")?;
    const SIDE: &str = "a number > 0 and <= 16384";
    let mut page = Page {
        id: optional(c, &mut map, path, "id", string),
        name: optional(c, &mut map, path, "name", string),
        width: required(c, &mut map, path, "width", SIDE, number).unwrap_or(1.0),
        height: required(c, &mut map, path, "height", SIDE, number).unwrap_or(1.0),
        background: optional(c, &mut map, path, "background", paint::paint),
        layers: Vec::new(),
        extra: Map::new(),
    };
    let layers = required(
        c,
        &mut map,
        path,
        "layers",
        "an array of nodes",
        |c, p, v| array(c, p, v, "an array of nodes"),
    );
    page.extra = rest(map);
    c.page(&page, path);
    if let Some(items) = layers {
        page.layers = node::nodes(c, items, &path.key("layers"), 0, assets);
    }
    Some(page)
}

/// Takes the field `key` out of `map` and converts it with `convert`; a missing field
/// is an error that says what was `expected`.
pub(super) fn required<T>(
    c: &mut Checker<'_>,
    map: &mut Obj,
    parent: &JsonPath<'_>,
    key: &'static str,
    expected: &str,
    convert: impl FnOnce(&mut Checker<'_>, &JsonPath<'_>, Value) -> Option<T>,
) -> Option<T> {
    let path = parent.key(key);
    match map.shift_remove(key) {
        Some(value) => convert(c, &path, value),
        None => {
            c.error(
                &path,
                format!("required field is missing (expected {expected})"),
            );
            None
        }
    }
}

/// Takes the optional field `key` out of `map` and converts it with `convert`.
pub(super) fn optional<T>(
    c: &mut Checker<'_>,
    map: &mut Obj,
    parent: &JsonPath<'_>,
    key: &'static str,
    convert: impl FnOnce(&mut Checker<'_>, &JsonPath<'_>, Value) -> Option<T>,
) -> Option<T> {
    let value = map.shift_remove(key)?;
    convert(c, &parent.key(key), value)
}

fn mismatch<T>(
    c: &mut Checker<'_>,
    path: &JsonPath<'_>,
    expected: &str,
    value: &Value,
) -> Option<T> {
    c.error(
        path,
        format!("expected {expected}, found {}", describe(value)),
    );
    None
}

pub(super) fn number(c: &mut Checker<'_>, path: &JsonPath<'_>, value: Value) -> Option<f64> {
    value
        .as_f64()
        .or_else(|| mismatch(c, path, "a number", &value))
}

pub(super) fn string(c: &mut Checker<'_>, path: &JsonPath<'_>, value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        other => mismatch(c, path, "a string", &other),
    }
}

pub(super) fn boolean(c: &mut Checker<'_>, path: &JsonPath<'_>, value: Value) -> Option<bool> {
    value
        .as_bool()
        .or_else(|| mismatch(c, path, "true or false", &value))
}

pub(super) fn object(
    c: &mut Checker<'_>,
    path: &JsonPath<'_>,
    value: Value,
    expected: &str,
) -> Option<Obj> {
    match value {
        Value::Object(map) => Some(map),
        other => mismatch(c, path, expected, &other),
    }
}

pub(super) fn array(
    c: &mut Checker<'_>,
    path: &JsonPath<'_>,
    value: Value,
    expected: &str,
) -> Option<Vec<Value>> {
    match value {
        Value::Array(items) => Some(items),
        other => mismatch(c, path, expected, &other),
    }
}

/// An array of numbers (`dash`).
pub(super) fn numbers(
    c: &mut Checker<'_>,
    path: &JsonPath<'_>,
    value: Value,
    expected: &str,
) -> Option<Vec<f64>> {
    let items = array(c, path, value, expected)?;
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for (i, item) in items.into_iter().enumerate() {
        match number(c, &path.index(i), item) {
            Some(n) => out.push(n),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// An array of exactly `N` numbers (`[x, y]`, a transform).
pub(super) fn fixed<const N: usize>(
    c: &mut Checker<'_>,
    path: &JsonPath<'_>,
    value: Value,
    expected: &str,
) -> Option<[f64; N]> {
    if let Value::Array(items) = &value
        && items.len() != N
    {
        c.error(
            path,
            format!(
                "expected {expected}, found an array of {} items",
                items.len()
            ),
        );
        return None;
    }
    let items = numbers(c, path, value, expected)?;
    items.try_into().ok()
}

/// A keyword of one of the model's keyword enums.
pub(super) fn keyword<K>(
    c: &mut Checker<'_>,
    path: &JsonPath<'_>,
    value: Value,
    what: &str,
    parse: fn(&str) -> Option<K>,
    expected: fn() -> String,
) -> Option<K> {
    let Value::String(s) = &value else {
        return mismatch(c, path, &format!("{what} ({})", expected()), &value);
    };
    let keyword = parse(s);
    if keyword.is_none() {
        c.error(
            path,
            format!("{} is not {what} (expected {})", quote(s), expected()),
        );
    }
    keyword
}

/// What is left of an object once its known fields are taken: its unknown fields. An
/// empty map gives its allocation back rather than keep it in the model.
pub(super) fn rest(map: Obj) -> Obj {
    if map.is_empty() { Map::new() } else { map }
}
