//! Storage: the database and the blob store.
//!
//! | item | what it is |
//! |---|---|
//! | [`Db`] | one pool over SQLite (embedded default, `<data_dir>/spv.db`, WAL) or PostgreSQL, migrated on connect |
//! | [`DbOptions`], [`Backend`] | pool settings, which engine |
//! | [`BlobStore`], [`BlobWriter`], [`BlobStream`] | content-addressed blobs, never visible half-written; streamed range reads |
//! | [`LocalBlobs`] | blobs in `<data_dir>/blobs/ab/cd/<sha256>` |
//! | [`S3Blobs`] | blobs in `s3://bucket/prefix/ab/cd/<sha256>` (conditional puts, multipart uploads) |
//! | [`ObservedBlobs`] | a blob store whose operations are reported to a hook (the server's blob metrics) |
//! | [`BlobUrl`] | `SPV_BLOB_URL`: a directory or `s3://bucket/prefix`, opened as a store |
//! | [`migrate_blobs`], [`MigrateReport`] | copies every blob from one store to another (`spv-cli blobs migrate`) |
//! | [`Redis`], [`RedisOptions`] | the Redis connection of a scaled-out deployment (`REDIS_URL`): commands and pub/sub, time-limited, reconnecting |
//! | [`CacheBus`], [`Invalidation`], [`CacheCounters`] | the in-memory caches of several nodes kept true over Redis pub/sub (document changes, finished claimed renders, a flush on reconnect) |
//!
//! Migrations live in `migrations/sqlite/` and `migrations/postgres/` at the repository
//! root and are embedded with `sqlx::migrate!`. Repositories of each domain
//! (`documents`, `auth`, …) are implemented over [`Db`] with portable SQL.
//!
//! ```
//! use spv::store::{BlobStore, Db, LocalBlobs};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let db = Db::open(None, dir.path()).await.unwrap();
//!     db.ping().await.unwrap();
//!     let blobs = LocalBlobs::in_data_dir(dir.path());
//!     let put = blobs.put(b"bytes").await.unwrap();
//!     assert_eq!(put.size, 5);
//! });
//! ```

mod blobs;
mod bus;
mod db;
mod migrate;
mod paging;
mod redis;
mod refs;
#[cfg(test)]
pub(crate) mod testing;

use std::future::Future;
use std::pin::Pin;

pub(crate) use crate::hex::hex;
pub use blobs::{
    BlobHook, BlobKey, BlobList, BlobOp, BlobStore, BlobStream, BlobUrl, BlobWriter, LocalBlobs,
    MULTIPART_THRESHOLD, ObservedBlobs, PutBlob, S3Blobs,
};
pub use bus::{CacheBus, CacheCounters, Invalidation, InvalidationHandler};
pub(crate) use db::db_err;
pub use db::{Backend, Db, DbOptions, MigrationInfo, SQLITE_FILE};
pub use migrate::{
    MAX_REPORTED_FAILURES, MigrateEvent, MigrateOptions, MigrateReport, migrate_blobs,
};
pub(crate) use paging::Paging;
#[allow(unused_imports)] // the scale-out domains use it
pub(crate) use redis::redis_err;
pub use redis::{Redis, RedisOptions};
pub(crate) use refs::{BLOB_USERS_SQL, delete_blob_if_unused, lock_blob};

/// A boxed, sendable future of a [`crate::Result`], the return type of the storage traits
/// (which are used as trait objects).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = crate::Result<T>> + Send + 'a>>;

/// Implements `tower::Service<Request>` for a cheap-to-clone domain service, once per
/// request type, each call delegating to an async method of the service. `poll_ready` is
/// always ready: backpressure lives inside the methods (pools and semaphores).
macro_rules! domain_service {
    ($service:ty { $($request:ty => $response:ty, $method:ident;)+ }) => {
        $(
            impl tower::Service<$request> for $service {
                type Response = $response;
                type Error = $crate::Error;
                type Future = $crate::store::BoxFuture<'static, $response>;

                fn poll_ready(
                    &mut self,
                    _cx: &mut std::task::Context<'_>,
                ) -> std::task::Poll<$crate::Result<()>> {
                    std::task::Poll::Ready(Ok(()))
                }

                fn call(&mut self, request: $request) -> Self::Future {
                    let service = self.clone();
                    Box::pin(async move { service.$method(request).await })
                }
            }
        )+
    };
}
pub(crate) use domain_service;

/// Now, in unix milliseconds (how the database keeps times).
pub(crate) fn now_ms() -> i64 {
    to_ms(time::OffsetDateTime::now_utc())
}

/// A time as Unix milliseconds (saturating).
pub(crate) fn to_ms(time: time::OffsetDateTime) -> i64 {
    i64::try_from(time.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
}

/// Unix milliseconds as a UTC time (out-of-range values clamp to the epoch).
pub(crate) fn from_ms(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}
