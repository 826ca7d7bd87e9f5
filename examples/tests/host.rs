//! The host example's application on a real socket: the host's routes and spv's under
//! `/spv`, with links, docs and the OpenAPI server pointing under the prefix.

use serde_json::Value;

const DOC: &str = r##"{"format":"glyph","version":1,"title":"Hosted","pages":[
    {"width":200,"height":100,"background":"#ffffff","layers":[
        {"type":"rect","x":10,"y":10,"width":50,"height":50,"fill":"#ff0000"}]}]}"##;

#[tokio::test]
async fn spv_nested_under_a_prefix_next_to_host_routes() {
    let data = tempfile::tempdir().unwrap();
    let config = spv::config::Config {
        data_dir: data.path().to_owned(),
        admin_password: Some("host-example-password".into()),
        ..spv::config::Config::default()
    };
    let opened = spv::http::AppState::open(&config).await.unwrap();
    assert!(
        opened.admin_password.is_none(),
        "the given password is not echoed"
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = spv_examples::host_app(opened.state);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let client = reqwest::Client::new();
    let url = |path: &str| format!("{base}{path}");

    let hello = client.get(url("/hello")).send().await.unwrap();
    assert_eq!(hello.text().await.unwrap(), "hello from the host\n");
    assert_eq!(
        client
            .get(url("/spv/health"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    // The docs page and its document work under the prefix.
    let spec: Value = client
        .get(url("/spv/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spec["servers"][0]["url"], "/spv");
    let page = client
        .get(url("/spv/docs"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("src=\"docs/scalar.js\""), "{page}");
    let script = client.get(url("/spv/docs/scalar.js")).send().await.unwrap();
    assert_eq!(script.status(), 200);

    let token: Value = client
        .post(url("/spv/api/v1/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "host-example-password"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = token["access_token"].as_str().unwrap().to_owned();
    let created = client
        .post(url("/spv/api/v1/documents"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(DOC)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let location = created.headers()["location"].to_str().unwrap().to_owned();
    let id = created.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(location, format!("/spv/api/v1/documents/{id}"));
    let fetched = client
        .get(url(&location))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(fetched.json::<Value>().await.unwrap()["title"], "Hosted");

    let thumbnail = client
        .get(url(&format!("{location}/thumbnail?size=64")))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(thumbnail.status(), 200);
    assert_eq!(thumbnail.headers()["content-type"], "image/png");
    assert!(thumbnail.bytes().await.unwrap().starts_with(b"\x89PNG"));

    // Unknown paths under /spv are spv's problem+json 404s; elsewhere the host's.
    let missing = client.get(url("/spv/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );
    let host_missing = client.get(url("/nope")).send().await.unwrap();
    assert_eq!(host_missing.status(), 404);
    assert_ne!(
        host_missing
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap()),
        Some("application/problem+json")
    );
}
