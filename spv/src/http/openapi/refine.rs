//! What the `#[utoipa::path]` and `ToSchema` annotations cannot say, added to the
//! generated document so that it states every rule the server enforces: the limits of
//! queries, headers and bodies (taken from the same constants the code checks, and from
//! the [`Config`] for the configurable ones), the shapes that depend on one another
//! (`oneOf` of the token grants and of a thumbnail's size), the response headers, the
//! Server-Sent Events of a job and the OpenAPI links that chain a document to its
//! thumbnail, its render job and the job's outputs.
//!
//! It edits the JSON form of the document: JSON Schema 2020-12 keywords such as `const`,
//! `dependentRequired` or `not` have no field in utoipa's model.

use serde_json::{Map, Value, json};

use crate::api::{DEFAULT_PER_PAGE, ImageFormat, JobState, MAX_JOB_OUTPUTS, MAX_PER_PAGE, Scope};
use crate::config::Config;
use crate::documents::{MAX_TAG_CHARS, MAX_TAGS, MAX_TITLE_CHARS};
use crate::glyph::{ImageFit, Limits};
use crate::jobs::{MAX_IDEMPOTENCY_KEY_CHARS, MAX_JOB_FORMATS, MAX_JOB_SIZES};

/// The longest username, in characters (`auth::users::validate`).
pub(crate) const MAX_USERNAME_CHARS: usize = 64;
/// The shortest password, in characters.
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;
/// The longest API key name, in characters (after trimming).
pub(crate) const MAX_KEY_NAME_CHARS: usize = 100;

/// The characters Rust's `char::is_whitespace` (and so `str::trim`) takes for space, as
/// a regular expression class body that ECMA-262 and Python read alike.
const WHITE: &str = r"\t-\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000";

/// A pattern for text that `str::trim` leaves 1 to `max` characters long.
fn trimmed(max: usize) -> String {
    let inner = max.saturating_sub(2);
    format!("^[{WHITE}]*[^{WHITE}](?:(?:[{WHITE}]|[^{WHITE}]){{0,{inner}}}[^{WHITE}])?[{WHITE}]*$")
}

/// A pattern matching any of `words` in any letter case.
fn any_case(words: &[&str]) -> String {
    let alternatives: Vec<String> = words
        .iter()
        .map(|word| {
            word.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_lowercase(), c.to_ascii_uppercase())
                    } else {
                        c.to_string()
                    }
                })
                .collect()
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}

/// The operation `method` of `path`, when the document has it.
fn operation<'a>(doc: &'a mut Value, path: &str, method: &str) -> Option<&'a mut Value> {
    doc.get_mut("paths")?.get_mut(path)?.get_mut(method)
}

/// Sets the members of `patch` on the object `target` (replacing those it has).
fn merge(target: &mut Value, patch: Value) {
    if let (Some(target), Value::Object(patch)) = (target.as_object_mut(), patch) {
        target.extend(patch);
    }
}

/// Refines the schema of parameter `name` of an operation.
fn param(doc: &mut Value, path: &str, method: &str, name: &str, patch: Value) {
    let Some(op) = operation(doc, path, method) else {
        return;
    };
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    if let Some(schema) = params
        .iter_mut()
        .find(|p| p["name"] == name)
        .and_then(|p| p.get_mut("schema"))
    {
        merge(schema, patch);
    }
}

/// Replaces (or adds) the component schema `name`.
fn set_schema(doc: &mut Value, name: &str, schema: Value) {
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        schemas.insert(name.to_owned(), schema);
    }
}

/// Refines the properties of the component schema `name`.
fn properties(doc: &mut Value, name: &str, patches: Value) {
    let Some(props) = doc
        .pointer_mut(&format!("/components/schemas/{name}/properties"))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    if let Value::Object(patches) = patches {
        for (key, patch) in patches {
            if let Some(prop) = props.get_mut(&key) {
                merge(prop, patch);
            }
        }
    }
}

/// Everything this module adds, for the server configured by `config`.
pub(super) fn refine(doc: &mut Value, config: &Config) {
    paging(doc);
    thumbnails(doc, config);
    documents(doc);
    uploads(doc);
    accounts(doc);
    jobs(doc, config);
    super::glyph::add(doc);
    super::answers::add(doc, config);
}

