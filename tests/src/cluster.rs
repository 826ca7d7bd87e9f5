//! What a multi-node test runs beside its `spv-server` processes: a fresh PostgreSQL
//! database, a Redis server of its own (so the test may stop and restart it), and the
//! S3 bucket of the tests (`moto_server`, started by `.ci/run`).
//!
//! Each is optional outside CI: [`Services::from_env`] answers `None` with a "skipped"
//! line naming what is missing; under `CI=true` a missing service fails the test.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The variables that name the services of the tests.
pub const POSTGRES_URL_VAR: &str = "SPV_TEST_POSTGRES_URL";
/// The S3 URL of the tests (`s3://bucket`), with the `AWS_*` variables beside it.
pub const S3_URL_VAR: &str = "SPV_TEST_S3_URL";

/// What a multi-node test needs, found in the environment.
#[derive(Debug, Clone)]
pub struct Services {
    /// The PostgreSQL server (a database is made per test on it).
    pub postgres_url: String,
    /// `s3://bucket` of the tests.
    pub s3_url: String,
    /// The `AWS_*` variables to hand to the servers.
    pub aws_env: Vec<(String, String)>,
}

impl Services {
    /// The services, or `None` (with a line saying what was skipped) when one is missing
    /// outside CI. Panics under `CI=true` when one is missing.
    pub fn from_env(test: &str) -> Option<Services> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let redis_server = Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let missing: Vec<&str> = [
            (var(POSTGRES_URL_VAR).is_none(), POSTGRES_URL_VAR),
            (var(S3_URL_VAR).is_none(), S3_URL_VAR),
            (!redis_server, "the redis-server binary"),
        ]
        .into_iter()
        .filter_map(|(gone, name)| gone.then_some(name))
        .collect();
        if !missing.is_empty() {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{test}: {} missing; multi-node tests cannot be skipped under CI=true",
                    missing.join(", ")
                );
            }
            eprintln!("skipped {test}: {} missing", missing.join(", "));
            return None;
        }
        let aws_env = std::env::vars()
            .filter(|(name, _)| name.starts_with("AWS_"))
            .collect();
        Some(Services {
            postgres_url: var(POSTGRES_URL_VAR)?,
            s3_url: var(S3_URL_VAR)?,
            aws_env,
        })
    }
}

/// A PostgreSQL database made for one test and dropped after it.
#[derive(Debug)]
pub struct TestDatabase {
    admin_url: String,
    name: String,
    /// The URL of the new database.
    pub url: String,
}

impl TestDatabase {
    /// Creates `spv_mn_<random>` on the server of `server_url` with `psql`.
    pub fn create(server_url: &str) -> TestDatabase {
        let name = format!("spv_mn_{}", uuid_like());
        psql(server_url, &format!("CREATE DATABASE {name}"));
        let (base, _) = server_url
            .rsplit_once('/')
            .expect("a PostgreSQL URL ends in /database");
        TestDatabase {
            admin_url: server_url.to_string(),
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl TestDatabase {
    /// Makes every transaction of this database read-only (`true`) or writable again,
    /// at once: the setting, then the end of its open sessions, so that pools
    /// reconnect under it.
    pub fn set_read_only(&self, read_only: bool) {
        let value = if read_only { "on" } else { "off" };
        psql(
            &self.admin_url,
            &format!(
                "ALTER DATABASE {} SET default_transaction_read_only = {value}",
                self.name
            ),
        );
        psql(
            &self.admin_url,
            &format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = '{}' AND pid <> pg_backend_pid()",
                self.name
            ),
        );
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = Command::new("psql")
            .args([
                &self.admin_url,
                "-qAtc",
                &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn psql(url: &str, sql: &str) {
    let out = Command::new("psql")
        .args([url, "-qAtc", sql])
        .output()
        .expect("run psql");
    assert!(
        out.status.success(),
        "psql {sql:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A random lowercase name part (time and process id: unique enough per machine).
pub fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!(
        "{:x}{:x}{:x}",
        nanos,
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A `redis-server` of the test's own, on a free port, keeping nothing on disk.
#[derive(Debug)]
pub struct RedisProcess {
    port: u16,
    child: Option<Child>,
}

impl RedisProcess {
    /// Starts one on a free port and waits until it answers.
    pub fn start() -> RedisProcess {
        let port = free_port();
        let mut redis = RedisProcess { port, child: None };
        redis.restart();
        redis
    }

    /// `redis://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it (SIGKILL: everything it held is gone).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port (empty) and waits until it answers.
    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The data directory of node `name` under `root`.
pub fn node_dir(root: &Path, name: &str) -> std::path::PathBuf {
    root.join(name)
}
