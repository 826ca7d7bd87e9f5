//! `spv-cli blobs migrate --from URL --to URL`: every blob of one store copied into
//! another through `spv::store::migrate_blobs`, with a progress bar and a summary.

use std::io::IsTerminal as _;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressStyle};
use spv::config::Config;
use spv::store::{BlobUrl, MigrateEvent, MigrateOptions, migrate_blobs};

use crate::cli::{BlobsArgs, BlobsCommand};
use crate::output::Outcome;

/// Runs a `blobs` subcommand on a multi-threaded runtime (copies run concurrently).
pub(crate) fn run(args: &BlobsArgs) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    match &args.command {
        BlobsCommand::Migrate {
            from,
            to,
            concurrency,
            config,
        } => runtime.block_on(migrate(from, to, *concurrency, config.as_deref())),
    }
}

async fn migrate(
    from: &str,
    to: &str,
    concurrency: usize,
    config: Option<&std::path::Path>,
) -> anyhow::Result<Outcome> {
    let config = Config::load(config, std::env::vars())?;
    let from_url = BlobUrl::parse(from).context("--from")?;
    let to_url = BlobUrl::parse(to).context("--to")?;
    anyhow::ensure!(
        from_url != to_url,
        "--from and --to name the same store ({from_url})"
    );
    let source = from_url.open(&config.aws).context("--from")?;
    let target = to_url.open(&config.aws).context("--to")?;
    source.check().await.context("--from")?;
    target.check().await.context("--to")?;

    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(0);
        if let Ok(style) = ProgressStyle::with_template(
            "{bar:40} {pos}/{len} blobs  {bytes}  {elapsed_precise}  eta {eta}  {msg}",
        ) {
            bar.set_style(style);
        }
        bar
    });
    let on_event = |event: MigrateEvent<'_>| match event {
        MigrateEvent::Listed { blobs, .. } => {
            if let Some(bar) = &bar {
                bar.set_length(blobs);
            }
        }
        MigrateEvent::Copied(..) | MigrateEvent::Skipped(..) => {
            if let Some(bar) = &bar {
                bar.inc(1);
            }
        }
        MigrateEvent::Failed(key, error) => {
            let line = format!("spv-cli: blob {key}: {error}");
            match &bar {
                Some(bar) => {
                    bar.inc(1);
                    bar.println(line);
                }
                None => eprintln!("{line}"),
            }
        }
        _ => {}
    };
    let mut options = MigrateOptions::default();
    options.concurrency = concurrency;
    let report = migrate_blobs(source.as_ref(), target.as_ref(), options, &on_event).await?;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    println!(
        "{} copied ({} bytes), {} skipped (already in {to_url}), {} failed",
        report.copied, report.copied_bytes, report.skipped, report.failed
    );
    Ok(Outcome::from_failed(report.failed > 0))
}
