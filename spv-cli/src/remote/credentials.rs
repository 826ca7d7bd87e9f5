//! The login that `spv-cli login` keeps: the server, the user name and a refresh token in
//! `credentials.json` in the user's configuration directory.
//!
//! The directory is `$SPV_CONFIG_DIR`, else `$XDG_CONFIG_HOME/spv`, else
//! `$HOME/.config/spv`. On Unix it is created with mode 0700 and the file with mode 0600
//! (set when the file is created, so it is never readable by others, not even for a
//! moment). The file is replaced whole: written under a temporary name, then renamed.
//! The password is never stored; the refresh token is single-use and replaced by the
//! rotated one after every refresh.

use std::ffi::OsString;
use std::io::{self, Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use spv::api::Secret;

/// The file's name in the configuration directory.
const FILE_NAME: &str = "credentials.json";

/// The largest credentials file read; a bigger one is not ours.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// A stored login.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct Credentials {
    /// The server's base URL, normalised (no trailing slash).
    pub(crate) server: String,
    /// Who logged in.
    pub(crate) username: String,
    /// The latest refresh token (single-use).
    pub(crate) refresh_token: Secret,
}

/// Where the credentials file is.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    path: PathBuf,
}

impl Store {
    /// The file named by the process environment.
    pub(crate) fn locate() -> anyhow::Result<Store> {
        Store::from_env(|name| std::env::var_os(name))
    }

    /// The file named by `var` (an environment lookup): `SPV_CONFIG_DIR`, else
    /// `XDG_CONFIG_HOME/spv`, else `HOME/.config/spv`. Relative XDG paths are ignored, as
    /// the XDG specification asks.
    pub(crate) fn from_env(var: impl Fn(&str) -> Option<OsString>) -> anyhow::Result<Store> {
        let set = |name: &str| {
            var(name)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from)
        };
        let dir = if let Some(dir) = set("SPV_CONFIG_DIR") {
            dir
        } else if let Some(xdg) = set("XDG_CONFIG_HOME").filter(|p| p.is_absolute()) {
            xdg.join("spv")
        } else if let Some(home) = set("HOME") {
            home.join(".config").join("spv")
        } else {
            bail!(
                "no configuration directory for the login: set SPV_CONFIG_DIR, \
                 XDG_CONFIG_HOME or HOME"
            );
        };
        Ok(Store {
            path: dir.join(FILE_NAME),
        })
    }

    /// The file's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The stored login, `None` when there is none.
    pub(crate) fn load(&self) -> anyhow::Result<Option<Credentials>> {
        let file = match std::fs::File::open(&self.path) {
            Ok(file) => file,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => {
                return Err(err).with_context(|| format!("reading {}", self.path.display()));
            }
        };
        warn_if_shared(&file, &self.path);
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("reading {}", self.path.display()))?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            bail!(
                "{} is larger than {MAX_FILE_BYTES} bytes: not a credentials file of \
                 spv-cli; remove it and run spv-cli login again",
                self.path.display()
            );
        }
        let credentials = serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "{} is not a credentials file of spv-cli: run spv-cli logout, then \
                 spv-cli login",
                self.path.display()
            )
        })?;
        Ok(Some(credentials))
    }

    /// Replaces the stored login: a new file (mode 0600 on Unix) renamed over the old
    /// one, in a directory created with mode 0700 if missing. Blocking: call it off the
    /// async runtime.
    pub(crate) fn save(&self, credentials: &Credentials) -> anyhow::Result<()> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        create_private_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
        let tmp = dir.join(format!(
            ".{FILE_NAME}.{}.{}.tmp",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let written = (|| -> io::Result<()> {
            let mut file = create_private_file(&tmp)?;
            serde_json::to_writer_pretty(&mut file, credentials)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        })();
        if let Err(err) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(err).with_context(|| format!("writing {}", self.path.display()));
        }
        Ok(())
    }

    /// Removes the stored login; `false` when there was none.
    pub(crate) fn remove(&self) -> anyhow::Result<bool> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(true),
            Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(err) => Err(err).with_context(|| format!("removing {}", self.path.display())),
        }
    }
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

