//! Tests of the auth service, driven through `oneshot` on every test database.

use tower::ServiceExt;

use super::*;
use crate::api::GrantType;
use crate::api::{
    CreateApiKey, CreateUser, CreatedApiKey, GetMe, ListApiKeys, Principal, RevokeApiKey, Scope,
    TokenRequest,
};
use crate::store::testing::{TestDb, test_dbs};
use crate::{ErrorKind, Result};

fn secret() -> JwtSecret {
    JwtSecret::from_config(&"s".repeat(32)).unwrap()
}

fn auth(test: &TestDb) -> Auth {
    Auth::new(test.db.clone(), &secret(), AuthConfig::default())
}

/// An admin `root` and a user `ann` (password `ann-password`), with password-login
/// principals for both.
async fn setup(auth: &Auth) -> (Principal, Principal) {
    auth.bootstrap_admin("root", Some("root-password".into()))
        .await
        .unwrap();
    let root = login(auth, "root", "root-password").await;
    let request = CreateUser {
        principal: root.clone(),
        username: "ann".into(),
        password: "ann-password".into(),
        is_admin: false,
    };
    auth.clone().oneshot(request).await.unwrap();
    (root, login(auth, "ann", "ann-password").await)
}

async fn login(auth: &Auth, user: &str, password: &str) -> Principal {
    let tokens = auth
        .clone()
        .oneshot(TokenRequest::password(user, password))
        .await
        .unwrap();
    auth.authenticate(tokens.access_token.expose())
        .await
        .unwrap()
}

async fn new_key(auth: &Auth, principal: &Principal, scopes: &str) -> Result<CreatedApiKey> {
    let request = CreateApiKey {
        principal: principal.clone(),
        name: "ci".into(),
        scopes: scopes.parse()?,
        expires_at: None,
    };
    auth.clone().oneshot(request).await
}

fn kind<T: std::fmt::Debug>(result: Result<T>) -> ErrorKind {
    result.unwrap_err().kind()
}

#[tokio::test]
async fn password_grant_issues_tokens_and_refuses_bad_credentials_alike() {
    for test in test_dbs().await {
        let auth = auth(&test);
        let (_, ann) = setup(&auth).await;
        assert_eq!(ann.username, "ann");
        assert!(!ann.is_admin && !ann.scopes.contains(Scope::Admin));
        assert!(ann.scopes.contains(Scope::DocumentsWrite));
        let tokens = auth
            .clone()
            .oneshot(TokenRequest::password("ann", "ann-password"))
            .await
            .unwrap();
        assert_eq!(
            (tokens.token_type.as_str(), tokens.expires_in),
            ("Bearer", 900)
        );
        assert!(tokens.scope.contains("documents:read"), "{}", tokens.scope);
        let wrong = auth
            .clone()
            .oneshot(TokenRequest::password("ann", "not-her-password"))
            .await
            .unwrap_err();
        let unknown = auth
            .clone()
            .oneshot(TokenRequest::password("nobody", "ann-password"))
            .await
            .unwrap_err();
        assert_eq!(wrong.kind(), ErrorKind::Unauthenticated);
        assert_eq!(
            wrong.to_string(),
            unknown.to_string(),
            "no user enumeration"
        );
        let missing = TokenRequest {
            password: None,
            ..TokenRequest::password("ann", "")
        };
        assert_eq!(
            kind(auth.clone().oneshot(missing).await),
            ErrorKind::InvalidRequest
        );
        // A token signed by another server's secret is refused.
        let other = JwtSecret::from_config(&"o".repeat(32)).unwrap();
        let other = Auth::new(test.db.clone(), &other, AuthConfig::default());
        assert_eq!(
            kind(other.authenticate(tokens.access_token.expose()).await),
            ErrorKind::Unauthenticated
        );
        assert_eq!(
            kind(auth.authenticate("garbage").await),
            ErrorKind::Unauthenticated
        );
    }
}

