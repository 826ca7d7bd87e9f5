//! The documents service: stored `.glyph` documents with owners, versions and ETags.
//!
//! | item | what it is |
//! |---|---|
//! | [`Documents`] | the service: `tower::Service` of each request below |
//! | [`DocumentsConfig`] | its settings: limits, the pool validation runs on |
//! | [`DocumentRepo`], [`SqlDocuments`] | where documents are kept; the SQL implementation over [`crate::store::Db`] |
//! | [`CreateDocument`](crate::api::CreateDocument), [`GetDocument`](crate::api::GetDocument), [`ListDocuments`](crate::api::ListDocuments), [`GetContent`](crate::api::GetContent), [`PutContent`](crate::api::PutContent), [`PatchDocument`](crate::api::PatchDocument), [`DeleteDocument`](crate::api::DeleteDocument) | the requests, from [`crate::api`] |
//!
//! Every stored document is validated with [`crate::glyph::load`] first; its bytes are
//! kept exactly as uploaded (unknown fields intact; a package whole). Each change bumps
//! `version`; writes carrying `If-Match` change nothing when it no longer holds.
//!
//! ```
//! use spv::api::{CreateDocument, GetContent, Principal, Scopes};
//! use spv::documents::{Documents, DocumentsConfig};
//! use spv::store::Db;
//! use tower::ServiceExt;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let rt = tokio::runtime::Runtime::new().unwrap();
//! rt.block_on(async {
//!     let db = Db::open(None, dir.path()).await.unwrap();
//!     let documents = Documents::with_db(db, DocumentsConfig::default());
//!     let ann = Principal { user_id: uuid::Uuid::now_v7(), username: "ann".into(),
//!         is_admin: false, scopes: Scopes::all() };
//!     let bytes = br#"{"format":"glyph","version":1,"title":"Card","x-mine":1,
//!         "pages":[{"width":300,"height":200,"layers":[]}]}"#;
//!     let doc = documents.clone().oneshot(CreateDocument::new(ann.clone(), bytes.to_vec()))
//!         .await.unwrap();
//!     assert_eq!((doc.title.as_str(), doc.version, doc.pages.len()), ("Card", 1, 1));
//!     let content = documents.oneshot(GetContent { principal: Some(ann), id: doc.id })
//!         .await.unwrap();
//!     assert_eq!(content.bytes, bytes.to_vec());
//! });
//! ```

mod cached;
mod repo;
mod rules;
mod service;
#[cfg(test)]
mod tests;

pub use cached::{CachedDocuments, DEFAULT_METADATA_ENTRIES};
pub use repo::{DocumentFilter, DocumentRepo, LiveBase, SqlDocuments, StoredChange};
pub use rules::{MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS};
pub(crate) use rules::{can_read, can_write, page_summaries};
pub use service::{Documents, DocumentsConfig, STREAM_CHUNK};
