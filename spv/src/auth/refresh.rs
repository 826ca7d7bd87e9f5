//! Rotating refresh tokens.
//!
//! Each token is single-use: using it marks it used and issues a child in the same
//! family. Presenting a token that was already used means it leaked (or a client
//! misbehaves): the whole family is revoked, so the thief's and the owner's chains both
//! stop working, and the caller must log in again.

use sqlx::Row;
use uuid::Uuid;

use crate::api::{Scopes, Secret};
use crate::auth::jwt::unauthenticated;
use crate::auth::keys::{random_token, same_hash, sha256_hex};
use crate::store::{Db, db_err};
use crate::{Error, Result};

/// What a refresh token stands for.
#[derive(Debug, Clone)]
pub(crate) struct Grant {
    pub(crate) user_id: Uuid,
    pub(crate) scopes: Scopes,
    /// The API key the chain started from, if it did.
    pub(crate) api_key_id: Option<Uuid>,
}

/// Where a new token goes: a new family, or the child of a used one.
struct Lineage {
    family_id: Uuid,
    parent_id: Option<Uuid>,
}

/// Issues the first token of a new family.
pub(crate) async fn start(db: &Db, grant: &Grant, now_ms: i64, ttl_ms: i64) -> Result<Secret> {
    let lineage = Lineage {
        family_id: Uuid::now_v7(),
        parent_id: None,
    };
    insert(db, grant, &lineage, now_ms, ttl_ms).await
}

async fn insert(
    db: &Db,
    grant: &Grant,
    lineage: &Lineage,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<Secret> {
    let token = random_token();
    let scopes = serde_json::to_string(&grant.scopes)
        .map_err(|e| Error::internal(format!("cannot encode scopes: {e}")))?;
    sqlx::query(
        "INSERT INTO refresh_tokens (id, user_id, token_hash, family_id, parent_id, api_key_id, \
         scopes, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Uuid::now_v7().to_string())
    .bind(grant.user_id.to_string())
    .bind(sha256_hex(&token))
    .bind(lineage.family_id.to_string())
    .bind(lineage.parent_id.map(|id| id.to_string()))
    .bind(grant.api_key_id.map(|id| id.to_string()))
    .bind(scopes)
    .bind(now_ms)
    .bind(now_ms.saturating_add(ttl_ms))
    .execute(db.pool())
    .await
    .map_err(db_err("storing a refresh token"))?;
    Ok(Secret::new(token))
}

/// Uses `token`: marks it used and returns its grant with the child token. A used,
/// revoked, expired or unknown token fails with `Unauthenticated`; a used one also
/// revokes its family.
pub(crate) async fn rotate(
    db: &Db,
    token: &Secret,
    now_ms: i64,
    ttl_ms: i64,
) -> Result<(Grant, Secret)> {
    let invalid = || unauthenticated("the refresh token is not valid: log in again");
    let hash = sha256_hex(token.expose());
    let row = sqlx::query(
        "SELECT id, user_id, token_hash, family_id, api_key_id, scopes, expires_at, used_at, \
         revoked_at FROM refresh_tokens WHERE token_hash = $1",
    )
    .bind(&hash)
    .fetch_optional(db.pool())
    .await
    .map_err(db_err("looking up a refresh token"))?
    .ok_or_else(invalid)?;
    let read = || -> std::result::Result<_, sqlx::Error> {
        Ok((
            row.try_get::<String, _>("id")?,
            row.try_get::<String, _>("user_id")?,
            row.try_get::<String, _>("token_hash")?,
            row.try_get::<String, _>("family_id")?,
            row.try_get::<Option<String>, _>("api_key_id")?,
            row.try_get::<String, _>("scopes")?,
            row.try_get::<i64, _>("expires_at")?,
            row.try_get::<Option<i64>, _>("used_at")?,
            row.try_get::<Option<i64>, _>("revoked_at")?,
        ))
    };
    let (id, user_id, stored_hash, family_id, api_key_id, scopes, expires_at, used_at, revoked_at) =
        read().map_err(db_err("reading a refresh token"))?;
    if !same_hash(&stored_hash, &hash) || revoked_at.is_some() || expires_at <= now_ms {
        return Err(invalid());
    }
    if used_at.is_some() {
        revoke_family(db, &family_id, now_ms).await?;
        return Err(unauthenticated(
            "the refresh token was already used: the session is revoked, log in again",
        ));
    }
    // Only one of two racing uses wins the update; the loser counts as reuse.
    let marked = sqlx::query(
        "UPDATE refresh_tokens SET used_at = $1 WHERE id = $2 AND used_at IS NULL \
         AND revoked_at IS NULL",
    )
    .bind(now_ms)
    .bind(&id)
    .execute(db.pool())
    .await
    .map_err(db_err("using a refresh token"))?;
    if marked.rows_affected() != 1 {
        revoke_family(db, &family_id, now_ms).await?;
        return Err(invalid());
    }
    let uuid = |s: &str| {
        Uuid::parse_str(s).map_err(|_| Error::internal("a stored refresh token id is malformed"))
    };
    let grant = Grant {
        user_id: uuid(&user_id)?,
        scopes: serde_json::from_str(&scopes)
            .map_err(|_| Error::internal("stored refresh token scopes are malformed"))?,
        api_key_id: api_key_id.as_deref().map(uuid).transpose()?,
    };
    let lineage = Lineage {
        family_id: uuid(&family_id)?,
        parent_id: Some(uuid(&id)?),
    };
    let child = insert(db, &grant, &lineage, now_ms, ttl_ms).await?;
    Ok((grant, child))
}

/// Revokes every token of a family.
pub(crate) async fn revoke_family(db: &Db, family_id: &str, now_ms: i64) -> Result<()> {
    sqlx::query(
        "UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL",
    )
    .bind(now_ms)
    .bind(family_id)
    .execute(db.pool())
    .await
    .map_err(db_err("revoking refresh tokens"))?;
    Ok(())
}

/// Deletes refresh tokens that can never be used again: expired before `now_ms`, or
/// revoked. Used tokens that have not expired are kept: presenting one again is how
/// reuse is detected. Answers how many were deleted.
pub(crate) async fn prune(db: &Db, now_ms: i64) -> Result<u64> {
    let done =
        sqlx::query("DELETE FROM refresh_tokens WHERE expires_at < $1 OR revoked_at IS NOT NULL")
            .bind(now_ms)
            .execute(db.pool())
            .await
            .map_err(db_err("pruning refresh tokens"))?;
    Ok(done.rows_affected())
}
