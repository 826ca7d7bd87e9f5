//! Runs the real `spv-cli` binary in a fresh temporary directory per test.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use image::{GenericImageView, ImageFormat};

/// A 400 × 200 page, blue background, a red rectangle.
const WIDE: &str = r##"{"format":"glyph","version":1,"title":"Wide","pages":[
    {"width":400,"height":200,"background":"#2050f0","layers":[
        {"type":"rect","x":10,"y":10,"width":100,"height":50,"fill":"#ff0000"}]}]}"##;

/// Two pages: 400 × 200 and 100 × 300, with a group, a clip and an inline image asset.
const POSTER: &str = r##"{"format":"glyph","version":1,"title":"Launch poster",
  "assets":{"dot":{"type":"image","src":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="},
            "logo":{"type":"image","src":"img/logo.png"}},
  "pages":[
    {"id":"cover","name":"Cover","width":400,"height":200,"background":"#ffffff","layers":[
        {"type":"rect","x":0,"y":0,"width":40,"height":40,"fill":"#00ff00"},
        {"type":"group","clip":{"type":"ellipse","cx":50,"cy":50,"rx":40,"ry":40},"children":[
            {"type":"ellipse","cx":50,"cy":50,"rx":30,"ry":20,"fill":"#ff0000"},
            {"type":"image","asset":"dot","x":0,"y":0,"width":10,"height":10},
            {"type":"image","asset":"logo","x":100,"y":0,"width":50,"height":50}]}]},
    {"id":"back","width":100,"height":300,"background":"#000000","layers":[]}]}"##;

/// Breaks the format: a bad colour and a negative width.
const BAD: &str = r##"{"format":"glyph","version":1,"pages":[{"width":100,"height":100,"layers":[
    {"type":"rect","x":0,"y":0,"width":10,"height":10,"fill":"#ggg"}]}]}"##;

