//! HS256 access tokens: issued for a [`Principal`], verified back into one.
//!
//! Claims: `iss`, `aud` (`spv`), `sub` (user id), `name`, `adm`, `scope`
//! (space-separated), `jti`, `iat`, `nbf`, `exp`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::api::{Principal, Scopes};
use crate::auth::JwtSecret;
use crate::{Error, ErrorKind, Result};

/// The audience of every token.
pub(crate) const AUDIENCE: &str = "spv";

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
const LEEWAY_S: u64 = 30;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: String,
    name: String,
    adm: bool,
    scope: String,
    jti: String,
    iat: u64,
    nbf: u64,
    exp: u64,
}

/// Signs and checks access tokens.
#[derive(Clone)]
pub(crate) struct Jwt {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    ttl: Duration,
    verified: Arc<Mutex<HashMap<Box<str>, Verified, foldhash::fast::RandomState>>>,
}

/// At most this many verified tokens are remembered; past it the memory starts afresh.
const VERIFIED_CAPACITY: usize = 4096;

/// A token that passed [`Jwt::verify`]: what it says, and when it is valid.
#[derive(Clone)]
struct Verified {
    principal: Principal,
    nbf: u64,
    exp: u64,
}

impl std::fmt::Debug for Jwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwt")
            .field("issuer", &self.issuer)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Jwt {
    pub(crate) fn new(secret: &JwtSecret, issuer: &str, ttl: Duration) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_S;
        Jwt {
            encoding: EncodingKey::from_secret(secret.bytes()),
            decoding: DecodingKey::from_secret(secret.bytes()),
            validation,
            issuer: issuer.to_owned(),
            ttl,
            verified: Arc::new(Mutex::new(HashMap::default())),
        }
    }

    /// Seconds a token lives.
    pub(crate) fn ttl_secs(&self) -> u64 {
        self.ttl.as_secs()
    }

    /// A token for `principal`, valid from now.
    pub(crate) fn issue(&self, principal: &Principal) -> Result<String> {
        self.issue_at(principal, now_s())
    }

    /// A token for `principal` issued at `iat` (unix seconds).
    pub(crate) fn issue_at(&self, principal: &Principal, iat: u64) -> Result<String> {
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: AUDIENCE.to_owned(),
            sub: principal.user_id.to_string(),
            name: principal.username.clone(),
            adm: principal.is_admin,
            scope: principal.scopes.to_string(),
            jti: Uuid::now_v7().to_string(),
            iat,
            nbf: iat,
            exp: iat.saturating_add(self.ttl.as_secs()),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(|e| Error::internal(format!("cannot sign an access token: {e}")))
    }

    /// The principal of a valid token; [`ErrorKind::Unauthenticated`] otherwise.
    ///
    /// A token verified before is answered from memory while the clock is inside its
    /// validity (with the same leeway): verification is a pure function of the token,
    /// the secret and the time, so the answer is the same, without the base64, HMAC and
    /// JSON work of every request. Outside that window the token is verified again, which
    /// gives the error.
    pub(crate) fn verify(&self, token: &str) -> Result<Principal> {
        let now = now_s();
        let valid_now = |v: &Verified| {
            now.saturating_add(LEEWAY_S) >= v.nbf && now < v.exp.saturating_add(LEEWAY_S)
        };
        if let Some(hit) = self
            .verified
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(token)
            .filter(|v| valid_now(v))
        {
            return Ok(hit.principal.clone());
        }
        let (principal, nbf, exp) = self.verify_fully(token)?;
        let mut verified = self.verified.lock().unwrap_or_else(PoisonError::into_inner);
        if verified.len() >= VERIFIED_CAPACITY {
            verified.clear();
        }
        verified.insert(
            token.into(),
            Verified {
                principal: principal.clone(),
                nbf,
                exp,
            },
        );
        Ok(principal)
    }

    /// Decodes and checks `token`: signature, issuer, audience, times, subject, scopes.
    fn verify_fully(&self, token: &str) -> Result<(Principal, u64, u64)> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| unauthenticated(format!("the access token {}", reason(&e))))?;
        let claims = data.claims;
        let (nbf, exp) = (claims.nbf, claims.exp);
        let user_id = Uuid::parse_str(&claims.sub)
            .map_err(|_| unauthenticated("the access token's subject is not a user id"))?;
        let scopes: Scopes = claims
            .scope
            .parse()
            .map_err(|_| unauthenticated("the access token names an unknown scope"))?;
        let principal = Principal {
            user_id,
            username: claims.name,
            is_admin: claims.adm,
            scopes,
        };
        Ok((principal, nbf, exp))
    }
}

