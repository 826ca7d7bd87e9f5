//! Signed URLs: HMAC-SHA256 over a URL's path and query with an expiry, so that a CDN
//! (or an `<img>` tag in someone else's page) can fetch a private thumbnail without a
//! bearer token.
//!
//! A signed URL carries two more query parameters: `expires` (Unix seconds) and
//! `signature` (the HMAC-SHA256, unpadded URL-safe base64, 43 characters). The signed
//! text is
//!
//! ```text
//! <path> "\n" <the query's pairs except `signature`, sorted bytewise, joined by "&">
//! ```
//!
//! The path and the pairs are taken exactly as sent, percent escapes and all (never
//! decoded, so two spellings of one value are two different URLs); empty pairs (`&&`)
//! are left out. Sorting makes the signature hold when a CDN reorders the query; the
//! server reads its query without regard to order, so no meaning is lost. `expires` is
//! one of the signed pairs, so it cannot be moved.
//!
//! [`SigningKeys`] holds several keys at once, as imgproxy does, so keys rotate without
//! downtime: any key verifies, the first signs. Deploy a new key second, then first
//! once every server has it, then drop the old one when the URLs it signed have expired.
//!
//! ```
//! use spv::signing::SigningKeys;
//!
//! let keys: SigningKeys = "6b65792d6f6e652d6f662d7468697274792d74776f2d62797465732d6c6f6e6721"
//!     .parse().unwrap();
//! let url = keys.sign("/api/v1/documents/0190/thumbnail?size=128", 2_000_000_000).unwrap();
//! assert!(url.starts_with("/api/v1/documents/0190/thumbnail?size=128&expires=2000000000&signature="));
//! let (path, query) = url.split_once('?').unwrap();
//! assert_eq!(keys.verify(path, query, 1_900_000_000).unwrap().expires, 2_000_000_000);
//! // Too late, or anything changed: refused.
//! assert!(keys.verify(path, query, 2_000_000_001).is_err());
//! assert!(keys.verify(path, &query.replace("size=128", "size=129"), 0).is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::Sha256;

use crate::{Error, ErrorKind, Result};

/// The query parameter of a signed URL's expiry, in Unix seconds.
pub const EXPIRES_PARAM: &str = "expires";
/// The query parameter of a signed URL's signature.
pub const SIGNATURE_PARAM: &str = "signature";
/// The fewest bytes a key may have (HMAC-SHA256's output size).
pub const MIN_KEY_BYTES: usize = 32;
/// The most bytes a key may have (SHA-256's block size: longer keys are hashed first, so
/// they add nothing).
pub const MAX_KEY_BYTES: usize = 64;
/// The most keys verified at once.
pub const MAX_KEYS: usize = 8;
/// The name of the keys' variable, in messages.
const VARIABLE: &str = "SPV_URL_SIGNING_KEYS";
/// The length of an encoded signature: 32 bytes in unpadded base64.
const SIGNATURE_CHARS: usize = 43;

type HmacSha256 = Hmac<Sha256>;

/// The keys of signed URLs (`SPV_URL_SIGNING_KEYS`): the first signs, any verifies.
///
/// Parsed from comma-separated keys, each either hex (an even number of hex digits) or
/// base64 (standard or URL-safe, padded or not), each [`MIN_KEY_BYTES`] to
/// [`MAX_KEY_BYTES`] bytes, at most [`MAX_KEYS`]. `Debug` and error messages show how
/// many keys there are, never their bytes.
///
/// ```
/// use spv::signing::SigningKeys;
/// let two: SigningKeys = format!("{}, {}", "ab".repeat(32), "QUJD".repeat(11)).parse().unwrap();
/// assert_eq!(two.len(), 2);
/// assert_eq!(format!("{two:?}"), "SigningKeys(2 keys)");
/// let short = "abcd".parse::<SigningKeys>().unwrap_err();
/// assert!(short.to_string().contains("at least 32 bytes"), "{short}");
/// assert!(!short.to_string().contains("abcd"));
/// ```
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SigningKeys {
    keys: Vec<Vec<u8>>,
}

