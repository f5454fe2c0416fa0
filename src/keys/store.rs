//! The key store: one PKCS#8 PEM file per key in `keys.dir`.
//!
//! The only code that touches the filesystem for keys: reading, stamping, creating,
//! revoking and deleting key files. A file holds a few lines of TOML
//! metadata (RFC 7468 §5.2 allows text before the PEM block, so `openssl` reads these files
//! as they are) and the private key:
//!
//! ```text
//! # tokenmint signing key. Private: keep it mode 0600 and out of version control.
//! kid = "q0ZsD...."
//! alg = "ES256"
//! created_at = "2026-11-22T00:00:00Z"
//! activate_at = "2026-11-22T01:00:00Z"
//! -----BEGIN PRIVATE KEY-----
//! ...
//! -----END PRIVATE KEY-----
//! ```
//!
//! A revoked key also has `revoked_at`. Without `kid` and `alg` lines, the algorithm is read
//! off the key. A file with neither `activate_at` nor `created_at` (a bare PEM from
//! `openssl genpkey`) is refused with an error that says to run `tokenmint keys import`:
//! when a key signs is never guessed from the file's modification time, which `touch` or a
//! Kubernetes Secret update changes, and which differs between replicas.
//!
//! Pruning a revoked key leaves a tombstone, `<kid>.revoked`, with the kid and when it was
//! revoked (no secret). It keeps the key revoked for good: `keys import` refuses it, and a
//! key file brought back from a backup loads as revoked.
//!
//! New keys are named after their activation slot, `tm-<activate_at unix seconds>-<alg>.pem`,
//! and created with a no-replace link: when two writers create the key for the same slot
//! at once, the second finds the file there and keeps the first. Every write goes to a
//! temporary file first, so a reader never sees a half-written key.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;

use super::schedule::{DatedKey, KeyDates, KeyTimes};
use super::{Algorithm, KeyError, SigningKey};
use crate::files;

/// File extension of key files; anything else in the directory is ignored.
const KEY_EXTENSION: &str = "pem";

/// File extension of tombstones: `<kid>.revoked`, written when a revoked key is pruned.
const TOMBSTONE_EXTENSION: &str = "revoked";

/// Age after which a temporary key file (`.<kid>.<nonce>.tmp`) is taken for the leftover of
/// a writer that crashed between writing and linking it, and deleted: a write takes
/// milliseconds, and the file holds a private key.
const STALE_TEMP_AGE: Duration = Duration::from_secs(600);

/// A key as found in the store.
#[derive(Debug)]
pub(crate) struct StoredKey {
    /// The loaded key.
    pub(crate) key: Arc<SigningKey>,
    /// Its dates: those of the first file (by name), revoked if any file revoked the key.
    pub(crate) dates: KeyDates,
    /// The first file (by name) that holds the key.
    pub(crate) path: PathBuf,
    /// Every file that holds the key, `path` first, each with its own dates. Usually one;
    /// more when a key was copied into the directory under another name.
    pub(crate) files: Vec<(PathBuf, KeyDates)>,
}

impl StoredKey {
    /// What the schedule needs to know about this key.
    pub(crate) fn times(&self) -> KeyTimes {
        self.dated().times()
    }

    /// The key and its dates, without the file.
    pub(crate) fn dated(&self) -> DatedKey {
        DatedKey { key: Arc::clone(&self.key), dates: self.dates }
    }
}

/// Identity of a key file's content: path, size, modification time, inode. Following
/// symlinks, so a Kubernetes Secret volume's `..data` swap changes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileStamp {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

impl FileStamp {
    /// The stamp of the file at `path` now (zeros for a file that vanished meanwhile).
    fn of(path: PathBuf) -> Self {
        let meta = fs::metadata(&path).ok();
        FileStamp {
            len: meta.as_ref().map_or(0, |m| m.len()),
            modified: meta.as_ref().and_then(|m| m.modified().ok()),
            inode: meta.as_ref().map_or(0, inode),
            path,
        }
    }
}

#[cfg(unix)]
fn inode(meta: &fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &fs::Metadata) -> u64 {
    0
}

/// The outcome of creating a key for a slot.
#[derive(Debug)]
pub(crate) enum Created {
    /// This call wrote the key.
    New(StoredKey),
    /// Another writer had already created the key for this slot; nothing was written.
    AlreadyThere(PathBuf),
}

