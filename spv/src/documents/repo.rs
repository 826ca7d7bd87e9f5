//! [`DocumentRepo`], where documents are kept, and [`SqlDocuments`], its implementation
//! over [`Db`] (portable SQL for SQLite and PostgreSQL).

use std::fmt;

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::api::{Document, PageSummary};
use crate::glyph::ops::{LiveDoc, Op};
use crate::store::{BoxFuture, Db, db_err, from_ms, to_ms};
use crate::{Error, Result};

/// Which documents a list returns, and which slice of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentFilter {
    /// Only documents of this owner.
    pub owner: Option<Uuid>,
    /// Only public documents.
    pub public_only: bool,
    /// Only titles containing this text (case-insensitive for ASCII on SQLite).
    pub title: Option<String>,
    /// Only documents with this tag.
    pub tag: Option<String>,
    /// At most this many.
    pub limit: i64,
    /// Skipping this many, newest first.
    pub offset: i64,
    /// Only documents older than this one in list order (its creation time in Unix
    /// milliseconds and its id): the keyset cursor of a streamed list, stable while
    /// documents are added.
    pub after: Option<(i64, Uuid)>,
}

/// Storage of documents: metadata plus the content bytes. Writes that take an
/// `expected_version` change nothing (and answer `false`) when the stored version differs.
pub trait DocumentRepo: Send + Sync + fmt::Debug {
    /// Stores a new document.
    fn insert<'a>(&'a self, document: &'a Document, content: &'a [u8]) -> BoxFuture<'a, ()>;

    /// The metadata of a document.
    fn get(&self, id: Uuid) -> BoxFuture<'_, Option<Document>>;

    /// The metadata and content of a document.
    fn content(&self, id: Uuid) -> BoxFuture<'_, Option<(Document, Vec<u8>)>>;

    /// Documents matching `filter`, newest first.
    fn list<'a>(&'a self, filter: &'a DocumentFilter) -> BoxFuture<'a, Vec<Document>>;

    /// Replaces content and metadata (`document` is the new state, id unchanged).
    fn update<'a>(
        &'a self,
        document: &'a Document,
        content: Option<&'a [u8]>,
        expected_version: i64,
    ) -> BoxFuture<'a, bool>;

    /// Deletes a document.
    fn delete(&self, id: Uuid, expected_version: i64) -> BoxFuture<'_, bool>;

    /// Live editing: the stored state of a document, its content as stored (not yet
    /// brought up to date with its change log) and the version that content is at.
    fn live_base(&self, id: Uuid) -> BoxFuture<'_, Option<LiveBase>> {
        let _ = id;
        Box::pin(async { Err(no_live()) })
    }

    /// Live editing: the logged changes of a document after `seq`, in order, at most
    /// `limit`.
    fn changes_after(&self, id: Uuid, seq: i64, limit: i64) -> BoxFuture<'_, Vec<StoredChange>> {
        let _ = (id, seq, limit);
        Box::pin(async { Err(no_live()) })
    }

    /// Live editing: appends `changes` (numbered from `expected_version + 1`, in order) to
    /// the change log and moves the document's version to the last, in one transaction;
    /// nothing (and `false`) when the version is no longer `expected_version`.
    fn append_changes<'a>(
        &'a self,
        id: Uuid,
        expected_version: i64,
        changes: &'a [StoredChange],
        updated_at: time::OffsetDateTime,
    ) -> BoxFuture<'a, bool> {
        let _ = (id, expected_version, changes, updated_at);
        Box::pin(async { Err(no_live()) })
    }

    /// Live editing: stores `content` as the document's content at `document.version`
    /// (with the content fields of `document`) when the document has reached that
    /// version under live editing and its stored content is older (the changes after it
    /// stay in the log), and drops the logged changes up to `trim_through`; `false`
    /// when not (a REST write replaced the content, or a later compaction came first).
    fn compact<'a>(
        &'a self,
        document: &'a Document,
        content: &'a [u8],
        trim_through: i64,
    ) -> BoxFuture<'a, bool> {
        let _ = (document, content, trim_through);
        Box::pin(async { Err(no_live()) })
    }
}

