//! Images, backgrounds, output sizes, determinism and errors.

use std::time::Duration;

use base64::Engine;

use super::*;
use crate::glyph::ImageFit;

/// A 20 × 10 PNG: left half red, right half blue, as a `data:` URL.
fn red_blue_png() -> String {
    let mut pixels = Vec::new();
    for _y in 0..10 {
        for x in 0..20 {
            pixels.extend_from_slice(if x < 10 { &RED } else { &BLUE });
        }
    }
    let png = encode::encode(&pixels, 20, 10, ImageFormat::Png).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(png);
    format!("data:image/png;base64,{b64}")
}

fn image_doc(fit: ImageFit, x: f64) -> String {
    format!(
        r##"{{"format":"glyph","version":1,"assets":{{"pic":{{"type":"image","src":"{}"}}}},
        "pages":[{{"width":200,"height":100,"layers":[{{"type":"image","asset":"pic",
        "x":{x},"y":0,"width":100,"height":100,"fit":"{}"}}]}}]}}"##,
        red_blue_png(),
        fit.as_str()
    )
}

fn render200(json: &str) -> RenderedPage {
    try_render(
        json,
        ThumbnailSize::Longest { size: 200 },
        &RenderOptions::default(),
    )
    .unwrap()
}

#[test]
fn image_fit_fill_contain_cover() {
    let fill = render200(&image_doc(ImageFit::Fill, 0.0));
    assert_px(&fill, 10, 5, RED, 2);
    assert_px(&fill, 90, 95, BLUE, 2);
    assert_px(&fill, 110, 50, CLEAR, 0);

    let contain = render200(&image_doc(ImageFit::Contain, 0.0));
    assert_px(&contain, 25, 10, CLEAR, 0);
    assert_px(&contain, 25, 50, RED, 2);
    assert_px(&contain, 75, 50, BLUE, 2);
    assert_px(&contain, 75, 90, CLEAR, 0);

    // Cover in a box at x = 50: the image is 200 wide, centred, cropped to the box.
    let cover = render200(&image_doc(ImageFit::Cover, 50.0));
    assert_px(&cover, 60, 5, RED, 2);
    assert_px(&cover, 140, 95, BLUE, 2);
    assert_px(&cover, 20, 50, CLEAR, 0);
    assert_px(&cover, 170, 50, CLEAR, 0);
}

#[test]
fn images_are_sampled_smoothly() {
    // Across the red/blue edge of a 20 px image stretched to 100 px there are
    // in-between colours (nearest-neighbour would give none).
    let page = render200(&image_doc(ImageFit::Fill, 0.0));
    let blended = (40..60)
        .map(|x| page.pixel(x, 50))
        .filter(|p| p[0] > 20 && p[2] > 20)
        .count();
    assert!(blended >= 2, "{blended}");
}

#[test]
fn missing_image_is_an_error_or_a_placeholder() {
    let json = r##"{"format":"glyph","version":1,"assets":{"pic":{"type":"image","src":"assets/pic.png"}},
        "pages":[{"width":100,"height":100,"layers":[{"type":"image","asset":"pic",
        "x":10,"y":10,"width":80,"height":80}]}]}"##;
    let err = try_render(
        json,
        ThumbnailSize::Longest { size: 100 },
        &RenderOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingAsset);
    assert!(err.to_string().contains("\"pic\""), "{err}");

    let lenient = RenderOptions {
        lenient: true,
        ..RenderOptions::default()
    };
    let page = try_render(json, ThumbnailSize::Longest { size: 100 }, &lenient).unwrap();
    assert_eq!(page.warnings.len(), 1, "{:?}", page.warnings);
    assert!(page.warnings[0].contains("pic"), "{:?}", page.warnings);
    // Grey box, red cross through the middle.
    assert_px(&page, 50, 20, [0xe0, 0xe0, 0xe0, 255], 0);
    assert_px(&page, 50, 50, RED, 0);
    assert_px(&page, 5, 5, CLEAR, 0);
}

