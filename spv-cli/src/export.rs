//! `spv-cli export`: a page of a document as SVG.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;
use spv::glyph::{AssetResolver, Chain, DirAssets};
use spv::render::svg::{SvgOptions, export_page};

use crate::cli::{ExportArgs, ExportFormat};
use crate::output::{Outcome, write_output};
use crate::{info, inputs};

/// Runs `spv-cli export`: writes `<stem>.svg` next to the document, or `-o OUT` (`-` for
/// stdout).
pub(crate) fn run(args: &ExportArgs) -> anyhow::Result<Outcome> {
    let ExportFormat::Svg = args.format;
    let (bytes, loaded) = info::load(&args.doc)?;
    let extra = args
        .assets
        .as_deref()
        .map(|dir| Arc::new(DirAssets::new(dir)) as Arc<dyn AssetResolver>);
    // The package, when there is one, is tried first by the exporter itself.
    let resolver = Chain(inputs::document_assets(&args.doc, &bytes, extra));
    let options = SvgOptions::new(Arc::new(resolver)).lenient(args.lenient);
    let page = export_page(&loaded, args.page, &options)
        .with_context(|| format!("{}", args.doc.display()))?;
    for warning in &page.warnings {
        eprintln!("spv-cli: {}: warning: {warning}", args.doc.display());
    }
    let out = match &args.output {
        Some(out) => out.clone(),
        None => {
            let mut out = PathBuf::from(&args.doc);
            out.set_extension("svg");
            out
        }
    };
    write_output(&out, page.svg.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Outcome::Success)
}
