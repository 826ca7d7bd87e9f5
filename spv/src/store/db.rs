//! [`Db`]: one connection pool over SQLite (the embedded default) or PostgreSQL.

use std::path::Path;
use std::time::Duration;

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Executor};

use crate::{Error, ErrorKind, Result};

/// The migrations of the SQLite schema, embedded at compile time.
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");
/// The migrations of the PostgreSQL schema, embedded at compile time.
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The file name of the embedded SQLite database inside the data directory.
pub const SQLITE_FILE: &str = "spv.db";

/// Which database engine a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (WAL, foreign keys on, busy timeout).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// Settings of the connection pool; [`Default`] suits a small machine (2 cores).
#[derive(Debug, Clone)]
pub struct DbOptions {
    /// The most connections at once; `None` picks 4 for SQLite (one writer at a time
    /// anyway, readers run beside it in WAL mode) and 8 for PostgreSQL.
    pub max_connections: Option<u32>,
    /// How long a query waits for a free connection before it fails.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before it answers "busy".
    pub busy_timeout: Duration,
    /// PostgreSQL only: the schema to create (if missing), migrate and use through
    /// `search_path`, e.g. one schema per tenant or per test. `None` uses the server's
    /// default search path.
    pub schema: Option<String>,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            max_connections: None,
            acquire_timeout: Duration::from_secs(10),
            busy_timeout: Duration::from_secs(5),
            schema: None,
        }
    }
}

/// The database of spv: a cheap-to-clone pool, migrated on connect.
///
/// All queries are portable SQL with `$1` placeholders and run through [`sqlx::AnyPool`],
/// so one repository implementation serves both engines.
///
/// ```
/// use spv::store::{Backend, Db};
///
/// let dir = tempfile::tempdir().unwrap();
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let db = rt.block_on(Db::open(None, dir.path())).unwrap();
/// assert_eq!(db.backend(), Backend::Sqlite);
/// assert!(dir.path().join("spv.db").exists());
/// rt.block_on(db.ping()).unwrap();
/// ```
#[derive(Debug, Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
}

impl Db {
    /// Opens the database of a server: `url` when given (`postgres://…`, `postgresql://…`
    /// or `sqlite:…`), otherwise the SQLite file `<data_dir>/spv.db` (the directory is
    /// created). Runs the migrations.
    pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Db> {
        match url {
            Some(url) => Db::connect(url).await,
            None => {
                tokio::fs::create_dir_all(data_dir).await.map_err(|e| {
                    Error::from(e).at(format!("data directory {}", data_dir.display()))
                })?;
                Db::sqlite(&data_dir.join(SQLITE_FILE)).await
            }
        }
    }

    /// Opens (creating when missing) the SQLite file at `path` and runs the migrations.
    pub async fn sqlite(path: &Path) -> Result<Db> {
        Db::connect_with(&sqlite_url(path), DbOptions::default()).await
    }

    /// Connects to `url` with default [`DbOptions`] and runs the migrations.
    pub async fn connect(url: &str) -> Result<Db> {
        Db::connect_with(url, DbOptions::default()).await
    }

    /// Connects to `url` with `options` and runs the migrations.
    pub async fn connect_with(url: &str, options: DbOptions) -> Result<Db> {
        install_default_drivers();
        let backend = backend_of(url)?;
        let max = options.max_connections.unwrap_or(match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 8,
        });
        let setup = connection_setup(backend, &options);
        let pool = AnyPoolOptions::new()
            .max_connections(max.max(1))
            .min_connections(1)
            .acquire_timeout(options.acquire_timeout)
            .after_connect(move |conn, _meta| {
                let setup = setup.clone();
                Box::pin(async move {
                    if !setup.is_empty() {
                        conn.execute(setup.as_str()).await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await
            .map_err(|e| {
                Error::new(
                    ErrorKind::Io,
                    format!("cannot connect to the database ({}): {e}", redact(url)),
                )
                .with_source(e)
            })?;
        if let (Backend::Postgres, Some(schema)) = (backend, &options.schema) {
            let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema)?);
            pool.execute(sql.as_str())
                .await
                .map_err(db_err("creating the schema"))?;
        }
        let migrator = match backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&pool).await.map_err(|e| {
            Error::internal(format!("database migrations failed: {e}")).with_source(e)
        })?;
        Ok(Db { pool, backend })
    }

    /// The pool, for repositories.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Which engine this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Checks that the database answers (for readiness probes).
    pub async fn ping(&self) -> Result<()> {
        self.pool
            .execute("SELECT 1")
            .await
            .map_err(db_err("checking the connection"))?;
        Ok(())
    }

    /// Closes every connection; waits for queries in flight.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Which backend a URL names.
fn backend_of(url: &str) -> Result<Backend> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else {
        Err(Error::invalid_request(format!(
            "unsupported database url \"{}\": expected postgres://… or sqlite:…",
            redact(url)
        )))
    }
}

/// The statements every new connection runs.
fn connection_setup(backend: Backend, options: &DbOptions) -> String {
    match backend {
        Backend::Sqlite => format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {};",
            options.busy_timeout.as_millis()
        ),
        Backend::Postgres => match options.schema.as_deref().map(quote_ident) {
            Some(Ok(schema)) => format!("SET search_path TO {schema}"),
            _ => String::new(),
        },
    }
}

