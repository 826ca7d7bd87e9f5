//! Bytes → validated [`Document`], with JSON-path errors.
//!
//! | step | where |
//! |---|---|
//! | size limit, BOM, nesting depth, JSON syntax (line and column) | here |
//! | JSON value → model: types, required fields, keywords, colours, path data, asset sources | `convert`, `node`, `paint`, `path_data`, `src` |
//! | ranges, unique ids, references, limits (shared with [`validate`]) | `rules` |
//! | ZIP packages | [`super::package`] |
//!
//! ```
//! use spv::glyph::{self, Limits};
//!
//! let report = glyph::check(br#"{"format":"glyph","version":1,"pages":[
//!     {"width":0,"height":10,"layers":[{"type":"star"}]}]}"#, &Limits::default());
//! let errors: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
//! assert_eq!(errors, [
//!     "pages[0].width: 0 is not a number > 0 and <= 16384",
//!     r#"pages[0].layers[0].type: "star" is not a node type (expected "rect", "ellipse", "path", "text", "image" or "group")"#,
//! ]);
//! ```

mod convert;
pub(crate) mod jpath;
mod node;
mod paint;
mod path_data;
mod rules;
pub(crate) mod src;
mod validate;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use serde::Deserialize as _;
use serde_json::Value;

use super::assets::AssetResolver as _;
use super::package::{self, Package};
use super::{AssetSource, Document, Limits, Loaded};
use crate::{Error, ErrorKind, Result};
use jpath::{JsonPath, quote};
use rules::{Checker, MAX_ERRORS};

/// The JSON may nest this much deeper than its groups need (`layers`, paints, unknown
/// fields), and never deeper than [`MAX_JSON_DEPTH`], which keeps the recursive parser
/// well inside a thread's stack.
const JSON_DEPTH_SLACK: usize = 64;
const MAX_JSON_DEPTH: usize = 512;

/// Every error and warning of a document, for `spv-cli validate`.
#[derive(Debug, Default)]
pub struct Report {
    /// Errors, each with its JSON path (at most 100; checking stops after a limit error).
    pub errors: Vec<Error>,
    /// Warnings (non-fatal), each `path: message`.
    pub warnings: Vec<String>,
}

impl Report {
    /// Whether the document has no errors.
    pub fn is_ok(&self) -> bool {
        self.errors.is_empty()
    }
}

impl Document {
    /// Parses and validates a JSON document with the default [`Limits`]; see
    /// [`parse_json`].
    ///
    /// ```
    /// let doc = spv::glyph::Document::from_slice(
    ///     br#"{"format":"glyph","version":1,"pages":[{"width":8,"height":4,"layers":[]}]}"#,
    /// ).unwrap();
    /// assert_eq!(doc.pages[0].width, 8.0);
    /// ```
    pub fn from_slice(bytes: &[u8]) -> Result<Document> {
        parse_json(bytes, &Limits::default())
    }
}

/// Reads a `.glyph` file: a ZIP package (first bytes `PK\x03\x04`) or a JSON document.
///
/// A package's declared assets with relative or `sha256:` sources must be in the
/// package ([`ErrorKind::MissingAsset`] otherwise); a bare JSON document's assets are
/// resolved later, by the renderer's resolver. Returns the first error; [`check`] gives
/// all of them.
///
/// ```
/// use spv::glyph::{self, Limits, Package};
///
/// let json = br#"{"format":"glyph","version":1,"pages":[{"width":8,"height":4,"layers":[]}]}"#;
/// let zip = Package::write(json, &[("assets/a.bin", b"hello")]).unwrap();
/// let loaded = glyph::load(&zip, &Limits::default()).unwrap();
/// assert_eq!(loaded.document.pages.len(), 1);
/// assert!(loaded.package.unwrap().get("assets/a.bin").is_some());
/// ```
pub fn load(bytes: &[u8], limits: &Limits) -> Result<Loaded> {
    let Outcome {
        document,
        package,
        mut checker,
    } = read(bytes, limits, 1);
    let warnings = std::mem::take(&mut checker.warnings);
    Ok(Loaded {
        document: first_error(document, checker)?,
        package: package.map(Arc::new),
        warnings,
    })
}

/// Parses and validates a JSON document (not a package): size limit, optional UTF-8
/// BOM, JSON syntax, then every rule of the format. Returns the first error.
pub fn parse_json(bytes: &[u8], limits: &Limits) -> Result<Document> {
    let (document, checker) = parse_document(bytes, limits, 1);
    first_error(document, checker)
}

