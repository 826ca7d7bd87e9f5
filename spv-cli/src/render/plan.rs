//! `spv-cli render` arguments checked and turned into settings, and output file names.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context as _, bail};
use spv::api::{ImageFormat, ThumbnailSize};
use spv::glyph::{AssetResolver, DirAssets};

use crate::cli::RenderArgs;

/// Which pages of each document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pages {
    /// One page, counted from 0.
    One(usize),
    /// Every page.
    All,
}

/// What to render, how, and where to write it.
#[derive(Clone)]
pub(crate) struct Plan {
    pub(crate) size: ThumbnailSize,
    pub(crate) format: ImageFormat,
    pub(crate) pages: Pages,
    /// `-o`: the one output file, or `-` for stdout.
    pub(crate) output: Option<PathBuf>,
    pub(crate) out_dir: Option<PathBuf>,
    pub(crate) jobs: usize,
    /// `--assets DIR`.
    pub(crate) assets: Option<Arc<dyn AssetResolver>>,
    pub(crate) lenient: bool,
}

impl Plan {
    /// Checks the arguments that clap cannot check on its own.
    pub(crate) fn new(args: &RenderArgs) -> anyhow::Result<Plan> {
        let size = match (args.width, args.height) {
            (Some(width), Some(height)) => ThumbnailSize::Box {
                width,
                height,
                fit: args.fit.into(),
            },
            _ => ThumbnailSize::Longest {
                size: args.size.unwrap_or(256),
            },
        };
        let format = match (args.format, &args.output) {
            (Some(format), _) => format.into(),
            (None, Some(out)) if out != Path::new("-") => format_of(out)?,
            (None, _) => ImageFormat::Png,
        };
        if let Some(dir) = &args.assets
            && !dir.is_dir()
        {
            bail!("--assets {}: not a directory", dir.display());
        }
        if let Some(dir) = &args.out_dir {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("--out-dir {}: cannot create it", dir.display()))?;
        }
        let jobs = args
            .jobs
            .map_or_else(spv::render::pool::RenderPool::default_size, |j| j as usize);
        Ok(Plan {
            size,
            format,
            pages: if args.all_pages {
                Pages::All
            } else {
                Pages::One(args.page)
            },
            output: args.output.clone(),
            out_dir: args.out_dir.clone(),
            jobs,
            assets: args
                .assets
                .as_ref()
                .map(|dir| Arc::new(DirAssets::new(dir)) as Arc<dyn AssetResolver>),
            lenient: args.lenient,
        })
    }

    /// Where the thumbnail of `page` (`None` unless --all-pages) of `doc` goes:
    /// `-o`, else `<out-dir or the doc's dir>/<stem>[-p<N>].<ext>`.
    pub(crate) fn output_for(&self, doc: &Path, page: Option<usize>) -> PathBuf {
        if let Some(out) = &self.output {
            return out.clone();
        }
        let dir = match (&self.out_dir, doc.parent()) {
            (Some(dir), _) => dir.clone(),
            (None, Some(parent)) => parent.to_path_buf(),
            (None, None) => PathBuf::new(),
        };
        let mut name: OsString = doc.file_stem().unwrap_or(doc.as_os_str()).to_os_string();
        if let Some(page) = page {
            name.push(format!("-p{page}"));
        }
        name.push(".");
        name.push(self.format.extension());
        dir.join(name)
    }

    /// Whether thumbnails go to stdout.
    pub(crate) fn to_stdout(&self) -> bool {
        self.output.as_deref() == Some(Path::new("-"))
    }
}

/// The format named by a file's extension.
fn format_of(path: &Path) -> anyhow::Result<ImageFormat> {
    let Some(ext) = path.extension() else {
        return Ok(ImageFormat::Png);
    };
    match ext.to_str().and_then(ImageFormat::parse) {
        Some(format) => Ok(format),
        None => bail!(
            "-o {}: cannot tell the format from the extension .{}; name the file .png, .webp, \
             .jpg or .jpeg, or give --format",
            path.display(),
            ext.to_string_lossy()
        ),
    }
}