/// What a valid signature told: until when the URL holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The URL's expiry, in Unix seconds.
    pub expires: u64,
}

impl SigningKeys {
    /// Keys from their bytes (the first signs); each must have [`MIN_KEY_BYTES`] to
    /// [`MAX_KEY_BYTES`] bytes, at most [`MAX_KEYS`] of them.
    pub fn new(keys: Vec<Vec<u8>>) -> Result<SigningKeys> {
        if keys.len() > MAX_KEYS {
            return Err(Error::invalid_request(format!(
                "{VARIABLE}: {} keys; expected at most {MAX_KEYS}",
                keys.len()
            )));
        }
        let count = keys.len();
        for (i, key) in keys.iter().enumerate() {
            if !(MIN_KEY_BYTES..=MAX_KEY_BYTES).contains(&key.len()) {
                return Err(Error::invalid_request(format!(
                    "{VARIABLE}: key {} of {count} has {} bytes; expected at least \
                     {MIN_KEY_BYTES} bytes (64 hex digits or 43 base64 characters) and at \
                     most {MAX_KEY_BYTES}",
                    i + 1,
                    key.len()
                )));
            }
        }
        Ok(SigningKeys { keys })
    }

    /// How many keys there are.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are none (signed URLs are then refused).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// `path_and_query` (`/path?a=1`, or a full URL) with `expires` and `signature`
    /// appended, signed with the first key.
    ///
    /// An error when there is no key, or when the query already has either parameter.
    pub fn sign(&self, path_and_query: &str, expires: u64) -> Result<String> {
        let Some(key) = self.keys.first() else {
            return Err(Error::invalid_request(format!(
                "{VARIABLE}: no key to sign with; expected at least one"
            )));
        };
        // The query ends at a fragment, which is never sent.
        let (url, fragment) = match path_and_query.split_once('#') {
            Some((url, fragment)) => (url, Some(fragment)),
            None => (path_and_query, None),
        };
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        for (name, _) in pairs(query) {
            if name == EXPIRES_PARAM || name == SIGNATURE_PARAM {
                return Err(Error::invalid_request(format!(
                    "the URL to sign already has a `{name}` parameter"
                )));
            }
        }
        let mut query = query.trim_end_matches('&').to_owned();
        if !query.is_empty() {
            query.push('&');
        }
        query.push_str(&format!("{EXPIRES_PARAM}={expires}"));
        // What the server sees as the path: a full URL's own, after its authority.
        let signed_path = path
            .split_once("://")
            .map_or(path, |(_, rest)| rest.find('/').map_or("/", |i| &rest[i..]));
        let signature = mac(key, signed_path, &canonical_query(&query))
            .finalize()
            .into_bytes();
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature);
        let mut out = format!("{path}?{query}&{SIGNATURE_PARAM}={signature}");
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
        Ok(out)
    }

    /// Checks the signature of a request for `path` with `query` (both as sent, the query
    /// without its `?`) at `now` (Unix seconds): the query must hold one `expires` and one
    /// `signature`, the signature must be one of a key's (compared in constant time) and
    /// `expires` not before `now`.
    ///
    /// Every refusal is an [`ErrorKind::InvalidSignature`] error that names the reason,
    /// never a key.
    pub fn verify(&self, path: &str, query: &str, now: u64) -> Result<Verified> {
        let refuse = |why: &str| Error::new(ErrorKind::InvalidSignature, why.to_owned());
        if self.keys.is_empty() {
            return Err(refuse(
                "this server verifies no signed URLs (no SPV_URL_SIGNING_KEYS)",
            ));
        }
        let (mut expires, mut signature) = (None, None);
        for (name, value) in pairs(query) {
            let slot = match name {
                EXPIRES_PARAM => &mut expires,
                SIGNATURE_PARAM => &mut signature,
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(refuse(&format!(
                    "the signed URL has more than one `{name}` parameter"
                )));
            }
        }
        let Some(signature) = signature else {
            return Err(refuse(
                "the URL has `expires` but no `signature`; expected both",
            ));
        };
        let expires: u64 = expires
            .ok_or_else(|| refuse("the signed URL has no `expires` parameter"))?
            .parse()
            .map_err(|_| refuse("`expires`: expected Unix seconds"))?;
        let signature = (signature.len() == SIGNATURE_CHARS)
            .then(|| {
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(signature)
                    .ok()
            })
            .flatten()
            .ok_or_else(|| {
                refuse("`signature`: expected 43 characters of URL-safe base64 (HMAC-SHA256)")
            })?;
        let canonical = canonical_query(query);
        let valid = self
            .keys
            .iter()
            .any(|key| mac(key, path, &canonical).verify_slice(&signature).is_ok());
        if !valid {
            return Err(refuse(
                "the signature does not match the URL (changed, or signed with another key)",
            ));
        }
        if expires < now {
            return Err(refuse(&format!(
                "the signed URL expired {} s ago (at {expires})",
                now - expires
            )));
        }
        Ok(Verified { expires })
    }
}

