//! `GET /api/v1/documents/{id}/thumbnail`: a cacheable thumbnail of a stored document,
//! for `<img>` tags and CDNs.
//!
//! The options and their errors are those of `POST /api/v1/thumbnails`, in the query.
//! The ETag is the thumbnail's cache key (content hash, options, renderer version), so
//! `If-None-Match` answers 304 from the document's metadata alone. Public documents are
//! served to anyone with `Cache-Control: public, max-age=60` (short: the URL stays, the
//! content may change; the ETag revalidates); private ones to their owner and admins
//! with `private, no-cache`.
//!
//! A signed URL (`expires` and `signature` in the query, made by
//! [`SigningKeys::sign`](crate::signing::SigningKeys::sign) with a key of
//! `SPV_URL_SIGNING_KEYS`) grants read of exactly that thumbnail without a credential,
//! so a CDN can serve private thumbnails: the answer is then `public` for as long as the
//! URL holds (60 s at most). The two parameters are not options: the cache entry and the
//! ETag are those of the same URL without them. A signature that is wrong, incomplete or
//! expired is 403 `urn:spv:problem:invalid-signature`.

use std::borrow::Cow;

use axum::Router;
use axum::extract::{FromRequestParts, OriginalUri, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use super::auth::Authenticated;
use super::extract::{caller_with, parse_id};
use super::json::FinishJsonLayer;
use super::problem::ApiError;
use super::ratelimit::{client_ip, render_subject};
use super::responses::{InvalidCredential, Overloaded, Unprocessable};
use super::state::AppState;
use super::thumbnails::{PUBLIC_MAX_AGE_SECS, no_store, respond};
use crate::Error;
use crate::api::{GetDocumentThumbnail, ImageFormat, Principal, Scope, ThumbnailSize};
use crate::ratelimit::{Group, Refusal};

/// The query of `GET /api/v1/documents/{id}/thumbnail` (for the OpenAPI document; the
/// handler reads the query with [`ThumbnailQuery::parse`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ThumbnailQuery {
    /// Zero-based page index (default 0).
    page: Option<usize>,
    /// The longer side in pixels (default 256).
    size: Option<u32>,
    /// Box width in pixels (with `height`).
    width: Option<u32>,
    /// Box height in pixels (with `width`).
    height: Option<u32>,
    /// How the page fits the box: `contain` (default), `cover` or `fill`.
    fit: Option<String>,
    /// `png` (default), `webp`, `jpeg` or `auto` (WebP when `Accept` allows it, else PNG).
    format: Option<String>,
    /// Paint placeholders for missing assets instead of failing (default false).
    lenient: Option<bool>,
    /// A signed URL's expiry, in Unix seconds (with `signature`; signed with the rest).
    expires: Option<u64>,
    /// A signed URL's signature: HMAC-SHA256 (unpadded URL-safe base64, 43 characters)
    /// of the path and the query's other pairs, sorted and joined by `&`, with a key of
    /// `SPV_URL_SIGNING_KEYS`. Grants read of this thumbnail without a credential.
    #[param(min_length = 43, max_length = 43, pattern = "^[A-Za-z0-9_-]{43}$")]
    signature: Option<String>,
    /// Pretty-prints problem responses.
    #[param(ignore)]
    #[allow(dead_code)] // Read by the JSON finishing layer; accepted here.
    pretty: Option<String>,
}

/// The parameters of [`ThumbnailQuery`], for messages.
const QUERY_FIELDS: &str = "`page`, `size`, `width`, `height`, `fit`, `format`, `lenient`, \
     `expires`, `signature`, `pretty`";

