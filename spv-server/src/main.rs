//! `spv-server`: serves spv over HTTP. Configuration: flags, then the environment, then
//! an optional TOML file (`--config`); see `spv::config`.

use std::process::ExitCode;

use clap::Parser;

/// mimalloc: the server allocates per request (headers, bodies, futures); glibc's
/// allocator costs measurably more per request under load (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = spv_server::Cli::parse();
    let config = match cli.config(std::env::vars()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("spv-server: {error:#}");
            return ExitCode::from(2);
        }
    };
    spv_server::init_tracing(&config);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("spv-server: cannot start the runtime: {error}");
            return ExitCode::from(2);
        }
    };
    let result = runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(config.bind_addr)
            .await
            .map_err(|e| {
                anyhow::anyhow!("cannot listen on {} (SPV_BIND_ADDR): {e}", config.bind_addr)
            })?;
        let reread = move || cli.config(std::env::vars());
        spv_server::run_with_reload(config, listener, spv_server::shutdown_signal(), reread).await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("spv-server: {error:#}");
            ExitCode::from(1)
        }
    }
}
