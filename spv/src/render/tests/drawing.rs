//! Shapes, paints, blend modes, clips and strokes.

use super::*;

#[test]
fn red_rect_at_known_pixels() {
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"rect","x":10,"y":20,"width":30,"height":40,"fill":"#ff0000"}"##,
    ));
    assert_eq!((page.width, page.height), (100, 100));
    assert_px(&page, 10, 20, RED, 0);
    assert_px(&page, 39, 59, RED, 0);
    assert_px(&page, 9, 30, CLEAR, 0);
    assert_px(&page, 40, 30, CLEAR, 0);
    assert_px(&page, 20, 60, CLEAR, 0);
    assert_eq!(page.pixels.len(), 100 * 100 * 4);
}

#[test]
fn transform_moves_the_rect() {
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"rect","x":0,"y":0,"width":10,"height":10,"fill":"#ff0000",
            "transform":[1,0,0,1,50,20]}"##,
    ));
    assert_px(&page, 55, 25, RED, 0);
    assert_px(&page, 5, 5, CLEAR, 0);
    // Parent · child: a group scaled 2× holding a translated rect.
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"group","transform":[2,0,0,2,0,0],"children":[
            {"type":"rect","x":0,"y":0,"width":10,"height":10,"fill":"#ff0000",
             "transform":[1,0,0,1,10,10]}]}"##,
    ));
    assert_px(&page, 21, 21, RED, 0);
    assert_px(&page, 39, 39, RED, 0);
    assert_px(&page, 41, 30, CLEAR, 0);
    assert_px(&page, 19, 30, CLEAR, 0);
}

#[test]
fn evenodd_leaves_a_hole_and_nonzero_does_not() {
    // Two squares wound the same way: nested.
    let d = "M10 10 H90 V90 H10 Z M30 30 H70 V70 H30 Z";
    let layer = |rule: &str| {
        doc(
            100,
            100,
            "",
            &format!(r##"{{"type":"path","d":"{d}","fillRule":"{rule}","fill":"#0000ff"}}"##),
        )
    };
    let nonzero = render(&layer("nonzero"));
    let evenodd = render(&layer("evenodd"));
    assert_px(&nonzero, 50, 50, BLUE, 0);
    assert_px(&evenodd, 50, 50, CLEAR, 0);
    assert_px(&nonzero, 20, 20, BLUE, 0);
    assert_px(&evenodd, 20, 20, BLUE, 0);
}

#[test]
fn group_clip_cuts_children() {
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"group",
            "clip":{"type":"ellipse","cx":50,"cy":50,"rx":20,"ry":20},
            "children":[{"type":"rect","x":0,"y":0,"width":100,"height":100,"fill":"#ff0000"}]}"##,
    ));
    assert_px(&page, 50, 50, RED, 0);
    assert_px(&page, 50, 25, CLEAR, 0);
    assert_px(&page, 10, 10, CLEAR, 0);
    // The edge is antialiased: some pixel on the circle is partly covered.
    let edge = (0..100)
        .map(|x| page.pixel(x, 50)[3])
        .filter(|a| *a > 0 && *a < 255)
        .count();
    assert!(edge >= 2, "an antialiased edge on both sides");
    // The clip node's own transform applies too.
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"group",
            "clip":{"type":"rect","x":0,"y":0,"width":10,"height":10,"transform":[1,0,0,1,60,60]},
            "children":[{"type":"rect","x":0,"y":0,"width":100,"height":100,"fill":"#ff0000"}]}"##,
    ));
    assert_px(&page, 65, 65, RED, 0);
    assert_px(&page, 5, 5, CLEAR, 0);
}

#[test]
fn opacity_half_over_white() {
    let page = render(&doc(
        100,
        100,
        r##","background":"#ffffff""##,
        r##"{"type":"rect","x":0,"y":0,"width":50,"height":50,"fill":"#ff0000","opacity":0.5}"##,
    ));
    assert_px(&page, 25, 25, [255, 128, 128, 255], 1);
    assert_px(&page, 75, 75, WHITE, 0);
}

