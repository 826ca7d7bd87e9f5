//! The asset routes: images and fonts uploaded once (raw body or multipart, streamed,
//! size-limited, type sniffed from the bytes, deduplicated by SHA-256) and served back
//! with ETags, `Cache-Control` and single byte ranges.
//!
//! Assets are private: only the owner (or an admin) sees one; every route needs a
//! credential, `assets:read` to read and `assets:write` to upload or delete. The bytes of
//! an id never change, so they are cached for a year (`private`, `immutable`).

mod range;
mod respond;
mod upload;

use axum::extract::rejection::QueryRejection;
use axum::extract::{DefaultBodyLimit, FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::auth::Authenticated;
use super::extract::{configured, parse_id, query};
use super::json::FinishJsonLayer;
use super::prefix::MountPrefix;
use super::problem::ApiError;
use super::responses::{
    AssetNotFound, BadQuery, BadRequest, LacksAssetsRead, LacksAssetsWrite, PayloadTooLarge,
    RangeNotSatisfiable, Unauthorized,
};
use super::state::AppState;
use crate::api::{
    Asset, DeleteAsset, GetAsset, GetAssetMeta, ListAssets, Principal, Scope, UploadAsset,
    UploadedAsset,
};
use crate::assets::Assets;
use crate::{Error, ErrorKind};
use respond::{bytes_response, header_text, meta_response, not_modified, with_cache_headers};

/// The query of `POST /api/v1/assets`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UploadQuery {
    /// The file name to keep (default: from `Content-Disposition` or the multipart field).
    filename: Option<String>,
}

/// The query of `GET /api/v1/assets`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    /// The page, from 1 (default 1).
    page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    per_page: Option<u32>,
}

/// A multipart upload: the file in the field `file` (or the first field with a file name).
#[derive(Debug, utoipa::ToSchema)]
pub(crate) struct AssetUpload {
    /// The file's bytes.
    #[schema(value_type = String, format = Binary)]
    #[allow(dead_code)] // Describes the form for OpenAPI; the handler streams the field.
    file: Vec<u8>,
}

/// `POST`/`GET /api/v1/assets`, `GET`/`HEAD`/`DELETE /api/v1/assets/{id}` and
/// `GET /api/v1/assets/{id}/meta`.
///
/// Multipart bodies are held to the server's body limit (`SPV_BODY_LIMIT_BYTES`); the file
/// itself to the service's upload limit, both while streaming. Without
/// [`AppState::assets`](super::AppState::assets) the routes answer 404; without a
/// credential, 401:
///
/// ```
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use spv::http::{AppState, assets_router};
/// use tower::ServiceExt;
///
/// let app = assets_router(AppState::new(&spv::config::Config::default()));
/// let request = Request::get("/api/v1/assets").body(Body::empty()).unwrap();
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let response = rt.block_on(app.oneshot(request)).unwrap();
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// ```
pub fn assets_router(state: AppState) -> Router {
    let limit = state.config().body_limit_bytes;
    assets_routes()
        .layer(DefaultBodyLimit::max(limit))
        .layer(FinishJsonLayer)
        .with_state(state)
}

/// The routes of [`assets_router`] without its layers, for [`super::api`], which
/// applies them once around every route.
pub(crate) fn assets_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/assets", post(upload_asset).get(list_assets))
        .route(
            "/api/v1/assets/{id}",
            get(get_asset).head(head_asset).delete(delete_asset),
        )
        .route("/api/v1/assets/{id}/meta", get(get_asset_meta))
}

fn service(state: &AppState) -> Result<Assets, ApiError> {
    configured(state.assets(), "asset store")
}

fn is_multipart(headers: &HeaderMap) -> bool {
    header_text(headers, header::CONTENT_TYPE)
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|ct| ct.trim().eq_ignore_ascii_case("multipart/form-data"))
}

/// Runs the upload while `pump` feeds it the body through a bounded channel. The pump's
/// error is the cause when both failed; the service's size limit is a 413.
async fn stream_upload<F>(
    assets: &Assets,
    principal: Principal,
    filename: Option<String>,
    pump: impl FnOnce(upload::ChunkSender) -> F,
) -> Result<UploadedAsset, ApiError>
where
    F: Future<Output = Result<(), ApiError>>,
{
    let (tx, reader) = upload::channel();
    let request = UploadAsset {
        principal,
        filename,
        body: Box::new(reader),
    };
    let (pumped, uploaded) = tokio::join!(pump(tx), assets.upload(request));
    pumped?;
    uploaded.map_err(|error| {
        if error.kind() == ErrorKind::LimitExceeded {
            ApiError::with_status(error, StatusCode::PAYLOAD_TOO_LARGE)
        } else {
            ApiError::new(error)
        }
    })
}

