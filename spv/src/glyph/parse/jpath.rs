//! JSON paths (`pages[0].layers[3].fill`) built without allocating, and the small
//! helpers that describe values in error messages.

use std::fmt::{self, Write as _};

use serde_json::Value;

/// A place in a document. Each level borrows its parent, so building a path costs
/// nothing; it is only formatted when an error or an id needs it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum JsonPath<'a> {
    /// The document itself (formats as the empty string).
    Root,
    /// A field of an object.
    Key(&'a JsonPath<'a>, &'a str),
    /// An element of an array.
    Index(&'a JsonPath<'a>, usize),
}

impl<'a> JsonPath<'a> {
    /// The path of field `key` of this object.
    pub(crate) fn key(&'a self, key: &'a str) -> JsonPath<'a> {
        JsonPath::Key(self, key)
    }

    /// The path of element `index` of this array.
    pub(crate) fn index(&'a self, index: usize) -> JsonPath<'a> {
        JsonPath::Index(self, index)
    }
}

impl fmt::Display for JsonPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            JsonPath::Root => Ok(()),
            JsonPath::Key(parent, key) => {
                parent.fmt(f)?;
                let plain = !key.is_empty()
                    && key
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
                if plain {
                    if !matches!(parent, JsonPath::Root) {
                        f.write_char('.')?;
                    }
                    f.write_str(key)
                } else {
                    write!(f, "[{}]", quote(key))
                }
            }
            JsonPath::Index(parent, index) => {
                parent.fmt(f)?;
                write!(f, "[{index}]")
            }
        }
    }
}

/// `s` as a JSON string literal, shortened to about 40 characters.
pub(crate) fn quote(s: &str) -> String {
    const MAX: usize = 40;
    let short = match s.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &s[..end]),
        None => s.to_owned(),
    };
    serde_json::to_string(&short).unwrap_or_else(|_| String::from("\"?\""))
}

/// A short description of a JSON value for messages: strings quoted, numbers and
/// booleans as written, `an array`, `an object`, `null`.
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => quote(s),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// A number as people write it: `3`, `0.5`, `-2`, `1e300`, `NaN`.
pub(crate) fn num(n: f64) -> String {
    if n.is_finite() && n.abs() >= 1e16 {
        format!("{n:e}")
    } else {
        format!("{n}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_format_like_javascript_accessors() {
        let root = JsonPath::Root;
        let pages = root.key("pages");
        let page = pages.index(0);
        let layers = page.key("layers");
        let node = layers.index(3);
        assert_eq!(node.key("fill").to_string(), "pages[0].layers[3].fill");
        let assets = root.key("assets");
        assert_eq!(assets.key("logo").key("src").to_string(), "assets.logo.src");
        assert_eq!(assets.key("my logo").to_string(), r#"assets["my logo"]"#);
        assert_eq!(root.to_string(), "");
    }

    #[test]
    fn values_are_described_briefly() {
        assert_eq!(describe(&Value::from("#ggg")), "\"#ggg\"");
        assert_eq!(describe(&serde_json::json!([1])), "an array");
        assert_eq!(describe(&serde_json::json!(2.5)), "2.5");
        assert_eq!(quote(&"x".repeat(100)).chars().count(), 43);
        assert_eq!(num(3.0), "3");
        assert_eq!(num(-0.25), "-0.25");
        assert_eq!(num(1e300), "1e300");
        assert_eq!(num(f64::NAN), "NaN");
    }
}
