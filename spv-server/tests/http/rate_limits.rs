//! Rate limits on the real server: the `auth` group on the token endpoint (by address and
//! by user name), failed credentials, forwarding headers from trusted and untrusted
//! peers, groups turned off, and the `anonymous`, `api` and `render` groups.
//!
//! Every server logs the admin in once as it starts (one `auth` request from
//! 127.0.0.1 for the name `admin`); the tests send theirs from other addresses or names,
//! or count that one.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::{Server, doc, header, problem};

/// The rate limits `limits`, with 127.0.0.1 (the tests) a trusted proxy when `proxied`.
async fn server(limits: &str, proxied: bool) -> Server {
    let limits = limits.to_string();
    Server::start_with(move |config| {
        config.rate_limits = limits.parse().unwrap();
        if proxied {
            config.trusted_proxies = "127.0.0.1/32".parse().unwrap();
        }
    })
    .await
}

/// A password grant for `username` with a wrong password, from `forwarded_for`.
async fn wrong_password(server: &Server, username: &str, forwarded_for: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(server.url("/api/v1/auth/token"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"grant_type": "password", "username": username, "password": "wrong guess"}))
        .send()
        .await
        .unwrap()
}

/// Asserts a 429 of `group` with `q` requests per `w` seconds, waiting `t`; its problem.
async fn refused(response: reqwest::Response, group: &str, q: u32, w: u64, t: u64) -> Value {
    let headers = response.headers().clone();
    let body = problem(response, 429).await;
    assert_eq!(header(&headers, "retry-after"), t.to_string());
    assert_eq!(
        header(&headers, "ratelimit-policy"),
        format!("\"{group}\";q={q};w={w}")
    );
    assert_eq!(
        header(&headers, "ratelimit"),
        format!("\"{group}\";r=0;t={t}")
    );
    assert_eq!(body["type"], "urn:spv:problem:rate-limited");
    assert_eq!(body["code"], "rate-limited");
    assert_eq!(body["status"], 429);
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(&format!(
            "the {group} rate limit allows {q} requests per {w} s"
        )),
        "{detail}"
    );
    body
}