#[test]
fn opaque_background_gives_opaque_pixels_everywhere() {
    // 300 × 199 at 100 px: the height 66.33 rounds to 66, the page's last row would be
    // partly covered if the background stopped at the page edge.
    let json = doc(300, 199, r##","background":"#336699""##, "");
    let page = try_render(
        &json,
        ThumbnailSize::Longest { size: 100 },
        &RenderOptions::default(),
    )
    .unwrap();
    assert_eq!((page.width, page.height), (100, 66));
    assert!(
        page.pixels
            .chunks_exact(4)
            .all(|p| p == [0x33, 0x66, 0x99, 255])
    );
    // 300 × 201: 67.0 → 67, the page reaches just past the last row.
    let json = doc(300, 203, r##","background":"#336699""##, "");
    let page = try_render(
        &json,
        ThumbnailSize::Longest { size: 100 },
        &RenderOptions::default(),
    )
    .unwrap();
    assert!(page.pixels.chunks_exact(4).all(|p| p[3] == 255));
    // Cover and fill boxes too; a gradient background as well.
    let json = doc(
        300,
        200,
        r##","background":{"type":"linear","from":[0,0],"to":[300,0],"stops":[[0,"#000000"],[1,"#ffffff"]]}"##,
        "",
    );
    for fit in [ImageFit::Cover, ImageFit::Fill] {
        let size = ThumbnailSize::Box {
            width: 37,
            height: 91,
            fit,
        };
        let page = try_render(&json, size, &RenderOptions::default()).unwrap();
        assert!(page.pixels.chunks_exact(4).all(|p| p[3] == 255), "{fit:?}");
    }
}

#[test]
fn contain_letterboxes_transparently_and_clips_to_the_page() {
    let json = doc(
        200,
        100,
        r##","background":"#ffffff""##,
        r##"{"type":"rect","x":-50,"y":-50,"width":300,"height":200,"fill":"#ff0000"}"##,
    );
    let size = ThumbnailSize::Box {
        width: 100,
        height: 100,
        fit: ImageFit::Contain,
    };
    let page = try_render(&json, size, &RenderOptions::default()).unwrap();
    assert_px(&page, 50, 10, CLEAR, 0);
    assert_px(&page, 50, 90, CLEAR, 0);
    assert_px(&page, 50, 50, RED, 0);
}

#[test]
fn identical_input_gives_identical_bytes() {
    let json = image_doc(ImageFit::Cover, 30.0).replace(
        r#""layers":["#,
        r##""background":"#fafafa","layers":[
        {"type":"ellipse","cx":60,"cy":50,"rx":40,"ry":30,"fill":{"type":"radial","center":[60,50],
         "radius":40,"stops":[[0,"#ff000080"],[1,"#00ff00"]]},"stroke":{"paint":"#000","width":3,
         "dash":[4,2]},"blend":"screen","opacity":0.7,"transform":[0.9,0.2,-0.2,0.9,10,0]},"##,
    );
    let loaded = crate::glyph::load(json.as_bytes(), &Limits::default()).unwrap();
    let size = ThumbnailSize::Longest { size: 128 };
    let options = RenderOptions::default();
    let first = render_thumbnail(&loaded, 0, size, ImageFormat::Png, &options).unwrap();
    for _ in 0..3 {
        let again = render_thumbnail(&loaded, 0, size, ImageFormat::Png, &options).unwrap();
        assert_eq!(first.bytes, again.bytes);
    }
    // And a render on another thread (a fresh context) agrees.
    let other = std::thread::spawn(move || {
        render_thumbnail(
            &loaded,
            0,
            size,
            ImageFormat::Png,
            &RenderOptions::default(),
        )
        .unwrap()
    })
    .join()
    .unwrap();
    assert_eq!(first.bytes, other.bytes);
}

#[test]
fn tiny_timeout_stops_with_render_timeout() {
    let limits = Limits {
        render_timeout: Duration::ZERO,
        ..Limits::default()
    };
    let options = RenderOptions {
        limits: &limits,
        ..RenderOptions::default()
    };
    let json = doc(
        100,
        100,
        "",
        r##"{"type":"rect","x":0,"y":0,"width":10,"height":10,"fill":"#ff0000"}"##,
    );
    let err = try_render(&json, ThumbnailSize::Longest { size: 100 }, &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RenderTimeout);
}

#[test]
fn page_out_of_range_names_page_and_count() {
    let json = doc(100, 100, "", "");
    let loaded = crate::glyph::load(json.as_bytes(), &Limits::default()).unwrap();
    let err = render_page(
        &loaded,
        3,
        ThumbnailSize::default(),
        &RenderOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        err.to_string(),
        "page 3 does not exist; the document has 1 page (0 to 0)"
    );
}

#[test]
fn invisible_and_transparent_nodes_paint_nothing() {
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"rect","x":0,"y":0,"width":100,"height":100,"fill":"#ff0000","visible":false},
            {"type":"group","opacity":0,"children":[
                {"type":"rect","x":0,"y":0,"width":100,"height":100,"fill":"#ff0000"}]},
            {"type":"rect","x":0,"y":0,"width":100,"height":100,"fill":"#ff0000",
             "transform":[0,0,0,0,0,0]}"##,
    ));
    assert!(page.pixels.iter().all(|b| *b == 0));
}

