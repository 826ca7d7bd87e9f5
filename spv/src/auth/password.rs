//! Password hashing with argon2id, off the async reactor and bounded by a semaphore.

use std::sync::Arc;
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier, SaltString};
use rand::RngCore;
use tokio::sync::Semaphore;

use crate::api::Secret;
use crate::{Error, ErrorKind, Result};

/// How long a hash or a check may take, waiting for a permit included.
const HASH_TIMEOUT: Duration = Duration::from_secs(30);

/// Hashes and checks passwords; clones share the permits.
#[derive(Debug, Clone)]
pub(crate) struct Passwords {
    permits: Arc<Semaphore>,
}

impl Passwords {
    /// At most `permits` hashes run at once (each takes ~19 MiB and tens of ms of CPU).
    pub(crate) fn new(permits: usize) -> Self {
        Passwords {
            permits: Arc::new(Semaphore::new(permits.max(1))),
        }
    }

    /// An argon2id PHC string of `password` with a random salt.
    pub(crate) async fn hash(&self, password: &Secret) -> Result<String> {
        let password = password.clone();
        self.run(move || hash_blocking(password.expose())).await
    }

    /// Whether `password` matches the PHC string `hash`.
    pub(crate) async fn verify(&self, password: &Secret, hash: &str) -> Result<bool> {
        let password = password.clone();
        let hash = hash.to_owned();
        self.run(move || verify_blocking(password.expose(), &hash))
            .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let task = async {
            let permit = Arc::clone(&self.permits)
                .acquire_owned()
                .await
                .map_err(|_| Error::internal("the password hasher is shut down"))?;
            tokio::task::spawn_blocking(move || {
                let _permit = permit;
                work()
            })
            .await
            .map_err(|e| Error::internal(format!("password hashing failed: {e}")))?
        };
        tokio::time::timeout(HASH_TIMEOUT, task)
            .await
            .map_err(|_| {
                Error::new(
                    ErrorKind::Overloaded,
                    "password hashing is saturated: try again later",
                )
            })?
    }
}

fn hash_blocking(password: &str) -> Result<String> {
    let mut salt = [0_u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt)
        .map_err(|e| Error::internal(format!("cannot encode a salt: {e}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::internal(format!("cannot hash a password: {e}")))
}

fn verify_blocking(password: &str, hash: &str) -> Result<bool> {
    let parsed = PasswordHash::new(hash)
        .map_err(|e| Error::internal(format!("a stored password hash is malformed: {e}")))?;
    Ok(Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok())
}

/// A valid hash of a password nobody knows, checked against when a user does not exist
/// so that unknown users take as long as wrong passwords.
pub(crate) fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut random = [0_u8; 24];
        rand::rng().fill_bytes(&mut random);
        hash_blocking(&crate::auth::keys::b64(&random)).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_salted_and_verify() {
        let passwords = Passwords::new(2);
        let secret = Secret::new("correct horse");
        let a = passwords.hash(&secret).await.unwrap();
        let b = passwords.hash(&secret).await.unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(passwords.verify(&secret, &a).await.unwrap());
        assert!(!passwords.verify(&"wrong".into(), &a).await.unwrap());
        assert!(passwords.verify(&secret, "not a hash").await.is_err());
    }
}