/// The metadata lines before the PEM block (and the whole of a tombstone), in TOML. Unknown
/// fields are ignored so that newer versions can add fields without breaking older replicas
/// that read the same directory. Instants are RFC 3339, to the second.
#[derive(Debug, Default, Serialize, Deserialize)]
struct KeyMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alg: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activate_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    revoked_at: Option<String>,
}

impl KeyMeta {
    /// The metadata of `key` with `dates`.
    fn of(key: &SigningKey, dates: &KeyDates) -> Self {
        KeyMeta {
            kid: Some(key.kid().to_owned()),
            alg: Some(key.alg().as_str().to_owned()),
            created_at: Some(rfc3339(dates.created_at)),
            activate_at: Some(rfc3339(dates.activate_at)),
            revoked_at: dates.revoked_at.map(rfc3339),
        }
    }

    /// The TOML lines.
    fn to_toml(&self) -> Result<String, KeyError> {
        toml::to_string(self).map_err(|e| KeyError::Metadata(e.to_string()))
    }
}

/// An instant as key files write it: RFC 3339, to the second.
fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// First line of every key file.
const KEY_FILE_HEADER: &str =
    "# tokenmint signing key. Private: keep it mode 0600 and out of version control.\n";

/// First lines of every tombstone.
const TOMBSTONE_HEADER: &str = "# tokenmint: this key was revoked and its key files pruned. This file keeps it revoked\n\
     # (`keys import` refuses it; a key file restored from a backup loads as revoked).\n\
     # It holds no secret. Keep it.\n";

