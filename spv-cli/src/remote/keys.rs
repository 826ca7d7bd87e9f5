//! `spv-cli --server URL keys`: the caller's API keys on the server.

use std::io::Write as _;

use anyhow::bail;
use spv::api::{CreateApiKey, ListApiKeys, Principal, RevokeApiKey, Scopes};

use super::session::Session;
use super::table::{self, Table};
use super::{parse_id, stdout};
use crate::cli::{KeysCommand, StoreArgs};
use crate::output::Outcome;

/// Runs a `keys` subcommand on the server.
pub(crate) async fn run(session: &Session, command: &KeysCommand) -> anyhow::Result<Outcome> {
    match command {
        KeysCommand::Create {
            name,
            scopes,
            expires_in_days,
            json,
            ..
        } => {
            let scopes: Scopes = scopes.join(" ").parse()?;
            let expires_at = expires_in_days.map(|days| {
                time::OffsetDateTime::now_utc() + time::Duration::days(i64::from(days))
            });
            let request = CreateApiKey {
                principal: Principal::default(),
                name: name.clone(),
                scopes,
                expires_at,
            };
            let key = session
                .call(format!("creating the key {name:?}"), request)
                .await?;
            let mut out = stdout();
            if *json {
                table::write_json(&mut out, &key)?;
            } else {
                // The one time a secret is printed: the key exists nowhere else.
                writeln!(out, "{}", key.key.expose())?;
                eprintln!(
                    "spv-cli: created key {} ({:?}, scopes: {}); the key above is shown only \
                     once",
                    key.id, key.name, key.scopes
                );
            }
            out.flush()?;
        }
        KeysCommand::List { json, .. } => {
            let keys = session
                .call(
                    "listing API keys",
                    ListApiKeys {
                        principal: Principal::default(),
                    },
                )
                .await?;
            let mut out = stdout();
            if *json {
                table::write_json(&mut out, &keys)?;
            } else {
                let now = time::OffsetDateTime::now_utc();
                let mut rows = Table::new(&[
                    "ID",
                    "NAME",
                    "PREFIX",
                    "STATE",
                    "LAST USED",
                    "EXPIRES",
                    "SCOPES",
                ]);
                for key in keys {
                    let state = if key.revoked {
                        "revoked"
                    } else if key.expires_at.is_some_and(|at| at <= now) {
                        "expired"
                    } else {
                        "active"
                    };
                    rows.row(vec![
                        key.id.to_string(),
                        key.name.clone(),
                        key.prefix.clone(),
                        state.to_owned(),
                        table::maybe_time(key.last_used_at),
                        table::maybe_time(key.expires_at),
                        key.scopes.to_string(),
                    ]);
                }
                rows.write(&mut out)?;
            }
            out.flush()?;
        }
        KeysCommand::Revoke { id, .. } => {
            let id = parse_id("key", id)?;
            let request = RevokeApiKey {
                principal: Principal::default(),
                id,
            };
            session.call(format!("revoking key {id}"), request).await?;
            eprintln!("spv-cli: revoked key {id}");
        }
    }
    Ok(Outcome::Success)
}

/// Refuses the local-database flags with --server: they would be silently ignored.
pub(crate) fn refuse_local_flags(command: &KeysCommand) -> anyhow::Result<()> {
    let (user, store) = match command {
        KeysCommand::Create { user, store, .. }
        | KeysCommand::List { user, store, .. }
        | KeysCommand::Revoke { user, store, .. } => (user, store),
    };
    let StoreArgs {
        data_dir,
        database_url,
        config,
    } = store;
    let given = [
        ("--user", user.is_some()),
        ("--data-dir", data_dir.is_some()),
        ("--database-url", database_url.is_some()),
        ("--config", config.is_some()),
    ];
    if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
        bail!(
            "{flag} is for keys in a local database; with --server the keys are the caller's \
             own (log in as another user, or use an admin credential, to manage theirs)"
        );
    }
    Ok(())
}