/// What [`DocumentRepo::live_base`] reads: a document's metadata and stored content, and
/// the version that content is at (the changes after it are in the log).
#[derive(Debug, Clone)]
pub struct LiveBase {
    /// The metadata (`version` is the change counter).
    pub document: Document,
    /// The content as stored.
    pub content: Vec<u8>,
    /// The version `content` is at: `document.version` when the log holds nothing newer.
    pub content_version: i64,
}

/// One accepted push in a document's change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredChange {
    /// Its sequence number (the document's version it made).
    pub seq: i64,
    /// The live session that pushed it.
    pub session: String,
    /// Its user's id.
    pub user_id: String,
    /// Its user's name.
    pub user_name: String,
    /// Its operations: the JSON array the protocol carries.
    pub ops: String,
}

fn no_live() -> Error {
    Error::internal("this document repository keeps no change log (live editing)")
}

/// Brings stored content up to date with logged changes: `content` with each change's
/// operations applied in order. Content that is not a JSON document (a package) has no
/// changes.
pub(crate) fn replay(content: &[u8], changes: &[StoredChange]) -> Result<Vec<u8>> {
    if changes.is_empty() {
        return Ok(content.to_vec());
    }
    let value: serde_json::Value = serde_json::from_slice(content)
        .map_err(|e| Error::internal(format!("stored content under live editing: {e}")))?;
    let mut n = 0u64;
    let (mut doc, _) = LiveDoc::from_value(value, &mut || {
        n += 1;
        format!("replay-{n}")
    })
    .map_err(|e| Error::internal(format!("stored content under live editing: {e}")))?;
    for change in changes {
        let ops: Vec<Op> = serde_json::from_str(&change.ops)
            .map_err(|e| Error::internal(format!("change {} in the log: {e}", change.seq)))?;
        doc.apply(&ops, None).map_err(|e| {
            Error::internal(format!(
                "change {} in the log does not apply: {e}",
                change.seq
            ))
        })?;
    }
    serde_json::to_vec(&doc.to_value()).map_err(|e| Error::internal(format!("encoding json: {e}")))
}

/// [`DocumentRepo`] over a [`Db`].
#[derive(Debug, Clone)]
pub struct SqlDocuments {
    db: Db,
}

impl SqlDocuments {
    /// Documents in `db`.
    pub fn new(db: Db) -> Self {
        SqlDocuments { db }
    }

    /// A transaction on the pool.
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>> {
        self.db
            .pool()
            .begin()
            .await
            .map_err(db_err("starting a transaction"))
    }
}

const COLUMNS: &str = "id, owner_id, title, tags, public, version, content_sha256, \
    content_length, is_package, pages, created_at, updated_at";

