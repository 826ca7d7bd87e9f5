//! The pixel size of an encoded PNG, WebP or JPEG, read from its header (the server
//! sends the image alone; `Thumbnail` carries its size).

use spv::api::ImageFormat;

fn be16(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from(u16::from_be_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}

fn le24(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 3)?;
    Some(u32::from(s[0]) | u32::from(s[1]) << 8 | u32::from(s[2]) << 16)
}

/// `(width, height)` of `bytes` in `format`; `None` when the header is not readable.
pub(crate) fn image_size(format: ImageFormat, bytes: &[u8]) -> Option<(u32, u32)> {
    match format {
        ImageFormat::Png => png(bytes),
        ImageFormat::Webp => webp(bytes),
        ImageFormat::Jpeg => jpeg(bytes),
    }
}

fn png(b: &[u8]) -> Option<(u32, u32)> {
    if !b.starts_with(b"\x89PNG\r\n\x1a\n") || b.get(12..16)? != b"IHDR" {
        return None;
    }
    let word = |at: usize| Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?));
    Some((word(16)?, word(20)?))
}

fn webp(b: &[u8]) -> Option<(u32, u32)> {
    if b.get(0..4)? != b"RIFF" || b.get(8..12)? != b"WEBP" {
        return None;
    }
    match b.get(12..16)? {
        b"VP8X" => Some((le24(b, 24)? + 1, le24(b, 27)? + 1)),
        b"VP8L" => {
            if *b.get(20)? != 0x2f {
                return None;
            }
            let bits = u32::from_le_bytes(b.get(21..25)?.try_into().ok()?);
            Some(((bits & 0x3fff) + 1, ((bits >> 14) & 0x3fff) + 1))
        }
        b"VP8 " => {
            if b.get(23..26)? != [0x9d, 0x01, 0x2a] {
                return None;
            }
            let word = |at: usize| {
                Some(u32::from(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?)) & 0x3fff)
            };
            Some((word(26)?, word(28)?))
        }
        _ => None,
    }
}

fn jpeg(b: &[u8]) -> Option<(u32, u32)> {
    if !b.starts_with(&[0xff, 0xd8]) {
        return None;
    }
    let mut i = 2;
    loop {
        // Markers are 0xFF, optional fill 0xFFs, then the marker code.
        while *b.get(i)? != 0xff {
            i += 1;
        }
        while *b.get(i)? == 0xff {
            i += 1;
        }
        let marker = *b.get(i)?;
        match marker {
            0x01 | 0xd0..=0xd8 => i += 1,
            0xd9 | 0xda => return None,
            0xc0..=0xcf if !matches!(marker, 0xc4 | 0xc8 | 0xcc) => {
                return Some((be16(b, i + 6)?, be16(b, i + 4)?));
            }
            _ => i += 1 + usize::try_from(be16(b, i + 1)?).ok()?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_header() {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend_from_slice(&300_u32.to_be_bytes());
        b.extend_from_slice(&7_u32.to_be_bytes());
        assert_eq!(image_size(ImageFormat::Png, &b), Some((300, 7)));
        assert_eq!(image_size(ImageFormat::Png, &b[..20]), None);
    }

    #[test]
    fn webp_headers() {
        let mut lossless = b"RIFF\0\0\0\0WEBPVP8L\0\0\0\0\x2f".to_vec();
        let bits: u32 = (100 - 1) | ((50 - 1) << 14);
        lossless.extend_from_slice(&bits.to_le_bytes());
        assert_eq!(image_size(ImageFormat::Webp, &lossless), Some((100, 50)));

        let mut extended = b"RIFF\0\0\0\0WEBPVP8X\0\0\0\0\0\0\0\0".to_vec();
        extended.extend_from_slice(&[255, 1, 0, 9, 0, 0]);
        assert_eq!(image_size(ImageFormat::Webp, &extended), Some((512, 10)));

        let mut lossy = b"RIFF\0\0\0\0WEBPVP8 \0\0\0\0\0\0\0\x9d\x01\x2a".to_vec();
        lossy.extend_from_slice(&[64, 0, 32, 0]);
        assert_eq!(image_size(ImageFormat::Webp, &lossy), Some((64, 32)));
        assert_eq!(image_size(ImageFormat::Webp, b"RIFF"), None);
    }

    #[test]
    fn jpeg_header() {
        // SOI, an APP0 segment of 4 bytes, then SOF0 with height 20 and width 40.
        let b = [
            0xff, 0xd8, 0xff, 0xe0, 0x00, 0x04, 0x00, 0x00, 0xff, 0xc0, 0x00, 0x11, 0x08, 0x00, 20,
            0x00, 40, 0x03,
        ];
        assert_eq!(image_size(ImageFormat::Jpeg, &b), Some((40, 20)));
        assert_eq!(image_size(ImageFormat::Jpeg, &b[..10]), None);
        assert_eq!(
            image_size(ImageFormat::Jpeg, &[0xff, 0xd8, 0xff, 0xd9]),
            None
        );
    }
}