/// Why a token was refused, for the message (never the token itself).
fn reason(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind as K;
    match e.kind() {
        K::ExpiredSignature => "has expired",
        K::ImmatureSignature => "is not valid yet",
        K::InvalidSignature => "has a bad signature",
        K::InvalidIssuer => "was issued by someone else",
        K::InvalidAudience => "is meant for another audience",
        K::InvalidAlgorithm => "uses an algorithm other than HS256",
        K::MissingRequiredClaim(_) => "lacks a required claim",
        _ => "is malformed",
    }
}

pub(crate) fn unauthenticated(message: impl Into<String>) -> Error {
    Error::new(ErrorKind::Unauthenticated, message)
}

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Scope;

    fn principal() -> Principal {
        Principal {
            user_id: Uuid::now_v7(),
            username: "ann".into(),
            is_admin: false,
            scopes: [Scope::DocumentsRead, Scope::ThumbnailsRead]
                .into_iter()
                .collect(),
        }
    }

    fn secret(c: char) -> JwtSecret {
        JwtSecret::from_config(&c.to_string().repeat(32)).unwrap()
    }

    const TTL: Duration = Duration::from_secs(900);

    #[test]
    fn round_trip_keeps_the_principal() {
        let jwt = Jwt::new(&secret('a'), "spv-test", TTL);
        let p = principal();
        let token = jwt.issue(&p).unwrap();
        assert_eq!(jwt.verify(&token).unwrap(), p);
    }

    #[test]
    fn wrong_secret_issuer_audience_and_expiry_are_refused() {
        let jwt = Jwt::new(&secret('a'), "spv-test", TTL);
        let p = principal();
        let refused = |token: &str| {
            let err = jwt.verify(token).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
            err.to_string()
        };
        let other_key = Jwt::new(&secret('b'), "spv-test", TTL).issue(&p).unwrap();
        assert!(refused(&other_key).contains("bad signature"));
        let other_issuer = Jwt::new(&secret('a'), "someone", TTL).issue(&p).unwrap();
        assert!(refused(&other_issuer).contains("someone else"));
        let expired = jwt
            .issue_at(&p, now_s() - TTL.as_secs() - 2 * LEEWAY_S)
            .unwrap();
        assert!(refused(&expired).contains("expired"));
        let future = jwt.issue_at(&p, now_s() + 10 * LEEWAY_S).unwrap();
        assert!(refused(&future).contains("not valid yet"));
        // A token for another audience, signed with the right key.
        let mut claims = serde_json::to_value(Claims {
            iss: "spv-test".into(),
            aud: "other".into(),
            sub: p.user_id.to_string(),
            name: "ann".into(),
            adm: false,
            scope: String::new(),
            jti: "x".into(),
            iat: now_s(),
            nbf: now_s(),
            exp: now_s() + 60,
        })
        .unwrap();
        let key = EncodingKey::from_secret(secret('a').bytes());
        let wrong_aud = jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap();
        assert!(refused(&wrong_aud).contains("another audience"));
        claims["aud"] = AUDIENCE.into();
        let fine = jsonwebtoken::encode(&Header::default(), &claims, &key).unwrap();
        assert!(jwt.verify(&fine).is_ok(), "only the audience was wrong");
        refused("not.a.jwt");
    }

    #[test]
    fn remembered_tokens_are_answered_only_inside_their_validity() {
        let jwt = Jwt::new(&secret('a'), "spv-test", TTL);
        let p = principal();
        let token = jwt.issue(&p).unwrap();
        assert_eq!(jwt.verify(&token).unwrap(), p);
        assert_eq!(jwt.verify(&token).unwrap(), p, "answered from memory");
        assert_eq!(jwt.verified.lock().unwrap().len(), 1);
        // Another secret remembers nothing: the same token is refused.
        let other = Jwt::new(&secret('b'), "spv-test", TTL);
        assert!(other.verify(&token).is_err());
        // An entry past its expiry (plus leeway) is not served: the token is verified
        // again, and this one does not verify.
        let stale = Verified {
            principal: p.clone(),
            nbf: 0,
            exp: now_s() - LEEWAY_S - 1,
        };
        jwt.verified
            .lock()
            .unwrap()
            .insert("forged.token.x".into(), stale);
        let err = jwt.verify("forged.token.x").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unauthenticated, "{err}");
        // Nor one not yet valid.
        let early = Verified {
            principal: p,
            nbf: now_s() + 10 * LEEWAY_S,
            exp: now_s() + 20 * LEEWAY_S,
        };
        jwt.verified
            .lock()
            .unwrap()
            .insert("early.token.x".into(), early);
        assert!(jwt.verify("early.token.x").is_err());
        // The memory is bounded.
        for i in 0..VERIFIED_CAPACITY + 10 {
            let token = jwt
                .issue_at(&principal(), now_s() - (i % 7) as u64)
                .unwrap();
            jwt.verify(&token).unwrap();
        }
        assert!(jwt.verified.lock().unwrap().len() <= VERIFIED_CAPACITY);
    }
}
