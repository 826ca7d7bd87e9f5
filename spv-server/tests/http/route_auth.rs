//! Every operation of the server's own OpenAPI document, walked on a real server, so a
//! route added later is covered without touching this file.
//!
//! An operation's `security` says who may call it:
//! - no `security` (and no global one), or only `{}`: public; credentials play no part,
//!   and no credential must not answer 401 or 403;
//! - `{}` next to schemes: anonymous callers allowed, but a credential that is sent must
//!   be valid: no credential must not answer 401, a bad bearer token, a bad API key and
//!   an expired JWT must;
//! - schemes only: protected; no credential, a bad bearer token, a bad API key, an
//!   expired JWT answer 401 with `WWW-Authenticate: Bearer`, a valid key without the
//!   operation's scope answers 403, all problem+json, before anything else is looked at
//!   (path ids are random UUIDs, bodies minimal). A valid admin token is not refused, so
//!   the 401s are not an accident of the request's shape.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::transport::start_with;
use super::{Server, header};

const PROBLEM: &str = "application/problem+json";

/// The server's signing secret, so this test can sign tokens the server accepts.
const JWT_SECRET: &str = "route-walk-secret-of-at-least-32-bytes";
/// Not the default issuer: the server must take it from the configuration.
const ISSUER: &str = "spv-route-walk";
/// The scopes of the issue; keys lacking a scope get all the others but `admin`.
const SCOPES: [&str; 8] = [
    "documents:read",
    "documents:write",
    "assets:read",
    "assets:write",
    "thumbnails:read",
    "jobs:read",
    "jobs:write",
    "gallery:read",
];
/// The walk covers at least this many operations (28, 16 protected, when it was written), and at least
/// [`MIN_PROTECTED`] protected ones, so it cannot pass by walking nothing.
const MIN_OPERATIONS: usize = 28;
/// See [`MIN_OPERATIONS`].
const MIN_PROTECTED: usize = 16;
/// Operations the walk must include, by `METHOD path`.
const MUST_WALK: [&str; 6] = [
    "POST /api/v1/thumbnails",
    "POST /api/v1/documents",
    "DELETE /api/v1/documents/{id}",
    "POST /api/v1/users",
    "GET /api/v1/users/me",
    "DELETE /api/v1/api-keys/{id}",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Public,
    AnonymousAllowed,
    Protected,
}

#[derive(Debug)]
struct Operation {
    method: Method,
    /// The path as the document lists it, `{id}` and all.
    template: String,
    /// The path with every parameter a random UUID, and the required query parameters.
    url: String,
    access: Access,
    /// Every scope the operation's security requirements name.
    scopes: BTreeSet<String>,
    /// The content type and a minimal body, when the operation takes one.
    body: Option<(String, Vec<u8>)>,
}

impl Operation {
    fn name(&self) -> String {
        format!("{} {}", self.method, self.template)
    }
}

/// A credential sent with a request.
#[derive(Debug, Clone)]
enum Credential {
    None,
    Bearer(String),
    ApiKey(String),
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// An admin access token signed with `secret` as the server signs them (see
/// `spv::auth::jwt`), issued at `iat` and living `ttl` seconds.
fn sign(secret: &str, user_id: &str, iat: u64, ttl: u64) -> String {
    let claims = json!({
        "iss": ISSUER,
        "aud": "spv",
        "sub": user_id,
        "name": "admin",
        "adm": true,
        "scope": "admin",
        "jti": uuid::Uuid::new_v4().to_string(),
        "iat": iat,
        "nbf": iat,
        "exp": iat + ttl,
    });
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

/// A value for a required query parameter of `schema`'s type.
fn sample(schema: &Value) -> String {
    match schema["type"].as_str() {
        Some("integer" | "number") => "1".to_owned(),
        Some("boolean") => "true".to_owned(),
        _ if schema["format"] == "uuid" => uuid::Uuid::new_v4().to_string(),
        _ => "x".to_owned(),
    }
}

/// A minimal body for the operation's first request content type.
fn minimal_body(request_body: &Value) -> Option<(String, Vec<u8>)> {
    let content = request_body["content"].as_object()?;
    let content_type = content.keys().next()?.clone();
    let body = if content_type.contains("json") {
        b"{}".to_vec()
    } else if content_type.starts_with("multipart/") {
        return Some((format!("{content_type}; boundary=x"), b"--x--\r\n".to_vec()));
    } else if content_type.starts_with("application/x-www-form-urlencoded") {
        Vec::new()
    } else {
        b"x".to_vec()
    };
    Some((content_type, body))
}

fn operations(spec: &Value, base: &str) -> Vec<Operation> {
    assert!(
        spec["security"].is_null(),
        "a global security requirement would change what a missing one means"
    );
    let mut out = Vec::new();
    for (template, item) in spec["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().unwrap() {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else {
                continue;
            };
            if !matches!(
                method.as_str(),
                "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" | "TRACE"
            ) {
                continue;
            }
            let requirements = op["security"].as_array().cloned().unwrap_or_default();
            let anonymous = requirements
                .iter()
                .any(|r| r.as_object().is_some_and(serde_json::Map::is_empty));
            let schemes = requirements
                .iter()
                .any(|r| r.as_object().is_some_and(|o| !o.is_empty()));
            let access = match (anonymous, schemes) {
                (_, false) => Access::Public,
                (true, true) => Access::AnonymousAllowed,
                (false, true) => Access::Protected,
            };
            let scopes = requirements
                .iter()
                .filter_map(Value::as_object)
                .flat_map(|o| o.values())
                .filter_map(Value::as_array)
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            let mut path = template.clone();
            let mut query = Vec::new();
            let parameters = item["parameters"]
                .as_array()
                .into_iter()
                .chain(op["parameters"].as_array())
                .flatten();
            for parameter in parameters {
                let name = parameter["name"].as_str().unwrap_or_default();
                match parameter["in"].as_str() {
                    Some("path") => {
                        path =
                            path.replace(&format!("{{{name}}}"), &uuid::Uuid::new_v4().to_string());
                    }
                    Some("query") if parameter["required"] == true => {
                        query.push(format!("{name}={}", sample(&parameter["schema"])));
                    }
                    _ => {}
                }
            }
            assert!(
                !path.contains('{'),
                "an undeclared path parameter in {template}"
            );
            let mut url = format!("{base}{path}");
            if !query.is_empty() {
                url = format!("{url}?{}", query.join("&"));
            }
            out.push(Operation {
                method,
                template: template.clone(),
                url,
                access,
                scopes,
                body: minimal_body(&op["requestBody"]),
            });
        }
    }
    out
}

