//! The OpenAPI 3.1 document ([`openapi`], served at `GET /openapi.json`) and the Scalar UI
//! at `GET /docs`, whose script is embedded in the binary so it works offline.
//!
//! The document tells the whole truth, so that a client generated from it (or a fuzzer such
//! as schemathesis, which `.ci/schemathesis.sh` runs against a real server) never meets an
//! answer it does not describe: [`ApiDoc`] is what the `#[utoipa::path]` annotations say;
//! `refine` adds the limits the code enforces (from the same constants, and from the
//! [`Config`](crate::config::Config) for the configurable ones) and the shapes that
//! depend on one another; `answers` the headers, media types, event-stream events and
//! OpenAPI links of the answers; `glyph` the `.glyph` document as JSON Schema.

mod answers;
mod glyph;
mod refine;

use std::sync::Arc;

use axum::Router;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi as _;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};

use super::state::AppState;

/// The OpenAPI document of every route in [`api`](super::api).
#[derive(utoipa::OpenApi)]
#[openapi(
    info(title = "spv", description = "Render, store and serve .glyph design documents."),
    paths(
        super::thumbnails::create_thumbnail,
        super::document_thumbnail::get_document_thumbnail,
        super::gallery::gallery,
        super::documents::create_document,
        super::documents::list_documents,
        super::documents::get_document,
        super::documents::head_document,
        super::documents::get_content,
        super::documents::put_content,
        super::documents::patch_document,
        super::documents::delete_document,
        super::live::live,
        super::assets::upload_asset,
        super::assets::list_assets,
        super::assets::get_asset,
        super::assets::head_asset,
        super::assets::get_asset_meta,
        super::assets::delete_asset,
        super::jobs::enqueue_render,
        super::jobs::list_jobs,
        super::jobs::get_job,
        super::jobs::cancel_job,
        super::jobs::events::job_events,
        super::jobs::get_output,
        super::accounts::token,
        super::accounts::me,
        super::accounts::create_user,
        super::accounts::create_api_key,
        super::accounts::list_api_keys,
        super::accounts::revoke_api_key,
        super::health::health,
        super::health::ready,
        super::health::serve_metrics,
        openapi_json,
        docs_page,
    ),
    components(schemas(
        super::Problem,
        crate::api::ThumbnailBody,
        crate::api::TokenRequest,
        crate::api::TokenResponse,
        crate::api::GrantType,
        crate::api::Scope,
        crate::api::User,
        crate::api::CreateUser,
        crate::api::CreateApiKey,
        crate::api::CreatedApiKey,
        crate::api::ApiKey,
        crate::api::Document,
        crate::api::PageSummary,
        crate::api::DocumentList,
        crate::api::MetaInfo,
        crate::api::DocumentPatch,
        crate::api::GalleryItem,
        crate::api::GalleryList,
        crate::api::Asset,
        crate::api::AssetList,
        super::assets::AssetUpload,
        crate::api::Job,
        crate::api::JobState,
        crate::api::JobList,
        crate::api::RenderJobSpec,
        crate::api::RenderJobResult,
        crate::api::JobOutput,
    )),
    tags(
        (name = "thumbnails", description = "Render documents to images"),
        (name = "auth", description = "Tokens, users and API keys"),
        (name = "documents", description = "Stored .glyph documents"),
        (name = "gallery", description = "Public documents and their thumbnails"),
        (name = "assets", description = "Uploaded images and fonts that documents use"),
        (name = "jobs", description = "Background render jobs, their progress and outputs"),
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "docs", description = "This document and its UI"),
    )
)]
#[derive(Debug)]
pub struct ApiDoc;

/// The OpenAPI document for this configuration, as `GET /openapi.json` serves it: the
/// security schemes `bearer` (JWT) and `apiKey` (the `API_KEY_HEADER` header); `/metrics`
/// only when enabled; the limits of this configuration (`SPV_MAX_THUMBNAIL_SIZE`).
///
/// ```
/// let mut config = spv::config::Config::default();
/// config.max_thumbnail_size = 512;
/// let json = spv::http::openapi(&config);
/// assert!(json["openapi"].as_str().unwrap().starts_with("3.1"));
/// assert!(json["paths"]["/api/v1/thumbnails"]["post"].is_object());
/// assert_eq!(json["components"]["securitySchemes"]["apiKey"]["name"], "x-api-key");
/// assert_eq!(json["components"]["schemas"]["ThumbnailBody"]["properties"]["width"]["maximum"], 512);
/// ```
pub fn openapi(config: &crate::config::Config) -> serde_json::Value {
    let mut doc = serde_json::to_value(annotated(config)).unwrap_or_else(|e| {
        tracing::error!(error = %e, "serializing the OpenAPI document failed");
        serde_json::Value::Object(Default::default())
    });
    refine::refine(&mut doc, config);
    doc
}

