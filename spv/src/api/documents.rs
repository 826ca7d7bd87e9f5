//! Document requests and responses: the stored `.glyph` documents of the server.
//!
//! A stored document has metadata ([`Document`]: title, tags, `public`, version, pages)
//! and content (the `.glyph` bytes exactly as uploaded, [`DocumentContent`]). Every change
//! bumps `version`; [`Document::etag`] changes with it, and writes may carry an
//! `If-Match` value that must still match ([`Document::matches`]).
//!
//! ```
//! use spv::api::Document;
//!
//! let doc = Document::example();
//! let etag = doc.etag();
//! assert!(doc.matches(&etag));
//! assert!(doc.matches("*"));
//! assert!(doc.matches(&format!("\"other\", {etag}")));
//! assert!(!doc.matches(&format!("W/{etag}")), "If-Match compares strongly");
//! ```

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::auth::Principal;

/// The largest `perPage` of a list.
pub const MAX_PER_PAGE: u32 = 100;
/// The `perPage` of a list that names none.
pub const DEFAULT_PER_PAGE: u32 = 20;

/// A stored document's metadata and view data (no content).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Document {
    /// The document's id.
    pub id: Uuid,
    /// The user who created it.
    pub owner_id: Uuid,
    /// Its title: given on creation, else the document's own `title`, else "Untitled".
    pub title: String,
    /// Free tags, for filtering.
    pub tags: Vec<String>,
    /// Readable by anyone (never writable by anyone but the owner and admins).
    pub public: bool,
    /// 1 on creation, bumped by every change of content or metadata.
    pub version: i64,
    /// Lowercase hex SHA-256 of the stored content.
    pub content_sha256: String,
    /// Whether the content is a ZIP package rather than a JSON document.
    pub package: bool,
    /// The size of the stored content in bytes.
    pub content_length: u64,
    /// The pages, in order.
    pub pages: Vec<PageSummary>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// When it last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "http", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
}

impl Document {
    /// The strong ETag of this version: the content hash and the version, quoted.
    pub fn etag(&self) -> String {
        etag(&self.content_sha256, self.version)
    }

    /// Whether an `If-Match` header value holds for this version: `*`, or a list of
    /// ETags one of which equals [`etag`](Self::etag) (strong comparison: weak `W/` tags
    /// never match).
    pub fn matches(&self, if_match: &str) -> bool {
        let etag = self.etag();
        let if_match = if_match.trim();
        if_match == "*" || if_match.split(',').any(|tag| tag.trim() == etag)
    }

    /// A made-up document, for examples and tests.
    pub fn example() -> Document {
        Document {
            id: Uuid::from_u128(1),
            owner_id: Uuid::from_u128(2),
            title: "Poster".into(),
            tags: vec!["print".into()],
            public: false,
            version: 1,
            content_sha256: "ab".repeat(32),
            package: false,
            content_length: 100,
            pages: vec![PageSummary {
                id: None,
                name: None,
                width: 800.0,
                height: 600.0,
            }],
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }
}

/// The strong ETag of a document version: `"<first 32 hex digits of sha256>.<version>"`.
pub fn etag(content_sha256: &str, version: i64) -> String {
    let hash = content_sha256.get(..32).unwrap_or(content_sha256);
    format!("\"{hash}.{version}\"")
}

/// One page of a document, for views that do not load the content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct PageSummary {
    /// The page's `id`, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The page's `name`, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Width in CSS pixels.
    pub width: f64,
    /// Height in CSS pixels.
    pub height: f64,
}

/// The stored content of a document, byte for byte as uploaded.
#[derive(Debug, Clone, PartialEq)]
pub struct DocumentContent {
    /// The document's metadata at this version.
    pub document: Document,
    /// The bytes: a JSON document or a ZIP package.
    pub bytes: Vec<u8>,
}

impl DocumentContent {
    /// `application/zip` for a package, else `application/json`.
    pub fn content_type(&self) -> &'static str {
        if self.document.package {
            "application/zip"
        } else {
            "application/json"
        }
    }
}