/// The document, or the first error the checker found.
fn first_error(document: Option<Document>, checker: Checker<'_>) -> Result<Document> {
    match (document, checker.errors.into_iter().next()) {
        (Some(document), None) => Ok(document),
        (_, Some(error)) => Err(error),
        (None, None) => Err(Error::internal("the document was refused without an error")),
    }
}

/// [`parse_json`] of a document that is already JSON in memory (a document changed by
/// live edits): the same checks as `parse_json(&serde_json::to_vec(&value)?)`, in the same
/// order and with the same errors (the nesting error names no line), without writing the
/// JSON out and reading it back. The size is the length `value` serializes to, counted.
///
/// ```
/// use spv::glyph::{self, Limits};
///
/// let mut value = serde_json::json!({"format": "glyph", "version": 1,
///     "pages": [{"width": 8, "height": 4, "layers": []}]});
/// assert_eq!(glyph::parse_value(value.clone(), &Limits::default()).unwrap().pages.len(), 1);
/// value["pages"][0]["height"] = serde_json::json!(-1);
/// let err = glyph::parse_value(value, &Limits::default()).unwrap_err();
/// assert_eq!(err.to_string(), "pages[0].height: -1 is not a number > 0 and <= 16384");
/// ```
pub fn parse_value(value: Value, limits: &Limits) -> Result<Document> {
    check_size(json_len(&value), limits)?;
    let max_depth = max_json_depth(limits);
    if value_depth_exceeds(&value, max_depth) {
        let message = format!(
            "the JSON nests deeper than {max_depth} levels (groups may nest {} deep)",
            limits.max_group_depth
        );
        return Err(Error::new(ErrorKind::LimitExceeded, message));
    }
    let mut checker = Checker::new(limits, 1);
    let document = convert_value(&mut checker, value);
    first_error(document, checker)
}

/// The length of `value` as compact JSON, counted without writing it.
fn json_len(value: &Value) -> u64 {
    struct Count(u64);
    impl std::io::Write for Count {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0 += bytes.len() as u64;
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing a `Value` to a writer that never fails cannot fail.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}

/// Whether an array or object of `value` lies deeper than `max` (the root is at 1), as
/// [`too_deep`] finds in the text; without recursion.
fn value_depth_exceeds(value: &Value, max: usize) -> bool {
    let mut stack = vec![(value, 1usize)];
    while let Some((value, depth)) = stack.pop() {
        let nested = matches!(value, Value::Array(_) | Value::Object(_));
        if nested && depth > max {
            return true;
        }
        match value {
            Value::Array(items) => stack.extend(items.iter().map(|child| (child, depth + 1))),
            Value::Object(map) => stack.extend(map.values().map(|child| (child, depth + 1))),
            _ => {}
        }
    }
    false
}

/// The deepest nesting a document's JSON may have: twice the group depth (a group's
/// object and its `children` array) and some slack, at most [`MAX_JSON_DEPTH`].
fn max_json_depth(limits: &Limits) -> usize {
    limits
        .max_group_depth
        .saturating_mul(2)
        .saturating_add(JSON_DEPTH_SLACK)
        .min(MAX_JSON_DEPTH)
}

/// Checks a document built by hand (or changed after parsing) against the format's
/// rules and `limits`: ranges, unique ids, asset references, asset sources, path data
/// and limits. Returns the first error.
///
/// ```
/// use spv::glyph::{self, Limits};
///
/// let mut doc = glyph::Document::from_slice(
///     br#"{"format":"glyph","version":1,"pages":[{"width":8,"height":4,"layers":[]}]}"#,
/// ).unwrap();
/// assert!(glyph::validate(&doc, &Limits::default()).is_ok());
/// doc.pages[0].height = -1.0;
/// let err = glyph::validate(&doc, &Limits::default()).unwrap_err();
/// assert_eq!(err.to_string(), "pages[0].height: -1 is not a number > 0 and <= 16384");
/// ```
pub fn validate(document: &Document, limits: &Limits) -> Result<()> {
    let mut checker = Checker::new(limits, 1);
    validate::document(&mut checker, document);
    checker.errors.into_iter().next().map_or(Ok(()), Err)
}

/// Collects every error (up to 100) and warning of a `.glyph` file, JSON or package.
pub fn check(bytes: &[u8], limits: &Limits) -> Report {
    let outcome = read(bytes, limits, MAX_ERRORS);
    Report {
        errors: outcome.checker.errors,
        warnings: outcome.checker.warnings,
    }
}

struct Outcome<'l> {
    document: Option<Document>,
    package: Option<Package>,
    checker: Checker<'l>,
}

