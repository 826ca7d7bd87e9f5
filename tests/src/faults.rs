//! Faults a test injects under a running `spv-server`: a TCP proxy in front of a
//! service that the test cuts and restores ([`TcpProxy`], for PostgreSQL and S3 "gone"),
//! and a tiny tmpfs as the blob directory that the test fills or remounts read-only
//! ([`Tmpfs`], for "disk full" and "read-only"; needs the permission to mount, as root
//! has).

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A TCP proxy on `127.0.0.1:<port>` to one upstream address. [`cut`](Self::cut) closes
/// its port (new connections are refused) and every connection through it (both ends
/// see the stream end), as a service that went away; [`restore`](Self::restore) listens
/// on the same port again.
///
/// A connection's sockets are closed as soon as either end closes it: a long test
/// against a server that closes every connection (moto does) holds no descriptors or
/// ports for the connections already done.
#[derive(Debug)]
pub struct TcpProxy {
    port: u16,
    upstream: SocketAddr,
    /// The connections open now, by number: their two sockets, to cut them.
    live: Live,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl TcpProxy {
    /// A proxy to `upstream` on a free port, accepting.
    pub fn start(upstream: SocketAddr) -> TcpProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("the proxy's address").port();
        let mut proxy = TcpProxy {
            port,
            upstream,
            live: Live::default(),
            stop: Arc::new(AtomicBool::new(false)),
            acceptor: None,
        };
        proxy.serve(listener);
        proxy
    }

    /// The port clients connect to.
    pub fn port(&self) -> u16 {
        self.port
    }

    fn serve(&mut self, listener: TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        self.stop = stop.clone();
        let live = self.live.clone();
        let upstream = self.upstream;
        self.acceptor = Some(std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(upstream) else {
                            continue;
                        };
                        let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone())
                        else {
                            continue;
                        };
                        let id = live.add([client2, server2]);
                        let pairs = [
                            (client.try_clone(), server.try_clone()),
                            (Ok(server), Ok(client)),
                        ];
                        for pair in pairs {
                            if let (Ok(from), Ok(to)) = pair {
                                let live = live.clone();
                                std::thread::spawn(move || {
                                    pipe(from, to);
                                    // Either direction ending ends the connection: drop
                                    // its sockets (the second pipe finds them gone).
                                    live.remove(id);
                                });
                            }
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            // The listener is dropped here: the port refuses connections.
        }));
    }

    /// Closes the port and every connection through the proxy.
    pub fn cut(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for stream in self.live.take() {
            let _ = stream.shutdown(Shutdown::Both);
        }
    }

    /// Listens on the same port again.
    pub fn restore(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).expect("bind the proxy again");
        self.serve(listener);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.cut();
    }
}

/// The open connections of a [`TcpProxy`].
#[derive(Debug, Clone, Default)]
struct Live(Arc<Mutex<Connections>>);

/// The last number given, and the sockets of each open connection by number.
type Connections = (u64, HashMap<u64, [TcpStream; 2]>);

impl Live {
    fn lock(&self) -> std::sync::MutexGuard<'_, Connections> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a connection's two sockets; answers its number.
    fn add(&self, sockets: [TcpStream; 2]) -> u64 {
        let mut live = self.lock();
        live.0 += 1;
        let id = live.0;
        live.1.insert(id, sockets);
        id
    }

    /// Closes (drops) connection `id`'s sockets, if still kept.
    fn remove(&self, id: u64) {
        let sockets = self.lock().1.remove(&id);
        drop(sockets);
    }

    /// Every socket kept, the map left empty.
    fn take(&self) -> Vec<TcpStream> {
        std::mem::take(&mut self.lock().1)
            .into_values()
            .flatten()
            .collect()
    }
}

/// Copies `from` to `to` until either ends; then ends both directions.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let mut buf = [0_u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

/// A tmpfs of a few hundred KiB mounted on a directory (made if missing), unmounted on
/// drop.
#[derive(Debug)]
pub struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `kib` KiB on `path`; `Err` with mount's complaint when this
    /// process may not mount (not root, no `CAP_SYS_ADMIN`).
    pub fn mount(path: &Path, kib: u32) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={kib}k"), "tmpfs"])
            .arg(path)
            .output()
            .map_err(|e| format!("run mount: {e}"))?;
        if !out.status.success() {
            return Err(String::from_utf8_lossy(&out.stderr).trim().to_string());
        }
        Ok(Tmpfs {
            path: path.to_owned(),
        })
    }

    /// Mounts it again read-only (`true`) or read-write: a blob directory that takes no
    /// writes. (Files open for writing make a read-only remount fail: none are, between
    /// requests.)
    pub fn remount(&self, read_only: bool) {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        let out = Command::new("mount")
            .args(["-o", mode])
            .arg(&self.path)
            .output()
            .expect("run mount");
        assert!(
            out.status.success(),
            "mount -o {mode}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Writes `name` under the mount until the file system is full; answers the bytes
    /// written.
    pub fn fill(&self, name: &str) -> u64 {
        let mut file = std::fs::File::create(self.path.join(name)).expect("create the filler");
        let chunk = vec![0xa5_u8; 4096];
        let mut written = 0;
        while let Ok(n) = file.write(&chunk) {
            if n == 0 {
                break;
            }
            written += n as u64;
        }
        written
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
