//! The sample documents of `examples/docs/`: together they use every feature of the
//! format (so the golden and fidelity tests cover every feature), each is small, and the
//! README describes each one.
//!
//! Guards against a sample being edited (or regenerated) so that a feature silently
//! drops out of the golden and fidelity coverage.

use std::collections::BTreeSet;
use std::sync::Arc;

use spv::glyph::{
    self, AssetResolver, AssetSource, AssetType, BlendMode, Document, ImageFit, LineCap, LineJoin,
    NoAssets, Node, NodeKind, Paint, Radius, TextAlign,
};
use spv_tests::{Sample, docs_dir, samples};

/// Everything the samples use, as short names (`blend:multiply`, `path:a`, …).
#[derive(Default)]
struct Features(BTreeSet<String>);

impl Features {
    fn add(&mut self, feature: impl Into<String>) {
        self.0.insert(feature.into());
    }

    fn paint(&mut self, paint: &Paint, role: &str) {
        match paint {
            Paint::Solid(c) if c.a < 255 => self.add("colour:alpha"),
            Paint::Solid(_) => {}
            Paint::Linear(g) => {
                self.add(format!("linear:{role}"));
                if g.stops.len() >= 3 {
                    self.add("linear:3+stops");
                }
                if !g.extra.is_empty() {
                    self.add("unknown:paint");
                }
            }
            Paint::Radial(g) => {
                self.add(format!("radial:{role}"));
                if g.stops.len() >= 3 {
                    self.add("radial:3+stops");
                }
            }
        }
    }

    fn nodes(&mut self, nodes: &[Node], depth: usize) {
        for node in nodes {
            self.node(node, depth);
        }
    }

    fn node(&mut self, node: &Node, depth: usize) {
        self.add(format!("type:{}", node.type_name()));
        let group = matches!(node.kind, NodeKind::Group(_));
        if node.opacity() < 1.0 {
            self.add(if group {
                "opacity:group"
            } else {
                "opacity:shape"
            });
        }
        if let Some(blend) = node.blend {
            self.add(format!("blend:{}", blend.as_str()));
        }
        if !node.visible() {
            self.add("visible:false");
        }
        if !node.extra.is_empty() {
            self.add("unknown:node");
        }
        if let Some([a, b, c, d, _, _]) = node.transform {
            if b != 0.0 && (a * c + b * d).abs() < 1e-3 {
                self.add("transform:rotate");
            }
            if b == 0.0 && c == 0.0 && (a != 1.0 || d != 1.0) {
                self.add("transform:scale");
            }
            if (a * c + b * d).abs() > 1e-3 {
                self.add("transform:skew");
            }
            if a * d - b * c < 0.0 {
                self.add("transform:mirror");
            }
        }
        let role = if matches!(node.kind, NodeKind::Text(_)) {
            "text"
        } else {
            "fill"
        };
        if let Some(fill) = &node.fill {
            self.paint(fill, role);
        }
        if let Some(stroke) = &node.stroke {
            self.paint(&stroke.paint, "stroke");
            self.add(format!("join:{}", stroke.join().as_str()));
            self.add(format!("cap:{}", stroke.cap().as_str()));
            if stroke.miter_limit.is_some() {
                self.add("stroke:miterLimit");
            }
            match stroke.dash.as_ref().map(Vec::len) {
                Some(n) if n % 2 == 1 => self.add("dash:odd"),
                Some(_) => self.add("dash:even"),
                None => {}
            }
            if !stroke.extra.is_empty() {
                self.add("unknown:stroke");
            }
        }
        match &node.kind {
            NodeKind::Rect(r) => match r.radius {
                Some(Radius::Uniform(_)) => self.add("radius:number"),
                Some(Radius::Corners(_)) => self.add("radius:corners"),
                None => {}
            },
            NodeKind::Ellipse(_) => {}
            NodeKind::Path(p) => {
                for ch in p.d.chars().filter(|c| c.is_ascii_alphabetic()) {
                    self.add(format!("path:{ch}"));
                }
                if let Some(rule) = p.fill_rule {
                    self.add(format!("fillRule:{}", rule.as_str()));
                }
            }
            NodeKind::Text(t) => {
                if t.weight() >= 700 {
                    self.add("text:bold");
                }
                if t.text.contains('\n') {
                    self.add("text:newline");
                }
                if t.max_width.is_some() {
                    self.add("text:maxWidth");
                }
                if t.max_width.is_none() && t.align() != TextAlign::Left {
                    self.add("text:align-around-x");
                }
                if t.line_height.is_some() {
                    self.add("text:lineHeight");
                }
                self.add(format!("align:{}", t.align().as_str()));
                self.add(format!("font:{}", t.font()));
            }
            NodeKind::Image(i) => self.add(format!("fit:{}", i.fit.unwrap_or_default().as_str())),
            NodeKind::Group(g) => {
                self.add(format!("group:depth{}", (depth + 1).min(3)));
                if let Some(clip) = &g.clip {
                    self.add(format!("clip:{}", clip.type_name()));
                    self.node(clip, depth + 1);
                }
                self.nodes(&g.children, depth + 1);
            }
        }
    }

