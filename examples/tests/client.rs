//! The client example's tour against the real server (`spv_server::run` on 127.0.0.1:0).

use spv::api::{JobState, Secret};
use spv_client::Client;

const PASSWORD: &str = "client-example-password";

#[tokio::test]
async fn the_client_tour_against_a_real_server() {
    let data = tempfile::tempdir().unwrap();
    let config = spv::config::Config {
        data_dir: data.path().join("data"),
        admin_password: Some(PASSWORD.to_owned()),
        job_workers: 2,
        shutdown_timeout_secs: 5,
        ..spv::config::Config::default()
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(spv_server::run(config, listener, async {
        let _ = stopped.await;
    }));

    let client = Client::builder(&base)
        .password("admin", Secret::new(PASSWORD))
        .build()
        .unwrap();
    let poster = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/poster.glyph")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let mut events = Vec::new();
    let tour = spv_examples::tour::tour(&client, &poster, out.path(), |job| events.push(job.state))
        .await
        .unwrap();

    assert_eq!(tour.document.tags, ["client-example"]);
    assert_eq!(tour.thumbnail.width.max(tour.thumbnail.height), 256);
    assert_eq!(tour.job.state, JobState::Succeeded);
    assert_eq!(events.last(), Some(&JobState::Succeeded));
    // The thumbnail and one output per page and size (the poster has one page).
    let pages = tour.document.pages.len();
    assert_eq!(tour.files.len(), 1 + pages * 2);
    for file in &tour.files {
        let bytes = std::fs::read(file).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
            "{}",
            file.display()
        );
    }
    let thumbnail = std::fs::read(&tour.files[0]).unwrap();
    assert_eq!(thumbnail, tour.thumbnail.bytes);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