/// `sqlite://<path>?mode=rwc` with the path percent-encoded (so `?`, `#`, `%` work).
fn sqlite_url(path: &Path) -> String {
    let mut url = String::from("sqlite://");
    for byte in path.to_string_lossy().bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'.' | b'-' | b'_' | b'~' => {
                url.push(char::from(byte))
            }
            _ => url.push_str(&format!("%{byte:02X}")),
        }
    }
    url.push_str("?mode=rwc");
    url
}

/// A PostgreSQL identifier in double quotes; refuses anything but `[A-Za-z0-9_]`.
fn quote_ident(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(format!("\"{name}\""))
    } else {
        Err(Error::invalid_request(format!(
            "schema name \"{name}\" is not valid: expected 1 to 63 letters, digits or _"
        )))
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_string(),
    }
}

/// Turns a database error into an [`ErrorKind::Internal`] error saying what was being done.
pub(crate) fn db_err(doing: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| Error::internal(format!("database error while {doing}: {e}")).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::testing::test_dbs;
    use sqlx::Row;

    #[test]
    fn urls_are_recognised_and_passwords_hidden() {
        assert_eq!(backend_of("postgres://a@b/c").unwrap(), Backend::Postgres);
        assert_eq!(backend_of("sqlite:x.db").unwrap(), Backend::Sqlite);
        let err = backend_of("mysql://root:secret@h/db").unwrap_err();
        assert!(!err.to_string().contains("secret"), "{err}");
        assert_eq!(redact("postgres://u:pw@h/db"), "postgres://u:***@h/db");
        assert_eq!(
            sqlite_url(Path::new("/a b/x?.db")),
            "sqlite:///a%20b/x%3F.db?mode=rwc"
        );
        assert!(quote_ident("bad\"; DROP").is_err());
    }

    #[tokio::test]
    async fn sqlite_runs_wal_with_foreign_keys_and_dollar_placeholders() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::sqlite(&dir.path().join("odd name?.db")).await.unwrap();
        let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(mode.to_lowercase(), "wal");
        let fk: i64 = sqlx::query_scalar("PRAGMA foreign_keys")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(fk, 1);
        // A tag of a missing document breaks the foreign key.
        let err = sqlx::query("INSERT INTO document_tags (document_id, tag) VALUES ($1, $2)")
            .bind("missing")
            .bind("t")
            .execute(db.pool())
            .await;
        assert!(err.is_err(), "foreign keys are enforced");
        // Opening again finds the migrations applied.
        db.close().await;
        Db::sqlite(&dir.path().join("odd name?.db")).await.unwrap();
    }

    #[tokio::test]
    async fn both_backends_migrate_and_bind_portable_types() {
        for test in test_dbs().await {
            let db = &test.db;
            db.ping().await.unwrap();
            let row = sqlx::query("SELECT $1 AS a, $2 AS b, $3 AS c")
                .bind(7_i64)
                .bind("x")
                .bind(vec![1_u8, 2])
                .fetch_one(db.pool())
                .await
                .unwrap();
            assert_eq!(row.get::<i64, _>("a"), 7, "{:?}", db.backend());
            assert_eq!(row.get::<String, _>("b"), "x");
            assert_eq!(row.get::<Vec<u8>, _>("c"), vec![1, 2]);
            let count: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
                .fetch_one(db.pool())
                .await
                .unwrap();
            assert_eq!(count, 0, "a fresh database per test");
        }
    }
}