/// Random characters in a temporary file's name (`.<kid>.<random>.tmp`).
const TEMP_RANDOM_CHARS: usize = 16;

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

    /// The key files in the directory, sorted. A missing directory has none.
    pub(crate) fn key_files(&self) -> Result<Vec<PathBuf>, KeyError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(KeyError::Io { path: self.dir.clone(), source }),
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == KEY_EXTENSION))
            .collect();
        paths.sort();
        Ok(paths)
    }

    /// The stamps of every key file, to notice changes without reading the keys.
    pub(crate) fn stamps(&self) -> Result<Vec<FileStamp>, KeyError> {
        Ok(self.key_files()?.into_iter().map(FileStamp::of).collect())
    }

    /// Loads every key file. A file that cannot be used is reported in the second list and
    /// skipped; it never prevents the others from loading.
    ///
    /// Several files holding the same key (same kid) make one key: the dates of the first
    /// file (by name), but revoked (at the earliest revocation) if any of the files revokes
    /// it, so a revocation recorded in one copy is never undone by another. Each extra copy
    /// is reported in the second list.
    pub(crate) fn load(&self) -> (Vec<StoredKey>, Vec<KeyError>) {
        self.load_keeping(&[])
    }

    /// [`Self::load`], except that a file which is still there but can no longer be used
    /// (truncated or rewritten in place, replaced by something that is not a key file) keeps
    /// the key it held in `last`, the keys of the previous load, and the error says so. A
    /// key whose file is edited badly therefore neither leaves the JWKS while its tokens
    /// live nor hands signing back to an older key; only deleting the file (or revoking the
    /// key) takes it out.
    pub(crate) fn load_keeping(&self, last: &[StoredKey]) -> (Vec<StoredKey>, Vec<KeyError>) {
        let mut keys: Vec<StoredKey> = Vec::new();
        let mut errors = Vec::new();
        let paths = match self.key_files() {
            Ok(p) => p,
            Err(e) => return (keys, vec![e]),
        };
        for path in paths {
            let read = load_file(&path).or_else(|e| kept_from(last, &path, e, &mut errors));
            match read.map(|k| self.apply_tombstone(k, &mut errors)) {
                Ok(k) => match keys.iter_mut().find(|o| o.key.kid() == k.key.kid()) {
                    Some(first) => {
                        errors.push(KeyError::BadKeyFile {
                            path: path.clone(),
                            reason: format!(
                                "same key ({}) as {}: both files count as one key, revoked if either is",
                                k.key.kid(),
                                first.path.display()
                            ),
                        });
                        first.dates.revoked_at = earliest(first.dates.revoked_at, k.dates.revoked_at);
                        first.files.push((path, k.dates));
                    }
                    None => keys.push(k),
                },
                Err(e) => errors.push(e),
            }
        }
        (keys, errors)
    }

    /// Deletes temporary key files older than [`STALE_TEMP_AGE`] at `now`. A replica that
    /// may not write the directory leaves them (and says nothing: the writer will).
    pub(crate) fn remove_stale_temps(&self, now: SystemTime) {
        let Ok(entries) = fs::read_dir(&self.dir) else { return };
        for entry in entries.filter_map(Result::ok) {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !is_temp_name(name) {
                continue;
            }
            let modified = entry.metadata().and_then(|m| m.modified());
            let stale = modified.is_ok_and(|m| now.duration_since(m).is_ok_and(|age| age > STALE_TEMP_AGE));
            if stale && fs::remove_file(entry.path()).is_ok() {
                tracing::warn!(
                    path = %entry.path().display(),
                    "deleted a temporary key file left behind by an interrupted write"
                );
            }
        }
    }

    /// `key`, revoked if a tombstone says it was revoked and pruned before; a file that
    /// does not say so is reported, since it can only have come back from a backup or copy.
    fn apply_tombstone(&self, mut key: StoredKey, errors: &mut Vec<KeyError>) -> StoredKey {
        if let Some(revoked_at) = self.tombstone(key.key.kid()) {
            if key.dates.revoked_at.is_none() {
                errors.push(KeyError::BadKeyFile {
                    path: key.path.clone(),
                    reason: format!(
                        "key {} was revoked and pruned ({}): it stays revoked; delete this file",
                        key.key.kid(),
                        self.tombstone_path(key.key.kid()).display()
                    ),
                });
            }
            key.dates.revoked_at = earliest(key.dates.revoked_at, Some(revoked_at));
        }
        key
    }

    /// Where the tombstone of `kid` goes. Kids are RFC 7638 thumbprints in base64url, safe
    /// as file names (a loaded key's kid is checked against its thumbprint).
    fn tombstone_path(&self, kid: &str) -> PathBuf {
        self.dir.join(format!("{kid}.{TOMBSTONE_EXTENSION}"))
    }

    /// When `kid` was revoked, if it has a tombstone. One that cannot be read or parsed
    /// still counts (revoked at the epoch): a revocation is never undone by a damaged file.
    fn tombstone(&self, kid: &str) -> Option<SystemTime> {
        let path = self.tombstone_path(kid);
        let text = match files::read_text_bounded(&path, files::MAX_KEY_FILE) {
            Ok(text) => text,
            Err(e) if e.is_not_found() => return None,
            Err(_) => return Some(UNIX_EPOCH),
        };
        let meta: Option<KeyMeta> = toml::from_str(&text).ok();
        let revoked_at = meta.and_then(|m| m.revoked_at).and_then(|t| humantime::parse_rfc3339(&t).ok());
        Some(revoked_at.unwrap_or(UNIX_EPOCH))
    }

    /// The file that already holds the key `kid`, if any.
    fn find_kid(&self, kid: &str) -> Option<StoredKey> {
        self.load().0.into_iter().find(|k| k.key.kid() == kid)
    }

    /// Generates a key for `alg` that activates at `activate_at`, in that slot's file.
    pub(crate) fn create(
        &self,
        alg: Algorithm,
        now: SystemTime,
        activate_at: SystemTime,
    ) -> Result<Created, KeyError> {
        let key = SigningKey::generate(alg)?;
        self.add(key, now, activate_at)
    }

    /// Adds an existing key (generated or imported) for the slot `activate_at`. A key
    /// already in the directory (by kid, revoked or not) is refused with
    /// [`KeyError::KidExists`]: a second copy could outlive the revocation of the first.
    /// So is a key with a tombstone (revoked and pruned).
    pub(crate) fn add(
        &self,
        key: SigningKey,
        now: SystemTime,
        activate_at: SystemTime,
    ) -> Result<Created, KeyError> {
        if self.tombstone(key.kid()).is_some() {
            let path = self.tombstone_path(key.kid());
            return Err(KeyError::KidExists { kid: key.kid().to_owned(), path, revoked: true });
        }
        if let Some(existing) = self.find_kid(key.kid()) {
            return Err(KeyError::KidExists {
                kid: key.kid().to_owned(),
                path: existing.path,
                revoked: existing.dates.revoked_at.is_some(),
            });
        }
        let dates = KeyDates { created_at: now, activate_at, revoked_at: None };
        let slot = activate_at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let name = format!("tm-{slot}-{}.{KEY_EXTENSION}", key.alg().as_str().to_ascii_lowercase());
        let path = self.dir.join(name);
        let tmp = self.write_temp(&key, &dates)?;
        // Never replaces an existing file: the first writer of a slot wins. On failure the
        // temporary file is deleted.
        match tmp.persist_noclobber(&path).map_err(|e| e.error) {
            Ok(_) => {
                let files = vec![(path.clone(), dates)];
                Ok(Created::New(StoredKey { key: Arc::new(key), dates, path, files }))
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Created::AlreadyThere(path)),
            Err(source) => Err(KeyError::Io { path, source }),
        }
    }

    /// Marks the key revoked at `now` in every file that holds it and does not say so yet,
    /// replacing each file atomically.
    pub(crate) fn revoke(&self, stored: &StoredKey, now: SystemTime) -> Result<(), KeyError> {
        for (path, dates) in stored.files.iter().filter(|(_, d)| d.revoked_at.is_none()) {
            let dates = KeyDates { revoked_at: Some(now), ..*dates };
            replace(self.write_temp(&stored.key, &dates)?, path)?;
        }
        Ok(())
    }

    /// Deletes every file of a key (pruning). A revoked key's tombstone is written first; if
    /// it cannot be, nothing is deleted. Files that do not record a revocation go first, so
    /// a reader never finds a revoked key's unrevoked copy alone.
    pub(crate) fn delete(&self, stored: &StoredKey) -> Result<(), KeyError> {
        if let Some(revoked_at) = stored.dates.revoked_at {
            self.write_tombstone(stored.key.kid(), revoked_at)?;
        }
        let mut files: Vec<&(PathBuf, KeyDates)> = stored.files.iter().collect();
        files.sort_by_key(|(_, d)| d.revoked_at.is_some());
        for (path, _) in files {
            match fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(KeyError::Io { path: path.clone(), source }),
            }
        }
        Ok(())
    }

    /// Records that `kid`, revoked at `revoked_at`, is being pruned (replacing the file
    /// atomically if there is one already).
    fn write_tombstone(&self, kid: &str, revoked_at: SystemTime) -> Result<(), KeyError> {
        let path = self.tombstone_path(kid);
        let meta = KeyMeta {
            kid: Some(kid.to_owned()),
            revoked_at: Some(rfc3339(revoked_at)),
            ..KeyMeta::default()
        };
        let text = format!("{TOMBSTONE_HEADER}{}", meta.to_toml()?);
        replace(self.write_new_temp(kid, &text)?, &path)
    }

    /// Writes `key` with `dates` to a fresh temporary file (mode 0600, fsynced).
    fn write_temp(&self, key: &SigningKey, dates: &KeyDates) -> Result<NamedTempFile, KeyError> {
        let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", key.pkcs8_der()));
        let text = format!("{KEY_FILE_HEADER}{}{pem}", KeyMeta::of(key, dates).to_toml()?);
        self.write_new_temp(key.kid(), &text)
    }

    /// Writes `text` to a fresh temporary file for `kid`, `.<kid>.<random>.tmp` (mode 0600,
    /// fsynced), creating the directory if needed. Dropped without being persisted, it is
    /// deleted.
    fn write_new_temp(&self, kid: &str, text: &str) -> Result<NamedTempFile, KeyError> {
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| KeyError::Io { path, source }
        };
        create_private_dir(&self.dir).map_err(io_err(&self.dir))?;
        let mut file = tempfile::Builder::new()
            .prefix(&format!(".{kid}."))
            .suffix(".tmp")
            .rand_bytes(TEMP_RANDOM_CHARS)
            .tempfile_in(&self.dir)
            .map_err(io_err(&self.dir))?;
        let written = file.write_all(text.as_bytes()).and_then(|()| file.as_file().sync_all());
        written.map_err(io_err(file.path()))?;
        Ok(file)
    }
}

