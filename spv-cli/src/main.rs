//! `spv-cli`: render, validate, inspect and export `.glyph` documents; manage API keys;
//! and, with `--server`, documents, assets, thumbnails and render jobs on an spv server.
//!
//! Run `spv-cli --help`. The work is done by the `spv` library's services locally and by
//! `spv-client` remotely; this binary parses arguments, expands inputs and reports.

mod blobs;
mod cli;
mod export;
mod info;
mod inputs;
mod keys;
mod migrate;
mod output;
mod remote;
mod render;
mod sign_url;
mod validate;

use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    output::init_tracing(cli.verbose);
    let result = match &cli.command {
        Command::Render(args) => render::run(args, cli.verbose),
        Command::Validate(args) => validate::run(args),
        Command::Info(args) => info::run(args),
        Command::Export(args) => export::run(args),
        Command::Keys(args) if cli.server.is_none() => keys::run(args),
        Command::Blobs(args) => blobs::run(args),
        Command::Migrate(store) => migrate::run(store),
        Command::SignUrl(args) => sign_url::run(args, cli.server.as_deref()),
        Command::Keys(_)
        | Command::Login(_)
        | Command::Logout
        | Command::Documents(_)
        | Command::Assets(_)
        | Command::Thumbnail(_)
        | Command::Jobs(_) => remote::run(&cli),
    };
    output::exit_code(result)
}