struct Dir {
    tmp: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            tmp: tempfile::tempdir().expect("a temporary directory"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.tmp.path().join(name)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// The poster and the logo file its `img/logo.png` asset names, in `dir`.
    fn write_poster(&self, dir: &str) -> PathBuf {
        let logo = image::RgbaImage::from_pixel(8, 8, image::Rgba([255, 200, 0, 255]));
        let logo_path = self.path(&format!("{dir}/img/logo.png"));
        std::fs::create_dir_all(logo_path.parent().unwrap()).unwrap();
        logo.save_with_format(&logo_path, ImageFormat::Png).unwrap();
        self.write(&format!("{dir}/poster.glyph"), POSTER)
    }

    fn run(&self, args: &[&str]) -> Run {
        let output = Command::new(env!("CARGO_BIN_EXE_spv-cli"))
            .args(args)
            .current_dir(self.tmp.path())
            .env_remove("RUST_LOG")
            // Local mode: no server from the environment.
            .env_remove("SPV_SERVER")
            .env_remove("SPV_API_KEY")
            .stdin(Stdio::null())
            .output()
            .expect("spv-cli runs");
        Run {
            args: args.iter().map(|a| a.to_string()).collect(),
            output,
        }
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

    /// Panics, showing the command and both outputs, unless it exited with `code`.
    fn expect_code(&self, code: i32) -> &Self {
        let got = self.output.status.code();
        assert_eq!(
            got,
            Some(code),
            "\n\nspv-cli {}\nexpected exit code {code}, got {got:?}\n\n--- stdout ---\n{}\n--- stderr ---\n{}\n",
            self.args.join(" "),
            self.stdout(),
            self.stderr()
        );
        self
    }

    fn expect_stderr_contains(&self, needle: &str) -> &Self {
        let stderr = self.stderr();
        assert!(
            stderr.contains(needle),
            "\n\nspv-cli {}\nexpected stderr to contain:\n  {needle}\ngot stderr:\n{stderr}\n",
            self.args.join(" ")
        );
        self
    }

    fn expect_stdout_contains(&self, needle: &str) -> &Self {
        let stdout = self.stdout();
        assert!(
            stdout.contains(needle),
            "\n\nspv-cli {}\nexpected stdout to contain:\n  {needle}\ngot stdout:\n{stdout}\n--- stderr ---\n{}\n",
            self.args.join(" "),
            self.stderr()
        );
        self
    }
}

/// Decodes an image file, checking its format, and gives it back.
fn decode(path: &Path, format: ImageFormat) -> image::DynamicImage {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    decode_bytes(&bytes, format)
}

fn decode_bytes(bytes: &[u8], format: ImageFormat) -> image::DynamicImage {
    assert_eq!(
        image::guess_format(bytes).ok(),
        Some(format),
        "the file's format"
    );
    image::load_from_memory_with_format(bytes, format).expect("a decodable image")
}

#[test]
fn renders_one_document_to_a_png_of_the_right_size() {
    let dir = Dir::new();
    dir.write("wide.glyph", WIDE);
    dir.run(&["render", "wide.glyph", "--size", "100", "-o", "out.png"])
        .expect_code(0)
        .expect_stderr_contains("rendered 1 thumbnail from 1 document in ");
    let img = decode(&dir.path("out.png"), ImageFormat::Png);
    assert_eq!(img.dimensions(), (100, 50));
    assert_eq!(
        img.get_pixel(90, 45).0,
        [0x20, 0x50, 0xf0, 255],
        "the background"
    );
}

#[test]
fn writes_next_to_the_document_by_default() {
    let dir = Dir::new();
    dir.write("docs/wide.glyph", WIDE);
    dir.run(&["render", "docs/wide.glyph", "--size", "64"])
        .expect_code(0);
    let img = decode(&dir.path("docs/wide.png"), ImageFormat::Png);
    assert_eq!(img.dimensions(), (64, 32));
}

#[test]
fn webp_and_jpeg() {
    let dir = Dir::new();
    dir.write("wide.glyph", WIDE);
    dir.run(&["render", "wide.glyph", "-s", "80", "--format", "webp"])
        .expect_code(0);
    assert_eq!(
        decode(&dir.path("wide.webp"), ImageFormat::WebP).dimensions(),
        (80, 40)
    );

    // The format follows -o's extension.
    dir.run(&["render", "wide.glyph", "-s", "80", "-o", "thumb.jpeg"])
        .expect_code(0);
    assert_eq!(
        decode(&dir.path("thumb.jpeg"), ImageFormat::Jpeg).dimensions(),
        (80, 40)
    );

    dir.run(&["render", "wide.glyph", "-s", "60", "--format", "jpeg"])
        .expect_code(0);
    assert_eq!(
        decode(&dir.path("wide.jpg"), ImageFormat::Jpeg).dimensions(),
        (60, 30)
    );
}

#[test]
fn width_height_and_fit() {
    let dir = Dir::new();
    dir.write("wide.glyph", WIDE);
    for fit in ["contain", "cover", "fill"] {
        let out = format!("{fit}.png");
        let args = [
            "render",
            "wide.glyph",
            "--width",
            "50",
            "--height",
            "80",
            "--fit",
            fit,
            "-o",
            &out,
        ];
        dir.run(&args).expect_code(0);
        let img = decode(&dir.path(&out), ImageFormat::Png);
        assert_eq!(img.dimensions(), (50, 80), "--fit {fit}");
        // The 2:1 page in a 50 × 80 box: letterboxed (transparent above and below) by
        // contain, covering the whole box otherwise.
        let corner_alpha = img.get_pixel(0, 0).0[3];
        let expected = if fit == "contain" { 0 } else { 255 };
        assert_eq!(
            corner_alpha, expected,
            "alpha of the top-left pixel with --fit {fit}"
        );
    }
}

#[test]
fn all_pages_are_named_with_their_zero_based_index() {
    let dir = Dir::new();
    dir.write_poster("docs");
    dir.run(&[
        "render",
        "docs/poster.glyph",
        "--all-pages",
        "--size",
        "60",
        "--out-dir",
        "out",
    ])
    .expect_code(0)
    .expect_stderr_contains("rendered 2 thumbnails from 1 document");
    assert_eq!(
        decode(&dir.path("out/poster-p0.png"), ImageFormat::Png).dimensions(),
        (60, 30)
    );
    assert_eq!(
        decode(&dir.path("out/poster-p1.png"), ImageFormat::Png).dimensions(),
        (20, 60)
    );
}

#[test]
fn page_picks_one_page_counted_from_zero() {
    let dir = Dir::new();
    dir.write_poster("docs");
    dir.run(&[
        "render",
        "docs/poster.glyph",
        "--page",
        "1",
        "--size",
        "30",
        "-o",
        "back.png",
    ])
    .expect_code(0);
    let img = decode(&dir.path("back.png"), ImageFormat::Png);
    assert_eq!(img.dimensions(), (10, 30));
    assert_eq!(
        img.get_pixel(5, 15).0,
        [0, 0, 0, 255],
        "page 1's black background"
    );
}

#[test]
fn a_batch_goes_on_past_a_bad_document_and_exits_1() {
    let dir = Dir::new();
    dir.write("docs/wide.glyph", WIDE);
    dir.write_poster("docs/sub");
    dir.write("docs/sub/bad.glyph", BAD);
    dir.write("docs/notes.txt", "not a document");
    let run = dir.run(&["render", "docs", "-s", "40", "-j", "2"]);
    run.expect_code(1)
        .expect_stderr_contains(&format!(
            "spv-cli: {}: ",
            Path::new("docs/sub/bad.glyph").display()
        ))
        .expect_stderr_contains("is not a colour")
        .expect_stderr_contains("rendered 2 thumbnails from 3 documents in ")
        .expect_stderr_contains(", 1 failed");
    assert_eq!(
        decode(&dir.path("docs/wide.png"), ImageFormat::Png).dimensions(),
        (40, 20)
    );
    assert_eq!(
        decode(&dir.path("docs/sub/poster.png"), ImageFormat::Png).dimensions(),
        (40, 20)
    );
    assert!(
        !dir.path("docs/sub/bad.png").exists(),
        "nothing written for the bad document"
    );
}

#[test]
fn globs_are_expanded_when_the_shell_did_not() {
    let dir = Dir::new();
    dir.write("docs/a.glyph", WIDE);
    dir.write("docs/b.glyph", WIDE);
    dir.run(&["render", "docs/*.glyph", "-s", "20", "--out-dir", "thumbs"])
        .expect_code(0)
        .expect_stderr_contains("rendered 2 thumbnails from 2 documents");
    assert!(dir.path("thumbs/a.png").is_file());
    assert!(dir.path("thumbs/b.png").is_file());
}

#[test]
fn a_missing_input_is_named_and_fails_the_batch() {
    let dir = Dir::new();
    dir.write("wide.glyph", WIDE);
    dir.run(&["render", "wide.glyph", "nope.glyph", "-s", "20"])
        .expect_code(1)
        .expect_stderr_contains("spv-cli: nope.glyph: no such file or directory");
    assert!(dir.path("wide.png").is_file());
}

#[test]
fn output_to_stdout() {
    let dir = Dir::new();
    dir.write("wide.glyph", WIDE);
    let run = dir.run(&["render", "wide.glyph", "-s", "50", "-o", "-"]);
    run.expect_code(0);
    let img = decode_bytes(&run.output.stdout, ImageFormat::Png);
    assert_eq!(img.dimensions(), (50, 25));
}

#[test]
fn validate_prints_each_error_with_its_json_path() {
    let dir = Dir::new();
    dir.write("good.glyph", WIDE);
    dir.write("bad.glyph", BAD);
    dir.run(&["validate", "good.glyph", "bad.glyph"])
        .expect_code(1)
        .expect_stdout_contains("good.glyph: ok")
        .expect_stdout_contains(r##"bad.glyph: pages[0].layers[0].fill: "#ggg" is not a colour"##);
    dir.run(&["validate", "good.glyph"])
        .expect_code(0)
        .expect_stdout_contains("good.glyph: ok");
}

#[test]
fn validate_reports_a_missing_asset_next_to_a_json_document() {
    let dir = Dir::new();
    dir.write("poster.glyph", POSTER);
    dir.run(&["validate", "poster.glyph"])
        .expect_code(1)
        .expect_stdout_contains("poster.glyph: assets.logo: ");
}

#[test]
fn info_shows_pages_nodes_and_assets() {
    let dir = Dir::new();
    dir.write_poster("docs");
    let run = dir.run(&["info", "docs/poster.glyph"]);
    run.expect_code(0)
        .expect_stdout_contains("title:  Launch poster")
        .expect_stdout_contains("pages:  2")
        .expect_stdout_contains("[0] id \"cover\", name \"Cover\", 400 × 200, 6 nodes")
        .expect_stdout_contains("[1] id \"back\", 100 × 300, 0 nodes")
        .expect_stdout_contains("nodes:  6 (rect 1, ellipse 2, image 2, group 1)")
        .expect_stdout_contains("dot: image, data (image/png), 70 bytes")
        .expect_stdout_contains("logo: image, path img/logo.png, ");

    let run = dir.run(&["info", "docs/poster.glyph", "--json"]);
    run.expect_code(0);
    let info: serde_json::Value = serde_json::from_str(&run.stdout()).expect("JSON on stdout");
    assert_eq!(info["pages"][1]["height"], 300);
    assert_eq!(info["nodes"]["byType"]["ellipse"], 2);
    assert_eq!(info["assets"][0]["bytes"], 70);
}

#[test]
fn export_writes_svg() {
    let dir = Dir::new();
    dir.write("wide.glyph", WIDE);
    let run = dir.run(&["export", "wide.glyph", "--format", "svg", "-o", "-"]);
    run.expect_code(0);
    assert!(run.stdout().starts_with("<svg"), "got: {}", run.stdout());

    dir.run(&["export", "wide.glyph", "--format", "svg"])
        .expect_code(0);
    let svg = std::fs::read_to_string(dir.path("wide.svg")).unwrap();
    assert!(svg.starts_with("<svg"), "got: {svg}");
}

#[test]
fn usage_errors_exit_2() {
    let dir = Dir::new();
    dir.write("a.glyph", WIDE);
    dir.write("b.glyph", WIDE);
    dir.run(&["render"])
        .expect_code(2)
        .expect_stderr_contains("Usage");
    dir.run(&["render", "a.glyph", "--fit", "cover"])
        .expect_code(2);
    dir.run(&["render", "a.glyph", "--page", "1", "--all-pages"])
        .expect_code(2);
    dir.run(&["frobnicate"]).expect_code(2);
    dir.run(&["render", "a.glyph", "b.glyph", "-o", "x.png"])
        .expect_code(2)
        .expect_stderr_contains("spv-cli: -o names one output file but 2 documents were given");
    dir.run(&["render", "a.glyph", "-o", "x.gif"])
        .expect_code(2)
        .expect_stderr_contains("cannot tell the format from the extension .gif");
}

#[test]
fn help_documents_zero_based_pages() {
    let dir = Dir::new();
    dir.run(&["render", "--help"])
        .expect_code(0)
        .expect_stdout_contains("counted from 0 as in the JSON path pages[0]");
}

/// A server's data directory with a database and the admin `admin`, as spv-server
/// leaves it after its first start.
async fn server_data_dir(dir: &Dir) -> spv::auth::Auth {
    let data = dir.path("data");
    let db = spv::store::Db::open(None, &data).await.unwrap();
    let secret = spv::auth::JwtSecret::resolve(None, &data).unwrap();
    let auth = spv::auth::Auth::new(db, &secret, spv::auth::AuthConfig::default());
    auth.bootstrap_admin(
        "admin",
        Some(spv::api::Secret::new("correct horse battery")),
    )
    .await
    .unwrap();
    auth
}

#[tokio::test]
async fn keys_create_list_and_revoke_in_the_servers_database() {
    let dir = Dir::new();
    dir.run(&["keys", "list", "--data-dir", "data"])
        .expect_code(2)
        .expect_stderr_contains("no database at data/spv.db");
    let auth = server_data_dir(&dir).await;
    std::fs::remove_file(dir.path("data/jwt_secret")).unwrap();

    let created = dir.run(&[
        "keys",
        "create",
        "--data-dir",
        "data",
        "--name",
        "cdn",
        "--scope",
        "thumbnails:read gallery:read",
        "--expires-in-days",
        "30",
    ]);
    created
        .expect_code(0)
        .expect_stderr_contains("shown only once");
    let key = created.stdout().trim().to_owned();
    assert!(key.starts_with("spv_"), "{key}");
    // The printed key works, with exactly the scopes asked for.
    let principal = auth.authenticate(&key).await.unwrap();
    assert_eq!(principal.scopes.to_string(), "thumbnails:read gallery:read");

    let listed = dir.run(&["keys", "list", "--data-dir", "data", "--json"]);
    listed.expect_code(0);
    let keys: serde_json::Value = serde_json::from_str(&listed.stdout()).unwrap();
    assert_eq!(keys.as_array().unwrap().len(), 1);
    assert_eq!(keys[0]["name"], "cdn");
    assert!(
        !listed.stdout().contains(&key),
        "the secret is never listed"
    );
    let id = keys[0]["id"].as_str().unwrap().to_owned();
    let table = dir.run(&["keys", "list", "--data-dir", "data"]);
    assert!(
        table.stdout().contains(&format!("{id}\tcdn\t")),
        "{}",
        table.stdout()
    );
    assert!(table.stdout().contains("\tactive\t"));

    assert!(
        !dir.path("data/jwt_secret").exists(),
        "keys need no JWT secret: the CLI creates none"
    );
    dir.run(&["keys", "revoke", &id, "--data-dir", "data"])
        .expect_code(0)
        .expect_stderr_contains(&format!("revoked key {id}"));
    let refused = auth.authenticate(&key).await.unwrap_err();
    assert_eq!(refused.kind(), spv::ErrorKind::Unauthenticated);
    let table = dir.run(&["keys", "list", "--data-dir", "data"]);
    assert!(table.stdout().contains("\trevoked\t"), "{}", table.stdout());

    // Clear errors that name the bad input.
    dir.run(&[
        "keys",
        "create",
        "--data-dir",
        "data",
        "--name",
        "x",
        "--scope",
        "everything",
    ])
    .expect_code(2)
    .expect_stderr_contains("unknown scope \"everything\"");
    dir.run(&[
        "keys",
        "create",
        "--data-dir",
        "data",
        "--user",
        "bob",
        "--name",
        "x",
        "--scope",
        "admin",
    ])
    .expect_code(2)
    .expect_stderr_contains("user \"bob\" not found");
    dir.run(&["keys", "revoke", "not-a-uuid", "--data-dir", "data"])
        .expect_code(2)
        .expect_stderr_contains("\"not-a-uuid\" is not a key id");
}

#[test]
fn renderer_cpu_and_verbose_name_the_backend() {
    let dir = Dir::new();
    dir.write("wide.glyph", WIDE);
    let run = dir.run(&[
        "render",
        "wide.glyph",
        "--size",
        "100",
        "-o",
        "cpu.png",
        "--renderer",
        "cpu",
        "--verbose",
    ]);
    run.expect_code(0)
        .expect_stderr_contains("page 0: 100×50 rendered on the CPU in ")
        .expect_stderr_contains("renderer cpu: 0 on the GPU, 1 on the CPU");
    dir.run(&[
        "render",
        "wide.glyph",
        "--size",
        "100",
        "--renderer",
        "vulkan",
    ])
    .expect_code(2)
    .expect_stderr_contains("possible values: auto, cpu, gpu");
}

/// `--renderer gpu` on the machine's adapter (lavapipe in CI): the GPU draws, says how
/// long it took, and the pixels are those of the CPU render where the page is flat.
#[test]
fn renderer_gpu_renders_on_the_gpu_with_its_time() {
    let dir = Dir::new();
    dir.write("wide.glyph", WIDE);
    let run = dir.run(&[
        "render",
        "wide.glyph",
        "--size",
        "100",
        "-o",
        "gpu.png",
        "--renderer",
        "gpu",
        "--verbose",
    ]);
    run.expect_code(0);
    if run.stderr().contains("no usable GPU adapter") {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI installs lavapipe: {}",
            run.stderr()
        );
        eprintln!("skipped: no GPU adapter (install mesa-vulkan-drivers for lavapipe)");
        return;
    }
    run.expect_stderr_contains("page 0: 100×50 rendered on the GPU in ")
        .expect_stderr_contains(", GPU batch ")
        .expect_stderr_contains("renderer gpu: 1 on the GPU, 0 on the CPU; GPU: ");
    let img = decode(&dir.path("gpu.png"), ImageFormat::Png);
    assert_eq!(img.dimensions(), (100, 50));
    assert_eq!(
        img.get_pixel(90, 45).0,
        [0x20, 0x50, 0xf0, 255],
        "the background"
    );
    assert_eq!(
        img.get_pixel(10, 5).0,
        [255, 0, 0, 255],
        "the red rectangle"
    );
}

#[tokio::test]
async fn migrate_applies_the_migrations_once_and_a_no_migrate_start_then_opens() {
    let dir = Dir::new();
    let data = dir.path("data");
    let off = || spv::store::DbOptions {
        migrate: false,
        ..spv::store::DbOptions::default()
    };
    let err = spv::store::Db::open_with(None, &data, off())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("spv-cli migrate"), "{err}");

    let first = dir.run(&["migrate", "--data-dir", "data"]);
    first.expect_code(0).expect_stdout_contains("applied ");
    assert!(first.stdout().lines().count() >= 2, "{}", first.stdout());
    dir.run(&["migrate", "--data-dir", "data"])
        .expect_code(0)
        .expect_stdout_contains("up to date");
    let db = spv::store::Db::open_with(None, &data, off()).await.unwrap();
    assert!(db.pending_migrations().await.unwrap().is_empty());
    db.close().await;

    dir.run(&["migrate", "--database-url", "mysql://x"])
        .expect_code(2)
        .expect_stderr_contains("DATABASE_URL");
}