#[test]
fn thumbnails_encode_every_format() {
    let json = doc(100, 50, r##","background":"#ff0000""##, "");
    let loaded = crate::glyph::load(json.as_bytes(), &Limits::default()).unwrap();
    for format in ImageFormat::ALL {
        let size = ThumbnailSize::Longest { size: 40 };
        let thumb = render_thumbnail(&loaded, 0, size, format, &RenderOptions::default()).unwrap();
        assert_eq!((thumb.width, thumb.height, thumb.format), (40, 20, format));
        let back = ::image::load_from_memory(&thumb.bytes)
            .unwrap()
            .into_rgba8();
        assert_eq!(back.dimensions(), (40, 20));
        assert!(near(back.get_pixel(20, 10).0, RED, 3), "{format:?}");
    }
}

#[test]
fn absurd_geometry_is_refused_not_hung() {
    // Regression: a curve reaching 10^15 px flattened into ~10^8 segments and took
    // seconds past any deadline; a long dashed path had millions of dashes.
    let json = doc(
        100,
        100,
        "",
        r##"{"type":"rect","x":0,"y":0,"width":10,"height":10,"fill":"#ff0000"},
            {"type":"path","d":"M0 0 C 1e15 0 1e15 1e15 0 1e15 Z","fill":"#ff0000"}"##,
    );
    let options = RenderOptions::default();
    let size = ThumbnailSize::Longest { size: 100 };
    let err = try_render(&json, size, &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    assert_eq!(err.path(), Some("pages[0].layers[1]"));

    let json = doc(
        100,
        100,
        "",
        r##"{"type":"path","d":"M0 0 H 1e9","stroke":{"paint":"#000","dash":[10,10]}}"##,
    );
    let err = try_render(&json, size, &options).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded, "{err}");

    // Dashes far below a pixel are drawn as a solid line at the pattern's duty cycle.
    let json = doc(
        100,
        100,
        "",
        r##"{"type":"path","d":"M0 50 H 100","stroke":{"paint":"#000000","width":4,"dash":[0.0001,0.0003]}}"##,
    );
    let page = try_render(&json, size, &options).unwrap();
    assert_px(&page, 50, 50, [0, 0, 0, 64], 1);
}

#[test]
fn large_images_are_averaged_when_shrunk() {
    // A 1 px black/white checkerboard of 200 × 200 drawn 23 px wide: every output pixel
    // covers about 75 source pixels, so it must come out mid-grey, not black or white.
    // (At a scale of exactly 1/10 bilinear sampling would fall between two source pixels
    // and average them anyway; 23 makes it land anywhere.)
    let mut pixels = Vec::new();
    for y in 0..200u32 {
        for x in 0..200u32 {
            let v = if (x + y) % 2 == 0 { 0 } else { 255 };
            pixels.extend_from_slice(&[v, v, v, 255]);
        }
    }
    let png = encode::encode(&pixels, 200, 200, ImageFormat::Png).unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(png);
    let json = format!(
        r##"{{"format":"glyph","version":1,"assets":{{"pic":{{"type":"image","src":"data:image/png;base64,{b64}"}}}},
        "pages":[{{"width":100,"height":100,"layers":[{{"type":"image","asset":"pic",
        "x":10,"y":10,"width":23,"height":23}}]}}]}}"##
    );
    let page = render(&json);
    for y in 11..32 {
        for x in 11..32 {
            let [r, _, _, a] = page.pixel(x, y);
            assert_eq!(a, 255);
            assert!(r.abs_diff(128) <= 12, "pixel ({x}, {y}) is {r}");
        }
    }
}

#[test]
fn later_pages_render_too() {
    let json = r##"{"format":"glyph","version":1,"pages":[
        {"width":100,"height":100,"background":"#ff0000","layers":[]},
        {"width":50,"height":100,"background":"#0000ff","layers":[]}]}"##;
    let loaded = crate::glyph::load(json.as_bytes(), &Limits::default()).unwrap();
    let size = ThumbnailSize::Longest { size: 10 };
    let page = render_page(&loaded, 1, size, &RenderOptions::default()).unwrap();
    assert_eq!((page.width, page.height), (5, 10));
    assert_px(&page, 2, 5, BLUE, 0);
}
