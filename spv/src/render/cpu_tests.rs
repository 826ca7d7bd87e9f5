use std::borrow::Cow;
use std::time::Duration;

use kurbo::{BezPath, Rect, Shape};
use vello_cpu::peniko::{Color, Fill, Mix};

use super::*;
use crate::render::scene::{FillPath, Layer, StrokePath};

fn fill(path: BezPath, transform: Affine, color: Color) -> Command<'static> {
    Command::FillPath(FillPath {
        path: Cow::Owned(path),
        transform,
        brush: Brush::Solid(color),
        brush_transform: Affine::IDENTITY,
        fill_rule: Fill::NonZero,
    })
}

fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> BezPath {
    Rect::new(x0, y0, x1, y1).to_path(0.1)
}

fn pixel(rgba: &[u8], width: u32, x: u32, y: u32) -> [u8; 4] {
    let i = ((y * width + x) * 4) as usize;
    [rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]]
}

const RED: Color = Color::from_rgba8(255, 0, 0, 255);
const WHITE: Color = Color::from_rgba8(255, 255, 255, 255);

#[test]
fn output_is_unpremultiplied() {
    let scene = Scene {
        width: 4,
        height: 4,
        commands: vec![fill(
            rect(0.0, 0.0, 4.0, 4.0),
            Affine::IDENTITY,
            Color::from_rgba8(200, 100, 50, 128),
        )],
    };
    let rgba = render(&scene, &Deadline::none()).unwrap();
    let [r, g, b, a] = pixel(&rgba, 4, 1, 1);
    assert_eq!(a, 128);
    for (got, want) in [(r, 200), (g, 100), (b, 50)] {
        assert!((i32::from(got) - want).abs() <= 2, "{:?}", [r, g, b, a]);
    }
}

#[test]
fn layers_composite_with_opacity_and_mix() {
    // White, then a layer at 50 % holding a red square: pink.
    let scene = Scene {
        width: 4,
        height: 4,
        commands: vec![
            fill(rect(0.0, 0.0, 4.0, 4.0), Affine::IDENTITY, WHITE),
            Command::PushLayer(Layer {
                mix: Mix::Normal,
                opacity: 0.5,
                clip: None,
            }),
            fill(rect(0.0, 0.0, 4.0, 4.0), Affine::IDENTITY, RED),
            Command::PopLayer,
        ],
    };
    let rgba = render(&scene, &Deadline::none()).unwrap();
    let [r, g, b, a] = pixel(&rgba, 4, 2, 2);
    assert_eq!((r, a), (255, 255));
    assert!(
        (127..=129).contains(&g) && (127..=129).contains(&b),
        "{g} {b}"
    );
}

#[test]
fn rotated_strokes_match_unrotated_ones() {
    // A horizontal line stroked 4 px wide, and the same vertical line rotated by 90°:
    // both must cover the same number of pixels (the rotated one takes our own
    // stroke expansion path).
    let mut line = BezPath::new();
    line.move_to((10.0, 20.0));
    line.line_to((30.0, 20.0));
    let stroke = |transform: Affine| {
        Command::StrokePath(StrokePath {
            path: Cow::Owned(line.clone()),
            transform,
            style: kurbo::Stroke::new(4.0).with_caps(kurbo::Cap::Butt),
            brush: Brush::Solid(RED),
            brush_transform: Affine::IDENTITY,
        })
    };
    let coverage = |command: Command<'static>| {
        let scene = Scene {
            width: 40,
            height: 40,
            commands: vec![command],
        };
        let rgba = render(&scene, &Deadline::none()).unwrap();
        rgba.chunks_exact(4).map(|p| u32::from(p[3])).sum::<u32>()
    };
    let flat = coverage(stroke(Affine::IDENTITY));
    let turned = coverage(stroke(Affine::rotate_about(
        std::f64::consts::FRAC_PI_2,
        kurbo::Point::new(20.0, 20.0),
    )));
    assert!(flat.abs_diff(80 * 255) < 255, "{flat}");
    assert!(flat.abs_diff(turned) < 255, "{flat} vs {turned}");
}

#[test]
fn a_passed_deadline_stops_the_render() {
    let scene = Scene {
        width: 4,
        height: 4,
        commands: vec![fill(rect(0.0, 0.0, 4.0, 4.0), Affine::IDENTITY, RED)],
    };
    let err = render(&scene, &Deadline::after(Duration::ZERO)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RenderTimeout);
    assert!(err.to_string().contains("0 ms"), "{err}");
    // The thread renders fine afterwards.
    let open = Scene {
        width: 4,
        height: 4,
        commands: vec![
            Command::PushLayer(Layer {
                mix: Mix::Multiply,
                opacity: 1.0,
                clip: None,
            }),
            fill(rect(0.0, 0.0, 4.0, 4.0), Affine::IDENTITY, RED),
            Command::PopLayer,
        ],
    };
    assert!(render(&open, &Deadline::none()).is_ok());
}

#[test]
fn oversized_and_empty_outputs_are_refused() {
    let scene = Scene {
        width: 70_000,
        height: 1,
        commands: Vec::new(),
    };
    let err = render(&scene, &Deadline::none()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    let scene = Scene {
        width: 0,
        height: 1,
        commands: Vec::new(),
    };
    assert_eq!(
        render(&scene, &Deadline::none()).unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
}