/// Moves the temporary file `tmp` over `path` atomically; on failure, `tmp` is deleted.
fn replace(tmp: NamedTempFile, path: &Path) -> Result<(), KeyError> {
    tmp.persist(path).map(drop).map_err(|e| KeyError::Io { path: path.to_path_buf(), source: e.error })
}

/// The key `path` held in `last`, when `path` still exists but failed to load with
/// `error`; the error is recorded with a note that the key is kept. Otherwise `error`.
fn kept_from(
    last: &[StoredKey],
    path: &Path,
    error: KeyError,
    errors: &mut Vec<KeyError>,
) -> Result<StoredKey, KeyError> {
    let held = last.iter().find_map(|k| k.files.iter().find(|(p, _)| p == path).map(|(_, d)| (k, *d)));
    let Some((key, dates)) = held.filter(|_| fs::symlink_metadata(path).is_ok()) else { return Err(error) };
    errors.push(KeyError::BadKeyFile {
        path: path.to_path_buf(),
        reason: format!(
            "{error}; keeping key {} as last read from this file (delete the file to drop the key, or \
             `tokenmint keys revoke` it)",
            key.key.kid()
        ),
    });
    Ok(StoredKey {
        key: Arc::clone(&key.key),
        dates,
        path: path.to_path_buf(),
        files: vec![(path.to_path_buf(), dates)],
    })
}