impl DocumentRepo for SqlDocuments {
    fn insert<'a>(&'a self, doc: &'a Document, content: &'a [u8]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            sqlx::query(
                "INSERT INTO documents (id, owner_id, title, tags, public, version, content, \
                 content_sha256, content_length, is_package, pages, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            )
            .bind(doc.id.to_string())
            .bind(doc.owner_id.to_string())
            .bind(&doc.title)
            .bind(to_json(&doc.tags)?)
            .bind(i64::from(doc.public))
            .bind(doc.version)
            .bind(content)
            .bind(&doc.content_sha256)
            .bind(i64::try_from(doc.content_length).unwrap_or(i64::MAX))
            .bind(i64::from(doc.package))
            .bind(to_json(&doc.pages)?)
            .bind(to_ms(doc.created_at))
            .bind(to_ms(doc.updated_at))
            .execute(&mut *tx)
            .await
            .map_err(db_err("storing a document"))?;
            insert_tags(&mut tx, doc).await?;
            tx.commit().await.map_err(db_err("storing a document"))?;
            Ok(())
        })
    }

    fn get(&self, id: Uuid) -> BoxFuture<'_, Option<Document>> {
        Box::pin(async move {
            let sql = format!("SELECT {COLUMNS} FROM documents WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id.to_string())
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err("reading a document"))?;
            row.as_ref().map(from_row).transpose()
        })
    }

    fn content(&self, id: Uuid) -> BoxFuture<'_, Option<(Document, Vec<u8>)>> {
        Box::pin(async move {
            let Some(base) = self.live_base(id).await? else {
                return Ok(None);
            };
            if base.content_version >= base.document.version {
                return Ok(Some((base.document, base.content)));
            }
            // Under live editing: the stored content plus the logged changes after it.
            let wanted = base.document.version - base.content_version;
            let changes = self.changes_after(id, base.content_version, wanted).await?;
            let complete = changes.len() as i64 == wanted
                && changes
                    .last()
                    .is_some_and(|c| c.seq == base.document.version);
            if !complete {
                return Err(Error::internal(format!(
                    "document {id}: the change log lacks changes {}..={}",
                    base.content_version + 1,
                    base.document.version
                )));
            }
            let content = replay(&base.content, &changes)?;
            Ok(Some((base.document, content)))
        })
    }

    fn list<'a>(&'a self, filter: &'a DocumentFilter) -> BoxFuture<'a, Vec<Document>> {
        Box::pin(async move {
            let mut sql = format!("SELECT {COLUMNS} FROM documents d WHERE 1 = 1");
            let mut n = 0;
            let mut next = || {
                n += 1;
                n
            };
            if filter.owner.is_some() {
                sql.push_str(&format!(" AND d.owner_id = ${}", next()));
            }
            if filter.public_only {
                sql.push_str(" AND d.public = 1");
            }
            if filter.title.is_some() {
                sql.push_str(&format!(" AND LOWER(d.title) LIKE ${} ESCAPE '\\'", next()));
            }
            if filter.tag.is_some() {
                sql.push_str(&format!(
                    " AND EXISTS (SELECT 1 FROM document_tags t \
                     WHERE t.document_id = d.id AND t.tag = ${})",
                    next()
                ));
            }
            if filter.after.is_some() {
                let (before, at, id) = (next(), next(), next());
                sql.push_str(&format!(
                    " AND (d.created_at < ${before} OR (d.created_at = ${at} AND d.id < ${id}))"
                ));
            }
            sql.push_str(&format!(
                " ORDER BY d.created_at DESC, d.id DESC LIMIT ${} OFFSET ${}",
                next(),
                next()
            ));
            let mut query = sqlx::query(&sql);
            if let Some(owner) = filter.owner {
                query = query.bind(owner.to_string());
            }
            if let Some(title) = &filter.title {
                query = query.bind(like_pattern(title));
            }
            if let Some(tag) = &filter.tag {
                query = query.bind(tag.clone());
            }
            if let Some((at, id)) = filter.after {
                query = query.bind(at).bind(at).bind(id.to_string());
            }
            let rows = query
                .bind(filter.limit)
                .bind(filter.offset)
                .fetch_all(self.db.pool())
                .await
                .map_err(db_err("listing documents"))?;
            rows.iter().map(from_row).collect()
        })
    }

    fn update<'a>(
        &'a self,
        doc: &'a Document,
        content: Option<&'a [u8]>,
        expected_version: i64,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            // COALESCE keeps the stored content when only metadata changes.
            let query = sqlx::query(
                "UPDATE documents SET title = $1, tags = $2, public = $3, version = $4, \
                 content_sha256 = $5, content_length = $6, is_package = $7, pages = $8, \
                 updated_at = $9, content = COALESCE($10, content), \
                 content_version = CASE WHEN $13 = 1 THEN $4 ELSE content_version END \
                 WHERE id = $11 AND version = $12",
            )
            .bind(&doc.title)
            .bind(to_json(&doc.tags)?)
            .bind(i64::from(doc.public))
            .bind(doc.version)
            .bind(&doc.content_sha256)
            .bind(i64::try_from(doc.content_length).unwrap_or(i64::MAX))
            .bind(i64::from(doc.package))
            .bind(to_json(&doc.pages)?)
            .bind(to_ms(doc.updated_at))
            .bind(content.map(<[u8]>::to_vec))
            .bind(doc.id.to_string())
            .bind(expected_version)
            .bind(i64::from(content.is_some()));
            let done = query
                .execute(&mut *tx)
                .await
                .map_err(db_err("updating a document"))?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            if content.is_none() {
                // Under live editing (content_version set) the change log holds every
                // version after the content: a metadata change is an empty change, so
                // sessions and replays stay gapless.
                sqlx::query(
                    "INSERT INTO document_changes \
                     (document_id, seq, session, user_id, user_name, ops, created_at) \
                     SELECT id, $1, '', '', '', '[]', $2 FROM documents \
                     WHERE id = $3 AND content_version <> 0",
                )
                .bind(doc.version)
                .bind(to_ms(doc.updated_at))
                .bind(doc.id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err("logging a metadata change"))?;
            }
            sqlx::query("DELETE FROM document_tags WHERE document_id = $1")
                .bind(doc.id.to_string())
                .execute(&mut *tx)
                .await
                .map_err(db_err("updating tags"))?;
            insert_tags(&mut tx, doc).await?;
            tx.commit().await.map_err(db_err("updating a document"))?;
            Ok(true)
        })
    }

    fn delete(&self, id: Uuid, expected_version: i64) -> BoxFuture<'_, bool> {
        Box::pin(async move {
            let done = sqlx::query("DELETE FROM documents WHERE id = $1 AND version = $2")
                .bind(id.to_string())
                .bind(expected_version)
                .execute(self.db.pool())
                .await
                .map_err(db_err("deleting a document"))?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn live_base(&self, id: Uuid) -> BoxFuture<'_, Option<LiveBase>> {
        Box::pin(async move {
            let sql =
                format!("SELECT {COLUMNS}, content, content_version FROM documents WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id.to_string())
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err("reading a document's content"))?;
            let Some(row) = row else { return Ok(None) };
            let content: Vec<u8> = row.try_get("content").map_err(db_err("reading content"))?;
            let content_version: i64 = row
                .try_get("content_version")
                .map_err(db_err("reading content"))?;
            let document = from_row(&row)?;
            // 0: stored before any live change, so the content is at the version.
            let content_version = if content_version == 0 {
                document.version
            } else {
                content_version
            };
            Ok(Some(LiveBase {
                document,
                content,
                content_version,
            }))
        })
    }

    fn changes_after(&self, id: Uuid, seq: i64, limit: i64) -> BoxFuture<'_, Vec<StoredChange>> {
        Box::pin(async move {
            let rows = sqlx::query(
                "SELECT seq, session, user_id, user_name, ops FROM document_changes \
                 WHERE document_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
            )
            .bind(id.to_string())
            .bind(seq)
            .bind(limit)
            .fetch_all(self.db.pool())
            .await
            .map_err(db_err("reading a document's change log"))?;
            rows.iter()
                .map(|row| {
                    let get = |name: &str| -> Result<String> {
                        row.try_get::<String, _>(name)
                            .map_err(db_err("reading a change"))
                    };
                    Ok(StoredChange {
                        seq: row.try_get("seq").map_err(db_err("reading a change"))?,
                        session: get("session")?,
                        user_id: get("user_id")?,
                        user_name: get("user_name")?,
                        ops: get("ops")?,
                    })
                })
                .collect()
        })
    }

    fn append_changes<'a>(
        &'a self,
        id: Uuid,
        expected_version: i64,
        changes: &'a [StoredChange],
        updated_at: time::OffsetDateTime,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let Some(last) = changes.last() else {
                return Ok(true);
            };
            let mut tx = self.begin().await?;
            // The version is the fence: another writer (REST, another node) that moved
            // it first makes this append change nothing.
            let done = sqlx::query(
                "UPDATE documents SET version = $1, updated_at = $2, content_version = \
                 CASE WHEN content_version = 0 THEN $3 ELSE content_version END \
                 WHERE id = $4 AND version = $3",
            )
            .bind(last.seq)
            .bind(to_ms(updated_at))
            .bind(expected_version)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err("appending to a document's change log"))?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            let now = to_ms(updated_at);
            // One multi-row INSERT per chunk (a group commit carries many pushes).
            for chunk in changes.chunks(100) {
                let mut sql = String::from(
                    "INSERT INTO document_changes \
                     (document_id, seq, session, user_id, user_name, ops, created_at) VALUES ",
                );
                for i in 0..chunk.len() {
                    let b = i * 7;
                    if i > 0 {
                        sql.push_str(", ");
                    }
                    sql.push_str(&format!(
                        "(${}, ${}, ${}, ${}, ${}, ${}, ${})",
                        b + 1,
                        b + 2,
                        b + 3,
                        b + 4,
                        b + 5,
                        b + 6,
                        b + 7
                    ));
                }
                let mut query = sqlx::query(&sql);
                for change in chunk {
                    query = query
                        .bind(id.to_string())
                        .bind(change.seq)
                        .bind(change.session.clone())
                        .bind(change.user_id.clone())
                        .bind(change.user_name.clone())
                        .bind(change.ops.clone())
                        .bind(now);
                }
                query
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err("appending to a document's change log"))?;
            }
            tx.commit()
                .await
                .map_err(db_err("appending to a document's change log"))?;
            Ok(true)
        })
    }

    fn compact<'a>(
        &'a self,
        doc: &'a Document,
        content: &'a [u8],
        trim_through: i64,
    ) -> BoxFuture<'a, bool> {
        Box::pin(async move {
            let mut tx = self.begin().await?;
            let done = sqlx::query(
                "UPDATE documents SET content = $1, content_sha256 = $2, content_length = $3, \
                 pages = $4, content_version = $5 \
                 WHERE id = $6 AND version >= $5 AND content_version < $5 AND content_version <> 0",
            )
            .bind(content)
            .bind(&doc.content_sha256)
            .bind(i64::try_from(doc.content_length).unwrap_or(i64::MAX))
            .bind(to_json(&doc.pages)?)
            .bind(doc.version)
            .bind(doc.id.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err("compacting a document"))?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            sqlx::query("DELETE FROM document_changes WHERE document_id = $1 AND seq <= $2")
                .bind(doc.id.to_string())
                .bind(trim_through.min(doc.version))
                .execute(&mut *tx)
                .await
                .map_err(db_err("trimming a document's change log"))?;
            tx.commit().await.map_err(db_err("compacting a document"))?;
            Ok(true)
        })
    }
}

