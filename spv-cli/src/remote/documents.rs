//! `spv-cli documents` and `spv-cli thumbnail`: stored documents and their thumbnails.

use std::io::Write as _;

use anyhow::Context as _;
use spv::ErrorKind;
use spv::api::{
    CreateDocument, DeleteDocument, Document, DocumentQuery, GetContent, GetDocument,
    GetDocumentThumbnail, ImageFormat, ListDocuments, PatchDocument, Principal, PutContent,
    ThumbnailSize,
};
use tokio::io::AsyncWriteExt as _;

use super::files::{self, Destination};
use super::session::Session;
use super::table::{self, Table};
use super::{parse_id, stdout};
use crate::cli::{DocumentsCommand, ThumbnailArgs};
use crate::output::Outcome;

/// Runs a `documents` subcommand.
pub(crate) async fn run(session: &Session, command: &DocumentsCommand) -> anyhow::Result<Outcome> {
    match command {
        DocumentsCommand::List {
            tag,
            title,
            page,
            per_page,
            json,
        } => {
            let query = DocumentQuery {
                page: *page,
                per_page: *per_page,
                title: title.clone(),
                tag: tag.clone(),
            };
            let list = session
                .call(
                    "listing documents",
                    ListDocuments {
                        principal: None,
                        query,
                    },
                )
                .await?;
            let mut out = stdout();
            if json.json {
                table::write_json(&mut out, &list)?;
            } else {
                let mut rows = Table::new(&[
                    "ID", "TITLE", "VERSION", "PAGES", "PUBLIC", "UPDATED", "TAGS",
                ]);
                for doc in &list.items {
                    rows.row(vec![
                        doc.id.to_string(),
                        doc.title.clone(),
                        doc.version.to_string(),
                        doc.pages.len().to_string(),
                        if doc.public { "yes" } else { "no" }.to_owned(),
                        table::time(doc.updated_at),
                        doc.tags.join(","),
                    ]);
                }
                rows.write(&mut out)?;
                if list.metainfo.has_next {
                    eprintln!(
                        "spv-cli: more on --page {}",
                        list.metainfo.current_page.saturating_add(1)
                    );
                }
            }
            out.flush()?;
        }
        DocumentsCommand::Get {
            id,
            content,
            output,
            json,
        } => {
            let id = parse_id("document", id)?;
            if *content || output.is_some() {
                let what = format!("reading the content of document {id}");
                let got = session
                    .call(
                        &what,
                        GetContent {
                            principal: None,
                            id,
                        },
                    )
                    .await?;
                let path = output.as_deref().unwrap_or(std::path::Path::new("-"));
                let mut dest = Destination::create(path).await?;
                if let Err(err) = dest.write_all(&got.bytes).await {
                    dest.discard().await;
                    return Err(err).with_context(|| format!("writing {}", path.display()));
                }
                dest.commit().await?;
            } else {
                let doc = session
                    .call(
                        format!("reading document {id}"),
                        GetDocument {
                            principal: None,
                            id,
                        },
                    )
                    .await?;
                print_document(&doc, json.json)?;
            }
        }
        DocumentsCommand::Put {
            file,
            id,
            if_match,
            title,
            tags,
            public,
            json,
        } => {
            let content = files::read_document(file).await?;
            let doc = match id {
                None => {
                    let create = CreateDocument {
                        principal: Principal::default(),
                        content,
                        title: title.clone(),
                        tags: tags.clone(),
                        public: *public,
                    };
                    let what = format!("uploading {}", file.display());
                    let doc = session.call(what, create).await?;
                    eprintln!("spv-cli: created document {}", doc.id);
                    doc
                }
                Some(id) => {
                    let id = parse_id("document", id)?;
                    let put = PutContent {
                        principal: Principal::default(),
                        id,
                        content,
                        if_match: if_match.clone(),
                    };
                    let what = format!("replacing the content of document {id}");
                    let mut doc = session.call(what, put).await?;
                    let mut patch = serde_json::Map::new();
                    if let Some(title) = title {
                        patch.insert("title".into(), title.clone().into());
                    }
                    if !tags.is_empty() {
                        patch.insert("tags".into(), tags.clone().into());
                    }
                    if *public {
                        patch.insert("public".into(), true.into());
                    }
                    if !patch.is_empty() {
                        let what = format!("changing the metadata of document {id}");
                        let request = PatchDocument {
                            principal: Principal::default(),
                            id,
                            patch: patch.into(),
                            // Only on top of the content just written.
                            if_match: Some(doc.etag()),
                        };
                        doc = session.call(what, request).await?;
                    }
                    eprintln!("spv-cli: document {id} is now at version {}", doc.version);
                    doc
                }
            };
            print_document(&doc, json.json)?;
        }
        DocumentsCommand::Delete { id, if_match } => {
            let id = parse_id("document", id)?;
            let request = DeleteDocument {
                principal: Principal::default(),
                id,
                if_match: if_match.clone(),
            };
            session
                .call(format!("deleting document {id}"), request)
                .await?;
            eprintln!("spv-cli: deleted document {id}");
        }
        DocumentsCommand::Watch { id, count, json } => {
            let id = parse_id("document", id)?;
            return super::watch::watch(session, id, *count, json.json).await;
        }
    }
    Ok(Outcome::Success)
}

