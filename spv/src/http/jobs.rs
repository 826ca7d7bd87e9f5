//! The job routes: render jobs enqueued over HTTP, their state, their progress as
//! Server-Sent Events, cancelling, and their outputs.
//!
//! Every route needs a credential: `jobs:write` to enqueue or cancel, `jobs:read` for the
//! rest. A job is private to its owner (and admins): another user's job is a 404. Links
//! in answers (`Location`, each output's `href`) carry the prefix the routers are mounted
//! under, so they stay right when a host nests them (`/spv/api/v1/jobs/{id}/outputs/0`).
//!
//! The bytes of an output never change once its job succeeded, so they are cached for a
//! year (`private`, `immutable`) under a strong ETag of the job and index.

pub(crate) mod events;
mod present;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use uuid::Uuid;

use super::auth::Authenticated;
use super::body::BodyLimit;
use super::conditional::{etag_matches, strong_etag};
use super::extract::{configured, parse_id};
use super::json::FinishJsonLayer;
use super::prefix::MountPrefix;
use super::problem::ApiError;
use super::responses::{
    BadQuery, BadRequest, Conflict, JobFinished, JobNotFound, LacksJobsRead, LacksJobsWrite,
    PayloadTooLarge, ReadableDocumentNotFound, Unauthorized,
};
use super::state::AppState;
use crate::api::{
    CancelJob, EnqueueRender, GetJob, GetJobOutput, Job, JobState, ListJobs, RenderJobSpec, Scope,
};
use crate::jobs::{Jobs, MAX_IDEMPOTENCY_KEY_CHARS};
use crate::ratelimit::{Group, Subject};
use crate::{Error, ErrorKind};
pub(crate) use present::present;

/// The largest body of `POST /api/v1/jobs/render`: a spec is a few hundred bytes.
pub(crate) const SPEC_LIMIT_BYTES: usize = 64 * 1024;

/// How long clients may keep an output's bytes: they never change under a job and index.
const OUTPUT_CACHE_CONTROL: &str = "private, max-age=31536000, immutable";

/// The query of `GET /api/v1/jobs`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    /// Only jobs in this state: `queued`, `running`, `succeeded`, `failed` or `cancelled`.
    state: Option<String>,
    /// The page, from 1 (default 1).
    page: Option<u32>,
    /// Items per page, 1 to 100 (default 20).
    per_page: Option<u32>,
}

/// `POST /api/v1/jobs/render`, `GET /api/v1/jobs`, `GET`/`DELETE /api/v1/jobs/{id}`,
/// `GET /api/v1/jobs/{id}/events` and `GET /api/v1/jobs/{id}/outputs/{index}`.
///
/// Without [`AppState::jobs`](super::AppState::jobs) the routes answer 404; without a
/// credential, 401:
///
/// ```
/// use axum::body::Body;
/// use axum::http::{Request, StatusCode};
/// use spv::http::{AppState, jobs_router};
/// use tower::ServiceExt;
///
/// let app = jobs_router(AppState::new(&spv::config::Config::default()));
/// let request = Request::get("/api/v1/jobs").body(Body::empty()).unwrap();
/// let rt = tokio::runtime::Runtime::new().unwrap();
/// let response = rt.block_on(app.oneshot(request)).unwrap();
/// assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
/// ```
pub fn jobs_router(state: AppState) -> Router {
    jobs_routes().layer(FinishJsonLayer).with_state(state)
}

/// The routes of [`jobs_router`] without its layers, for [`super::api`], which
/// applies them once around every route.
pub(crate) fn jobs_routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/jobs/render", post(enqueue_render))
        .route("/api/v1/jobs", get(list_jobs))
        .route("/api/v1/jobs/{id}", get(get_job).delete(cancel_job))
        .route("/api/v1/jobs/{id}/events", get(events::job_events))
        .route("/api/v1/jobs/{id}/outputs/{index}", get(get_output))
        .layer(DefaultBodyLimit::max(SPEC_LIMIT_BYTES))
}

pub(crate) fn service(state: &AppState) -> Result<Jobs, ApiError> {
    configured(state.jobs(), "job queue")
}

/// The `Idempotency-Key` header: 1 to [`MAX_IDEMPOTENCY_KEY_CHARS`] characters of text.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Error> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().map_err(|_| {
        Error::invalid_request("Idempotency-Key header is not valid: expected visible ASCII text")
    })?;
    let chars = key.chars().count();
    if chars == 0 || chars > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(Error::invalid_request(format!(
            "Idempotency-Key header of {chars} characters is not valid: expected 1 to \
             {MAX_IDEMPOTENCY_KEY_CHARS}"
        )));
    }
    Ok(Some(key.to_owned()))
}

