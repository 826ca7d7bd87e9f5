//! The document routes: stored `.glyph` documents over HTTP, with ETags, `If-None-Match`
//! (304) and `If-Match` (412).
//!
//! Reads (`GET`/`HEAD`) accept anonymous callers, who see public documents only; a
//! credential that is sent must be valid (401) and hold `documents:read` (403).

mod support;

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Authenticated;
use super::body::BodyLimit;
use super::extract::{caller_with, parse_id, query};
use super::json::FinishJsonLayer;
use super::prefix::MountPrefix;
use super::problem::ApiError;
use super::responses::{
    BadDocument, BadQuery, BadRequest, DocumentNotFound, InvalidCredential, LacksDocumentsRead,
    LacksDocumentsWrite, PayloadTooLarge, PreconditionFailed, ReadableDocumentNotFound,
    Unauthorized,
};
use super::state::AppState;
use crate::Error;
use crate::api::{
    CreateDocument, DeleteDocument, Document, DocumentQuery, GetContent, GetDocument,
    ListDocuments, PatchDocument, PutContent, Scope,
};
use support::{
    check_upload_type, if_match, media_type, metadata, not_modified, service, with_etag,
};

/// The query of `POST /api/v1/documents`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct CreateQuery {
    /// The title; default: the document's own title.
    title: Option<String>,
    /// Whether anyone may read it (default false).
    public: Option<bool>,
}

/// `POST`/`GET /api/v1/documents`, `GET`/`HEAD`/`PATCH`/`DELETE /api/v1/documents/{id}`
/// and `GET`/`PUT /api/v1/documents/{id}/content`.
pub fn documents_router(state: AppState) -> Router {
    let limit = state.config().body_limit_bytes;
    documents_routes()
        .layer(DefaultBodyLimit::max(limit))
        .layer(FinishJsonLayer)
        .with_state(state)
}

/// The routes of [`documents_router`] without its layers, for [`super::api`], which
/// applies them once around every route.
pub(crate) fn documents_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/documents",
            post(create_document).get(list_documents),
        )
        .route(
            "/api/v1/documents/{id}",
            get(get_document)
                .head(head_document)
                .patch(patch_document)
                .delete(delete_document),
        )
        .route(
            "/api/v1/documents/{id}/content",
            get(get_content).put(put_content),
        )
}

/// Stores a new document.
///
/// Errors: 400 for an invalid document or a bad query.
#[utoipa::path(post, path = "/api/v1/documents", tag = "documents",
    params(CreateQuery),
    request_body(content(
        (Object = "application/json"), (Vec<u8> = "application/zip"),
        (Vec<u8> = "application/octet-stream"))),
    responses(
        (status = 201, description = "Stored; `Location` and `ETag` name it", body = Document),
        BadDocument, Unauthorized, LacksDocumentsWrite, PayloadTooLarge),
    security(("bearer" = ["documents:write"]), ("apiKey" = ["documents:write"])))]
pub(crate) async fn create_document(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    prefix: MountPrefix,
    params: Result<Query<CreateQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::DocumentsWrite)?;
    let params = query(params)?;
    let content = BodyLimit::server(state.config().body_limit_bytes)
        .read(body)?
        .to_vec();
    check_upload_type(&headers)?;
    let mut request = CreateDocument::new(principal, content);
    request.title = params.title;
    request.public = params.public.unwrap_or(false);
    let document = service(&state)?.create(request).await?;
    let mut response = (StatusCode::CREATED, metadata(&document)).into_response();
    prefix.set_location(&mut response, &format!("/api/v1/documents/{}", document.id));
    Ok(response)
}

/// Pages of the caller's documents (anonymous callers: public ones), newest first.
#[utoipa::path(get, path = "/api/v1/documents", tag = "documents",
    params(
        ("page" = Option<u32>, Query, description = "1-based page (default 1)"),
        ("perPage" = Option<u32>, Query, description = "Items per page (default 20, at most 100)"),
        ("title" = Option<String>, Query, description = "Only titles containing this"),
        ("tag" = Option<String>, Query, description = "Only documents with this tag"),
        ("Accept" = Option<String>, Header,
            description = "`application/x-ndjson` streams every matching document")),
    responses(
        (status = 200, description = "A page; with `Accept: application/x-ndjson`, every \
            matching document (paging ignored), one JSON object per line, streamed", content(
            (crate::api::DocumentList = "application/json"),
            (Document = "application/x-ndjson"))),
        BadQuery, InvalidCredential, LacksDocumentsRead),
    security((), ("bearer" = ["documents:read"]), ("apiKey" = ["documents:read"])))]
