//! API keys: `spv_` and 43 base64url characters (32 random bytes), stored as SHA-256 hex,
//! looked up by that hash and compared in constant time; and their table.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};
use sqlx::Row;
use sqlx::any::AnyRow;
use subtle::ConstantTimeEq;
use uuid::Uuid;

use crate::api::{ApiKey, Scopes, Secret};
use crate::store::{Db, db_err, from_ms};
use crate::{Error, Result};

/// What every API key starts with.
pub const API_KEY_PREFIX: &str = "spv_";

/// How many leading characters of a key are kept to show it (`spv_` and 8 more).
const DISPLAY_LEN: usize = 12;

/// Unpadded base64url.
pub(crate) fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// 32 random bytes, base64url: the body of keys and refresh tokens.
pub(crate) fn random_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    b64(&bytes)
}

/// SHA-256 hex of a secret, as stored.
pub(crate) fn sha256_hex(secret: &str) -> String {
    crate::store::hex(&Sha256::digest(secret.as_bytes()))
}

/// Constant-time equality of two stored hashes.
pub(crate) fn same_hash(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A new key: the secret, its hash and its display prefix.
pub(crate) fn generate() -> (Secret, String, String) {
    let key = format!("{API_KEY_PREFIX}{}", random_token());
    let hash = sha256_hex(&key);
    let prefix = key.chars().take(DISPLAY_LEN).collect();
    (Secret::new(key), hash, prefix)
}

/// Whether a credential is shaped like an API key (rather than a JWT).
pub(crate) fn is_api_key(credential: &str) -> bool {
    credential.starts_with(API_KEY_PREFIX)
}

/// A stored key, its hash included.
#[derive(Debug, Clone)]
pub(crate) struct KeyRow {
    pub(crate) key: ApiKey,
    pub(crate) key_hash: String,
    pub(crate) expires_ms: Option<i64>,
    pub(crate) revoked: bool,
}

const COLUMNS: &str =
    "id, user_id, name, key_hash, prefix, scopes, created_at, last_used_at, expires_at, revoked_at";

fn key_row(row: &AnyRow) -> Result<KeyRow> {
    let get = || -> std::result::Result<KeyRow, sqlx::Error> {
        let id: String = row.try_get("id")?;
        let user_id: String = row.try_get("user_id")?;
        let scopes: String = row.try_get("scopes")?;
        let expires_ms: Option<i64> = row.try_get("expires_at")?;
        let revoked_at: Option<i64> = row.try_get("revoked_at")?;
        let last_used: Option<i64> = row.try_get("last_used_at")?;
        let parse = |s: &str| Uuid::parse_str(s).map_err(|e| sqlx::Error::Decode(Box::new(e)));
        Ok(KeyRow {
            key: ApiKey {
                id: parse(&id)?,
                user_id: parse(&user_id)?,
                name: row.try_get("name")?,
                scopes: serde_json::from_str(&scopes)
                    .map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                prefix: row.try_get("prefix")?,
                created_at: from_ms(row.try_get("created_at")?),
                last_used_at: last_used.map(from_ms),
                expires_at: expires_ms.map(from_ms),
                revoked: revoked_at.is_some(),
            },
            key_hash: row.try_get("key_hash")?,
            expires_ms,
            revoked: revoked_at.is_some(),
        })
    };
    get().map_err(db_err("reading an api key"))
}

/// Stores a new key.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn insert(
    db: &Db,
    id: Uuid,
    user_id: Uuid,
    name: &str,
    key_hash: &str,
    prefix: &str,
    scopes: Scopes,
    created_ms: i64,
    expires_ms: Option<i64>,
) -> Result<()> {
    let scopes = serde_json::to_string(&scopes)
        .map_err(|e| Error::internal(format!("cannot encode scopes: {e}")))?;
    sqlx::query(
        "INSERT INTO api_keys (id, user_id, name, key_hash, prefix, scopes, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id.to_string())
    .bind(user_id.to_string())
    .bind(name)
    .bind(key_hash)
    .bind(prefix)
    .bind(scopes)
    .bind(created_ms)
    .bind(expires_ms)
    .execute(db.pool())
    .await
    .map_err(db_err("storing an api key"))?;
    Ok(())
}

/// The key whose secret is `key`, if any (looked up by hash, compared in constant time).
pub(crate) async fn find_by_secret(db: &Db, key: &str) -> Result<Option<KeyRow>> {
    let hash = sha256_hex(key);
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1");
    let row = sqlx::query(&sql)
        .bind(&hash)
        .fetch_optional(db.pool())
        .await
        .map_err(db_err("looking up an api key"))?;
    match row {
        Some(row) => {
            let found = key_row(&row)?;
            Ok(same_hash(&found.key_hash, &hash).then_some(found))
        }
        None => Ok(None),
    }
}

/// A key by id.
pub(crate) async fn find(db: &Db, id: Uuid) -> Result<Option<KeyRow>> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .map_err(db_err("reading an api key"))?;
    row.as_ref().map(key_row).transpose()
}

/// The keys of `user` (every key when `None`), oldest first.
pub(crate) async fn list(db: &Db, user: Option<Uuid>) -> Result<Vec<ApiKey>> {
    let rows = match user {
        Some(user) => {
            let sql = format!(
                "SELECT {COLUMNS} FROM api_keys WHERE user_id = $1 ORDER BY created_at, id"
            );
            sqlx::query(&sql)
                .bind(user.to_string())
                .fetch_all(db.pool())
                .await
        }
        None => {
            let sql = format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_at, id");
            sqlx::query(&sql).fetch_all(db.pool()).await
        }
    }
    .map_err(db_err("listing api keys"))?;
    rows.iter().map(|row| key_row(row).map(|k| k.key)).collect()
}

/// Marks a key revoked (idempotent).
pub(crate) async fn revoke(db: &Db, id: Uuid, now_ms: i64) -> Result<()> {
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(now_ms)
        .bind(id.to_string())
        .execute(db.pool())
        .await
        .map_err(db_err("revoking an api key"))?;
    Ok(())
}

/// How often a key's `last_used_at` is written at most.
pub(crate) const TOUCH_INTERVAL_MS: i64 = 60_000;

/// Records a use; at most one write a minute per key, so that authenticating every
/// request does not turn every read into a database write.
pub(crate) async fn touch(db: &Db, id: Uuid, now_ms: i64) -> Result<()> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = $1 WHERE id = $2 \
         AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now_ms)
    .bind(id.to_string())
    .bind(now_ms.saturating_sub(TOUCH_INTERVAL_MS))
    .execute(db.pool())
    .await
    .map_err(db_err("recording an api key's use"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_have_the_documented_shape() {
        let (key, hash, prefix) = generate();
        let key = key.expose();
        assert!(is_api_key(key));
        assert_eq!(key.len(), 4 + 43);
        assert!(
            key[4..]
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(hash, sha256_hex(key));
        assert_eq!(hash.len(), 64);
        assert!(key.starts_with(&prefix) && prefix.len() == DISPLAY_LEN);
        assert_ne!(generate().0, generate().0);
        assert!(same_hash(&hash, &sha256_hex(key)));
        assert!(!same_hash(&hash, &sha256_hex("spv_other")));
    }
}