    fn document(&mut self, document: &Document, resolver: &dyn AssetResolver) {
        if !document.extra.is_empty() {
            self.add("unknown:document");
        }
        if document.pages.len() > 1 && document.pages.iter().all(|p| p.id.is_some()) {
            self.add("pages:several-with-ids");
        }
        for page in &document.pages {
            match &page.background {
                None => self.add("page:transparent"),
                Some(paint) => self.paint(paint, "background"),
            }
            if !page.extra.is_empty() {
                self.add("unknown:page");
            }
            self.nodes(&page.layers, 0);
        }
        for (name, asset) in document.assets.iter().flatten() {
            let kind = asset.kind.as_str();
            let source = match asset.source {
                AssetSource::Data { .. } => "data",
                AssetSource::Sha256(_) => "sha256",
                AssetSource::Path(_) => "path",
                AssetSource::Unparsed => "unparsed",
            };
            self.add(format!("asset:{kind}:{source}"));
            if !asset.extra.is_empty() {
                self.add("unknown:asset");
            }
            let bytes = glyph::load_asset(name, asset, resolver)
                .unwrap_or_else(|e| panic!("asset {name}: {e}"));
            if asset.kind == AssetType::Image {
                let format = if bytes.starts_with(b"\x89PNG") {
                    "png"
                } else if bytes.starts_with(b"GIF8") {
                    "gif"
                } else {
                    "other"
                };
                self.add(format!("image:{format}"));
            }
        }
    }
}

fn resolver(sample: &Sample) -> Arc<dyn AssetResolver> {
    match &sample.loaded.package {
        Some(package) => package.clone(),
        None => Arc::new(NoAssets),
    }
}

/// Colour notations used in the JSON samples (`#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`).
fn colour_notations(json: &str) -> BTreeSet<usize> {
    json.split("\"#")
        .skip(1)
        .filter_map(|rest| {
            let hex = rest.split('"').next()?;
            hex.bytes()
                .all(|b| b.is_ascii_hexdigit())
                .then_some(hex.len())
        })
        .collect()
}

