//! The job routes: unit checks of their parts, and a render job followed to its end
//! in-process under a mount prefix.

use super::*;

#[test]
fn idempotency_keys_are_limited() {
    let mut headers = HeaderMap::new();
    assert_eq!(idempotency_key(&headers).unwrap(), None);
    headers.insert("idempotency-key", HeaderValue::from_static("abc"));
    assert_eq!(idempotency_key(&headers).unwrap().as_deref(), Some("abc"));
    headers.insert("idempotency-key", HeaderValue::from_static(""));
    let err = idempotency_key(&headers).unwrap_err();
    assert!(err.to_string().starts_with("Idempotency-Key "), "{err}");
    let long = "k".repeat(MAX_IDEMPOTENCY_KEY_CHARS + 1);
    headers.insert("idempotency-key", HeaderValue::from_str(&long).unwrap());
    assert_eq!(
        idempotency_key(&headers).unwrap_err().kind(),
        ErrorKind::InvalidRequest
    );
}

#[test]
fn output_etags_differ_by_job_and_index() {
    let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
    assert_eq!(output_etag(a, 0), output_etag(a, 0));
    assert_ne!(output_etag(a, 0), output_etag(a, 1));
    assert_ne!(output_etag(a, 0), output_etag(b, 0));
}

#[test]
fn specs_name_unknown_fields() {
    let body = Ok(Bytes::from_static(
        br#"{"document": "00000000-0000-0000-0000-000000000001", "colour": 1}"#,
    ));
    let err = spec_from(body).unwrap_err();
    assert_eq!(err.error().kind(), ErrorKind::InvalidRequest);
    assert!(err.error().to_string().contains("colour"), "{err:?}");
    let body = Ok(Bytes::from_static(
        br#"{"document": "00000000-0000-0000-0000-000000000001", "sizes": [64]}"#,
    ));
    assert_eq!(spec_from(body).unwrap().sizes, vec![64]);
    for (body, field) in [
        (&br#"{"document": "nope"}"#[..], "document: "),
        (
            br#"{"document": "00000000-0000-0000-0000-000000000001", "pages": [-1]}"#,
            "pages: ",
        ),
        (
            br#"{"document": "00000000-0000-0000-0000-000000000001", "sizes": "x"}"#,
            "sizes: ",
        ),
        (
            br#"{"document": "00000000-0000-0000-0000-000000000001", "formats": ["gif"]}"#,
            "formats: ",
        ),
        (
            br#"{"document": "00000000-0000-0000-0000-000000000001", "lenient": 1}"#,
            "lenient: ",
        ),
    ] {
        let err = spec_from(Ok(Bytes::from_static(body))).unwrap_err();
        let text = err.error().to_string();
        assert!(
            text.starts_with(&format!("request body: {field}")),
            "{text}"
        );
    }
    let err = spec_from(Ok(Bytes::from_static(b"[1"))).unwrap_err();
    assert!(err.error().to_string().starts_with("request body: "));
}

/// Sends `request` to `app`; answers the status, headers and whole body (an event stream
/// is read to its end).
async fn send(
    app: &Router,
    request: axum::http::Request<Body>,
) -> (StatusCode, HeaderMap, Vec<u8>) {
    use tower::ServiceExt as _;
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = tokio::time::timeout(
        std::time::Duration::from_secs(120),
        axum::body::to_bytes(body, 64 << 20),
    )
    .await
    .expect("the body ends in time")
    .unwrap();
    (parts.status, parts.headers, bytes.to_vec())
}

fn authorized(builder: axum::http::request::Builder, token: &str) -> axum::http::request::Builder {
    builder.header(header::AUTHORIZATION, format!("Bearer {token}"))
}

/// Guards the contract that links follow the mount prefix: `Location`, and each output's
/// `href` in the job, its events and its list (the service stores them unprefixed).
#[tokio::test]
async fn a_render_job_under_a_prefix_links_below_it() {
    use axum::http::Request;
    use serde_json::{Value, json};

    let dir = tempfile::tempdir().unwrap();
    let config = crate::config::Config {
        data_dir: dir.path().to_owned(),
        job_workers: 1,
        admin_password: Some("correct horse battery".to_owned()),
        ..crate::config::Config::default()
    };
    let opened = AppState::open(&config).await.unwrap();
    let app = Router::new().nest("/spv", super::super::api(opened.state.clone()));

    let login = json!({"grant_type": "password", "username": "admin",
        "password": "correct horse battery"});
    let request = Request::post("/spv/api/v1/auth/token")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(login.to_string()))
        .unwrap();
    let (status, _, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    let tokens: Value = serde_json::from_slice(&body).unwrap();
    let token = tokens["access_token"].as_str().unwrap().to_owned();

    let document = r##"{"format":"glyph","version":1,"pages":[
        {"width":40,"height":20,"background":"#ff0000","layers":[]}]}"##;
    let request = authorized(Request::post("/spv/api/v1/documents"), &token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(document))
        .unwrap();
    let (status, _, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::CREATED);
    let document: Value = serde_json::from_slice(&body).unwrap();

    let spec = json!({"document": document["id"], "sizes": [20], "formats": ["png", "jpeg"]});
    let request = authorized(Request::post("/spv/api/v1/jobs/render"), &token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(spec.to_string()))
        .unwrap();
    let (status, headers, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let job: Value = serde_json::from_slice(&body).unwrap();
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(headers[header::LOCATION], format!("/spv/api/v1/jobs/{id}"));

    let events = format!("/spv/api/v1/jobs/{id}/events");
    let request = authorized(Request::get(events.as_str()), &token)
        .body(Body::empty())
        .unwrap();
    let (status, headers, body) = send(&app, request).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "text/event-stream");
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("event: done\n"), "{text}");
    let last = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .next_back();
    let done: Value = serde_json::from_str(last.unwrap()).unwrap();
    assert_eq!(done["state"], "succeeded", "{done}");

    let request = authorized(Request::get(format!("/spv/api/v1/jobs/{id}")), &token)
        .body(Body::empty())
        .unwrap();
    let (_, _, body) = send(&app, request).await;
    let got: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(got, done, "the last event is the job as GET answers it");
    let request = authorized(Request::get("/spv/api/v1/jobs"), &token)
        .body(Body::empty())
        .unwrap();
    let (_, _, body) = send(&app, request).await;
    let list: Value = serde_json::from_slice(&body).unwrap();
    let listed = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["id"] == id.as_str())
        .unwrap();
    assert_eq!(listed["result"], done["result"]);

    let outputs = done["result"]["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 2);
    for (n, (output, content_type)) in outputs.iter().zip(["image/png", "image/jpeg"]).enumerate() {
        let href = format!("/spv/api/v1/jobs/{id}/outputs/{n}");
        assert_eq!(output["href"], href);
        let request = authorized(Request::get(href.as_str()), &token)
            .body(Body::empty())
            .unwrap();
        let (status, headers, bytes) = send(&app, request).await;
        assert_eq!(status, StatusCode::OK, "{href}");
        assert_eq!(headers[header::CONTENT_TYPE], content_type);
        assert_eq!(output["byteSize"], bytes.len());
    }
    opened.shutdown(std::time::Duration::from_secs(5)).await;
}
