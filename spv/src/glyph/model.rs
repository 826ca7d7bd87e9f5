//! The typed document model of `.glyph` version 1.
//!
//! Optional fields of the format are `Option`s here, so a document that is parsed and
//! serialised again keeps exactly the fields it had; the accessor methods (`opacity()`,
//! `visible()`, …) apply the format's defaults. Fields this version does not know are kept
//! in each object's `extra` map and written back in place.
//!
//! Documents are built by [`super::Document::from_slice`] (or [`super::parse_json`]), which
//! validates everything; a model built by hand can be checked with [`super::validate`].

use indexmap::IndexMap;
use serde::Serialize;
use serde_json::{Map, Value};

/// Unknown fields of an object, kept for the round trip.
pub type Extra = Map<String, Value>;

/// A whole `.glyph` document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Document {
    /// Always `"glyph"`.
    pub format: String,
    /// Always `1` for documents this version accepts.
    pub version: u32,
    /// The document's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Named assets, in document order.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assets: Option<IndexMap<String, Asset>>,
    /// The pages, at least one.
    pub pages: Vec<Page>,
    /// Unknown top-level fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Document {
    /// The asset called `name`, if the document declares one.
    pub fn asset(&self, name: &str) -> Option<&Asset> {
        self.assets.as_ref()?.get(name)
    }

    /// Serialises the document as JSON, unknown fields included.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).expect("the model always serialises")
    }

    /// Serialises the document as compact JSON bytes.
    pub fn to_vec(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("the model always serialises")
    }
}

/// One page of a document.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page {
    /// Optional id, unique among pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Optional name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Width in CSS pixels, in `(0, 16384]`.
    pub width: f64,
    /// Height in CSS pixels, in `(0, 16384]`.
    pub height: f64,
    /// Background paint; `None` is transparent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background: Option<Paint>,
    /// Nodes painted first to last.
    pub layers: Vec<Node>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A node of the tree: the fields every node has, and its kind.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Node {
    /// Optional id, unique within the document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Optional free-text name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `false` hides the node and its children; default `true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visible: Option<bool>,
    /// Group opacity in `0..=1`; default `1`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opacity: Option<f64>,
    /// Blend mode of the node's layer; default `normal`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blend: Option<BlendMode>,
    /// Local-to-parent affine map `[a, b, c, d, e, f]`; default identity.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transform: Option<[f64; 6]>,
    /// Interior paint.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fill: Option<Paint>,
    /// Outline (shapes only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stroke: Option<Stroke>,
    /// What kind of node this is, with its own fields.
    #[serde(flatten)]
    pub kind: NodeKind,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Node {
    /// Whether the node is painted (default `true`).
    pub fn visible(&self) -> bool {
        self.visible.unwrap_or(true)
    }

    /// The node's opacity (default `1`).
    pub fn opacity(&self) -> f64 {
        self.opacity.unwrap_or(1.0)
    }

    /// The node's blend mode (default `normal`).
    pub fn blend(&self) -> BlendMode {
        self.blend.unwrap_or_default()
    }

    /// The node's transform (default identity).
    pub fn transform(&self) -> [f64; 6] {
        self.transform.unwrap_or([1.0, 0.0, 0.0, 1.0, 0.0, 0.0])
    }

    /// The node's fill; text defaults to opaque black, other nodes to none.
    pub fn effective_fill(&self) -> Option<Paint> {
        match (&self.fill, &self.kind) {
            (Some(paint), _) => Some(paint.clone()),
            (None, NodeKind::Text(_)) => Some(Paint::Solid(Color::BLACK)),
            (None, _) => None,
        }
    }

    /// The `type` string of this node.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Rect(_) => "rect",
            NodeKind::Ellipse(_) => "ellipse",
            NodeKind::Path(_) => "path",
            NodeKind::Text(_) => "text",
            NodeKind::Image(_) => "image",
            NodeKind::Group(_) => "group",
        }
    }
}