/// `page` and `perPage` of every list.
fn paging(doc: &mut Value) {
    for path in [
        "/api/v1/documents",
        "/api/v1/gallery",
        "/api/v1/jobs",
        "/api/v1/assets",
    ] {
        param(
            doc,
            path,
            "get",
            "page",
            // int64: utoipa says int32 for a u32, which bounds it at 2^31 - 1 to clients.
            json!({"minimum": 1, "maximum": u32::MAX, "default": 1, "format": "int64"}),
        );
        param(
            doc,
            path,
            "get",
            "perPage",
            json!({"minimum": 1, "maximum": MAX_PER_PAGE, "default": DEFAULT_PER_PAGE}),
        );
    }
}

/// The largest page index a document may have (a larger one is never found).
fn max_page() -> usize {
    Limits::default().max_pages.saturating_sub(1)
}

/// RFC 3339 date-times as `time`'s parser reads them (the day also has to exist in its
/// month, which a pattern cannot say).
const DATE_TIME: &str = "^[0-9]{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$";

/// The formats a thumbnail may be asked in: any case, `jpg` too, or `auto`.
fn format_pattern() -> String {
    let mut words: Vec<&str> = ImageFormat::ALL.iter().map(|f| f.extension()).collect();
    words.extend(["jpeg", "auto"]);
    words.dedup();
    any_case(&words)
}

fn fits() -> Vec<&'static str> {
    ImageFit::ALL.iter().map(|f| f.as_str()).collect()
}

/// The thumbnail query and body: sizes up to `SPV_MAX_THUMBNAIL_SIZE`, `size` or
/// `width` and `height` but never both.
fn thumbnails(doc: &mut Value, config: &Config) {
    let max = config.max_thumbnail_size;
    let side = json!({"minimum": 1, "maximum": max});
    let side = side.as_object().cloned().map(|mut s| {
        s.insert("type".into(), "integer".into());
        Value::Object(s)
    });
    let side = side.unwrap_or_default();
    // Either `size` or `width` and `height`: a rule across parameters, which OpenAPI can
    // only state of one parameter, so the query is one form-style object.
    let path = "/api/v1/documents/{id}/thumbnail";
    if let Some(params) = operation(doc, path, "get")
        .and_then(|op| op.get_mut("parameters"))
        .and_then(Value::as_array_mut)
    {
        params.retain(|p| p["in"] != "query");
        params.push(json!({
            "name": "options",
            "in": "query",
            "required": false,
            "style": "form",
            "explode": true,
            "description": "The options of `POST /api/v1/thumbnails`, as query parameters: \
                `size`, or `width` and `height` (with `fit`), never both; unknown or repeated \
                parameters are refused",
            "schema": {
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "page": {"type": "integer", "minimum": 0, "maximum": max_page(), "default": 0,
                        "description": "Zero-based page index; the page must exist (404)"},
                    "size": side.clone(),
                    "width": side.clone(),
                    "height": side.clone(),
                    "fit": {"type": "string", "enum": fits(), "default": "contain"},
                    "format": {"type": "string", "pattern": format_pattern(), "default": "png",
                        "description": "`png`, `webp`, `jpeg` (or `jpg`), any case, or `auto` \
                            (WebP when `Accept` names `image/webp`, else PNG)"},
                    "lenient": {"type": "boolean", "default": false,
                        "description": "Paint placeholders for missing assets instead of failing"},
                    "pretty": {"type": "string",
                        "description": "Pretty-prints a problem answer"},
                },
                "dependentRequired": {"width": ["height"], "height": ["width"]},
                "not": {"anyOf": [
                    {"required": ["size", "width"]},
                    {"required": ["size", "height"]},
                ]},
            },
        }));
    }

    // The body: one JSON object whose size is `size`, or `width` and `height`.
    let document = json!({
        "description": "The `.glyph` document: its JSON inline as an object, a base64 \
            string of a `.glyph` file (JSON or ZIP package), or the id (a hyphenated UUID) \
            of a stored document the caller may read, rendered through the same caches and \
            with the same ETags as `GET /api/v1/documents/{id}/thumbnail`",
        "oneOf": [
            {"$ref": "#/components/schemas/GlyphDocument"},
            {"type": "string", "format": "uuid",
                "pattern": "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"},
            {"type": "string", "contentEncoding": "base64",
                "contentMediaType": "application/octet-stream",
                "description": "A `.glyph` file (JSON or ZIP package), base64 (standard alphabet, padded)",
                "pattern": "^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"},
        ]
    });
    set_schema(
        doc,
        "ThumbnailBody",
        json!({
            "type": "object",
            "description": "The JSON body of `POST /api/v1/thumbnails`. Size: either `size` (the \
                longer side) or `width` and `height` (with `fit`); neither means `size` 256.",
            "required": ["document"],
            "additionalProperties": false,
            "properties": {
                "document": document,
                "page": {"type": "integer", "minimum": 0, "maximum": max_page(), "default": 0,
                    "description": "Zero-based page index; the page must exist (404)"},
                "size": side.clone().as_object().cloned().map(|mut s| {
                    s.insert("description".into(), "The longer side in pixels (default 256)".into());
                    Value::Object(s)
                }).unwrap_or_default(),
                "width": side.clone(),
                "height": side,
                "fit": {"type": "string", "enum": fits(), "default": "contain",
                    "description": "How the page fits the box of `width` and `height`"},
                "format": {"type": "string", "pattern": format_pattern(), "default": "png",
                    "description": "`png`, `webp`, `jpeg` (or `jpg`), any case, or `auto` \
                        (WebP when `Accept` names `image/webp`, else PNG)"},
                "lenient": {"type": "boolean", "default": false,
                    "description": "Paint placeholders for missing assets instead of failing"},
            },
            "dependentRequired": {"width": ["height"], "height": ["width"]},
            "not": {"anyOf": [
                {"required": ["size", "width"]},
                {"required": ["size", "height"]},
            ]},
        }),
    );
}

