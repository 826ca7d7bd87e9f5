//! Tests of package reading and writing, and of [`DirAssets`].

use std::io::{Cursor, Write};

use serde_json::json;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

use super::{DirAssets, Package};
use crate::ErrorKind;
use crate::glyph::{self, AssetResolver, AssetSource, Limits, load_asset};

fn document(assets: serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "format": "glyph", "version": 1, "assets": assets,
        "pages": [{ "width": 10, "height": 10, "layers": [] }],
    }))
    .unwrap()
}

/// A ZIP with exactly these entries, written without `Package::write`'s checks.
fn raw_zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, bytes) in entries {
        writer.start_file(*name, options).unwrap();
        writer.write_all(bytes).unwrap();
    }
    writer.finish().unwrap().into_inner()
}

fn limits(change: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    change(&mut limits);
    limits
}

#[test]
fn a_written_package_loads_with_its_assets() {
    let png = b"\x89PNG fake".as_slice();
    let hash: [u8; 32] = Sha256::digest(b"font bytes").into();
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    let json = document(json!({
        "logo": { "type": "image", "src": "./assets/logo.png" },
        "font": { "type": "font", "src": format!("sha256:{}", hex.to_uppercase()) },
    }));
    let zip = Package::write(
        &json,
        &[
            ("assets/logo.png", png),
            ("assets/fonts/x.ttf", b"font bytes"),
        ],
    )
    .unwrap();
    assert!(zip.starts_with(b"PK\x03\x04"));
    assert_eq!(
        Package::write(
            &json,
            &[
                ("assets/logo.png", png),
                ("assets/fonts/x.ttf", b"font bytes")
            ]
        )
        .unwrap(),
        zip
    );
    let loaded = glyph::load(&zip, &Limits::default()).unwrap();
    let package = loaded.package.expect("a package");
    assert_eq!(
        package.paths().collect::<Vec<_>>(),
        ["assets/logo.png", "assets/fonts/x.ttf"]
    );
    assert_eq!((package.len(), package.is_empty()), (2, false));
    let doc = &loaded.document;
    let logo = load_asset("logo", doc.asset("logo").unwrap(), &*package).unwrap();
    assert_eq!(&*logo, png);
    let font = load_asset("font", doc.asset("font").unwrap(), &*package).unwrap();
    assert_eq!(&*font, b"font bytes");
    assert_eq!(
        package.resolve(&AssetSource::Sha256([7; 32])).unwrap(),
        None
    );
    assert!(
        package.get("assets/../assets/logo.png").is_none(),
        "no traversal through get"
    );
    let debug = format!("{package:?}");
    assert!(
        debug.contains("assets/logo.png") && !debug.contains("PNG fake"),
        "{debug}"
    );
}

#[test]
fn a_package_needs_document_json_at_its_root() {
    let zip = raw_zip(&[("sub/document.json", &document(json!({})))]);
    let err = glyph::load(&zip, &Limits::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDocument);
    assert_eq!(
        err.to_string(),
        "the package has no document.json at its root"
    );
    let empty = ZipWriter::new(Cursor::new(Vec::new()))
        .finish()
        .unwrap()
        .into_inner();
    assert_eq!(
        glyph::load(&empty, &Limits::default())
            .unwrap_err()
            .to_string(),
        "the package has no document.json at its root"
    );
}

#[test]
fn a_missing_asset_is_named_by_its_path() {
    let json = document(json!({
        "here": { "type": "image", "src": "assets/here.png" },
        "gone": { "type": "image", "src": "assets/gone.png" },
        "inline": { "type": "image", "src": "data:image/png;base64,AA==" },
        "hashed": { "type": "font", "src": format!("sha256:{}", "0".repeat(64)) },
    }));
    let zip = Package::write(&json, &[("assets/here.png", b"x")]).unwrap();
    let err = glyph::load(&zip, &Limits::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::MissingAsset);
    assert_eq!(
        err.to_string(),
        r#"assets.gone.src: asset "gone" ("assets/gone.png") is not in the package"#
    );
    let report = glyph::check(&zip, &Limits::default());
    let paths: Vec<_> = report
        .errors
        .iter()
        .map(|e| e.path().unwrap_or_default())
        .collect();
    assert_eq!(paths, ["assets.gone.src", "assets.hashed.src"]);
    // A bare JSON document leaves resolution to the renderer.
    assert!(glyph::load(&json, &Limits::default()).is_ok());
}

