//! Issue 15: the real `spv-server` process re-reads its configuration file on SIGHUP;
//! a bad file is refused and the running configuration stays.

#![cfg(unix)]

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The server process, its log lines (stderr) arriving on a channel.
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
    base: String,
}

impl Process {
    fn start(config: &std::path::Path, data: &std::path::Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_spv-server"))
            .args(["--bind", "127.0.0.1:0", "--config"])
            .arg(config)
            .env_clear()
            .env("SPV_DATA_DIR", data)
            .env("SPV_ADMIN_PASSWORD", "correct horse battery")
            .env("SPV_RENDERER", "cpu")
            .env("SPV_JOB_WORKERS", "1")
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                eprintln!("server: {line}");
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        let mut process = Process {
            child,
            lines,
            base: String::new(),
        };
        let listening = process.wait_for("spv-server listening");
        let addr = listening
            .split_whitespace()
            .find_map(|word| word.strip_prefix("addr="))
            .unwrap_or_else(|| panic!("an address in {listening:?}"));
        process.base = format!("http://{addr}");
        process
    }

    /// The next log line that contains `text` (the server's own event, not a sleep).
    fn wait_for(&mut self, text: &str) -> String {
        loop {
            match self.lines.recv_timeout(Duration::from_secs(120)) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(error) => panic!("no log line with {text:?}: {error}"),
            }
        }
    }

    fn hangup(&self) {
        let status = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The status of `GET path` (a plain HTTP/1.1 request on a new connection).
    fn status(&self, path: &str) -> u16 {
        use std::io::{Read as _, Write as _};
        let addr = self.base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: test\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        answer
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("a status line in {answer:?}"))
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn sighup_reloads_the_file_and_a_bad_file_keeps_the_running_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("spv.toml");
    std::fs::write(&config, "maintenance = false\n").unwrap();
    let mut server = Process::start(&config, dir.path());
    assert_eq!(server.status("/api/v1/gallery"), 200);

    // Maintenance on, and a setting that needs a restart.
    std::fs::write(
        &config,
        "maintenance = true\nmaintenance_retry_after_secs = 7\nmax_thumbnail_size = 100\n",
    )
    .unwrap();
    server.hangup();
    let restart = server.wait_for("takes effect only after a restart");
    assert!(restart.contains("max_thumbnail_size"), "{restart}");
    let reloaded = server.wait_for("configuration reloaded");
    assert!(reloaded.contains("maintenance"), "{reloaded}");
    assert_eq!(server.status("/api/v1/gallery"), 503);
    assert_eq!(server.status("/health"), 200);

    // A file that is not valid: refused, named, and maintenance stays on.
    std::fs::write(&config, "maintenance = false\nmax_connections = 0\n").unwrap();
    server.hangup();
    let refused = server.wait_for("configuration reload refused");
    assert!(refused.contains("SPV_MAX_CONNECTIONS"), "{refused}");
    assert_eq!(server.status("/api/v1/gallery"), 503);
    std::fs::write(&config, "maintenance = \"perhaps\"\n").unwrap();
    server.hangup();
    server.wait_for("configuration reload refused");
    assert_eq!(server.status("/api/v1/gallery"), 503);

    // Fixed: maintenance off again, and the process never stopped.
    std::fs::write(&config, "maintenance = false\nmax_thumbnail_size = 100\n").unwrap();
    server.hangup();
    server.wait_for("configuration reloaded");
    assert_eq!(server.status("/api/v1/gallery"), 200);
    assert!(server.child.try_wait().unwrap().is_none(), "still running");
}