fn load_file(path: &Path) -> Result<StoredKey, KeyError> {
    let text = files::read_text_bounded(path, files::MAX_KEY_FILE)
        .map_err(|e| KeyError::BadKeyFile { path: path.to_path_buf(), reason: e.to_string() })?;
    warn_if_shared(path);
    parse_key_file(path, &text)
}

/// A key file's text (TOML metadata, then the PEM block) as the key it holds, named `path`
/// in errors.
pub(crate) fn parse_key_file(path: &Path, text: &str) -> Result<StoredKey, KeyError> {
    let bad = |reason: String| KeyError::BadKeyFile { path: path.to_path_buf(), reason };
    let begin = text.find("-----BEGIN").ok_or_else(|| bad("no PEM block found".into()))?;
    let (preamble, block) = text.split_at(begin);
    let meta: KeyMeta = toml::from_str(preamble).map_err(|e| bad(format!("metadata: {}", e.message())))?;
    let pem = pem::parse(block).map_err(|e| bad(format!("PEM: {e}")))?;
    let alg = meta.alg.as_deref().map(str::parse::<Algorithm>).transpose().map_err(|e| bad(e.to_string()))?;
    let key = SigningKey::from_pem_block(pem.tag(), pem.contents(), alg).map_err(|e| bad(e.to_string()))?;
    if let Some(kid) = &meta.kid
        && kid != key.kid()
    {
        return Err(bad(format!("metadata kid `{kid}` does not match the key's thumbprint `{}`", key.kid())));
    }
    let time = |field: &str, value: &Option<String>| -> Result<Option<SystemTime>, KeyError> {
        value
            .as_deref()
            .map(|t| humantime::parse_rfc3339(t).map_err(|e| bad(format!("{field}: {e}"))))
            .transpose()
    };
    let created = time("created_at", &meta.created_at)?;
    let revoked_at = time("revoked_at", &meta.revoked_at)?;
    let activate_at = match (time("activate_at", &meta.activate_at)?, created, revoked_at) {
        (Some(at), ..) => at,
        (None, Some(at), _) => at,
        // Revoked: it never signs, so when it would have does not matter.
        (None, None, Some(_)) => UNIX_EPOCH,
        (None, None, None) => {
            return Err(bad(format!(
                "key {} has no activate_at: tokenmint does not guess when a key signs (a file's \
                 modification time changes with `touch` and differs between replicas); add it with \
                 `tokenmint keys import {}` and delete this file",
                key.kid(),
                path.display()
            )));
        }
    };
    let created_at = created.unwrap_or(activate_at);
    let dates = KeyDates { created_at, activate_at, revoked_at };
    Ok(StoredKey {
        key: Arc::new(key),
        dates,
        path: path.to_path_buf(),
        files: vec![(path.to_path_buf(), dates)],
    })
}

/// Whether `name` is one of [`KeyStore::write_new_temp`]'s names: `.<kid>.<random>.tmp`.
fn is_temp_name(name: &str) -> bool {
    name.strip_prefix('.')
        .and_then(|rest| rest.strip_suffix(".tmp"))
        .and_then(|rest| rest.rsplit_once('.'))
        .is_some_and(|(kid, random)| {
            !kid.is_empty()
                && random.len() == TEMP_RANDOM_CHARS
                && random.bytes().all(|b| b.is_ascii_alphanumeric())
        })
}