#[cfg(unix)]
fn create_private_file(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
}

/// Warns when others may read the file (someone copied it, or changed its mode).
#[cfg(unix)]
fn warn_if_shared(file: &std::fs::File, path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = file.metadata()
        && meta.permissions().mode() & 0o077 != 0
    {
        eprintln!(
            "spv-cli: warning: {} may be read by other users (mode {:o}); run \
             chmod 600 on it",
            path.display(),
            meta.permissions().mode() & 0o777
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_file: &std::fs::File, _path: &Path) {}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(pairs: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn the_directory_follows_spv_config_dir_then_xdg_then_home() {
        let all = [
            ("SPV_CONFIG_DIR", "/c"),
            ("XDG_CONFIG_HOME", "/x"),
            ("HOME", "/h"),
        ];
        let path = |pairs: &[(&str, &str)]| Store::from_env(env(pairs)).map(|s| s.path);
        assert_eq!(path(&all).unwrap(), Path::new("/c/credentials.json"));
        assert_eq!(
            path(&all[1..]).unwrap(),
            Path::new("/x/spv/credentials.json")
        );
        assert_eq!(
            path(&all[2..]).unwrap(),
            Path::new("/h/.config/spv/credentials.json")
        );
        // A relative XDG_CONFIG_HOME is invalid by the specification: ignored.
        assert_eq!(
            path(&[("XDG_CONFIG_HOME", "rel"), ("HOME", "/h")]).unwrap(),
            Path::new("/h/.config/spv/credentials.json")
        );
        let err = path(&[("HOME", "")]).unwrap_err().to_string();
        assert!(err.contains("SPV_CONFIG_DIR"), "{err}");
    }

    #[test]
    fn a_login_is_saved_privately_loaded_and_removed() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("nested").join("spv");
        let dir_str = dir.to_str().unwrap().to_owned();
        let store = Store::from_env(env(&[("SPV_CONFIG_DIR", &dir_str)])).unwrap();
        assert_eq!(store.load().unwrap(), None);
        let login = Credentials {
            server: "http://127.0.0.1:3000".into(),
            username: "ann".into(),
            refresh_token: Secret::new("first"),
        };
        store.save(&login).unwrap();
        assert_eq!(store.load().unwrap().as_ref(), Some(&login));
        let rotated = Credentials {
            refresh_token: Secret::new("second"),
            ..login
        };
        store.save(&rotated).unwrap();
        assert_eq!(store.load().unwrap(), Some(rotated));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(store.path()), 0o600);
            assert_eq!(mode(&dir), 0o700);
        }
        let names: Vec<_> = std::fs::read_dir(&dir).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
        assert!(store.remove().unwrap());
        assert!(!store.remove().unwrap());
        assert_eq!(store.load().unwrap(), None);
    }

    #[test]
    fn a_foreign_file_is_refused_with_its_name() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_str().unwrap().to_owned();
        let store = Store::from_env(env(&[("SPV_CONFIG_DIR", &dir)])).unwrap();
        std::fs::write(store.path(), b"{\"token\": 1}").unwrap();
        let err = format!("{:#}", store.load().unwrap_err());
        assert!(err.contains("credentials.json"), "{err}");
        std::fs::write(store.path(), vec![b' '; MAX_FILE_BYTES as usize + 1]).unwrap();
        let err = format!("{:#}", store.load().unwrap_err());
        assert!(err.contains("larger than"), "{err}");
    }

    #[test]
    fn the_token_never_shows_in_debug_output() {
        let login = Credentials {
            server: "http://s".into(),
            username: "ann".into(),
            refresh_token: Secret::new("very-secret"),
        };
        assert!(!format!("{login:?}").contains("very-secret"));
    }
}