/// A document's title and tags.
fn documents(doc: &mut Value) {
    let title = json!({
        "type": "string",
        "pattern": trimmed(MAX_TITLE_CHARS),
        "description": format!("Not blank; at most {MAX_TITLE_CHARS} characters once trimmed"),
    });
    param(doc, "/api/v1/documents", "post", "title", title.clone());
    let tags = json!({
        "type": "array",
        "maxItems": MAX_TAGS,
        "items": {"type": "string", "pattern": trimmed(MAX_TAG_CHARS)},
        "description": format!("At most {MAX_TAGS} tags of 1 to {MAX_TAG_CHARS} characters \
            once trimmed; repeated tags are kept once. `null` removes every tag"),
    });
    properties(
        doc,
        "DocumentPatch",
        json!({
            "title": title,
            "tags": {"oneOf": [tags, {"type": "null"}]},
            "public": {"type": ["boolean", "null"],
                "description": "Whether anyone may read it; `null` is `false`"},
        }),
    );
    if let Some(patch) = doc.pointer_mut("/components/schemas/DocumentPatch") {
        merge(patch, json!({"additionalProperties": false}));
    }
    // Uploads: a `.glyph` JSON document, or a ZIP package (told apart by its first bytes).
    for (path, method) in [
        ("/api/v1/documents", "post"),
        ("/api/v1/documents/{id}/content", "put"),
    ] {
        if let Some(content) = operation(doc, path, method)
            .and_then(|op| op.pointer_mut("/requestBody/content"))
            .and_then(Value::as_object_mut)
        {
            content.insert(
                "application/json".into(),
                json!({"schema": {"$ref": "#/components/schemas/GlyphDocument"}}),
            );
            let package = json!({"schema": {"type": "string", "format": "binary",
                "contentMediaType": "application/zip",
                "description": "A `.glyph` package: a ZIP archive with `document.json` at its \
                    root and assets below `assets/` (any other bytes are read as JSON)"}});
            content.insert("application/zip".into(), package.clone());
            content.insert("application/octet-stream".into(), package);
        }
    }
    // The stored content as uploaded: any document the parser accepted.
    if let Some(content) = operation(doc, "/api/v1/documents/{id}/content", "get")
        .and_then(|op| op.pointer_mut("/responses/200/content"))
        .and_then(Value::as_object_mut)
    {
        content.insert(
            "application/json".into(),
            json!({"schema": {"type": "object", "required": ["format", "version", "pages"],
                "description": "The `.glyph` document byte for byte as uploaded (see \
                    `GlyphDocument`)"}}),
        );
        content.insert(
            "application/zip".into(),
            json!({"schema": {"type": "string", "format": "binary"}}),
        );
    }
}

/// An asset upload: at least one byte, raw or as the multipart `file`.
fn uploads(doc: &mut Value) {
    let file = json!({"type": "string", "format": "binary", "minLength": 1,
        "description": "The file's bytes (not empty); its type is sniffed from them"});
    if let Some(content) = operation(doc, "/api/v1/assets", "post")
        .and_then(|op| op.pointer_mut("/requestBody/content"))
        .and_then(Value::as_object_mut)
    {
        content.insert(
            "application/octet-stream".into(),
            json!({"schema": file.clone()}),
        );
    }
    set_schema(
        doc,
        "AssetUpload",
        json!({"type": "object", "required": ["file"], "properties": {"file": file},
            "description": "A multipart upload: the file in the field `file` (other fields \
                are skipped)"}),
    );
}