/// Uploads an image or font (raw body or multipart); the caller's same bytes answer the
/// existing asset.
///
/// Errors: 400 for an empty upload, or a bad multipart body or query; 413 when the file
/// is over the upload or body limit (nothing is stored).
#[utoipa::path(post, path = "/api/v1/assets", tag = "assets",
    params(UploadQuery,
        ("Content-Disposition" = Option<String>, Header,
            description = "`attachment; filename=...` names a raw upload")),
    request_body(description = "The file: any raw body (its type is sniffed from the bytes), \
        or `multipart/form-data` with a `file` field", content(
        (Vec<u8> = "application/octet-stream"), (AssetUpload = "multipart/form-data"))),
    responses(
        (status = 201, description = "Stored; `Location` names it", body = Asset),
        (status = 200, description = "The caller already had these bytes: that asset, \
            with `Location`", body = Asset),
        BadRequest, Unauthorized, LacksAssetsWrite, PayloadTooLarge),
    security(("bearer" = ["assets:write"]), ("apiKey" = ["assets:write"])))]
pub(crate) async fn upload_asset(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    prefix: MountPrefix,
    params: Result<Query<UploadQuery>, QueryRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    principal.require(Scope::AssetsWrite)?;
    let params = query(params)?;
    let assets = service(&state)?;
    let limit = state.config().body_limit_bytes;
    let given = params.filename.as_deref().and_then(upload::clean_filename);
    let uploaded = if is_multipart(request.headers()) {
        let mut multipart = Multipart::from_request(request, &state)
            .await
            .map_err(|e| Error::invalid_request(format!("multipart body: {}", e.body_text())))?;
        loop {
            let field = multipart.next_field().await;
            let Some(mut field) = field.map_err(|e| upload::multipart_error(&e, limit))? else {
                return Err(ApiError::new(Error::invalid_request(
                    "multipart body has no file: send it in a field named `file`",
                )));
            };
            if field.name() != Some("file") && field.file_name().is_none() {
                continue;
            }
            let filename = given
                .clone()
                .or_else(|| field.file_name().and_then(upload::clean_filename));
            let first = upload::field_chunk(&mut field, limit)
                .await?
                .ok_or_else(upload::empty_upload)?;
            break stream_upload(&assets, principal, filename, |tx| {
                upload::pump_field(first, field, tx, limit)
            })
            .await?;
        }
    } else {
        let filename = given.or_else(|| {
            header_text(request.headers(), header::CONTENT_DISPOSITION)
                .and_then(upload::disposition_filename)
        });
        let mut body = request.into_body();
        let first = upload::body_chunk(&mut body, limit)
            .await?
            .ok_or_else(upload::empty_upload)?;
        stream_upload(&assets, principal, filename, |tx| {
            upload::pump_body(first, body, tx, limit)
        })
        .await?
    };
    let status = if uploaded.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let mut response = (status, meta_response(&uploaded.asset)).into_response();
    prefix.set_location(
        &mut response,
        &format!("/api/v1/assets/{}", uploaded.asset.id),
    );
    Ok(response)
}

/// Pages of the caller's assets (an admin's: everyone's), newest first.
#[utoipa::path(get, path = "/api/v1/assets", tag = "assets",
    params(ListQuery),
    responses(
        (status = 200, description = "A page", body = crate::api::AssetList),
        BadQuery, Unauthorized, LacksAssetsRead),
    security(("bearer" = ["assets:read"]), ("apiKey" = ["assets:read"])))]
pub(crate) async fn list_assets(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::AssetsRead)?;
    let params = query(params)?;
    let list = service(&state)?
        .list(ListAssets {
            principal,
            page: params.page,
            per_page: params.per_page,
        })
        .await?;
    Ok(Json(list).into_response())
}