#[test]
fn entry_names_that_escape_are_refused() {
    let json = document(json!({}));
    for (name, why) in [
        ("../evil.png", "\"..\" component"),
        ("assets/../../evil.png", "\"..\" component"),
        ("/etc/passwd", "absolute path"),
        ("assets\\evil.png", "backslash"),
        ("C:/evil.png", "drive letter"),
    ] {
        let zip = raw_zip(&[("document.json", &json), (name, b"x")]);
        let err = glyph::load(&zip, &Limits::default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidDocument, "{name}");
        let message = err.to_string();
        assert!(
            message.starts_with("package entry ") && message.contains("refused (path traversal)"),
            "{message}"
        );
        assert!(message.contains(why), "{name}: {message}");
        assert!(
            message.contains(&serde_json::to_string(name).unwrap()),
            "the entry is named: {message}"
        );
    }
    assert!(
        Package::write(&json, &[("../x", b"x")]).is_err(),
        "the writer refuses them too"
    );
}

#[test]
fn entries_that_collide_or_link_are_refused() {
    let json = document(json!({}));
    let zip = raw_zip(&[
        ("document.json", &json),
        ("assets/a.png", b"1"),
        ("./assets/a.png", b"2"),
    ]);
    let err = glyph::load(&zip, &Limits::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        r#"the package has two entries named "assets/a.png""#
    );

    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .start_file("document.json", SimpleFileOptions::default())
        .unwrap();
    writer.write_all(&json).unwrap();
    writer
        .add_symlink(
            "assets/link.png",
            "/etc/passwd",
            SimpleFileOptions::default(),
        )
        .unwrap();
    let zip = writer.finish().unwrap().into_inner();
    let err = glyph::load(&zip, &Limits::default()).unwrap_err();
    assert!(err.to_string().contains("is a symbolic link"), "{err}");
}

#[test]
fn garbage_after_the_zip_signature_is_an_error() {
    let err = glyph::load(b"PK\x03\x04 this is not a zip", &Limits::default()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidDocument);
    assert!(
        err.to_string().starts_with("not a valid ZIP package ("),
        "{err}"
    );
}

#[test]
fn package_limits() {
    let json = document(json!({}));
    let zip = Package::write(&json, &[("assets/a", &[1; 1000]), ("assets/b", &[2; 1000])]).unwrap();
    let size = zip.len() as u64;
    assert!(glyph::load(&zip, &limits(|l| l.max_package_bytes = size)).is_ok());
    let err = glyph::load(&zip, &limits(|l| l.max_package_bytes = size - 1)).unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string()),
        (
            ErrorKind::LimitExceeded,
            format!(
                "the package is {size} bytes, more than the limit of {} bytes",
                size - 1
            )
        )
    );

    let err = glyph::load(&zip, &limits(|l| l.max_package_entries = 2)).unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string()),
        (
            ErrorKind::LimitExceeded,
            "the package has 3 entries, more than the limit of 2".into()
        )
    );

    let total = json.len() as u64 + 2000;
    assert!(glyph::load(&zip, &limits(|l| l.max_package_uncompressed_bytes = total)).is_ok());
    let err = glyph::load(
        &zip,
        &limits(|l| l.max_package_uncompressed_bytes = total - 1),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    assert_eq!(
        err.to_string(),
        format!(
            "the package's files are more than {} bytes uncompressed (the limit)",
            total - 1
        )
    );

    let err = glyph::load(&zip, &limits(|l| l.max_json_bytes = 10)).unwrap_err();
    assert_eq!(
        (err.kind(), err.to_string()),
        (
            ErrorKind::LimitExceeded,
            "document.json is more than 10 bytes, the limit for document JSON".into()
        )
    );
}

#[test]
fn a_zip_bomb_stops_at_the_limit() {
    let zeros = vec![0u8; 50 << 20];
    let bomb = Package::write(&document(json!({})), &[("assets/zeros.bin", &zeros)]).unwrap();
    drop(zeros);
    assert!(
        bomb.len() < 1 << 20,
        "50 MiB of zeros compress to {} bytes",
        bomb.len()
    );
    let err = glyph::load(
        &bomb,
        &limits(|l| l.max_package_uncompressed_bytes = 1 << 20),
    )
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
    assert!(err.to_string().contains("uncompressed"), "{err}");
    // The bomb inside document.json itself stops at the JSON limit.
    let zeros = vec![b' '; 20 << 20];
    let bomb = Package::write(&zeros, &[]).unwrap();
    let err = glyph::load(&bomb, &limits(|l| l.max_json_bytes = 1 << 20)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LimitExceeded);
}

