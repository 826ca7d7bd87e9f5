//! The answers as they are sent: the headers of each response (`ETag`, `Location`,
//! `Cache-Control`, `Retry-After`, `WWW-Authenticate`, ranges), the media types of
//! assets, the events of a job's event stream, and the OpenAPI links that lead from a
//! document to its thumbnail, its render job and the job's outputs (and from an upload
//! or a key to what reads or revokes it).

use serde_json::{Value, json};

use crate::config::Config;

/// A header of `kind` (`string` or `integer`).
fn header(kind: &str, required: bool, description: &str) -> Value {
    json!({"required": required, "description": description, "schema": {"type": kind}})
}

/// A strong ETag: a quoted string.
fn etag(required: bool) -> Value {
    json!({"required": required,
        "description": "The representation's strong entity tag",
        "schema": {"type": "string", "pattern": "^\"[\\x21\\x23-\\x7e]*\"$"}})
}

/// Adds `headers` to the response `status` of operation `method` `path`.
fn headers(doc: &mut Value, path: &str, method: &str, status: &str, headers: Value) {
    let Some(response) = doc
        .get_mut("paths")
        .and_then(|p| p.get_mut(path))
        .and_then(|p| p.get_mut(method))
        .and_then(|o| o.get_mut("responses"))
        .and_then(|r| r.get_mut(status))
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    let slot = response.entry("headers").or_insert_with(|| json!({}));
    if let (Some(slot), Value::Object(headers)) = (slot.as_object_mut(), headers) {
        slot.extend(headers);
    }
}

/// Every operation of the document: `(path, method, operation)`.
fn operations(doc: &mut Value) -> Vec<(String, String, &mut Value)> {
    let mut out = Vec::new();
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for (path, item) in paths.iter_mut() {
            if let Some(item) = item.as_object_mut() {
                for (method, op) in item.iter_mut() {
                    out.push((path.clone(), method.clone(), op));
                }
            }
        }
    }
    out
}

/// Everything this module adds.
pub(super) fn add(doc: &mut Value, _config: &Config) {
    statuses(doc);
    validators(doc);
    locations(doc);
    assets(doc);
    events(doc);
    links(doc);
}

/// The headers that come with a status wherever it is answered: `WWW-Authenticate` with
/// every 401, `Retry-After` with every 503. And the 504 of the routes that render.
fn statuses(doc: &mut Value) {
    for (path, method) in [
        ("/api/v1/thumbnails", "post"),
        ("/api/v1/documents/{id}/thumbnail", "get"),
    ] {
        if let Some(responses) = doc
            .pointer_mut(&format!(
                "/paths/{}/{method}/responses",
                path.replace('/', "~1")
            ))
            .and_then(Value::as_object_mut)
        {
            responses.insert(
                "504".into(),
                json!({"description": "The render took longer than its limit",
                    "content": {"application/problem+json":
                        {"schema": {"$ref": "#/components/schemas/Problem"}}}}),
            );
        }
    }
    for (_, _, op) in operations(doc) {
        let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
            continue;
        };
        for (status, response) in responses.iter_mut() {
            let header = match status.as_str() {
                "401" => json!({"WWW-Authenticate": header("string", true,
                    "The scheme to authenticate with: `Bearer realm=\"spv\"`")}),
                "503" => json!({"Retry-After": {"required": true,
                    "description": "Seconds to wait before trying again",
                    "schema": {"type": "integer", "minimum": 1}}}),
                _ => continue,
            };
            if let Some(response) = response.as_object_mut() {
                let slot = response.entry("headers").or_insert_with(|| json!({}));
                if let (Some(slot), Value::Object(header)) = (slot.as_object_mut(), header) {
                    slot.extend(header);
                }
            }
        }
    }
}

