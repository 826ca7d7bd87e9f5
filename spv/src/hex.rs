//! Lowercase hex, for content hashes, cache keys and ETags (no I/O, no feature).

/// Lowercase hex of bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    push_hex(&mut out, bytes);
    out
}

/// Appends `bytes` as lowercase hex digits to `out`.
pub(crate) fn push_hex(out: &mut String, bytes: &[u8]) {
    // A table rather than `write!` per byte: ETags are made on every thumbnail request.
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut digits = [0u8; 64];
    for chunk in bytes.chunks(32) {
        for (pair, &b) in digits.chunks_exact_mut(2).zip(chunk) {
            pair[0] = DIGITS[usize::from(b >> 4)];
            pair[1] = DIGITS[usize::from(b & 0x0f)];
        }
        // Only ASCII digits were written.
        out.push_str(std::str::from_utf8(&digits[..chunk.len() * 2]).unwrap_or_default());
    }
}

/// The bytes of hex digits (either case); `None` for an odd count or another character.
pub(crate) fn decode(text: &str) -> Option<Vec<u8>> {
    fn digit(b: u8) -> Option<u8> {
        (b as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
    }
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.as_bytes()
        .chunks_exact(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}
