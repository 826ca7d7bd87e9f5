//! Tests of the SVG export: the output is parsed back with usvg (and rendered with resvg)
//! and checked for the elements and pixels the document asks for.

use std::sync::Arc;

use base64::Engine as _;
use resvg::{tiny_skia, usvg};

use super::*;
use crate::ErrorKind;
use crate::glyph::Bytes;
use crate::glyph::{Limits, parse_json};

mod assets;
mod fidelity;
mod text;

static BOOK: &[u8] = include_bytes!("../../../../fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../../../fonts/DejaVuSans-Bold.ttf");

fn load(json: &str) -> Loaded {
    Loaded {
        document: parse_json(json.as_bytes(), &Limits::default())
            .expect("the test document parses"),
        package: None,
        warnings: vec![],
    }
}

/// A one-page document of `w` × `h` with these layers and assets.
fn doc(w: u32, h: u32, assets: &str, layers: &str) -> String {
    format!(
        r#"{{"format":"glyph","version":1,"assets":{{{assets}}},"pages":[{{"width":{w},"height":{h},"layers":[{layers}]}}]}}"#
    )
}

fn export(json: &str) -> String {
    page_to_svg(&load(json), 0, &SvgOptions::default()).expect("the page exports")
}

fn parse(svg: &str) -> usvg::Tree {
    let mut options = usvg::Options::default();
    options.fontdb_mut().load_font_data(BOOK.to_vec());
    options.fontdb_mut().load_font_data(BOLD.to_vec());
    usvg::Tree::from_str(svg, &options).expect("usvg parses the export")
}

fn render(svg: &str) -> tiny_skia::Pixmap {
    let tree = parse(svg);
    let size = tree.size().to_int_size();
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).expect("a pixmap");
    resvg::render(&tree, tiny_skia::Transform::default(), &mut pixmap.as_mut());
    pixmap
}

/// The pixel at (x, y), unpremultiplied, as `[r, g, b, a]`.
fn pixel(pixmap: &tiny_skia::Pixmap, x: u32, y: u32) -> [u8; 4] {
    let c = pixmap.pixel(x, y).expect("inside the pixmap").demultiply();
    [c.red(), c.green(), c.blue(), c.alpha()]
}

fn close(got: [u8; 4], want: [u8; 4]) -> bool {
    got.iter().zip(want).all(|(g, w)| g.abs_diff(w) <= 2)
}

/// Every node of the tree, depth first.
fn all_nodes(group: &usvg::Group, out: &mut Vec<usvg::Node>) {
    for node in group.children() {
        out.push(node.clone());
        if let usvg::Node::Group(g) = node {
            all_nodes(g, out);
        }
    }
}

fn png_data_url(w: u32, h: u32, rgba: [u8; 4]) -> String {
    png_url(w, h, &(0..w * h).flat_map(|_| rgba).collect::<Vec<u8>>())
}

/// A smooth picture (red across, green down), so resampling differences stay small.
fn gradient_png_data_url(w: u32, h: u32) -> String {
    let data: Vec<u8> = (0..h)
        .flat_map(|y| {
            (0..w).flat_map(move |x| [(x * 255 / w) as u8, (y * 255 / h) as u8, 160, 255])
        })
        .collect();
    png_url(w, h, &data)
}

fn png_url(w: u32, h: u32, data: &[u8]) -> String {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, w, h);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("png header");
        writer.write_image_data(data).expect("png data");
    }
    format!(
        "data:image/png;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

#[test]
fn shapes_and_gradients_become_svg_paint() {
    let json = doc(
        200,
        100,
        "",
        r##"{"type":"rect","id":"r","x":0,"y":0,"width":100,"height":50,
             "fill":{"type":"linear","from":[0,0],"to":[100,0],"stops":[[0,"#ff0000"],[1,"#0000ff80"]]}},
            {"type":"ellipse","id":"e","cx":150,"cy":50,"rx":40,"ry":20,
             "fill":{"type":"radial","center":[150,50],"radius":40,"stops":[[0,"#ffffff"],[1,"#000000"]]},
             "stroke":{"paint":"#00ff00","width":3,"join":"round","cap":"square","miterLimit":2,"dash":[6,3,1]}},
            {"type":"path","id":"p","d":"M10 60h30v30h-30z M15 65h20v20h-20z","fillRule":"evenodd","fill":"#123456"}"##,
    );
    let svg = export(&json);
    let tree = parse(&svg);
    assert_eq!(tree.linear_gradients().len(), 1, "{svg}");
    assert_eq!(tree.radial_gradients().len(), 1, "{svg}");
    let linear = &tree.linear_gradients()[0];
    assert_eq!((linear.x1(), linear.x2()), (0.0, 100.0));
    assert_eq!(linear.stops().len(), 2);
    assert!((linear.stops()[1].opacity().get() - 128.0 / 255.0).abs() < 1e-3);

    let Some(usvg::Node::Path(ellipse)) = tree.node_by_id("e") else {
        panic!("no ellipse path in {svg}");
    };
    let stroke = ellipse.stroke().expect("the ellipse is stroked");
    assert_eq!(stroke.width().get(), 3.0);
    assert_eq!(stroke.linejoin(), usvg::LineJoin::Round);
    assert_eq!(stroke.linecap(), usvg::LineCap::Square);
    assert_eq!(stroke.miterlimit().get(), 2.0);
    // SVG repeats the odd list itself, as the format does.
    assert_eq!(
        stroke.dasharray(),
        Some(&[6.0, 3.0, 1.0, 6.0, 3.0, 1.0][..])
    );

    let Some(usvg::Node::Path(path)) = tree.node_by_id("p") else {
        panic!("no path in {svg}");
    };
    let fill = path.fill().expect("the path is filled");
    assert_eq!(fill.rule(), usvg::FillRule::EvenOdd);
    assert_eq!(
        fill.paint(),
        &usvg::Paint::Color(usvg::Color::new_rgb(0x12, 0x34, 0x56))
    );
    assert!(path.stroke().is_none());
}