/// `ETag` and `Cache-Control` of the cacheable answers.
fn validators(doc: &mut Value) {
    let document = "/api/v1/documents/{id}";
    for (path, method, status) in [
        ("/api/v1/documents", "post", "201"),
        (document, "get", "200"),
        (document, "get", "304"),
        (document, "head", "200"),
        (document, "head", "304"),
        (document, "patch", "200"),
        ("/api/v1/documents/{id}/content", "get", "200"),
        ("/api/v1/documents/{id}/content", "get", "304"),
        ("/api/v1/documents/{id}/content", "put", "200"),
        ("/api/v1/assets/{id}", "get", "200"),
        ("/api/v1/assets/{id}", "get", "206"),
        ("/api/v1/assets/{id}", "get", "304"),
        ("/api/v1/assets/{id}", "head", "200"),
        ("/api/v1/assets/{id}", "head", "304"),
        ("/api/v1/assets/{id}/meta", "get", "200"),
        ("/api/v1/assets/{id}/meta", "get", "304"),
        ("/api/v1/jobs/{id}/outputs/{index}", "get", "200"),
        ("/api/v1/jobs/{id}/outputs/{index}", "get", "304"),
    ] {
        headers(doc, path, method, status, json!({"ETag": etag(true)}));
    }
    for (path, status) in [
        ("/api/v1/documents/{id}/thumbnail", "200"),
        ("/api/v1/documents/{id}/thumbnail", "304"),
        ("/api/v1/thumbnails", "200"),
        ("/api/v1/thumbnails", "304"),
    ] {
        let method = if path == "/api/v1/thumbnails" {
            "post"
        } else {
            "get"
        };
        headers(
            doc,
            path,
            method,
            status,
            json!({
                "ETag": {"required": false,
                    "description": "The thumbnail's cache key; none for a lenient render that \
                        painted a placeholder",
                    "schema": {"type": "string"}},
                "Cache-Control": header("string", false,
                    "`public, max-age=60` for a public document, `private, no-cache` for a \
                     private one, `no-store` for a render that cannot be cached"),
                "Vary": header("string", false, "`accept` when `format=auto` chose the format"),
            }),
        );
    }
    for status in ["200", "304"] {
        headers(
            doc,
            "/api/v1/jobs/{id}/outputs/{index}",
            "get",
            status,
            json!({"Cache-Control": header("string", true,
                "`private, max-age=31536000, immutable`: an output never changes")}),
        );
    }
    for (path, method, status) in [
        ("/api/v1/auth/token", "post", "200"),
        ("/api/v1/api-keys", "post", "201"),
    ] {
        headers(
            doc,
            path,
            method,
            status,
            json!({"Cache-Control": header("string", true, "`no-store`: the answer holds a secret")}),
        );
    }
    headers(
        doc,
        "/api/v1/documents",
        "get",
        "200",
        json!({"Vary": header("string", true, "`accept`: JSON or NDJSON by `Accept`")}),
    );
}

/// `Location` of what a request created.
fn locations(doc: &mut Value) {
    for (path, method, status) in [
        ("/api/v1/documents", "post", "201"),
        ("/api/v1/assets", "post", "201"),
        ("/api/v1/assets", "post", "200"),
        ("/api/v1/users", "post", "201"),
        ("/api/v1/api-keys", "post", "201"),
        ("/api/v1/jobs/render", "post", "202"),
    ] {
        headers(
            doc,
            path,
            method,
            status,
            json!({"Location": {"required": true,
                "description": "The URL of what was created (under the mount prefix)",
                "schema": {"type": "string", "format": "uri-reference"}}}),
        );
    }
}

/// An asset's bytes: typed as sniffed on upload, with range headers.
fn assets(doc: &mut Value) {
    let types = crate::assets::MEDIA_TYPES;
    let binary = json!({"schema": {"type": "string", "format": "binary"}});
    for status in ["200", "206"] {
        let Some(response) = doc.pointer_mut(&format!(
            "/paths/~1api~1v1~1assets~1{{id}}/get/responses/{status}"
        )) else {
            continue;
        };
        let content: serde_json::Map<String, Value> = types
            .iter()
            .map(|t| ((*t).to_owned(), binary.clone()))
            .collect();
        response["content"] = Value::Object(content);
    }
    let ranges = |required: bool| {
        json!({
            "Accept-Ranges": header("string", true, "`bytes`"),
            "Content-Range": {"required": required,
                "description": "The range sent, `bytes a-b/len` (`bytes */len` on 416)",
                "schema": {"type": "string", "pattern": "^bytes (?:[0-9]+-[0-9]+|\\*)/[0-9]+$"}},
        })
    };
    headers(doc, "/api/v1/assets/{id}", "get", "200", ranges(false));
    headers(doc, "/api/v1/assets/{id}", "get", "206", ranges(true));
    headers(doc, "/api/v1/assets/{id}", "get", "416", ranges(true));
}

/// The events of `GET /api/v1/jobs/{id}/events`: each one an object as an event-stream
/// parser reads it (`event`, `id`, `data`), its data the job's JSON.
fn events(doc: &mut Value) {
    let event = |name: &str, description: &str| {
        json!({
            "type": "object",
            "description": description,
            "required": ["event", "id", "data"],
            "properties": {
                "event": {"type": "string", "const": name},
                "id": {"type": "string", "pattern": "^[0-9]+$",
                    "description": "The event's number in this stream, from 0"},
                "data": {"type": "string", "contentMediaType": "application/json",
                    "contentSchema": {"$ref": "#/components/schemas/Job"},
                    "description": "The job, as `GET /api/v1/jobs/{id}` answers it"},
            },
        })
    };
    let Some(response) = doc.pointer_mut("/paths/~1api~1v1~1jobs~1{id}~1events/get/responses/200")
    else {
        return;
    };
    response["content"] = json!({
        "text/event-stream": {
            "schema": {
                "description": "One event (a keep-alive comment every 15 s carries none)",
                "oneOf": [
                    event("progress", "The job changed and is not finished"),
                    event("done", "The job finished; the last event of the stream"),
                ],
            },
        },
    });
}

/// A link to operation `id` with `parameters` (and a `requestBody`).
fn link(operation: &str, description: &str, parameters: Value, body: Option<Value>) -> Value {
    let mut link = json!({
        "operationId": operation,
        "description": description,
        "parameters": parameters,
    });
    if let Some(body) = body {
        link["requestBody"] = body;
        // The body is whole: schemathesis sends it as it is rather than merged into one
        // it generated (whose other fields could name pages the document lacks).
        link["x-schemathesis"] = json!({"merge_body": false});
    }
    link
}