impl ThumbnailQuery {
    /// Reads a query string as `axum::extract::Query` would (form encoding, unknown and
    /// repeated parameters refused), without its allocations per request: this is the
    /// hot route of a thumbnail CDN.
    fn parse(query: Option<&str>) -> Result<Self, Error> {
        fn number<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, Error>
        where
            T::Err: std::fmt::Display,
        {
            value
                .parse()
                .map_err(|e| Error::invalid_request(format!("query: {key}: {e}")))
        }
        fn set<T>(slot: &mut Option<T>, key: &str, value: T) -> Result<(), Error> {
            if slot.replace(value).is_some() {
                return Err(Error::invalid_request(format!(
                    "query: duplicate field `{key}`"
                )));
            }
            Ok(())
        }
        let mut out = ThumbnailQuery::default();
        for (key, value) in query_pairs(query.unwrap_or_default()) {
            match &*key {
                "page" => set(&mut out.page, "page", number(&key, &value)?)?,
                "size" => set(&mut out.size, "size", number(&key, &value)?)?,
                "width" => set(&mut out.width, "width", number(&key, &value)?)?,
                "height" => set(&mut out.height, "height", number(&key, &value)?)?,
                "fit" => set(&mut out.fit, "fit", value.into_owned())?,
                "format" => set(&mut out.format, "format", value.into_owned())?,
                "lenient" => {
                    let lenient = match &*value {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(Error::invalid_request(format!(
                                "query: lenient: expected `true` or `false`, got {value:?}"
                            )));
                        }
                    };
                    set(&mut out.lenient, "lenient", lenient)?;
                }
                "expires" => set(&mut out.expires, "expires", number(&key, &value)?)?,
                "signature" => set(&mut out.signature, "signature", value.into_owned())?,
                "pretty" => set(&mut out.pretty, "pretty", String::new())?,
                _ => {
                    return Err(Error::invalid_request(format!(
                        "query: unknown field `{key}`, expected one of {QUERY_FIELDS}"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// The pairs of a form-encoded query, decoded only where a pair has escapes (`%`, `+`):
/// what `form_urlencoded::parse` yields, without its per-pair decoding work for the
/// plain `size=256&format=png` of nearly every request.
fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            if pair.contains(['%', '+']) {
                form_urlencoded::parse(pair.as_bytes())
                    .next()
                    .unwrap_or_default()
            } else {
                let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
                (Cow::Borrowed(key), Cow::Borrowed(value))
            }
        })
}

/// What the thumbnail route reads of the request besides the caller and the id: the
/// query (parsed in the handler, so that a bad id answers 404 first), its signature
/// when it has one, and two headers. Not the whole `HeaderMap`, which as an extractor is
/// a copy of every header.
pub(crate) struct ThumbnailParts {
    query: Result<ThumbnailQuery, Error>,
    /// `Ok(None)`: not a signed URL (nor a query that parses).
    signed: Result<Option<Verified>, Error>,
    /// The client's address (rate limits of anonymous renders).
    client: std::net::IpAddr,
    accept: Option<HeaderValue>,
    if_none_match: Option<HeaderValue>,
}

impl FromRequestParts<AppState> for ThumbnailParts {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let query = ThumbnailQuery::parse(parts.uri.query());
        let signed = match &query {
            Ok(q) if q.signature.is_some() || q.expires.is_some() => {
                // The path as the client sent it, above any prefix a host nested us under.
                let path = parts
                    .extensions
                    .get::<OriginalUri>()
                    .map_or(parts.uri.path(), |original| original.path());
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                let keys = &state.config().url_signing_keys;
                let verified = keys.verify(path, parts.uri.query().unwrap_or_default(), now);
                state.metrics().observe_signed_url(verified.is_ok());
                verified.map(|v| {
                    Some(Verified {
                        left: v.expires - now.min(v.expires),
                    })
                })
            }
            _ => Ok(None),
        };
        Ok(ThumbnailParts {
            query,
            signed,
            client: client_ip(&parts.headers, &parts.extensions, state),
            accept: parts.headers.get(header::ACCEPT).cloned(),
            if_none_match: parts.headers.get(header::IF_NONE_MATCH).cloned(),
        })
    }
}

/// A valid signature: how many seconds the URL still holds.
#[derive(Clone, Copy)]
struct Verified {
    left: u64,
}

/// The caller a valid signed URL stands for: one that may read any document's
/// thumbnails and nothing else (admin, for `Documents`' read check; `thumbnails:read`
/// alone). The signature covers the path, so this reads only the document it names.
fn signed_reader() -> Principal {
    Principal {
        user_id: uuid::Uuid::max(),
        username: "signed-url".to_owned(),
        is_admin: true,
        scopes: Scope::ThumbnailsRead.into(),
    }
}

/// `GET /api/v1/documents/{id}/thumbnail`.
pub fn document_thumbnail_router(state: AppState) -> Router {
    document_thumbnail_routes()
        .layer(FinishJsonLayer)
        .with_state(state)
}

/// The routes of [`document_thumbnail_router`] without its layers, for [`super::api`], which
/// applies them once around every route.
pub(crate) fn document_thumbnail_routes() -> Router<AppState> {
    Router::new().route(
        "/api/v1/documents/{id}/thumbnail",
        get(get_document_thumbnail),
    )
}

/// A thumbnail of one page of a stored document, from the caches when it can be.
#[utoipa::path(get, path = "/api/v1/documents/{id}/thumbnail", tag = "thumbnails",
    params(("id" = Uuid, Path, description = "The document's id"), ThumbnailQuery,
        ("If-None-Match" = Option<String>, Header, description = "ETags already held")),
    responses(
        (status = 200, description = "The thumbnail; `ETag` is its cache key (none for a \
            lenient render with a placeholder for a missing `sha256:` asset)", content(
            (Vec<u8> = "image/png"), (Vec<u8> = "image/webp"), (Vec<u8> = "image/jpeg"))),
        (status = 304, description = "`If-None-Match` matched; nothing rendered or read"),
        (status = 400, description = "Bad options (e.g. over `SPV_MAX_THUMBNAIL_SIZE`, \
            `size` with `width`)", body = super::Problem,
            content_type = "application/problem+json"),
        InvalidCredential,
        (status = 403, description = "The credential lacks `thumbnails:read` (or \
            `gallery:read`, enough for public documents) (`urn:spv:problem:forbidden`); or \
            the URL is signed (`expires`, `signature`) but the signature is wrong, \
            incomplete or expired (`urn:spv:problem:invalid-signature`)",
            body = super::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such document readable by the caller, or no such \
            page in it", body = super::Problem, content_type = "application/problem+json"),
        Unprocessable, Overloaded),
    security((), ("bearer" = ["thumbnails:read"]), ("apiKey" = ["thumbnails:read"]),
        ("bearer" = ["gallery:read"]), ("apiKey" = ["gallery:read"])))]
pub(crate) async fn get_document_thumbnail(
    State(state): State<AppState>,
    caller: Option<Authenticated>,
    Path(id): Path<String>,
    request: ThumbnailParts,
) -> Result<Response, ApiError> {
    let client = request.client;
    let signed = request.signed?;
    let principal = match signed {
        Some(_) => Some(signed_reader()),
        None => caller_with(caller, &[Scope::ThumbnailsRead, Scope::GalleryRead])?,
    };
    let id = parse_id("document", &id)?;
    let query = request.query?;
    let size =
        ThumbnailSize::from_fields(query.size, query.width, query.height, query.fit.as_deref())?;
    let accept = request.accept.as_ref().and_then(|v| v.to_str().ok());
    let (format, negotiated) = ImageFormat::negotiate(query.format.as_deref(), accept)?;
    let service = state.document_thumbnails().cloned().ok_or_else(no_store)?;
    let thumbnail = GetDocumentThumbnail {
        principal,
        id,
        page: query.page.unwrap_or(0),
        size,
        format,
        lenient: query.lenient.unwrap_or(false),
        if_none_match: request
            .if_none_match
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    // A thumbnail not in memory counts in `render`, by user, else (signed URLs too) by
    // client address.
    let user = thumbnail.principal.as_ref().filter(|_| signed.is_none());
    let subject = (state.rate_limiter().is_on(Group::Render)).then(|| render_subject(user, client));
    let answer = service
        .get_on_miss(thumbnail, || async {
            match subject {
                Some(subject) => state
                    .rate_limiter()
                    .check(Group::Render, &subject)
                    .await
                    .map_err(Refusal::into_error),
                None => Ok(()),
            }
        })
        .await?;
    let mut response = respond(&state, answer, negotiated);
    if let Some(Verified { left }) = signed {
        // A signed URL may be kept by shared caches, never past its expiry.
        let headers = response.headers_mut();
        if headers
            .get(header::CACHE_CONTROL)
            .is_some_and(|v| v != "no-store")
        {
            let value = format!("public, max-age={}", left.min(PUBLIC_MAX_AGE_SECS));
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(header::CACHE_CONTROL, value);
            }
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn the_query_reads_as_serde_would() {
        assert_eq!(
            ThumbnailQuery::parse(None).unwrap(),
            ThumbnailQuery::default()
        );
        let q = ThumbnailQuery::parse(Some(
            "size=128&page=2&format=web%70&fit=cover&width=3&height=4&lenient=true&pretty",
        ))
        .unwrap();
        assert_eq!(
            (q.page, q.size, q.width, q.height, q.lenient),
            (Some(2), Some(128), Some(3), Some(4), Some(true))
        );
        assert_eq!(
            (q.format.as_deref(), q.fit.as_deref()),
            (Some("webp"), Some("cover"))
        );
        for query in ["a=1&b=%20x+y&&c", "=&x=", "k%3D=v%26w", "size=1;page=2"] {
            let ours: Vec<_> = query_pairs(query).collect();
            let theirs: Vec<_> = form_urlencoded::parse(query.as_bytes()).collect();
            assert_eq!(ours, theirs, "{query}");
        }
        for (query, expected) in [
            ("sise=10", "unknown field `sise`"),
            ("size=-1", "query: size: invalid digit"),
            ("size=99999999999", "query: size: number too large"),
            ("page=x", "query: page: invalid digit"),
            ("size=1&size=2", "duplicate field `size`"),
            ("lenient=yes", "expected `true` or `false`"),
        ] {
            let error = ThumbnailQuery::parse(Some(query)).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidRequest, "{query}");
            assert!(error.message().contains(expected), "{query}: {error}");
        }
    }
}