#[tokio::test]
async fn users_are_created_by_admins_only_and_names_are_unique() {
    for test in test_dbs().await {
        let auth = auth(&test);
        let (root, ann) = setup(&auth).await;
        let create = |principal: &Principal, name: &str| CreateUser {
            principal: principal.clone(),
            username: name.into(),
            password: "long-enough".into(),
            is_admin: false,
        };
        assert_eq!(
            kind(auth.clone().oneshot(create(&ann, "bob")).await),
            ErrorKind::Forbidden
        );
        assert_eq!(
            kind(auth.clone().oneshot(create(&root, "ann")).await),
            ErrorKind::Conflict
        );
        let anonymous = create(&Principal::default(), "eve");
        assert_eq!(
            kind(auth.clone().oneshot(anonymous).await),
            ErrorKind::Unauthenticated
        );
        let short = CreateUser {
            password: "short".into(),
            ..create(&root, "bob")
        };
        assert_eq!(
            kind(auth.clone().oneshot(short).await),
            ErrorKind::InvalidRequest
        );
        let bob = auth.clone().oneshot(create(&root, "bob")).await.unwrap();
        assert!(!bob.is_admin);
        let me = auth
            .clone()
            .oneshot(GetMe {
                principal: ann.clone(),
            })
            .await
            .unwrap();
        assert_eq!((me.id, me.username.as_str()), (ann.user_id, "ann"));
    }
}

#[tokio::test]
async fn api_keys_authenticate_until_revoked_or_expired() {
    for test in test_dbs().await {
        let auth = auth(&test);
        let (root, ann) = setup(&auth).await;
        let created = new_key(&auth, &ann, "documents:read thumbnails:read")
            .await
            .unwrap();
        assert!(created.key.expose().starts_with(API_KEY_PREFIX));
        assert!(created.key.expose().starts_with(&created.prefix));
        assert_eq!(format!("{:?}", created.key), "[redacted]");
        let direct = auth.authenticate(created.key.expose()).await.unwrap();
        assert_eq!(direct.user_id, ann.user_id);
        assert_eq!(direct.scopes.to_string(), "documents:read thumbnails:read");
        assert!(direct.require(Scope::DocumentsWrite).is_err());
        let granted = auth
            .clone()
            .oneshot(TokenRequest::api_key(created.key.clone()))
            .await
            .unwrap();
        assert_eq!(granted.scope, "documents:read thumbnails:read");
        let via_jwt = auth
            .authenticate(granted.access_token.expose())
            .await
            .unwrap();
        assert_eq!(via_jwt.scopes, direct.scopes);
        // Listing: own keys for ann, every key for the admin; the secret is never listed.
        new_key(&auth, &root, "admin").await.unwrap();
        let listed = auth
            .clone()
            .oneshot(ListApiKeys {
                principal: ann.clone(),
            })
            .await
            .unwrap();
        assert_eq!(listed.len(), 1);
        assert!(listed[0].last_used_at.is_some(), "use is recorded");
        let all = auth
            .clone()
            .oneshot(ListApiKeys {
                principal: root.clone(),
            })
            .await
            .unwrap();
        assert_eq!(all.len(), 2);
        assert!(
            !serde_json::to_string(&all)
                .unwrap()
                .contains(created.key.expose())
        );
        // Someone else's key cannot be revoked (nor seen); the owner's revocation sticks.
        let root_key = all.iter().find(|k| k.user_id == root.user_id).unwrap().id;
        let steal = RevokeApiKey {
            principal: ann.clone(),
            id: root_key,
        };
        assert_eq!(kind(auth.clone().oneshot(steal).await), ErrorKind::NotFound);
        let revoke = RevokeApiKey {
            principal: ann.clone(),
            id: created.id,
        };
        auth.clone().oneshot(revoke).await.unwrap();
        let err = auth.authenticate(created.key.expose()).await.unwrap_err();
        assert!(err.to_string().contains("revoked"), "{err}");
        let grant = TokenRequest::api_key(created.key.clone());
        assert_eq!(
            kind(auth.clone().oneshot(grant).await),
            ErrorKind::Unauthenticated
        );
        // The session started from the key ends with it.
        let refresh = TokenRequest::refresh_token(granted.refresh_token);
        assert_eq!(
            kind(auth.clone().oneshot(refresh).await),
            ErrorKind::Unauthenticated
        );
        // Expiry.
        let expiring = new_key(&auth, &ann, "documents:read").await.unwrap();
        sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE id = $2")
            .bind(1_i64)
            .bind(expiring.id.to_string())
            .execute(test.db.pool())
            .await
            .unwrap();
        let err = auth.authenticate(expiring.key.expose()).await.unwrap_err();
        assert!(err.to_string().contains("expired"), "{err}");
        let unknown = format!("{API_KEY_PREFIX}{}", "A".repeat(43));
        assert_eq!(
            kind(auth.authenticate(&unknown).await),
            ErrorKind::Unauthenticated
        );
    }
}

