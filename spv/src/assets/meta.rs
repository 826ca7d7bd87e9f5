//! What an asset's bytes are: the media type sniffed from the bytes (never trusted from a
//! header), image size and dominant colour, font family, style and weight. Pure and
//! synchronous; the service runs it on the blocking pool.

use std::io::Cursor;

/// What [`inspect`] found out about some bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Inspected {
    pub(crate) mime: String,
    pub(crate) width: Option<u32>,
    pub(crate) height: Option<u32>,
    pub(crate) dominant_color: Option<String>,
    pub(crate) font_family: Option<String>,
    pub(crate) font_style: Option<String>,
    pub(crate) font_weight: Option<u16>,
}

/// Every media type `sniff` answers, so every type an asset's bytes are served with.
pub const MEDIA_TYPES: [&str; 14] = [
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "font/ttf",
    "font/otf",
    "font/collection",
    "font/woff",
    "font/woff2",
    "application/pdf",
    "application/zip",
    "image/svg+xml",
    "application/json",
    "application/octet-stream",
];

/// The media type of `bytes`, from their first bytes (one of [`MEDIA_TYPES`]).
pub(crate) fn sniff(bytes: &[u8]) -> &'static str {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        "image/png"
    } else if starts(b"\xff\xd8\xff") {
        "image/jpeg"
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        "image/gif"
    } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        "image/webp"
    } else if starts(b"\x00\x01\x00\x00") || starts(b"true") {
        "font/ttf"
    } else if starts(b"OTTO") {
        "font/otf"
    } else if starts(b"ttcf") {
        "font/collection"
    } else if starts(b"wOFF") {
        "font/woff"
    } else if starts(b"wOF2") {
        "font/woff2"
    } else if starts(b"%PDF-") {
        "application/pdf"
    } else if starts(b"PK\x03\x04") {
        "application/zip"
    } else if looks_like_svg(bytes) {
        "image/svg+xml"
    } else if std::str::from_utf8(bytes).is_ok_and(|s| s.trim_start().starts_with(['{', '['])) {
        "application/json"
    } else {
        "application/octet-stream"
    }
}

fn looks_like_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(1024)];
    let head = String::from_utf8_lossy(head);
    let head = head.trim_start_matches('\u{feff}').trim_start();
    (head.starts_with("<svg") || head.starts_with("<?xml") || head.starts_with("<!--"))
        && head.contains("<svg")
}

/// Inspects `bytes`; images larger than `max_pixels` get their size but no colour.
pub(crate) fn inspect(bytes: &[u8], max_pixels: u64) -> Inspected {
    let mime = sniff(bytes);
    let mut out = Inspected {
        mime: mime.to_string(),
        ..Inspected::default()
    };
    if mime.starts_with("image/") && mime != "image/svg+xml" {
        let reader = || {
            image::ImageReader::new(Cursor::new(bytes))
                .with_guessed_format()
                .ok()
        };
        if let Some((w, h)) = reader().and_then(|r| r.into_dimensions().ok()) {
            out.width = Some(w);
            out.height = Some(h);
            if u64::from(w) * u64::from(h) <= max_pixels {
                out.dominant_color = reader()
                    .and_then(|r| r.decode().ok())
                    .and_then(|img| dominant_color(&img));
            }
        }
    } else if matches!(mime, "font/ttf" | "font/otf" | "font/collection")
        && let Some(font) = font_info(bytes)
    {
        out.font_family = font.family;
        out.font_style = Some(font.style.to_string());
        out.font_weight = font.weight;
    }
    out
}

/// The most common colour of an image (buckets of 4 bits per channel on a small copy,
/// averaged within the winning bucket), as `#rrggbb`; transparent pixels do not count.
fn dominant_color(img: &image::DynamicImage) -> Option<String> {
    // Small images are counted whole: downscaling would blur their exact colours.
    let small = if img.width() > 64 || img.height() > 64 {
        img.thumbnail(64, 64).to_rgba8()
    } else {
        img.to_rgba8()
    };
    let mut buckets = vec![(0u32, [0u64; 3]); 4096];
    for pixel in small.pixels() {
        let [r, g, b, a] = pixel.0;
        if a < 128 {
            continue;
        }
        let index = (usize::from(r >> 4) << 8) | (usize::from(g >> 4) << 4) | usize::from(b >> 4);
        let bucket = &mut buckets[index];
        bucket.0 += 1;
        bucket.1[0] += u64::from(r);
        bucket.1[1] += u64::from(g);
        bucket.1[2] += u64::from(b);
    }
    let (count, sums) = buckets.iter().max_by_key(|(count, _)| *count)?;
    if *count == 0 {
        return None;
    }
    let avg = |sum: u64| sum / u64::from(*count);
    Some(format!(
        "#{:02x}{:02x}{:02x}",
        avg(sums[0]),
        avg(sums[1]),
        avg(sums[2])
    ))
}

/// A font's family, style and weight, from its `name` and `OS/2` tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FontInfo {
    pub(crate) family: Option<String>,
    pub(crate) style: &'static str,
    pub(crate) weight: Option<u16>,
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]))
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *data.get(at)?,
        *data.get(at + 1)?,
        *data.get(at + 2)?,
        *data.get(at + 3)?,
    ]))
}

