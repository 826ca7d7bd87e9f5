//! `/docs` opened in headless Chromium: the embedded Scalar UI renders the operations of
//! `/openapi.json` with no network beyond the server itself.
//!
//! Needs `chromium` on `PATH` (Debian's package; `.ci/run` installs it). Without it the
//! test is skipped with a message, except under `CI=true`, where it fails.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Server;

/// The longest a Chromium run may take before it is killed.
const CHROMIUM_DEADLINE: Duration = Duration::from_secs(120);

fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
}

/// Runs Chromium on `url` and returns the DOM it dumps once the page settled.
fn dump_dom(chromium: PathBuf, url: String) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut child = Command::new(chromium)
        .args([
            "--headless=new",
            "--disable-gpu",
            "--no-sandbox",
            "--no-first-run",
            "--disable-dev-shm-usage",
            "--virtual-time-budget=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("chromium starts");
    // Read the pipes on their own threads so a full pipe cannot stall Chromium.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stdout, &mut text).map(|_| text)
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut stderr, &mut text).map(|_| text)
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > CHROMIUM_DEADLINE {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {CHROMIUM_DEADLINE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let dom = out.join().unwrap().unwrap_or_default();
    let log = err.join().unwrap().unwrap_or_default();
    assert!(status.success(), "chromium ended with {status}:\n{log}");
    dom
}

#[tokio::test]
async fn docs_page_lists_the_operations_in_headless_chromium() {
    let Some(chromium) = find_chromium() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "chromium is not on PATH; CI must install it (see .ci/run)"
        );
        eprintln!("skipped: chromium is not on PATH (apt-get install chromium)");
        return;
    };
    let server = Server::start().await;
    let spec = server.openapi().await;
    let bare = reqwest::get(server.url("/docs"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    // Scalar renders the first tag and lazily the rest; the fragment opens the
    // documents tag, in the sidebar and the main column.
    let url = server.url("/docs#tag/documents");
    let dom = tokio::task::spawn_blocking(move || dump_dom(chromium, url))
        .await
        .unwrap();
    let text = visible_text(&dom);

    for tag in spec["tags"].as_array().unwrap() {
        let name = tag["name"].as_str().unwrap();
        assert!(
            text.contains(name),
            "tag {name} is not on the page:\n{text}"
        );
    }
    let mut listed = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if !op["tags"]
                .as_array()
                .is_some_and(|tags| tags.iter().any(|t| t == "documents"))
            {
                continue;
            }
            let summary = op["summary"].as_str().unwrap();
            let summary = summary.split_whitespace().collect::<Vec<_>>().join(" ");
            let summary = summary.trim_end_matches('.');
            assert!(
                !bare.contains(summary),
                "the bare page already holds {summary:?}"
            );
            assert!(
                text.contains(summary) || text.contains(&summary.replace('`', "")),
                "{method} {path}: its summary {summary:?} is not on the page:\n{text}"
            );
            listed += 1;
        }
    }
    assert!(listed >= 8, "only {listed} document operations in the spec");
    assert!(
        text.contains("post /api/v1/documents") || text.contains("POST /api/v1/documents"),
        "an operation rendered with its method and path:\n{text}"
    );
    server.stop().await;
}

/// The text of serialized HTML: tags dropped, the entities a serializer writes decoded,
/// whitespace collapsed.
fn visible_text(html: &str) -> String {
    let mut text = String::with_capacity(html.len() / 4);
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&nbsp;", " ")
        .replace('\u{a0}', " ")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}
