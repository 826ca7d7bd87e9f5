//! `GET /api/v1/gallery`: public documents only, whoever asks, with thumbnail URLs that
//! anonymous callers can load; pages and filters; credentials and scopes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::auth::create_key;
use super::documents::created;
use super::{Server, header, png_size, problem};

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// A document titled `title`, stored by the caller of `token`; returns its id.
async fn store(server: &Server, token: &str, title: &str, public: bool) -> String {
    let body = json!({"format": "glyph", "version": 1, "pages": [
        {"width": 200, "height": 100, "background": "#336699", "layers": []}]});
    let query = format!("?title={title}&public={public}");
    let created = created(server, token, &body.to_string(), &query).await;
    created["id"].as_str().unwrap().to_owned()
}

/// A second user `ann`; returns her access token.
async fn ann(server: &Server) -> String {
    let response = client()
        .post(server.url("/api/v1/users"))
        .bearer_auth(&server.token)
        .json(&json!({"username": "ann", "password": "a long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let tokens: Value = super::auth::password_grant(server, "ann", "a long password")
        .await
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

async fn gallery(server: &Server, query: &str, key: Option<&str>) -> reqwest::Response {
    let mut request = client().get(server.url(&format!("/api/v1/gallery{query}")));
    if let Some(key) = key {
        request = request.header("x-api-key", key);
    }
    request.send().await.unwrap()
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn only_public_documents_whoever_asks_with_loadable_thumbnails() {
    let server = Server::start().await;
    let ann = ann(&server).await;
    let public = [
        store(&server, &server.token, "One", true).await,
        store(&server, &ann, "Two", true).await,
    ];
    let private = [
        store(&server, &server.token, "Secret", false).await,
        store(&server, &ann, "Hidden", false).await,
    ];

    let response = gallery(&server, "", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        header(response.headers(), "cache-control"),
        "public, max-age=60"
    );
    let page: Value = response.json().await.unwrap();
    let listed = ids(&page);
    assert_eq!(
        listed,
        vec![public[1].clone(), public[0].clone()],
        "newest first"
    );
    let item = &page["items"][0];
    assert_eq!(item["title"], "Two");
    assert_eq!(item["pages"][0]["width"], 200.0);
    assert!(item.get("ownerId").is_none(), "{item}");
    for item in page["items"].as_array().unwrap() {
        let url = item["thumbnail"].as_str().unwrap();
        assert_eq!(
            url,
            format!(
                "/api/v1/documents/{}/thumbnail",
                item["id"].as_str().unwrap()
            )
        );
        let image = reqwest::get(server.url(&format!("{url}?size=50")))
            .await
            .unwrap();
        assert_eq!(
            image.status(),
            StatusCode::OK,
            "anonymous callers load {url}"
        );
        assert_eq!(png_size(&image.bytes().await.unwrap()), (50, 25));
    }

    // Keys see the same: an admin's gallery key, a documents:read key, and the admin's
    // own token never bring in anything private.
    for scope in ["gallery:read", "documents:read"] {
        let key = create_key(&server, &[scope]).await;
        let response = gallery(&server, "", key["key"].as_str()).await;
        assert_eq!(response.status(), StatusCode::OK, "{scope}");
        assert_eq!(ids(&response.json().await.unwrap()), listed, "{scope}");
    }
    let response = client()
        .get(server.url("/api/v1/gallery"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    let as_admin: Value = response.json().await.unwrap();
    assert_eq!(ids(&as_admin), listed);
    for id in &private {
        assert!(!listed.contains(id));
        let response = reqwest::get(server.url(&format!("/api/v1/documents/{id}/thumbnail")))
            .await
            .unwrap();
        problem(response, 404).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn credentials_sent_must_be_valid_and_scoped() {
    let server = Server::start().await;
    let response = gallery(&server, "", Some("spv_not_a_real_key")).await;
    assert!(header(response.headers(), "www-authenticate").starts_with("Bearer"));
    problem(response, 401).await;
    let response = client()
        .get(server.url("/api/v1/gallery"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    problem(response, 401).await;
    let jobs = create_key(&server, &["jobs:read"]).await;
    let p = problem(gallery(&server, "", jobs["key"].as_str()).await, 403).await;
    let detail = p["detail"].as_str().unwrap();
    assert!(
        detail.contains("gallery:read") && detail.contains("documents:read"),
        "{detail}"
    );

    let spec = server.openapi().await;
    let op = &spec["paths"]["/api/v1/gallery"]["get"];
    assert_eq!(op["security"][0], json!({}), "anonymous callers allowed");
    assert_eq!(op["tags"][0], "gallery");
    assert!(spec["components"]["schemas"]["GalleryList"].is_object());
    server.stop().await;
}

#[tokio::test]
async fn pages_and_filters() {
    let server = Server::start().await;
    let mut made = Vec::new();
    for n in 0..5 {
        made.push(store(&server, &server.token, &format!("Poster{n}"), true).await);
    }
    store(&server, &server.token, "PosterPrivate", false).await;
    made.reverse(); // newest first

    let page: Value = gallery(&server, "?perPage=2", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&page), made[..2]);
    assert_eq!(
        page["_metainfo"],
        json!({"currentPage": 1, "perPage": 2, "hasNext": true, "hasPrev": false})
    );
    let page: Value = gallery(&server, "?perPage=2&page=3", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&page), made[4..]);
    assert_eq!(
        page["_metainfo"],
        json!({"currentPage": 3, "perPage": 2, "hasNext": false, "hasPrev": true})
    );
    let page: Value = gallery(&server, "?perPage=5", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["_metainfo"]["hasNext"], false, "exactly full");
    let page: Value = gallery(&server, "?page=9", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&page), Vec::<String>::new());

    for bad in ["?perPage=0", "?perPage=101", "?page=0", "?page=x"] {
        problem(gallery(&server, bad, None).await, 400).await;
    }

    let page: Value = gallery(&server, "?title=poster3", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![made[1].clone()], "title, any case");
    let patch = client()
        .patch(server.url(&format!("/api/v1/documents/{}", made[0])))
        .bearer_auth(&server.token)
        .header("content-type", "application/merge-patch+json")
        .body(r#"{"tags": ["print"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), StatusCode::OK);
    let page: Value = gallery(&server, "?tag=print", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&page), vec![made[0].clone()]);
    assert_eq!(page["items"][0]["tags"], json!(["print"]));
    server.stop().await;
}
