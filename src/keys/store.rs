//! The key store: one PKCS#8 PEM file per key in `keys.dir`.
//!
//! The only code that touches the filesystem for keys. A file holds a few lines of TOML
//! metadata (RFC 7468 §5.2 allows text before the PEM block, so `openssl` reads these files
//! as they are) and the private key:
//!
//! ```text
//! # tokenmint signing key. Private: keep it mode 0600 and out of version control.
//! kid = "q0ZsD...."
//! alg = "ES256"
//! created_at = "2026-11-22T00:00:00Z"
//! -----BEGIN PRIVATE KEY-----
//! ...
//! -----END PRIVATE KEY-----
//! ```
//!
//! Files are written to a temporary name and renamed into place, so a reader never sees a
//! half-written key. A PEM without metadata (made with `openssl genpkey`) is accepted too:
//! its algorithm is read off the key and its creation time is the file's modification time.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde::Deserialize;

use super::{Algorithm, KeyError, SigningKey};

/// File extension of key files; anything else in the directory is ignored.
const KEY_EXTENSION: &str = "pem";

/// A key as found in the store.
#[derive(Debug)]
pub(crate) struct StoredKey {
    /// The loaded key.
    pub(crate) key: SigningKey,
    /// When the key was created (metadata, else the file's modification time).
    pub(crate) created_at: SystemTime,
    /// The file it came from.
    pub(crate) path: PathBuf,
}

/// The metadata lines before the PEM block. Unknown fields are ignored so that newer
/// versions can add fields without breaking older replicas that read the same directory.
#[derive(Debug, Default, Deserialize)]
struct KeyMeta {
    kid: Option<String>,
    alg: Option<String>,
    created_at: Option<String>,
}

/// The key directory.
#[derive(Debug, Clone)]
pub(crate) struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// A store over `dir` (which need not exist yet).
    pub(crate) fn new(dir: impl Into<PathBuf>) -> Self {
        KeyStore { dir: dir.into() }
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// Loads every key file. A file that cannot be used is reported in the second list and
    /// skipped; it never prevents the others from loading. A missing directory is empty.
    pub(crate) fn load(&self) -> (Vec<StoredKey>, Vec<KeyError>) {
        let mut keys = Vec::new();
        let mut errors = Vec::new();
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (keys, errors),
            Err(source) => {
                errors.push(KeyError::Io { path: self.dir.clone(), source });
                return (keys, errors);
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == KEY_EXTENSION))
            .collect();
        paths.sort();
        for path in paths {
            match load_file(&path) {
                Ok(k) => keys.push(k),
                Err(e) => errors.push(e),
            }
        }
        (keys, errors)
    }

    /// Generates a key for `alg`, writes it atomically with mode 0600, and returns it.
    pub(crate) fn create(&self, alg: Algorithm, now: SystemTime) -> Result<StoredKey, KeyError> {
        let key = SigningKey::generate(alg)?;
        let path = self.write(&key, now)?;
        Ok(StoredKey { key, created_at: now, path })
    }

    /// Writes `key` as `<kid>.pem`: temporary file, fsync, rename.
    pub(crate) fn write(&self, key: &SigningKey, created_at: SystemTime) -> Result<PathBuf, KeyError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Io { path, source }
        };
        create_private_dir(&self.dir).map_err(io_err(&self.dir))?;
        let path = self.dir.join(format!("{}.{KEY_EXTENSION}", key.kid()));
        let tmp = self.dir.join(format!(".{}.{KEY_EXTENSION}.tmp", key.kid()));
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", key.pkcs8_der()));
        let text = format!(
            "# tokenmint signing key. Private: keep it mode 0600 and out of version control.\n\
             kid = \"{}\"\nalg = \"{}\"\ncreated_at = \"{}\"\n{pem}",
            key.kid(),
            key.alg(),
            humantime::format_rfc3339_seconds(created_at),
        );
        let mut file = open_private(&tmp).map_err(io_err(&tmp))?;
        file.write_all(text.as_bytes()).and_then(|()| file.sync_all()).map_err(io_err(&tmp))?;
        fs::rename(&tmp, &path).map_err(io_err(&path))?;
        Ok(path)
    }
}

fn load_file(path: &Path) -> Result<StoredKey, KeyError> {
    let bad = |reason: String| KeyError::BadKeyFile { path: path.to_path_buf(), reason };
    let text =
        fs::read_to_string(path).map_err(|source| KeyError::Io { path: path.to_path_buf(), source })?;
    warn_if_shared(path);
    let begin = text.find("-----BEGIN").ok_or_else(|| bad("no PEM block found".into()))?;
    let (preamble, block) = text.split_at(begin);
    let meta: KeyMeta = toml::from_str(preamble).map_err(|e| bad(format!("metadata: {}", e.message())))?;
    let pem = pem::parse(block).map_err(|e| bad(format!("PEM: {e}")))?;
    match pem.tag() {
        "PRIVATE KEY" => {}
        "EC PRIVATE KEY" | "RSA PRIVATE KEY" => {
            return Err(bad(format!(
                "{} is not PKCS#8; convert it with `openssl pkcs8 -topk8 -nocrypt`",
                pem.tag()
            )));
        }
        other => return Err(bad(format!("expected a `PRIVATE KEY` PEM block, found `{other}`"))),
    }
    let alg = meta.alg.as_deref().map(str::parse::<Algorithm>).transpose().map_err(|e| bad(e.to_string()))?;
    let key = SigningKey::from_pkcs8(pem.contents(), alg).map_err(|e| bad(e.to_string()))?;
    if let Some(kid) = &meta.kid
        && kid != key.kid()
    {
        return Err(bad(format!("metadata kid `{kid}` does not match the key's thumbprint `{}`", key.kid())));
    }
    let created_at = match &meta.created_at {
        Some(t) => humantime::parse_rfc3339(t).map_err(|e| bad(format!("created_at: {e}")))?,
        None => fs::metadata(path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH),
    };
    Ok(StoredKey { key, created_at, path: path.to_path_buf() })
}

#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o077 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{:o}", meta.permissions().mode() & 0o777),
            "private key file is readable by group or others; run `chmod 600` on it"
        );
    }
}

#[cfg(not(unix))]
fn warn_if_shared(_path: &Path) {}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    fs::create_dir_all(dir)
}

#[cfg(unix)]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(path)
}

#[cfg(not(unix))]
fn open_private(path: &Path) -> std::io::Result<fs::File> {
    fs::OpenOptions::new().write(true).create(true).truncate(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn written_keys_load_back_with_metadata_and_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("keys"));
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let created = store.create(Algorithm::EdDSA, now).unwrap();
        let (keys, errors) = store.load();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].key.kid(), created.key.kid());
        assert_eq!(keys[0].created_at, now);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&created.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn a_corrupt_file_is_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        store.create(Algorithm::ES256, SystemTime::now()).unwrap();
        fs::write(
            dir.path().join("broken.pem"),
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        fs::write(dir.path().join("README.md"), "not a key").unwrap();
        let (keys, errors) = store.load();
        assert_eq!(keys.len(), 1);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("broken.pem"));
    }
}