/// An asset's bytes, as stored; honours `If-None-Match`, `Range` and `If-Range`.
#[utoipa::path(get, path = "/api/v1/assets/{id}", tag = "assets",
    params(("id" = Uuid, Path, description = "The asset's id"),
        ("If-None-Match" = Option<String>, Header, description = "ETags already held"),
        ("Range" = Option<String>, Header,
            description = "One range: `bytes=a-b`, `bytes=a-` or `bytes=-n`; several or a \
                malformed one are ignored (the whole asset is sent)"),
        ("If-Range" = Option<String>, Header,
            description = "Send the range only if the asset still has this ETag")),
    responses(
        (status = 200, description = "The bytes, typed as sniffed on upload; `ETag` is the \
            quoted SHA-256", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 206, description = "The requested range, with `Content-Range`",
            content_type = "application/octet-stream", body = Vec<u8>),
        (status = 304, description = "`If-None-Match` matched"),
        Unauthorized, LacksAssetsRead, AssetNotFound, RangeNotSatisfiable),
    security(("bearer" = ["assets:read"]), ("apiKey" = ["assets:read"])))]
pub(crate) async fn get_asset(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require(Scope::AssetsRead)?;
    let id = parse_id("asset", &id)?;
    let assets = service(&state)?;
    // A revalidation needs no bytes: check the metadata first.
    if headers.contains_key(header::IF_NONE_MATCH) {
        let asset = assets
            .meta(GetAssetMeta {
                principal: principal.clone(),
                id,
            })
            .await?;
        if let Some(response) = not_modified(&headers, &asset.etag()) {
            return Ok(with_cache_headers(response, &asset));
        }
    }
    let reader = assets.open_content(GetAsset { principal, id }).await?;
    let asset = reader.asset().clone();
    bytes_response(&asset, &headers, Some(reader)).await
}

/// An asset's headers (`ETag`, `Content-Type`, `Content-Length`) without the bytes.
#[utoipa::path(head, path = "/api/v1/assets/{id}", tag = "assets",
    params(("id" = Uuid, Path, description = "The asset's id"),
        ("If-None-Match" = Option<String>, Header, description = "ETags already held")),
    responses(
        (status = 200, description = "It exists (`Range` is ignored on HEAD, RFC 9110 §14.2)"),
        (status = 304, description = "`If-None-Match` matched"),
        (status = 401, description = "No valid credential"),
        (status = 403, description = "The credential lacks `assets:read`"),
        (status = 404, description = "No such asset of the caller")),
    security(("bearer" = ["assets:read"]), ("apiKey" = ["assets:read"])))]
pub(crate) async fn head_asset(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    mut headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require(Scope::AssetsRead)?;
    let id = parse_id("asset", &id)?;
    let asset = service(&state)?
        .meta(GetAssetMeta { principal, id })
        .await?;
    if let Some(response) = not_modified(&headers, &asset.etag()) {
        return Ok(with_cache_headers(response, &asset));
    }
    // Range applies to GET only (RFC 9110 §14.2): HEAD answers the whole asset's headers.
    headers.remove(header::RANGE);
    bytes_response(&asset, &headers, None).await
}

/// An asset's metadata: name, type, size, hashes, image size and colour, font details.
#[utoipa::path(get, path = "/api/v1/assets/{id}/meta", tag = "assets",
    params(("id" = Uuid, Path, description = "The asset's id"),
        ("If-None-Match" = Option<String>, Header, description = "ETags already held")),
    responses(
        (status = 200, description = "The metadata, with an `ETag`", body = Asset),
        (status = 304, description = "`If-None-Match` matched"),
        Unauthorized, LacksAssetsRead, AssetNotFound),
    security(("bearer" = ["assets:read"]), ("apiKey" = ["assets:read"])))]
pub(crate) async fn get_asset_meta(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require(Scope::AssetsRead)?;
    let id = parse_id("asset", &id)?;
    let asset = service(&state)?
        .meta(GetAssetMeta { principal, id })
        .await?;
    let response = meta_response(&asset);
    let etag = header_text(response.headers(), header::ETAG).map(str::to_owned);
    if let Some(not_modified) = etag.and_then(|etag| not_modified(&headers, &etag)) {
        return Ok(not_modified);
    }
    Ok(response)
}

/// Deletes an asset (its bytes too, unless another asset has the same).
#[utoipa::path(delete, path = "/api/v1/assets/{id}", tag = "assets",
    params(("id" = Uuid, Path, description = "The asset's id")),
    responses(
        (status = 204, description = "Deleted"),
        Unauthorized, LacksAssetsWrite, AssetNotFound),
    security(("bearer" = ["assets:write"]), ("apiKey" = ["assets:write"])))]
pub(crate) async fn delete_asset(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::AssetsWrite)?;
    let id = parse_id("asset", &id)?;
    service(&state)?
        .delete(DeleteAsset { principal, id })
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