pub(crate) async fn list_documents(
    State(state): State<AppState>,
    caller: Option<Authenticated>,
    params: Result<Query<DocumentQuery>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = caller_with(caller, &[Scope::DocumentsRead])?;
    let query = query(params)?;
    let request = ListDocuments { principal, query };
    let mut response = if wants_ndjson(&headers) {
        ndjson(service(&state)?.stream(request))
    } else {
        Json(service(&state)?.list(request).await?).into_response()
    };
    // One URL, two representations: caches must key on Accept.
    response
        .headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    Ok(response)
}

/// Whether `Accept` prefers `application/x-ndjson`: named with a non-zero quality at
/// least as high as JSON's (`application/json`, `application/*` or `*/*`).
fn wants_ndjson(headers: &HeaderMap) -> bool {
    let (mut ndjson, mut json) = (0.0_f32, 0.0_f32);
    for item in headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = item.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default().to_ascii_lowercase();
        let q = parts
            .find_map(|p| p.strip_prefix("q="))
            .map_or(1.0, |q| q.parse::<f32>().unwrap_or(0.0));
        match media.as_str() {
            NDJSON => ndjson = ndjson.max(q),
            "application/json" | "application/*" | "*/*" => json = json.max(q),
            _ => {}
        }
    }
    ndjson > 0.0 && ndjson >= json
}

const NDJSON: &str = "application/x-ndjson";

/// A streamed body of one JSON document per line. A store error mid-way ends the
/// body early (the client sees a truncated stream, never a half line) and is logged.
fn ndjson(stream: futures_util::stream::BoxStream<'static, crate::Result<Document>>) -> Response {
    use futures_util::StreamExt as _;
    let lines = stream.map(|item| match item {
        Ok(document) => {
            let mut line = serde_json::to_vec(&document)
                .map_err(|e| std::io::Error::other(format!("serialising a document: {e}")))?;
            line.push(b'\n');
            Ok(Bytes::from(line))
        }
        Err(error) => {
            tracing::error!(%error, "streaming the document list failed");
            Err(std::io::Error::other(error.to_string()))
        }
    });
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(NDJSON))],
        axum::body::Body::from_stream(lines),
    )
        .into_response()
}

/// A document's metadata: title, tags, pages with sizes, version, owner, times.
#[utoipa::path(get, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = Uuid, Path, description = "The document's id"),
        ("If-None-Match" = Option<String>, Header, description = "ETags already held")),
    responses(
        (status = 200, description = "The metadata; `ETag` names this version", body = Document),
        (status = 304, description = "`If-None-Match` matched"),
        InvalidCredential, LacksDocumentsRead, ReadableDocumentNotFound),
    security((), ("bearer" = ["documents:read"]), ("apiKey" = ["documents:read"])))]
pub(crate) async fn get_document(
    State(state): State<AppState>,
    caller: Option<Authenticated>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = caller_with(caller, &[Scope::DocumentsRead])?;
    let id = parse_id("document", &id)?;
    let document = service(&state)?.get(GetDocument { principal, id }).await?;
    let etag = document.etag();
    Ok(not_modified(&headers, &etag).unwrap_or_else(|| metadata(&document)))
}

/// A document's metadata headers (`ETag`), without a body.
#[utoipa::path(head, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = Uuid, Path, description = "The document's id"),
        ("If-None-Match" = Option<String>, Header, description = "ETags already held")),
    responses(
        (status = 200, description = "It exists; `ETag` names this version"),
        (status = 304, description = "`If-None-Match` matched"),
        (status = 401, description = "A credential was sent but is not valid"),
        (status = 403, description = "The credential lacks `documents:read`"),
        (status = 404, description = "No such document readable by the caller")),
    security((), ("bearer" = ["documents:read"]), ("apiKey" = ["documents:read"])))]
pub(crate) async fn head_document(
    state: State<AppState>,
    caller: Option<Authenticated>,
    id: Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    get_document(state, caller, id, headers).await
}

