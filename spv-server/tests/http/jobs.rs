//! Render jobs over HTTP on a real server: enqueue (202, `Location`, idempotency keys),
//! progress as Server-Sent Events read off the wire, outputs with ETags, cancelling a
//! queued and a running job, lists by state, who sees what, spec errors, and jobs given
//! back at shutdown that the next start finishes.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use spv::config::Config;

use super::auth::password_grant;
use super::{Server, header, problem};

/// Four pages, 400 × 200 each, so that renders have something to draw.
const DOC: &str = r##"{"format":"glyph","version":1,"title":"Jobs","pages":[
    {"width":400,"height":200,"background":"#2050f0","layers":[
        {"type":"rect","x":10,"y":10,"width":100,"height":50,"fill":"#ff0000"}]},
    {"width":400,"height":200,"background":"#20f050","layers":[]},
    {"width":400,"height":200,"background":"#f05020","layers":[]},
    {"width":400,"height":200,"background":"#505050","layers":[]}]}"##;

/// The longest a test waits for a job's events.
const PATIENCE: Duration = Duration::from_secs(120);

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

/// Stores [`DOC`] as `token`'s; answers its id.
async fn store(server: &Server, token: &str) -> String {
    let response = client()
        .post(server.url("/api/v1/documents"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(DOC)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let body: Value = response.json().await.unwrap();
    body["id"].as_str().unwrap().to_owned()
}

async fn enqueue(
    server: &Server,
    token: &str,
    spec: &Value,
    key: Option<&str>,
) -> reqwest::Response {
    let mut request = client()
        .post(server.url("/api/v1/jobs/render"))
        .bearer_auth(token)
        .json(spec);
    if let Some(key) = key {
        request = request.header("idempotency-key", key);
    }
    request.send().await.unwrap()
}

/// Enqueues `spec`; checks the 202 and its `Location`; answers the job.
async fn enqueued(server: &Server, token: &str, spec: Value) -> Value {
    let response = enqueue(server, token, &spec, None).await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let location = header(response.headers(), "location").to_owned();
    let job: Value = response.json().await.unwrap();
    let id = job["id"].as_str().unwrap();
    assert_eq!(location, format!("/api/v1/jobs/{id}"));
    assert_eq!(job["kind"], "render");
    assert_eq!(job["payload"]["document"], spec["document"]);
    job
}

async fn get(server: &Server, token: &str, path: &str) -> reqwest::Response {
    client()
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn job(server: &Server, token: &str, id: &str) -> Value {
    let response = get(server, token, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    response.json().await.unwrap()
}

async fn cancel(server: &Server, token: &str, id: &str) -> reqwest::Response {
    client()
        .delete(server.url(&format!("/api/v1/jobs/{id}")))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

/// One Server-Sent Event.
#[derive(Debug)]
struct Event {
    name: String,
    id: String,
    data: Value,
}

/// A job's event stream, read off the connection as it arrives.
struct Events {
    response: reqwest::Response,
    buffer: String,
    comments: usize,
}

impl Events {
    /// Opens `GET /api/v1/jobs/{id}/events` with extra request headers.
    async fn open(server: &Server, token: &str, id: &str, headers: &[(&str, &str)]) -> Events {
        let mut request = client()
            .get(server.url(&format!("/api/v1/jobs/{id}/events")))
            .bearer_auth(token);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(
            header(response.headers(), "content-type"),
            "text/event-stream"
        );
        assert!(
            response.headers().get("content-encoding").is_none(),
            "an event stream is never compressed: {:?}",
            response.headers()
        );
        Events {
            response,
            buffer: String::new(),
            comments: 0,
        }
    }

    /// The next event; `None` when the server ended the stream.
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut id, mut data) = (String::new(), String::new(), Vec::new());
                for line in block.lines() {
                    if line.starts_with(':') {
                        self.comments += 1;
                    } else if let Some(value) = line.strip_prefix("event: ") {
                        name = value.to_owned();
                    } else if let Some(value) = line.strip_prefix("id: ") {
                        id = value.to_owned();
                    } else if let Some(value) = line.strip_prefix("data: ") {
                        data.push(value);
                    }
                }
                if name.is_empty() && data.is_empty() {
                    continue; // A keep-alive comment.
                }
                let data = serde_json::from_str(&data.join("\n")).unwrap();
                return Some(Event { name, id, data });
            }
            let chunk = tokio::time::timeout(PATIENCE, self.response.chunk())
                .await
                .expect("an event or the end of the stream in time")
                .unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// Every event up to the end of the stream.
    async fn rest(mut self) -> Vec<Event> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            events.push(event);
        }
        assert!(
            self.buffer.trim().is_empty(),
            "left over: {:?}",
            self.buffer
        );
        events
    }

    /// Reads until a job in `state`; answers that event.
    async fn until(&mut self, state: &str) -> Event {
        loop {
            let event = self.next().await.expect("the job reaches the state");
            if event.data["state"] == state {
                return event;
            }
        }
    }
}

/// Checks the shape of a whole stream: `progress` events, then one `done` last; ids count
/// from `first_id`. Answers the finished job.
fn check_stream(events: &[Event], first_id: u64) -> Value {
    let (done, progress) = events.split_last().expect("at least the done event");
    assert_eq!(done.name, "done", "{events:?}");
    assert!(progress.iter().all(|e| e.name == "progress"), "{events:?}");
    let ids: Vec<u64> = events.iter().map(|e| e.id.parse().unwrap()).collect();
    let expected: Vec<u64> = (first_id..first_id + events.len() as u64).collect();
    assert_eq!(ids, expected);
    done.data.clone()
}

fn ids(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|job| job["id"].as_str().unwrap())
        .collect()
}

