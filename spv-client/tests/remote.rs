//! `spv_client::Client` against the real server (`spv_server::run` on 127.0.0.1:0), and
//! against tiny local servers that misbehave on purpose (retries, token renewal).

#[path = "remote/accounts.rs"]
mod accounts;
#[path = "remote/assets.rs"]
mod assets;
#[path = "remote/documents.rs"]
mod documents;
#[path = "remote/jobs.rs"]
mod jobs;
#[path = "remote/mock.rs"]
mod mock;
#[path = "remote/retries.rs"]
mod retries;
#[path = "remote/thumbnails.rs"]
mod thumbnails;

use std::net::SocketAddr;
use std::time::Duration;

use spv::config::Config;
use spv_client::api::Secret;
use spv_client::{Client, ClientBuilder};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The first admin's password (`SPV_ADMIN_PASSWORD`).
const ADMIN_PASSWORD: &str = "correct horse battery";

/// A small document: one 400 × 200 page.
const DOC: &str = r##"{"format":"glyph","version":1,"title":"Remote","pages":[
    {"width":400,"height":200,"background":"#2050f0","layers":[
        {"type":"rect","x":10,"y":10,"width":100,"height":50,"fill":"#ff0000"}]}]}"##;

/// A running server with its own data directory.
struct Server {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<anyhow::Result<()>>,
    _data: tempfile::TempDir,
}

impl Server {
    /// Binds first, then spawns: the socket accepts before the first request.
    async fn start() -> Server {
        Server::start_with(|_| {}).await
    }

    /// A server whose configuration `change` adjusts first.
    async fn start_with(change: impl FnOnce(&mut Config)) -> Server {
        let data = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: data.path().to_owned(),
            job_workers: 2,
            shutdown_timeout_secs: 5,
            admin_password: Some(ADMIN_PASSWORD.to_owned()),
            ..Config::default()
        };
        change(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(spv_server::run(config, listener, async {
            let _ = stopped.await;
        }));
        Server {
            base: format!("http://{addr}"),
            stop: Some(stop),
            task,
            _data: data,
        }
    }

    /// A builder for this server, with quick retries.
    fn builder(&self) -> ClientBuilder {
        Client::builder(&self.base)
            .retry_delays(Duration::from_millis(10), Duration::from_secs(2))
            .timeout(Duration::from_secs(60))
    }

    /// The admin, by password.
    fn admin(&self) -> Client {
        self.builder()
            .password("admin", Secret::new(ADMIN_PASSWORD))
            .build()
            .unwrap()
    }

    /// A client without a credential.
    fn anonymous(&self) -> Client {
        self.builder().build().unwrap()
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = (&mut self.task).await.unwrap();
        assert!(result.is_ok(), "the server ended with {result:?}");
    }
}

/// `(width, height)` of a PNG.
fn png_size(bytes: &[u8]) -> (u32, u32) {
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "a PNG signature");
    let be = |i: usize| u32::from_be_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
    (be(16), be(20))
}

/// Guards the futures of every remote call being `Send` (so they run on any runtime
/// thread, spawned or in tower layers).
#[test]
fn futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let client = Client::builder("http://127.0.0.1:1").build().unwrap();
    let id = uuid::Uuid::nil();
    send(&client.call_service(spv::api::GetDocument {
        principal: None,
        id,
    }));
    send(&client.call_service(spv::api::WatchJob {
        principal: Default::default(),
        id,
    }));
    send(&client.call_service(spv::api::UploadAsset::bytes(Default::default(), vec![1])));
    let mut sink = Vec::new();
    send(&client.download_asset(id, &mut sink));
}
