//! Where the ring's keys come from: the key directory (through [`KeyStore`], which does
//! every file access) or derivation from a master secret ([`Deriver`]), and the keys a
//! source held when it was last read.
//!
//! From a directory, opening also bootstraps it: a fresh deployment gets its first key, and
//! an algorithm switch gets its first key of the new algorithm (on the writer only).

use std::path::Path;
use std::time::SystemTime;

use super::schedule::{DatedKey, KeyPolicy, NextKey};
use super::settings::{KeySettings, SourceKind};
use super::store::{Created, FileStamp, StoredKey};
use super::{Algorithm, Deriver, KeyError, KeyStore};
use crate::clock::later;

/// Where the ring's keys come from.
#[derive(Debug)]
pub(crate) enum KeySource {
    /// Key files in a directory, shared by the replicas.
    Dir(KeyStore),
    /// One key per rotation period, derived from a master secret; nothing is read or written.
    Derived(Deriver),
}

/// The keys a source held when last read (or derived), and, for a directory, the stamps of
/// its files at that moment, to tell whether it changed since.
#[derive(Debug, Default)]
pub(crate) struct Loaded {
    /// The keys with their dates.
    pub(crate) keys: Vec<DatedKey>,
    /// The directory's file stamps when `keys` were read.
    stamps: Vec<FileStamp>,
    /// The keys as read from the directory's files, for the next read to fall back on.
    stored: Vec<StoredKey>,
}

impl KeySource {
    /// The source `settings` name: the key directory, or derivation from the master secret
    /// (`keys.source = "derived"`) of `alg` keys for `issuer`.
    pub(crate) fn from_settings(
        settings: &KeySettings,
        alg: Algorithm,
        issuer: &str,
    ) -> Result<Self, KeyError> {
        match (settings.source, &settings.master_secret, settings.rotate_every) {
            (SourceKind::Derived, Some(secret), Some(period)) => {
                Ok(KeySource::Derived(Deriver::new(secret, alg, issuer, period)?))
            }
            // Configuration refuses derived keys without a secret or a period.
            (SourceKind::Derived, ..) => Err(KeyError::Rejected {
                alg,
                reason: "derived keys need a master secret and keys.rotate_every".into(),
            }),
            (SourceKind::Dir, ..) => Ok(KeySource::Dir(KeyStore::new(settings.dir.clone()))),
        }
    }

    /// The key directory, when keys come from one.
    pub(crate) fn dir(&self) -> Option<&Path> {
        match self {
            KeySource::Dir(store) => Some(store.dir()),
            KeySource::Derived(_) => None,
        }
    }

    /// The first read: loads or derives the keys. From a directory, first creates a key when
    /// there is none that can sign (a fresh deployment: it signs at once), or, on the writer
    /// ([`KeyPolicy::writer`]), when the signing key has another algorithm than the
    /// configured one and no pending key has it (an algorithm switch: the new key is
    /// published `publish_ahead` before it signs). A switch that cannot be made here (not the
    /// writer, or a read-only directory) is a warning: the current key goes on signing.
    pub(crate) fn open(&self, policy: &KeyPolicy, now: SystemTime) -> Result<Loaded, KeyError> {
        let mut loaded = Loaded::default();
        match self {
            KeySource::Dir(store) => {
                read_dir_into(store, &mut loaded, store.stamps()?, now);
                if bootstrap(store, policy, &loaded.keys, now)? {
                    read_dir_into(store, &mut loaded, store.stamps()?, now);
                }
            }
            KeySource::Derived(deriver) => derive_into(deriver, policy, &mut loaded, now)?,
        }
        Ok(loaded)
    }

    /// Brings `loaded` up to date at `now`: re-reads the directory if its files changed (or
    /// if `force`), or derives the keys the window at `now` newly needs.
    pub(crate) fn reload(
        &self,
        loaded: &mut Loaded,
        policy: &KeyPolicy,
        now: SystemTime,
        force: bool,
    ) -> Result<(), KeyError> {
        match self {
            KeySource::Dir(store) => {
                let stamps = store.stamps()?;
                if force || stamps != loaded.stamps {
                    read_dir_into(store, loaded, stamps, now);
                }
                Ok(())
            }
            KeySource::Derived(deriver) => derive_into(deriver, policy, loaded, now),
        }
    }

