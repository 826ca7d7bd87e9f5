//! Remote mode: the real `spv-cli` binary against a real server (`spv_server::run` on
//! 127.0.0.1:0 with a temporary data directory), each test with its own server and its
//! own configuration directory.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use image::{GenericImageView, ImageFormat};
use serde_json::Value;
use spv::config::Config;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The first admin's password (`SPV_ADMIN_PASSWORD`).
const ADMIN_PASSWORD: &str = "correct horse battery";

/// A 400 × 200 page, blue background, a red rectangle.
const WIDE: &str = r##"{"format":"glyph","version":1,"title":"Wide","pages":[
    {"width":400,"height":200,"background":"#2050f0","layers":[
        {"type":"rect","x":10,"y":10,"width":100,"height":50,"fill":"#ff0000"}]}]}"##;

/// Two pages: 100 × 300 and 300 × 100.
const TWO_PAGES: &str = r##"{"format":"glyph","version":1,"title":"Two","pages":[
    {"width":100,"height":300,"background":"#000000","layers":[]},
    {"width":300,"height":100,"background":"#ffffff","layers":[]}]}"##;

/// The real server on its own runtime, stopped (and checked) on drop.
struct Server {
    base: String,
    runtime: tokio::runtime::Runtime,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _data: tempfile::TempDir,
}

impl Server {
    /// Binds first, then spawns: the socket accepts before the first command runs.
    fn start() -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let data = tempfile::tempdir().unwrap();
        let config = Config {
            data_dir: data.path().to_owned(),
            job_workers: 2,
            shutdown_timeout_secs: 5,
            admin_password: Some(ADMIN_PASSWORD.to_owned()),
            ..Config::default()
        };
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = runtime.spawn(spv_server::run(config, listener, async {
            let _ = stopped.await;
        }));
        Server {
            base,
            runtime,
            stop: Some(stop),
            task: Some(task),
            _data: data,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let result = self.runtime.block_on(task);
            if !std::thread::panicking() {
                let result = result.expect("the server task ran to its end");
                assert!(result.is_ok(), "the server ended with {result:?}");
            }
        }
    }
}

/// A user of the CLI: a working directory and a configuration directory of their own,
/// talking to one server.
struct User {
    tmp: tempfile::TempDir,
    server: String,
}

impl User {
    fn new(server: &Server) -> User {
        User {
            tmp: tempfile::tempdir().unwrap(),
            server: server.base.clone(),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Where `spv-cli login` keeps the login (SPV_CONFIG_DIR).
    fn credentials(&self) -> PathBuf {
        self.path("config/credentials.json")
    }

    /// Runs `spv-cli --server <server> args...` with the extra environment `env`.
    fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = Command::new(env!("CARGO_BIN_EXE_spv-cli"));
        command
            .args(["--server", &self.server])
            .args(args)
            .current_dir(self.tmp.path())
            .env("SPV_CONFIG_DIR", self.path("config"))
            .env("HOME", self.tmp.path())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("SPV_SERVER")
            .env_remove("SPV_API_KEY")
            .env_remove("SPV_PASSWORD")
            .env_remove("SPV_USERNAME")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null());
        for (name, value) in env {
            command.env(name, value);
        }
        let output = command.output().expect("spv-cli runs");
        Run {
            args: args.iter().map(|a| a.to_string()).collect(),
            output,
        }
    }

    fn run(&self, args: &[&str]) -> Run {
        self.run_env(args, &[])
    }

    /// Logs in as the admin, the password through SPV_PASSWORD.
    fn login(&self) {
        self.run_env(&["login"], &[("SPV_PASSWORD", ADMIN_PASSWORD)])
            .expect_code(0)
            .expect_stderr_contains("logged in to");
    }

    /// The stored refresh token.
    fn stored_token(&self) -> String {
        let file: Value =
            serde_json::from_slice(&std::fs::read(self.credentials()).unwrap()).unwrap();
        file["refreshToken"].as_str().unwrap().to_owned()
    }

    /// Uploads `contents` as a document and gives its id.
    fn put_document(&self, name: &str, contents: &str) -> String {
        self.write(name, contents);
        let put = self.run(&["documents", "put", name, "--json"]);
        put.expect_code(0);
        put.json()["id"].as_str().unwrap().to_owned()
    }
}

struct Run {
    args: Vec<String>,
    output: Output,
}

impl Run {
    fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    fn show(&self) -> String {
        format!(
            "spv-cli {}\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.args.join(" "),
            self.stdout(),
            self.stderr()
        )
    }

    /// Panics, showing the command and both outputs, unless it exited with `code`.
    fn expect_code(&self, code: i32) -> &Self {
        let got = self.output.status.code();
        assert_eq!(
            got,
            Some(code),
            "\n\nexpected exit code {code}, got {got:?}\n{}",
            self.show()
        );
        self
    }

