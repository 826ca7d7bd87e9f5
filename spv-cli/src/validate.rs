//! `spv-cli validate`: every error of each document, with its JSON path.

use std::io::{self, Write};

use spv::glyph::{self, AssetSource, Chain, Limits};

use crate::cli::ValidateArgs;
use crate::inputs;
use crate::output::Outcome;

/// Runs `spv-cli validate`: `<file>: <json path>: <message>` per error, `<file>: warning:
/// <message>` per warning and `<file>: ok` for a document without errors, on stdout.
pub(crate) fn run(args: &ValidateArgs) -> anyhow::Result<Outcome> {
    let inputs = inputs::expand(&args.docs);
    let mut failed = !inputs.problems.is_empty();
    for (arg, problem) in &inputs.problems {
        eprintln!("spv-cli: {arg}: {problem}");
    }
    let limits = Limits::default();
    let mut out = io::stdout().lock();
    for file in &inputs.files {
        let name = file.display();
        let bytes = match std::fs::read(file) {
            Ok(bytes) => bytes,
            Err(err) => {
                eprintln!("spv-cli: {name}: {err}");
                failed = true;
                continue;
            }
        };
        let report = glyph::check(&bytes, &limits);
        let mut errors: Vec<String> = report.errors.iter().map(|e| e.to_string()).collect();
        if errors.is_empty() && !inputs::is_package(&bytes) {
            errors = missing_assets(file, &bytes, &limits);
        }
        for error in &errors {
            writeln!(out, "{name}: {error}")?;
        }
        for warning in &report.warnings {
            writeln!(out, "{name}: warning: {warning}")?;
        }
        if errors.is_empty() {
            writeln!(out, "{name}: ok")?;
        } else {
            failed = true;
        }
    }
    out.flush()?;
    Ok(Outcome::from_failed(failed))
}

/// A JSON document's relative and `sha256:` assets that are not next to it: the format
/// makes a missing asset an error, and only the CLI knows where the document lives.
fn missing_assets(file: &std::path::Path, bytes: &[u8], limits: &Limits) -> Vec<String> {
    let Ok(loaded) = glyph::load(bytes, limits) else {
        return Vec::new();
    };
    let resolver = Chain(inputs::document_assets(file, bytes, None));
    let Some(assets) = &loaded.document.assets else {
        return Vec::new();
    };
    assets
        .iter()
        .filter(|(_, asset)| !matches!(asset.source, AssetSource::Data { .. }))
        .filter_map(|(name, asset)| glyph::load_asset(name, asset, &resolver).err())
        .map(|err| err.to_string())
        .collect()
}