/// The query's non-empty pairs, split at their first `=`, not decoded.
fn pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// The signed form of `query`: its non-empty pairs but `signature`, sorted, joined.
fn canonical_query(query: &str) -> String {
    let mut kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| pair.split_once('=').map_or(*pair, |(name, _)| name) != SIGNATURE_PARAM)
        .collect();
    kept.sort_unstable();
    kept.join("&")
}

/// The MAC of `path` and a [`canonical_query`] under `key`.
fn mac(key: &[u8], path: &str, canonical: &str) -> HmacSha256 {
    // Keys are checked at parse; HMAC takes any length anyway.
    let mut mac = HmacSha256::new_from_slice(key).unwrap_or_else(|_| {
        unreachable!("HMAC accepts keys of any length");
    });
    mac.update(path.as_bytes());
    mac.update(b"\n");
    mac.update(canonical.as_bytes());
    mac
}

impl FromStr for SigningKeys {
    type Err = Error;

    /// Comma-separated keys, each hex or base64; empty text is no keys.
    fn from_str(text: &str) -> Result<SigningKeys> {
        let parts: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let count = parts.len();
        let mut keys = Vec::with_capacity(count);
        for (i, part) in parts.into_iter().enumerate() {
            let key = decode_key(part).ok_or_else(|| {
                Error::invalid_request(format!(
                    "{VARIABLE}: key {} of {count} is neither hex nor base64",
                    i + 1
                ))
            })?;
            keys.push(key);
        }
        SigningKeys::new(keys)
    }
}

/// A key's bytes: hex when it is an even number of hex digits, else base64.
fn decode_key(text: &str) -> Option<Vec<u8>> {
    if text.len().is_multiple_of(2) && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return crate::hex::decode(text);
    }
    use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
    let text = text.trim_end_matches('=');
    STANDARD_NO_PAD
        .decode(text)
        .or_else(|_| URL_SAFE_NO_PAD.decode(text))
        .ok()
}

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.keys.len() {
            1 => f.write_str("SigningKeys(1 key)"),
            n => write!(f, "SigningKeys({n} keys)"),
        }
    }
}

impl Serialize for SigningKeys {
    /// As the variable is written (hex keys, comma-separated): a configuration written
    /// back out must still verify.
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let text: Vec<String> = self.keys.iter().map(|k| crate::hex::hex(k)).collect();
        serializer.serialize_str(&text.join(","))
    }
}