#[test]
fn opacity_isolates_fill_and_stroke_together() {
    // A 50 % node with a red fill and a thick blue stroke: where the stroke covers the
    // fill, only the stroke shows (at 50 %), never red showing through it.
    let page = render(&doc(
        100,
        100,
        r##","background":"#ffffff""##,
        r##"{"type":"rect","x":20,"y":20,"width":60,"height":60,"fill":"#ff0000",
            "stroke":{"paint":"#0000ff","width":10},"opacity":0.5}"##,
    ));
    assert_px(&page, 50, 22, [128, 128, 255, 255], 1);
    assert_px(&page, 50, 50, [255, 128, 128, 255], 1);
    // A group's opacity applies once to overlapping children.
    let page = render(&doc(
        100,
        100,
        r##","background":"#ffffff""##,
        r##"{"type":"group","opacity":0.5,"children":[
            {"type":"rect","x":0,"y":0,"width":60,"height":60,"fill":"#ff0000"},
            {"type":"rect","x":40,"y":40,"width":60,"height":60,"fill":"#0000ff"}]}"##,
    ));
    assert_px(&page, 50, 50, [128, 128, 255, 255], 1);
    assert_px(&page, 10, 10, [255, 128, 128, 255], 1);
}

#[test]
fn multiply_blend_value() {
    let page = render(&doc(
        100,
        100,
        r##","background":"#8080ff""##,
        r##"{"type":"rect","x":0,"y":0,"width":50,"height":100,"fill":"#ff8000","blend":"multiply"}"##,
    ));
    // 0x80 · 0xff / 255, 0x80 · 0x80 / 255, 0xff · 0 / 255.
    assert_px(&page, 25, 50, [128, 64, 0, 255], 1);
    assert_px(&page, 75, 50, [128, 128, 255, 255], 0);
    // Difference of white over the same background inverts it.
    let page = render(&doc(
        100,
        100,
        r##","background":"#8040ff""##,
        r##"{"type":"rect","x":0,"y":0,"width":50,"height":100,"fill":"#ffffff","blend":"difference"}"##,
    ));
    assert_px(&page, 25, 50, [0x7f, 0xbf, 0, 255], 1);
}

#[test]
fn linear_gradient_endpoints_pad_and_hard_stops() {
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"rect","x":0,"y":0,"width":100,"height":50,
            "fill":{"type":"linear","from":[20,0],"to":[80,0],"stops":[[0,"#ff0000"],[1,"#0000ff"]]}},
            {"type":"rect","x":0,"y":50,"width":100,"height":50,
            "fill":{"type":"linear","from":[0,0],"to":[100,0],
            "stops":[[0,"#ff0000"],[0.5,"#ff0000"],[0.5,"#0000ff"],[1,"#0000ff"]]}}"##,
    ));
    // Pad: red before the start, blue after the end; the middle is the sRGB mean.
    assert_px(&page, 5, 25, RED, 2);
    assert_px(&page, 20, 25, RED, 4);
    assert_px(&page, 80, 25, BLUE, 4);
    assert_px(&page, 95, 25, BLUE, 2);
    assert_px(&page, 50, 25, [128, 0, 128, 255], 4);
    // Repeated offsets make a hard edge.
    assert_px(&page, 47, 75, RED, 4);
    assert_px(&page, 52, 75, BLUE, 4);
}

#[test]
fn radial_gradient_centre_and_edge() {
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"rect","x":0,"y":0,"width":100,"height":100,
            "fill":{"type":"radial","center":[50,50],"radius":40,"stops":[[0,"#ffffff"],[1,"#000000"]]}}"##,
    ));
    assert_px(&page, 50, 50, WHITE, 6);
    assert_px(&page, 2, 2, [0, 0, 0, 255], 0);
    assert_px(&page, 50, 70, [128, 128, 128, 255], 6);
}

#[test]
fn gradients_live_in_node_space() {
    // The same gradient on a node moved right by 50: it moves along.
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"rect","x":0,"y":0,"width":50,"height":100,"transform":[1,0,0,1,50,0],
            "fill":{"type":"linear","from":[0,0],"to":[50,0],"stops":[[0,"#ff0000"],[1,"#0000ff"]]}}"##,
    ));
    assert_px(&page, 50, 50, RED, 8);
    assert_px(&page, 99, 50, BLUE, 8);
}

