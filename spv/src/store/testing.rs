//! Test databases: SQLite in a temporary directory always, PostgreSQL when
//! `SPV_TEST_POSTGRES_URL` is set, each in a fresh schema so tests run in parallel.
//!
//! Without the variable the PostgreSQL half is skipped with a message, except under
//! `CI=true`, where a missing variable fails the test: CI must test both engines.

use super::{Db, DbOptions};

/// The variable naming the PostgreSQL server of the tests.
pub(crate) const POSTGRES_URL_VAR: &str = "SPV_TEST_POSTGRES_URL";

/// A migrated, empty database for one test.
pub(crate) struct TestDb {
    /// The database.
    pub(crate) db: Db,
    /// Keeps the SQLite directory alive as long as the test runs.
    _dir: Option<tempfile::TempDir>,
}

/// A fresh SQLite database in a temporary directory.
pub(crate) async fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let db = Db::open(None, dir.path())
        .await
        .expect("an SQLite database");
    TestDb {
        db,
        _dir: Some(dir),
    }
}

/// A fresh PostgreSQL schema, or `None` when the server is not configured (outside CI).
pub(crate) async fn postgres_db() -> Option<TestDb> {
    let url = match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{POSTGRES_URL_VAR} must be set when CI=true: PostgreSQL tests cannot be skipped in CI"
                );
            }
            eprintln!("skipped: {POSTGRES_URL_VAR} not set");
            return None;
        }
    };
    drop_stale_schemas(&url).await;
    let schema = format!("spv_test_{}", uuid::Uuid::now_v7().simple());
    let options = DbOptions {
        max_connections: Some(4),
        schema: Some(schema),
        ..DbOptions::default()
    };
    let db = Db::connect_with(&url, options)
        .await
        .unwrap_or_else(|e| panic!("the server of {POSTGRES_URL_VAR}: {e}"));
    Some(TestDb { db, _dir: None })
}

/// Drops the schemas of earlier test runs, once per process. A schema's name carries the
/// UUIDv7 it was made with, whose first 48 bits are its creation time in milliseconds; only
/// schemas older than an hour go, so test processes running now keep theirs.
async fn drop_stale_schemas(url: &str) {
    const DROP_STALE: &str = r"
        DO $$
        DECLARE s text;
        BEGIN
            FOR s IN
                SELECT schema_name FROM information_schema.schemata
                WHERE schema_name ~ '^spv_test_[0-9a-f]{32}$'
                  AND ('x' || lpad(substr(schema_name, 10, 12), 16, '0'))::bit(64)::bigint
                      < (extract(epoch FROM now()) * 1000)::bigint - 3600000
            LOOP
                EXECUTE 'DROP SCHEMA IF EXISTS ' || quote_ident(s) || ' CASCADE';
            END LOOP;
        END $$;";
    static CLEANED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CLEANED
        .get_or_init(|| async {
            use sqlx::Connection;
            if let Ok(mut conn) = sqlx::PgConnection::connect(url).await
                && let Err(err) = sqlx::raw_sql(DROP_STALE).execute(&mut conn).await
            {
                eprintln!("could not drop stale test schemas: {err}");
            }
        })
        .await;
}

/// Every configured database: SQLite, then PostgreSQL when available.
pub(crate) async fn test_dbs() -> Vec<TestDb> {
    let mut dbs = vec![sqlite_db().await];
    dbs.extend(postgres_db().await);
    dbs
}

/// The variable naming the Redis server of the tests.
pub(crate) const REDIS_URL_VAR: &str = "SPV_TEST_REDIS_URL";

/// The Redis URL of the tests, or `None` (with a "skipped" line naming `test`) when the
/// variable is unset outside CI; under `CI=true` a missing variable fails the test.
pub(crate) fn redis_url(test: &str) -> Option<String> {
    match std::env::var(REDIS_URL_VAR) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "{REDIS_URL_VAR} must be set when CI=true: Redis tests cannot be skipped in CI"
                );
            }
            eprintln!("skipped {test}: {REDIS_URL_VAR} not set");
            None
        }
    }
}

/// A key prefix no other test (or earlier run) uses, for tests sharing one Redis.
#[allow(dead_code)] // used by the scale-out domains' tests as they land
pub(crate) fn redis_prefix() -> String {
    format!("spv-test:{}:", uuid::Uuid::now_v7().simple())
}

/// The variable naming the S3 bucket of the tests (`s3://bucket/prefix`); the client is
/// configured by the `AWS_*` variables (`AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, keys, region).
pub(crate) const S3_URL_VAR: &str = "SPV_TEST_S3_URL";

/// The `AWS_*` variables of the environment, as `Config` collects them.
pub(crate) fn aws_env() -> std::collections::BTreeMap<String, String> {
    std::env::vars()
        .filter(|(name, _)| name.starts_with("AWS_"))
        .collect()
}

/// A store on the test bucket under a prefix no other test uses, or `None` (with a
/// "skipped" line naming `test`) when `SPV_TEST_S3_URL` is unset outside CI; under
/// `CI=true` a missing variable fails the test. The bucket is created on first use.
pub(crate) async fn s3_store(test: &str) -> Option<super::S3Blobs> {
    let (bucket, prefix) = s3_bucket(test).await?;
    let prefix = format!("{prefix}/{}", uuid::Uuid::now_v7().simple());
    let prefix = prefix.trim_start_matches('/');
    Some(super::S3Blobs::open(&bucket, prefix, &aws_env()).expect("the test S3 store"))
}

/// The bucket and prefix of `SPV_TEST_S3_URL`, the bucket created (once per process).
pub(crate) async fn s3_bucket(test: &str) -> Option<(String, String)> {
    let url = match std::env::var(S3_URL_VAR) {
        Ok(url) if !url.is_empty() => url,
        _ => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("{S3_URL_VAR} must be set when CI=true: S3 tests cannot be skipped in CI");
            }
            eprintln!("skipped {test}: {S3_URL_VAR} not set");
            return None;
        }
    };
    let super::BlobUrl::S3 { bucket, prefix } =
        super::BlobUrl::parse(&url).unwrap_or_else(|e| panic!("{S3_URL_VAR}: {e}"))
    else {
        panic!("{S3_URL_VAR} must be an s3:// URL");
    };
    static CREATED: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    CREATED
        .get_or_init(|| async {
            // object_store cannot create buckets; the test server takes an unsigned PUT.
            let (status, body) = raw_http("PUT", &format!("/{bucket}")).await;
            assert!(
                status == 200 || body.contains("BucketAlreadyOwnedByYou"),
                "creating bucket {bucket}: {status} {body}"
            );
        })
        .await;
    Some((bucket, prefix))
}

/// One unsigned HTTP/1.1 request to the test server of `AWS_ENDPOINT` (plain HTTP):
/// the status and the body.
pub(crate) async fn raw_http(method: &str, target: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let endpoint = std::env::var("AWS_ENDPOINT").expect("AWS_ENDPOINT for the S3 tests");
    let host = endpoint
        .strip_prefix("http://")
        .expect("AWS_ENDPOINT of the tests is http://host:port")
        .trim_end_matches('/');
    let mut stream = tokio::net::TcpStream::connect(host)
        .await
        .unwrap_or_else(|e| panic!("connecting to {endpoint}: {e}"));
    let request = format!(
        "{method} {target} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}
