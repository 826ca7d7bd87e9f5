//! `spv-cli sign-url`: a signed thumbnail URL, made with `spv::signing` from the keys
//! alone (no server is asked).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use spv::signing::SigningKeys;

use crate::cli::SignUrlArgs;
use crate::output::Outcome;

/// The longest `--expires-in`: a year.
const MAX_EXPIRES_IN: u64 = 366 * 24 * 3600;

pub(crate) fn run(args: &SignUrlArgs, server: Option<&str>) -> anyhow::Result<Outcome> {
    anyhow::ensure!(
        args.expires_in <= MAX_EXPIRES_IN,
        "--expires-in: {} seconds; expected at most {MAX_EXPIRES_IN} (a year)",
        args.expires_in
    );
    let keys: SigningKeys = args.keys.expose().parse()?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let url = match server {
        Some(server) if args.url.starts_with('/') => {
            format!("{}{}", server.trim_end_matches('/'), args.url)
        }
        _ => args.url.clone(),
    };
    println!("{}", keys.sign(&url, now + args.expires_in)?);
    Ok(Outcome::Success)
}
