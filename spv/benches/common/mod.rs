//! What the benchmarks share: the sample documents of `examples/docs/`.

use std::path::{Path, PathBuf};

use spv::glyph::{self, Limits, Loaded};

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from(".."))
}

/// The sample documents, sorted by name.
pub(crate) fn samples() -> Vec<(String, Loaded)> {
    let dir = workspace_root().join("examples").join("docs");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("examples/docs exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "glyph"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let bytes = std::fs::read(&path).expect("sample is readable");
            let loaded = glyph::load(&bytes, &Limits::default()).expect("sample parses");
            let name = path
                .file_stem()
                .expect("file name")
                .to_string_lossy()
                .into_owned();
            (name, loaded)
        })
        .collect()
}