/// The kind-specific part of a node, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum NodeKind {
    /// A (rounded) rectangle.
    Rect(RectNode),
    /// An ellipse.
    Ellipse(EllipseNode),
    /// SVG path data.
    Path(PathNode),
    /// A block of text.
    Text(TextNode),
    /// A raster image.
    Image(ImageNode),
    /// A group of nodes, optionally clipped.
    Group(GroupNode),
}

/// `rect` fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RectNode {
    /// Left edge.
    pub x: f64,
    /// Top edge.
    pub y: f64,
    /// Width, `>= 0`.
    pub width: f64,
    /// Height, `>= 0`.
    pub height: f64,
    /// Corner radius; default `0`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius: Option<Radius>,
}

impl RectNode {
    /// Corner radii `[top-left, top-right, bottom-right, bottom-left]`, each clamped to
    /// half the shorter side, as the format says.
    pub fn radii(&self) -> [f64; 4] {
        let max = (self.width.min(self.height) / 2.0).max(0.0);
        let raw = match self.radius {
            None => [0.0; 4],
            Some(Radius::Uniform(r)) => [r; 4],
            Some(Radius::Corners(c)) => c,
        };
        raw.map(|r| r.clamp(0.0, max))
    }
}

/// A rectangle's corner radius: one number or one per corner.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Radius {
    /// The same radius on every corner.
    Uniform(f64),
    /// `[top-left, top-right, bottom-right, bottom-left]`.
    Corners([f64; 4]),
}

/// `ellipse` fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EllipseNode {
    /// Centre x.
    pub cx: f64,
    /// Centre y.
    pub cy: f64,
    /// Horizontal radius, `>= 0`.
    pub rx: f64,
    /// Vertical radius, `>= 0`.
    pub ry: f64,
}

/// `path` fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PathNode {
    /// The SVG path data as written.
    pub d: String,
    /// Fill rule; default `nonzero`.
    #[serde(rename = "fillRule", skip_serializing_if = "Option::is_none")]
    pub fill_rule: Option<FillRule>,
    /// The parsed outline in absolute coordinates (arcs converted to curves), filled in by
    /// the parser.
    #[serde(skip)]
    pub outline: kurbo::BezPath,
}

/// `text` fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TextNode {
    /// Left of the text box.
    pub x: f64,
    /// Top of the text box.
    pub y: f64,
    /// The text; `\n` breaks a line.
    pub text: String,
    /// A font asset name or a family name; default `sans`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub font: Option<String>,
    /// Font size in px, `> 0`.
    pub size: f64,
    /// Weight `100..=900`; default `400`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight: Option<u16>,
    /// Line height as a multiple of `size`; default `1.2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line_height: Option<f64>,
    /// Alignment; default `left`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub align: Option<TextAlign>,
    /// Wrap width, when given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_width: Option<f64>,
}

impl TextNode {
    /// The font name (default `sans`).
    pub fn font(&self) -> &str {
        self.font.as_deref().unwrap_or("sans")
    }
    /// The weight (default 400).
    pub fn weight(&self) -> u16 {
        self.weight.unwrap_or(400)
    }
    /// The line height multiple (default 1.2).
    pub fn line_height(&self) -> f64 {
        self.line_height.unwrap_or(1.2)
    }
    /// The alignment (default left).
    pub fn align(&self) -> TextAlign {
        self.align.unwrap_or_default()
    }
}

/// `image` fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ImageNode {
    /// Name of an `image` asset.
    pub asset: String,
    /// Left of the box.
    pub x: f64,
    /// Top of the box.
    pub y: f64,
    /// Box width.
    pub width: f64,
    /// Box height.
    pub height: f64,
    /// How the image fills the box; default `fill`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fit: Option<ImageFit>,
}

/// `group` fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupNode {
    /// Child nodes, painted first to last.
    pub children: Vec<Node>,
    /// Clip shape (a `rect`, `ellipse` or `path` node; its paint is ignored).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub clip: Option<Box<Node>>,
}

/// An sRGB colour, not premultiplied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Color {
    /// Red.
    pub r: u8,
    /// Green.
    pub g: u8,
    /// Blue.
    pub b: u8,
    /// Alpha (255 = opaque).
    pub a: u8,
}