#[tokio::test]
async fn key_scopes_must_be_a_subset_of_the_creators() {
    for test in test_dbs().await {
        let auth = auth(&test);
        let (root, ann) = setup(&auth).await;
        assert_eq!(
            kind(new_key(&auth, &ann, "admin").await),
            ErrorKind::Forbidden
        );
        let reader = new_key(&auth, &ann, "documents:read assets:read")
            .await
            .unwrap();
        let reader = auth.authenticate(reader.key.expose()).await.unwrap();
        let err = new_key(&auth, &reader, "documents:read documents:write")
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Forbidden);
        assert!(err.to_string().contains("documents:write"), "{err}");
        assert!(new_key(&auth, &reader, "assets:read").await.is_ok());
        assert_eq!(
            kind(new_key(&auth, &ann, "").await),
            ErrorKind::InvalidRequest
        );
        assert_eq!(
            kind(new_key(&auth, &Principal::default(), "assets:read").await),
            ErrorKind::Unauthenticated
        );
        let admin_key = new_key(&auth, &root, "admin").await.unwrap();
        let admin = auth.authenticate(admin_key.key.expose()).await.unwrap();
        assert!(
            admin.require(Scope::JobsWrite).is_ok(),
            "admin implies every scope"
        );
    }
}

#[tokio::test]
async fn refresh_tokens_rotate_once_and_reuse_revokes_the_chain() {
    for test in test_dbs().await {
        let auth = auth(&test);
        setup(&auth).await;
        let first = auth
            .clone()
            .oneshot(TokenRequest::password("ann", "ann-password"))
            .await
            .unwrap();
        let second = auth
            .clone()
            .oneshot(TokenRequest::refresh_token(first.refresh_token.clone()))
            .await
            .unwrap();
        assert_ne!(second.refresh_token, first.refresh_token);
        let p = auth
            .authenticate(second.access_token.expose())
            .await
            .unwrap();
        assert_eq!(p.username, "ann");
        // The first token again: reuse. It fails, and so does the child it had produced.
        let reuse = TokenRequest::refresh_token(first.refresh_token);
        let err = auth.clone().oneshot(reuse).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthenticated);
        assert!(err.to_string().contains("already used"), "{err}");
        let child = TokenRequest::refresh_token(second.refresh_token);
        assert_eq!(
            kind(auth.clone().oneshot(child).await),
            ErrorKind::Unauthenticated
        );
        // Another login is a new, unaffected family.
        let fresh = auth
            .clone()
            .oneshot(TokenRequest::password("ann", "ann-password"))
            .await
            .unwrap();
        let next = TokenRequest::refresh_token(fresh.refresh_token);
        assert!(auth.clone().oneshot(next).await.is_ok());
        let bogus = TokenRequest::refresh_token("nope");
        assert_eq!(
            kind(auth.clone().oneshot(bogus).await),
            ErrorKind::Unauthenticated
        );
    }
}

#[tokio::test]
async fn bootstrap_creates_the_first_admin_once() {
    for test in test_dbs().await {
        let auth = auth(&test);
        let printed = auth.bootstrap_admin("admin", None).await.unwrap();
        let printed = printed.expect("a generated password is returned to print");
        assert!(printed.expose().len() >= 32);
        let admin = login(&auth, "admin", printed.expose()).await;
        assert!(admin.is_admin && admin.scopes.contains(Scope::Admin));
        assert!(auth.bootstrap_admin("other", None).await.unwrap().is_none());
        let other = TokenRequest::password("other", printed.clone());
        assert_eq!(
            kind(auth.clone().oneshot(other).await),
            ErrorKind::Unauthenticated
        );
    }
    for test in test_dbs().await {
        let auth = auth(&test);
        let given = auth
            .bootstrap_admin("boss", Some("given-password".into()))
            .await;
        assert!(given.unwrap().is_none(), "a given password is not printed");
        assert!(login(&auth, "boss", "given-password").await.is_admin);
    }
}