/// A page of documents with `_metainfo`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
pub struct DocumentList {
    /// The documents of this page, newest first.
    pub items: Vec<Document>,
    /// Where this page is.
    #[serde(rename = "_metainfo")]
    pub metainfo: MetaInfo,
}

/// Where a page of a list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MetaInfo {
    /// This page, from 1.
    pub current_page: u32,
    /// Items per page.
    pub per_page: u32,
    /// Whether a later page has items.
    pub has_next: bool,
    /// Whether this is not the first page.
    pub has_prev: bool,
}

/// The query of a document list: `?page=&perPage=&title=&tag=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DocumentQuery {
    /// The page, from 1 (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_page: Option<u32>,
    /// Only titles containing this text (case-insensitive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Only documents with this tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// The metadata a merge patch may change (`application/merge-patch+json`, RFC 7396):
/// members left out stay; `null` resets `tags` to `[]` and `public` to `false`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "http", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DocumentPatch {
    /// A new title (not empty).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// New tags (replace the old ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// Whether anyone may read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public: Option<bool>,
}

/// Stores a new document (validated first); answers its [`Document`].
#[derive(Debug, Clone)]
pub struct CreateDocument {
    /// The caller, who becomes the owner.
    pub principal: Principal,
    /// A `.glyph` JSON document or ZIP package.
    pub content: Vec<u8>,
    /// The title; `None` takes the document's `title`, else "Untitled".
    pub title: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Whether anyone may read it.
    pub public: bool,
}

impl CreateDocument {
    /// A private, untagged document with its own title.
    pub fn new(principal: Principal, content: impl Into<Vec<u8>>) -> Self {
        CreateDocument {
            principal,
            content: content.into(),
            title: None,
            tags: Vec::new(),
            public: false,
        }
    }
}

/// Reads a document's metadata; answers [`Document`].
#[derive(Debug, Clone)]
pub struct GetDocument {
    /// The caller; `None` (anonymous) reads only public documents.
    pub principal: Option<Principal>,
    /// Which document.
    pub id: Uuid,
}

/// Lists documents, newest first; answers [`DocumentList`].
///
/// A user lists their own documents, an admin everyone's; an anonymous caller (`None`)
/// lists the public ones (the gallery).
#[derive(Debug, Clone)]
pub struct ListDocuments {
    /// The caller.
    pub principal: Option<Principal>,
    /// Page and filters.
    pub query: DocumentQuery,
}

/// Reads a document's stored content; answers [`DocumentContent`].
#[derive(Debug, Clone)]
pub struct GetContent {
    /// The caller; `None` (anonymous) reads only public documents.
    pub principal: Option<Principal>,
    /// Which document.
    pub id: Uuid,
}

/// Replaces a document's content (validated first); answers the new [`Document`].
#[derive(Debug, Clone)]
pub struct PutContent {
    /// The caller: the owner or an admin.
    pub principal: Principal,
    /// Which document.
    pub id: Uuid,
    /// The new `.glyph` JSON document or ZIP package.
    pub content: Vec<u8>,
    /// An `If-Match` header value; when it does not match nothing changes.
    pub if_match: Option<String>,
}

/// Changes title, tags or `public` with a JSON merge patch; answers the new [`Document`].
#[derive(Debug, Clone)]
pub struct PatchDocument {
    /// The caller: the owner or an admin.
    pub principal: Principal,
    /// Which document.
    pub id: Uuid,
    /// An RFC 7396 merge patch of [`DocumentPatch`]'s members; other members are refused.
    pub patch: serde_json::Value,
    /// An `If-Match` header value; when it does not match nothing changes.
    pub if_match: Option<String>,
}

/// Deletes a document; answers `()`.
#[derive(Debug, Clone)]
pub struct DeleteDocument {
    /// The caller: the owner or an admin.
    pub principal: Principal,
    /// Which document.
    pub id: Uuid,
    /// An `If-Match` header value; when it does not match nothing changes.
    pub if_match: Option<String>,
}