impl Color {
    /// Opaque black.
    pub const BLACK: Color = Color::rgba(0, 0, 0, 255);
    /// Opaque white.
    pub const WHITE: Color = Color::rgba(255, 255, 255, 255);

    /// A colour from its components.
    pub const fn rgba(r: u8, g: u8, b: u8, a: u8) -> Self {
        Color { r, g, b, a }
    }

    /// Parses `#rgb`, `#rgba`, `#rrggbb` or `#rrggbbaa`.
    ///
    /// ```
    /// use spv::glyph::Color;
    /// assert_eq!(Color::parse("#f80"), Some(Color::rgba(0xff, 0x88, 0x00, 0xff)));
    /// assert_eq!(Color::parse("#11223380"), Some(Color::rgba(0x11, 0x22, 0x33, 0x80)));
    /// assert_eq!(Color::parse("#ggg"), None);
    /// ```
    pub fn parse(s: &str) -> Option<Color> {
        let hex = s.strip_prefix('#')?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let digit = |i: usize| u8::from_str_radix(&hex[i..i + 1], 16).ok();
        let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
        match hex.len() {
            3 | 4 => {
                let n = |i| digit(i).map(|d| d * 17);
                let a = if hex.len() == 4 { n(3)? } else { 255 };
                Some(Color::rgba(n(0)?, n(1)?, n(2)?, a))
            }
            6 | 8 => {
                let a = if hex.len() == 8 { byte(6)? } else { 255 };
                Some(Color::rgba(byte(0)?, byte(2)?, byte(4)?, a))
            }
            _ => None,
        }
    }

    /// `#rrggbb` when opaque, else `#rrggbbaa`.
    pub fn to_hex(self) -> String {
        if self.a == 255 {
            format!("#{:02x}{:02x}{:02x}", self.r, self.g, self.b)
        } else {
            format!("#{:02x}{:02x}{:02x}{:02x}", self.r, self.g, self.b, self.a)
        }
    }
}

impl Serialize for Color {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

/// A paint: a solid colour or a gradient.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Paint {
    /// A colour.
    Solid(Color),
    /// A linear gradient.
    Linear(LinearGradient),
    /// A radial gradient.
    Radial(RadialGradient),
}

/// A gradient stop: offset in `0..=1` and colour.
pub type Stop = (f64, Color);

/// `{ "type": "linear", "from", "to", "stops" }`, in the node's local space.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinearGradient {
    /// Always `"linear"`.
    #[serde(rename = "type")]
    pub kind: LinearTag,
    /// Start point.
    pub from: [f64; 2],
    /// End point.
    pub to: [f64; 2],
    /// Stops with non-decreasing offsets.
    pub stops: Vec<Stop>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// `{ "type": "radial", "center", "radius", "stops" }`, in the node's local space.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RadialGradient {
    /// Always `"radial"`.
    #[serde(rename = "type")]
    pub kind: RadialTag,
    /// Centre.
    pub center: [f64; 2],
    /// Radius, `>= 0`.
    pub radius: f64,
    /// Stops with non-decreasing offsets.
    pub stops: Vec<Stop>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `type` tag of a linear gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename = "linear")]
pub enum LinearTag {
    /// `"linear"`.
    #[default]
    #[serde(rename = "linear")]
    Linear,
}

/// The `type` tag of a radial gradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum RadialTag {
    /// `"radial"`.
    #[default]
    #[serde(rename = "radial")]
    Radial,
}