/// The table `tag` of the first font in `data` (a font file or collection).
fn table<'a>(data: &'a [u8], tag: &[u8; 4]) -> Option<&'a [u8]> {
    let font = if data.starts_with(b"ttcf") {
        usize::try_from(u32_at(data, 12)?).ok()?
    } else {
        0
    };
    let count = usize::from(u16_at(data, font + 4)?);
    (0..count).find_map(|i| {
        let record = font + 12 + i * 16;
        if data.get(record..record + 4)? != tag {
            return None;
        }
        let offset = usize::try_from(u32_at(data, record + 8)?).ok()?;
        let length = usize::try_from(u32_at(data, record + 12)?).ok()?;
        data.get(offset..offset.checked_add(length)?)
    })
}

/// Name `id` of a `name` table, preferring Windows English, then any Unicode, then Mac.
fn name(names: &[u8], id: u16) -> Option<String> {
    let count = usize::from(u16_at(names, 2)?);
    let strings = usize::from(u16_at(names, 4)?);
    let mut best: Option<(u8, String)> = None;
    for i in 0..count {
        let r = 6 + i * 12;
        if u16_at(names, r + 6)? != id {
            continue;
        }
        let (platform, language) = (u16_at(names, r)?, u16_at(names, r + 4)?);
        let length = usize::from(u16_at(names, r + 8)?);
        let offset = strings + usize::from(u16_at(names, r + 10)?);
        let Some(raw) = names.get(offset..offset + length) else {
            continue;
        };
        let (rank, text) = match platform {
            0 | 3 => {
                let units: Vec<u16> = raw
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
                let rank = if platform == 3 && language == 0x409 {
                    3
                } else {
                    2
                };
                (rank, String::from_utf16_lossy(&units))
            }
            1 => (1, raw.iter().map(|&b| char::from(b)).collect()),
            _ => continue,
        };
        if best.as_ref().is_none_or(|(r, _)| rank > *r) && !text.trim().is_empty() {
            best = Some((rank, text.trim().to_string()));
        }
    }
    best.map(|(_, text)| text)
}

/// Family (typographic family first), style (`italic` or `normal`) and weight.
pub(crate) fn font_info(data: &[u8]) -> Option<FontInfo> {
    let names = table(data, b"name");
    let os2 = table(data, b"OS/2");
    if names.is_none() && os2.is_none() {
        return None;
    }
    let family = names.and_then(|n| name(n, 16).or_else(|| name(n, 1)));
    let subfamily = names.and_then(|n| name(n, 17).or_else(|| name(n, 2)));
    let italic_bit = os2
        .and_then(|t| u16_at(t, 62))
        .is_some_and(|sel| sel & 1 != 0);
    let italic_name = subfamily.as_deref().is_some_and(|s| {
        let s = s.to_ascii_lowercase();
        s.contains("italic") || s.contains("oblique")
    });
    Some(FontInfo {
        family,
        style: if italic_bit || italic_name {
            "italic"
        } else {
            "normal"
        },
        weight: os2
            .and_then(|t| u16_at(t, 4))
            .filter(|w| (1..=1000).contains(w)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n...."), "image/png");
        for bytes in [
            &b"\x89PNG\r\n\x1a\n"[..],
            b"\xff\xd8\xff",
            b"GIF89a",
            b"RIFF\0\0\0\0WEBPVP8 ",
            b"true",
            b"OTTO",
            b"ttcf",
            b"wOFF",
            b"wOF2",
            b"%PDF-",
            b"PK\x03\x04",
            b"<svg/>",
            b"{}",
            b"?",
        ] {
            assert!(MEDIA_TYPES.contains(&sniff(bytes)), "{bytes:?}");
        }
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), "image/webp");
        assert_eq!(sniff(b"<?xml version=\"1.0\"?><svg/>"), "image/svg+xml");
        assert_eq!(sniff(b"OTTO\0\0"), "font/otf");
        assert_eq!(sniff(b" {\"a\":1}"), "application/json");
        assert_eq!(sniff(b"\x00\x02garbage"), "application/octet-stream");
        assert_eq!(sniff(b""), "application/octet-stream");
    }

    #[test]
    fn images_get_size_and_dominant_colour() {
        let mut img = image::RgbaImage::from_pixel(40, 30, image::Rgba([200, 10, 10, 255]));
        for x in 0..10 {
            img.put_pixel(x, 0, image::Rgba([0, 0, 255, 255]));
        }
        let mut png = Vec::new();
        image::DynamicImage::ImageRgba8(img)
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let info = inspect(&png, 1 << 20);
        assert_eq!(info.mime, "image/png");
        assert_eq!((info.width, info.height), (Some(40), Some(30)));
        assert_eq!(info.dominant_color.as_deref(), Some("#c80a0a"));
        let big = inspect(&png, 100);
        assert_eq!((big.width, big.dominant_color), (Some(40), None));
    }

    #[test]
    fn fonts_get_family_style_and_weight() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fonts");
        let font = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "ttf"))
            .expect("a bundled .ttf font");
        let bytes = std::fs::read(&font).unwrap();
        let info = inspect(&bytes, 0);
        assert_eq!(info.mime, "font/ttf");
        let family = info.font_family.unwrap();
        let stem = font.file_stem().unwrap().to_string_lossy().to_lowercase();
        assert!(
            stem.starts_with(&family.to_lowercase().replace(' ', "")),
            "{family} vs {stem}"
        );
        assert!(info.font_weight.is_some_and(|w| (100..=900).contains(&w)));
        assert_eq!(
            info.font_style.as_deref(),
            Some(if stem.contains("italic") || stem.contains("oblique") {
                "italic"
            } else {
                "normal"
            })
        );
        assert_eq!(font_info(b"\x00\x01\x00\x00\x00\x00"), None);
        assert_eq!(
            font_info(b"ttcf\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"),
            None
        );
    }
}
