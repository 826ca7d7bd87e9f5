//! [`Documents`], the in-process documents service.

use std::sync::Arc;

use futures_util::StreamExt as _;
use futures_util::stream::BoxStream;
use sha2::{Digest, Sha256};

use super::cached::CachedDocuments;
use super::repo::{DocumentFilter, DocumentRepo, SqlDocuments};
use super::rules;
use crate::api::{
    CreateDocument, DeleteDocument, Document, DocumentContent, DocumentList, GetContent,
    GetDocument, ListDocuments, PageSummary, PatchDocument, Principal, PutContent,
};
use crate::glyph::{self, Limits};
use crate::render::pool::RenderPool;
use crate::store::{CacheBus, Db, Paging, from_ms, hex, now_ms, to_ms};
use crate::{Error, ErrorKind, Result};

/// How many documents [`Documents::stream`] fetches per query.
pub const STREAM_CHUNK: i64 = 200;

/// The filter of a list request, without its slice.
fn list_filter(request: &ListDocuments) -> DocumentFilter {
    let principal = request.principal.as_ref().filter(|p| !p.is_anonymous());
    DocumentFilter {
        owner: principal.filter(|p| !p.is_admin).map(|p| p.user_id),
        public_only: principal.is_none(),
        title: rules::filter_text(request.query.title.as_deref()),
        tag: rules::filter_text(request.query.tag.as_deref()),
        ..DocumentFilter::default()
    }
}

/// Settings of [`Documents`].
#[derive(Debug, Clone, Default)]
pub struct DocumentsConfig {
    /// The limits documents are validated under.
    pub limits: Limits,
    /// Where validation (parsing) runs; share the thumbnails' pool to bound CPU work.
    pub pool: RenderPool,
    /// The bus of a deployment with several nodes (`REDIS_URL`): each change is
    /// published on it, and the metadata cache follows it; `None` (the default): one node.
    pub bus: Option<CacheBus>,
}

/// Stores, validates and serves `.glyph` documents: one `tower::Service` per request type
/// of [`crate::api`] (documents).
///
/// Cheap to clone. `poll_ready` is always ready; parsing runs on the bounded
/// [`RenderPool`], which answers [`ErrorKind::Overloaded`] when it stays full.
/// Scopes are checked by the HTTP layer; this service checks ownership (owner or admin;
/// public documents readable by anyone) and that writers hold `documents:write`.
#[derive(Clone, Debug)]
pub struct Documents {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    repo: Arc<dyn DocumentRepo>,
    limits: Limits,
    pool: RenderPool,
    bus: Option<CacheBus>,
    /// Each change of a document made through this service, for its live sessions.
    changes: tokio::sync::broadcast::Sender<uuid::Uuid>,
}

/// What validation learnt about content.
struct Checked {
    bytes: Vec<u8>,
    sha256: String,
    package: bool,
    pages: Vec<PageSummary>,
    title: String,
}

impl Documents {
    /// A service over `repo`.
    pub fn new(repo: Arc<dyn DocumentRepo>, config: DocumentsConfig) -> Self {
        let DocumentsConfig { limits, pool, bus } = config;
        Documents {
            inner: Arc::new(Inner {
                repo,
                limits,
                pool,
                bus,
                changes: tokio::sync::broadcast::Sender::new(1024),
            }),
        }
    }

    /// The limits documents are validated under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The bus of a deployment with several nodes, when there is one.
    pub fn bus(&self) -> Option<&CacheBus> {
        self.inner.bus.as_ref()
    }