#[test]
fn groups_carry_clip_opacity_blend_and_transform() {
    let json = doc(
        100,
        100,
        "",
        r##"{"type":"group","id":"g","opacity":0.5,"blend":"multiply","transform":[2,0,0,2,10,0],
             "clip":{"type":"ellipse","cx":10,"cy":10,"rx":10,"ry":10,"transform":[1,0,0,1,5,5]},
             "children":[{"type":"rect","x":0,"y":0,"width":30,"height":30,"fill":"#ff0000"}]}"##,
    );
    let svg = export(&json);
    let tree = parse(&svg);
    let Some(usvg::Node::Group(group)) = tree.node_by_id("g") else {
        panic!("no group in {svg}");
    };
    assert_eq!(group.opacity().get(), 0.5);
    assert_eq!(group.blend_mode(), usvg::BlendMode::Multiply);
    assert_eq!(
        group.transform(),
        tiny_skia::Transform::from_row(2.0, 0.0, 0.0, 2.0, 10.0, 0.0)
    );
    let clip = group.clip_path().expect("the group is clipped");
    // The clip shape keeps its own transform, inside the group's space.
    let mut inside = Vec::new();
    all_nodes(clip.root(), &mut inside);
    let shape = inside
        .iter()
        .find_map(|n| match n {
            usvg::Node::Path(path) => Some(path),
            _ => None,
        })
        .expect("the clip holds a path");
    assert_eq!(
        shape.abs_transform(),
        tiny_skia::Transform::from_translate(5.0, 5.0)
    );
    assert_eq!(tree.clip_paths().len(), 1);
    assert!(svg.contains(r#"<g style="isolation:isolate">"#));

    // Inside the clip circle (page (40, 40)) the half-transparent multiplied red shows;
    // outside it (page (15, 55): group space (2.5, 27.5)) nothing does.
    let pixmap = render(&svg);
    assert!(
        close(pixel(&pixmap, 40, 40), [255, 0, 0, 128]),
        "{:?}",
        pixel(&pixmap, 40, 40)
    );
    assert_eq!(pixel(&pixmap, 15, 55)[3], 0);
}

#[test]
fn invisible_nodes_are_left_out() {
    let json = doc(
        10,
        10,
        "",
        r##"{"type":"rect","id":"hidden","visible":false,"x":0,"y":0,"width":5,"height":5,"fill":"#ff0000"},
            {"type":"group","id":"hidden-group","visible":false,"children":[
              {"type":"rect","id":"hidden-child","x":0,"y":0,"width":5,"height":5,"fill":"#ff0000"}]},
            {"type":"rect","id":"shown","x":0,"y":0,"width":5,"height":5}"##,
    );
    let svg = export(&json);
    assert!(!svg.contains("hidden"), "{svg}");
    // A node without fill is written with fill="none", not SVG's default black.
    assert!(
        svg.contains(r#"id="shown" fill="none""#) || svg.contains(r#"fill="none" stroke="none""#),
        "{svg}"
    );
    let pixmap = render(&svg);
    assert_eq!(
        pixel(&pixmap, 2, 2)[3],
        0,
        "the unfilled rect paints nothing"
    );
}

#[test]
fn background_and_shapes_render_where_expected() {
    let json = r##"{"format":"glyph","version":1,"pages":[{"width":100,"height":50,"background":"#ffffff",
        "layers":[{"type":"rect","x":10,"y":10,"width":30,"height":20,"fill":"#ff0000"},
                  {"type":"ellipse","cx":75,"cy":25,"rx":20,"ry":20,"fill":"#0000ff"},
                  {"type":"rect","x":50,"y":0,"width":50,"height":50,"fill":"#00ff00","opacity":0.5,"blend":"multiply"}]}]}"##;
    let svg = export(json);
    let pixmap = render(&svg);
    assert_eq!((pixmap.width(), pixmap.height()), (100, 50));
    assert_eq!(pixel(&pixmap, 20, 20), [255, 0, 0, 255]);
    assert_eq!(pixel(&pixmap, 2, 2), [255, 255, 255, 255]);
    // Blue multiplied by green is black; at half opacity over blue that is dark blue.
    assert!(
        close(pixel(&pixmap, 75, 25), [0, 0, 128, 255]),
        "{:?}",
        pixel(&pixmap, 75, 25)
    );
    // White multiplied by green is green, half of it over white.
    assert!(
        close(pixel(&pixmap, 52, 2), [128, 255, 128, 255]),
        "{:?}",
        pixel(&pixmap, 52, 2)
    );
}

