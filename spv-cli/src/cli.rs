//! The command line, as clap parses it.

mod remote;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use spv::api::{ImageFormat, Secret};
use spv::glyph::ImageFit;

pub(crate) use remote::*;

/// Render, validate, inspect and export .glyph design documents; manage documents,
/// assets, thumbnails, render jobs and API keys on an spv server.
///
/// Exit status: 0 when everything worked, 1 when some documents failed (a render in a
/// batch, a validation error, a failed or cancelled job, an upload of a batch), 2 on a
/// usage or fatal error (including a refused credential and something not found).
#[derive(Debug, Parser)]
#[command(name = "spv-cli", version, max_term_width = 100)]
pub(crate) struct Cli {
    /// Log what spv does on stderr (RUST_LOG, when set, chooses the filter instead).
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,

    /// The spv server, e.g. https://spv.example.com. Without it, `keys` works on a local
    /// database, and the remote commands use the server of `spv-cli login`.
    #[arg(
        long,
        global = true,
        env = "SPV_SERVER",
        value_name = "URL",
        help_heading = "Server"
    )]
    pub(crate) server: Option<String>,

    /// An API key for the server. Prefer the SPV_API_KEY variable: arguments show in
    /// `ps`. Without a key, the login stored by `spv-cli login` is used.
    #[arg(
        long,
        global = true,
        env = "SPV_API_KEY",
        hide_env_values = true,
        value_name = "KEY",
        help_heading = "Server"
    )]
    pub(crate) api_key: Option<Secret>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Render documents to thumbnails (PNG, WebP or JPEG).
    ///
    /// Without -o, each thumbnail is written as <stem>.<ext> next to its document or in
    /// --out-dir; with --all-pages as <stem>-p<N>.<ext>, N counted from 0.
    Render(RenderArgs),
    /// Check documents against the format and print every error with its JSON path.
    Validate(ValidateArgs),
    /// Show a document's title, pages, node counts and assets.
    Info(InfoArgs),
    /// Export a page of a document as SVG.
    Export(ExportArgs),
    /// Create, list and revoke API keys: on the server with --server, else in a server's
    /// database (run where its data directory or DATABASE_URL is reachable).
    Keys(KeysArgs),
    /// Apply the database migrations of this version and nothing else (for servers
    /// started with --no-migrate), printing which it applied: the data directory's
    /// SQLite, or DATABASE_URL / --database-url. Safe while servers start.
    Migrate(StoreArgs),
    /// Log in to --server with a password and keep a refresh token in the user's
    /// configuration directory (file mode 0600), for the remote commands.
    Login(LoginArgs),
    /// Forget the login stored by `spv-cli login`.
    Logout,
    /// List, show, upload and delete documents stored on the server.
    Documents(DocumentsArgs),
    /// Upload, download, list and delete assets (images, fonts) on the server.
    Assets(AssetsArgs),
    /// Fetch a thumbnail of a stored document (the server's cached GET).
    Thumbnail(ThumbnailArgs),
    /// Render stored documents in the background and follow the jobs.
    Jobs(JobsArgs),
    /// Manage a server's blob store directly (run where it is reachable).
    Blobs(BlobsArgs),
    /// Sign a thumbnail URL with a key of the server's SPV_URL_SIGNING_KEYS, so that
    /// anyone holding the URL (a CDN, an <img> tag) can fetch that thumbnail until it
    /// expires, without a credential. Prints the signed URL. Works offline: only the
    /// keys are needed.
    SignUrl(SignUrlArgs),
}

/// `spv-cli sign-url`.
#[derive(Debug, Args)]
pub(crate) struct SignUrlArgs {
    /// The URL to sign, e.g.
    /// https://spv.example.com/api/v1/documents/<id>/thumbnail?size=256, or a path
    /// (/api/v1/…) to sign under --server.
    #[arg(value_name = "URL")]
    pub(crate) url: String,

    /// How long the URL holds, in seconds (at most a year).
    #[arg(long, default_value_t = 3600, value_name = "SECS")]
    pub(crate) expires_in: u64,

    /// The server's signing keys (comma-separated, hex or base64; the first signs).
    /// Prefer the SPV_URL_SIGNING_KEYS variable: arguments show in `ps`.
    #[arg(
        long,
        env = "SPV_URL_SIGNING_KEYS",
        hide_env_values = true,
        value_name = "KEYS"
    )]
    pub(crate) keys: Secret,
}