    /// The ids of documents changed through this service from now on (content,
    /// metadata, deleted), as they happen: live editing follows REST writes with it. A
    /// receiver that lags behind gets `Lagged` and should treat every document as changed.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<uuid::Uuid> {
        self.inner.changes.subscribe()
    }

    /// Tells the subscribers of this process and, through the bus, the other nodes that
    /// document `id` changed (for writers beside this service, such as live editing).
    pub async fn notify_changed(&self, id: uuid::Uuid) {
        self.changed(id).await;
    }

    /// A service over the documents of `db`. On SQLite (one writer process: the embedded
    /// default) metadata reads are cached in memory by [`CachedDocuments`], which
    /// follows the config's bus where several nodes share the file; on PostgreSQL every
    /// read goes to the database.
    pub fn with_db(db: Db, config: DocumentsConfig) -> Self {
        let sqlite = db.backend() == crate::store::Backend::Sqlite;
        let repo: Arc<dyn DocumentRepo> = Arc::new(SqlDocuments::new(db));
        let capacity = super::DEFAULT_METADATA_ENTRIES;
        let repo: Arc<dyn DocumentRepo> = match (&config.bus, sqlite) {
            (_, false) => repo,
            (None, true) => Arc::new(CachedDocuments::new(repo, capacity)),
            (Some(bus), true) => CachedDocuments::with_bus(repo, capacity, bus.clone()),
        };
        Documents::new(repo, config)
    }

    /// The repository (for other services that read documents, such as thumbnails).
    pub fn repo(&self) -> &Arc<dyn DocumentRepo> {
        &self.inner.repo
    }

    /// Parses `bytes` on the pool; an [`ErrorKind::InvalidDocument`] error with the JSON
    /// path when they are not a valid `.glyph` document or package.
    async fn check(&self, bytes: Vec<u8>) -> Result<Checked> {
        let limits = self.inner.limits.clone();
        self.inner
            .pool
            .run(move || {
                let loaded = glyph::load(&bytes, &limits)?;
                Ok(Checked {
                    sha256: hex(&Sha256::digest(&bytes)),
                    package: loaded.package.is_some(),
                    pages: rules::page_summaries(&loaded.document),
                    title: rules::default_title(&loaded),
                    bytes,
                })
            })
            .await
    }

    /// A readable document, or "not found".
    async fn readable(&self, principal: Option<&Principal>, id: uuid::Uuid) -> Result<Document> {
        match self.inner.repo.get(id).await? {
            Some(doc) if rules::can_read(principal, &doc) => Ok(doc),
            _ => Err(rules::not_found(id)),
        }
    }

    /// What `Service<CreateDocument>` does.
    pub async fn create(&self, request: CreateDocument) -> Result<Document> {
        rules::require_writer(&request.principal)?;
        let title = request
            .title
            .as_deref()
            .map(rules::check_title)
            .transpose()?;
        let tags = rules::check_tags(&request.tags)?;
        let checked = self.check(request.content).await?;
        let now = from_ms(now_ms());
        let doc = Document {
            id: uuid::Uuid::now_v7(),
            owner_id: request.principal.user_id,
            title: title.unwrap_or(checked.title),
            tags,
            public: request.public,
            version: 1,
            content_sha256: checked.sha256,
            package: checked.package,
            content_length: checked.bytes.len() as u64,
            pages: checked.pages,
            created_at: now,
            updated_at: now,
        };
        self.inner.repo.insert(&doc, &checked.bytes).await?;
        Ok(doc)
    }

    /// What `Service<GetDocument>` does.
    pub async fn get(&self, request: GetDocument) -> Result<Document> {
        self.readable(request.principal.as_ref(), request.id).await
    }

    /// What `Service<GetContent>` does.
    pub async fn content(&self, request: GetContent) -> Result<DocumentContent> {
        match self.inner.repo.content(request.id).await? {
            Some((document, bytes)) if rules::can_read(request.principal.as_ref(), &document) => {
                Ok(DocumentContent { document, bytes })
            }
            _ => Err(rules::not_found(request.id)),
        }
    }

    /// What `Service<ListDocuments>` does.
    pub async fn list(&self, request: ListDocuments) -> Result<DocumentList> {
        let paging = Paging::new(request.query.page, request.query.per_page)?;
        let mut filter = list_filter(&request);
        filter.limit = paging.limit();
        filter.offset = paging.offset();
        let mut items = self.inner.repo.list(&filter).await?;
        let metainfo = paging.page(&mut items);
        Ok(DocumentList { items, metainfo })
    }

    /// Every document the list would page through (`page` and `perPage` are ignored),
    /// newest first, fetched in chunks of [`STREAM_CHUNK`] with a keyset cursor so that
    /// memory stays bounded and documents added meanwhile neither repeat nor shift others.
    ///
    /// ```
    /// # use futures_util::StreamExt as _;
    /// # async fn demo(documents: spv::documents::Documents) -> spv::Result<()> {
    /// let request = spv::api::ListDocuments { principal: None, query: Default::default() };
    /// let mut stream = documents.stream(request);
    /// while let Some(document) = stream.next().await {
    ///     println!("{}", document?.title);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn stream(&self, request: ListDocuments) -> BoxStream<'static, Result<Document>> {
        struct State {
            service: Documents,
            filter: DocumentFilter,
            chunk: std::vec::IntoIter<Document>,
            done: bool,
        }
        let mut filter = list_filter(&request);
        filter.limit = STREAM_CHUNK;
        let state = State {
            service: self.clone(),
            filter,
            chunk: Vec::new().into_iter(),
            done: false,
        };
        futures_util::stream::unfold(state, |mut state| async move {
            loop {
                if let Some(document) = state.chunk.next() {
                    return Some((Ok(document), state));
                }
                if state.done {
                    return None;
                }
                match state.service.inner.repo.list(&state.filter).await {
                    Ok(items) => {
                        state.done = (items.len() as i64) < STREAM_CHUNK;
                        if let Some(last) = items.last() {
                            state.filter.after = Some((to_ms(last.created_at), last.id));
                        }
                        state.chunk = items.into_iter();
                    }
                    Err(error) => {
                        state.done = true;
                        return Some((Err(error), state));
                    }
                }
            }
        })
        .boxed()
    }

    /// What `Service<PutContent>` does.
    pub async fn put_content(&self, request: PutContent) -> Result<Document> {
        let current = self.writable(&request.principal, request.id).await?;
        let checked = self.check(request.content).await?;
        rules::check_if_match(&current, request.if_match.as_deref())?;
        let mut doc = current.clone();
        doc.content_sha256 = checked.sha256;
        doc.package = checked.package;
        doc.content_length = checked.bytes.len() as u64;
        doc.pages = checked.pages;
        self.save(
            current,
            doc,
            Some(&checked.bytes),
            request.if_match.is_some(),
        )
        .await
    }

    /// What `Service<PatchDocument>` does.
    pub async fn patch(&self, request: PatchDocument) -> Result<Document> {
        let current = self.writable(&request.principal, request.id).await?;
        let mut doc = current.clone();
        rules::apply_patch(&mut doc, &request.patch)?;
        rules::check_if_match(&current, request.if_match.as_deref())?;
        if doc == current {
            return Ok(current);
        }
        self.save(current, doc, None, request.if_match.is_some())
            .await
    }

    /// What `Service<DeleteDocument>` does.
    pub async fn delete(&self, request: DeleteDocument) -> Result<()> {
        let current = self.writable(&request.principal, request.id).await?;
        rules::check_if_match(&current, request.if_match.as_deref())?;
        if self.inner.repo.delete(current.id, current.version).await? {
            self.changed(current.id).await;
            Ok(())
        } else {
            Err(changed_meanwhile(&current, request.if_match.is_some()))
        }
    }

    /// The document if `principal` may change it (If-Match is checked by the caller,
    /// after the body is validated).
    async fn writable(&self, principal: &Principal, id: uuid::Uuid) -> Result<Document> {
        rules::require_writer(principal)?;
        let doc = self.readable(Some(principal), id).await?;
        rules::check_write(principal, &doc, None)?;
        Ok(doc)
    }

    /// Tells the other nodes, if any, that document `id` changed (its content, metadata,
    /// visibility, or that it is gone).
    async fn changed(&self, id: uuid::Uuid) {
        let _ = self.inner.changes.send(id);
        if let Some(bus) = &self.inner.bus {
            bus.publish_document(id).await;
        }
    }

    /// Stores `doc` as the next version of `current`, unless it changed meanwhile.
    async fn save(
        &self,
        current: Document,
        mut doc: Document,
        content: Option<&[u8]>,
        had_if_match: bool,
    ) -> Result<Document> {
        doc.version = current.version + 1;
        doc.updated_at = from_ms(now_ms()).max(current.updated_at);
        if self
            .inner
            .repo
            .update(&doc, content, current.version)
            .await?
        {
            self.changed(doc.id).await;
            Ok(doc)
        } else {
            Err(changed_meanwhile(&current, had_if_match))
        }
    }
}

/// Another writer got in between our read and our write.
fn changed_meanwhile(doc: &Document, had_if_match: bool) -> Error {
    let kind = if had_if_match {
        ErrorKind::PreconditionFailed
    } else {
        ErrorKind::Conflict
    };
    Error::new(
        kind,
        format!(
            "document {} was changed or deleted meanwhile; read it again and retry",
            doc.id
        ),
    )
}

crate::store::domain_service!(Documents {
    CreateDocument => Document, create;
    GetDocument => Document, get;
    ListDocuments => DocumentList, list;
    GetContent => DocumentContent, content;
    PutContent => Document, put_content;
    PatchDocument => Document, patch;
    DeleteDocument => (), delete;
});
