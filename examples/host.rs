//! A host axum application that mounts spv next to its own routes: everything spv
//! serves (auth, documents, assets, thumbnails, gallery, OpenAPI and `/docs`) lives
//! under `/spv`, the host keeps `/` and `/hello`.
//!
//! ```sh
//! SPV_DATA_DIR=./host-data cargo run -p spv-examples --example host
//! curl http://127.0.0.1:3000/hello
//! curl http://127.0.0.1:3000/spv/health
//! # open http://127.0.0.1:3000/spv/docs
//! ```
//!
//! Settings come from the same environment variables as `spv-server` (`SPV_DATA_DIR`,
//! `DATABASE_URL`, `JWT_SECRET`, ...); `HOST_ADDR` picks the address (default
//! `127.0.0.1:3000`).

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = spv::config::Config::from_env_map(std::env::vars())?;
    let opened = spv::http::AppState::open(&config).await?;
    if let Some(password) = &opened.admin_password {
        eprintln!(
            "created admin {:?} with password {} (shown once)",
            config.admin_user,
            password.expose()
        );
    }
    let app = spv_examples::host_app(opened.state.clone());
    let addr = std::env::var("HOST_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".to_owned());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!("host app on http://{addr}; spv under /spv (docs: /spv/docs)");
    // With each connection's address: spv's rate limits key clients by it.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app).await?;
    // The job workers ran all along; running jobs get 30 s, then go back to the queue.
    opened.shutdown(std::time::Duration::from_secs(30)).await;
    Ok(())
}
