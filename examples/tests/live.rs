//! The live editing page of the host example (`examples/live/`) in two tabs of headless
//! Chromium: a drag in one tab moves the shape in the other, and the first tab's cursor
//! shows in the second.
//!
//! Needs Debian's `chromium` and `playwright-core` installed in `examples/live`
//! (`npm ci` there; `.ci/run` does both). Without them the test says it was skipped,
//! except under `CI=true`, where it fails.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

const DOC: &str = r##"{"format":"glyph","version":1,"title":"Live page","pages":[
    {"id":"p1","width":400,"height":300,"background":"#ffffff","layers":[
        {"id":"r1","type":"rect","x":40,"y":40,"width":80,"height":60,"fill":"#ff3300"},
        {"id":"e1","type":"ellipse","cx":300,"cy":200,"rx":40,"ry":30,"fill":"#0066ff"}]}]}"##;

fn missing(what: &str) -> bool {
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "{what}; CI must install it (see .ci/run)"
    );
    eprintln!("skipped: {what}");
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drag_in_one_tab_moves_the_shape_in_the_other() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("live");
    if !Path::new("/usr/bin/chromium").is_file() && missing("chromium is not installed") {
        return;
    }
    if !dir.join("node_modules/playwright-core").is_dir()
        && missing("playwright-core is not installed (npm ci in examples/live)")
    {
        return;
    }
    let data = tempfile::tempdir().unwrap();
    let config = spv::config::Config {
        data_dir: data.path().to_owned(),
        admin_password: Some("live-example-password".into()),
        ..spv::config::Config::default()
    };
    let opened = spv::http::AppState::open(&config).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = spv_examples::host_app(opened.state.clone())
        .into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let http = reqwest::Client::new();
    let tokens: Value = http
        .post(format!("{base}/spv/api/v1/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "live-example-password"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_string();
    let doc: Value = http
        .post(format!("{base}/spv/api/v1/documents"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(DOC)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = doc["id"].as_str().unwrap().to_string();

    // The page is served by the host app.
    let page = http.get(format!("{base}/live/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("live.js"));

    let url = format!("{base}/live/?doc={id}&token={token}");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("two-tabs.mjs")
            .arg(&url)
            .arg("r1")
            .current_dir(&dir)
            .output()
            .expect("node runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the two-tab test failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("moved r1"), "{stdout}");

    // The drag landed on the server: the stored content shows the new position.
    let content: Value = http
        .get(format!("{base}/spv/api/v1/documents/{id}/content"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(content["pages"][0]["layers"][0]["x"], 140, "{content}");
    opened.shutdown(std::time::Duration::from_secs(5)).await;
}