/// Users, API keys and the token grants.
fn accounts(doc: &mut Value) {
    let scopes: Vec<&str> = Scope::ALL.iter().map(|s| s.as_str()).collect();
    properties(
        doc,
        "CreateUser",
        json!({
            "username": {"pattern": format!(
                "^[^{WHITE}\\x00-\\x1f\\x7f-\\x9f]{{1,{MAX_USERNAME_CHARS}}}$")},
            "password": {"minLength": MIN_PASSWORD_CHARS},
        }),
    );
    properties(
        doc,
        "CreateApiKey",
        json!({
            "name": {"pattern": trimmed(MAX_KEY_NAME_CHARS),
                "description": format!("A name to recognise the key by: 1 to \
                    {MAX_KEY_NAME_CHARS} characters once trimmed")},
            "scopes": {"minItems": 1, "items": {"type": "string", "enum": scopes},
                "description": "What the key may do: at least one of the caller's scopes \
                    (`admin` only for administrators)"},
            "expiresAt": {"pattern": DATE_TIME,
                "description": "When the key stops working (RFC 3339, in the future); never \
                when absent"},
        }),
    );
    let text = json!({"type": "string", "minLength": 1});
    let grant = |kind: &str, fields: &[&str]| {
        let mut properties = Map::new();
        properties.insert(
            "grant_type".into(),
            json!({"type": "string", "const": kind}),
        );
        for field in fields {
            properties.insert((*field).into(), text.clone());
        }
        let mut required = vec!["grant_type"];
        required.extend_from_slice(fields);
        json!({"type": "object", "required": required, "properties": properties})
    };
    set_schema(
        doc,
        "TokenRequest",
        json!({
            "description": "`POST /api/v1/auth/token`: a JSON or form body, field names as in \
                OAuth 2.0; each grant with its own fields",
            "oneOf": [
                grant("password", &["username", "password"]),
                grant("api_key", &["api_key"]),
                grant("refresh_token", &["refresh_token"]),
            ],
        }),
    );
}