/// What the annotations say, with this configuration's security schemes and paths.
fn annotated(config: &crate::config::Config) -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    if !config.prometheus_enabled {
        doc.paths.paths.retain(|path, _| path != "/metrics");
    }
    add_rate_limited(&mut doc);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    components.add_security_scheme(
        "apiKey",
        SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new(
            config.api_key_header.clone(),
        ))),
    );
    doc
}

/// Adds the 429 of the rate limits to every operation that is not exempt from them.
fn add_rate_limited(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::IntoResponses;

    let responses = super::responses::TooManyRequests::responses();
    for (path, item) in &mut doc.paths.paths {
        if matches!(path.as_str(), "/health" | "/ready" | "/metrics") {
            continue;
        }
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.options,
            &mut item.head,
            &mut item.patch,
            &mut item.trace,
        ];
        for operation in operations.into_iter().flatten() {
            operation.responses.responses.extend(responses.clone());
        }
    }
}

/// The policy of the docs page: Scalar's script, an inline bootstrap and inline styles,
/// and fetches of the OpenAPI document from this origin.
const DOCS_CSP: &str = "default-src 'self'; script-src 'self' 'unsafe-inline'; \
    style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; font-src 'self' data:; \
    connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `GET /openapi.json` and `GET /docs` (with its script at `/docs/scalar.js`).
///
/// Both work when nested under a prefix (`Router::nest("/spv", ..)`): the page refers
/// to its script and to the document by relative URLs, and the document served at
/// `/spv/openapi.json` names `/spv` as its server, so "try it" calls land under the prefix.
pub fn docs_router(state: AppState) -> Router {
    let doc = Arc::new(openapi(state.config()));
    let json = Arc::new(doc.to_string());
    let page = Arc::new(scalar_api_reference::scalar_html(
        &serde_json::json!({ "url": "openapi.json", "title": "spv API" }),
        Some("docs/scalar.js"),
    ));
    Router::new()
        .route("/openapi.json", get(openapi_json))
        .with_state(Docs { doc, json })
        .route(
            "/docs",
            get(move || async move {
                (
                    [(
                        header::CONTENT_SECURITY_POLICY,
                        HeaderValue::from_static(DOCS_CSP),
                    )],
                    Html(page.as_str().to_owned()),
                )
            }),
        )
        .route("/docs/scalar.js", get(scalar_js))
        // These routes read no credential: every request counts as anonymous.
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            super::ratelimit::anonymous_layer,
        ))
}

#[derive(Clone)]
pub(crate) struct Docs {
    doc: Arc<serde_json::Value>,
    json: Arc<String>,
}

/// The OpenAPI 3.1 document.
#[utoipa::path(get, path = "/openapi.json", tag = "docs",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub(crate) async fn openapi_json(
    State(docs): State<Docs>,
    OriginalUri(uri): OriginalUri,
) -> Response {
    let prefix = uri.path().strip_suffix("/openapi.json").unwrap_or_default();
    let json = if prefix.is_empty() {
        docs.json.as_str().to_owned()
    } else {
        let mut doc = (*docs.doc).clone();
        doc["servers"] = serde_json::json!([{ "url": prefix }]);
        doc.to_string()
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        json,
    )
        .into_response()
}

/// Scalar's script, embedded in the binary.
async fn scalar_js() -> Response {
    match scalar_api_reference::get_asset("scalar.js") {
        Some(script) => (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/javascript; charset=utf-8"),
                ),
                (
                    header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=86400"),
                ),
            ],
            script,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The API reference UI (Scalar), offline.
#[utoipa::path(get, path = "/docs", tag = "docs",
    responses((status = 200, description = "An HTML page", content_type = "text/html")))]
#[allow(dead_code)] // Documents the route that `scalar_api_reference` serves.
pub(crate) fn docs_page() {}
