//! `spv-cli assets`: upload (streamed), download (streamed), list and delete assets.

use std::io::Write as _;

use spv::ErrorKind;
use spv::api::{Asset, DeleteAsset, ListAssets, Principal, UploadAsset};

use super::files::{self, Destination};
use super::session::Session;
use super::table::{self, Table};
use super::{parse_id, stdout};
use crate::cli::AssetsCommand;
use crate::output::Outcome;

/// Runs an `assets` subcommand.
pub(crate) async fn run(session: &Session, command: &AssetsCommand) -> anyhow::Result<Outcome> {
    match command {
        AssetsCommand::Upload { files, json } => upload(session, files, json.json).await,
        AssetsCommand::Get { id, output } => {
            let id = parse_id("asset", id)?;
            let mut dest = Destination::create(output).await?;
            let downloaded = session.client().download_asset(id, &mut dest).await;
            match downloaded {
                Ok(_) => dest.commit().await?,
                Err(err) => {
                    dest.discard().await;
                    return Err(session.explain(format!("downloading asset {id}"), err));
                }
            }
            Ok(Outcome::Success)
        }
        AssetsCommand::List {
            page,
            per_page,
            json,
        } => {
            let request = ListAssets {
                principal: Principal::default(),
                page: *page,
                per_page: *per_page,
            };
            let list = session.call("listing assets", request).await?;
            let mut out = stdout();
            if json.json {
                table::write_json(&mut out, &list)?;
            } else {
                asset_table(&list.items, None).write(&mut out)?;
                if list.metainfo.has_next {
                    eprintln!(
                        "spv-cli: more on --page {}",
                        list.metainfo.current_page.saturating_add(1)
                    );
                }
            }
            out.flush()?;
            Ok(Outcome::Success)
        }
        AssetsCommand::Delete { id } => {
            let id = parse_id("asset", id)?;
            let request = DeleteAsset {
                principal: Principal::default(),
                id,
            };
            session
                .call(format!("deleting asset {id}"), request)
                .await?;
            eprintln!("spv-cli: deleted asset {id}");
            Ok(Outcome::Success)
        }
    }
}

/// Uploads each file in turn, streamed. A file the server refuses is reported and the
/// others still go; a refused credential or an unreachable server stops the batch.
async fn upload(
    session: &Session,
    paths: &[std::path::PathBuf],
    json: bool,
) -> anyhow::Result<Outcome> {
    let mut uploaded = Vec::new();
    let mut created = Vec::new();
    let mut failed = false;
    for path in paths {
        let body = match files::open_upload(path).await {
            Ok(body) => body,
            Err(err) => {
                eprintln!("spv-cli: {err:#}");
                failed = true;
                continue;
            }
        };
        let bar = body.bar();
        let request = UploadAsset {
            principal: Principal::default(),
            filename: path
                .file_name()
                .map(|name| name.to_string_lossy().into_owned()),
            body: Box::new(body),
        };
        let answer = session.client_call(request).await;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        match answer {
            Ok(answer) => {
                created.push(answer.created);
                uploaded.push(answer.asset);
            }
            Err(err) => {
                let fatal = matches!(
                    err.kind(),
                    ErrorKind::Unauthenticated | ErrorKind::Forbidden | ErrorKind::Overloaded
                );
                let err = session.explain(format!("uploading {}", path.display()), err);
                if fatal {
                    return Err(err);
                }
                eprintln!("spv-cli: {err:#}");
                failed = true;
            }
        }
    }
    let mut out = stdout();
    if json {
        table::write_json(&mut out, &uploaded)?;
    } else {
        asset_table(&uploaded, Some(&created)).write(&mut out)?;
    }
    out.flush()?;
    Ok(Outcome::from_failed(failed))
}

/// The assets as a table; `created` adds a column saying which uploads were new.
fn asset_table(assets: &[Asset], created: Option<&[bool]>) -> Table {
    let mut rows = if created.is_some() {
        Table::new(&["ID", "SHA256", "TYPE", "SIZE", "NEW", "NAME"])
    } else {
        Table::new(&["ID", "SHA256", "TYPE", "SIZE", "CREATED", "NAME"])
    };
    for (i, asset) in assets.iter().enumerate() {
        let fourth = match created {
            Some(created) => match created.get(i) {
                Some(true) => "yes".to_owned(),
                _ => "no (had it)".to_owned(),
            },
            None => table::time(asset.created_at),
        };
        rows.row(vec![
            asset.id.to_string(),
            format!("sha256:{}", asset.sha256),
            asset.mime.clone(),
            table::bytes(asset.byte_size),
            fourth,
            asset.filename.clone().unwrap_or_default(),
        ]);
    }
    rows
}
