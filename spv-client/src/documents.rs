//! Documents over HTTP: `/api/v1/documents` and the gallery.

use reqwest::Method;
use reqwest::header::{ETAG, IF_MATCH};
use spv::api::{
    CreateDocument, DeleteDocument, Document, DocumentContent, DocumentList, DocumentPatch,
    DocumentQuery, GalleryList, GetContent, GetDocument, ListDocuments, PatchDocument, PutContent,
};
use spv::{Error, ErrorKind, Result};
use uuid::Uuid;

use crate::Client;
use crate::call::Call;
use crate::response::header_text;
use crate::service::remote_service;

/// How many times a content read is repeated when the document changed between reading
/// its bytes and its metadata.
const CONSISTENT_READ_ATTEMPTS: usize = 3;

/// The media type of a `.glyph` file: a package when it is a ZIP archive, else JSON.
pub(crate) fn glyph_content_type(bytes: &[u8]) -> &'static str {
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        "application/zip"
    } else {
        "application/json"
    }
}

fn document_path(id: Uuid) -> String {
    format!("/api/v1/documents/{id}")
}

fn with_query(call: Call, query: &DocumentQuery) -> Call {
    call.query("page", query.page)
        .query("perPage", query.per_page)
        .query("title", query.title.as_deref())
        .query("tag", query.tag.as_deref())
}

impl Client {
    async fn create_document(&self, request: CreateDocument) -> Result<Document> {
        let content_type = glyph_content_type(&request.content);
        let call = Call::new(Method::POST, "/api/v1/documents")
            .query("title", request.title.as_deref())
            .query("public", Some(request.public))
            .bytes(request.content, content_type);
        let document: Document = self.json(call).await?;
        if request.tags.is_empty() {
            return Ok(document);
        }
        // The create route takes no tags: they follow as a patch of the new version.
        let patch = DocumentPatch {
            tags: Some(request.tags),
            ..DocumentPatch::default()
        };
        let patch = serde_json::to_value(&patch)
            .map_err(|e| Error::internal(format!("encoding the tags failed: {e}")))?;
        self.patch_document(PatchDocument {
            principal: request.principal,
            id: document.id,
            patch,
            if_match: Some(document.etag()),
        })
        .await
    }

    pub(crate) async fn get_document(&self, request: GetDocument) -> Result<Document> {
        self.json(Call::new(Method::GET, document_path(request.id)))
            .await
    }

    async fn list_documents(&self, request: ListDocuments) -> Result<DocumentList> {
        let call = with_query(Call::new(Method::GET, "/api/v1/documents"), &request.query);
        self.json(call).await
    }

    /// The public documents, newest first, each with its thumbnail's URL (`GET
    /// /api/v1/gallery`); anyone may list them.
    pub async fn gallery(&self, query: DocumentQuery) -> Result<GalleryList> {
        let call = with_query(Call::new(Method::GET, "/api/v1/gallery"), &query);
        self.json(call).await
    }

    async fn get_content(&self, request: GetContent) -> Result<DocumentContent> {
        let path = format!("{}/content", document_path(request.id));
        for _ in 0..CONSISTENT_READ_ATTEMPTS {
            let (headers, bytes) = self.bytes(Call::new(Method::GET, path.clone())).await?;
            let document = self
                .get_document(GetDocument {
                    principal: None,
                    id: request.id,
                })
                .await?;
            // The content's ETag names the version its bytes are; a change in between
            // means the metadata is of another version: read both again.
            if header_text(&headers, ETAG).is_none_or(|etag| etag == document.etag()) {
                return Ok(DocumentContent { document, bytes });
            }
        }
        Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "document {} kept changing while its content was read; try again",
                request.id
            ),
        ))
    }

    async fn put_content(&self, request: PutContent) -> Result<Document> {
        let content_type = glyph_content_type(&request.content);
        let call = Call::new(
            Method::PUT,
            format!("{}/content", document_path(request.id)),
        )
        .header(IF_MATCH, request.if_match.as_deref())?
        .bytes(request.content, content_type);
        self.json(call).await
    }

    async fn patch_document(&self, request: PatchDocument) -> Result<Document> {
        let body = serde_json::to_vec(&request.patch)
            .map_err(|e| Error::internal(format!("encoding the patch failed: {e}")))?;
        let call = Call::new(Method::PATCH, document_path(request.id))
            .header(IF_MATCH, request.if_match.as_deref())?
            .bytes(body, "application/merge-patch+json");
        self.json(call).await
    }

    async fn delete_document(&self, request: DeleteDocument) -> Result<()> {
        let call = Call::new(Method::DELETE, document_path(request.id))
            .header(IF_MATCH, request.if_match.as_deref())?;
        self.empty(call).await
    }
}

remote_service! {
    CreateDocument => Document, create_document;
    GetDocument => Document, get_document;
    ListDocuments => DocumentList, list_documents;
    GetContent => DocumentContent, get_content;
    PutContent => Document, put_content;
    PatchDocument => Document, patch_document;
    DeleteDocument => (), delete_document;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packages_and_json_are_told_apart() {
        assert_eq!(glyph_content_type(b"PK\x03\x04rest"), "application/zip");
        assert_eq!(
            glyph_content_type(b"{\"format\":\"glyph\"}"),
            "application/json"
        );
    }
}
