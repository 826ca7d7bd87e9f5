//! [`Db`]: one connection pool over SQLite (the embedded default) or PostgreSQL.

use std::path::Path;
use std::sync::Arc;
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
    /// How long a query waits for a free connection (or for a new one to a database
    /// that does not answer) before it fails with [`ErrorKind::Unavailable`]: 3 s, so a
    /// database that is gone answers requests with a 503 soon rather than holding them.
    pub acquire_timeout: Duration,
    /// How long SQLite waits on a locked database before it answers "busy".
    pub busy_timeout: Duration,
    /// PostgreSQL only: the schema to create (if missing), migrate and use through
    /// `search_path`, e.g. one schema per tenant or per test. `None` uses the server's
    /// default search path.
    pub schema: Option<String>,
    /// Whether connecting runs the migrations (the default). `false`: connecting checks
    /// that every migration is applied instead, and a database that lacks one is an
    /// error naming `spv-cli migrate` (for deployments that migrate in a step of their
    /// own, `--no-migrate`).
    pub migrate: bool,
}

impl Default for DbOptions {
    fn default() -> Self {
        DbOptions {
            max_connections: None,
            acquire_timeout: Duration::from_secs(3),
            busy_timeout: Duration::from_secs(5),
            schema: None,
            migrate: true,
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
#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    /// PostgreSQL: how to open connections of its own (LISTEN needs one).
    listen: Option<Arc<ListenTarget>>,
}

/// What a dedicated PostgreSQL connection (a `PgListener`) needs: the URL and schema the
/// pool was opened with.
pub(crate) struct ListenTarget {
    /// The connection URL (with its password: never shown).
    pub(crate) url: String,
    /// The schema of [`DbOptions::schema`], if any.
    pub(crate) schema: Option<String>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .field(
                "schema",
                &self.listen.as_ref().and_then(|t| t.schema.as_deref()),
            )
            .finish_non_exhaustive()
    }
}

/// One migration: its version and description.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationInfo {
    /// The version (the number the migration's file name starts with).
    pub version: i64,
    /// What it does (the rest of its file name).
    pub description: String,
}

impl Db {
    /// Opens the database of a server: `url` when given (`postgres://…`, `postgresql://…`
    /// or `sqlite:…`), otherwise the SQLite file `<data_dir>/spv.db` (the directory is
    /// created). Runs the migrations.
    pub async fn open(url: Option<&str>, data_dir: &Path) -> Result<Db> {
        Db::open_with(url, data_dir, DbOptions::default()).await
    }

