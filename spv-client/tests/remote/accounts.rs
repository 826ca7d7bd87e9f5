//! Auth through the client: every account request, API keys exchanged and revoked,
//! renewal through rotating refresh tokens seen by `on_tokens`, one renewal however
//! many calls wait.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use spv::ErrorKind;
use spv::api::{
    CreateApiKey, CreateDocument, CreateUser, GetMe, ListApiKeys, RevokeApiKey, Scope, Scopes,
    Secret, TokenRequest, TokenResponse,
};
use spv_client::Client;

use super::{ADMIN_PASSWORD, DOC, Server};

/// Every token pair a client received, in order.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<TokenResponse>>>);

impl Seen {
    fn hook(&self) -> impl Fn(&TokenResponse) + Send + Sync + 'static {
        let seen = self.0.clone();
        move |tokens: &TokenResponse| seen.lock().unwrap().push(tokens.clone())
    }

    fn all(&self) -> Vec<TokenResponse> {
        self.0.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn every_account_request_and_a_revoked_key() {
    let server = Server::start().await;
    let admin = server.admin();

    let tokens = admin
        .call_service(TokenRequest::password("admin", ADMIN_PASSWORD))
        .await
        .unwrap();
    assert_eq!(tokens.token_type, "Bearer");
    let wrong = admin
        .call_service(TokenRequest::password("admin", "wrong password"))
        .await
        .unwrap_err();
    assert_eq!(wrong.kind(), ErrorKind::Unauthenticated, "{wrong}");

    let ann = admin
        .call_service(CreateUser {
            principal: Default::default(),
            username: "ann".into(),
            password: Secret::new("ann's password"),
            is_admin: false,
        })
        .await
        .unwrap();
    let taken = admin
        .call_service(CreateUser {
            principal: Default::default(),
            username: "ann".into(),
            password: Secret::new("another password"),
            is_admin: false,
        })
        .await
        .unwrap_err();
    assert_eq!(taken.kind(), ErrorKind::Conflict, "{taken}");

    let ann_client = server
        .builder()
        .password("ann", Secret::new("ann's password"))
        .build()
        .unwrap();
    let me = ann_client.call_service(GetMe::default()).await.unwrap();
    assert_eq!(me, ann);

    // A read-only key: writing is 403 → Forbidden.
    let key = ann_client
        .call_service(CreateApiKey {
            principal: Default::default(),
            name: "reader".into(),
            scopes: Scopes::from(Scope::DocumentsRead),
            expires_at: None,
        })
        .await
        .unwrap();
    let keys = ann_client
        .call_service(ListApiKeys::default())
        .await
        .unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].id, key.id);
    let seen = Seen::default();
    let by_key = server
        .builder()
        .api_key(key.key.clone())
        .on_tokens(seen.hook())
        .build()
        .unwrap();
    assert_eq!(
        by_key.call_service(GetMe::default()).await.unwrap().id,
        ann.id
    );
    let forbidden = by_key
        .call_service(CreateDocument::new(Default::default(), DOC))
        .await
        .unwrap_err();
    assert_eq!(forbidden.kind(), ErrorKind::Forbidden, "{forbidden}");
    assert!(
        forbidden.to_string().contains("documents:write"),
        "{forbidden}"
    );
    assert!(
        seen.all().is_empty(),
        "a key is sent as it is, never exchanged"
    );

    ann_client
        .call_service(RevokeApiKey {
            principal: Default::default(),
            id: key.id,
        })
        .await
        .unwrap();
    // The key is refused from the next request on...
    let err = by_key.call_service(GetMe::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    // ...and the key itself is refused.
    let fresh = server.builder().api_key(key.key).build().unwrap();
    let err = fresh.authenticate().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert!(err.to_string().contains("revoked"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn renewals_rotate_the_refresh_token() {
    let server = Server::start().await;
    let seen = Seen::default();
    let client = server
        .builder()
        .password("admin", Secret::new(ADMIN_PASSWORD))
        .on_tokens(seen.hook())
        // Longer than the access token lives: every call renews first.
        .refresh_margin(Duration::from_secs(24 * 3600))
        .build()
        .unwrap();
    for _ in 0..3 {
        client.call_service(GetMe::default()).await.unwrap();
    }
    let pairs = seen.all();
    assert_eq!(
        pairs.len(),
        3,
        "one password grant, then two refresh grants"
    );
    let refresh: Vec<&str> = pairs.iter().map(|p| p.refresh_token.expose()).collect();
    assert!(
        refresh[0] != refresh[1] && refresh[1] != refresh[2],
        "rotated"
    );

    // The latest refresh token resumes the session (and is spent doing so)...
    let resumed_seen = Seen::default();
    let resumed = server
        .builder()
        .refresh_token(pairs[2].refresh_token.clone())
        .on_tokens(resumed_seen.hook())
        .build()
        .unwrap();
    assert_eq!(
        resumed
            .call_service(GetMe::default())
            .await
            .unwrap()
            .username,
        "admin"
    );
    assert_eq!(resumed_seen.all().len(), 1);
    // ...while a spent one is refused.
    let spent = server
        .builder()
        .refresh_token(pairs[0].refresh_token.clone())
        .build()
        .unwrap();
    let err = spent.call_service(GetMe::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    assert!(err.to_string().contains("already used"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn concurrent_calls_share_one_renewal() {
    let server = Server::start().await;
    let seen = Seen::default();
    let client = server
        .builder()
        .password("admin", Secret::new(ADMIN_PASSWORD))
        .on_tokens(seen.hook())
        .build()
        .unwrap();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let client = client.clone();
            tokio::spawn(async move { client.call_service(GetMe::default()).await })
        })
        .collect();
    for call in calls {
        assert_eq!(call.await.unwrap().unwrap().username, "admin");
    }
    assert_eq!(
        seen.all().len(),
        1,
        "one grant for eight concurrent first calls"
    );

    let anonymous: Client = server.anonymous();
    let err = anonymous.authenticate().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated);
    let err = anonymous.call_service(GetMe::default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
    server.stop().await;
}