/// A user `name`; answers an access token.
async fn user(server: &Server, name: &str) -> String {
    let response = client()
        .post(server.url("/api/v1/users"))
        .bearer_auth(&server.token)
        .json(&json!({"username": name, "password": "a long password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let tokens: Value = password_grant(server, name, "a long password")
        .await
        .json()
        .await
        .unwrap();
    tokens["access_token"].as_str().unwrap().to_owned()
}

/// A large render: long enough (dozens of big encodes) to still run while a test looks.
fn big(document: &str) -> Value {
    json!({"document": document, "pages": [0, 1, 2, 3], "sizes": [2048, 4096],
        "formats": ["png", "webp", "jpeg"]})
}

#[tokio::test]
async fn render_job_events_outputs_and_cancelling() {
    // One worker, so jobs wait their turn behind a running one.
    let server = Server::start_with(|config| config.job_workers = 1).await;
    // Not the admin, whose lists would show the server's maintenance jobs too.
    let token = user(&server, "bob").await;
    let document = store(&server, &token).await;

    let blocker = enqueued(&server, &token, big(&document)).await;
    let blocker_id = blocker["id"].as_str().unwrap().to_owned();
    // The idle worker may have claimed it before the answer was read.
    assert!(
        ["queued", "running"].contains(&blocker["state"].as_str().unwrap()),
        "{blocker}"
    );
    let mut blocker_events = Events::open(&server, &token, &blocker_id, &[]).await;
    let running = blocker_events.until("running").await;
    assert_eq!(running.name, "progress");

    let spec = json!({"document": document, "pages": [0, 3], "sizes": [64, 100],
        "formats": ["png", "webp"]});
    let wanted = enqueued(&server, &token, spec.clone()).await;
    let wanted_id = wanted["id"].as_str().unwrap().to_owned();
    let doomed = enqueued(&server, &token, spec).await;
    let doomed_id = doomed["id"].as_str().unwrap().to_owned();
    let mut events = Events::open(&server, &token, &wanted_id, &[]).await;
    let first = events.next().await.unwrap();
    assert_eq!((first.name.as_str(), first.id.as_str()), ("progress", "0"));
    assert_eq!(first.data["state"], "queued", "the only worker is busy");

    // A queued job is cancelled at once and never runs.
    let response = cancel(&server, &token, &doomed_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(cancelled["state"], "cancelled");
    // A running one is flagged and stops at its next checkpoint.
    let response = cancel(&server, &token, &blocker_id).await;
    assert_eq!(response.status(), StatusCode::OK);
    let flagged: Value = response.json().await.unwrap();
    assert_eq!(
        (&flagged["state"], &flagged["cancelRequested"]),
        (&json!("running"), &json!(true))
    );
    let rest = blocker_events.rest().await;
    let stopped = check_stream(&rest, running.id.parse::<u64>().unwrap() + 1);
    assert_eq!(stopped["state"], "cancelled");
    assert!(stopped["result"].is_null());

    let mut stream = vec![first];
    stream.extend(events.rest().await);
    let done = check_stream(&stream, 0);
    assert!(stream.len() >= 2, "progress, then done: {stream:?}");
    assert_eq!(done["state"], "succeeded");
    assert_eq!(done["progress"], 1.0);
    assert_eq!(
        done,
        job(&server, &token, &wanted_id).await,
        "as GET answers"
    );

    // Every output: the listed size and format, decodable, cached by ETag.
    let outputs = done["result"]["outputs"].as_array().unwrap().clone();
    assert_eq!(outputs.len(), 2 * 2 * 2, "pages × sizes × formats");
    for (n, output) in outputs.iter().enumerate() {
        let href = format!("/api/v1/jobs/{wanted_id}/outputs/{n}");
        assert_eq!(output["href"], href);
        assert_eq!(output["index"], n);
        let response = get(&server, &token, &href).await;
        assert_eq!(response.status(), StatusCode::OK);
        let format = output["format"].as_str().unwrap();
        assert_eq!(
            header(response.headers(), "content-type"),
            format!("image/{format}")
        );
        assert_eq!(
            header(response.headers(), "cache-control"),
            "private, max-age=31536000, immutable"
        );
        let etag = header(response.headers(), "etag").to_owned();
        assert!(etag.starts_with('"') && etag.len() > 10, "{etag}");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(output["byteSize"], bytes.len());
        let expected = match format {
            "png" => image::ImageFormat::Png,
            "webp" => image::ImageFormat::WebP,
            other => panic!("unexpected format {other}"),
        };
        assert_eq!(image::guess_format(&bytes).unwrap(), expected);
        let decoded = image::load_from_memory_with_format(&bytes, expected).unwrap();
        let size = output["size"].as_u64().unwrap() as u32;
        assert_eq!((decoded.width(), decoded.height()), (size, size / 2));
        assert_eq!(
            (output["width"].as_u64(), output["height"].as_u64()),
            (Some(u64::from(size)), Some(u64::from(size / 2)))
        );

        let again = client()
            .get(server.url(&href))
            .bearer_auth(&token)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(header(again.headers(), "etag"), etag);
        assert!(again.bytes().await.unwrap().is_empty());
    }
    let pages: Vec<u64> = outputs
        .iter()
        .map(|o| o["page"].as_u64().unwrap())
        .collect();
    assert_eq!(pages, [0, 0, 0, 0, 3, 3, 3, 3]);
    problem(
        get(
            &server,
            &token,
            &format!("/api/v1/jobs/{wanted_id}/outputs/8"),
        )
        .await,
        404,
    )
    .await;
    problem(
        get(
            &server,
            &token,
            &format!("/api/v1/jobs/{wanted_id}/outputs/x"),
        )
        .await,
        404,
    )
    .await;
    problem(
        get(
            &server,
            &token,
            &format!("/api/v1/jobs/{doomed_id}/outputs/0"),
        )
        .await,
        409,
    )
    .await;

    // The cancelled queued job never ran.
    let never = job(&server, &token, &doomed_id).await;
    assert_eq!(never["state"], "cancelled");
    assert_eq!(never["attempts"], 0);
    assert!(never["startedAt"].is_null(), "{never}");
    // A finished job cannot be cancelled.
    let p = problem(cancel(&server, &token, &wanted_id).await, 409).await;
    assert_eq!(p["type"], "urn:spv:problem:conflict");

    // Lists by state.
    let list = |state: &'static str| {
        let server = &server;
        let token = &token;
        async move {
            let response = get(server, token, &format!("/api/v1/jobs?state={state}")).await;
            assert_eq!(response.status(), StatusCode::OK);
            response.json::<Value>().await.unwrap()
        }
    };
    let cancelled = list("cancelled").await;
    assert_eq!(ids(&cancelled), [doomed_id.as_str(), blocker_id.as_str()]);
    assert_eq!(cancelled["_metainfo"]["currentPage"], 1);
    assert_eq!(ids(&list("succeeded").await), [wanted_id.as_str()]);
    assert!(ids(&list("queued").await).is_empty());
    let response = get(&server, &token, "/api/v1/jobs?perPage=1").await;
    let page: Value = response.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["_metainfo"]["hasNext"], true);
    let p = problem(get(&server, &token, "/api/v1/jobs?state=done").await, 400).await;
    assert!(
        p["detail"].as_str().unwrap().starts_with("state \"done\""),
        "{p}"
    );

    // The blocker's run was counted before the worker took the next job.
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("spv_jobs_total{kind=\"render\",result=\"cancelled\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("spv_job_duration_seconds_count{kind=\"render\"}"));
    server.stop().await;
}

#[tokio::test]
async fn keys_owners_and_spec_errors() {
    let server = Server::start().await;
    let token = server.token.clone();
    let document = store(&server, &token).await;
    let spec = json!({"document": document, "sizes": [32]});

    // The same key answers the same job; another key, another job.
    let first = enqueue(&server, &token, &spec, Some("render-1")).await;
    assert_eq!(first.status(), StatusCode::ACCEPTED);
    let first: Value = first.json().await.unwrap();
    let again = enqueue(&server, &token, &spec, Some("render-1")).await;
    assert_eq!(again.status(), StatusCode::ACCEPTED);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["id"], first["id"]);
    assert_eq!(first["idempotencyKey"], "render-1");
    let other: Value = enqueue(&server, &token, &spec, Some("render-2"))
        .await
        .json()
        .await
        .unwrap();
    assert_ne!(other["id"], first["id"]);
    let long = "k".repeat(201);
    let p = problem(enqueue(&server, &token, &spec, Some(&long)).await, 400).await;
    assert!(
        p["detail"].as_str().unwrap().starts_with("Idempotency-Key"),
        "{p}"
    );

    // Follow it with compression offered: the stream still comes uncompressed.
    let id = first["id"].as_str().unwrap().to_owned();
    let events = Events::open(
        &server,
        &token,
        &id,
        &[("accept-encoding", "gzip, br, zstd")],
    )
    .await;
    let done = check_stream(&events.rest().await, 0);
    assert_eq!(done["state"], "succeeded", "{done}");
    // Every page by default: four outputs of 32 px PNGs.
    assert_eq!(done["result"]["outputs"].as_array().unwrap().len(), 4);

    // Another user sees none of it.
    let ann = user(&server, "ann").await;
    for path in [
        format!("/api/v1/jobs/{id}"),
        format!("/api/v1/jobs/{id}/events"),
        format!("/api/v1/jobs/{id}/outputs/0"),
    ] {
        let p = problem(get(&server, &ann, &path).await, 404).await;
        assert_eq!(p["type"], "urn:spv:problem:not-found");
    }
    problem(cancel(&server, &ann, &id).await, 404).await;
    let list: Value = get(&server, &ann, "/api/v1/jobs")
        .await
        .json()
        .await
        .unwrap();
    assert!(ids(&list).is_empty(), "{list}");
    // Nor may she render the admin's private document.
    let p = problem(enqueue(&server, &ann, &spec, None).await, 404).await;
    assert_eq!(p["type"], "urn:spv:problem:not-found");
    problem(get(&server, &token, "/api/v1/jobs/not-a-uuid").await, 404).await;

    // Unknown documents and bad specs, each naming what is wrong.
    let missing = json!({"document": uuid::Uuid::new_v4()});
    let p = problem(enqueue(&server, &token, &missing, None).await, 404).await;
    assert_eq!(p["instance"], "/api/v1/jobs/render");
    for (body, named) in [
        (json!({"document": document, "sizes": [0]}), "sizes"),
        (json!({"document": document, "sizes": [5000]}), "sizes"),
        (json!({"document": document, "formats": ["gif"]}), "formats"),
        (json!({"document": document, "formats": []}), "formats"),
        (json!({"document": document, "colour": "red"}), "colour"),
        (json!({"sizes": [64]}), "document"),
    ] {
        let p = problem(enqueue(&server, &token, &body, None).await, 400).await;
        assert_eq!(p["type"], "urn:spv:problem:invalid-request", "{body}: {p}");
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains(named), "{body}: {detail}");
    }
    // A page the document lacks is missing (404), as on the thumbnail routes.
    let body = json!({"document": document, "pages": [9]});
    let p = problem(enqueue(&server, &token, &body, None).await, 404).await;
    assert_eq!(p["type"], "urn:spv:problem:not-found", "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("pages[0] is page 9"),
        "{p}"
    );
    let response = client()
        .post(server.url("/api/v1/jobs/render"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    problem(response, 400).await;
    server.stop().await;
}

#[tokio::test]
async fn openapi_lists_job_routes_with_scopes() {
    let server = Server::start().await;
    let spec = server.openapi().await;
    for (path, method, scope) in [
        ("/api/v1/jobs/render", "post", "jobs:write"),
        ("/api/v1/jobs", "get", "jobs:read"),
        ("/api/v1/jobs/{id}", "get", "jobs:read"),
        ("/api/v1/jobs/{id}", "delete", "jobs:write"),
        ("/api/v1/jobs/{id}/events", "get", "jobs:read"),
        ("/api/v1/jobs/{id}/outputs/{index}", "get", "jobs:read"),
    ] {
        let operation = &spec["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is listed");
        assert_eq!(
            operation["security"],
            json!([{"bearer": [scope]}, {"apiKey": [scope]}]),
            "{method} {path}"
        );
    }
    let events = &spec["paths"]["/api/v1/jobs/{id}/events"]["get"]["responses"]["200"];
    assert!(
        events["content"]["text/event-stream"].is_object(),
        "{events}"
    );
    assert!(spec["components"]["schemas"]["RenderJobSpec"].is_object());
    server.stop().await;
}

/// A server with one job worker and the default shutdown timeout on an existing data
/// directory, its settings changed by `change`.
async fn start_in(data: tempfile::TempDir, change: impl FnOnce(&mut Config)) -> Server {
    Server::start_in(data, |config| {
        config.job_workers = 1;
        config.shutdown_timeout_secs = Config::default().shutdown_timeout_secs;
        change(config);
    })
    .await
}

#[tokio::test]
async fn shutdown_gives_running_jobs_back_and_the_next_start_finishes_them() {
    let data = tempfile::tempdir().unwrap();
    // No grace: a job still running at shutdown is given back at once.
    let server = start_in(data, |config| config.shutdown_timeout_secs = 0).await;
    let token = server.token.clone();
    let document = store(&server, &token).await;
    let spec = json!({"document": document, "sizes": [1024, 2048], "formats": ["png", "webp"]});
    let id = enqueued(&server, &token, spec).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut events = Events::open(&server, &token, &id, &[]).await;
    events.until("running").await;
    drop(events);
    let Server {
        stop, task, data, ..
    } = server;
    let _ = stop.unwrap().send(());
    assert!(task.await.unwrap().is_ok());

    // Given back: queued again, the attempt not counted.
    let (db, _) = crate::stack::open_stores(data.path()).await;
    let queue = spv::jobs::JobQueue::new(db.clone(), spv::jobs::QueueConfig::default());
    let released = queue.get(id.parse().unwrap()).await.unwrap();
    assert_eq!(released.state, spv::api::JobState::Queued, "{released:?}");
    assert_eq!(released.attempts, 0);
    db.close().await;

    let server = start_in(data, |_| {}).await;
    let events = Events::open(&server, &server.token, &id, &[]).await;
    let done = check_stream(&events.rest().await, 0);
    assert_eq!(done["state"], "succeeded", "{done}");
    assert_eq!(done["attempts"], 1, "one counted run, to completion");
    let outputs = done["result"]["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 4 * 2 * 2);
    for output in outputs {
        let href = output["href"].as_str().unwrap();
        let response = get(&server, &server.token, href).await;
        assert_eq!(response.status(), StatusCode::OK, "{href}");
        assert_eq!(output["byteSize"], response.bytes().await.unwrap().len());
    }
    server.stop().await;
}