    fn expect_stderr_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stderr().contains(needle),
            "\n\nexpected stderr to contain:\n  {needle}\n{}",
            self.show()
        );
        self
    }

    fn expect_stdout_contains(&self, needle: &str) -> &Self {
        assert!(
            self.stdout().contains(needle),
            "\n\nexpected stdout to contain:\n  {needle}\n{}",
            self.show()
        );
        self
    }

    /// Stdout parsed as JSON.
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.show()))
    }
}

/// Decodes an image file, checking its format, and gives its size.
fn image_size(path: &Path, format: ImageFormat) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        image::guess_format(&bytes).ok(),
        Some(format),
        "{}",
        path.display()
    );
    image::load_from_memory_with_format(&bytes, format)
        .expect("a decodable image")
        .dimensions()
}

#[test]
fn login_keeps_a_private_token_that_rotates_and_logout_forgets_it() {
    let server = Server::start();
    let user = User::new(&server);
    user.login();

    let path = user.credentials();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        !text.contains(ADMIN_PASSWORD),
        "no password stored:\n{text}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the credentials file's mode");
        let dir = std::fs::metadata(path.parent().unwrap()).unwrap();
        assert_eq!(
            dir.permissions().mode() & 0o777,
            0o700,
            "the directory's mode"
        );
    }
    let first = user.stored_token();
    assert!(!first.is_empty());

    // Each command refreshes with the (single-use) stored token and keeps the rotated
    // one: the next command only works if it was saved.
    user.run(&["documents", "list"]).expect_code(0);
    let second = user.stored_token();
    assert_ne!(first, second, "the rotated refresh token was saved");
    user.run(&["documents", "list"]).expect_code(0);
    let third = user.stored_token();
    assert_ne!(second, third);

    // Without --server, the commands use the server of the login.
    let mut command = Command::new(env!("CARGO_BIN_EXE_spv-cli"));
    let output = command
        .args(["documents", "list", "--json"])
        .env("SPV_CONFIG_DIR", user.path("config"))
        .env_remove("SPV_SERVER")
        .env_remove("SPV_API_KEY")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    user.run(&["logout"])
        .expect_code(0)
        .expect_stderr_contains("logged out of");
    assert!(!path.exists());
    user.run(&["documents", "list"])
        .expect_code(2)
        .expect_stderr_contains("not logged in to");
}

#[test]
fn login_needs_a_password_and_refuses_a_wrong_one() {
    let server = Server::start();
    let user = User::new(&server);
    // No terminal (stdin is null, stderr a pipe) and no SPV_PASSWORD.
    user.run(&["login"])
        .expect_code(2)
        .expect_stderr_contains("SPV_PASSWORD");
    user.run_env(&["login"], &[("SPV_PASSWORD", "wrong password")])
        .expect_code(2)
        .expect_stderr_contains("logging in as \"admin\"");
    assert!(
        !user.credentials().exists(),
        "nothing stored for a failed login"
    );
    user.run(&["--server", "ftp://x", "documents", "list"])
        .expect_code(2)
        .expect_stderr_contains("--server");
}

#[test]
fn documents_put_list_get_replace_and_delete() {
    let server = Server::start();
    let user = User::new(&server);
    user.login();
    user.write("wide.glyph", WIDE);

    let put = user.run(&[
        "documents",
        "put",
        "wide.glyph",
        "--title",
        "Banner",
        "--tag",
        "web",
        "--tag",
        "ads",
        "--json",
    ]);
    put.expect_code(0)
        .expect_stderr_contains("created document");
    let doc = put.json();
    let id = doc["id"].as_str().unwrap().to_owned();
    assert_eq!(doc["title"], "Banner");
    assert_eq!(doc["tags"], serde_json::json!(["web", "ads"]));
    let created_version = doc["version"].as_i64().unwrap();

    let list = user.run(&["documents", "list", "--tag", "web", "--json"]);
    list.expect_code(0);
    let items = list.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], id.as_str());
    let none = user.run(&["documents", "list", "--tag", "other", "--json"]);
    none.expect_code(0);
    assert!(none.json()["items"].as_array().unwrap().is_empty());
    user.run(&["documents", "list"])
        .expect_code(0)
        .expect_stdout_contains("Banner")
        .expect_stdout_contains(&id);

    user.run(&["documents", "get", &id])
        .expect_code(0)
        .expect_stdout_contains("Banner")
        .expect_stdout_contains("400×200");
    user.run(&["documents", "get", &id, "-o", "copy.glyph"])
        .expect_code(0);
    assert_eq!(
        std::fs::read(user.path("copy.glyph")).unwrap(),
        WIDE.as_bytes()
    );
    user.run(&["documents", "get", &id, "--content"])
        .expect_code(0)
        .expect_stdout_contains("\"background\":\"#2050f0\"");

    // Replace the content; a stale If-Match is refused and changes nothing.
    user.write("two.glyph", TWO_PAGES);
    let etag = doc_etag(&user, &id);
    let replaced = user.run(&[
        "documents",
        "put",
        "two.glyph",
        "--id",
        &id,
        "--if-match",
        &etag,
        "--title",
        "Two",
        "--json",
    ]);
    replaced.expect_code(0);
    let replaced = replaced.json();
    assert_eq!(replaced["pages"].as_array().unwrap().len(), 2);
    assert_eq!(replaced["title"], "Two");
    assert!(replaced["version"].as_i64().unwrap() > created_version);
    user.run(&[
        "documents",
        "put",
        "wide.glyph",
        "--id",
        &id,
        "--if-match",
        &etag,
    ])
    .expect_code(2)
    .expect_stderr_contains(&format!("replacing the content of document {id}"));

    user.run(&["documents", "delete", &id]).expect_code(0);
    user.run(&["documents", "get", &id])
        .expect_code(2)
        .expect_stderr_contains(&format!("reading document {id} on {}", server.base));
    user.run(&["documents", "get", "not-an-id"])
        .expect_code(2)
        .expect_stderr_contains("\"not-an-id\" is not a document id");
}

