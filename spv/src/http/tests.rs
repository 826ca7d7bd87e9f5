//! Router tests driven in-process with `oneshot` (no network).

use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tower::ServiceExt;

use super::{AppState, api};
use crate::api::TokenRequest;
use crate::auth::{Auth, AuthConfig, JwtSecret};
use crate::config::Config;
use crate::render::pool::RenderPool;
use crate::store::Db;
use crate::thumbnails::{Thumbnails, ThumbnailsConfig};

const BODY: &str = r##"{"document":{"format":"glyph","version":1,
    "pages":[{"width":40,"height":20,"layers":[]}]},"size":20}"##;

fn thumbnail_request(token: &str) -> Request<Body> {
    Request::post("/api/v1/thumbnails")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::from(BODY))
        .unwrap()
}

/// `state` with an auth service over a fresh SQLite database, and an admin's access token.
async fn with_auth(state: AppState, dir: &std::path::Path) -> (AppState, String) {
    let db = Db::open(None, dir).await.unwrap();
    let secret = JwtSecret::load_or_create(dir).unwrap();
    let auth = Auth::new(db, &secret, AuthConfig::default());
    auth.bootstrap_admin("admin", Some("correct horse".into()))
        .await
        .unwrap();
    let tokens = auth
        .clone()
        .oneshot(TokenRequest::password("admin", "correct horse"))
        .await
        .unwrap();
    (
        state.with_auth(auth),
        tokens.access_token.expose().to_owned(),
    )
}

#[tokio::test]
async fn thumbnails_need_a_credential() {
    let dir = tempfile::tempdir().unwrap();
    let without_auth = api(AppState::new(&Config::default()));
    let response = without_auth.oneshot(thumbnail_request("x")).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "no auth: nothing accepted"
    );

    let (state, token) = with_auth(AppState::new(&Config::default()), dir.path()).await;
    let app = api(state);
    let mut request = thumbnail_request(&token);
    request.headers_mut().remove(header::AUTHORIZATION);
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(
        response.headers()[header::WWW_AUTHENTICATE]
            .to_str()
            .unwrap()
            .starts_with("Bearer")
    );
    let response = app
        .clone()
        .oneshot(thumbnail_request("bad.token.here"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app.oneshot(thumbnail_request(&token)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Guards the issue's "503 with Retry-After under saturation" instead of an endless queue.
#[tokio::test]
async fn a_saturated_render_pool_answers_503_with_retry_after() {
    let pool = RenderPool::new(1).with_queue_timeout(Duration::ZERO);
    let thumbnails = Thumbnails::new(ThumbnailsConfig::default().with_pool(pool.clone()));
    let dir = tempfile::tempdir().unwrap();
    let state = AppState::with_thumbnails(&Config::default(), thumbnails);
    let (state, token) = with_auth(state, dir.path()).await;
    let app = api(state);

    let (release, wait) = std::sync::mpsc::channel::<()>();
    let busy = tokio::spawn(pool.run(move || {
        let _ = wait.recv();
        Ok(())
    }));
    while pool.available() > 0 {
        tokio::task::yield_now().await;
    }
    let response = app
        .clone()
        .oneshot(thumbnail_request(&token))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(problem["type"], "urn:spv:problem:overloaded");
    assert_eq!(problem["instance"], "/api/v1/thumbnails");

    release.send(()).unwrap();
    busy.await.unwrap().unwrap();
    let response = app.oneshot(thumbnail_request(&token)).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "served once the slot is free"
    );
}

#[tokio::test]
async fn metrics_can_be_turned_off() {
    let config = Config {
        prometheus_enabled: false,
        ..Config::default()
    };
    let app = api(AppState::new(&config));
    let request = Request::get("/metrics").body(Body::empty()).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let request = Request::get("/openapi.json").body(Body::empty()).unwrap();
    let response = app.oneshot(request).await.unwrap();
    let body = axum::body::to_bytes(response.into_body(), 1 << 24)
        .await
        .unwrap();
    let spec: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert!(
        spec["paths"]["/metrics"].is_null(),
        "not listed when not mounted"
    );
    assert!(spec["paths"]["/api/v1/thumbnails"].is_object());
}