struct Walker {
    client: reqwest::Client,
    api_key_header: String,
    failures: Vec<String>,
}

impl Walker {
    async fn send(&self, op: &Operation, credential: &Credential) -> reqwest::Response {
        let mut request = self.client.request(op.method.clone(), &op.url);
        if let Some((content_type, body)) = &op.body {
            request = request
                .header("content-type", content_type)
                .body(body.clone());
        }
        request = match credential {
            Credential::None => request,
            Credential::Bearer(token) => request.bearer_auth(token),
            Credential::ApiKey(key) => request.header(&self.api_key_header, key),
        };
        request.send().await.unwrap_or_else(|e| {
            panic!("{}: the request failed: {e}", op.name());
        })
    }

    /// Expects a problem+json `status`; for 401 also the `Bearer` challenge, and one of
    /// `detail_has` (if any) in the detail. Records what differs.
    async fn expect_problem(
        &mut self,
        op: &Operation,
        what: &str,
        credential: &Credential,
        status: u16,
        detail_has: &[&str],
    ) {
        let response = self.send(op, credential).await;
        let got = response.status().as_u16();
        let content_type = header(response.headers(), "content-type").to_owned();
        let challenge = header(response.headers(), "www-authenticate").to_owned();
        let body = response.bytes().await.unwrap_or_default();
        let mut wrong = Vec::new();
        if got != status {
            wrong.push(format!("status {got}, expected {status}"));
        }
        if content_type != PROBLEM {
            wrong.push(format!("content-type {content_type:?}"));
        }
        if status == 401 && !challenge.starts_with("Bearer") {
            wrong.push(format!("WWW-Authenticate {challenge:?}"));
        }
        if op.method != Method::HEAD {
            match serde_json::from_slice::<Value>(&body) {
                Ok(problem) => {
                    let detail = problem["detail"].as_str().unwrap_or_default();
                    if problem["status"] != status {
                        wrong.push(format!("problem status {}", problem["status"]));
                    }
                    if !detail_has.is_empty() && !detail_has.iter().any(|d| detail.contains(d)) {
                        wrong.push(format!("detail {detail:?} lacks {detail_has:?}"));
                    }
                }
                Err(_) => wrong.push(format!(
                    "body is not JSON: {:?}",
                    String::from_utf8_lossy(&body)
                )),
            }
        }
        if !wrong.is_empty() {
            self.failures
                .push(format!("{} with {what}: {}", op.name(), wrong.join("; ")));
        }
    }

    /// Expects the request not to be refused for its credential (neither 401 nor 403).
    async fn expect_let_through(&mut self, op: &Operation, what: &str, credential: &Credential) {
        // Only the head: a route may stream without end.
        let status = self.send(op, credential).await.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            self.failures
                .push(format!("{} with {what}: refused with {status}", op.name()));
        }
    }
}

