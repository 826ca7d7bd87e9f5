//! ETags and conditional requests (`If-None-Match`).

use sha2::{Digest, Sha256};

/// A strong ETag (`"<hex>"`) of the SHA-256 of `parts`, each length-prefixed so that
/// different splits never collide.
///
/// ```
/// let a = spv::http::strong_etag(&[b"doc", b"png"]);
/// assert!(a.starts_with('"') && a.ends_with('"'));
/// assert_ne!(a, spv::http::strong_etag(&[b"docp", b"ng"]));
/// ```
pub fn strong_etag(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether an `If-None-Match` header value matches `etag` (weak comparison, as RFC 9110
/// asks for `If-None-Match`; `*` matches anything).
///
/// ```
/// use spv::http::etag_matches;
/// assert!(etag_matches("W/\"abc\", \"def\"", "\"abc\""));
/// assert!(etag_matches("*", "\"x\""));
/// assert!(!etag_matches("\"abd\"", "\"abc\""));
/// ```
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let etag = bare(etag);
    if_none_match
        .split(',')
        .any(|candidate| candidate.trim() == "*" || bare(candidate) == etag)
}