/// The job list's filter, a render job's spec and the `Idempotency-Key`.
fn jobs(doc: &mut Value, config: &Config) {
    let states: Vec<&str> = [
        JobState::Queued,
        JobState::Running,
        JobState::Succeeded,
        JobState::Failed,
        JobState::Cancelled,
    ]
    .iter()
    .map(|s| s.as_str())
    .collect();
    param(doc, "/api/v1/jobs", "get", "state", json!({"enum": states}));
    param(
        doc,
        "/api/v1/jobs/render",
        "post",
        "Idempotency-Key",
        json!({"minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY_CHARS,
            "pattern": "^[\\t\\x20-\\x7e]*$"}),
    );
    param(
        doc,
        "/api/v1/jobs/{id}/outputs/{index}",
        "get",
        "index",
        json!({"maximum": MAX_JOB_OUTPUTS - 1}),
    );
    let formats: Vec<&str> = ImageFormat::ALL
        .iter()
        .map(|f| match f {
            ImageFormat::Jpeg => "jpeg",
            other => other.extension(),
        })
        .collect();
    properties(
        doc,
        "RenderJobSpec",
        json!({
            "pages": {"maxItems": MAX_JOB_OUTPUTS, "uniqueItems": true,
                "items": {"type": "integer", "minimum": 0, "maximum": max_page()},
                "description": format!("Zero-based page indexes, each of a page the \
                    document has; empty (the default) renders every page. Pages × sizes × \
                    formats make at most {MAX_JOB_OUTPUTS} images")},
            "sizes": {"minItems": 1, "maxItems": MAX_JOB_SIZES, "uniqueItems": true,
                "default": [256],
                "items": {"type": "integer", "minimum": 1, "maximum": config.max_thumbnail_size}},
            "formats": {"minItems": 1, "maxItems": MAX_JOB_FORMATS, "uniqueItems": true,
                "default": ["png"],
                "items": {"type": "string", "enum": formats}},
        }),
    );
    if let Some(spec) = doc.pointer_mut("/components/schemas/RenderJobSpec") {
        merge(spec, json!({"additionalProperties": false}));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn matches(pattern: &str, text: &str) -> bool {
        regex::Regex::new(pattern).unwrap().is_match(text)
    }

    #[test]
    fn trimmed_text_patterns_count_what_trim_leaves() {
        let p = trimmed(4);
        for ok in ["a", " a ", "abcd", "\tab c\n", "a\u{1c}"] {
            assert!(matches(&p, ok), "{ok:?}");
        }
        for bad in ["", " ", "abcde", " \u{3000} ", "a bcd"] {
            assert!(!matches(&p, bad), "{bad:?}");
        }
    }

    #[test]
    fn formats_in_any_case() {
        let p = format_pattern();
        for ok in ["png", "PNG", "Jpg", "jpeg", "webp", "auto"] {
            assert!(matches(&p, ok), "{ok:?}");
            assert!(ImageFormat::negotiate(Some(ok), None).is_ok());
        }
        for bad in ["gif", "", "png "] {
            assert!(!matches(&p, bad), "{bad:?}");
            assert!(ImageFormat::negotiate(Some(bad), None).is_err());
        }
    }
}

#[cfg(test)]
mod document_tests {
    use serde_json::Value;

    use super::*;

    fn doc(max_thumbnail_size: u32) -> Value {
        let config = Config {
            max_thumbnail_size,
            ..Config::default()
        };
        super::super::openapi(&config)
    }

    fn param<'a>(doc: &'a Value, path: &str, method: &str, name: &str) -> &'a Value {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == name)
            .unwrap_or_else(|| panic!("{method} {path} has no parameter {name}"))
    }

    #[test]
    fn the_limits_are_those_the_code_checks() {
        let doc = doc(300);
        for path in [
            "/api/v1/documents",
            "/api/v1/gallery",
            "/api/v1/jobs",
            "/api/v1/assets",
        ] {
            let per_page = &param(&doc, path, "get", "perPage")["schema"];
            assert_eq!(per_page["minimum"], 1, "{path}");
            assert_eq!(per_page["maximum"], MAX_PER_PAGE, "{path}");
            assert_eq!(param(&doc, path, "get", "page")["schema"]["minimum"], 1);
        }
        let options = &param(&doc, "/api/v1/documents/{id}/thumbnail", "get", "options")["schema"];
        assert_eq!(options["properties"]["size"]["minimum"], 1);
        assert_eq!(options["properties"]["size"]["maximum"], 300);
        let body = &doc["components"]["schemas"]["ThumbnailBody"];
        assert_eq!(body["properties"]["height"]["maximum"], 300);
        assert_eq!(body["required"], serde_json::json!(["document"]));
        let spec = &doc["components"]["schemas"]["RenderJobSpec"]["properties"];
        assert_eq!(spec["sizes"]["minItems"], 1);
        assert_eq!(spec["sizes"]["maxItems"], MAX_JOB_SIZES);
        assert_eq!(spec["sizes"]["items"]["maximum"], 300);
        assert_eq!(spec["formats"]["maxItems"], MAX_JOB_FORMATS);
        let key = &doc["components"]["schemas"]["CreateApiKey"]["properties"];
        assert_eq!(key["scopes"]["minItems"], 1);
        let grants = doc["components"]["schemas"]["TokenRequest"]["oneOf"]
            .as_array()
            .unwrap();
        assert_eq!(grants.len(), 3);
        let upload = &doc["paths"]["/api/v1/documents"]["post"]["requestBody"]["content"];
        assert_eq!(
            upload["application/json"]["schema"]["$ref"],
            "#/components/schemas/GlyphDocument"
        );
        let glyph = &doc["components"]["schemas"]["GlyphDocument"];
        assert_eq!(
            glyph["required"],
            serde_json::json!(["format", "version", "pages"])
        );
    }

    /// The username pattern holds exactly what `auth::users::validate` accepts.
    #[test]
    fn usernames_as_validated() {
        let doc = doc(256);
        let pattern =
            doc["components"]["schemas"]["CreateUser"]["properties"]["username"]["pattern"]
                .as_str()
                .unwrap()
                .to_owned();
        let long = "x".repeat(MAX_USERNAME_CHARS + 1);
        for name in [
            "ann",
            "a\u{1c}b",
            "ünïcode",
            "a b",
            "",
            "a\u{3000}",
            "a\u{7f}",
            &long,
        ] {
            let valid = crate::auth::validate_user(name, "password").is_ok();
            assert_eq!(super::tests::matches(&pattern, name), valid, "{name:?}");
        }
    }
}
