//! `spv-cli info`: a document's title, pages, node counts and assets.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use serde_json::{Value, json};
use spv::glyph::{
    self, AssetResolver, AssetSource, Chain, DirAssets, Limits, Loaded, Node, NodeKind,
};

use crate::cli::InfoArgs;
use crate::inputs;
use crate::output::Outcome;

/// The node types in the format page's order.
const NODE_TYPES: [&str; 6] = ["rect", "ellipse", "path", "text", "image", "group"];

/// Reads and parses a document: its bytes and the parsed document.
pub(crate) fn load(doc: &Path) -> anyhow::Result<(Vec<u8>, Loaded)> {
    let bytes = std::fs::read(doc).with_context(|| format!("{}", doc.display()))?;
    let loaded =
        glyph::load(&bytes, &Limits::default()).with_context(|| format!("{}", doc.display()))?;
    Ok((bytes, loaded))
}

/// The resolver for a document's assets: package, the document's directory (JSON
/// documents), then `--assets DIR`.
pub(crate) fn resolver(
    doc: &Path,
    bytes: &[u8],
    loaded: &Loaded,
    assets_dir: Option<&Path>,
) -> Chain {
    let extra = assets_dir.map(|dir| Arc::new(DirAssets::new(dir)) as Arc<dyn AssetResolver>);
    let mut chain: Vec<Arc<dyn AssetResolver>> = Vec::new();
    if let Some(package) = &loaded.package {
        chain.push(package.clone());
    }
    chain.extend(inputs::document_assets(doc, bytes, extra));
    Chain(chain)
}

/// Runs `spv-cli info`.
pub(crate) fn run(args: &InfoArgs) -> anyhow::Result<Outcome> {
    let (bytes, loaded) = load(&args.doc)?;
    let resolver = resolver(&args.doc, &bytes, &loaded, args.assets.as_deref());
    let info = describe(&args.doc, &bytes, &loaded, &resolver);
    let mut out = io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &info)?;
        writeln!(out)?;
    } else {
        write_text(&mut out, &info)?;
    }
    out.flush()?;
    Ok(Outcome::Success)
}

/// Everything `info` shows, as JSON (the text form is written from it).
fn describe(doc: &Path, bytes: &[u8], loaded: &Loaded, resolver: &Chain) -> Value {
    let document = &loaded.document;
    let mut total = BTreeMap::new();
    let pages: Vec<Value> = document
        .pages
        .iter()
        .enumerate()
        .map(|(index, page)| {
            let mut counts = BTreeMap::new();
            count_nodes(&page.layers, &mut counts);
            for (kind, n) in &counts {
                *total.entry(*kind).or_insert(0usize) += n;
            }
            json!({
                "index": index,
                "id": page.id,
                "name": page.name,
                "width": number(page.width),
                "height": number(page.height),
                "nodes": counts.values().sum::<usize>(),
            })
        })
        .collect();
    let by_type: serde_json::Map<String, Value> = NODE_TYPES
        .iter()
        .filter_map(|kind| total.get(kind).map(|n| ((*kind).to_string(), json!(n))))
        .collect();
    let assets: Vec<Value> = document
        .assets
        .iter()
        .flatten()
        .map(|(name, asset)| {
            let (src_kind, mime) = match &asset.source {
                AssetSource::Data { mime, .. } => ("data", Some(mime.as_str())),
                AssetSource::Sha256(_) => ("sha256", None),
                AssetSource::Path(_) => ("path", None),
                AssetSource::Unparsed => ("unknown", None),
            };
            let size = glyph::load_asset(name, asset, resolver)
                .map(|b| b.len())
                .ok();
            json!({
                "name": name,
                "type": asset.kind.as_str(),
                "src": src_kind,
                "mime": mime,
                "location": (src_kind != "data").then_some(&asset.src),
                "bytes": size,
            })
        })
        .collect();
    json!({
        "file": doc.display().to_string(),
        "kind": if inputs::is_package(bytes) { "package" } else { "json" },
        "bytes": bytes.len(),
        "title": document.title,
        "pages": pages,
        "nodes": { "total": total.values().sum::<usize>(), "byType": by_type },
        "assets": assets,
        "warnings": loaded.warnings,
    })
}

/// A length as JSON, without a trailing `.0` for whole numbers (`1200`, not `1200.0`).
fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

/// Counts nodes by type, group children and clip shapes included (as the node limit does).
fn count_nodes<'a>(nodes: &'a [Node], counts: &mut BTreeMap<&'a str, usize>) {
    for node in nodes {
        *counts.entry(node.type_name()).or_insert(0) += 1;
        if let NodeKind::Group(group) = &node.kind {
            count_nodes(&group.children, counts);
            if let Some(clip) = &group.clip {
                count_nodes(std::slice::from_ref(clip.as_ref()), counts);
            }
        }
    }
}

fn write_text(out: &mut impl Write, info: &Value) -> io::Result<()> {
    let text = |v: &Value| {
        v.as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| v.to_string())
    };
    let kind = if info["kind"] == "package" {
        "package"
    } else {
        "JSON document"
    };
    writeln!(
        out,
        "file:   {} ({kind}, {} bytes)",
        text(&info["file"]),
        info["bytes"]
    )?;
    if let Some(title) = info["title"].as_str() {
        writeln!(out, "title:  {title}")?;
    }
    let pages = info["pages"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    writeln!(out, "pages:  {}", pages.len())?;
    for page in pages {
        let mut line = format!("  [{}]", page["index"]);
        if let Some(id) = page["id"].as_str() {
            line.push_str(&format!(" id {id:?},"));
        }
        if let Some(name) = page["name"].as_str() {
            line.push_str(&format!(" name {name:?},"));
        }
        let nodes = &page["nodes"];
        let s = if nodes == 1 { "" } else { "s" };
        line.push_str(&format!(
            " {} × {}, {nodes} node{s}",
            page["width"], page["height"]
        ));
        writeln!(out, "{line}")?;
    }
    let by_type: Vec<String> = info["nodes"]["byType"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(kind, n)| format!("{kind} {n}"))
        .collect();
    let nodes = &info["nodes"]["total"];
    if by_type.is_empty() {
        writeln!(out, "nodes:  {nodes}")?;
    } else {
        writeln!(out, "nodes:  {nodes} ({})", by_type.join(", "))?;
    }
    let assets = info["assets"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    writeln!(out, "assets: {}", assets.len())?;
    for asset in assets {
        let src = match (asset["mime"].as_str(), asset["location"].as_str()) {
            (Some(mime), _) => format!("data ({mime})"),
            (None, Some(location)) if asset["src"] == "path" => format!("path {location}"),
            (None, Some(location)) => location.to_string(),
            (None, None) => text(&asset["src"]),
        };
        let size = match asset["bytes"].as_u64() {
            Some(n) => format!("{n} bytes"),
            None => "not found".to_string(),
        };
        writeln!(
            out,
            "  {}: {}, {src}, {size}",
            text(&asset["name"]),
            text(&asset["type"])
        )?;
    }
    for warning in info["warnings"].as_array().into_iter().flatten() {
        writeln!(out, "warning: {}", text(warning))?;
    }
    Ok(())
}
