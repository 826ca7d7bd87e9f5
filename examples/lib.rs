//! Runnable examples of the spv library (see the `[[example]]` targets of this package) and
//! the sample documents in `docs/`.
//!
//! ```sh
//! cargo run -p spv-examples --example batch -- examples/docs out/
//! cargo run -p spv-examples --example host
//! SPV_USERNAME=admin SPV_PASSWORD=... cargo run -p spv-examples --example client
//! ```

pub mod tour;

use axum::Router;
use axum::routing::get;

/// The host application of `examples/host.rs`: its own `/` and `/hello`, the live
/// editing page (`examples/live/`) at `/live/?doc=ID&token=TOKEN`, and every router of
/// spv nested under `/spv`.
///
/// ```
/// let state = spv::http::AppState::new(&spv::config::Config::default());
/// let app: axum::Router = spv_examples::host_app(state);
/// # drop(app);
/// ```
pub fn host_app(spv_state: spv::http::AppState) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { "the host app: spv is under /spv, its docs at /spv/docs\n" }),
        )
        .route("/hello", get(|| async { "hello from the host\n" }))
        .route("/live/", get(live_page))
        .route("/live/live.js", get(live_script))
        .nest("/spv", spv::http::api(spv_state))
}

/// `examples/live/index.html`.
async fn live_page() -> axum::response::Html<&'static str> {
    axum::response::Html(include_str!("live/index.html"))
}

/// `examples/live/live.js`.
async fn live_script() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/javascript; charset=utf-8",
        )],
        include_str!("live/live.js"),
    )
}

/// The README's Rust snippets, compiled and type-checked as doctests.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
