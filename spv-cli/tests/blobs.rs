//! `spv-cli blobs migrate`: the real binary copies a directory's blobs into another
//! directory and, when `SPV_TEST_S3_URL` names a test bucket (moto in CI), into S3 and
//! back; resumed after a partial copy; a corrupted source blob reported and not copied.

use std::path::Path;
use std::process::Command;

use spv::store::{BlobKey, BlobStore, BlobUrl, LocalBlobs};

/// Runs `spv-cli blobs migrate --from FROM --to TO`: the exit code, stdout, stderr.
fn migrate(from: &str, to: &str) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_spv-cli"))
        .args(["blobs", "migrate", "--from", from, "--to", to])
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Three blobs in `dir`; their keys, sorted.
fn three_blobs(dir: &Path) -> Vec<BlobKey> {
    let blobs = LocalBlobs::new(dir);
    let mut keys: Vec<_> = runtime().block_on(async {
        let mut keys = Vec::new();
        for bytes in [&b"one"[..], &[7u8; 300_000][..], b""] {
            keys.push(blobs.put(bytes).await.unwrap().key);
        }
        keys
    });
    keys.sort();
    keys
}

/// The blobs of `url` with their bytes, sorted by key.
fn contents(url: &str) -> Vec<(BlobKey, Vec<u8>)> {
    use futures_util::TryStreamExt as _;
    let aws = std::env::vars()
        .filter(|(k, _)| k.starts_with("AWS_"))
        .collect();
    let store = BlobUrl::parse(url).unwrap().open(&aws).unwrap();
    runtime().block_on(async {
        let listed: Vec<(BlobKey, u64)> = store.list().try_collect().await.unwrap();
        let mut all = Vec::new();
        for (key, _) in listed {
            let bytes = store.get(&key).await.unwrap().unwrap();
            all.push((key, bytes));
        }
        all.sort();
        all
    })
}

#[test]
fn copies_resumes_and_refuses_a_corrupted_blob() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let keys = three_blobs(a.path());
    let (from, to) = (
        a.path().display().to_string(),
        b.path().display().to_string(),
    );
    // An interrupted earlier run: one blob already there.
    let first = LocalBlobs::new(a.path()).path(&keys[0]);
    let there = LocalBlobs::new(b.path()).path(&keys[0]);
    std::fs::create_dir_all(there.parent().unwrap()).unwrap();
    std::fs::copy(&first, &there).unwrap();

    let (code, stdout, stderr) = migrate(&from, &to);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("2 copied") && stdout.contains("1 skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("0 failed"), "{stdout}");
    assert_eq!(contents(&to), contents(&from));

    // A source blob whose bytes no longer match its key.
    let bad = BlobKey::of(b"the original bytes");
    let path = LocalBlobs::new(a.path()).path(&bad);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, b"bit rot").unwrap();
    let (code, stdout, stderr) = migrate(&from, &to);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(
        stdout.contains("0 copied") && stdout.contains("3 skipped"),
        "{stdout}"
    );
    assert!(stdout.contains("1 failed"), "{stdout}");
    assert!(stderr.contains(&format!("spv-cli: blob {bad}")), "{stderr}");
    assert!(stderr.contains("corrupted"), "{stderr}");
    assert!(!LocalBlobs::new(b.path()).path(&bad).exists());
    assert_eq!(contents(&to).len(), 3);
}

#[test]
fn bad_urls_are_named() {
    let (code, _, stderr) = migrate("ftp://x", "/tmp/somewhere");
    assert_eq!(code, 2);
    assert!(
        stderr.contains("--from") && stderr.contains("ftp://x"),
        "{stderr}"
    );
}

#[test]
fn copies_into_s3_and_back() {
    let url = match std::env::var("SPV_TEST_S3_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "SPV_TEST_S3_URL must be set when CI=true: S3 tests cannot be skipped in CI"
            );
            eprintln!("skipped copies_into_s3_and_back: SPV_TEST_S3_URL not set");
            return;
        }
    };
    let Ok(BlobUrl::S3 { bucket, prefix }) = BlobUrl::parse(&url) else {
        panic!("SPV_TEST_S3_URL is not an s3:// URL: {url}");
    };
    // object_store cannot create buckets; the test server takes an unsigned PUT.
    let endpoint = std::env::var("AWS_ENDPOINT").expect("AWS_ENDPOINT for the S3 tests");
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = std::net::TcpStream::connect(host).unwrap();
    std::io::Write::write_all(
        &mut stream,
        format!("PUT /{bucket} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let mut response = String::new();
    std::io::Read::read_to_string(&mut stream, &mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 200") || response.contains("BucketAlreadyOwnedByYou"),
        "{response}"
    );
    let s3 = format!(
        "s3://{bucket}/{}",
        format!("{prefix}/{}", uuid::Uuid::now_v7().simple()).trim_start_matches('/')
    );

    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    three_blobs(a.path());
    let (from, back) = (
        a.path().display().to_string(),
        b.path().display().to_string(),
    );
    let (code, stdout, stderr) = migrate(&from, &s3);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("3 copied"), "{stdout}");
    assert_eq!(contents(&s3), contents(&from));
    let (code, stdout, _) = migrate(&from, &s3);
    assert_eq!(code, 0);
    assert!(
        stdout.contains("0 copied") && stdout.contains("3 skipped"),
        "{stdout}"
    );
    let (code, stdout, stderr) = migrate(&s3, &back);
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(stdout.contains("3 copied"), "{stdout}");
    assert_eq!(contents(&back), contents(&from));
}