/// `spv-cli blobs`.
#[derive(Debug, Args)]
pub(crate) struct BlobsArgs {
    #[command(subcommand)]
    pub(crate) command: BlobsCommand,
}

/// The `blobs` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum BlobsCommand {
    /// Copy every blob of one store into another (a directory or s3://bucket/prefix),
    /// verifying each blob's SHA-256 against its key. Resumable: blobs already in the
    /// destination with the same size are skipped, so a second run finishes an
    /// interrupted one. The S3 client is configured by the AWS_* variables (or the
    /// [aws] table of --config). Exit status 1 when some blobs failed.
    Migrate {
        /// The store to copy from: a directory or s3://bucket/prefix.
        #[arg(long, value_name = "URL")]
        from: String,
        /// The store to copy into: a directory or s3://bucket/prefix.
        #[arg(long, value_name = "URL")]
        to: String,
        /// Blobs copied at once (1 to 64).
        #[arg(long, default_value_t = 4, value_name = "N")]
        concurrency: usize,
        /// The server's TOML configuration file (for its [aws] table).
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

/// `spv-cli render`.
#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// Documents: .glyph files, directories (every *.glyph inside, recursively) or glob
    /// patterns such as 'docs/*.glyph'.
    #[arg(required = true, value_name = "DOC")]
    pub(crate) docs: Vec<String>,

    /// The longer side of each thumbnail, in pixels [default: 256].
    #[arg(short, long, value_name = "N", conflicts_with_all = ["width", "height"])]
    pub(crate) size: Option<u32>,

    /// Thumbnail width in pixels, instead of --size (needs --height).
    #[arg(long, value_name = "W", requires = "height")]
    pub(crate) width: Option<u32>,

    /// Thumbnail height in pixels, instead of --size (needs --width).
    #[arg(long, value_name = "H", requires = "width")]
    pub(crate) height: Option<u32>,

    /// How the page fills a --width × --height box: letterboxed, cropped or stretched.
    #[arg(long, value_enum, requires = "width", default_value = "contain")]
    pub(crate) fit: FitArg,

    /// Write the thumbnail to this file ('-' for stdout); only for a single document and
    /// page. The format follows the extension unless --format is given.
    #[arg(short, long, value_name = "OUT", conflicts_with_all = ["out_dir", "all_pages"])]
    pub(crate) output: Option<PathBuf>,

    /// Write thumbnails into this directory instead of next to each document.
    #[arg(long, value_name = "DIR")]
    pub(crate) out_dir: Option<PathBuf>,

    /// Output format [default: png, or the extension of -o].
    #[arg(short, long, value_enum)]
    pub(crate) format: Option<FormatArg>,

    /// The page to render, counted from 0 as in the JSON path pages[0].
    #[arg(
        short,
        long,
        value_name = "N",
        default_value_t = 0,
        conflicts_with = "all_pages"
    )]
    pub(crate) page: usize,

    /// Render every page, each to <stem>-p<N>.<ext> with N counted from 0.
    #[arg(long)]
    pub(crate) all_pages: bool,

    /// Renders in flight at once [default: the number of cores].
    #[arg(short, long, value_name = "JOBS", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) jobs: Option<u32>,

    /// Also look for sha256: and relative assets in this directory (after the package and
    /// the document's own directory).
    #[arg(long, value_name = "DIR")]
    pub(crate) assets: Option<PathBuf>,

    /// Paint a visible placeholder for a missing asset or font, with a warning, instead of
    /// failing.
    #[arg(long)]
    pub(crate) lenient: bool,

    /// Which backend renders. With --verbose, each thumbnail names the backend that drew
    /// it and its GPU time.
    #[arg(long, value_enum, env = "SPV_RENDERER", default_value = "auto")]
    pub(crate) renderer: RendererArg,
}

/// `--renderer`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum RendererArg {
    /// A hardware GPU when there is one, else the CPU.
    Auto,
    /// The CPU.
    Cpu,
    /// The GPU, a software one (lavapipe) too; the CPU only when there is none or it fails.
    Gpu,
}

impl From<RendererArg> for spv::render::RendererChoice {
    fn from(arg: RendererArg) -> Self {
        match arg {
            RendererArg::Auto => spv::render::RendererChoice::Auto,
            RendererArg::Cpu => spv::render::RendererChoice::Cpu,
            RendererArg::Gpu => spv::render::RendererChoice::Gpu,
        }
    }
}

