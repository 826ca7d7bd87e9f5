//! The `users` table.

use sqlx::Row;
use sqlx::any::AnyRow;
use uuid::Uuid;

use crate::api::{Scope, Scopes, User};
use crate::store::{Db, db_err, from_ms};
use crate::{Error, ErrorKind, Result};

/// A stored user, with its password hash.
#[derive(Debug, Clone)]
pub(crate) struct UserRow {
    pub(crate) user: User,
    pub(crate) password_hash: String,
}

/// Every scope a user may hold: all of them for an admin, all but `admin` otherwise.
pub(crate) fn user_scopes(is_admin: bool) -> Scopes {
    Scope::ALL
        .into_iter()
        .filter(|s| is_admin || *s != Scope::Admin)
        .collect()
}

/// Checks a new user's name and password.
pub(crate) fn validate(username: &str, password: &str) -> Result<()> {
    if username.is_empty()
        || username.chars().count() > 64
        || username
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(Error::invalid_request(format!(
            "username {username:?} is not valid: expected 1 to 64 characters without spaces"
        ))
        .at("username"));
    }
    if password.chars().count() < 8 {
        return Err(Error::invalid_request(
            "password is too short: expected at least 8 characters",
        )
        .at("password"));
    }
    Ok(())
}

fn user_row(row: &AnyRow) -> Result<UserRow> {
    let get = || -> std::result::Result<UserRow, sqlx::Error> {
        let id: String = row.try_get("id")?;
        let is_admin: i64 = row.try_get("is_admin")?;
        Ok(UserRow {
            user: User {
                id: Uuid::parse_str(&id).map_err(|e| sqlx::Error::Decode(Box::new(e)))?,
                username: row.try_get("username")?,
                is_admin: is_admin != 0,
                created_at: from_ms(row.try_get("created_at")?),
            },
            password_hash: row.try_get("password_hash")?,
        })
    };
    get().map_err(db_err("reading a user"))
}

const COLUMNS: &str = "id, username, password_hash, is_admin, created_at";

/// Stores a new user; a taken name is [`ErrorKind::Conflict`].
pub(crate) async fn insert(db: &Db, user: &User, password_hash: &str, now_ms: i64) -> Result<()> {
    let result = sqlx::query(
        "INSERT INTO users (id, username, password_hash, is_admin, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $5)",
    )
    .bind(user.id.to_string())
    .bind(&user.username)
    .bind(password_hash)
    .bind(i64::from(user.is_admin))
    .bind(now_ms)
    .execute(db.pool())
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Err(Error::new(
            ErrorKind::Conflict,
            format!("username {:?} is already taken", user.username),
        )
        .at("username")),
        Err(e) => Err(db_err("storing a user")(e)),
    }
}

/// A user by name.
pub(crate) async fn by_name(db: &Db, username: &str) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE username = $1");
    let row = sqlx::query(&sql)
        .bind(username)
        .fetch_optional(db.pool())
        .await
        .map_err(db_err("looking up a user"))?;
    row.as_ref().map(user_row).transpose()
}

/// A user by id.
pub(crate) async fn by_id(db: &Db, id: Uuid) -> Result<Option<UserRow>> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    let row = sqlx::query(&sql)
        .bind(id.to_string())
        .fetch_optional(db.pool())
        .await
        .map_err(db_err("looking up a user"))?;
    row.as_ref().map(user_row).transpose()
}

/// How many users exist.
pub(crate) async fn count(db: &Db) -> Result<i64> {
    sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(db.pool())
        .await
        .map_err(db_err("counting users"))
}
