//! End to end: the real `spv-server` binary on 127.0.0.1:0 with a fresh data directory,
//! driven through `spv-client` and the `spv-cli` binary as users drive it.

use std::path::Path;
use std::process::{Command, Output};

use futures_util::StreamExt;
use spv::ErrorKind;
use spv_client::Client;
use spv_client::api::{
    CreateApiKey, CreateDocument, GetAsset, GetDocumentThumbnail, GetJob, GetJobOutput,
    ImageFormat, JobState, Principal, RenderJobResult, RenderJobSpec, RevokeApiKey, Scope, Scopes,
    Secret, ThumbnailSize, UploadAsset, WatchJob,
};
use spv_tests::server::{SpvServer, workspace_bin};

const PASSWORD: &str = "e2e-admin-password-1";

/// A 40×20 PNG, every pixel `rgba`.
fn solid_png(rgba: [u8; 4]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 40, 20);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&rgba.repeat(40 * 20)).unwrap();
    writer.finish().unwrap();
    out
}

/// A 200×100 page filled by the image asset `sha256:<hex>`, over a white background.
fn document_using(sha256: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "format": "glyph",
        "version": 1,
        "title": "End to end",
        "assets": { "swatch": { "type": "image", "src": format!("sha256:{sha256}") } },
        "pages": [
            { "width": 200, "height": 100, "background": "#ffffff",
              "layers": [ { "type": "image", "asset": "swatch", "x": 0, "y": 0,
                            "width": 200, "height": 100 } ] },
            { "width": 100, "height": 100, "background": "#0000ff", "layers": [] }
        ]
    }))
    .unwrap()
}

/// Decodes a PNG or WebP: (width, height, RGBA pixels).
fn decode(bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let image = image::load_from_memory(bytes)
        .expect("a decodable image")
        .to_rgba8();
    (image.width(), image.height(), image.into_raw())
}

fn pixel(image: &(u32, u32, Vec<u8>), x: u32, y: u32) -> [u8; 4] {
    let at = ((y * image.0 + x) * 4) as usize;
    image.2[at..at + 4].try_into().unwrap()
}

/// Runs `spv-cli` with `args` against `server`, authenticated by `SPV_API_KEY`.
fn cli(server: &SpvServer, key: &str, config_dir: &Path, args: &[&str]) -> Output {
    Command::new(workspace_bin("spv-cli"))
        .args(["--server", &server.url()])
        .args(args)
        .env("SPV_API_KEY", key)
        .env("SPV_CONFIG_DIR", config_dir)
        .env_remove("SPV_SERVER")
        .output()
        .expect("run spv-cli")
}

