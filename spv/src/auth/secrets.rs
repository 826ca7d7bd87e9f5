//! The JWT signing secret: from configuration, or generated once and kept in
//! `<data_dir>/jwt_secret` (mode 0600), read again on later starts.

use std::fmt;
use std::io::Write;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore;

use crate::{Error, ErrorKind, Result};

/// The file name of the generated secret inside the data directory.
pub const JWT_SECRET_FILE: &str = "jwt_secret";

/// The shortest configured secret accepted, in bytes.
pub const MIN_SECRET_LEN: usize = 32;

/// The HS256 key; its `Debug` prints `[redacted]`.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret(Vec<u8>);

impl fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl JwtSecret {
    /// A configured secret (`JWT_SECRET`), used as its UTF-8 bytes; at least
    /// [`MIN_SECRET_LEN`] bytes.
    ///
    /// ```
    /// use spv::auth::JwtSecret;
    /// assert!(JwtSecret::from_config("short").is_err());
    /// assert!(JwtSecret::from_config(&"x".repeat(32)).is_ok());
    /// ```
    pub fn from_config(secret: &str) -> Result<JwtSecret> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(Error::invalid_request(format!(
                "JWT_SECRET is {} bytes long: expected at least {MIN_SECRET_LEN}",
                secret.len()
            )));
        }
        Ok(JwtSecret(secret.as_bytes().to_vec()))
    }

    /// The configured secret when there is one, else [`JwtSecret::load_or_create`].
    pub fn resolve(configured: Option<&str>, data_dir: &Path) -> Result<JwtSecret> {
        match configured {
            Some(secret) => JwtSecret::from_config(secret),
            None => JwtSecret::load_or_create(data_dir),
        }
    }

    /// Reads `<data_dir>/jwt_secret`, or creates it with 32 random bytes (base64) and
    /// mode 0600. Creation is atomic: the file is written under a temporary name and
    /// linked into place, so a concurrent start reads the same secret. Blocking; call it
    /// at start-up.
    pub fn load_or_create(data_dir: &Path) -> Result<JwtSecret> {
        let path = data_dir.join(JWT_SECRET_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => return decode(&text, &path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e, &path)),
        }
        std::fs::create_dir_all(data_dir).map_err(|e| io_err(e, data_dir))?;
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        let mut suffix = [0_u8; 8];
        rand::rng().fill_bytes(&mut suffix);
        let temp = data_dir.join(format!(
            ".{JWT_SECRET_FILE}.tmp-{}",
            crate::auth::keys::b64(&suffix)
        ));
        write_private(&temp, STANDARD.encode(bytes).as_bytes())?;
        let linked = std::fs::hard_link(&temp, &path);
        let _ = std::fs::remove_file(&temp);
        match linked {
            Ok(()) => Ok(JwtSecret(bytes.to_vec())),
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(&path).map_err(|e| io_err(e, &path))?;
                decode(&text, &path)
            }
            Err(e) => Err(io_err(e, &path)),
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

fn decode(text: &str, path: &Path) -> Result<JwtSecret> {
    match STANDARD.decode(text.trim()) {
        Ok(bytes) if bytes.len() >= MIN_SECRET_LEN => Ok(JwtSecret(bytes)),
        _ => Err(Error::invalid_request(format!(
            "{} is not a valid secret: expected base64 of at least {MIN_SECRET_LEN} bytes \
             (delete it to generate a new one; issued tokens stop working)",
            path.display()
        ))),
    }
}

fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).map_err(|e| io_err(e, path))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| io_err(e, path))
}

fn io_err(e: std::io::Error, path: &Path) -> Error {
    Error::new(
        ErrorKind::Io,
        format!(
            "cannot read or write the JWT secret {}: {e}",
            path.display()
        ),
    )
    .with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secret_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = JwtSecret::load_or_create(dir.path()).unwrap();
        assert_eq!(first.bytes().len(), 32);
        let path = dir.path().join(JWT_SECRET_FILE);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let again = JwtSecret::load_or_create(dir.path()).unwrap();
        assert_eq!(first, again, "a restart reads the same secret");
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary file is left behind");
        assert_eq!(format!("{first:?}"), "[redacted]");
    }

    #[test]
    fn configured_secret_wins_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let configured = "k".repeat(40);
        let secret = JwtSecret::resolve(Some(&configured), dir.path()).unwrap();
        assert_eq!(secret.bytes(), configured.as_bytes());
        assert!(!dir.path().join(JWT_SECRET_FILE).exists());
        std::fs::write(dir.path().join(JWT_SECRET_FILE), "bad").unwrap();
        let err = JwtSecret::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains(JWT_SECRET_FILE), "{err}");
    }
}