#[tokio::test]
async fn six_wrong_passwords_then_429_with_the_headers() {
    let server = server("auth=6/1m", true).await;
    for attempt in 1..=6 {
        let response = wrong_password(&server, "alice", "203.0.113.5").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    let response = wrong_password(&server, "alice", "203.0.113.5").await;
    // 6 per minute: the next one comes back 10 s after the first.
    refused(response, "auth", 6, 60, 10).await;
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("spv_rate_limited_total{group=\"auth\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spv_rate_limited_total{group=\"api\"} 0"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spv_rate_limiter_fallback_total 0"),
        "{metrics}"
    );
    // The admin, from its own address and name, is not affected.
    let response = reqwest::Client::new()
        .post(server.url("/api/v1/auth/token"))
        .json(&json!({"grant_type": "password", "username": "admin", "password": super::ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn one_account_is_limited_across_addresses() {
    let server = server("auth=6/1m", true).await;
    for i in 1..=6 {
        let response = wrong_password(&server, "bob", &format!("198.51.100.{i}")).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // A seventh address, the same account (spelled otherwise): refused.
    let response = wrong_password(&server, "BOB", "198.51.100.7").await;
    refused(response, "auth", 6, 60, 10).await;
    // Another account from a fresh address still gets its answer.
    let response = wrong_password(&server, "carol", "198.51.100.8").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    server.stop().await;
}

#[tokio::test]
async fn failed_credentials_count_and_forwarded_for_is_ignored_from_untrusted_peers() {
    // No trusted proxy: every request's client is 127.0.0.1, whatever it claims. The
    // start's login was one of the three.
    let server = server("auth=3/1m", false).await;
    let bad_token = |i: u32| {
        reqwest::Client::new()
            .get(server.url("/api/v1/users/me"))
            .bearer_auth("not.a.token")
            .header("x-forwarded-for", format!("192.0.2.{i}"))
            .header("forwarded", format!("for=192.0.2.{i}"))
            .send()
    };
    for i in 1..=2 {
        assert_eq!(
            bad_token(i).await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    refused(bad_token(3).await.unwrap(), "auth", 3, 60, 20).await;
    // A bad API key is a failed check too.
    let response = reqwest::Client::new()
        .get(server.url("/api/v1/users/me"))
        .header("x-api-key", "spv_wrong")
        .send()
        .await
        .unwrap();
    refused(response, "auth", 3, 60, 20).await;
    // A valid credential is not held back by the failures.
    let response = reqwest::Client::new()
        .get(server.url("/api/v1/users/me"))
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_group_turned_off_never_refuses() {
    let server = server("auth=off", true).await;
    for attempt in 0..20 {
        let response = wrong_password(&server, "dave", "203.0.113.9").await;
        assert_eq!(
            response.status(),
            StatusCode::UNAUTHORIZED,
            "attempt {attempt}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn anonymous_requests_are_limited_by_address_and_probes_are_exempt() {
    let server = server("anonymous=3/1m", true).await;
    let gallery = |from: &str| {
        reqwest::Client::new()
            .get(server.url("/api/v1/gallery"))
            .header("x-forwarded-for", from.to_string())
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            gallery("203.0.113.20").await.unwrap().status(),
            StatusCode::OK
        );
    }
    refused(
        gallery("203.0.113.20").await.unwrap(),
        "anonymous",
        3,
        60,
        20,
    )
    .await;
    // Another address, and a caller with a credential (the api group), are served.
    assert_eq!(
        gallery("203.0.113.21").await.unwrap().status(),
        StatusCode::OK
    );
    let response = reqwest::Client::new()
        .get(server.url("/api/v1/gallery"))
        .header("x-forwarded-for", "203.0.113.20")
        .bearer_auth(&server.token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    // The docs count as anonymous too; probes and the scraper are exempt.
    let from = |path: &str| {
        reqwest::Client::new()
            .get(server.url(path))
            .header("x-forwarded-for", "203.0.113.20")
            .send()
    };
    assert_eq!(
        from("/openapi.json").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    for path in ["/health", "/ready", "/metrics", "/health", "/metrics"] {
        assert_eq!(from(path).await.unwrap().status(), StatusCode::OK, "{path}");
    }
    // The OpenAPI document declares the 429 where it applies, and only there.
    let doc = server.openapi().await;
    let paths = &doc["paths"];
    assert!(paths["/api/v1/auth/token"]["post"]["responses"]["429"].is_object());
    assert!(paths["/api/v1/documents/{id}/thumbnail"]["get"]["responses"]["429"]["headers"]["RateLimit-Policy"].is_object());
    assert!(paths["/health"]["get"]["responses"]["429"].is_null());
    server.stop().await;
}

#[tokio::test]
async fn api_requests_are_limited_by_user_and_render_work_by_user() {
    let server = server("api=4/1m,render=2/1m", true).await;
    let client = reqwest::Client::new();
    let me = |from: &str| {
        client
            .get(server.url("/api/v1/users/me"))
            .bearer_auth(&server.token)
            .header("x-forwarded-for", from.to_string())
            .send()
    };
    for _ in 0..2 {
        assert_eq!(me("203.0.113.30").await.unwrap().status(), StatusCode::OK);
    }
    let render = || {
        client
            .post(server.url("/api/v1/thumbnails"))
            .bearer_auth(&server.token)
            .json(&json!({"document": doc(), "size": 40}))
            .send()
    };
    // Two renders (each also an api request): the render budget is spent.
    assert_eq!(render().await.unwrap().status(), StatusCode::OK);
    assert_eq!(render().await.unwrap().status(), StatusCode::OK);
    // The api budget is spent too (4 requests), from any address: keyed by user.
    refused(me("203.0.113.31").await.unwrap(), "api", 4, 60, 15).await;
    let metrics = server.metrics().await;
    assert!(
        metrics.contains("spv_rate_limited_total{group=\"api\"} 1"),
        "{metrics}"
    );
    server.stop().await;

    let server = server_render_only().await;
    let render = || {
        reqwest::Client::new()
            .post(server.url("/api/v1/thumbnails"))
            .bearer_auth(&server.token)
            .json(&json!({"document": doc(), "size": 40}))
            .send()
    };
    assert_eq!(render().await.unwrap().status(), StatusCode::OK);
    assert_eq!(render().await.unwrap().status(), StatusCode::OK);
    refused(render().await.unwrap(), "render", 2, 60, 30).await;
    server.stop().await;
}

async fn server_render_only() -> Server {
    server("render=2/1m", false).await
}
