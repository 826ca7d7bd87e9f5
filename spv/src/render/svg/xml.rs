//! Small XML writing helpers: escaping, compact numbers and a tag builder.

use std::fmt::Write as _;

/// Writes `v` compactly: at most 4 decimals (more for small magnitudes, so tiny scale
/// factors keep about 5 significant digits), trailing zeros trimmed, never `-0`, and `0`
/// for non-finite values (which validated documents never hold).
pub(crate) fn num(v: f64) -> String {
    if !v.is_finite() {
        return "0".to_owned();
    }
    let abs = v.abs();
    let decimals = if abs > 0.0 && abs < 1.0 {
        // floor(log10) is in -324..=-1 here; 4 - that gives 5 significant digits.
        let exp = abs.log10().floor() as i32;
        (4 - exp).clamp(4, 12) as usize
    } else {
        4
    };
    let mut s = format!("{v:.decimals$}");
    if s.contains('.') {
        let trimmed = s.trim_end_matches('0').trim_end_matches('.').len();
        s.truncate(trimmed);
    }
    if s == "-0" {
        s = "0".to_owned();
    }
    s
}

/// Whether `c` may appear in an XML 1.0 document at all (escaped or not).
fn xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Appends `s` escaped for element content or a double-quoted attribute value. Characters
/// XML cannot carry (most control characters) are dropped; tabs and line breaks become
/// character references so attribute normalisation keeps them.
pub(crate) fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c if xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

/// `s` escaped (see [`escape_into`]).
pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// An element start tag being written into a buffer: `<name a="1" b="2"`, finished by
/// [`Tag::close`] (`/>`) or [`Tag::open`] (`>`).
pub(crate) struct Tag<'a> {
    out: &'a mut String,
}

impl<'a> Tag<'a> {
    /// Starts `<name` in `out`.
    pub(crate) fn new(out: &'a mut String, name: &str) -> Self {
        out.push('<');
        out.push_str(name);
        Tag { out }
    }

    /// Adds an attribute, escaping the value.
    pub(crate) fn attr(&mut self, name: &str, value: &str) -> &mut Self {
        self.out.push(' ');
        self.out.push_str(name);
        self.out.push_str("=\"");
        escape_into(self.out, value);
        self.out.push('"');
        self
    }

    /// Adds a numeric attribute, written with [`num`].
    pub(crate) fn num(&mut self, name: &str, value: f64) -> &mut Self {
        let _ = write!(self.out, " {name}=\"{}\"", num(value));
        self
    }

    /// Ends the tag as an empty element: `/>`.
    pub(crate) fn close(&mut self) {
        self.out.push_str("/>");
    }

    /// Ends the start tag: `>`; the caller writes the content and the end tag.
    pub(crate) fn open(&mut self) {
        self.out.push('>');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_compact() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.0000000002), "1");
        assert_eq!(num(-0.00001), "-0.00001");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(-0.00000000000001), "0");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(num(1234.56789), "1234.5679");
        assert_eq!(num(std::f64::consts::FRAC_1_SQRT_2), "0.70711");
        assert_eq!(num(0.123456), "0.12346");
        assert_eq!(num(f64::NAN), "0");
        assert_eq!(num(16384.0), "16384");
    }

    #[test]
    fn escaping_covers_markup_and_drops_illegal_characters() {
        assert_eq!(
            escape("a&b<c>d\"e'f\u{1}g\nh"),
            "a&amp;b&lt;c&gt;d&quot;e&apos;f g&#10;h".replace(' ', "")
        );
        let mut out = String::new();
        Tag::new(&mut out, "x")
            .attr("v", "<&>")
            .num("n", 0.5)
            .close();
        assert_eq!(out, r#"<x v="&lt;&amp;&gt;" n="0.5"/>"#);
    }
}