fn check(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what} failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_and_cli_drive_a_real_server() {
    let dir = tempfile::tempdir().unwrap();
    let server = SpvServer::start(
        &dir.path().join("data"),
        PASSWORD,
        &[("SPV_JOB_WORKERS", "2")],
    );
    let admin = Client::builder(server.url())
        .password("admin", Secret::new(PASSWORD))
        .build()
        .unwrap();

    // An API key for everything but administration, used from here on.
    let scopes: Scopes = [
        Scope::DocumentsRead,
        Scope::DocumentsWrite,
        Scope::AssetsRead,
        Scope::AssetsWrite,
        Scope::ThumbnailsRead,
        Scope::JobsRead,
        Scope::JobsWrite,
    ]
    .into_iter()
    .collect();
    let key = admin
        .call_service(CreateApiKey {
            principal: Principal::default(),
            name: "e2e".into(),
            scopes,
            expires_at: None,
        })
        .await
        .unwrap();
    let client = Client::builder(server.url())
        .api_key(key.key.clone())
        .build()
        .unwrap();

    // Upload an asset, and a document that uses it by content address.
    let red = solid_png([230, 20, 20, 255]);
    let uploaded = client
        .call_service(UploadAsset::bytes(Principal::default(), red.clone()))
        .await
        .unwrap();
    assert!(uploaded.created);
    assert_eq!(uploaded.asset.mime, "image/png");
    let doc = client
        .call_service(CreateDocument::new(
            Principal::default(),
            document_using(&uploaded.asset.sha256),
        ))
        .await
        .unwrap();
    assert_eq!(doc.pages.len(), 2);

    // A synchronous thumbnail: the asset was found in the server's store.
    let mut request = GetDocumentThumbnail::new(None, doc.id);
    request.size = ThumbnailSize::Longest { size: 128 };
    let sync = client.call_service(request).await.unwrap();
    let sync = sync.image.expect("a rendered image").bytes.to_vec();
    let image = decode(&sync);
    assert_eq!((image.0, image.1), (128, 64));
    let centre = pixel(&image, 64, 32);
    assert!(
        centre[0] > 200 && centre[1] < 60 && centre[2] < 60,
        "the uploaded red asset fills the page: {centre:?}"
    );

    // The same as a job, followed through its events.
    let spec = RenderJobSpec {
        sizes: vec![64, 128],
        formats: vec![ImageFormat::Png, ImageFormat::Webp],
        ..RenderJobSpec::new(doc.id)
    };
    let job = client
        .call_service(spv_client::api::EnqueueRender {
            principal: Principal::default(),
            spec,
            idempotency_key: Some("e2e-render-1".into()),
        })
        .await
        .unwrap();
    let mut events = client
        .call_service(WatchJob {
            principal: Principal::default(),
            id: job.id,
        })
        .await
        .unwrap();
    let mut seen = Vec::new();
    while let Some(event) = events.next().await {
        seen.push(event.unwrap());
    }
    let last = seen.last().expect("at least the final event");
    assert_eq!(last.state, JobState::Succeeded, "events: {seen:?}");
    assert!(
        seen.windows(2).all(|w| w[0].progress <= w[1].progress),
        "progress never goes back: {seen:?}"
    );
    assert!(
        seen[..seen.len() - 1]
            .iter()
            .all(|job| !job.state.is_finished()),
        "only the last event is final"
    );

    // Its outputs: 2 pages × 2 sizes × 2 formats, each decodable at its size; the
    // 128 px PNG of page 0 is byte for byte the synchronous thumbnail.
    let done = client
        .call_service(GetJob {
            principal: Principal::default(),
            id: job.id,
        })
        .await
        .unwrap();
    let result: RenderJobResult = serde_json::from_value(done.result.clone().unwrap()).unwrap();
    assert_eq!(result.outputs.len(), 8);
    for output in &result.outputs {
        let content = client
            .call_service(GetJobOutput {
                principal: Principal::default(),
                job: job.id,
                index: output.index,
            })
            .await
            .unwrap();
        assert_eq!(content.bytes.len() as u64, output.byte_size);
        let image = decode(&content.bytes);
        assert_eq!((image.0, image.1), (output.width, output.height));
        assert_eq!(output.width.max(output.height), output.size);
        if (output.page, output.size, output.format) == (0, 128, ImageFormat::Png) {
            assert_eq!(content.bytes, sync, "job and request render the same bytes");
        }
        if output.page == 1 {
            assert_eq!(pixel(&image, 1, 1), [0, 0, 255, 255], "page 1 is blue");
        }
    }

    // The CLI with the same key: documents, asset bytes, a thumbnail, a job.
    let config_dir = dir.path().join("config");
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let list = check(
        &cli(
            &server,
            key.key.expose(),
            &config_dir,
            &["documents", "list", "--json"],
        ),
        "documents list",
    );
    assert!(list.contains(&doc.id.to_string()), "listed: {list}");
    let asset_file = work.join("asset.png");
    check(
        &cli(
            &server,
            key.key.expose(),
            &config_dir,
            &[
                "assets",
                "get",
                &uploaded.asset.id.to_string(),
                "-o",
                asset_file.to_str().unwrap(),
            ],
        ),
        "assets get",
    );
    assert_eq!(std::fs::read(&asset_file).unwrap(), red);
    let thumb_file = work.join("thumb.png");
    check(
        &cli(
            &server,
            key.key.expose(),
            &config_dir,
            &[
                "thumbnail",
                &doc.id.to_string(),
                "--size",
                "128",
                "-o",
                thumb_file.to_str().unwrap(),
            ],
        ),
        "thumbnail",
    );
    assert_eq!(std::fs::read(&thumb_file).unwrap(), sync);
    let outputs = work.join("outputs");
    check(
        &cli(
            &server,
            key.key.expose(),
            &config_dir,
            &[
                "jobs",
                "render",
                &doc.id.to_string(),
                "--pages",
                "1",
                "--sizes",
                "32",
                "--wait",
                "--out-dir",
                outputs.to_str().unwrap(),
            ],
        ),
        "jobs render --wait",
    );
    let written: Vec<_> = std::fs::read_dir(&outputs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(written.len(), 1, "one output written: {written:?}");
    let image = decode(&std::fs::read(&written[0]).unwrap());
    assert_eq!((image.0, image.1), (32, 32));

    // Revoked, the key fails at once, for the client and for the CLI.
    admin
        .call_service(RevokeApiKey {
            principal: Principal::default(),
            id: key.id,
        })
        .await
        .unwrap();
    let error = client
        .call_service(GetAsset {
            principal: Principal::default(),
            id: uploaded.asset.id,
        })
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthenticated, "{error}");
    let refused = cli(
        &server,
        key.key.expose(),
        &config_dir,
        &["documents", "list"],
    );
    assert_eq!(
        refused.status.code(),
        Some(2),
        "a refused credential exits 2"
    );
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("revoked"), "the CLI says why: {stderr}");

    // A graceful stop exits 0.
    let status = server.stop(std::time::Duration::from_secs(30));
    assert!(status.success(), "spv-server exited with {status}");
}