impl<'de> Deserialize<'de> for SigningKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> SigningKeys {
        text.parse().unwrap()
    }

    const A: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    const B: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";

    #[test]
    fn a_signed_url_verifies_until_it_expires() {
        let k = keys(A);
        let url = k
            .sign("/api/v1/documents/x/thumbnail?size=64&format=png", 100)
            .unwrap();
        let (path, query) = url.split_once('?').unwrap();
        assert_eq!(
            k.verify(path, query, 100).unwrap(),
            Verified { expires: 100 }
        );
        let late = k.verify(path, query, 101).unwrap_err();
        assert_eq!(late.kind(), ErrorKind::InvalidSignature);
        assert!(late.to_string().contains("expired 1 s ago"), "{late}");
    }

    #[test]
    fn the_query_is_signed_in_any_order_but_not_in_any_spelling() {
        let k = keys(A);
        let url = k.sign("/t?b=2&a=1", 100).unwrap();
        let (path, query) = url.split_once('?').unwrap();
        let mut shuffled: Vec<&str> = query.split('&').collect();
        shuffled.reverse();
        assert!(k.verify(path, &shuffled.join("&"), 0).is_ok());
        assert!(k.verify(path, &format!("&&{query}&"), 0).is_ok());
        for (what, path, query) in [
            ("path", "/u", query.to_owned()),
            ("value", path, query.replace("a=1", "a=%31")),
            ("added", path, format!("{query}&c=3")),
            ("removed", path, query.replace("a=1&", "")),
            ("expiry", path, query.replace("expires=100", "expires=200")),
        ] {
            let error = k.verify(path, &query, 0).unwrap_err();
            assert!(
                error.to_string().contains("does not match"),
                "{what}: {error}"
            );
        }
    }

    #[test]
    fn any_key_verifies_and_the_first_signs() {
        let (old, new) = (keys(A), keys(B));
        let both = keys(&format!("{B},{A}"));
        let by_old = old.sign("/t", 9).unwrap();
        let by_both = both.sign("/t", 9).unwrap();
        assert_eq!(by_both, new.sign("/t", 9).unwrap());
        for url in [&by_old, &by_both] {
            let (path, query) = url.split_once('?').unwrap();
            assert!(both.verify(path, query, 0).is_ok(), "{url}");
        }
        let (path, query) = by_both.split_once('?').unwrap();
        assert!(old.verify(path, query, 0).is_err());
    }

    #[test]
    fn bad_signatures_and_keys_are_named() {
        let k = keys(A);
        for (query, expected) in [
            ("expires=1", "no `signature`"),
            ("signature=x", "no `expires`"),
            ("expires=x&signature=x", "Unix seconds"),
            ("expires=1&signature=x", "43 characters"),
            ("expires=1&expires=2&signature=x", "more than one `expires`"),
        ] {
            let error = k.verify("/t", query, 0).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidSignature);
            assert!(error.to_string().contains(expected), "{query}: {error}");
        }
        let none = SigningKeys::default().verify("/t", "expires=1&signature=x", 0);
        assert!(
            none.unwrap_err()
                .to_string()
                .contains("no SPV_URL_SIGNING_KEYS")
        );
        assert!(SigningKeys::default().sign("/t", 1).is_err());
        assert!(k.sign("/t?expires=1", 1).is_err());
        let secret = "!!".repeat(32);
        let error = secret.parse::<SigningKeys>().unwrap_err().to_string();
        assert!(error.contains("key 1 of 1 is neither hex nor base64") && !error.contains(&secret));
        let many = [A; MAX_KEYS + 1].join(",");
        assert!(many.parse::<SigningKeys>().is_err());
        assert!(keys("").is_empty());
        // Base64 with and without padding, standard and URL-safe.
        let b = keys(B);
        assert_eq!(b, keys(B.trim_end_matches('=')));
        assert_eq!(keys(&"_-".repeat(22)).len(), 1);
        let round: SigningKeys =
            serde_json::from_str(&serde_json::to_string(&keys(&format!("{A},{B}"))).unwrap())
                .unwrap();
        assert_eq!(round, keys(&format!("{A},{B}")));
    }

    #[test]
    fn full_urls_sign_their_path() {
        let k = keys(A);
        let url = k
            .sign("https://cdn.example/spv/api/v1/x?size=1#top", 5)
            .unwrap();
        assert!(url.starts_with("https://cdn.example/spv/api/v1/x?size=1&expires=5&signature="));
        assert!(url.ends_with("#top"));
        let query = url.split_once('?').unwrap().1.split_once('#').unwrap().0;
        assert!(k.verify("/spv/api/v1/x", query, 0).is_ok());
    }
}
