//! JSON → [`Paint`] (colours and gradients) and [`Stroke`].

use serde_json::Value;

use super::convert::{fixed, keyword, number, numbers, object, optional, required, rest};
use super::jpath::{JsonPath, describe, quote};
use super::rules::Checker;
use crate::glyph::{
    Color, LineCap, LineJoin, LinearGradient, LinearTag, Paint, RadialGradient, RadialTag, Stop,
    Stroke,
};

const COLOURS: &str = "#rgb, #rgba, #rrggbb or #rrggbbaa";

/// A paint: a colour string or a gradient object.
pub(super) fn paint(c: &mut Checker<'_>, path: &JsonPath<'_>, value: Value) -> Option<Paint> {
    let shown = match value {
        Value::Object(map) => return gradient(c, path, map),
        Value::String(s) => match Color::parse(&s) {
            Some(colour) => return Some(Paint::Solid(colour)),
            None => quote(&s),
        },
        other => describe(&other),
    };
    c.error(
        path,
        format!("{shown} is not a colour (expected {COLOURS}, or a gradient object)"),
    );
    None
}

fn gradient(
    c: &mut Checker<'_>,
    path: &JsonPath<'_>,
    mut map: super::convert::Obj,
) -> Option<Paint> {
    let m = &mut map;
    let kind = required(
        c,
        m,
        path,
        "type",
        "\"linear\" or \"radial\"",
        |c, p, v| match v {
            Value::String(s) if s == "linear" || s == "radial" => Some(s),
            Value::String(s) => {
                c.error(
                    p,
                    format!(
                        "{} is not a gradient type (expected \"linear\" or \"radial\")",
                        quote(&s)
                    ),
                );
                None
            }
            other => {
                c.error(
                    p,
                    format!(
                        "expected \"linear\" or \"radial\", found {}",
                        describe(&other)
                    ),
                );
                None
            }
        },
    )?;
    const POINT: &str = "a point [x, y]";
    let point = |c: &mut Checker<'_>, p: &JsonPath<'_>, v| fixed::<2>(c, p, v, POINT);
    if kind == "linear" {
        let from = required(c, m, path, "from", POINT, point).unwrap_or_default();
        let to = required(c, m, path, "to", POINT, point).unwrap_or_default();
        let stops = required(c, m, path, "stops", STOPS, stops)?;
        Some(Paint::Linear(LinearGradient {
            kind: LinearTag::Linear,
            from,
            to,
            stops,
            extra: rest(map),
        }))
    } else {
        let center = required(c, m, path, "center", POINT, point).unwrap_or_default();
        let radius = required(c, m, path, "radius", "a number >= 0", number).unwrap_or_default();
        let stops = required(c, m, path, "stops", STOPS, stops)?;
        Some(Paint::Radial(RadialGradient {
            kind: RadialTag::Radial,
            center,
            radius,
            stops,
            extra: rest(map),
        }))
    }
}

const STOPS: &str = "an array of [offset, colour] stops";

fn stops(c: &mut Checker<'_>, path: &JsonPath<'_>, value: Value) -> Option<Vec<Stop>> {
    let Value::Array(items) = value else {
        c.error(
            path,
            format!("expected {STOPS}, found {}", describe(&value)),
        );
        return None;
    };
    let mut out = Vec::with_capacity(items.len());
    // A broken stop is replaced by one at the last good offset, so the rules do not
    // report a second error about the same stop.
    let mut last = 0.0;
    for (i, item) in items.into_iter().enumerate() {
        let at = path.index(i);
        let stop = match item {
            Value::Array(pair) if pair.len() == 2 => {
                let mut pair = pair.into_iter();
                let offset = pair.next().and_then(|v| number(c, &at.index(0), v));
                let colour = pair.next().and_then(|v| colour(c, &at.index(1), v));
                offset.zip(colour)
            }
            other => {
                c.error(
                    &at,
                    format!(
                        "expected a stop [offset, colour], found {}",
                        describe(&other)
                    ),
                );
                None
            }
        };
        let stop = stop.unwrap_or((last, Color::BLACK));
        if (0.0..=1.0).contains(&stop.0) && stop.0 >= last {
            last = stop.0;
        }
        out.push(stop);
    }
    Some(out)
}

fn colour(c: &mut Checker<'_>, path: &JsonPath<'_>, value: Value) -> Option<Color> {
    let colour = value.as_str().and_then(Color::parse);
    if colour.is_none() {
        c.error(
            path,
            format!("{} is not a colour (expected {COLOURS})", describe(&value)),
        );
    }
    colour
}

/// A stroke object.
pub(super) fn stroke(c: &mut Checker<'_>, path: &JsonPath<'_>, value: Value) -> Option<Stroke> {
    let mut map = object(c, path, value, "a stroke object")?;
    let m = &mut map;
    let width = optional(c, m, path, "width", number);
    let join = optional(c, m, path, "join", |c, p, v| {
        keyword(c, p, v, "a line join", LineJoin::parse, LineJoin::expected)
    });
    let cap = optional(c, m, path, "cap", |c, p, v| {
        keyword(c, p, v, "a line cap", LineCap::parse, LineCap::expected)
    });
    let miter_limit = optional(c, m, path, "miterLimit", number);
    let dash = optional(c, m, path, "dash", |c, p, v| {
        numbers(c, p, v, "an array of dash lengths")
    });
    let paint = required(c, m, path, "paint", "a colour or a gradient object", paint)?;
    Some(Stroke {
        paint,
        width,
        join,
        cap,
        miter_limit,
        dash,
        extra: rest(map),
    })
}