/// The server's `SPV_URL_SIGNING_KEYS` in the tests below: the new key first, the old
/// one still verifying.
const SIGNING_KEYS: &str = "3333333333333333333333333333333333333333333333333333333333333333,\
    RERERERERERERERERERERERERERERERERERERERERERERERERERERERERERERA==";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_thumbnail_urls_from_the_client_and_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let server = SpvServer::start(
        &dir.path().join("data"),
        PASSWORD,
        &[("SPV_URL_SIGNING_KEYS", SIGNING_KEYS)],
    );
    let admin = Client::builder(server.url())
        .password("admin", Secret::new(PASSWORD))
        .build()
        .unwrap();
    let bytes = br##"{"format":"glyph","version":1,"pages":[{"width":200,"height":100,
        "background":"#00ff00","layers":[]}]}"##;
    let doc = admin
        .call_service(CreateDocument::new(Principal::default(), bytes.to_vec()))
        .await
        .unwrap();
    assert!(!doc.public);
    let anonymous = reqwest::Client::new();

    // spv-client: the URL of a request, fetched by anyone.
    let keys: spv_client::SigningKeys = SIGNING_KEYS.parse().unwrap();
    let request = GetDocumentThumbnail {
        size: ThumbnailSize::Longest { size: 50 },
        format: ImageFormat::Webp,
        ..GetDocumentThumbnail::new(None, doc.id)
    };
    let expires = std::time::SystemTime::now() + std::time::Duration::from_secs(600);
    let url = admin
        .signed_thumbnail_url(&request, &keys, expires)
        .unwrap();
    let response = anonymous.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200, "{url}");
    let image = decode(&response.bytes().await.unwrap());
    assert_eq!((image.0, image.1), (50, 25));
    assert_eq!(pixel(&image, 25, 12), [0, 255, 0, 255]);

    // spv-cli: a path signed under --server, offline, keys from the environment.
    let config_dir = dir.path().join("cli");
    let path = format!("/api/v1/documents/{}/thumbnail?size=30", doc.id);
    let signed = Command::new(workspace_bin("spv-cli"))
        .args([
            "--server",
            &server.url(),
            "sign-url",
            &path,
            "--expires-in",
            "60",
        ])
        .env("SPV_URL_SIGNING_KEYS", SIGNING_KEYS)
        .env("SPV_CONFIG_DIR", &config_dir)
        .output()
        .expect("run spv-cli");
    let signed = check(&signed, "spv-cli sign-url");
    let response = anonymous.get(signed.trim()).send().await.unwrap();
    assert_eq!(response.status(), 200, "{signed}");
    assert_eq!(decode(&response.bytes().await.unwrap()).0, 30);
    // The unsigned path is not enough.
    let plain = anonymous
        .get(format!("{}{path}", server.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 404);

    // Bad keys are refused by the CLI without being shown.
    let bad = Command::new(workspace_bin("spv-cli"))
        .args(["sign-url", &path, "--keys", "c0ffee"])
        .env_remove("SPV_URL_SIGNING_KEYS")
        .output()
        .expect("run spv-cli");
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("SPV_URL_SIGNING_KEYS: key 1 of 1 has 3 bytes"),
        "{stderr}"
    );
    assert!(!stderr.contains("c0ffee"), "{stderr}");

    let log = server.kill();
    assert!(!log.contains("3333333333"), "a key in the server's log");
}
