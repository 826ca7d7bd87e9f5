//! Auth over HTTP: the token endpoint, users and API keys.

use reqwest::Method;
use spv::Result;
use spv::api::{
    ApiKey, CreateApiKey, CreateUser, CreatedApiKey, GetMe, ListApiKeys, RevokeApiKey,
    TokenRequest, TokenResponse, User,
};

use crate::Client;
use crate::call::Call;
use crate::service::remote_service;

impl Client {
    /// A grant sent as is: the answer is the caller's, the client's own session is left
    /// alone (use [`ClientBuilder`](crate::ClientBuilder) credentials for that).
    async fn token(&self, request: TokenRequest) -> Result<TokenResponse> {
        self.grant(request).await
    }

    async fn create_user(&self, request: CreateUser) -> Result<User> {
        self.json(Call::new(Method::POST, "/api/v1/users").json(&request)?)
            .await
    }

    async fn me(&self, _request: GetMe) -> Result<User> {
        self.json(Call::new(Method::GET, "/api/v1/users/me")).await
    }

    async fn create_api_key(&self, request: CreateApiKey) -> Result<CreatedApiKey> {
        self.json(Call::new(Method::POST, "/api/v1/api-keys").json(&request)?)
            .await
    }

    async fn list_api_keys(&self, _request: ListApiKeys) -> Result<Vec<ApiKey>> {
        self.json(Call::new(Method::GET, "/api/v1/api-keys")).await
    }

    async fn revoke_api_key(&self, request: RevokeApiKey) -> Result<()> {
        let call = Call::new(Method::DELETE, format!("/api/v1/api-keys/{}", request.id));
        self.empty(call).await
    }
}

remote_service! {
    TokenRequest => TokenResponse, token;
    CreateUser => User, create_user;
    GetMe => User, me;
    CreateApiKey => CreatedApiKey, create_api_key;
    ListApiKeys => Vec<ApiKey>, list_api_keys;
    RevokeApiKey => (), revoke_api_key;
}