/// Prints a document's metadata: JSON, or one field a line.
fn print_document(doc: &Document, json: bool) -> anyhow::Result<()> {
    let mut out = stdout();
    if json {
        table::write_json(&mut out, doc)?;
    } else {
        let pages: Vec<String> = doc
            .pages
            .iter()
            .map(|p| format!("{}×{}", p.width, p.height))
            .collect();
        table::write_fields(
            &mut out,
            &[
                ("id", doc.id.to_string()),
                ("title", doc.title.clone()),
                ("version", doc.version.to_string()),
                ("etag", doc.etag()),
                ("public", doc.public.to_string()),
                ("tags", doc.tags.join(", ")),
                ("pages", pages.join(", ")),
                ("content", table::bytes(doc.content_length)),
                ("sha256", doc.content_sha256.clone()),
                ("owner", doc.owner_id.to_string()),
                ("created", table::time(doc.created_at)),
                ("updated", table::time(doc.updated_at)),
            ],
        )?;
    }
    out.flush()?;
    Ok(())
}

/// Runs `spv-cli thumbnail`. A render that fails on the document (bad content, missing
/// asset, timeout) is reported and exits 1, as a failed render does locally.
pub(crate) async fn thumbnail(session: &Session, args: &ThumbnailArgs) -> anyhow::Result<Outcome> {
    let id = parse_id("document", &args.document)?;
    let format = match args.format {
        Some(format) => ImageFormat::from(format),
        None => args
            .output
            .extension()
            .and_then(|ext| ImageFormat::parse(&ext.to_string_lossy()))
            .unwrap_or(ImageFormat::Png),
    };
    let request = GetDocumentThumbnail {
        principal: None,
        id,
        page: args.page,
        size: ThumbnailSize::Longest { size: args.size },
        format,
        lenient: args.lenient,
        if_none_match: None,
    };
    let what = format!(
        "rendering page {} of document {id} at {} px",
        args.page, args.size
    );
    let thumbnail = match session.client_call(request).await {
        Ok(thumbnail) => thumbnail,
        Err(err) if is_render_failure(err.kind()) => {
            eprintln!("spv-cli: {:#}", session.explain(what, err));
            return Ok(Outcome::SomeFailed);
        }
        Err(err) => return Err(session.explain(what, err)),
    };
    let Some(image) = thumbnail.image else {
        anyhow::bail!("{what}: the server answered without an image");
    };
    for warning in &image.warnings {
        eprintln!("spv-cli: warning: {warning}");
    }
    let mut dest = Destination::create(&args.output).await?;
    if let Err(err) = dest.write_all(&image.bytes).await {
        dest.discard().await;
        return Err(err).with_context(|| format!("writing {}", args.output.display()));
    }
    dest.commit().await?;
    if args.output != std::path::Path::new("-") {
        eprintln!(
            "spv-cli: wrote {} ({}×{} {})",
            args.output.display(),
            image.width,
            image.height,
            image.format.extension()
        );
    }
    Ok(Outcome::Success)
}

/// Whether an error kind means the render of this document failed (exit 1), rather than
/// the request being wrong (exit 2).
fn is_render_failure(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::InvalidDocument
            | ErrorKind::UnsupportedVersion
            | ErrorKind::MissingAsset
            | ErrorKind::InvalidAsset
            | ErrorKind::RenderTimeout
    )
}
