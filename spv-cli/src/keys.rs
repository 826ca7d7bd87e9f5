//! `spv-cli keys`: create, list and revoke API keys in the server's database directly
//! (the embedded SQLite under the data directory, or `DATABASE_URL`), through
//! `spv::auth::Auth`. Whoever can open the database is trusted: this is how an operator
//! makes the first key for a CDN or a CI job without a password grant. Like the server of
//! the same version, it applies pending migrations when it opens the database.
//!
//! With `--server`, `keys` manages the caller's keys on the server instead (`remote::keys`).

use std::io::Write as _;

use anyhow::{Context as _, bail};
use spv::api::{CreateApiKey, ListApiKeys, RevokeApiKey, Scopes};
use spv::auth::{Auth, AuthConfig, JwtSecret};
use spv::config::Config;
use tower::ServiceExt as _;

use crate::cli::{KeysArgs, KeysCommand, StoreArgs};
use crate::output::Outcome;

/// The user of `--user` when it is not given.
const DEFAULT_USER: &str = "admin";

/// Runs a `keys` subcommand on a current-thread runtime.
pub(crate) fn run(args: &KeysArgs) -> anyhow::Result<Outcome> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run_async(args))
}

async fn run_async(args: &KeysArgs) -> anyhow::Result<Outcome> {
    let store = match &args.command {
        KeysCommand::Create { store, .. }
        | KeysCommand::List { store, .. }
        | KeysCommand::Revoke { store, .. } => store,
    };
    let config = config(store)?;
    let db = spv::store::Db::open(config.database_url.as_deref(), &config.data_dir).await?;
    // Keys need no token signing: an ephemeral secret, so that the CLI neither reads nor
    // creates the server's `jwt_secret` file.
    let ephemeral = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let secret = JwtSecret::from_config(&ephemeral)?;
    let auth = Auth::new(
        db.clone(),
        &secret,
        AuthConfig {
            issuer: config.jwt_issuer.clone(),
            ..AuthConfig::default()
        },
    );
    let result = command(&auth, &args.command).await;
    db.close().await;
    result
}

async fn command(auth: &Auth, command: &KeysCommand) -> anyhow::Result<Outcome> {
    let mut stdout = std::io::stdout().lock();
    match command {
        KeysCommand::Create {
            user,
            name,
            scopes,
            expires_in_days,
            json,
            ..
        } => {
            let user = user.as_deref().unwrap_or(DEFAULT_USER);
            let principal = auth.principal_for_user(user).await?;
            let scopes: Scopes = scopes.join(" ").parse()?;
            let expires_at = expires_in_days.map(|days| {
                time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(days))
            });
            let key = auth
                .clone()
                .oneshot(CreateApiKey {
                    principal,
                    name: name.clone(),
                    scopes,
                    expires_at,
                })
                .await?;
            if *json {
                serde_json::to_writer_pretty(&mut stdout, &key)?;
                writeln!(stdout)?;
            } else {
                writeln!(stdout, "{}", key.key.expose())?;
                eprintln!(
                    "spv-cli: created key {} ({:?}, user {user:?}, scopes: {}); the key above \
                     is shown only once",
                    key.id, key.name, key.scopes
                );
            }
        }
        KeysCommand::List { user, json, .. } => {
            let user = user.as_deref().unwrap_or(DEFAULT_USER);
            let principal = auth.principal_for_user(user).await?;
            let keys = auth.clone().oneshot(ListApiKeys { principal }).await?;
            if *json {
                serde_json::to_writer_pretty(&mut stdout, &keys)?;
                writeln!(stdout)?;
            } else {
                writeln!(stdout, "ID\tNAME\tPREFIX\tSTATE\tSCOPES")?;
                let now = time::OffsetDateTime::now_utc();
                for key in keys {
                    let state = if key.revoked {
                        "revoked"
                    } else if key.expires_at.is_some_and(|at| at <= now) {
                        "expired"
                    } else {
                        "active"
                    };
                    writeln!(
                        stdout,
                        "{}\t{}\t{}\t{state}\t{}",
                        key.id, key.name, key.prefix, key.scopes
                    )?;
                }
            }
        }
        KeysCommand::Revoke { user, id, .. } => {
            let user = user.as_deref().unwrap_or(DEFAULT_USER);
            let principal = auth.principal_for_user(user).await?;
            let id = uuid::Uuid::parse_str(id)
                .with_context(|| format!("{id:?} is not a key id (expected a UUID)"))?;
            auth.clone().oneshot(RevokeApiKey { principal, id }).await?;
            eprintln!("spv-cli: revoked key {id}");
        }
    }
    stdout.flush()?;
    Ok(Outcome::Success)
}

/// The server's configuration (TOML file, environment, then flags), refusing to create
/// an empty embedded database where none exists: that would only hide a wrong directory.
fn config(store: &StoreArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(store.config.as_deref(), std::env::vars())?;
    if let Some(dir) = &store.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(url) = &store.database_url {
        config.database_url = Some(url.clone());
    }
    config.validate()?;
    let sqlite = config.data_dir.join(spv::store::SQLITE_FILE);
    if config.database_url.is_none() && !sqlite.exists() {
        bail!(
            "no database at {}: start spv-server once with this data directory, or pass \
             --data-dir or --database-url",
            sqlite.display()
        );
    }
    Ok(config)
}