/// Regression (fuzz/corpus/path_data/crash-7816…, found by `cargo fuzz`): a dashed curve
/// at 10⁷¹ panicked inside kurbo's dashing ("attempt to shift left with overflow").
#[test]
fn a_dashed_path_far_from_the_origin_renders_or_is_refused_without_panicking() {
    let d = "M16444444444444444444444444444444444444444444444444444444444444440 305 t3 21";
    let path = |dash: &str| {
        format!(
            r##"{{"type":"path","d":"{d}","fill":"#204080",
                "stroke":{{"paint":"#ff0000","width":2,"dash":[{dash}]}}}}"##
        )
    };
    // As the fuzzer drew it: 32 px, dashes under two pixels, drawn solid.
    let page = try_render(
        &doc(100, 100, "", &path("3,1")),
        ThumbnailSize::Longest { size: 32 },
        &RenderOptions::default(),
    )
    .unwrap();
    assert_eq!((page.width, page.height), (32, 32));
    // Visible dashes: refused, naming the place.
    let err = try_render(
        &doc(100, 100, "", &path("30,10")),
        ThumbnailSize::Longest { size: 100 },
        &RenderOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind(), crate::ErrorKind::LimitExceeded);
    assert_eq!(err.path(), Some("pages[0].layers[0]"));
}

#[test]
fn dashes_leave_gaps_where_expected() {
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"path","d":"M10 50 H90","stroke":{"paint":"#ff0000","width":4,"dash":[10,10]}}"##,
    ));
    for (x, on) in [
        (12, true),
        (18, true),
        (22, false),
        (28, false),
        (32, true),
        (45, false),
    ] {
        let want = if on { RED } else { CLEAR };
        assert_px(&page, x, 50, want, 0);
    }
    // A rect's pattern starts at its top-left corner and runs along the top edge.
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"rect","x":10,"y":10,"width":80,"height":80,
            "stroke":{"paint":"#ff0000","width":2,"dash":[10,10]}}"##,
    ));
    assert_px(&page, 15, 10, RED, 0);
    assert_px(&page, 25, 10, CLEAR, 0);
    assert_px(&page, 35, 10, RED, 0);
    // An ellipse's starts at its rightmost point and goes down (clockwise on screen):
    // one short dash, then a long gap.
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"ellipse","cx":50,"cy":50,"rx":40,"ry":40,
            "stroke":{"paint":"#ff0000","width":4,"dash":[6,300]}}"##,
    ));
    assert_px(&page, 89, 53, RED, 0);
    assert_px(&page, 89, 46, CLEAR, 0);
    // An odd list is repeated: [5] is 5 on, 5 off.
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"path","d":"M0 50 H100","stroke":{"paint":"#ff0000","width":4,"dash":[5]}}"##,
    ));
    assert_px(&page, 2, 50, RED, 0);
    assert_px(&page, 7, 50, CLEAR, 0);
    assert_px(&page, 12, 50, RED, 0);
}

#[test]
fn strokes_join_and_cap_as_asked() {
    let page = render(&doc(
        100,
        100,
        "",
        r##"{"type":"path","d":"M20 20 H80","stroke":{"paint":"#ff0000","width":10,"cap":"square"}},
            {"type":"path","d":"M20 60 H80","stroke":{"paint":"#ff0000","width":10}}"##,
    ));
    // A square cap reaches half the width beyond the end; a butt cap does not.
    assert_px(&page, 83, 20, RED, 0);
    assert_px(&page, 83, 60, CLEAR, 0);
}

#[test]
fn text_is_drawn_where_it_is_laid_out() {
    let json = doc(
        100,
        100,
        r##","background":"#ffffff""##,
        r##"{"type":"text","x":10,"y":10,"text":"Hi","size":40,"fill":"#000000"}"##,
    );
    let page = render(&json);
    let dark = |x0: u32, y0: u32, x1: u32, y1: u32| {
        let mut n = 0;
        for y in y0..y1 {
            for x in x0..x1 {
                n += usize::from(page.pixel(x, y)[0] < 128);
            }
        }
        n
    };
    // "Hi" at 40 px: glyphs between the top of the box and about 50 px down.
    assert!(dark(10, 10, 70, 60) > 200, "{}", dark(10, 10, 70, 60));
    assert_eq!(dark(0, 62, 100, 100), 0);
    assert_eq!(dark(75, 0, 100, 100), 0);
    assert!(page.warnings.is_empty(), "{:?}", page.warnings);
}

#[test]
fn unknown_font_falls_back_with_a_warning() {
    let json = doc(
        100,
        100,
        "",
        r##"{"type":"text","x":10,"y":10,"text":"Hi","size":20,"font":"No Such Font"}"##,
    );
    let page = render(&json);
    assert_eq!(page.warnings.len(), 1, "{:?}", page.warnings);
    assert!(
        page.warnings[0].starts_with("pages[0].layers[0].font: "),
        "{:?}",
        page.warnings
    );
    // Still drawn (in black, the default fill).
    assert!(page.pixels.chunks_exact(4).any(|p| p[3] > 200));
}
