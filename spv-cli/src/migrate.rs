//! `spv-cli migrate`: applies the server's database migrations and nothing else (the
//! embedded SQLite under the data directory, or `DATABASE_URL`), for deployments that
//! start their servers with `--no-migrate`. Safe while servers start: on PostgreSQL the
//! migrations run under an advisory lock (`spv::store::Db::migrate`).

use anyhow::Context as _;
use spv::config::Config;
use spv::store::{Db, DbOptions};

use crate::cli::StoreArgs;
use crate::output::Outcome;

/// Runs the migrations on a current-thread runtime and prints which it applied.
pub(crate) fn run(store: &StoreArgs) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(store))
}

async fn run_async(store: &StoreArgs) -> anyhow::Result<Outcome> {
    let mut config = Config::load(store.config.as_deref(), std::env::vars())?;
    if let Some(dir) = &store.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(url) = &store.database_url {
        config.database_url = Some(url.clone());
    }
    config.validate()?;
    let db = Db::open_unmigrated(
        config.database_url.as_deref(),
        &config.data_dir,
        DbOptions::default(),
    )
    .await?;
    let applied = db.migrate().await;
    db.close().await;
    let applied = applied?;
    if applied.is_empty() {
        println!("the database is up to date: no migration to apply");
    } else {
        println!("applied {} migration(s):", applied.len());
        for migration in &applied {
            println!("  {} {}", migration.version, migration.description);
        }
    }
    Ok(Outcome::Success)
}