/// An outline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Stroke {
    /// The stroke's paint.
    pub paint: Paint,
    /// Width; default 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    /// Line join; default miter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub join: Option<LineJoin>,
    /// Line cap; default butt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cap: Option<LineCap>,
    /// Miter limit; default 4.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub miter_limit: Option<f64>,
    /// Dash lengths, as written (an odd-length list is repeated once when used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dash: Option<Vec<f64>>,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Stroke {
    /// Width (default 1).
    pub fn width(&self) -> f64 {
        self.width.unwrap_or(1.0)
    }
    /// Join (default miter).
    pub fn join(&self) -> LineJoin {
        self.join.unwrap_or_default()
    }
    /// Cap (default butt).
    pub fn cap(&self) -> LineCap {
        self.cap.unwrap_or_default()
    }
    /// Miter limit (default 4).
    pub fn miter_limit(&self) -> f64 {
        self.miter_limit.unwrap_or(4.0)
    }
    /// The dash pattern ready to use: an odd-length list repeated once to make it even;
    /// `None` when there is no dashing (absent, empty or all zeros), as in SVG.
    pub fn dash_pattern(&self) -> Option<Vec<f64>> {
        let dash = self.dash.as_ref()?;
        if dash.is_empty() || dash.iter().all(|d| *d == 0.0) {
            return None;
        }
        let mut pattern = dash.clone();
        if pattern.len() % 2 == 1 {
            pattern.extend_from_slice(dash);
        }
        Some(pattern)
    }
}

macro_rules! keyword_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? } default $default:ident) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
        pub enum $name {
            $(
                $(#[$vmeta])*
                #[serde(rename = $text)]
                #[doc = concat!("`", $text, "`")]
                $variant,
            )+
        }

        impl $name {
            /// Every keyword, in the order of the format page.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The keyword as written in documents.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// Parses the keyword.
            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The keywords, for error messages: `"a", "b" or "c"`.
            pub fn expected() -> String {
                let all: Vec<String> = Self::ALL.iter().map(|k| format!("\"{}\"", k.as_str())).collect();
                match all.split_last() {
                    Some((last, rest)) if !rest.is_empty() => format!("{} or {}", rest.join(", "), last),
                    _ => all.join(""),
                }
            }
        }

        impl Default for $name {
            fn default() -> Self { $name::$default }
        }
    };
}

keyword_enum! {
    /// CSS `mix-blend-mode` values.
    BlendMode {
        Normal = "normal", Multiply = "multiply", Screen = "screen", Overlay = "overlay",
        Darken = "darken", Lighten = "lighten", ColorDodge = "color-dodge",
        ColorBurn = "color-burn", HardLight = "hard-light", SoftLight = "soft-light",
        Difference = "difference", Exclusion = "exclusion", Hue = "hue",
        Saturation = "saturation", Color = "color", Luminosity = "luminosity",
    } default Normal
}

keyword_enum! {
    /// Path fill rule.
    FillRule { NonZero = "nonzero", EvenOdd = "evenodd" } default NonZero
}

keyword_enum! {
    /// Stroke line join.
    LineJoin { Miter = "miter", Round = "round", Bevel = "bevel" } default Miter
}

keyword_enum! {
    /// Stroke line cap.
    LineCap { Butt = "butt", Round = "round", Square = "square" } default Butt
}

keyword_enum! {
    /// Text alignment.
    TextAlign { Left = "left", Center = "center", Right = "right" } default Left
}

keyword_enum! {
    /// How an image fills its box (SVG `preserveAspectRatio`).
    ImageFit { Fill = "fill", Contain = "contain", Cover = "cover" } default Fill
}

keyword_enum! {
    /// What an asset holds.
    AssetType { Image = "image", Font = "font" } default Image
}

/// A named asset.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Asset {
    /// `image` or `font`.
    #[serde(rename = "type")]
    pub kind: AssetType,
    /// Where the bytes are, as written.
    pub src: String,
    /// The parsed `src`, filled in by the parser.
    #[serde(skip)]
    pub source: AssetSource,
    /// Unknown fields.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Where an asset's bytes come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AssetSource {
    /// Not parsed yet (a model built by hand).
    #[default]
    Unparsed,
    /// Inline `data:` bytes.
    Data {
        /// The declared media type.
        mime: String,
        /// The decoded bytes.
        bytes: std::sync::Arc<[u8]>,
    },
    /// A content address: the SHA-256 of the bytes.
    Sha256([u8; 32]),
    /// A relative path inside the package or next to the document; never absolute,
    /// never with `..`.
    Path(String),
}