/// The document's current ETag, as `documents get` prints it.
fn doc_etag(user: &User, id: &str) -> String {
    let got = user.run(&["documents", "get", id]);
    got.expect_code(0);
    got.stdout()
        .lines()
        .find_map(|line| line.strip_prefix("etag").map(|rest| rest.trim().to_owned()))
        .unwrap_or_else(|| panic!("an etag line\n{}", got.show()))
}

#[test]
fn assets_upload_get_list_and_delete() {
    let server = Server::start();
    let user = User::new(&server);
    user.login();

    let logo = image::RgbaImage::from_pixel(24, 16, image::Rgba([255, 200, 0, 255]));
    logo.save_with_format(user.path("logo.png"), ImageFormat::Png)
        .unwrap();
    let bytes = std::fs::read(user.path("logo.png")).unwrap();

    // One file of the batch cannot be read: the other is still uploaded, exit 1.
    let upload = user.run(&["assets", "upload", "missing.png", "logo.png", "--json"]);
    upload
        .expect_code(1)
        .expect_stderr_contains("opening missing.png");
    let uploaded = upload.json();
    let uploaded = uploaded.as_array().unwrap();
    assert_eq!(uploaded.len(), 1);
    let id = uploaded[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(uploaded[0]["width"], 24);
    assert_eq!(uploaded[0]["filename"], "logo.png");

    // The same bytes again: the existing asset.
    user.run(&["assets", "upload", "logo.png"])
        .expect_code(0)
        .expect_stdout_contains(&id)
        .expect_stdout_contains("no (had it)");

    user.run(&["assets", "get", &id, "-o", "copy.png"])
        .expect_code(0);
    assert_eq!(std::fs::read(user.path("copy.png")).unwrap(), bytes);

    let list = user.run(&["assets", "list", "--json"]);
    list.expect_code(0);
    assert_eq!(list.json()["items"][0]["id"], id.as_str());

    user.run(&["assets", "delete", &id]).expect_code(0);
    let list = user.run(&["assets", "list", "--json"]);
    assert!(list.json()["items"].as_array().unwrap().is_empty());
    user.run(&["assets", "get", &id, "-o", "gone.png"])
        .expect_code(2)
        .expect_stderr_contains(&format!("downloading asset {id}"));
    assert!(
        !user.path("gone.png").exists(),
        "no file for a failed download"
    );
}

#[test]
fn thumbnails_of_stored_documents() {
    let server = Server::start();
    let user = User::new(&server);
    user.login();
    let id = user.put_document("wide.glyph", WIDE);

    user.run(&["thumbnail", &id, "--size", "128", "-o", "t.png"])
        .expect_code(0);
    assert_eq!(image_size(&user.path("t.png"), ImageFormat::Png), (128, 64));
    // The format follows the extension.
    user.run(&["thumbnail", &id, "--size", "64", "-o", "t.webp"])
        .expect_code(0);
    assert_eq!(
        image_size(&user.path("t.webp"), ImageFormat::WebP),
        (64, 32)
    );
    // A page that does not exist is a usage error.
    user.run(&["thumbnail", &id, "--page", "3", "-o", "p3.png"])
        .expect_code(2)
        .expect_stderr_contains("rendering page 3");
    assert!(!user.path("p3.png").exists());
}

#[test]
fn render_jobs_wait_watch_and_download_their_outputs() {
    let server = Server::start();
    let user = User::new(&server);
    user.login();
    let id = user.put_document("two.glyph", TWO_PAGES);

    let render = user.run(&[
        "jobs",
        "render",
        &id,
        "--pages",
        "0,1",
        "--sizes",
        "64,128",
        "--formats",
        "png,webp",
        "--wait",
        "--out-dir",
        "out",
        "--json",
    ]);
    render.expect_code(0).expect_stderr_contains("succeeded");
    let job = render.json();
    assert_eq!(job["state"], "succeeded");
    let outputs = job["result"]["outputs"].as_array().unwrap();
    assert_eq!(outputs.len(), 8);
    for (page, size, (w, h)) in [
        (0, 64, (21, 64)),
        (0, 128, (43, 128)),
        (1, 64, (64, 21)),
        (1, 128, (128, 43)),
    ] {
        for (ext, format) in [("png", ImageFormat::Png), ("webp", ImageFormat::WebP)] {
            let path = user.path(&format!("out/{id}-p{page}-{size}.{ext}"));
            assert_eq!(image_size(&path, format), (w, h), "{}", path.display());
        }
    }

    // Without --wait: the job is enqueued; watch follows it to its end.
    let enqueued = user.run(&["jobs", "render", &id, "--sizes", "32", "--json"]);
    enqueued.expect_code(0);
    let job_id = enqueued.json()["id"].as_str().unwrap().to_owned();
    let watched = user.run(&["jobs", "watch", &job_id, "--out-dir", "watched", "--json"]);
    watched.expect_code(0);
    assert_eq!(watched.json()["state"], "succeeded");
    assert_eq!(
        image_size(
            &user.path(&format!("watched/{id}-p1-32.png")),
            ImageFormat::Png
        ),
        (32, 11)
    );

    user.run(&["jobs", "status", &job_id])
        .expect_code(0)
        .expect_stdout_contains("succeeded")
        .expect_stdout_contains(&format!("/api/v1/jobs/{job_id}/outputs/0"));
    let list = user.run(&["jobs", "list", "--state", "succeeded", "--json"]);
    list.expect_code(0);
    // An admin also sees the server's own maintenance jobs.
    let renders = list.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|job| job["kind"] == "render")
        .count();
    assert_eq!(renders, 2);
    user.run(&["jobs", "list", "--state", "nope"])
        .expect_code(2)
        .expect_stderr_contains("not a job state");
    // A finished job cannot be cancelled.
    user.run(&["jobs", "cancel", &job_id])
        .expect_code(2)
        .expect_stderr_contains(&format!("cancelling job {job_id}"));
}

