//! Paints as SVG: colours with separate opacities, gradients as paint servers in `<defs>`.

use super::Writer;
use super::xml::{Tag, num};
use crate::glyph::model::{Color, Paint, Stop, Stroke};

/// `#rrggbb`, the colour without its alpha (written apart as an opacity, which more SVG
/// tools understand than `#rrggbbaa`).
pub(crate) fn rgb(color: Color) -> String {
    format!("#{:02x}{:02x}{:02x}", color.r, color.g, color.b)
}

/// The alpha of `color` as an opacity in `0..=1`.
pub(crate) fn alpha(color: Color) -> f64 {
    f64::from(color.a) / 255.0
}

impl Writer<'_> {
    /// Writes `paint` as the value of `attr` (`fill` or `stroke`), defining a gradient
    /// in `<defs>` when needed; `None` writes `none` (SVG's default fill is black, so the
    /// attribute is always written).
    pub(crate) fn paint_attr(&mut self, tag: &mut Tag<'_>, attr: &str, paint: Option<&Paint>) {
        match paint {
            None => {
                tag.attr(attr, "none");
            }
            Some(Paint::Solid(color)) => {
                tag.attr(attr, &rgb(*color));
                if color.a != 255 {
                    tag.num(&format!("{attr}-opacity"), alpha(*color));
                }
            }
            Some(Paint::Linear(g)) => {
                let id = self.fresh_id("gradient");
                let mut def = Tag::new(&mut self.defs, "linearGradient");
                def.attr("id", &id)
                    .attr("gradientUnits", "userSpaceOnUse")
                    .num("x1", g.from[0])
                    .num("y1", g.from[1])
                    .num("x2", g.to[0])
                    .num("y2", g.to[1])
                    .attr("spreadMethod", "pad")
                    .open();
                stops(&mut self.defs, &g.stops);
                self.defs.push_str("</linearGradient>\n");
                tag.attr(attr, &format!("url(#{id})"));
            }
            Some(Paint::Radial(g)) => {
                let id = self.fresh_id("gradient");
                let mut def = Tag::new(&mut self.defs, "radialGradient");
                def.attr("id", &id)
                    .attr("gradientUnits", "userSpaceOnUse")
                    .num("cx", g.center[0])
                    .num("cy", g.center[1])
                    .num("r", g.radius)
                    .attr("spreadMethod", "pad")
                    .open();
                stops(&mut self.defs, &g.stops);
                self.defs.push_str("</radialGradient>\n");
                tag.attr(attr, &format!("url(#{id})"));
            }
        }
    }

    /// Writes `stroke` and its geometry attributes, or `stroke="none"`.
    pub(crate) fn stroke_attrs(&mut self, tag: &mut Tag<'_>, stroke: Option<&Stroke>) {
        let Some(stroke) = stroke else {
            tag.attr("stroke", "none");
            return;
        };
        self.paint_attr(tag, "stroke", Some(&stroke.paint));
        tag.num("stroke-width", stroke.width());
        tag.attr("stroke-linejoin", stroke.join().as_str());
        tag.attr("stroke-linecap", stroke.cap().as_str());
        tag.num("stroke-miterlimit", stroke.miter_limit());
        // SVG repeats an odd list itself and treats an all-zero list as solid, as the
        // format does; the list is written as given.
        if stroke.dash_pattern().is_some()
            && let Some(dash) = &stroke.dash
        {
            let list: Vec<String> = dash.iter().map(|d| num(*d)).collect();
            tag.attr("stroke-dasharray", &list.join(" "));
        }
    }
}

fn stops(defs: &mut String, stops: &[Stop]) {
    for (offset, color) in stops {
        let mut stop = Tag::new(defs, "stop");
        stop.num("offset", *offset).attr("stop-color", &rgb(*color));
        if color.a != 255 {
            stop.num("stop-opacity", alpha(*color));
        }
        stop.close();
    }
}