/// The earlier of two optional instants (`None` only when both are).
fn earliest(a: Option<SystemTime>, b: Option<SystemTime>) -> Option<SystemTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Warns about a key file others may read, or its group write. Group read alone is not
/// warned about: it is how Kubernetes gives a non-root pod its Secret volume (files root-owned,
/// group `fsGroup`, mode 0440), and so no one can do otherwise there.
#[cfg(unix)]
fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    if let Ok(meta) = fs::metadata(path)
        && meta.permissions().mode() & 0o027 != 0
    {
        tracing::warn!(
            path = %path.display(),
            mode = format_args!("{:o}", meta.permissions().mode() & 0o777),
            "private key file is writable by group or readable by others; run `chmod 600` on it"
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::testing::{at, created};

    #[test]
    fn written_keys_load_back_with_metadata_and_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path().join("keys"));
        let made = created(store.create(Algorithm::EdDSA, at(1_700_000_000), at(1_700_003_600)).unwrap());
        let (keys, errors) = store.load();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].key.kid(), made.key.kid());
        assert_eq!(keys[0].dates, made.dates);
        assert!(made.path.ends_with("tm-1700003600-eddsa.pem"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = fs::metadata(&made.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_second_writer_of_a_slot_keeps_the_first_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let first = created(store.create(Algorithm::ES256, at(10), at(100)).unwrap());
        assert!(matches!(store.create(Algorithm::ES256, at(11), at(100)).unwrap(), Created::AlreadyThere(_)));
        let (keys, _) = store.load();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].key.kid(), first.key.kid());
        // No temporary files are left behind.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn revocation_is_recorded_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let k = created(store.create(Algorithm::ES256, at(10), at(10)).unwrap());
        store.revoke(&k, at(20)).unwrap();
        let (keys, _) = store.load();
        assert_eq!(keys[0].dates.revoked_at, Some(at(20)));
        assert_eq!(keys[0].path, k.path);
    }

    #[test]
    fn copies_of_one_key_load_as_one_key_revoked_if_any_copy_is() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let k = created(store.create(Algorithm::ES256, at(10), at(10)).unwrap());
        // An operator's copy under a name that sorts first, then the original revoked.
        let copy = dir.path().join("a-copy.pem");
        fs::copy(&k.path, &copy).unwrap();
        let (keys, _) = store.load();
        let only = keys.iter().find(|s| s.key.kid() == k.key.kid()).unwrap();
        assert_eq!(only.files.len(), 2);
        // What an older tokenmint did: revoke the one file it knew about.
        store.revoke(&k, at(20)).unwrap();
        let (keys, errors) = store.load();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].dates.revoked_at, Some(at(20)), "the revoked copy wins");
        assert_eq!(keys[0].path, copy);
        assert!(errors[0].to_string().contains("same key"), "{errors:?}");
        // Revoking again marks the copy too; deleting removes both files.
        store.revoke(&keys[0], at(30)).unwrap();
        let (keys, _) = store.load();
        assert!(keys[0].files.iter().all(|(_, d)| d.revoked_at.is_some()));
        store.delete(&keys[0]).unwrap();
        assert!(store.load().0.is_empty());
    }

    #[test]
    fn a_key_already_in_the_directory_is_not_added_again() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let k = created(store.create(Algorithm::EdDSA, at(10), at(10)).unwrap());
        let again = SigningKey::from_pem_block("PRIVATE KEY", k.key.pkcs8_der(), None).unwrap();
        let err = store.add(again, at(11), at(50)).unwrap_err();
        assert!(matches!(err, KeyError::KidExists { revoked: false, .. }), "{err}");
        store.revoke(&k, at(12)).unwrap();
        let again = SigningKey::from_pem_block("PRIVATE KEY", k.key.pkcs8_der(), None).unwrap();
        let err = store.add(again, at(13), at(60)).unwrap_err();
        assert!(err.to_string().contains("never comes back"), "{err}");
        assert_eq!(store.load().0.len(), 1);
    }

    #[test]
    fn pruning_a_revoked_key_leaves_a_tombstone_that_keeps_it_revoked() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let k = created(store.create(Algorithm::EdDSA, at(10), at(10)).unwrap());
        let backup = fs::read(&k.path).unwrap();
        store.revoke(&k, at(20)).unwrap();
        store.delete(&store.load().0[0]).unwrap();
        assert!(store.load().0.is_empty());
        // Not added again ...
        let again = SigningKey::from_pem_block("PRIVATE KEY", k.key.pkcs8_der(), None).unwrap();
        let err = store.add(again, at(30), at(30)).unwrap_err();
        assert!(matches!(err, KeyError::KidExists { revoked: true, .. }), "{err}");
        assert!(err.to_string().contains(".revoked"), "{err}");
        // ... and a restored backup loads revoked at the recorded time, with a warning.
        fs::write(dir.path().join("backup.pem"), &backup).unwrap();
        let (keys, errors) = store.load();
        assert_eq!(keys[0].dates.revoked_at, Some(at(20)));
        assert!(errors[0].to_string().contains("revoked and pruned"), "{errors:?}");
        // A damaged tombstone still counts.
        fs::write(store.tombstone_path(k.key.kid()), "not toml at all [").unwrap();
        assert_eq!(store.load().0[0].dates.revoked_at, Some(UNIX_EPOCH));
    }

    #[test]
    fn pruning_an_expired_key_leaves_no_tombstone() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let k = created(store.create(Algorithm::ES256, at(10), at(10)).unwrap());
        store.delete(&k).unwrap();
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn a_bare_pem_never_signs_whatever_its_modification_time() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let k = SigningKey::generate(Algorithm::ES256).unwrap();
        let bare = pem::encode(&pem::Pem::new("PRIVATE KEY", k.pkcs8_der()));
        fs::write(dir.path().join("openssl.pem"), &bare).unwrap();
        let (keys, errors) = store.load();
        assert!(keys.is_empty());
        let message = errors[0].to_string();
        assert!(message.contains("no activate_at") && message.contains("keys import"), "{message}");
        assert!(message.contains(k.kid()), "{message}");
        // A bare file that records a revocation still loads, revoked: it must win over a copy.
        fs::write(dir.path().join("openssl.pem"), format!("revoked_at = \"2020-01-01T00:00:00Z\"\n{bare}"))
            .unwrap();
        let (keys, _) = store.load();
        assert!(keys[0].dates.revoked_at.is_some());
        // created_at alone is the activation time.
        fs::write(dir.path().join("openssl.pem"), format!("created_at = \"2020-01-01T00:00:00Z\"\n{bare}"))
            .unwrap();
        let (keys, _) = store.load();
        assert_eq!(keys[0].dates.activate_at, humantime::parse_rfc3339("2020-01-01T00:00:00Z").unwrap());
    }

    #[test]
    fn stale_temporary_files_are_deleted_and_fresh_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let k = created(store.create(Algorithm::ES256, at(10), at(10)).unwrap());
        // What a writer that crashed between writing and persisting leaves behind.
        let (_, tmp) = store.write_temp(&k.key, &k.dates).unwrap().keep().unwrap();
        assert!(is_temp_name(tmp.file_name().unwrap().to_str().unwrap()));
        let other = dir.path().join(".notes.tmp");
        fs::write(&other, "not ours").unwrap();
        // Fresh: a writer may be about to persist it.
        store.remove_stale_temps(SystemTime::now());
        assert!(tmp.exists());
        // Eleven minutes later it is a crashed writer's leftover.
        store.remove_stale_temps(SystemTime::now() + Duration::from_secs(660));
        assert!(!tmp.exists());
        assert!(other.exists() && k.path.exists());
    }

    #[test]
    fn a_file_that_stops_loading_keeps_its_last_key_until_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        let k = created(store.create(Algorithm::ES256, at(10), at(10)).unwrap());
        let (last, _) = store.load();
        fs::write(&k.path, "-----BEGIN PRIVATE KEY-----\nAAAA").unwrap();
        let (keys, errors) = store.load_keeping(&last);
        assert_eq!(keys.len(), 1);
        assert_eq!((keys[0].key.kid(), keys[0].dates), (k.key.kid(), k.dates));
        assert!(errors[0].to_string().contains(&format!("keeping key {}", k.key.kid())), "{}", errors[0]);
        // Without a previous load there is nothing to keep.
        assert!(store.load().0.is_empty());
        // A deleted file takes its key with it.
        fs::remove_file(&k.path).unwrap();
        let (keys, errors) = store.load_keeping(&last);
        assert!(keys.is_empty() && errors.is_empty());
    }

    #[test]
    fn a_corrupt_file_is_reported_and_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let store = KeyStore::new(dir.path());
        store.create(Algorithm::ES256, SystemTime::now(), SystemTime::now()).unwrap();
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