    /// Creates the next key when automatic rotation calls for it ([`KeyPolicy::next_key`]
    /// over `keys`): it activates at the end of the signing key's period (or
    /// `publish_ahead` from now, if that is later), in a file named after that instant, so
    /// two writers at once create one key. Derived keys are never created: [`Self::reload`]
    /// derives the next one when it is due. `true` if this call wrote a key.
    pub(crate) fn rotate_if_due(
        &self,
        keys: &[DatedKey],
        policy: &KeyPolicy,
        now: SystemTime,
    ) -> Result<bool, KeyError> {
        let KeySource::Dir(store) = self else { return Ok(false) };
        let NextKey::Due { activate_at } = policy.next_key(keys, now) else { return Ok(false) };
        create_logged(store, policy.alg, now, activate_at, "rotation: created the next key")
    }
}

/// Creates the key a directory needs before it can serve (see [`KeySource::open`]); `true`
/// if it wrote one.
fn bootstrap(
    store: &KeyStore,
    policy: &KeyPolicy,
    keys: &[DatedKey],
    now: SystemTime,
) -> Result<bool, KeyError> {
    if !keys.iter().any(|k| k.dates.revoked_at.is_none()) {
        return create_logged(
            store,
            policy.alg,
            now,
            now,
            "no usable signing key: created one that signs now",
        );
    }
    let Some(signing) = policy.switch_needed(keys, now) else { return Ok(false) };
    if !policy.writer {
        tracing::warn!(
            configured = %policy.alg,
            signing = %signing,
            "tokens.algorithm differs from the signing key's and no key of it is pending; this replica \
             does not write keys (keys.auto_rotate is off while keys.rotate_every is set), so the writer \
             must create it (the keys.auto_rotate replica at its start, or `tokenmint keys rotate`); \
             until then {signing} keys go on signing"
        );
        return Ok(false);
    }
    let at = later(now, policy.publish_ahead);
    match create_logged(store, policy.alg, now, at, "no key of the configured algorithm: created one") {
        Ok(created) => Ok(created),
        Err(e) => {
            tracing::warn!(
                error = %e,
                configured = %policy.alg,
                signing = %signing,
                "cannot create a key of the configured algorithm; the current key goes on signing"
            );
            Ok(false)
        }
    }
}

/// Reads every key file into `loaded` (taken at `stamps`) and logs the files that cannot
/// be used; one that held a key at the previous read keeps that key
/// ([`KeyStore::load_keeping`]). Temporary files an interrupted write left behind are
/// deleted first, when stale at `now`.
fn read_dir_into(store: &KeyStore, loaded: &mut Loaded, stamps: Vec<FileStamp>, now: SystemTime) {
    store.remove_stale_temps(now);
    let (keys, errors) = store.load_keeping(&loaded.stored);
    for e in &errors {
        tracing::error!(error = %e, "unusable key file");
    }
    loaded.keys = keys.iter().map(|k| k.dated()).collect();
    loaded.stored = keys;
    loaded.stamps = stamps;
}

/// Makes `loaded` hold exactly the derived keys needed at `now`: keeps those already
/// derived, derives the missing ones, drops those no longer needed.
fn derive_into(
    deriver: &Deriver,
    policy: &KeyPolicy,
    loaded: &mut Loaded,
    now: SystemTime,
) -> Result<(), KeyError> {
    let mut keys = Vec::new();
    for n in deriver.needed(now, policy) {
        let start = deriver.period_start(n);
        match loaded.keys.iter().find(|k| k.dates.activate_at == start) {
            Some(known) => keys.push(known.clone()),
            None => keys.push(deriver.dated_key(n)?),
        }
    }
    loaded.keys = keys;
    Ok(())
}

/// Creates a key and says so in the log; `false` if another writer had already made it.
fn create_logged(
    store: &KeyStore,
    alg: Algorithm,
    now: SystemTime,
    activate_at: SystemTime,
    why: &str,
) -> Result<bool, KeyError> {
    match store.create(alg, now, activate_at)? {
        Created::New(k) => {
            tracing::warn!(
                kid = k.key.kid(),
                alg = %alg,
                path = %k.path.display(),
                activate_at = %humantime::format_rfc3339_seconds(activate_at),
                "{why}"
            );
            Ok(true)
        }
        Created::AlreadyThere(path) => {
            tracing::info!(path = %path.display(), "another writer already created this key");
            Ok(false)
        }
    }
}
