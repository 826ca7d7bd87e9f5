//! Who may read and change stored documents: owners, other users, anonymous callers and
//! scopes; invalid documents.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::auth::{create_key, password_grant};
use super::documents::{BYTES, create, created};
use super::{Server, doc, problem};

/// A second user `ann`; returns her access token.
async fn ann(server: &Server) -> String {
    let client = reqwest::Client::new();
    let response = client
        .post(server.url("/api/v1/users"))
        .bearer_auth(&server.token)
        .json(&json!({"username": "ann", "password": "ann's password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let tokens: Value = password_grant(server, "ann", "ann's password")
        .await
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn private_until_public_and_anonymous_reads() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let ann = ann(&server).await;
    let body = created(&server, &server.token, BYTES, "").await;
    let location = format!("/api/v1/documents/{}", body["id"].as_str().unwrap());

    let get = |token: Option<&str>, path: String| {
        let request = client.get(server.url(&path));
        match token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
        .send()
    };
    problem(get(Some(&ann), location.clone()).await.unwrap(), 404).await;
    problem(get(None, location.clone()).await.unwrap(), 404).await;
    problem(get(None, format!("{location}/content")).await.unwrap(), 404).await;
    let list: Value = get(Some(&ann), "/api/v1/documents".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"], json!([]), "ann sees nothing of the admin's");

    let response = client
        .patch(server.url(&location))
        .bearer_auth(&ann)
        .json(&json!({"public": true}))
        .send()
        .await
        .unwrap();
    problem(response, 404).await;
    let response = client
        .patch(server.url(&location))
        .bearer_auth(&server.token)
        .json(&json!({"public": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let response = get(Some(&ann), location.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = get(None, format!("{location}/content")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.bytes().await.unwrap().as_ref(), BYTES.as_bytes());
    let list: Value = get(None, "/api/v1/documents".into())
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let p = problem(get(Some("bad-token"), location.clone()).await.unwrap(), 401).await;
    assert_eq!(p["type"], "urn:spv:problem:unauthenticated");

    let response = client
        .delete(server.url(&location))
        .bearer_auth(&ann)
        .send()
        .await
        .unwrap();
    problem(response, 403).await;
    let response = client.delete(server.url(&location)).send().await.unwrap();
    problem(response, 401).await;
    let response = get(Some(&server.token), location.clone()).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a public document is read-only to others"
    );
    server.stop().await;
}

#[tokio::test]
async fn scopes_and_invalid_documents() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let key = create_key(&server, &["documents:read"]).await;
    let key = key["key"].as_str().unwrap();
    let p = problem(create(&server, key, BYTES, "").await, 403).await;
    assert!(
        p["detail"].as_str().unwrap().contains("documents:write"),
        "{p}"
    );
    let response = client
        .get(server.url("/api/v1/documents"))
        .header("x-api-key", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    let thumbs: Value = client
        .post(server.url("/api/v1/api-keys"))
        .bearer_auth(&server.token)
        .json(&json!({"name": "thumbs", "scopes": ["thumbnails:read"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let response = client
        .get(server.url("/api/v1/documents"))
        .bearer_auth(thumbs["key"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    problem(response, 403).await;

    let mut bad = doc();
    bad["pages"][0]["width"] = json!("wide");
    let p = problem(
        create(&server, &server.token, &bad.to_string(), "").await,
        400,
    )
    .await;
    let detail = p["detail"].as_str().unwrap();
    assert!(detail.contains("pages[0].width"), "{detail}");
    server.stop().await;
}