#[test]
fn rounded_rects_use_rx_or_a_path() {
    let json = doc(
        100,
        100,
        "",
        r##"{"type":"rect","id":"same","x":0,"y":0,"width":40,"height":40,"radius":5,"fill":"#000000"},
            {"type":"rect","id":"each","x":50,"y":0,"width":40,"height":40,"radius":[20,0,0,0],"fill":"#000000"}"##,
    );
    let svg = export(&json);
    assert!(
        svg.contains(r##"<rect id="same" x="0" y="0" width="40" height="40" rx="5""##)
            || svg.contains(r#"rx="5""#),
        "{svg}"
    );
    assert!(
        svg.contains(r#"d="M70 0H90V40H50V20A20 20 0 0 1 70 0Z""#),
        "{svg}"
    );
    let pixmap = render(&svg);
    assert_eq!(
        pixel(&pixmap, 52, 2)[3],
        0,
        "the rounded top-left corner is empty"
    );
    assert_eq!(
        pixel(&pixmap, 88, 2)[3],
        255,
        "the square top-right corner is filled"
    );
}

#[test]
fn generated_ids_are_unique_and_avoid_the_documents() {
    let gradient =
        r##"{"type":"linear","from":[0,0],"to":[1,0],"stops":[[0,"#000000"],[1,"#ffffff"]]}"##;
    let json = doc(
        10,
        10,
        "",
        &format!(
            r##"{{"type":"rect","id":"spv-gradient-1","x":0,"y":0,"width":5,"height":5,"fill":{gradient}}},
                {{"type":"group","id":"spv-clip-2","clip":{{"type":"rect","x":0,"y":0,"width":5,"height":5}},"children":[
                  {{"type":"rect","x":0,"y":0,"width":5,"height":5,"fill":{gradient},"stroke":{{"paint":{gradient}}}}}]}}"##
        ),
    );
    let svg = export(&json);
    let ids: Vec<&str> = svg
        .split(" id=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(ids.len(), 6, "{ids:?}");
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    let tree = parse(&svg);
    assert_eq!(tree.linear_gradients().len(), 3);
    assert_eq!(tree.clip_paths().len(), 1);
}

#[test]
fn output_is_deterministic() {
    let json = doc(
        50,
        50,
        "",
        r##"{"type":"group","clip":{"type":"path","d":"M0 0L50 0L0 50Z","fillRule":"evenodd"},"children":[
              {"type":"rect","x":0,"y":0,"width":50,"height":50,"radius":[1,2,3,4],
               "fill":{"type":"radial","center":[25,25],"radius":25,"stops":[[0,"#ff0000"],[1,"#00ff00"]]}}]},
            {"type":"text","x":0,"y":0,"size":12,"text":"same"}"##,
    );
    let loaded = load(&json);
    let a = page_to_svg(&loaded, 0, &SvgOptions::default()).unwrap();
    let b = page_to_svg(&loaded, 0, &SvgOptions::default()).unwrap();
    assert_eq!(a, b);
    assert!(a.contains(r#"clip-rule="evenodd""#), "{a}");
}

#[test]
fn a_page_that_does_not_exist_is_not_found() {
    let loaded = load(&doc(10, 10, "", ""));
    let err = page_to_svg(&loaded, 1, &SvgOptions::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("page 1"), "{err}");
}

#[test]
fn titles_and_ids_are_escaped() {
    let json = r##"{"format":"glyph","version":1,"title":"a < b & \"c\" 'd'","pages":[{"width":10,"height":10,
        "layers":[{"type":"rect","id":"x\"><script>","x":0,"y":0,"width":5,"height":5,"fill":"#ff0000"}]}]}"##;
    let svg = export(json);
    assert!(
        svg.contains("<title>a &lt; b &amp; &quot;c&quot; &apos;d&apos;</title>"),
        "{svg}"
    );
    assert!(!svg.contains("<script>"));
    let tree = parse(&svg);
    assert!(tree.node_by_id("x\"><script>").is_some());
}