async fn insert_tags(tx: &mut sqlx::Transaction<'_, sqlx::Any>, doc: &Document) -> Result<()> {
    for tag in &doc.tags {
        sqlx::query("INSERT INTO document_tags (document_id, tag) VALUES ($1, $2)")
            .bind(doc.id.to_string())
            .bind(tag.clone())
            .execute(&mut **tx)
            .await
            .map_err(db_err("storing tags"))?;
    }
    Ok(())
}

/// `%text%` in lowercase with `%`, `_` and `\` escaped by `\`.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::internal(format!("encoding json: {e}")))
}

fn from_row(row: &AnyRow) -> Result<Document> {
    let text = |name: &'static str| -> Result<String> {
        row.try_get::<String, _>(name)
            .map_err(db_err("reading a document row"))
    };
    let int = |name: &'static str| -> Result<i64> {
        row.try_get::<i64, _>(name)
            .map_err(db_err("reading a document row"))
    };
    let uuid = |name: &'static str| -> Result<Uuid> {
        let value = text(name)?;
        Uuid::parse_str(&value)
            .map_err(|e| Error::internal(format!("stored {name} \"{value}\" is not a uuid: {e}")))
    };
    let json_err = |what: &str| {
        let what = what.to_string();
        move |e: serde_json::Error| Error::internal(format!("stored {what} are not valid: {e}"))
    };
    let tags: Vec<String> = serde_json::from_str(&text("tags")?).map_err(json_err("tags"))?;
    let pages: Vec<PageSummary> =
        serde_json::from_str(&text("pages")?).map_err(json_err("pages"))?;
    Ok(Document {
        id: uuid("id")?,
        owner_id: uuid("owner_id")?,
        title: text("title")?,
        tags,
        public: int("public")? != 0,
        version: int("version")?,
        content_sha256: text("content_sha256")?,
        package: int("is_package")? != 0,
        content_length: u64::try_from(int("content_length")?).unwrap_or(0),
        pages,
        created_at: from_ms(int("created_at")?),
        updated_at: from_ms(int("updated_at")?),
    })
}
