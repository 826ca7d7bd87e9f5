//! The remote client against a running server: stores a sample document, renders a
//! thumbnail, enqueues a render job, follows its progress and downloads the outputs.
//!
//! ```sh
//! SPV_ADMIN_PASSWORD='correct horse battery' cargo run -p spv-server &
//! SPV_USERNAME=admin SPV_PASSWORD='correct horse battery' \
//!     cargo run -p spv-examples --example client -- client-out/
//! ```
//!
//! `SPV_SERVER` is the server (default `http://127.0.0.1:3000`); the credential is
//! `SPV_API_KEY`, else `SPV_USERNAME` and `SPV_PASSWORD`; `SPV_DOCUMENT` a `.glyph` file
//! (default `examples/docs/poster.glyph`); the argument the output folder (default
//! `client-out`).

use std::path::PathBuf;

use spv::api::Secret;
use spv_client::Client;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let server = env("SPV_SERVER").unwrap_or_else(|| "http://127.0.0.1:3000".to_owned());
    let builder = Client::builder(&server);
    let builder = match (env("SPV_API_KEY"), env("SPV_USERNAME"), env("SPV_PASSWORD")) {
        (Some(key), _, _) => builder.api_key(Secret::new(key)),
        (None, Some(user), Some(password)) => builder.password(user, Secret::new(password)),
        _ => return Err("set SPV_API_KEY, or SPV_USERNAME and SPV_PASSWORD".into()),
    };
    let client = builder.build()?;
    let document_path = env("SPV_DOCUMENT").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/poster.glyph"),
        PathBuf::from,
    );
    let document = std::fs::read(&document_path)
        .map_err(|e| format!("cannot read {}: {e}", document_path.display()))?;
    let out_dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| "client-out".into()),
    );
    std::fs::create_dir_all(&out_dir)?;

    let tour = spv_examples::tour::tour(&client, &document, &out_dir, |job| {
        eprintln!(
            "job {}: {} {:>3.0}% {}",
            job.id,
            job.state.as_str(),
            job.progress * 100.0,
            job.progress_message.as_deref().unwrap_or("")
        );
    })
    .await?;
    println!(
        "stored {} ({:?}), {} files in {}:",
        tour.document.id,
        tour.document.title,
        tour.files.len(),
        out_dir.display()
    );
    for file in &tour.files {
        println!("  {}", file.display());
    }
    Ok(())
}
