//! Turns DOC arguments (files, directories, globs) into a list of documents.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use spv::glyph::{AssetResolver, DirAssets};

/// The documents named on the command line, and the arguments that named none.
#[derive(Debug, Default)]
pub(crate) struct Inputs {
    /// Documents, in the order given (directories and globs sorted), without repeats.
    pub(crate) files: Vec<PathBuf>,
    /// `(argument, what was wrong)` for each argument that named nothing usable.
    pub(crate) problems: Vec<(String, String)>,
}

/// Expands each argument: an existing file is taken as is (whatever its extension), a
/// directory gives every `*.glyph` below it, anything else is a glob pattern (for shells
/// that did not expand it).
pub(crate) fn expand(args: &[String]) -> Inputs {
    let mut inputs = Inputs::default();
    let mut seen = std::collections::HashSet::new();
    for arg in args {
        let mut found = Vec::new();
        let path = Path::new(arg);
        if path.is_dir() {
            if let Err(err) = walk(path, &mut found) {
                inputs.problems.push((arg.clone(), err.to_string()));
                continue;
            }
            if found.is_empty() {
                inputs
                    .problems
                    .push((arg.clone(), "no .glyph documents in this directory".into()));
            }
        } else if path.exists() {
            found.push(path.to_path_buf());
        } else if has_glob_chars(arg) {
            match glob::glob(arg) {
                Ok(paths) => {
                    for entry in paths {
                        match entry {
                            Ok(p) if p.is_dir() => {
                                if let Err(err) = walk(&p, &mut found) {
                                    let at = p.display().to_string();
                                    inputs.problems.push((at, err.to_string()));
                                }
                            }
                            Ok(p) => found.push(p),
                            Err(err) => {
                                let at = err.path().display().to_string();
                                inputs.problems.push((at, err.error().to_string()));
                            }
                        }
                    }
                    if found.is_empty() {
                        inputs
                            .problems
                            .push((arg.clone(), "no file matches this pattern".into()));
                    }
                }
                Err(err) => inputs
                    .problems
                    .push((arg.clone(), format!("bad glob pattern: {err}"))),
            }
        } else {
            inputs
                .problems
                .push((arg.clone(), "no such file or directory".into()));
        }
        found.sort();
        for file in found {
            if seen.insert(file.clone()) {
                inputs.files.push(file);
            }
        }
    }
    inputs
}

fn has_glob_chars(arg: &str) -> bool {
    arg.contains(['*', '?', '['])
}

/// Every `*.glyph` file below `dir`; symbolic links to directories are not followed (no
/// loops).
fn walk(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&path, found)?;
        } else if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("glyph"))
            && path.is_file()
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Where a document's assets are looked up besides its package (which the library
/// always tries first): for a JSON document its own directory, then `extra` (`--assets`).
/// A package is self-contained, so only `extra` is added for it.
pub(crate) fn document_assets(
    doc: &Path,
    bytes: &[u8],
    extra: Option<Arc<dyn AssetResolver>>,
) -> Vec<Arc<dyn AssetResolver>> {
    let mut chain: Vec<Arc<dyn AssetResolver>> = Vec::new();
    if !is_package(bytes) {
        let dir = match doc.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        chain.push(Arc::new(DirAssets::new(dir)));
    }
    chain.extend(extra);
    chain
}

/// Whether a `.glyph` file is a ZIP package rather than a JSON document.
pub(crate) fn is_package(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_globs_and_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        for name in ["one.glyph", "a/two.glyph", "a/b/three.GLYPH", "a/notes.txt"] {
            std::fs::write(root.join(name), "{}").unwrap();
        }
        let arg = |p: &str| root.join(p).display().to_string();

        let inputs = expand(&[arg("a")]);
        assert_eq!(
            inputs.files,
            vec![root.join("a/b/three.GLYPH"), root.join("a/two.glyph")]
        );
        assert!(inputs.problems.is_empty());

        let inputs = expand(&[arg("*.glyph"), arg("one.glyph"), arg("a/notes.txt")]);
        assert_eq!(
            inputs.files,
            vec![root.join("one.glyph"), root.join("a/notes.txt")]
        );

        let inputs = expand(&[arg("missing.glyph"), arg("nothing*.glyph")]);
        assert!(inputs.files.is_empty());
        let problems: Vec<&str> = inputs.problems.iter().map(|(_, p)| p.as_str()).collect();
        assert_eq!(
            problems,
            ["no such file or directory", "no file matches this pattern"]
        );
    }
}
