//! ETags and conditional requests (`If-None-Match`): the ETags of job outputs and
//! asset metadata; matching is the thumbnails' (`crate::thumbnails::etag_matches`).

use sha2::{Digest, Sha256};

/// A strong ETag (`"<hex>"`) of the SHA-256 of `parts`, each length-prefixed so that
/// different splits never collide.
pub(crate) fn strong_etag(parts: &[&[u8]]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

pub(crate) use crate::thumbnails::etag_matches;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strong_etags_are_quoted_and_split_safe() {
        let a = strong_etag(&[b"doc", b"png"]);
        assert!(a.starts_with('"') && a.ends_with('"'));
        assert_ne!(a, strong_etag(&[b"docp", b"ng"]));
    }
}