fn spec_from(body: Result<Bytes, BytesRejection>) -> Result<RenderJobSpec, ApiError> {
    let body = BodyLimit::new(SPEC_LIMIT_BYTES, "of a job spec").read(body)?;
    let value: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| Error::invalid_request(format!("request body: {e}")))?;
    serde_json::from_value(value.clone()).map_err(|e| {
        let place = failing_field(&value).map_or_else(String::new, |f| format!("{f}: "));
        ApiError::new(Error::invalid_request(format!("request body: {place}{e}")))
    })
}

/// The field of a spec whose value has the wrong type, so that the error names it (serde
/// names unknown and missing fields itself, but not the field of a bad value).
fn failing_field(value: &serde_json::Value) -> Option<&'static str> {
    use crate::api::ImageFormat;
    use serde_json::from_value;
    let object = value.as_object()?;
    let field = |name: &str| object.get(name).cloned();
    let bad = |name: &'static str, fits: fn(serde_json::Value) -> bool| {
        field(name).is_some_and(|v| !fits(v)).then_some(name)
    };
    bad("document", |v| from_value::<Uuid>(v).is_ok())
        .or_else(|| bad("pages", |v| crate::api::whole::vec_usize(v).is_ok()))
        .or_else(|| bad("sizes", |v| crate::api::whole::vec_u32(v).is_ok()))
        .or_else(|| bad("formats", |v| from_value::<Vec<ImageFormat>>(v).is_ok()))
        .or_else(|| bad("lenient", |v| from_value::<bool>(v).is_ok()))
}

fn json_response(status: StatusCode, job: &Job) -> Response {
    (status, axum::Json(job)).into_response()
}

/// Enqueues a render of a stored document: every page × size × format, in the
/// background.
///
/// Errors: 400 for a bad spec (the problem's `detail` names the field) or a bad
/// `Idempotency-Key`; 404 also for a page the document lacks; 409 when the
/// `Idempotency-Key` was used for another kind of job; 413 for a body over 64 KiB.
#[utoipa::path(post, path = "/api/v1/jobs/render", tag = "jobs",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1 to 200 characters; the caller's same key answers the first job \
            instead of adding one")),
    request_body = RenderJobSpec,
    responses(
        (status = 202, description = "Queued; `Location` names the job", body = Job),
        BadRequest, Unauthorized, LacksJobsWrite, ReadableDocumentNotFound, Conflict,
        PayloadTooLarge),
    security(("bearer" = ["jobs:write"]), ("apiKey" = ["jobs:write"])))]
pub(crate) async fn enqueue_render(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    prefix: MountPrefix,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::JobsWrite)?;
    super::ratelimit::check(&state, Group::Render, &Subject::user(principal.user_id)).await?;
    let idempotency_key = idempotency_key(&headers)?;
    let spec = spec_from(body)?;
    let job = service(&state)?
        .enqueue_render(EnqueueRender {
            principal,
            spec,
            idempotency_key,
        })
        .await?;
    let job = present(job, &prefix);
    let mut response = json_response(StatusCode::ACCEPTED, &job);
    prefix.set_location(&mut response, &format!("/api/v1/jobs/{}", job.id));
    Ok(response)
}

/// Pages of the caller's jobs (an admin's: everyone's), newest first.
///
/// Errors: 400 also for an unknown `state`.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "jobs",
    params(ListQuery),
    responses(
        (status = 200, description = "A page", body = crate::api::JobList),
        BadQuery, Unauthorized, LacksJobsRead),
    security(("bearer" = ["jobs:read"]), ("apiKey" = ["jobs:read"])))]
pub(crate) async fn list_jobs(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    prefix: MountPrefix,
    params: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    principal.require(Scope::JobsRead)?;
    let Query(params) =
        params.map_err(|e| Error::invalid_request(format!("query: {}", e.body_text())))?;
    let state_filter = params
        .state
        .as_deref()
        .map(|name| {
            JobState::parse(name).ok_or_else(|| {
                Error::invalid_request(format!(
                    "state {name:?} is not valid: expected queued, running, succeeded, \
                     failed or cancelled"
                ))
            })
        })
        .transpose()?;
    let mut list = service(&state)?
        .list(ListJobs {
            principal,
            state: state_filter,
            page: params.page,
            per_page: params.per_page,
        })
        .await?;
    list.items = list
        .items
        .into_iter()
        .map(|job| present(job, &prefix))
        .collect();
    Ok(axum::Json(list).into_response())
}

