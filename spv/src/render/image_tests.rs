use super::*;
use crate::glyph::{Asset, AssetSource, NoAssets};

/// Encodes RGBA8 pixels as an image of `format` with the `image` crate.
pub(crate) fn encode_image(pixels: &[u8], width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
    let img = image::RgbaImage::from_raw(width, height, pixels.to_vec()).unwrap();
    let mut out = Cursor::new(Vec::new());
    match format {
        ImageFormat::Jpeg | ImageFormat::Gif => {
            image::DynamicImage::ImageRgba8(img)
                .to_rgb8()
                .write_to(&mut out, format)
                .unwrap();
        }
        _ => img.write_to(&mut out, format).unwrap(),
    }
    out.into_inner()
}

/// CRC-32 (ISO-HDLC), as PNG chunks use it.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

fn two_pixels() -> Vec<u8> {
    // Opaque red, then half-transparent blue.
    vec![255, 0, 0, 255, 0, 0, 255, 128]
}

#[test]
fn decodes_png_premultiplied() {
    let png = encode_image(&two_pixels(), 2, 1, ImageFormat::Png);
    let img = decode("logo", &png, &Limits::default()).unwrap();
    assert_eq!((img.width(), img.height()), (2, 1));
    assert_eq!(img.premultiplied_rgba8(), &[255, 0, 0, 255, 0, 0, 128, 128]);
    assert!(img.may_have_transparency());
}

#[test]
fn decodes_webp_gif_and_jpeg() {
    let pixels = [10u8, 200, 30, 255].repeat(8 * 8);
    for format in [ImageFormat::WebP, ImageFormat::Gif, ImageFormat::Jpeg] {
        let bytes = encode_image(&pixels, 8, 8, format);
        let img = decode("photo", &bytes, &Limits::default()).unwrap();
        assert_eq!((img.width(), img.height()), (8, 8), "{format:?}");
        let px = &img.premultiplied_rgba8()[..4];
        let near = |a: u8, b: u8| (i32::from(a) - i32::from(b)).abs() <= 6;
        assert!(
            near(px[0], 10) && near(px[1], 200) && near(px[2], 30),
            "{format:?}: {px:?}"
        );
        assert_eq!(px[3], 255);
    }
}

#[test]
fn garbage_is_an_invalid_asset_naming_it() {
    let err = decode("logo", b"not an image at all", &Limits::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidAsset);
    assert_eq!(err.path(), Some("assets.logo"));
    assert!(err.to_string().contains("\"logo\""), "{err}");
    // A PNG signature with a broken body.
    let mut png = encode_image(&two_pixels(), 2, 1, ImageFormat::Png);
    png.truncate(40);
    let err = decode("logo", &png, &Limits::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidAsset, "{err}");
}

