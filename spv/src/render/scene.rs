//! The backend-neutral scene: one page as a flat list of drawing commands in kurbo and
//! peniko terms, ready for the CPU backend ([`super::cpu`]) or, later, the GPU one.
//!
//! Each command carries its full transform (local space → output pixels). Layers nest:
//! every [`Command::PushLayer`] has its [`Command::PopLayer`].
//!
//! (The example of this module is its test `a_lone_fill_folds_its_opacity_into_its_colour`.)

use std::borrow::Cow;
use std::sync::Arc;

use kurbo::{Affine, BezPath, Rect};
use vello_cpu::peniko::{self, ImageQuality, Mix};

use super::Deadline;
use super::fonts::FontBook;
use super::geometry::Placement;
use super::image::{DecodedImage, ImageCache};
use super::paint::Brush;
use super::text::TextLayout;
use crate::Result;
use crate::glyph::{AssetResolver, Document, Limits};

/// One page, ready to draw.
#[derive(Debug, Clone)]
pub(crate) struct Scene<'a> {
    /// Output width in pixels.
    pub width: u32,
    /// Output height in pixels.
    pub height: u32,
    /// The drawing commands, first to last.
    pub commands: Vec<Command<'a>>,
}

/// A drawing command.
#[derive(Debug, Clone)]
pub(crate) enum Command<'a> {
    /// Start an isolated layer; what follows until the matching [`Command::PopLayer`]
    /// is painted into it, then composited.
    PushLayer(Layer<'a>),
    /// End the innermost layer.
    PopLayer,
    /// Fill a path.
    FillPath(FillPath<'a>),
    /// Stroke a path.
    StrokePath(StrokePath<'a>),
    /// Draw an image.
    DrawImage(DrawImage),
    /// Fill the glyphs of a laid-out text node.
    DrawText(DrawText),
}

/// An isolated layer.
#[derive(Debug, Clone)]
pub(crate) struct Layer<'a> {
    /// How the layer mixes with what is beneath it (composited source-over).
    pub mix: Mix,
    /// The layer's alpha, `0..=1`.
    pub opacity: f32,
    /// What the layer is clipped to (antialiased).
    pub clip: Option<Clip<'a>>,
}

/// A clip shape.
#[derive(Debug, Clone)]
pub(crate) struct Clip<'a> {
    /// The outline, in its local space.
    pub path: Cow<'a, BezPath>,
    /// Local space → output pixels.
    pub transform: Affine,
    /// Which parts of the outline are inside.
    pub fill_rule: peniko::Fill,
}

/// Fill a path with a brush.
#[derive(Debug, Clone)]
pub(crate) struct FillPath<'a> {
    /// The outline, in local space (borrowed from the document where it can be).
    pub path: Cow<'a, BezPath>,
    /// Local space → output pixels.
    pub transform: Affine,
    /// The paint.
    pub brush: Brush,
    /// Brush space → local space (identity for the document's paints).
    pub brush_transform: Affine,
    /// Fill rule.
    pub fill_rule: peniko::Fill,
}

/// Stroke a path with a brush.
#[derive(Debug, Clone)]
pub(crate) struct StrokePath<'a> {
    /// The outline, in local space.
    pub path: Cow<'a, BezPath>,
    /// Local space → output pixels.
    pub transform: Affine,
    /// Width, joins, caps, miter limit and dashes, in local units.
    pub style: kurbo::Stroke,
    /// The paint.
    pub brush: Brush,
    /// Brush space → local space.
    pub brush_transform: Affine,
}

/// Draw (part of) an image.
#[derive(Debug, Clone)]
pub(crate) struct DrawImage {
    /// The pixels (possibly a halved copy of the asset, see `image_transform`).
    pub image: Arc<DecodedImage>,
    /// Local space → output pixels.
    pub transform: Affine,
    /// Image pixels → local space.
    pub image_transform: Affine,
    /// The area to paint, in local space.
    pub rect: Rect,
    /// Sampling quality (never nearest-neighbour).
    pub quality: ImageQuality,
    /// Extra alpha, `0..=1` (a node's opacity folded in).
    pub alpha: f32,
}