/// A job: its state, progress, and once it succeeded its result with a link to each
/// output.
#[utoipa::path(get, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = Uuid, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job; a succeeded render's `result` is a \
            `RenderJobResult`", body = Job),
        Unauthorized, LacksJobsRead, JobNotFound),
    security(("bearer" = ["jobs:read"]), ("apiKey" = ["jobs:read"])))]
pub(crate) async fn get_job(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    prefix: MountPrefix,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::JobsRead)?;
    let id = parse_id("job", &id)?;
    let job = service(&state)?.get(GetJob { principal, id }).await?;
    Ok(json_response(StatusCode::OK, &present(job, &prefix)))
}

/// Cancels a job: a queued one never runs, a running one stops at its next checkpoint
/// (`cancelRequested` is set until then).
#[utoipa::path(delete, path = "/api/v1/jobs/{id}", tag = "jobs",
    params(("id" = Uuid, Path, description = "The job's id")),
    responses(
        (status = 200, description = "The job as it is now", body = Job),
        Unauthorized, LacksJobsWrite, JobNotFound, JobFinished),
    security(("bearer" = ["jobs:write"]), ("apiKey" = ["jobs:write"])))]
pub(crate) async fn cancel_job(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    prefix: MountPrefix,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    principal.require(Scope::JobsWrite)?;
    let id = parse_id("job", &id)?;
    let job = service(&state)?.cancel(CancelJob { principal, id }).await?;
    Ok(json_response(StatusCode::OK, &present(job, &prefix)))
}

/// The strong ETag of output `index` of job `id`: its bytes never change.
fn output_etag(id: Uuid, index: u32) -> String {
    strong_etag(&[b"job-output", id.as_bytes(), &index.to_be_bytes()])
}

/// Whether `job` succeeded with an output at `index`.
fn has_output(job: &Job, index: u32) -> bool {
    job.state == JobState::Succeeded
        && job
            .result
            .as_ref()
            .and_then(|result| result.get("outputs"))
            .and_then(serde_json::Value::as_array)
            .is_some_and(|outputs| (index as usize) < outputs.len())
}

fn cache_headers(id: Uuid, index: u32) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(&output_etag(id, index)) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(OUTPUT_CACHE_CONTROL),
    );
    headers
}

/// One output of a succeeded render job: the image bytes.
///
/// Errors: 404 also when the job has no output `index`; 409 when the job has not
/// succeeded.
#[utoipa::path(get, path = "/api/v1/jobs/{id}/outputs/{index}", tag = "jobs",
    params(("id" = Uuid, Path, description = "The job's id"),
        ("index" = u32, Path, description = "The output's index in the result, from 0"),
        ("If-None-Match" = Option<String>, Header, description = "ETags already held")),
    responses(
        (status = 200, description = "The image, typed by its format; a strong `ETag`, \
            cached for a year", content(
            (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "image/jpeg"))),
        (status = 304, description = "`If-None-Match` matched"),
        Unauthorized, LacksJobsRead, JobNotFound, Conflict),
    security(("bearer" = ["jobs:read"]), ("apiKey" = ["jobs:read"])))]
pub(crate) async fn get_output(
    State(state): State<AppState>,
    Authenticated(principal): Authenticated,
    Path((id, index)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    principal.require(Scope::JobsRead)?;
    let id = parse_id("job", &id)?;
    let index: u32 = index.parse().map_err(|_| {
        Error::new(
            ErrorKind::NotFound,
            format!("output {index:?} of job {id} not found: expected an index from 0"),
        )
    })?;
    let jobs = service(&state)?;
    // A revalidation needs no bytes: the job's row says whether the output still exists.
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|inm| etag_matches(inm, &output_etag(id, index)));
    if matches {
        let job = jobs
            .get(GetJob {
                principal: principal.clone(),
                id,
            })
            .await?;
        if has_output(&job, index) {
            return Ok((StatusCode::NOT_MODIFIED, cache_headers(id, index)).into_response());
        }
    }
    let content = jobs
        .output(GetJobOutput {
            principal,
            job: id,
            index,
        })
        .await?;
    let mut out = cache_headers(id, index);
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content.output.format.content_type()),
    );
    let body = Body::from(Bytes::from(content.bytes));
    Ok((StatusCode::OK, out, body).into_response())
}

#[cfg(test)]
mod tests;