/// The OpenAPI links: a stored document → its metadata, content, thumbnails and a render
/// job; the job → its state, events, first output and cancelling; an uploaded asset → its
/// bytes and metadata; an API key → its revocation.
fn links(doc: &mut Value) {
    let id = json!({"id": "$response.body#/id"});
    let document_links = json!({
        "GetDocument": link("get_document", "The document's metadata", id.clone(), None),
        "GetContent": link("get_content", "The document's content", id.clone(), None),
        "GetThumbnail": link("get_document_thumbnail", "A thumbnail of the document", id.clone(), None),
        "CreateThumbnail": link("create_thumbnail", "A thumbnail of the document by its id",
            json!({}), Some(json!({"document": "$response.body#/id", "size": 64}))),
        "EnqueueRender": link("enqueue_render", "A render job of the document",
            json!({}), Some(json!({"document": "$response.body#/id", "sizes": [64]}))),
        "PatchDocument": link("patch_document", "Changes the document's metadata", id.clone(), None),
        "DeleteDocument": link("delete_document", "Deletes the document", id.clone(), None),
    });
    let job_links = json!({
        "GetJob": link("get_job", "The job", id.clone(), None),
        "JobEvents": link("job_events", "The job's events", id.clone(), None),
        "GetOutput": link("get_output", "The job's first output (once it succeeded)",
            json!({"id": "$response.body#/id", "index": 0}), None),
        "CancelJob": link("cancel_job", "Cancels the job", id.clone(), None),
    });
    let asset_links = json!({
        "GetAsset": link("get_asset", "The asset's bytes", id.clone(), None),
        "GetAssetMeta": link("get_asset_meta", "The asset's metadata", id.clone(), None),
        "DeleteAsset": link("delete_asset", "Deletes the asset", id.clone(), None),
    });
    let key_links = json!({
        "RevokeApiKey": link("revoke_api_key", "Revokes the key", id, None),
    });
    for (path, method, status, links) in [
        ("/api/v1/documents", "post", "201", &document_links),
        ("/api/v1/documents/{id}", "get", "200", &document_links),
        (
            "/api/v1/documents/{id}/content",
            "put",
            "200",
            &document_links,
        ),
        ("/api/v1/jobs/render", "post", "202", &job_links),
        ("/api/v1/jobs/{id}", "get", "200", &job_links),
        ("/api/v1/assets", "post", "201", &asset_links),
        ("/api/v1/assets", "post", "200", &asset_links),
        ("/api/v1/api-keys", "post", "201", &key_links),
    ] {
        let pointer = format!(
            "/paths/{}/{method}/responses/{status}",
            path.replace('~', "~0").replace('/', "~1")
        );
        if let Some(response) = doc.pointer_mut(&pointer).and_then(Value::as_object_mut) {
            response.insert("links".into(), links.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::config::Config;

    fn doc() -> Value {
        super::super::openapi(&Config::default())
    }

    #[test]
    fn every_link_names_an_operation_of_the_document() {
        let doc = doc();
        let mut ids = std::collections::HashSet::new();
        let mut links = Vec::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                ids.insert(op["operationId"].as_str().unwrap().to_owned());
                for response in op["responses"].as_object().unwrap().values() {
                    if let Some(found) = response["links"].as_object() {
                        links.extend(found.values().cloned());
                    }
                }
            }
        }
        assert!(links.len() >= 10, "{links:?}");
        for link in links {
            let id = link["operationId"].as_str().unwrap();
            assert!(ids.contains(id), "a link names {id}, which is no operation");
        }
    }

    #[test]
    fn answers_name_their_headers_and_events() {
        let doc = doc();
        let paths = &doc["paths"];
        let created = &paths["/api/v1/documents"]["post"]["responses"]["201"];
        assert_eq!(created["headers"]["Location"]["required"], true);
        assert_eq!(created["headers"]["ETag"]["required"], true);
        let unauthorized = &paths["/api/v1/jobs"]["get"]["responses"]["401"];
        assert!(unauthorized["headers"]["WWW-Authenticate"].is_object());
        let overloaded = &paths["/api/v1/thumbnails"]["post"]["responses"]["503"];
        assert!(overloaded["headers"]["Retry-After"].is_object());
        let limited = &paths["/api/v1/thumbnails"]["post"]["responses"]["429"];
        assert!(limited["headers"]["Retry-After"].is_object());
        let bytes = &paths["/api/v1/assets/{id}"]["get"]["responses"]["200"]["content"];
        for media in crate::assets::MEDIA_TYPES {
            assert!(bytes[media].is_object(), "{media}");
        }
        let events = &paths["/api/v1/jobs/{id}/events"]["get"]["responses"]["200"]["content"]["text/event-stream"]
            ["schema"]["oneOf"];
        let names: Vec<&Value> = events
            .as_array()
            .unwrap()
            .iter()
            .map(|e| &e["properties"]["event"]["const"])
            .collect();
        assert_eq!(names, ["progress", "done"]);
    }
}