    /// [`open`](Self::open) with `options` (e.g. [`DbOptions::migrate`] off).
    pub async fn open_with(url: Option<&str>, data_dir: &Path, options: DbOptions) -> Result<Db> {
        match url {
            Some(url) => Db::connect_with(url, options).await,
            None => {
                tokio::fs::create_dir_all(data_dir).await.map_err(|e| {
                    Error::from(e).at(format!("data directory {}", data_dir.display()))
                })?;
                Db::connect_with(&sqlite_url(&data_dir.join(SQLITE_FILE)), options).await
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

    /// Connects to `url` with `options` and runs the migrations (or, with
    /// [`DbOptions::migrate`] off, checks that they all ran). Several processes may
    /// start at once on one PostgreSQL database: sqlx's migrator holds an advisory lock
    /// while it migrates, so one applies each migration and the others find it applied.
    pub async fn connect_with(url: &str, options: DbOptions) -> Result<Db> {
        let db = Db::connect_unmigrated(url, &options).await?;
        if options.migrate {
            db.migrate().await?;
        } else {
            let pending = db.pending_migrations().await?;
            if !pending.is_empty() {
                let names: Vec<String> = pending
                    .iter()
                    .map(|m| format!("{} {}", m.version, m.description))
                    .collect();
                db.close().await;
                return Err(Error::new(
                    ErrorKind::Conflict,
                    format!(
                        "the database is not migrated ({} pending: {}) and migrations at \
                         start are off (--no-migrate, SPV_NO_MIGRATE): run `spv-cli migrate` \
                         first",
                        pending.len(),
                        names.join(", ")
                    ),
                ));
            }
        }
        Ok(db)
    }

    /// Opens the database as [`open_with`](Self::open_with) does, but neither migrates nor
    /// checks the migrations (the schema of [`DbOptions::schema`] is created): for
    /// `spv-cli migrate`, which then calls [`migrate`](Self::migrate).
    pub async fn open_unmigrated(
        url: Option<&str>,
        data_dir: &Path,
        options: DbOptions,
    ) -> Result<Db> {
        let url = match url {
            Some(url) => url.to_string(),
            None => {
                tokio::fs::create_dir_all(data_dir).await.map_err(|e| {
                    Error::from(e).at(format!("data directory {}", data_dir.display()))
                })?;
                sqlite_url(&data_dir.join(SQLITE_FILE))
            }
        };
        let options = DbOptions {
            migrate: true,
            ..options
        };
        Db::connect_unmigrated(&url, &options).await
    }

    /// The pool (and, with [`DbOptions::migrate`], the schema), nothing migrated.
    async fn connect_unmigrated(url: &str, options: &DbOptions) -> Result<Db> {
        install_default_drivers();
        let backend = backend_of(url)?;
        let max = options.max_connections.unwrap_or(match backend {
            Backend::Sqlite => 4,
            Backend::Postgres => 8,
        });
        let setup = connection_setup(backend, options);
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
        if let (Backend::Postgres, Some(schema), true) = (backend, &options.schema, options.migrate)
        {
            let sql = format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(schema)?);
            pool.execute(sql.as_str())
                .await
                .map_err(db_err("creating the schema"))?;
        }
        let listen = (backend == Backend::Postgres).then(|| {
            Arc::new(ListenTarget {
                url: url.to_string(),
                schema: options.schema.clone(),
            })
        });
        Ok(Db {
            pool,
            backend,
            listen,
        })
    }

    fn migrator(&self) -> &'static sqlx::migrate::Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Runs the migrations not yet applied and answers them (empty: the database was up
    /// to date; a migration another process applied at the same time may be among them).
    /// Safe while other processes migrate the same database (an advisory lock
    /// on PostgreSQL, SQLite's write lock).
    pub async fn migrate(&self) -> Result<Vec<MigrationInfo>> {
        let pending = self.pending_migrations().await?;
        self.migrator().run(&self.pool).await.map_err(|e| {
            Error::internal(format!("database migrations failed: {e}")).with_source(e)
        })?;
        // Another process starting at the same time may have applied some of these under
        // the lock: they were pending when this call began and are applied now.
        Ok(pending)
    }

    /// The migrations this build has that the database has not applied, oldest first.
    pub async fn pending_migrations(&self) -> Result<Vec<MigrationInfo>> {
        let exists: i64 = match self.backend {
            Backend::Sqlite => sqlx::query_scalar(
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' \
                 AND name = '_sqlx_migrations'",
            ),
            Backend::Postgres => sqlx::query_scalar(
                "SELECT COUNT(*) FROM information_schema.tables \
                 WHERE table_name = '_sqlx_migrations' AND table_schema = current_schema()",
            ),
        }
        .fetch_one(&self.pool)
        .await
        .map_err(db_err("reading which migrations ran"))?;
        let applied: Vec<i64> = if exists > 0 {
            sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err("reading which migrations ran"))?
        } else {
            Vec::new()
        };
        Ok(self
            .migrator()
            .iter()
            .filter(|m| !m.migration_type.is_down_migration() && !applied.contains(&m.version))
            .map(|m| MigrationInfo {
                version: m.version,
                description: m.description.to_string(),
            })
            .collect())
    }

    /// PostgreSQL: the URL and schema to open a connection of its own with (for
    /// `LISTEN`); `None` on SQLite.
    pub(crate) fn listen_target(&self) -> Option<&ListenTarget> {
        self.listen.as_deref()
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

    /// Checks that the database answers and takes writes (for readiness probes): an
    /// [`ErrorKind::Unavailable`] error saying it "does not answer" or "is read-only"
    /// (PostgreSQL: `transaction_read_only` is on for a new transaction, as under
    /// `default_transaction_read_only` or on a hot standby).
    pub async fn check(&self) -> Result<()> {
        if self.backend == Backend::Postgres {
            let read_only: String =
                sqlx::query_scalar("SELECT current_setting('transaction_read_only')")
                    .fetch_one(&self.pool)
                    .await
                    .map_err(db_err("checking the connection"))?;
            if read_only == "on" {
                return Err(Error::new(
                    ErrorKind::Unavailable,
                    "the database is read-only; try again later",
                ));
            }
            return Ok(());
        }
        self.ping().await
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

/// Turns a database error into an error saying what was being done: an
/// [`ErrorKind::Unavailable`] one when the database cannot do its part now (gone,
/// read-only, full: [`unavailable_reason`]), whose message says only that (the cause is
/// its source, for the log); otherwise an [`ErrorKind::Internal`] one.
pub(crate) fn db_err(doing: &'static str) -> impl FnOnce(sqlx::Error) -> Error {
    move |e| match unavailable_reason(&e) {
        Some(reason) => Error::new(
            ErrorKind::Unavailable,
            format!("the database {reason}; try again later"),
        )
        .with_source(e),
        None => Error::internal(format!("database error while {doing}: {e}")).with_source(e),
    }
}

/// Why the database cannot do its part now, when `e` says so: it does not answer (no
/// connection within the acquire timeout, a broken connection, the server shutting
/// down), it is read-only (PostgreSQL `default_transaction_read_only`, a hot standby, a
/// read-only SQLite file) or it is full. `None` for errors of the query or the data.
pub(crate) fn unavailable_reason(e: &sqlx::Error) -> Option<&'static str> {
    const GONE: &str = "does not answer";
    const READ_ONLY: &str = "is read-only";
    const FULL: &str = "is full";
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => Some(GONE),
        sqlx::Error::Database(db) => {
            let code = db.code()?;
            // A PostgreSQL SQLSTATE may be all digits ("25006"): tell the backends apart
            // by the error's type, not by the code's look.
            let postgres = db
                .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                .is_some();
            if !postgres && let Ok(extended) = code.parse::<i64>() {
                // SQLite: the primary result code is the low byte of the extended one.
                return match extended & 0xff {
                    8 => Some(READ_ONLY),  // SQLITE_READONLY
                    13 => Some(FULL),      // SQLITE_FULL
                    10 | 14 => Some(GONE), // SQLITE_IOERR, SQLITE_CANTOPEN
                    _ => None,
                };
            }
            // PostgreSQL: SQLSTATE.
            match code.as_ref() {
                "25006" => Some(READ_ONLY),                // read_only_sql_transaction
                "53100" => Some(FULL),                     // disk_full
                "57P01" | "57P02" | "57P03" => Some(GONE), // shutdown, cannot connect now
                c if c.starts_with("08") => Some(GONE),    // connection exception
                c if c.starts_with("53") => Some(FULL),    // insufficient resources
                _ => None,
            }
        }
        _ => None,
    }
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
    async fn an_unavailable_database_is_told_apart_from_a_bad_query() {
        assert_eq!(
            unavailable_reason(&sqlx::Error::PoolTimedOut),
            Some("does not answer")
        );
        assert_eq!(unavailable_reason(&sqlx::Error::RowNotFound), None);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spv.db");
        let db = Db::sqlite(&path).await.unwrap();
        // The same file opened read-only beside it: a write says so, with a fixed text.
        let url = sqlite_url(&path).replace("mode=rwc", "mode=ro");
        let read_only = sqlx::SqlitePool::connect(&url).await.unwrap();
        let err = sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&read_only)
            .await
            .unwrap_err();
        assert_eq!(unavailable_reason(&err), Some("is read-only"), "{err}");
        let err = db_err("creating a table")(err);
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(err.message(), "the database is read-only; try again later");
        // A bad query is no fault of the database.
        let err = sqlx::query("SELEC 1").execute(db.pool()).await.unwrap_err();
        assert_eq!(unavailable_reason(&err), None);
        assert_eq!(db_err("x")(err).kind(), ErrorKind::Internal);
        read_only.close().await;
        db.close().await;
    }

    #[tokio::test]
    async fn a_read_only_postgres_is_unavailable() {
        let Some(test) = crate::store::testing::postgres_db().await else {
            return;
        };
        let mut tx = test.db.pool().begin().await.unwrap();
        sqlx::query("SET TRANSACTION READ ONLY")
            .execute(&mut *tx)
            .await
            .unwrap();
        // SQLSTATE 25006, all digits (once read as a SQLite code and answered 500).
        let err = sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut *tx)
            .await
            .unwrap_err();
        assert_eq!(unavailable_reason(&err), Some("is read-only"), "{err}");
        tx.rollback().await.unwrap();
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

    #[tokio::test]
    async fn without_migrating_an_unmigrated_database_is_an_error_naming_spv_cli_migrate() {
        let dir = tempfile::tempdir().unwrap();
        let off = || DbOptions {
            migrate: false,
            ..DbOptions::default()
        };
        let err = Db::open_with(None, dir.path(), off()).await.unwrap_err();
        assert!(err.to_string().contains("spv-cli migrate"), "{err}");
        assert!(err.to_string().contains("pending"), "{err}");

        // What `spv-cli migrate` does: every migration applied once, then none.
        let db = Db::open_unmigrated(None, dir.path(), DbOptions::default())
            .await
            .unwrap();
        let all = db.pending_migrations().await.unwrap();
        assert!(!all.is_empty());
        assert_eq!(db.migrate().await.unwrap(), all);
        assert!(db.migrate().await.unwrap().is_empty());
        db.close().await;
        // Now a start without migrations opens it.
        let db = Db::open_with(None, dir.path(), off()).await.unwrap();
        assert!(db.pending_migrations().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn concurrent_starts_migrate_one_postgres_schema_safely() {
        let Ok(url) = std::env::var(crate::store::testing::POSTGRES_URL_VAR) else {
            // Skips (or fails under CI) with the usual message.
            assert!(crate::store::testing::postgres_db().await.is_none());
            return;
        };
        let schema = format!("spv_test_{}", uuid::Uuid::now_v7().simple());
        let options = || DbOptions {
            max_connections: Some(2),
            schema: Some(schema.clone()),
            ..DbOptions::default()
        };
        // The schema exists first (CREATE SCHEMA IF NOT EXISTS itself races), as one
        // deployment's schema does; then four processes' worth of starts migrate at once.
        Db::open_unmigrated(Some(&url), Path::new("."), options())
            .await
            .unwrap()
            .close()
            .await;
        let starts = (0..4).map(|_| {
            let (url, options) = (url.clone(), options());
            tokio::spawn(async move {
                let db = Db::open_unmigrated(Some(&url), Path::new("."), options).await?;
                let applied = db.migrate().await?;
                db.close().await;
                Ok::<_, Error>(applied.len())
            })
        });
        let mut applied = Vec::new();
        for start in starts.collect::<Vec<_>>() {
            applied.push(start.await.unwrap().unwrap());
        }
        let total = POSTGRES_MIGRATIONS.iter().count();
        assert!(applied.iter().all(|&n| n <= total), "{applied:?}");
        let db = Db::connect_with(
            &url,
            DbOptions {
                migrate: false,
                ..options()
            },
        )
        .await
        .unwrap();
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(rows as usize, total, "each migration recorded once");
    }
}
