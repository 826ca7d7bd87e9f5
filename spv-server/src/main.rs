//! `spv-server`: the spv HTTP daemon.
//!
//! The HTTP layer (auth, documents, assets and thumbnails over HTTP) is the next milestone;
//! until it lands this binary only reports what it will serve, so that deployments and
//! scripts can already name it. Everything it will mount is in the `spv` library today.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "spv-server {}: the HTTP API is not available in this build yet; \
         render locally with `spv-cli render DOC --size 256`",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::from(2)
}