/// `spv-cli validate`.
#[derive(Debug, Args)]
pub(crate) struct ValidateArgs {
    /// Documents: .glyph files, directories (every *.glyph inside, recursively) or glob
    /// patterns.
    #[arg(required = true, value_name = "DOC")]
    pub(crate) docs: Vec<String>,
}

/// `spv-cli info`.
#[derive(Debug, Args)]
pub(crate) struct InfoArgs {
    /// The document.
    #[arg(value_name = "DOC")]
    pub(crate) doc: PathBuf,

    /// Print JSON instead of text.
    #[arg(long)]
    pub(crate) json: bool,

    /// Also look for sha256: and relative assets in this directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) assets: Option<PathBuf>,
}

/// `spv-cli export`.
#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The document.
    #[arg(value_name = "DOC")]
    pub(crate) doc: PathBuf,

    /// The export format.
    #[arg(short, long, value_enum, default_value = "svg")]
    pub(crate) format: ExportFormat,

    /// The page to export, counted from 0 as in the JSON path pages[0].
    #[arg(short, long, value_name = "N", default_value_t = 0)]
    pub(crate) page: usize,

    /// Write here ('-' for stdout) [default: <stem>.svg next to the document].
    #[arg(short, long, value_name = "OUT")]
    pub(crate) output: Option<PathBuf>,

    /// Also look for sha256: and relative assets in this directory.
    #[arg(long, value_name = "DIR")]
    pub(crate) assets: Option<PathBuf>,

    /// Paint a visible placeholder for a missing asset, with a warning, instead of failing.
    #[arg(long)]
    pub(crate) lenient: bool,
}

/// A thumbnail format on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// PNG.
    Png,
    /// Lossless WebP.
    Webp,
    /// JPEG (over white where the page is transparent).
    #[value(alias = "jpg")]
    Jpeg,
}

impl From<FormatArg> for ImageFormat {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Png => ImageFormat::Png,
            FormatArg::Webp => ImageFormat::Webp,
            FormatArg::Jpeg => ImageFormat::Jpeg,
        }
    }
}

/// `--fit` on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum FitArg {
    /// Letterbox: the whole page, centred.
    Contain,
    /// Crop: the box filled, centred.
    Cover,
    /// Stretch to the box.
    Fill,
}

impl From<FitArg> for ImageFit {
    fn from(fit: FitArg) -> Self {
        match fit {
            FitArg::Contain => ImageFit::Contain,
            FitArg::Cover => ImageFit::Cover,
            FitArg::Fill => ImageFit::Fill,
        }
    }
}

/// An export format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ExportFormat {
    /// SVG 1.1 with CSS blend modes.
    Svg,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }
}

/// `spv-cli keys`.
#[derive(Debug, Args)]
pub(crate) struct KeysArgs {
    #[command(subcommand)]
    pub(crate) command: KeysCommand,
}

/// Where the server's database is; the same settings as `spv-server`.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The server's data directory (SPV_DATA_DIR, default ./spv-data); local mode only.
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,

    /// The database instead of the embedded SQLite (DATABASE_URL).
    #[arg(long, value_name = "URL")]
    pub(crate) database_url: Option<String>,

    /// The server's TOML configuration file.
    #[arg(long, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
}

/// The `keys` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Create a key for a user and print it (shown only this once).
    Create {
        /// The user the key acts as [default: admin] (local mode only: on a server the key
        /// acts as the caller).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// A name for the key (1 to 100 characters).
        #[arg(long)]
        name: String,
        /// A scope, repeated or space-separated: documents:read, documents:write,
        /// assets:read, assets:write, thumbnails:read, jobs:read, jobs:write, gallery:read,
        /// admin.
        #[arg(long = "scope", value_name = "SCOPE", required = true)]
        scopes: Vec<String>,
        /// Let the key expire after this many days.
        #[arg(long, value_name = "DAYS", value_parser = clap::value_parser!(u32).range(1..=36500))]
        expires_in_days: Option<u32>,
        /// Print the created key as JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List a user's keys (an admin's: everyone's).
    List {
        /// Whose keys [default: admin] (local mode only).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Revoke a key by its id.
    Revoke {
        /// The key's id.
        #[arg(value_name = "ID")]
        id: String,
        /// Who revokes it, its owner or an admin [default: admin] (local mode only).
        #[arg(long, value_name = "USER")]
        user: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
}
