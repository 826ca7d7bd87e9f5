//! Batch rendering through the thumbnails service, the way an embedding app does it.
//!
//! Run with:
//!
//! ```sh
//! cargo run -p spv-examples --example batch -- examples/docs out/
//! ```
//!
//! Every `.glyph` file in the input directory is rendered at 256 px to `OUT/<name>.webp`,
//! all in flight at once: the service's bounded render pool decides how many run in
//! parallel, so the async runtime never blocks.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use spv::api::{ImageFormat, RenderThumbnail, ThumbnailSize};
use spv::glyph::DirAssets;
use spv::thumbnails::{Thumbnails, ThumbnailsConfig};
use tower::ServiceExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        eprintln!("usage: batch INPUT_DIR OUTPUT_DIR");
        std::process::exit(2);
    };
    let (input, output) = (PathBuf::from(input), PathBuf::from(output));
    std::fs::create_dir_all(&output)?;

    // Relative asset paths of JSON documents resolve next to them.
    let config = ThumbnailsConfig::default().with_assets(Arc::new(DirAssets::new(&input)));
    let thumbnails = Thumbnails::new(config);

    let mut tasks = tokio::task::JoinSet::new();
    for path in glyph_files(&input)? {
        let service = thumbnails.clone();
        let out = output
            .join(path.file_stem().unwrap_or_default())
            .with_extension("webp");
        tasks.spawn(async move {
            let bytes = tokio::fs::read(&path).await?;
            let request = RenderThumbnail::new(bytes)
                .size(ThumbnailSize::Longest { size: 256 })
                .format(ImageFormat::Webp);
            let thumbnail = service.oneshot(request).await?;
            tokio::fs::write(&out, &thumbnail.bytes).await?;
            println!(
                "{} -> {} ({}x{})",
                path.display(),
                out.display(),
                thumbnail.width,
                thumbnail.height
            );
            Ok::<_, spv::Error>(())
        });
    }
    let mut failed = 0;
    while let Some(result) = tasks.join_next().await {
        if let Err(err) = result? {
            eprintln!("batch: {err}");
            failed += 1;
        }
    }
    if failed > 0 {
        std::process::exit(1);
    }
    Ok(())
}

fn glyph_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "glyph"))
        .collect();
    files.sort();
    Ok(files)
}