#[test]
fn keys_created_on_the_server_work_until_revoked() {
    let server = Server::start();
    let user = User::new(&server);
    user.login();
    user.put_document("wide.glyph", WIDE);

    let created = user.run(&[
        "keys",
        "create",
        "--name",
        "ci",
        "--scope",
        "documents:read",
        "--scope",
        "jobs:read",
    ]);
    created
        .expect_code(0)
        .expect_stderr_contains("shown only once");
    let key = created.stdout().trim().to_owned();
    assert!(key.starts_with("spv_"), "{key}");

    // A second user with only the key, no login.
    let ci = User::new(&server);
    let list = ci.run_env(&["documents", "list", "--json"], &[("SPV_API_KEY", &key)]);
    list.expect_code(0);
    assert_eq!(list.json()["items"].as_array().unwrap().len(), 1);
    // The key's scopes hold: no writes.
    ci.write("wide.glyph", WIDE);
    ci.run_env(
        &["documents", "put", "wide.glyph"],
        &[("SPV_API_KEY", &key)],
    )
    .expect_code(2)
    .expect_stderr_contains("lacks a scope");

    let keys = user.run(&["keys", "list", "--json"]);
    keys.expect_code(0);
    let keys = keys.json();
    let listed = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == "ci")
        .expect("the key is listed")
        .clone();
    assert!(
        !keys.to_string().contains(&key),
        "a list never shows the secret"
    );
    let key_id = listed["id"].as_str().unwrap().to_owned();
    user.run(&["keys", "list"])
        .expect_code(0)
        .expect_stdout_contains("active");

    user.run(&["keys", "revoke", &key_id])
        .expect_code(0)
        .expect_stderr_contains("revoked key");
    ci.run_env(&["documents", "list"], &[("SPV_API_KEY", &key)])
        .expect_code(2)
        .expect_stderr_contains("the server refused the API key");
    user.run(&["keys", "list"])
        .expect_code(0)
        .expect_stdout_contains("revoked");

    // The local-database flags make no sense remotely.
    user.run(&["keys", "list", "--user", "bob"])
        .expect_code(2)
        .expect_stderr_contains("--user is for keys in a local database");
}
