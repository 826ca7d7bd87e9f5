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

/// An admin's token from `app` (password `correct horse battery`).
async fn admin_token(app: &Router) -> String {
    use serde_json::{Value, json};
    let login = json!({"grant_type": "password", "username": "admin",
        "password": "correct horse battery"});
    let request = axum::http::Request::post("/api/v1/auth/token")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(login.to_string()))
        .unwrap();
    let (status, _, body) = send(app, request).await;
    assert_eq!(status, StatusCode::OK);
    let tokens: Value = serde_json::from_slice(&body).unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// Creates a one-page document and enqueues a render job of it; answers the job's id.
async fn enqueue_render(app: &Router, token: &str) -> String {
    use axum::http::Request;
    use serde_json::{Value, json};
    let document = r##"{"format":"glyph","version":1,"pages":[
        {"width":40,"height":20,"background":"#ff0000","layers":[]}]}"##;
    let request = authorized(Request::post("/api/v1/documents"), token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(document))
        .unwrap();
    let (status, _, body) = send(app, request).await;
    assert_eq!(status, StatusCode::CREATED);
    let document: Value = serde_json::from_slice(&body).unwrap();
    let spec = json!({"document": document["id"], "sizes": [20], "formats": ["png"]});
    let request = authorized(Request::post("/api/v1/jobs/render"), token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(spec.to_string()))
        .unwrap();
    let (status, _, body) = send(app, request).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let job: Value = serde_json::from_slice(&body).unwrap();
    job["id"].as_str().unwrap().to_owned()
}

async fn job_state(app: &Router, token: &str, id: &str) -> String {
    let request = authorized(
        axum::http::Request::get(format!("/api/v1/jobs/{id}")),
        token,
    )
    .body(Body::empty())
    .unwrap();
    let (status, _, body) = send(app, request).await;
    assert_eq!(status, StatusCode::OK);
    let job: serde_json::Value = serde_json::from_slice(&body).unwrap();
    job["state"].as_str().unwrap().to_owned()
}

fn test_config(dir: &std::path::Path) -> crate::config::Config {
    crate::config::Config {
        data_dir: dir.to_owned(),
        job_workers: 1,
        admin_password: Some("correct horse battery".to_owned()),
        ..crate::config::Config::default()
    }
}

// Jobs render on their own slots (SPV_JOB_RENDER_SLOTS): with every job slot held by
// a slow render, a render job waits there, and a synchronous POST /api/v1/thumbnails
// still renders at once on the request pool instead of answering 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saturated_job_render_slots_leave_synchronous_thumbnails_rendering() {
    use std::sync::{Arc, Condvar, Mutex};
    let dir = tempfile::tempdir().unwrap();
    let config = crate::config::Config {
        job_render_slots: Some(1),
        ..test_config(dir.path())
    };
    let opened = AppState::open(&config).await.unwrap();
    let app = super::super::api(opened.state.clone());
    let token = admin_token(&app).await;
    let job_pool = opened.job_render_pool.clone().unwrap();
    assert_eq!(job_pool.size(), 1);
    assert_eq!(
        opened.state.thumbnails().pool().size(),
        1,
        "SPV_JOB_WORKERS"
    );

    // A slow render holds the only job slot until the gate opens.
    let gate = Arc::new((Mutex::new(false), Condvar::new()));
    let slow = {
        let gate = gate.clone();
        tokio::spawn(job_pool.run(move || {
            let (open, cond) = &*gate;
            let mut open = open.lock().unwrap();
            while !*open {
                open = cond.wait(open).unwrap();
            }
            Ok(())
        }))
    };
    while job_pool.available() > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    let id = enqueue_render(&app, &token).await;
    // The job is claimed and waits for a job slot.
    for _ in 0..200 {
        if job_state(&app, &token, &id).await == "running" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(job_state(&app, &token, &id).await, "running");

    let body = r##"{"document":{"format":"glyph","version":1,
        "pages":[{"width":40,"height":20,"layers":[]}]},"size":20}"##;
    let request = authorized(axum::http::Request::post("/api/v1/thumbnails"), &token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap();
    let (status, headers, _) = send(&app, request).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the request pool is the job's no more"
    );
    assert_eq!(headers[header::CONTENT_TYPE], "image/png");
    assert_eq!(
        job_state(&app, &token, &id).await,
        "running",
        "the job renders on the job slot only"
    );

    *gate.0.lock().unwrap() = true;
    gate.1.notify_all();
    slow.await.unwrap().unwrap();
    for _ in 0..500 {
        if job_state(&app, &token, &id).await == "succeeded" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(job_state(&app, &token, &id).await, "succeeded");
    opened.shutdown(std::time::Duration::from_secs(5)).await;
}

// SPV_ROLE=api: the API is served and jobs are enqueued, but nothing runs them here.
#[tokio::test]
async fn an_api_process_enqueues_jobs_and_runs_none() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::config::Config {
        role: crate::config::Role::Api,
        ..test_config(dir.path())
    };
    let opened = AppState::open(&config).await.unwrap();
    assert!(opened.workers.is_none() && opened.job_render_pool.is_none());
    let app = super::super::api(opened.state.clone());
    let token = admin_token(&app).await;
    let id = enqueue_render(&app, &token).await;
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(
        job_state(&app, &token, &id).await,
        "queued",
        "no worker took it"
    );
    opened.shutdown(std::time::Duration::from_secs(5)).await;

    // A worker process on the same database runs it.
    let config = crate::config::Config {
        role: crate::config::Role::Worker,
        ..config
    };
    let opened = AppState::open(&config).await.unwrap();
    assert!(opened.workers.is_some());
    let queue_job = opened.state.jobs().unwrap().queue().clone();
    let id: Uuid = id.parse().unwrap();
    for _ in 0..1000 {
        if queue_job.get(id).await.unwrap().state == crate::api::JobState::Succeeded {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(
        queue_job.get(id).await.unwrap().state,
        crate::api::JobState::Succeeded
    );
    opened.shutdown(std::time::Duration::from_secs(5)).await;
}

// SPV_ROLE=worker: health, readiness and metrics only; everything else a problem+json 404.
#[tokio::test]
async fn a_worker_process_serves_only_health_ready_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::config::Config {
        role: crate::config::Role::Worker,
        ..test_config(dir.path())
    };
    let opened = AppState::open(&config).await.unwrap();
    let app = super::super::api(opened.state.clone());
    let get = |path: &str| axum::http::Request::get(path).body(Body::empty()).unwrap();
    for path in ["/health", "/ready", "/metrics"] {
        let (status, _, _) = send(&app, get(path)).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    for path in [
        "/api/v1/documents",
        "/api/v1/gallery",
        "/openapi.json",
        "/docs",
    ] {
        let (status, headers, body) = send(&app, get(path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/problem+json");
        let problem: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem["status"], 404, "{problem}");
    }
    let request = axum::http::Request::post("/api/v1/auth/token")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::NOT_FOUND);
    opened.shutdown(std::time::Duration::from_secs(5)).await;
}
