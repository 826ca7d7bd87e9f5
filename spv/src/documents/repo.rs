//! [`DocumentRepo`], where documents are kept, and [`SqlDocuments`], its implementation
//! over [`Db`] (portable SQL for SQLite and PostgreSQL).

use std::fmt;

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::api::{Document, PageSummary};
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
}

const COLUMNS: &str = "id, owner_id, title, tags, public, version, content_sha256, \
    content_length, is_package, pages, created_at, updated_at";

impl DocumentRepo for SqlDocuments {
    fn insert<'a>(&'a self, doc: &'a Document, content: &'a [u8]) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let mut tx = self
                .db
                .pool()
                .begin()
                .await
                .map_err(db_err("starting a transaction"))?;
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
            let sql = format!("SELECT {COLUMNS}, content FROM documents WHERE id = $1");
            let row = sqlx::query(&sql)
                .bind(id.to_string())
                .fetch_optional(self.db.pool())
                .await
                .map_err(db_err("reading a document's content"))?;
            let Some(row) = row else { return Ok(None) };
            let content: Vec<u8> = row.try_get("content").map_err(db_err("reading content"))?;
            Ok(Some((from_row(&row)?, content)))
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
            let mut tx = self
                .db
                .pool()
                .begin()
                .await
                .map_err(db_err("starting a transaction"))?;
            // COALESCE keeps the stored content when only metadata changes.
            let query = sqlx::query(
                "UPDATE documents SET title = $1, tags = $2, public = $3, version = $4, \
                 content_sha256 = $5, content_length = $6, is_package = $7, pages = $8, \
                 updated_at = $9, content = COALESCE($10, content) \
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
            .bind(expected_version);
            let done = query
                .execute(&mut *tx)
                .await
                .map_err(db_err("updating a document"))?;
            if done.rows_affected() == 0 {
                return Ok(false);
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
