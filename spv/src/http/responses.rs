//! The problem responses of the OpenAPI document, one type per status, each a
//! [`utoipa::IntoResponses`] with a [`Problem`] body as `application/problem+json`. A
//! route's `#[utoipa::path]` names the statuses it answers and nothing more:
//!
//! ```text
//! responses((status = 200, description = "The job", body = Job), Unauthorized, JobNotFound)
//! ```
//!
//! The first set is generic: the problem's `detail` says what was wrong, and the
//! operation's `security` names the scopes behind a 403. The second set says the same
//! with the detail that recurs across routes (which scope, which resource, which
//! state): a route names the most specific one that is true of it. What only one route
//! means by a status goes in its own description (an `Errors:` paragraph of the
//! handler's doc comment), so the document never says less than the route does.

use std::collections::BTreeMap;

use utoipa::ToSchema as _;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

use super::problem::{PROBLEM_JSON, Problem};

/// The problem response of `status`, described by `description`.
fn problem(status: u16, description: &str) -> BTreeMap<String, RefOr<Response>> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name(Problem::name())))
        .build();
    let response = ResponseBuilder::new()
        .description(description)
        .content(PROBLEM_JSON, content)
        .build();
    BTreeMap::from([(status.to_string(), RefOr::T(response))])
}

macro_rules! problem_responses {
    ($($(#[doc = $doc:literal])* $name:ident = $status:literal, $description:literal;)*) => {$(
        $(#[doc = $doc])*
        #[allow(dead_code, reason = "named in `#[utoipa::path]` annotations, never built")]
        pub(crate) struct $name;

        impl utoipa::IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                problem($status, $description)
            }
        }
    )*};
}

problem_responses! {
    /// 400: a request that is not valid (body, query or header).
    BadRequest = 400, "The request is not valid; the problem's `detail` says what was wrong \
        and what was expected";
    /// 401: no valid credential.
    Unauthorized = 401, "No valid credential (where anonymous callers are served, a \
        credential that is sent must still be valid); see `WWW-Authenticate`";
    /// 403: the credential lacks the operation's scope.
    Forbidden = 403, "The credential lacks a scope the operation requires (see its \
        `security`)";
    /// 404: no such resource that the caller may see.
    NotFound = 404, "No such resource visible to the caller";
    /// 409: the resource's state forbids the request.
    Conflict = 409, "The request conflicts with the resource's state; the problem's \
        `detail` says how";
    /// 412: `If-Match` no longer holds.
    PreconditionFailed = 412, "`If-Match` no longer holds; nothing changed";
    /// 413: a body over the limit.
    PayloadTooLarge = 413, "The body is over the limit; nothing stored";
    /// 416: a range past the end.
    RangeNotSatisfiable = 416, "The range lies past the end; `Content-Range: bytes */LEN`";
    /// 422: a document that cannot be drawn (a missing or unreadable asset).
    Unprocessable = 422, "A missing or unreadable asset";
    /// 503: the render pool is saturated.
    Overloaded = 503, "Render pool saturated; see `Retry-After`";
    /// 503: the server is not ready for traffic.
    NotReady = 503, "Not ready";
}

// The specific ones: a generic status with the meaning that several routes share.
problem_responses! {
    /// 400: a bad query of a paged list.
    BadQuery = 400, "A bad query (`page` counts from 1; `perPage` is 1 to 100)";
    /// 400: a `.glyph` document that does not validate.
    BadDocument = 400, "An invalid document";
    /// 401 of a route that anonymous callers may use: only a credential that is sent
    /// can be wrong.
    InvalidCredential = 401, "A credential was sent but is not valid (anonymous callers \
        send none); see `WWW-Authenticate`";
    /// 403: the credential lacks `documents:read`.
    LacksDocumentsRead = 403, "The credential lacks `documents:read`";
    /// 403: the credential lacks `documents:write`.
    LacksDocumentsWrite = 403, "The credential lacks `documents:write`";
    /// 403: the credential lacks `assets:read`.
    LacksAssetsRead = 403, "The credential lacks `assets:read`";
    /// 403: the credential lacks `assets:write`.
    LacksAssetsWrite = 403, "The credential lacks `assets:write`";
    /// 403: the credential lacks `jobs:read`.
    LacksJobsRead = 403, "The credential lacks `jobs:read`";
    /// 403: the credential lacks `jobs:write`.
    LacksJobsWrite = 403, "The credential lacks `jobs:write`";
    /// 404 of a route that changes a document: one the caller may not even read is
    /// missing too, so its existence is not revealed.
    DocumentNotFound = 404, "No such document of the caller";
    /// 404 of a route that reads a document (the caller's own, a public one, any for an
    /// administrator): one the caller may not read is missing too.
    ReadableDocumentNotFound = 404, "No such document readable by the caller";
    /// 404: no such asset of the caller.
    AssetNotFound = 404, "No such asset of the caller";
    /// 404: no such job of the caller.
    JobNotFound = 404, "No such job of the caller";
    /// 409: the job has finished, so it can no longer change.
    JobFinished = 409, "The job has already finished";
    NotAWebSocket = 400, "Not a WebSocket upgrade: the live editing protocol runs over \
        WebSocket only (`../shared/live-protocol.md`)";
}

/// 429: past a rate limit (`SPV_RATE_LIMITS`); every route but `/health`, `/ready` and
/// `/metrics` may answer it, so [`super::openapi`] adds it to each of their operations.
#[allow(dead_code, reason = "added to operations by `openapi`, never built")]
pub(crate) struct TooManyRequests;

impl utoipa::IntoResponses for TooManyRequests {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        use utoipa::openapi::{HeaderBuilder, ObjectBuilder, Type};

        let header = |kind: Type, description: &str| {
            HeaderBuilder::new()
                .schema(ObjectBuilder::new().schema_type(kind))
                .description(Some(description))
                .build()
        };
        let content = ContentBuilder::new()
            .schema(Some(Ref::from_schema_name(Problem::name())))
            .build();
        let response = ResponseBuilder::new()
            .description(
                "Past a rate limit (`urn:spv:problem:rate-limited`; the `detail` names the \
                 group and its limit); try again after `Retry-After`",
            )
            .content(PROBLEM_JSON, content)
            .header(
                "Retry-After",
                header(Type::Integer, "Seconds to wait, at least 1"),
            )
            .header(
                "RateLimit-Policy",
                header(
                    Type::String,
                    "The limit that refused (draft-ietf-httpapi-ratelimit-headers), e.g. \
                     `\"auth\";q=10;w=60`",
                ),
            )
            .header(
                "RateLimit",
                header(
                    Type::String,
                    "Nothing remains for `t` seconds, e.g. `\"auth\";r=0;t=42`",
                ),
            )
            .build();
        BTreeMap::from([("429".to_string(), RefOr::T(response))])
    }
}