#[test]
fn oversized_images_are_refused_from_the_header() {
    // A PNG header claiming 100000 × 100000 pixels over the data of a 2 × 1 image: only
    // the header is read, so this fails fast on the limit, not on the data.
    let mut png = encode_image(&two_pixels(), 2, 1, ImageFormat::Png);
    png[16..20].copy_from_slice(&100_000u32.to_be_bytes());
    png[20..24].copy_from_slice(&100_000u32.to_be_bytes());
    // The IHDR chunk's CRC covers its type and data (bytes 12..29).
    let crc = crc32(&png[12..29]);
    png[29..33].copy_from_slice(&crc.to_be_bytes());
    let err = decode("huge", &png, &Limits::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");
    assert!(err.to_string().contains("100000 × 100000"), "{err}");

    let small = Limits {
        max_image_pixels: 1,
        ..Limits::default()
    };
    let png = encode_image(&two_pixels(), 2, 1, ImageFormat::Png);
    assert_eq!(
        decode("logo", &png, &small).unwrap_err().kind(),
        ErrorKind::LimitExceeded
    );
}

#[test]
fn fit_modes_follow_preserve_aspect_ratio() {
    let bounds = Rect::new(10.0, 10.0, 110.0, 60.0); // 100 × 50
    // A 10 × 10 image.
    let (t, area) = fit(10, 10, bounds, ImageFit::Fill);
    assert_eq!(t.as_coeffs(), [10.0, 0.0, 0.0, 5.0, 10.0, 10.0]);
    assert_eq!(area, bounds);
    let (t, area) = fit(10, 10, bounds, ImageFit::Contain);
    assert_eq!(t.as_coeffs(), [5.0, 0.0, 0.0, 5.0, 35.0, 10.0]);
    assert_eq!(area, Rect::new(35.0, 10.0, 85.0, 60.0));
    let (t, area) = fit(10, 10, bounds, ImageFit::Cover);
    assert_eq!(t.as_coeffs(), [10.0, 0.0, 0.0, 10.0, 10.0, -15.0]);
    assert_eq!(area, bounds);
}

#[test]
fn halving_averages_and_levels_follow_scale() {
    // 3 × 1: the odd last column is repeated.
    let pixels = [0, 0, 0, 255, 255, 255, 255, 255, 100, 100, 100, 255];
    let png = encode_image(&pixels, 3, 1, ImageFormat::Png);
    let img = Arc::new(decode("x", &png, &Limits::default()).unwrap());
    let half = img.halved(1);
    assert_eq!((half.width(), half.height()), (2, 1));
    assert_eq!(
        half.premultiplied_rgba8(),
        &[128, 128, 128, 255, 100, 100, 100, 255]
    );
    assert!(Arc::ptr_eq(&half, &img.halved(1)), "made once");
    assert_eq!(img.halved(2).width(), 1);
    assert_eq!(img.levels_for_scale(1.0), 0);
    assert_eq!(img.levels_for_scale(0.6), 0);
    assert_eq!(img.levels_for_scale(0.5), 1);
    // Never below one pixel.
    assert_eq!(img.levels_for_scale(0.001), 2);
}

fn document_with(assets: Vec<(&str, AssetType, AssetSource)>) -> Document {
    let assets = assets
        .into_iter()
        .map(|(name, kind, source)| {
            let asset = Asset {
                kind,
                src: "assets/x.png".into(),
                source,
                extra: Default::default(),
            };
            (name.to_owned(), asset)
        })
        .collect();
    Document {
        format: "glyph".into(),
        version: 1,
        title: None,
        assets: Some(assets),
        pages: Vec::new(),
        extra: Default::default(),
    }
}

#[test]
fn cache_decodes_once_and_reports_missing_assets() {
    let png = encode_image(&two_pixels(), 2, 1, ImageFormat::Png);
    let doc = document_with(vec![
        (
            "inline",
            AssetType::Image,
            AssetSource::Data {
                mime: "image/png".into(),
                bytes: png.into(),
            },
        ),
        (
            "gone",
            AssetType::Image,
            AssetSource::Path("assets/gone.png".into()),
        ),
        (
            "font",
            AssetType::Font,
            AssetSource::Path("assets/f.ttf".into()),
        ),
    ]);
    let limits = Limits::default();
    let mut cache = ImageCache::default();
    let mut warnings = Vec::new();
    let mut get = |name: &str, lenient: bool, warnings: &mut Vec<String>| {
        cache.get(&doc, name, &NoAssets, &limits, lenient, warnings)
    };
    let (ImageEntry::Ready(a), ImageEntry::Ready(b)) = (
        get("inline", false, &mut warnings).unwrap(),
        get("inline", false, &mut warnings).unwrap(),
    ) else {
        panic!("expected decoded images")
    };
    assert!(Arc::ptr_eq(&a, &b));

    let err = get("gone", false, &mut warnings).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingAsset);
    assert!(err.to_string().contains("\"gone\""), "{err}");
    assert!(matches!(
        get("gone", true, &mut warnings),
        Ok(ImageEntry::Missing)
    ));
    assert!(matches!(
        get("gone", true, &mut warnings),
        Ok(ImageEntry::Missing)
    ));
    assert_eq!(warnings.len(), 1, "one warning per asset: {warnings:?}");

    let err = get("undeclared", false, &mut warnings).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingAsset);
    let err = get("font", false, &mut warnings).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidAsset);
}
