//! Single byte ranges (`Range: bytes=a-b | a- | -n`, RFC 9110 §14) with `If-Range`, and
//! a safe `Content-Disposition` (RFC 6266). Pure: no I/O.

/// What to send for a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RangeAnswer {
    /// The whole representation (no range, several ranges, a malformed header, or an
    /// `If-Range` that does not match): RFC 9110 lets a server ignore such a `Range`.
    Full,
    /// Bytes `start..=end`.
    Partial {
        /// The first byte.
        start: u64,
        /// The last byte (inclusive).
        end: u64,
    },
    /// No byte of the range exists: 416.
    Unsatisfiable,
}

/// Evaluates `range` against a representation of `len` bytes whose strong ETag is `etag`.
///
/// `if_range` must equal `etag` exactly (strong comparison; a date never matches since
/// assets carry no `Last-Modified`), else the range is ignored.
pub(crate) fn evaluate(
    range: Option<&str>,
    if_range: Option<&str>,
    etag: &str,
    len: u64,
) -> RangeAnswer {
    let Some(range) = range else {
        return RangeAnswer::Full;
    };
    if if_range.is_some_and(|v| v.trim() != etag) {
        return RangeAnswer::Full;
    }
    let Some((unit, spec)) = range.trim().split_once('=') else {
        return RangeAnswer::Full;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") || spec.contains(',') {
        return RangeAnswer::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeAnswer::Full;
    };
    let (first, last) = (first.trim(), last.trim());
    match (number(first), number(last)) {
        // `-n`: the last n bytes.
        (None, Some(n)) if first.is_empty() => {
            if n == 0 || len == 0 {
                RangeAnswer::Unsatisfiable
            } else {
                RangeAnswer::Partial {
                    start: len.saturating_sub(n),
                    end: len - 1,
                }
            }
        }
        // `a-`: from a to the end.
        (Some(start), None) if last.is_empty() => partial(start, u64::MAX, len),
        // `a-b`; `b < a` makes the header invalid, so it is ignored.
        (Some(start), Some(end)) if start <= end => partial(start, end, len),
        _ => RangeAnswer::Full,
    }
}

fn partial(start: u64, end: u64, len: u64) -> RangeAnswer {
    if start >= len {
        RangeAnswer::Unsatisfiable
    } else {
        RangeAnswer::Partial {
            start,
            end: end.min(len - 1),
        }
    }
}

/// Digits only (no sign, no spaces), as `first-pos`/`last-pos`/`suffix-length` are.
fn number(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// `Content-Disposition` for serving an asset: `inline` for raster images (they are what
/// pages embed), `attachment` for everything else, so a browser never renders an uploaded
/// SVG, PDF or JSON as a page of this origin. The file name goes only into `filename*`
/// (RFC 8187 percent-encoding), so no quoting or header injection is possible.
pub(crate) fn content_disposition(mime: &str, filename: Option<&str>) -> String {
    let kind = match mime {
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" => "inline",
        _ => "attachment",
    };
    match filename.filter(|f| !f.is_empty()) {
        Some(name) => format!("{kind}; filename*=UTF-8''{}", percent_encode(name)),
        None => kind.to_owned(),
    }
}

/// RFC 8187 `value-chars`: `attr-char`s as they are, every other byte as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::RangeAnswer::{Full, Partial, Unsatisfiable};
    use super::*;

    const TAG: &str = "\"abc\"";

    fn eval(range: &str, len: u64) -> RangeAnswer {
        evaluate(Some(range), None, TAG, len)
    }

    #[test]
    fn single_ranges() {
        assert_eq!(eval("bytes=0-9", 100), Partial { start: 0, end: 9 });
        assert_eq!(eval("bytes=90-", 100), Partial { start: 90, end: 99 });
        assert_eq!(eval("bytes=-10", 100), Partial { start: 90, end: 99 });
        assert_eq!(eval("bytes=-500", 100), Partial { start: 0, end: 99 });
        assert_eq!(eval("bytes=50-5000", 100), Partial { start: 50, end: 99 });
        assert_eq!(eval("BYTES = 1-1", 100), Partial { start: 1, end: 1 });
        assert_eq!(evaluate(None, None, TAG, 100), Full);
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(eval("bytes=100-", 100), Unsatisfiable);
        assert_eq!(eval("bytes=100-200", 100), Unsatisfiable);
        assert_eq!(eval("bytes=-0", 100), Unsatisfiable);
        assert_eq!(eval("bytes=-5", 0), Unsatisfiable);
        assert_eq!(eval("bytes=0-", 0), Unsatisfiable);
    }

    #[test]
    fn malformed_and_multiple_ranges_are_ignored() {
        for range in [
            "bytes=0-1,5-6",
            "bytes=5-1",
            "bytes=a-b",
            "bytes=+1-2",
            "bytes=-",
            "bytes=1",
            "items=0-1",
            "bytes",
            "",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(eval(range, 100), Full, "{range:?}");
        }
    }

    #[test]
    fn if_range_needs_the_same_strong_etag() {
        let partial = Partial { start: 0, end: 0 };
        assert_eq!(evaluate(Some("bytes=0-0"), Some(TAG), TAG, 9), partial);
        assert_eq!(evaluate(Some("bytes=0-0"), Some("\"old\""), TAG, 9), Full);
        assert_eq!(evaluate(Some("bytes=0-0"), Some("W/\"abc\""), TAG, 9), Full);
        let date = "Wed, 21 Oct 2015 07:28:00 GMT";
        assert_eq!(evaluate(Some("bytes=0-0"), Some(date), TAG, 9), Full);
    }

    #[test]
    fn dispositions_are_encoded() {
        assert_eq!(content_disposition("image/png", None), "inline");
        assert_eq!(
            content_disposition("image/png", Some("a b.png")),
            "inline; filename*=UTF-8''a%20b.png"
        );
        assert_eq!(
            content_disposition("image/svg+xml", Some("\"x\";\r\nSet-Cookie: y")),
            "attachment; filename*=UTF-8''%22x%22%3B%0D%0ASet-Cookie%3A%20y"
        );
        assert_eq!(
            content_disposition("font/ttf", Some("Grüße.ttf")),
            "attachment; filename*=UTF-8''Gr%C3%BC%C3%9Fe.ttf"
        );
    }
}
