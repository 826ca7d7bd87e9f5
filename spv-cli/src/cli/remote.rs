//! The remote commands' arguments: `login`, `logout`, `documents`, `assets`, `thumbnail`
//! and `jobs` (and the remote side of `keys`, whose arguments live in the parent module).

use std::path::PathBuf;

use clap::{Args, Subcommand};
use spv::api::JobState;

use super::FormatArg;

/// The most `--pages`, `--sizes` or `--formats` values of one render job (the server
/// refuses more outputs than [`spv::api::MAX_JOB_OUTPUTS`] anyway).
const MAX_LIST: usize = 256;

/// `spv-cli login`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// Whose account (SPV_USERNAME). The password comes from SPV_PASSWORD or a prompt on
    /// the terminal.
    #[arg(
        long,
        env = "SPV_USERNAME",
        default_value = "admin",
        value_name = "USER"
    )]
    pub(crate) username: String,
}

/// `--json`, shared by the remote commands that print something.
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct JsonArg {
    /// Print JSON (the API's types, as the server sends them) instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `spv-cli documents`.
#[derive(Debug, Args)]
pub(crate) struct DocumentsArgs {
    #[command(subcommand)]
    pub(crate) command: DocumentsCommand,
}

/// The `documents` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum DocumentsCommand {
    /// List your documents (an admin's: everyone's), newest first.
    List {
        /// Only documents with this tag.
        #[arg(long, value_name = "TAG")]
        tag: Option<String>,
        /// Only titles containing this text (case-insensitive).
        #[arg(long, value_name = "TEXT")]
        title: Option<String>,
        /// The page of the list, from 1.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        page: Option<u32>,
        /// Documents per page, 1 to 100 [default: 20].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
        per_page: Option<u32>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Show a document's metadata, or with --content / -o its stored content.
    Get {
        /// The document's id.
        #[arg(value_name = "ID")]
        id: String,
        /// Print the stored content (the .glyph bytes) instead of the metadata.
        #[arg(long)]
        content: bool,
        /// Write the stored content to this file ('-' for stdout); implies --content.
        #[arg(short, long, value_name = "FILE", conflicts_with = "json")]
        output: Option<PathBuf>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Upload a .glyph document: a new one, or with --id new content for an existing one.
    Put {
        /// The .glyph file (JSON or package).
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Replace the content of this document instead of creating one.
        #[arg(long, value_name = "ID")]
        id: Option<String>,
        /// Only replace if the document is still at this ETag (see `documents get`).
        #[arg(long, value_name = "ETAG", requires = "id")]
        if_match: Option<String>,
        /// The title [default: the document's own title].
        #[arg(long, value_name = "TITLE")]
        title: Option<String>,
        /// A tag, repeated for several (with --id: replaces the tags).
        #[arg(long = "tag", value_name = "TAG")]
        tags: Vec<String>,
        /// Let anyone read it (the public gallery).
        #[arg(long)]
        public: bool,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Delete a document.
    Delete {
        /// The document's id.
        #[arg(value_name = "ID")]
        id: String,
        /// Only delete if the document is still at this ETag.
        #[arg(long, value_name = "ETAG")]
        if_match: Option<String>,
    },
    /// Follow a document's live changes and presence, one line each, until interrupted
    /// or the session ends (reconnecting after drops).
    Watch {
        /// The document's id.
        #[arg(value_name = "ID")]
        id: String,
        /// Stop after this many events (changes, resets, presence) [default: follow].
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        #[command(flatten)]
        json: JsonArg,
    },
}

/// `spv-cli assets`.
#[derive(Debug, Args)]
pub(crate) struct AssetsArgs {
    #[command(subcommand)]
    pub(crate) command: AssetsCommand,
}

/// The `assets` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AssetsCommand {
    /// Upload images and fonts (streamed; a progress bar for big files). Documents refer
    /// to them as sha256:<hex>.
    Upload {
        /// The files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Download an asset's bytes (streamed).
    Get {
        /// The asset's id.
        #[arg(value_name = "ID")]
        id: String,
        /// Where to write it ('-' for stdout).
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// List your assets (an admin's: everyone's), newest first.
    List {
        /// The page of the list, from 1.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        page: Option<u32>,
        /// Assets per page, 1 to 100 [default: 20].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
        per_page: Option<u32>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Delete an asset.
    Delete {
        /// The asset's id.
        #[arg(value_name = "ID")]
        id: String,
    },
}

/// `spv-cli thumbnail`.
#[derive(Debug, Args)]
pub(crate) struct ThumbnailArgs {
    /// The stored document's id.
    #[arg(value_name = "DOC_ID")]
    pub(crate) document: String,

    /// The longer side of the thumbnail, in pixels.
    #[arg(short, long, value_name = "N", default_value_t = 256)]
    pub(crate) size: u32,

    /// The page, counted from 0.
    #[arg(short, long, value_name = "N", default_value_t = 0)]
    pub(crate) page: usize,

    /// Output format [default: the extension of -o, else png].
    #[arg(short, long, value_enum)]
    pub(crate) format: Option<FormatArg>,

    /// Paint a visible placeholder for a missing asset or font instead of failing.
    #[arg(long)]
    pub(crate) lenient: bool,

    /// Where to write the image ('-' for stdout).
    #[arg(short, long, value_name = "FILE")]
    pub(crate) output: PathBuf,
}

/// `spv-cli jobs`.
#[derive(Debug, Args)]
pub(crate) struct JobsArgs {
    #[command(subcommand)]
    pub(crate) command: JobsCommand,
}

/// The `jobs` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// Render a stored document in the background: every page × size × format.
    Render {
        /// The stored document's id.
        #[arg(value_name = "DOC_ID")]
        document: String,
        /// Pages, counted from 0, comma-separated [default: every page].
        #[arg(long, value_name = "N,...", value_delimiter = ',', num_args = 1..)]
        pages: Vec<usize>,
        /// Longer sides in pixels, comma-separated [default: 256].
        #[arg(long, value_name = "N,...", value_delimiter = ',', num_args = 1..)]
        sizes: Vec<u32>,
        /// Formats, comma-separated [default: png].
        #[arg(long, value_enum, value_name = "FORMAT,...", value_delimiter = ',', num_args = 1..)]
        formats: Vec<FormatArg>,
        /// Paint placeholders for missing assets instead of failing.
        #[arg(long)]
        lenient: bool,
        /// Enqueue at most once per key (1 to 200 characters): running the same command
        /// again answers the first job.
        #[arg(long, value_name = "KEY")]
        idempotency_key: Option<String>,
        /// Follow the job until it ends, as `jobs watch` does.
        #[arg(long)]
        wait: bool,
        /// With --wait: download every output into this directory.
        #[arg(long, value_name = "DIR", requires = "wait")]
        out_dir: Option<PathBuf>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Show a job: state, progress, error, outputs.
    Status {
        /// The job's id.
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Follow a job's progress until it ends; exit 1 if it failed or was cancelled.
    Watch {
        /// The job's id.
        #[arg(value_name = "ID")]
        id: String,
        /// Download every output into this directory once it succeeded.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        #[command(flatten)]
        json: JsonArg,
    },
    /// Cancel a job: a queued one never runs, a running one stops at its next checkpoint.
    Cancel {
        /// The job's id.
        #[arg(value_name = "ID")]
        id: String,
        #[command(flatten)]
        json: JsonArg,
    },
    /// List your jobs (an admin's: everyone's), newest first.
    List {
        /// Only jobs in this state.
        #[arg(long, value_name = "STATE", value_parser = parse_state)]
        state: Option<JobState>,
        /// The page of the list, from 1.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        page: Option<u32>,
        /// Jobs per page, 1 to 100 [default: 20].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=100))]
        per_page: Option<u32>,
        #[command(flatten)]
        json: JsonArg,
    },
}

impl JobsCommand {
    /// The length limit of the list arguments, checked before anything is sent.
    pub(crate) fn check_lists(&self) -> Result<(), String> {
        if let JobsCommand::Render {
            pages,
            sizes,
            formats,
            ..
        } = self
        {
            for (name, len) in [
                ("--pages", pages.len()),
                ("--sizes", sizes.len()),
                ("--formats", formats.len()),
            ] {
                if len > MAX_LIST {
                    return Err(format!(
                        "{name} has {len} values, at most {MAX_LIST} are allowed"
                    ));
                }
            }
        }
        Ok(())
    }
}

fn parse_state(name: &str) -> Result<JobState, String> {
    JobState::parse(name).ok_or_else(|| {
        format!(
            "{name:?} is not a job state (expected queued, running, succeeded, failed or cancelled)"
        )
    })
}