/// Fill the glyphs of a laid-out text node.
#[derive(Debug, Clone)]
pub(crate) struct DrawText {
    /// The glyph runs, positioned in the node's local space.
    pub layout: TextLayout,
    /// Local space → output pixels.
    pub transform: Affine,
    /// The paint.
    pub brush: Brush,
    /// Brush space → local space.
    pub brush_transform: Affine,
}

/// What a scene is built with: where assets come from, limits, leniency, the deadline,
/// and the images decoded so far (reused by every page built with the same resources).
pub(crate) struct Resources<'r> {
    pub(crate) resolver: &'r dyn AssetResolver,
    pub(crate) limits: &'r Limits,
    pub(crate) lenient: bool,
    pub(crate) deadline: Deadline,
    pub(crate) images: ImageCache,
    pub(crate) fonts: FontBook,
    pub(crate) warnings: Vec<String>,
}

impl std::fmt::Debug for Resources<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resources")
            .field("lenient", &self.lenient)
            .field("warnings", &self.warnings)
            .finish_non_exhaustive()
    }
}

impl<'r> Resources<'r> {
    /// Resources that resolve assets with `resolver`, strict (a missing asset is an
    /// error), with no deadline.
    pub(crate) fn new(resolver: &'r dyn AssetResolver, limits: &'r Limits) -> Self {
        Resources {
            resolver,
            limits,
            lenient: false,
            deadline: Deadline::none(),
            images: ImageCache::default(),
            fonts: FontBook::bundled(),
            warnings: Vec::new(),
        }
    }

    /// Paints placeholders for missing assets (with a warning) instead of failing.
    pub(crate) fn lenient(mut self, lenient: bool) -> Self {
        self.lenient = lenient;
        self
    }

    /// Stops building with [`crate::ErrorKind::RenderTimeout`] once `deadline` passes.
    pub(crate) fn deadline(mut self, deadline: Deadline) -> Self {
        self.deadline = deadline;
        self
    }

    /// Text uses `fonts` (by default only the bundled `sans`); see
    /// [`FontBook::load`].
    pub(crate) fn fonts(mut self, fonts: FontBook) -> Self {
        self.warnings.extend(fonts.warnings().iter().cloned());
        self.fonts = fonts;
        self
    }

    /// Takes the warnings.
    pub(crate) fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }
}

impl<'a> Scene<'a> {
    /// Builds the scene of page `page` of `document`, placed by `placement`.
    ///
    /// Errors: a page out of range is [`crate::ErrorKind::InvalidRequest`]; missing or
    /// broken assets, and the deadline passing, as their kinds say.
    pub(crate) fn build(
        document: &'a Document,
        page: usize,
        placement: &Placement,
        resources: &mut Resources<'_>,
    ) -> Result<Scene<'a>> {
        let Some(page_data) = document.pages.get(page) else {
            return Err(super::page_out_of_range(page, document.pages.len()));
        };
        let mut builder = super::build::Builder::new(document, page, resources);
        builder.page(page_data, placement)?;
        Ok(Scene {
            width: placement.width,
            height: placement.height,
            commands: builder.commands,
        })
    }
}

#[cfg(test)]
mod example {
    use crate::api::ThumbnailSize;
    use crate::glyph::{self, Limits, NoAssets};
    use crate::render::geometry::Placement;
    use crate::render::scene::{Command, Resources, Scene};

    /// The module's example.
    #[test]
    fn a_lone_fill_folds_its_opacity_into_its_colour() {
        let doc = glyph::parse_json(
            br##"{"format":"glyph","version":1,"pages":[{"width":100,
            "height":50,"layers":[{"type":"rect","x":0,"y":0,"width":10,"height":10,
            "fill":"#ff0000","opacity":0.5}]}]}"##,
            &Limits::default(),
        )
        .unwrap();
        let placement = Placement::new(
            100.0,
            50.0,
            ThumbnailSize::Longest { size: 100 },
            &Limits::default(),
        )
        .unwrap();
        let limits = Limits::default();
        let mut resources = Resources::new(&NoAssets, &limits);
        let scene = Scene::build(&doc, 0, &placement, &mut resources).unwrap();
        // A lone fill folds its opacity into its colour: no layer needed.
        assert_eq!(scene.commands.len(), 1);
        assert!(matches!(scene.commands[0], Command::FillPath(_)));
    }
}
