//! Asset `src` strings (`data:`, `sha256:`, relative paths) and the one check of
//! relative paths shared by documents, packages and directories.

use std::sync::Arc;

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

use crate::glyph::AssetSource;

const EXPECTED: &str =
    "expected data:<mime>;base64,<data>, sha256:<64 hex digits> or a relative path";

/// Parses an asset `src`. The error is the message (without the path).
pub(crate) fn parse_src(src: &str) -> Result<AssetSource, String> {
    if let Some(rest) = strip_prefix_ignore_case(src, "data:") {
        return parse_data(rest);
    }
    if let Some(hex) = strip_prefix_ignore_case(src, "sha256:") {
        return parse_sha256(hex)
            .map(AssetSource::Sha256)
            .ok_or_else(|| format!("\"sha256:{hex}\" is not a SHA-256 hash (expected sha256: followed by 64 hex digits)"));
    }
    normalise_relative(src).map(AssetSource::Path)
}

/// Checks a relative path and returns it normalised (`./a//b` → `a/b`). Refuses
/// absolute paths, drive letters, URLs, backslashes and `..` components, which could
/// reach outside a package or directory.
pub(crate) fn normalise_relative(path: &str) -> Result<String, String> {
    let quoted = super::jpath::quote(path);
    if path.is_empty() {
        return Err(format!("an empty path names no file ({EXPECTED})"));
    }
    if path.chars().any(char::is_control) {
        return Err(format!("{quoted} contains a control character"));
    }
    if path.starts_with('/') || path.starts_with('\\') {
        return Err(format!(
            "{quoted} is an absolute path; only relative paths are allowed"
        ));
    }
    if let Some(scheme) = url_scheme(path) {
        return Err(if scheme.len() == 1 {
            format!("{quoted} starts with a drive letter; only relative paths are allowed")
        } else {
            format!("{quoted} is a URL ({scheme}:); URLs are refused ({EXPECTED})")
        });
    }
    if path.contains('\\') {
        return Err(format!(
            "{quoted} contains a backslash; use / to separate folders"
        ));
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                return Err(format!(
                    "{quoted} contains a \"..\" component, which is refused"
                ));
            }
            _ => parts.push(part),
        }
    }
    if parts.is_empty() {
        return Err(format!("{quoted} names no file"));
    }
    Ok(parts.join("/"))
}

/// The scheme of `s` when it starts like a URL (`https:`, `file:`, or a drive letter `C:`).
fn url_scheme(s: &str) -> Option<&str> {
    let colon = s.find(':')?;
    let scheme = &s[..colon];
    let mut bytes = scheme.bytes();
    let first = bytes.next()?;
    (first.is_ascii_alphabetic()
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
    .then_some(scheme)
}

fn strip_prefix_ignore_case<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn parse_data(rest: &str) -> Result<AssetSource, String> {
    let Some((header, data)) = rest.split_once(',') else {
        return Err(format!(
            "a data URL needs a comma before its data ({EXPECTED})"
        ));
    };
    let at = header.len().saturating_sub(7);
    let mime = match header.get(at..) {
        Some(tail) if tail.eq_ignore_ascii_case(";base64") => &header[..at],
        _ => return Err(format!("only base64 data URLs are supported ({EXPECTED})")),
    };
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    let bytes = ENGINE
        .decode(data.trim())
        .map_err(|e| format!("the data URL's base64 is invalid ({e})"))?;
    Ok(AssetSource::Data {
        mime: mime.to_owned(),
        bytes: Arc::from(bytes),
    })
}

/// 64 hex digits (either case) → 32 bytes.
pub(crate) fn parse_sha256(hex: &str) -> Option<[u8; 32]> {
    let hex = hex.as_bytes();
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.chunks_exact(2)) {
        let digit = |c: u8| (c as char).to_digit(16);
        *byte = u8::try_from(digit(pair[0])? * 16 + digit(pair[1])?).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_decode() {
        let AssetSource::Data { mime, bytes } =
            parse_src("data:image/png;base64,aGVsbG8=").unwrap()
        else {
            panic!("not data");
        };
        assert_eq!(mime, "image/png");
        assert_eq!(&*bytes, b"hello");
        // Missing padding is tolerated, as browsers do.
        let AssetSource::Data { bytes, .. } = parse_src("DATA:font/ttf;BASE64,aGVsbG8").unwrap()
        else {
            panic!("not data");
        };
        assert_eq!(&*bytes, b"hello");
    }

    #[test]
    fn bad_data_urls_are_refused() {
        assert!(
            parse_src("data:text/plain,hello")
                .unwrap_err()
                .contains("only base64")
        );
        assert!(
            parse_src("data:image/png;base64")
                .unwrap_err()
                .contains("comma")
        );
        assert!(
            parse_src("data:image/png;base64,@@@")
                .unwrap_err()
                .contains("base64 is invalid")
        );
    }

    #[test]
    fn sha256_sources_accept_either_case() {
        let lower = format!("sha256:{}", "ab".repeat(32));
        let upper = format!("sha256:{}", "AB".repeat(32));
        assert_eq!(parse_src(&lower).unwrap(), AssetSource::Sha256([0xab; 32]));
        assert_eq!(parse_src(&upper).unwrap(), AssetSource::Sha256([0xab; 32]));
        assert!(
            parse_src("sha256:abc")
                .unwrap_err()
                .contains("64 hex digits")
        );
        assert!(parse_src(&format!("sha256:{}", "zz".repeat(32))).is_err());
    }

    #[test]
    fn relative_paths_are_normalised() {
        assert_eq!(
            parse_src("assets/logo.png").unwrap(),
            AssetSource::Path("assets/logo.png".into())
        );
        assert_eq!(
            parse_src("./assets//logo.png").unwrap(),
            AssetSource::Path("assets/logo.png".into())
        );
    }

    #[test]
    fn escaping_paths_and_urls_are_refused() {
        let cases = [
            ("/etc/passwd", "absolute path"),
            ("\\server\\share", "absolute path"),
            ("C:/fonts/a.ttf", "drive letter"),
            ("c:a.ttf", "drive letter"),
            ("https://example.com/a.png", "is a URL (https:)"),
            ("http://example.com/a.png", "is a URL (http:)"),
            ("file:///etc/passwd", "is a URL (file:)"),
            ("assets\\logo.png", "backslash"),
            ("assets/../../secret", "\"..\" component"),
            ("..", "\"..\" component"),
            ("", "names no file"),
            ("./", "names no file"),
            ("a\u{0}b", "control character"),
        ];
        for (src, expected) in cases {
            let err = parse_src(src).unwrap_err();
            assert!(err.contains(expected), "{src:?}: {err}");
        }
    }
}