#[test]
fn check_reports_package_errors() {
    let report = glyph::check(b"PK\x03\x04", &Limits::default());
    assert_eq!(report.errors.len(), 1);
    let zip = Package::write(
        br#"{"format":"glyph","version":1,"pages":[{"width":-1,"height":-1,"layers":[]}]}"#,
        &[],
    )
    .unwrap();
    let report = glyph::check(&zip, &Limits::default());
    let paths: Vec<_> = report
        .errors
        .iter()
        .map(|e| e.path().unwrap_or_default())
        .collect();
    assert_eq!(paths, ["pages[0].width", "pages[0].height"]);
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("spv-package-tests-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("assets/deep")).unwrap();
    dir
}

#[test]
fn dir_assets_resolve_paths_and_hashes() {
    let dir = temp_dir("resolve");
    std::fs::write(dir.join("assets/logo.png"), b"logo").unwrap();
    std::fs::write(dir.join("assets/deep/font.ttf"), b"font").unwrap();
    let assets = DirAssets::new(&dir);
    assert_eq!(assets.dir(), dir.as_path());
    let get = |src: &str| assets.resolve(&crate::glyph::parse::src::parse_src(src).unwrap());
    assert_eq!(
        get("assets/logo.png").unwrap().as_deref(),
        Some(&b"logo"[..])
    );
    assert_eq!(
        get("./assets//logo.png").unwrap().as_deref(),
        Some(&b"logo"[..])
    );
    assert_eq!(get("assets/none.png").unwrap(), None);
    assert_eq!(get("assets").unwrap(), None, "a folder is not an asset");
    let hash: [u8; 32] = Sha256::digest(b"font").into();
    assert_eq!(
        assets
            .resolve(&AssetSource::Sha256(hash))
            .unwrap()
            .as_deref(),
        Some(&b"font"[..])
    );
    assert_eq!(assets.resolve(&AssetSource::Sha256([0; 32])).unwrap(), None);
    // A hand-made source with `..` is refused, not followed.
    assert!(assets.resolve(&AssetSource::Path("../x".into())).is_err());
    // Files over the cap are neither read nor hashed.
    let capped = DirAssets::new(&dir).with_max_file_bytes(3);
    assert_eq!(
        capped
            .resolve(&AssetSource::Path("assets/logo.png".into()))
            .unwrap_err()
            .kind(),
        ErrorKind::LimitExceeded
    );
    assert_eq!(capped.resolve(&AssetSource::Sha256(hash)).unwrap(), None);
    // A directory that does not exist has nothing.
    assert_eq!(
        DirAssets::new(dir.join("nope"))
            .resolve(&AssetSource::Path("a".into()))
            .unwrap(),
        None
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[cfg(unix)]
#[test]
fn dir_assets_refuse_links_that_leave_the_directory() {
    let dir = temp_dir("links");
    let outside = temp_dir("links-outside");
    std::fs::write(outside.join("secret.txt"), b"secret").unwrap();
    std::fs::write(dir.join("assets/inside.txt"), b"inside").unwrap();
    std::os::unix::fs::symlink(outside.join("secret.txt"), dir.join("assets/escape.txt")).unwrap();
    std::os::unix::fs::symlink(dir.join("assets/inside.txt"), dir.join("assets/alias.txt"))
        .unwrap();
    let assets = DirAssets::new(&dir);
    let err = assets
        .resolve(&AssetSource::Path("assets/escape.txt".into()))
        .unwrap_err();
    assert!(err.to_string().contains("leads outside"), "{err}");
    assert_eq!(
        assets
            .resolve(&AssetSource::Path("assets/alias.txt".into()))
            .unwrap()
            .as_deref(),
        Some(&b"inside"[..])
    );
    // The hash index does not follow the escaping link either.
    let secret: [u8; 32] = Sha256::digest(b"secret").into();
    assert_eq!(assets.resolve(&AssetSource::Sha256(secret)).unwrap(), None);
    std::fs::remove_dir_all(&dir).unwrap();
    std::fs::remove_dir_all(&outside).unwrap();
}
