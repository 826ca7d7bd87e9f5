//! `GET /api/v1/gallery`: pages of public documents, each with the URL of its thumbnail.
//!
//! Anonymous callers may use it; a credential that is sent must be valid (401) and hold
//! `gallery:read` or `documents:read` (403). Whoever asks, only public documents are
//! listed, and their thumbnails (`GET /api/v1/documents/{id}/thumbnail`) are served to
//! anyone; nothing private is reachable this way.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::auth::Authenticated;
use super::extract::{caller_with, configured, query};
use super::json::FinishJsonLayer;
use super::prefix::MountPrefix;
use super::problem::ApiError;
use super::responses::{BadQuery, Forbidden, InvalidCredential};
use super::state::AppState;
use super::thumbnails::PUBLIC_CACHE_CONTROL;
use crate::api::{DocumentQuery, GalleryItem, GalleryList, ListDocuments, Scope};

/// The gallery's path, to find the prefix the API is mounted under.
const GALLERY_PATH: &str = "/api/v1/gallery";

/// `GET /api/v1/gallery`.
pub fn gallery_router(state: AppState) -> Router {
    gallery_routes().layer(FinishJsonLayer).with_state(state)
}

/// The routes of [`gallery_router`] without its layers, for [`super::api`], which
/// applies them once around every route.
pub(crate) fn gallery_routes() -> Router<AppState> {
    Router::new().route(GALLERY_PATH, get(gallery))
}

/// Pages of public documents, newest first, each with its thumbnail's URL.
///
/// Errors: 403 when a credential is sent that holds neither `gallery:read` nor
/// `documents:read`.
#[utoipa::path(get, path = "/api/v1/gallery", tag = "gallery",
    params(
        ("page" = Option<u32>, Query, description = "1-based page (default 1)"),
        ("perPage" = Option<u32>, Query, description = "Items per page (default 20, at most 100)"),
        ("title" = Option<String>, Query, description = "Only titles containing this"),
        ("tag" = Option<String>, Query, description = "Only documents with this tag")),
    responses(
        (status = 200, description = "A page of public documents", body = GalleryList),
        BadQuery, InvalidCredential, Forbidden),
    security((), ("bearer" = ["gallery:read"]), ("apiKey" = ["gallery:read"]),
        ("bearer" = ["documents:read"]), ("apiKey" = ["documents:read"])))]
pub(crate) async fn gallery(
    State(state): State<AppState>,
    caller: Option<Authenticated>,
    prefix: MountPrefix,
    params: Result<Query<DocumentQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    // Whoever may see the gallery: anonymous, or holding `gallery:read` or
    // `documents:read`.
    caller_with(caller, &[Scope::GalleryRead, Scope::DocumentsRead])?;
    let query = query(params)?;
    let documents = configured(state.documents(), "document store")?;
    // Never the caller: the gallery is the public documents, whoever asks.
    let list = documents
        .list(ListDocuments {
            principal: None,
            query,
        })
        .await?;
    let gallery = GalleryList {
        items: list
            .items
            .iter()
            .filter(|document| document.public)
            .map(|document| GalleryItem::new(document, &prefix.0))
            .collect(),
        metainfo: list.metainfo,
    };
    let mut response = Json(gallery).into_response();
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(PUBLIC_CACHE_CONTROL),
    );
    Ok(response)
}