#[test]
fn the_samples_use_every_feature_of_the_format() {
    let mut features = Features::default();
    let mut notations = BTreeSet::new();
    for sample in samples() {
        features.document(&sample.loaded.document, &*resolver(&sample));
        if sample.loaded.package.is_some() {
            features.add("package");
        } else {
            let path = docs_dir().join(format!("{}.glyph", sample.name));
            let json = std::fs::read_to_string(&path).expect("JSON sample is UTF-8");
            notations.extend(colour_notations(&json));
        }
    }
    let mut expected: Vec<String> = [
        "type:rect",
        "type:ellipse",
        "type:path",
        "type:text",
        "type:image",
        "type:group",
        "radius:number",
        "radius:corners",
        "fillRule:evenodd",
        "fillRule:nonzero",
        "stroke:miterLimit",
        "dash:odd",
        "dash:even",
        "linear:fill",
        "radial:fill",
        "linear:stroke",
        "linear:text",
        "linear:background",
        "radial:background",
        "linear:3+stops",
        "radial:3+stops",
        "colour:alpha",
        "opacity:group",
        "opacity:shape",
        "transform:rotate",
        "transform:scale",
        "transform:skew",
        "transform:mirror",
        "group:depth3",
        "clip:rect",
        "clip:ellipse",
        "clip:path",
        "text:bold",
        "text:newline",
        "text:maxWidth",
        "text:lineHeight",
        "text:align-around-x",
        "font:sans",
        "visible:false",
        "pages:several-with-ids",
        "page:transparent",
        "unknown:document",
        "unknown:page",
        "unknown:node",
        "unknown:paint",
        "unknown:stroke",
        "unknown:asset",
        "package",
        "asset:image:data",
        "asset:image:path",
        "asset:image:sha256",
        "asset:font:path",
        "asset:font:sha256",
        "image:png",
        "image:gif",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    expected.extend("MmLlHhVvCcSsQqTtAaZz".chars().map(|c| format!("path:{c}")));
    expected.extend(
        BlendMode::ALL
            .iter()
            .map(|b| format!("blend:{}", b.as_str())),
    );
    expected.extend(LineJoin::ALL.iter().map(|j| format!("join:{}", j.as_str())));
    expected.extend(LineCap::ALL.iter().map(|c| format!("cap:{}", c.as_str())));
    expected.extend(
        TextAlign::ALL
            .iter()
            .map(|a| format!("align:{}", a.as_str())),
    );
    expected.extend(ImageFit::ALL.iter().map(|f| format!("fit:{}", f.as_str())));
    let missing: Vec<&String> = expected
        .iter()
        .filter(|f| !features.0.contains(*f))
        .collect();
    assert!(missing.is_empty(), "no sample uses: {missing:?}");
    assert_eq!(
        notations,
        BTreeSet::from([3, 4, 6, 8]),
        "the JSON samples use #rgb, #rgba, #rrggbb and #rrggbbaa"
    );
    assert!(
        features
            .0
            .iter()
            .any(|f| f.starts_with("font:") && f != "font:sans"),
        "a text node uses a font asset"
    );
}

#[test]
fn there_are_at_least_twelve_small_samples() {
    let samples = samples();
    assert!(samples.len() >= 12, "{} samples", samples.len());
    for sample in &samples {
        let path = docs_dir().join(format!("{}.glyph", sample.name));
        let len = std::fs::metadata(&path)
            .map(|m| m.len())
            .unwrap_or(u64::MAX);
        assert!(
            len < 200 * 1024,
            "{} is {len} bytes; keep samples under 200 KB",
            path.display()
        );
    }
}

#[test]
fn the_readme_describes_every_sample() {
    let readme =
        std::fs::read_to_string(docs_dir().join("README.md")).expect("examples/docs/README.md");
    for sample in samples() {
        let file = format!("{}.glyph", sample.name);
        assert!(
            readme.contains(&file),
            "examples/docs/README.md does not mention {file}"
        );
    }
}

#[test]
fn the_package_sample_holds_an_image_and_a_font() {
    let sample = samples()
        .into_iter()
        .find(|s| s.name == "brand-kit")
        .expect("examples/docs/brand-kit.glyph");
    let package = sample
        .loaded
        .package
        .as_ref()
        .expect("brand-kit.glyph is a ZIP package");
    let paths: Vec<&str> = package.paths().collect();
    assert!(paths.contains(&"assets/photo.png"), "{paths:?}");
    assert!(paths.contains(&"assets/fonts/Tuffy.ttf"), "{paths:?}");
}
