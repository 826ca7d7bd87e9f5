//! A host axum application that renders thumbnails of the documents it is sent, with
//! nothing of spv but the renderer: no database, no users, no blob directory. spv's
//! `render_router` builds with `spv = { features = ["http"] }` alone (no `store`); the
//! host puts its own guard in front (here a shared token).
//!
//! ```sh
//! RENDER_TOKEN=secret cargo run -p spv-examples --example thumbnails_only
//! curl -s http://127.0.0.1:3000/render/api/v1/thumbnails -H 'authorization: Bearer secret' \
//!     -H 'content-type: application/json' \
//!     -d "{\"document\": $(cat examples/docs/poster.glyph), \"size\": 256}" -o poster.png
//! ```
//!
//! `HOST_ADDR` picks the address (default `127.0.0.1:3000`).

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::Response;
use spv::http::{RenderState, render_router};
use spv::thumbnails::{Thumbnails, ThumbnailsConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let app = app(std::env::var("RENDER_TOKEN").ok());
    let addr = std::env::var("HOST_ADDR").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    eprintln!(
        "thumbnails on http://{}/render/api/v1/thumbnails",
        listener.local_addr()?
    );
    axum::serve(listener, app).await?;
    Ok(())
}

/// The host's routes: `/` and spv's renderer under `/render`, behind `token` when set.
fn app(token: Option<String>) -> axum::Router {
    let thumbnails = Thumbnails::new(ThumbnailsConfig::default().with_max_size(2048));
    let render = render_router(RenderState::new(thumbnails));
    let render = match token {
        Some(token) => render.layer(middleware::from_fn(move |request: Request, next: Next| {
            let expected = format!("Bearer {token}");
            async move { guard(&expected, request, next).await }
        })),
        None => render,
    };
    axum::Router::new()
        .route("/", axum::routing::get(|| async { "my app" }))
        .nest("/render", render)
}

/// The host's own guard: a shared token in `Authorization`.
async fn guard(expected: &str, request: Request, next: Next) -> Result<Response, StatusCode> {
    let sent = request.headers().get("authorization").map(|v| v.as_bytes());
    if sent != Some(expected.as_bytes()) {
        return Err(StatusCode::UNAUTHORIZED);
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use tower::ServiceExt;

    use super::*;

    #[tokio::test]
    async fn renders_behind_the_hosts_guard() {
        let body = r##"{"document":{"format":"glyph","version":1,"pages":[{"width":200,
            "height":100,"background":"#2050f0","layers":[]}]},"size":32}"##;
        let request = |token: &str| {
            axum::http::Request::post("/render/api/v1/thumbnails")
                .header("authorization", format!("Bearer {token}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(body))
                .unwrap()
        };
        let app = app(Some("secret".into()));
        let refused = app.clone().oneshot(request("wrong")).await.unwrap();
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
        let response = app.oneshot(request("secret")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "image/png");
    }
}