/// Creates a key (as the admin) with every scope but `admin` and those of `lacking`.
async fn key_without(server: &Server, lacking: &BTreeSet<String>) -> String {
    let scopes: Vec<&str> = SCOPES
        .into_iter()
        .filter(|s| !lacking.contains(*s))
        .collect();
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/api-keys"))
        .bearer_auth(&server.token)
        .json(&json!({"name": "route walk", "scopes": scopes}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED, "creating a key");
    let body: Value = response.json().await.unwrap();
    body["key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_route_refuses_missing_bad_expired_and_unscoped_credentials() {
    let server = start_with(|c| {
        c.jwt_secret = Some(JWT_SECRET.to_owned());
        c.jwt_issuer = ISSUER.to_owned();
    })
    .await;
    let spec = server.openapi().await;
    let api_key_header = spec["components"]["securitySchemes"]["apiKey"]["name"]
        .as_str()
        .expect("the apiKey scheme names its header")
        .to_owned();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();

    // Tokens signed here with the server's secret and claims: a fresh one is accepted,
    // so the expired one below is refused for its expiry alone.
    let me: Value = client
        .get(server.url("/api/v1/users/me"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let admin_id = me["id"].as_str().expect("the admin's id").to_owned();
    let fresh = sign(JWT_SECRET, &admin_id, now_s(), 600);
    let response = client
        .get(server.url("/api/v1/users/me"))
        .bearer_auth(&fresh)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a token signed like the server's"
    );
    let expired = Credential::Bearer(sign(JWT_SECRET, &admin_id, now_s() - 7200, 3600));

    let no_credential = Credential::None;
    let other_secret = "another-secret-of-at-least-32-bytes!!";
    let bad_jwt = Credential::Bearer(sign(other_secret, &admin_id, now_s(), 600));
    let bad_bearer_key = Credential::Bearer(format!("spv_{}", uuid::Uuid::new_v4().simple()));
    let bad_api_key = Credential::ApiKey(format!("spv_{}", uuid::Uuid::new_v4().simple()));
    let admin = Credential::Bearer(server.token.clone());

    let ops = operations(&spec, &server.base);
    let mut walker = Walker {
        client,
        api_key_header,
        failures: Vec::new(),
    };
    let mut keys: BTreeMap<BTreeSet<String>, String> = BTreeMap::new();
    let mut listing = Vec::new();
    for op in &ops {
        listing.push(format!(
            "{:<8} {:<45} {:?} {:?}",
            op.method.as_str(),
            op.template,
            op.access,
            op.scopes
        ));
        match op.access {
            Access::Public => {
                walker
                    .expect_let_through(op, "no credential", &no_credential)
                    .await;
            }
            Access::AnonymousAllowed | Access::Protected => {
                if op.access == Access::Protected {
                    walker
                        .expect_problem(op, "no credential", &no_credential, 401, &[])
                        .await;
                } else {
                    walker
                        .expect_let_through(op, "no credential", &no_credential)
                        .await;
                }
                walker
                    .expect_problem(op, "a JWT signed with another secret", &bad_jwt, 401, &[])
                    .await;
                walker
                    .expect_problem(op, "an unknown key as bearer", &bad_bearer_key, 401, &[])
                    .await;
                walker
                    .expect_problem(
                        op,
                        "an unknown key in the api-key header",
                        &bad_api_key,
                        401,
                        &[],
                    )
                    .await;
                walker
                    .expect_problem(op, "an expired JWT", &expired, 401, &["expired"])
                    .await;
                if op.access == Access::Protected && !op.scopes.is_empty() {
                    if !keys.contains_key(&op.scopes) {
                        let key = key_without(&server, &op.scopes).await;
                        keys.insert(op.scopes.clone(), key);
                    }
                    let key = &keys[&op.scopes];
                    let lacking: Vec<&str> = op.scopes.iter().map(String::as_str).collect();
                    walker
                        .expect_problem(
                            op,
                            "a key lacking the scope (bearer)",
                            &Credential::Bearer(key.clone()),
                            403,
                            &lacking,
                        )
                        .await;
                    walker
                        .expect_problem(
                            op,
                            "a key lacking the scope (api-key header)",
                            &Credential::ApiKey(key.clone()),
                            403,
                            &lacking,
                        )
                        .await;
                }
                walker
                    .expect_let_through(op, "the admin's token", &admin)
                    .await;
            }
        }
    }
    println!("walked {} operations:\n{}", ops.len(), listing.join("\n"));

    let names: Vec<String> = ops.iter().map(Operation::name).collect();
    for name in MUST_WALK {
        assert!(names.iter().any(|n| n == name), "{name} was not walked");
    }
    let protected = ops.iter().filter(|o| o.access == Access::Protected).count();
    assert!(
        ops.len() >= MIN_OPERATIONS && protected >= MIN_PROTECTED,
        "walked only {} operations, {protected} protected",
        ops.len()
    );
    assert!(
        walker.failures.is_empty(),
        "{} failures:\n{}",
        walker.failures.len(),
        walker.failures.join("\n")
    );
    server.stop().await;
}