/// The stored document, byte for byte as uploaded (unknown fields intact).
#[utoipa::path(get, path = "/api/v1/documents/{id}/content", tag = "documents",
    params(("id" = Uuid, Path, description = "The document's id"),
        ("If-None-Match" = Option<String>, Header, description = "ETags already held")),
    responses(
        (status = 200, description = "The `.glyph` bytes", content(
            (Object = "application/json"), (Vec<u8> = "application/zip"))),
        (status = 304, description = "`If-None-Match` matched"),
        InvalidCredential, LacksDocumentsRead, ReadableDocumentNotFound),
    security((), ("bearer" = ["documents:read"]), ("apiKey" = ["documents:read"])))]
pub(crate) async fn get_content(
    State(state): State<AppState>,
    caller: Option<Authenticated>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let principal = caller_with(caller, &[Scope::DocumentsRead])?;
    let id = parse_id("document", &id)?;
    let content = service(&state)?
        .content(GetContent { principal, id })
        .await?;
    let etag = content.document.etag();
    if let Some(response) = not_modified(&headers, &etag) {
        return Ok(response);
    }
    let content_type = HeaderValue::from_static(content.content_type());
    let response = ([(header::CONTENT_TYPE, content_type)], content.bytes).into_response();
    Ok(with_etag(response, &etag))
}

/// Replaces the stored document (validated first); bumps `version`.
#[utoipa::path(put, path = "/api/v1/documents/{id}/content", tag = "documents",
    params(("id" = Uuid, Path, description = "The document's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on")),
    request_body(content(
        (Object = "application/json"), (Vec<u8> = "application/zip"),
        (Vec<u8> = "application/octet-stream"))),
    responses(
        (status = 200, description = "The new metadata and `ETag`", body = Document),
        BadDocument, Unauthorized, LacksDocumentsWrite, DocumentNotFound, PreconditionFailed,
        PayloadTooLarge),
    security(("bearer" = ["documents:write"]), ("apiKey" = ["documents:write"])))]
pub(crate) async fn put_content(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::DocumentsWrite)?;
    let id = parse_id("document", &id)?;
    let content = BodyLimit::server(state.config().body_limit_bytes)
        .read(body)?
        .to_vec();
    check_upload_type(&headers)?;
    let document = service(&state)?
        .put_content(PutContent {
            principal,
            id,
            content,
            if_match: if_match(&headers),
        })
        .await?;
    Ok(metadata(&document))
}

/// Changes metadata by a JSON merge patch of `title`, `tags` and `public`.
///
/// Errors: 400 for a bad patch.
#[utoipa::path(patch, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = Uuid, Path, description = "The document's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the change is based on")),
    request_body(content(
        (crate::api::DocumentPatch = "application/merge-patch+json"),
        (crate::api::DocumentPatch = "application/json"))),
    responses(
        (status = 200, description = "The new metadata and `ETag`", body = Document),
        BadRequest, Unauthorized, LacksDocumentsWrite, DocumentNotFound, PreconditionFailed),
    security(("bearer" = ["documents:write"]), ("apiKey" = ["documents:write"])))]
pub(crate) async fn patch_document(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::DocumentsWrite)?;
    let id = parse_id("document", &id)?;
    let body = BodyLimit::server(state.config().body_limit_bytes)
        .read(body)?
        .to_vec();
    match media_type(&headers).as_deref() {
        None | Some("application/merge-patch+json" | "application/json") => {}
        Some(other) => {
            return Err(Error::invalid_request(format!(
                "content type {other:?} is not supported; expected application/merge-patch+json or application/json"
            ))
            .into());
        }
    }
    let patch: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid_request(format!("request body: {e}")))?;
    let document = service(&state)?
        .patch(PatchDocument {
            principal,
            id,
            patch,
            if_match: if_match(&headers),
        })
        .await?;
    Ok(metadata(&document))
}

/// Deletes a document and its content.
#[utoipa::path(delete, path = "/api/v1/documents/{id}", tag = "documents",
    params(("id" = Uuid, Path, description = "The document's id"),
        ("If-Match" = Option<String>, Header, description = "The ETag the deletion is based on")),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized, LacksDocumentsWrite, DocumentNotFound, PreconditionFailed),
    security(("bearer" = ["documents:write"]), ("apiKey" = ["documents:write"])))]
pub(crate) async fn delete_document(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require(Scope::DocumentsWrite)?;
    let id = parse_id("document", &id)?;
    service(&state)?
        .delete(DeleteDocument {
            principal,
            id,
            if_match: if_match(&headers),
        })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
