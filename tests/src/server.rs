//! The real `spv-server` and `spv-cli` binaries, started as processes for end-to-end
//! tests.
//!
//! [`SpvServer::start`] runs `spv-server` on `127.0.0.1:0` with a data directory and
//! environment of the test's choosing, and learns the address it bound from its JSON log
//! line `spv-server listening`. [`SpvServer::kill`] sends SIGKILL (a crash: nothing is
//! drained or released), [`SpvServer::stop`] SIGTERM (a graceful stop). Everything the
//! server wrote on stderr is kept for the failure message of a test.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// The path of a binary of this workspace (`spv-server`, `spv-cli`), built by
/// `cargo test --workspace`; when it is missing (a test of this crate alone), it is built
/// now with the same cargo. `SPV_TEST_BIN_DIR` names another directory to take it from
/// (a copy kept apart from a target directory that other checkouts build into).
pub fn workspace_bin(name: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    if let Some(dir) = std::env::var_os("SPV_TEST_BIN_DIR").filter(|d| !d.is_empty()) {
        let path = Path::new(&dir).join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
        assert!(
            path.exists(),
            "SPV_TEST_BIN_DIR: {} is missing",
            path.display()
        );
        return path;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/<test> → target/<profile>/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test binary lies in target/<profile>/deps");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    let _guard = BUILD.lock().unwrap_or_else(|e| e.into_inner());
    if !path.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let status = Command::new(cargo)
            .args(["build", "-p", "spv-server", "-p", "spv-cli"])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build of the binaries failed");
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// A running `spv-server` process.
#[derive(Debug)]
pub struct SpvServer {
    child: Child,
    addr: SocketAddr,
    log: Arc<Mutex<String>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl SpvServer {
    /// Starts `spv-server` on `127.0.0.1:0` over `data_dir` with JSON logs, an admin
    /// `admin` with `admin_password`, and `env` on top; waits until it listens (at most
    /// 60 s).
    pub fn start(data_dir: &Path, admin_password: &str, env: &[(&str, &str)]) -> SpvServer {
        let mut command = Command::new(workspace_bin("spv-server"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("SPV_BIND_ADDR", "127.0.0.1:0")
            .env("SPV_DATA_DIR", data_dir)
            .env("SPV_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .env("SPV_ADMIN_USER", "admin")
            .env("SPV_ADMIN_PASSWORD", admin_password)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("start spv-server");
        let stderr = child.stderr.take().expect("piped stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let kept = log.clone();
        let reader = std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_addr(&line)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(addr);
                }
                let mut log = kept.lock().unwrap_or_else(|e| e.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(addr) => SpvServer {
                child,
                addr,
                log,
                reader: Some(reader),
            },
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = log.lock().unwrap_or_else(|e| e.into_inner()).clone();
                panic!("spv-server did not start listening within 60 s; its log:\n{log}");
            }
        }
    }

    /// An access token of `username` by the password grant (`POST /api/v1/auth/token`).
    pub async fn password_token(&self, username: &str, password: &str) -> String {
        let response = http()
            .post(format!("{}/api/v1/auth/token", self.url()))
            .form(&[
                ("grant_type", "password"),
                ("username", username),
                ("password", password),
            ])
            .send()
            .await
            .unwrap_or_else(|e| panic!("login on {}: {e}", self.url()));
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        match body["access_token"].as_str() {
            Some(token) if status == 200 => token.to_string(),
            _ => panic!("login of {username} on {}: {status} {body}", self.url()),
        }
    }

    /// The sum of `name`'s samples (all label sets) in the server's `/metrics`.
    pub async fn metric(&self, name: &str) -> f64 {
        let text = http()
            .get(format!("{}/metrics", self.url()))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .unwrap_or_else(|e| panic!("/metrics of {}: {e}", self.url()))
            .text()
            .await
            .unwrap_or_default();
        text.lines()
            .filter(|line| {
                line.strip_prefix(name)
                    .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
            })
            .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its resident set size now (`VmRSS` of `/proc/PID/status`), in KiB; `None` where
    /// there is no such file (not Linux).
    pub fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
    }

    /// What it logged so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Kills it with SIGKILL, as a crash would, reaps it, and answers everything it
    /// logged (read to the end of its stderr, so no last line is missed).
    pub fn kill(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.log()
    }

    /// Stops it with SIGTERM and waits for it to exit (at most `timeout`); answers its
    /// exit status.
    pub fn stop(mut self, timeout: Duration) -> ExitStatus {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM {pid} failed");
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait for spv-server") {
                return status;
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "spv-server did not exit within {timeout:?} of SIGTERM; its log:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for SpvServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The address in a JSON log line `{"fields":{"message":"spv-server listening","addr":..}}`.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let fields = value.get("fields")?;
    if fields.get("message")?.as_str()? != "spv-server listening" {
        return None;
    }
    fields.get("addr")?.as_str()?.parse().ok()
}

/// A client for the helpers: a minute at most per request.
fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::listening_addr;

    #[test]
    fn finds_the_address_in_the_listening_line_only() {
        let line = r#"{"timestamp":"x","level":"INFO","fields":{"message":"spv-server listening","addr":"127.0.0.1:4321","tls":false},"target":"spv_server"}"#;
        assert_eq!(
            listening_addr(line),
            Some("127.0.0.1:4321".parse().unwrap())
        );
        let other = r#"{"fields":{"message":"something else","addr":"127.0.0.1:1"}}"#;
        assert_eq!(listening_addr(other), None);
        assert_eq!(listening_addr("not json"), None);
    }
}