/// The documents whose thumbnails would land on another document's: `(doc, first doc)`.
/// Two `x.glyph` in different folders rendered into one --out-dir collide.
pub(crate) fn collisions(plan: &Plan, docs: &[PathBuf]) -> Vec<(PathBuf, PathBuf)> {
    let mut first: HashMap<PathBuf, &PathBuf> = HashMap::new();
    let mut clashes = Vec::new();
    for doc in docs {
        let out = plan.output_for(doc, None);
        match first.get(&out) {
            Some(earlier) => clashes.push((doc.clone(), (*earlier).clone())),
            None => {
                first.insert(out, doc);
            }
        }
    }
    clashes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{Cli, Command};
    use clap::Parser;

    fn plan(args: &[&str]) -> anyhow::Result<Plan> {
        let cli = Cli::try_parse_from(["spv-cli", "render"].iter().chain(args))?;
        let Command::Render(args) = cli.command else {
            unreachable!("a render command")
        };
        Plan::new(&args)
    }

    #[test]
    fn output_names() {
        let p = plan(&["d.glyph"]).unwrap();
        assert_eq!(
            p.output_for(Path::new("a/b/poster.glyph"), None),
            Path::new("a/b/poster.png")
        );
        let p = plan(&["d.glyph", "--format", "webp", "--all-pages"]).unwrap();
        assert_eq!(
            p.output_for(Path::new("poster.glyph"), Some(2)),
            Path::new("poster-p2.webp")
        );
        let out = tempfile::tempdir().unwrap();
        let out_dir = out.path().to_str().unwrap();
        let p = plan(&["d.glyph", "--out-dir", out_dir, "-f", "jpeg"]).unwrap();
        assert_eq!(
            p.output_for(Path::new("x/poster.glyph"), None),
            out.path().join("poster.jpg")
        );
        let clashes = collisions(
            &p,
            &[PathBuf::from("a/x.glyph"), PathBuf::from("b/x.glyph")],
        );
        assert_eq!(
            clashes,
            vec![(PathBuf::from("b/x.glyph"), PathBuf::from("a/x.glyph"))]
        );
    }

    #[test]
    fn the_format_follows_the_output_extension_unless_given() {
        assert_eq!(
            plan(&["d.glyph", "-o", "t.JPG"]).unwrap().format,
            ImageFormat::Jpeg
        );
        assert_eq!(
            plan(&["d.glyph", "-o", "t.webp"]).unwrap().format,
            ImageFormat::Webp
        );
        assert_eq!(
            plan(&["d.glyph", "-o", "t"]).unwrap().format,
            ImageFormat::Png
        );
        assert_eq!(
            plan(&["d.glyph", "-o", "t.png", "-f", "webp"])
                .unwrap()
                .format,
            ImageFormat::Webp
        );
        let err = plan(&["d.glyph", "-o", "t.gif"]).err().unwrap();
        assert!(
            err.to_string()
                .contains("cannot tell the format from the extension .gif"),
            "{err}"
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(
            plan(&["d.glyph"]).unwrap().size,
            ThumbnailSize::Longest { size: 256 }
        );
        assert_eq!(
            plan(&["d.glyph", "-s", "64"]).unwrap().size,
            ThumbnailSize::Longest { size: 64 }
        );
        assert_eq!(
            plan(&[
                "d.glyph", "--width", "30", "--height", "20", "--fit", "cover"
            ])
            .unwrap()
            .size,
            ThumbnailSize::Box {
                width: 30,
                height: 20,
                fit: spv::glyph::ImageFit::Cover
            }
        );
        assert!(
            plan(&["d.glyph", "--width", "30"]).is_err(),
            "--width needs --height"
        );
        assert!(
            plan(&["d.glyph", "--fit", "cover"]).is_err(),
            "--fit needs --width"
        );
        assert!(plan(&["d.glyph", "-s", "9", "--width", "3", "--height", "3"]).is_err());
        assert!(plan(&["d.glyph", "--page", "1", "--all-pages"]).is_err());
    }
}
