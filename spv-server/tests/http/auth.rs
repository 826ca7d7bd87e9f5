//! Tokens, users, API keys and the protection of `POST /api/v1/thumbnails`.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{ADMIN_PASSWORD, Server, doc, header, png_size, problem};

/// A 401 problem with a `WWW-Authenticate: Bearer` challenge.
async fn unauthorized(response: reqwest::Response) -> Value {
    let challenge = header(response.headers(), "www-authenticate").to_owned();
    assert!(challenge.starts_with("Bearer"), "{challenge:?}");
    let p = problem(response, 401).await;
    assert_eq!(p["type"], "urn:spv:problem:unauthenticated");
    p
}

pub(super) async fn password_grant(
    server: &Server,
    username: &str,
    password: &str,
) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "password", "username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

/// Creates an API key as the admin; returns the `201` body.
pub(super) async fn create_key(server: &Server, scopes: &[&str]) -> Value {
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/api-keys"))
        .bearer_auth(&server.token)
        .json(&json!({"name": "test key", "scopes": scopes}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body
}

fn thumbnail(server: &Server) -> reqwest::RequestBuilder {
    reqwest::Client::new()
        .post(server.url("/api/v1/thumbnails"))
        .json(&json!({"document": doc(), "size": 40}))
}

#[tokio::test]
async fn token_by_json_and_form_and_bad_passwords() {
    let server = Server::start().await;
    let response = password_grant(&server, "admin", ADMIN_PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(header(response.headers(), "cache-control"), "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(tokens["expires_in"].as_u64().unwrap() > 0);
    assert_eq!(
        tokens["access_token"].as_str().unwrap().split('.').count(),
        3,
        "a JWT"
    );
    assert!(!tokens["refresh_token"].as_str().unwrap().is_empty());

    let response = reqwest::Client::new()
        .post(server.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let tokens: Value = response.json().await.unwrap();
    assert_eq!(tokens["token_type"], "Bearer");

    let p = unauthorized(password_grant(&server, "admin", "wrong password").await).await;
    assert_eq!(p["instance"], "/api/v1/auth/token");
    unauthorized(password_grant(&server, "nobody", ADMIN_PASSWORD).await).await;
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/auth/token"))
        .form(&[
            ("grant_type", "password"),
            ("username", "admin"),
            ("password", "nope"),
        ])
        .send()
        .await
        .unwrap();
    unauthorized(response).await;
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "password"}))
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
    server.stop().await;
}

#[tokio::test]
async fn thumbnails_need_a_credential_with_the_scope() {
    let server = Server::start().await;
    unauthorized(thumbnail(&server).send().await.unwrap()).await;
    unauthorized(
        thumbnail(&server)
            .bearer_auth("not.a.jwt")
            .send()
            .await
            .unwrap(),
    )
    .await;
    unauthorized(
        thumbnail(&server)
            .bearer_auth("spv_unknown")
            .send()
            .await
            .unwrap(),
    )
    .await;
    unauthorized(
        thumbnail(&server)
            .header("x-api-key", "spv_unknown")
            .send()
            .await
            .unwrap(),
    )
    .await;

    let narrow = create_key(&server, &["documents:read"]).await;
    let narrow_key = narrow["key"].as_str().unwrap();
    let response = thumbnail(&server)
        .bearer_auth(narrow_key)
        .send()
        .await
        .unwrap();
    let p = problem(response, 403).await;
    assert!(
        p["detail"].as_str().unwrap().contains("thumbnails:read"),
        "{p}"
    );

    let key = create_key(&server, &["thumbnails:read"]).await;
    assert_eq!(key["scopes"], json!(["thumbnails:read"]));
    let secret = key["key"].as_str().unwrap();
    assert!(secret.starts_with("spv_"), "{secret}");
    let response = thumbnail(&server).bearer_auth(secret).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(png_size(&response.bytes().await.unwrap()), (40, 20));
    let response = thumbnail(&server)
        .header("x-api-key", secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn api_keys_are_created_listed_and_revoked() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let response = client
        .post(server.url("/api/v1/api-keys"))
        .bearer_auth(&server.token)
        .json(&json!({"name": "ci", "scopes": ["thumbnails:read", "documents:read"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(response.headers(), "location").to_owned();
    let key: Value = response.json().await.unwrap();
    let id = key["id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID");
    assert_eq!(location, format!("/api/v1/api-keys/{id}"));
    assert_eq!(key["scopes"], json!(["documents:read", "thumbnails:read"]));
    let secret = key["key"].as_str().unwrap().to_owned();

    let listed: Value = client
        .get(server.url("/api/v1/api-keys"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], id);
    assert!(
        listed[0].get("key").is_none(),
        "the secret is shown only once"
    );
    assert!(!listed.iter().any(|k| k.to_string().contains(&secret)));
    unauthorized(
        client
            .get(server.url("/api/v1/api-keys"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    let response = thumbnail(&server)
        .bearer_auth(&secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = client
        .delete(server.url(&location))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    unauthorized(
        thumbnail(&server)
            .bearer_auth(&secret)
            .send()
            .await
            .unwrap(),
    )
    .await;
    unauthorized(
        thumbnail(&server)
            .header("x-api-key", &secret)
            .send()
            .await
            .unwrap(),
    )
    .await;

    let response = client
        .delete(server.url("/api/v1/api-keys/not-a-uuid"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    problem(response, 404).await;
    server.stop().await;
}

#[tokio::test]
async fn refresh_tokens_rotate_and_reuse_is_refused() {
    let server = Server::start().await;
    let first: Value = password_grant(&server, "admin", ADMIN_PASSWORD)
        .await
        .json()
        .await
        .unwrap();
    let old = first["refresh_token"].as_str().unwrap();
    let refresh = |token: String| {
        reqwest::Client::new()
            .post(server.url("/api/v1/auth/token"))
            .form(&[
                ("grant_type", "refresh_token".to_owned()),
                ("refresh_token", token),
            ])
            .send()
    };
    let response = refresh(old.to_owned()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let second: Value = response.json().await.unwrap();
    let new = second["refresh_token"].as_str().unwrap();
    assert_ne!(new, old, "rotated");
    let me = reqwest::Client::new()
        .get(server.url("/api/v1/users/me"))
        .bearer_auth(second["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::OK);

    unauthorized(refresh(old.to_owned()).await.unwrap()).await;
    unauthorized(refresh(new.to_owned()).await.unwrap()).await;
    server.stop().await;
}

#[tokio::test]
async fn users_me_and_creating_users() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let me: Value = client
        .get(server.url("/api/v1/users/me"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "admin");
    assert_eq!(me["isAdmin"], true);
    unauthorized(
        client
            .get(server.url("/api/v1/users/me"))
            .send()
            .await
            .unwrap(),
    )
    .await;

    let response = client
        .post(server.url("/api/v1/users"))
        .bearer_auth(&server.token)
        .json(&json!({"username": "ann", "password": "ann's password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(response.headers(), "location").to_owned();
    let ann: Value = response.json().await.unwrap();
    assert_eq!(
        location,
        format!("/api/v1/users/{}", ann["id"].as_str().unwrap())
    );
    assert_eq!(ann["isAdmin"], false);

    let tokens: Value = password_grant(&server, "ann", "ann's password")
        .await
        .json()
        .await
        .unwrap();
    let ann_token = tokens["access_token"].as_str().unwrap();
    let me: Value = client
        .get(server.url("/api/v1/users/me"))
        .bearer_auth(ann_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "ann");
    let response = client
        .post(server.url("/api/v1/users"))
        .bearer_auth(ann_token)
        .json(&json!({"username": "bob", "password": "bob's password"}))
        .send()
        .await
        .unwrap();
    problem(response, 403).await;
    let response = client
        .post(server.url("/api/v1/users"))
        .bearer_auth(&server.token)
        .json(&json!({"username": "ann", "password": "another password"}))
        .send()
        .await
        .unwrap();
    problem(response, 409).await;
    server.stop().await;
}

#[tokio::test]
async fn openapi_declares_security_per_route() {
    let server = Server::start().await;
    let spec = server.openapi().await;
    let paths = &spec["paths"];
    let thumbnails = &paths["/api/v1/thumbnails"]["post"]["security"];
    assert_eq!(
        thumbnails,
        &json!([{"bearer": ["thumbnails:read"]}, {"apiKey": ["thumbnails:read"]}])
    );
    for (path, method) in [
        ("/api/v1/users/me", "get"),
        ("/api/v1/users", "post"),
        ("/api/v1/api-keys", "post"),
        ("/api/v1/api-keys", "get"),
        ("/api/v1/api-keys/{id}", "delete"),
    ] {
        let security = paths[path][method]["security"].as_array();
        assert_eq!(security.map(Vec::len), Some(2), "{method} {path}");
    }
    assert!(paths["/api/v1/auth/token"]["post"].is_object());
    for path in ["/health", "/ready", "/openapi.json"] {
        assert!(paths[path]["get"]["security"].is_null(), "{path} is public");
    }
    let response = reqwest::get(server.url("/metrics")).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK, "/metrics stays public");
    server.stop().await;
}