fn read<'l>(bytes: &[u8], limits: &'l Limits, max_errors: usize) -> Outcome<'l> {
    if !package::is_package(bytes) {
        let (document, checker) = parse_document(bytes, limits, max_errors);
        return Outcome {
            document,
            package: None,
            checker,
        };
    }
    let (package, json) = match package::read(bytes, limits) {
        Ok(read) => read,
        Err(error) => {
            let mut checker = Checker::new(limits, max_errors);
            checker.push(error);
            return Outcome {
                document: None,
                package: None,
                checker,
            };
        }
    };
    let (mut document, mut checker) = parse_document(&json, limits, max_errors);
    if let Some(doc) = &document {
        missing_assets(doc, &package, &mut checker);
        if !checker.errors.is_empty() {
            document = None;
        }
    }
    Outcome {
        document,
        package: Some(package),
        checker,
    }
}

/// Every declared asset of a package with a path or hash source must be in it.
fn missing_assets(document: &Document, package: &Package, c: &mut Checker<'_>) {
    let root = JsonPath::Root;
    let assets_path = root.key("assets");
    for (name, asset) in document.assets.iter().flatten() {
        if !matches!(asset.source, AssetSource::Path(_) | AssetSource::Sha256(_)) {
            continue;
        }
        if !matches!(package.resolve(&asset.source), Ok(Some(_))) {
            let message = format!(
                "asset {} ({}) is not in the package",
                quote(name),
                quote(&asset.src)
            );
            let path = assets_path.key(name);
            c.push(Error::new(ErrorKind::MissingAsset, message).at(path.key("src").to_string()));
        }
    }
}

/// JSON bytes → document (only when there were no errors) and the checker's findings.
fn parse_document<'l>(
    bytes: &[u8],
    limits: &'l Limits,
    max_errors: usize,
) -> (Option<Document>, Checker<'l>) {
    let mut checker = Checker::new(limits, max_errors);
    let value = match json_value(bytes, limits) {
        Ok(value) => value,
        Err(error) => {
            checker.push(error);
            return (None, checker);
        }
    };
    let document = convert_value(&mut checker, value);
    (document, checker)
}

/// JSON → document, only when the checker found no error.
fn convert_value(checker: &mut Checker<'_>, value: Value) -> Option<Document> {
    convert::document(checker, value).filter(|_| checker.errors.is_empty())
}

/// The size limit of a document's JSON.
fn check_size(size: u64, limits: &Limits) -> Result<()> {
    if size > limits.max_json_bytes {
        let message = format!(
            "the document JSON is {size} bytes, more than the limit of {} bytes",
            limits.max_json_bytes
        );
        return Err(Error::new(ErrorKind::LimitExceeded, message));
    }
    Ok(())
}

fn json_value(bytes: &[u8], limits: &Limits) -> Result<Value> {
    check_size(bytes.len() as u64, limits)?;
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let max_depth = max_json_depth(limits);
    if let Some(at) = too_deep(bytes, max_depth) {
        let (line, column) = line_column(bytes, at);
        let message = format!(
            "the JSON nests deeper than {max_depth} levels at line {line} column {column} (groups may nest {} deep)",
            limits.max_group_depth
        );
        return Err(Error::new(ErrorKind::LimitExceeded, message));
    }
    // The depth was bounded above, so serde_json's own (fixed, 128-level) limit, which
    // would refuse valid deeply grouped documents, is not needed.
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    deserializer.disable_recursion_limit();
    let value =
        Value::deserialize(&mut deserializer).and_then(|value| deserializer.end().map(|()| value));
    value.map_err(|e| {
        Error::new(ErrorKind::InvalidDocument, format!("not valid JSON: {e}")).with_source(e)
    })
}

/// The offset of the first `[` or `{` nested deeper than `max`, outside strings.
fn too_deep(bytes: &[u8], max: usize) -> Option<usize> {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for (i, &b) in bytes.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return Some(i);
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// 1-based line and column (in bytes) of `offset`, as serde_json counts them.
fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let column = before.iter().rev().take_while(|&&b| b != b'\n').count() + 1;
    (line, column)
}