#[test]
fn token_requests_parse_as_oauth_and_hide_secrets() {
    let json = r#"{"grant_type":"password","username":"ann","password":"hunter22"}"#;
    let request: TokenRequest = serde_json::from_str(json).unwrap();
    assert_eq!(request, TokenRequest::password("ann", "hunter22"));
    assert!(!format!("{request:?}").contains("hunter22"));
    let request: TokenRequest =
        serde_json::from_str(r#"{"grant_type":"refresh_token","refresh_token":"r"}"#).unwrap();
    assert_eq!(request.grant_type, GrantType::RefreshToken);
    assert!(serde_json::from_str::<TokenRequest>(r#"{"grant_type":"magic"}"#).is_err());
    let key: CreateApiKey =
        serde_json::from_str(r#"{"name":"n","scopes":["documents:read","admin"]}"#).unwrap();
    assert_eq!(key.scopes.to_string(), "documents:read admin");
    assert!(
        key.principal.is_anonymous(),
        "the caller never comes from the body"
    );
    assert!(serde_json::from_str::<CreateApiKey>(r#"{"name":"n","scopes":["root"]}"#).is_err());
}

#[test]
fn futures_are_send() {
    fn send<T: Send + 'static>(_: T) {}
    fn check(auth: Auth) {
        send(auth.clone().oneshot(TokenRequest::api_key("k")));
        send(auth.clone().oneshot(GetMe::default()));
        send(auth.clone().oneshot(ListApiKeys::default()));
        let auth2 = auth.clone();
        send(async move { auth2.authenticate("x").await });
    }
    let _ = check as fn(Auth);
}

/// Guards the OAuth 2.0 contract: the token endpoint takes form bodies too.
#[cfg(feature = "http")]
#[tokio::test]
async fn token_requests_parse_from_form_bodies() {
    use axum::extract::FromRequest;
    let body = "grant_type=api_key&api_key=spv_abc";
    let request = axum::http::Request::post("/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(body))
        .unwrap();
    let axum::Form(parsed) = axum::Form::<TokenRequest>::from_request(request, &())
        .await
        .unwrap();
    assert_eq!(parsed, TokenRequest::api_key("spv_abc"));
}

/// Two nodes (two `Auth`s, each with its own pool) over one SQLite file: nothing about
/// credentials is cached per process, so a revocation on one node holds on the other
/// from its next request on (issue 13: "a revoked API key or refresh token is refused on
/// every node"). Guards against a per-node cache of key lookups creeping in unnoticed.
#[tokio::test]
async fn a_revocation_on_one_node_holds_on_another_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = |db: crate::store::Db| Auth::new(db, &secret(), AuthConfig::default());
    let a = node(crate::store::Db::open(None, dir.path()).await.unwrap());
    let b = node(crate::store::Db::open(None, dir.path()).await.unwrap());
    let (_, ann) = setup(&a).await;

    // An API key made on A, used on B (its lookup now warm there), revoked on A.
    let created = new_key(&a, &ann, "documents:read").await.unwrap();
    for _ in 0..2 {
        b.authenticate(created.key.expose()).await.unwrap();
    }
    let revoke = RevokeApiKey {
        principal: ann.clone(),
        id: created.id,
    };
    a.clone().oneshot(revoke).await.unwrap();
    let err = b.authenticate(created.key.expose()).await.unwrap_err();
    assert!(err.to_string().contains("revoked"), "{err}");

    // A refresh token rotated on B, its parent reused on A: the chain is revoked, and
    // B refuses the child it issued itself.
    let first = a
        .clone()
        .oneshot(TokenRequest::password("ann", "ann-password"))
        .await
        .unwrap();
    let second = b
        .clone()
        .oneshot(TokenRequest::refresh_token(first.refresh_token.clone()))
        .await
        .unwrap();
    let reuse = TokenRequest::refresh_token(first.refresh_token);
    assert_eq!(
        kind(a.clone().oneshot(reuse).await),
        ErrorKind::Unauthenticated
    );
    let child = TokenRequest::refresh_token(second.refresh_token);
    assert_eq!(
        kind(b.clone().oneshot(child).await),
        ErrorKind::Unauthenticated
    );
}
