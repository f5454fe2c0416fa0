//! The key ring: the signing key and the published set, swapped atomically, kept in step
//! with the key source (the key directory, or derivation from a master secret) and with the
//! passing of time.
//!
//! Readers (every token request, every JWKS request) take a cheap snapshot with no lock.
//! A new [`KeySet`] is built completely before it is swapped in, so no request ever sees a
//! half-built set. A reload that would leave no usable signing key keeps the last good set
//! (missing or corrupt files must not take the service down), minus every key the directory
//! now marks revoked: a revocation always wins, and when it removes the signing key the set
//! has none and the service refuses to sign (fails closed) until a usable key appears.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use jsonwebtoken::DecodingKey;

use super::jwks::JwksDocument;
use super::schedule::{self, KeyState, KeyTimes};
use super::store::{Created, DatedKey};
use super::{Algorithm, Deriver, KeyError, KeyStore, SigningKey};
use crate::clock::later;
use crate::verify::Jwks;

/// What the ring needs from configuration.
#[derive(Debug, Clone)]
pub(crate) struct KeyPolicy {
    /// Algorithm of the keys this process creates.
    pub(crate) alg: Algorithm,
    /// How long a new key is published before it signs.
    pub(crate) publish_ahead: Duration,
    /// How long a retired key stays published (see [`super::retire_after`]).
    pub(crate) retire_after: Duration,
    /// How long a retired key still verifies refresh tokens (`refresh_ttl` + leeway). Such
    /// keys need not be published: only tokenmint reads refresh tokens.
    pub(crate) refresh_retire_after: Duration,
    /// Automatic rotation period.
    pub(crate) rotate_every: Option<Duration>,
    /// Whether `serve` may create keys beyond a fresh deployment's first one (the key an
    /// algorithm switch needs): the one writer of README's "Automatic rotation, with one
    /// writer" (`keys.auto_rotate`), or every process while `keys.rotate_every` is off.
    pub(crate) writer: bool,
}

/// Whether automatic rotation calls for the next key at some instant
/// ([`KeyPolicy::next_key`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NextKey {
    /// `keys.rotate_every` is off.
    Off,
    /// A key is already pending: nothing to do.
    Pending,
    /// No key can sign, so there is no period to count from.
    NoSigningKey,
    /// Not yet: the signing key's period ends at `period_end`, and its successor is due
    /// `publish_ahead` before, at `due_at`.
    NotYet {
        /// When the next key is due.
        due_at: SystemTime,
        /// When the signing key's period ends.
        period_end: SystemTime,
    },
    /// Due now: create a key that activates at `activate_at`.
    Due {
        /// The end of the signing key's period, or `publish_ahead` from now if later.
        activate_at: SystemTime,
    },
}

/// The key the schedule has signing at `now`, if any.
fn signing_at(keys: &[DatedKey], now: SystemTime) -> Option<&DatedKey> {
    let times: Vec<KeyTimes> = keys.iter().map(|k| k.times()).collect();
    keys.get(schedule::evaluate(&times, now, Duration::ZERO).signing?)
}

impl KeyPolicy {
    /// The due-check of automatic rotation, shared by the auto-rotating replica and
    /// `tokenmint keys rotate`: the next key is due when no key is pending and the signing
    /// key's period (`rotate_every` from its activation) ends within `publish_ahead`. It
    /// then activates at the end of the period, or `publish_ahead` from now if that is
    /// later. A pure function of the keys and `now`, so every writer picks the same slot.
    pub(crate) fn next_key(&self, keys: &[DatedKey], now: SystemTime) -> NextKey {
        if self.rotate_every.is_none() {
            return NextKey::Off;
        }
        if keys.iter().any(|k| k.is_pending(now)) {
            return NextKey::Pending;
        }
        let Some(signing) = signing_at(keys, now) else {
            return NextKey::NoSigningKey;
        };
        match self.rotation(signing.dates.activate_at) {
            None => NextKey::Off,
            Some((period_end, due_at)) if now < due_at => NextKey::NotYet { due_at, period_end },
            Some((period_end, _)) => {
                NextKey::Due { activate_at: period_end.max(later(now, self.publish_ahead)) }
            }
        }
    }

    /// The signing key's algorithm at `now`, when a key of the configured algorithm is
    /// needed: the signing key has another one and no pending key has it. Retired and
    /// expired keys of the configured algorithm do not count: they will never sign again.
    pub(crate) fn switch_needed(&self, keys: &[DatedKey], now: SystemTime) -> Option<Algorithm> {
        let signing = signing_at(keys, now)?.key.alg();
        let pending = keys.iter().any(|k| k.is_pending(now) && k.key.alg() == self.alg);
        (signing != self.alg && !pending).then_some(signing)
    }

    /// How long after its successor activates a key may still verify a token of any kind:
    /// the longer of `retire_after` (access tokens) and `refresh_retire_after`.
    pub(crate) fn verifies_for(&self) -> Duration {
        self.retire_after.max(self.refresh_retire_after)
    }

    /// With rotation on: the end of the period of a key that signs from `signing_since`,
    /// and the instant its successor must be created so it is published `publish_ahead`
    /// before then.
    fn rotation(&self, signing_since: SystemTime) -> Option<(SystemTime, SystemTime)> {
        let period_end = later(signing_since, self.rotate_every?);
        Some((period_end, period_end.checked_sub(self.publish_ahead).unwrap_or(UNIX_EPOCH)))
    }
}

/// Where the ring's keys come from.
#[derive(Debug)]
pub(crate) enum KeySource {
    /// Key files in a directory, shared by the replicas.
    Dir(KeyStore),
    /// One key per rotation period, derived from a master secret; nothing is read or written.
    Derived(Deriver),
}

/// One consistent view of the keys at one instant.
#[derive(Debug)]
pub(crate) struct KeySet {
    /// The key that signs new tokens; `None` when the last good set's signing key was
    /// revoked and no other key can sign (see [`KeySet::signer`]).
    pub(crate) signing: Option<Arc<SigningKey>>,
    /// When the signing key started (or starts) signing.
    pub(crate) signing_since: SystemTime,
    /// Every key a verifier may meet (the signing key included).
    pub(crate) published: Vec<Arc<SigningKey>>,
    /// The serialized JWKS of `published`.
    pub(crate) jwks: JwksDocument,
    /// `published` as verification keys, for introspection.
    pub(crate) verify: Jwks,
    /// Keys that may have signed a still-valid refresh token.
    pub(crate) refresh_verify: Jwks,
    /// The keys behind `refresh_verify`, to rebuild it without a revoked key.
    refresh_keys: Vec<Arc<SigningKey>>,
    /// When the schedule next changes (an activation or an unpublication): re-evaluate then.
    pub(crate) next_change: Option<SystemTime>,
    /// When the JWKS content is next known to change (a retired key leaving, or the next
    /// scheduled key being created): the JWKS must not be cached past it.
    pub(crate) jwks_changes_at: Option<SystemTime>,
}

impl KeySet {
    /// Evaluates the schedule over `keys` at `now` and builds the set.
    fn build(keys: &[DatedKey], policy: &KeyPolicy, now: SystemTime) -> Result<Self, KeyError> {
        let times: Vec<KeyTimes> = keys.iter().map(|k| k.times()).collect();
        let plan = schedule::evaluate(&times, now, policy.retire_after);
        let signing_index = plan.signing.ok_or(KeyError::NoSigningKey)?;
        let signing_since = keys[signing_index].dates.activate_at;
        let mut published: Vec<(SystemTime, Arc<SigningKey>)> = Vec::new();
        let mut jwks_changes_at: Option<SystemTime> = None;
        for (k, state) in keys.iter().zip(&plan.states) {
            if state.is_published() {
                published.push((k.dates.activate_at, Arc::clone(&k.key)));
            }
            if let KeyState::Retired { unpublish_at } = state {
                jwks_changes_at = earliest(jwks_changes_at, *unpublish_at);
            }
        }
        // Newest first: the order verifiers and people reading the JWKS expect.
        published.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.kid().cmp(b.1.kid())));
        let published: Vec<Arc<SigningKey>> = published.into_iter().map(|(_, k)| k).collect();
        let signing = published
            .iter()
            .find(|k| k.kid() == keys[signing_index].key.kid())
            .cloned()
            .ok_or(KeyError::NoSigningKey)?;
        let signing = Some(signing);
        if let Some((_, create_at)) = policy.rotation(signing_since).filter(|(_, t)| *t > now) {
            jwks_changes_at = earliest(jwks_changes_at, create_at);
        }
        let jwks = JwksDocument::build(published.iter().map(|k| k.as_ref()))?;
        let verify = verification_keys(published.iter())?;
        let refresh_plan = schedule::evaluate(&times, now, policy.refresh_retire_after);
        let refresh_keys: Vec<Arc<SigningKey>> = keys
            .iter()
            .zip(&refresh_plan.states)
            .filter(|(_, s)| s.is_published())
            .map(|(k, _)| Arc::clone(&k.key))
            .collect();
        let refresh_verify = verification_keys(refresh_keys.iter())?;
        Ok(KeySet {
            signing,
            signing_since,
            published,
            jwks,
            verify,
            refresh_verify,
            refresh_keys,
            next_change: plan.next_change,
            jwks_changes_at,
        })
    }

    /// The signing key, or [`KeyError::NoSigningKey`] when every key that could sign was
    /// revoked: the caller must refuse to issue (fail closed).
    pub(crate) fn signer(&self) -> Result<&Arc<SigningKey>, KeyError> {
        self.signing.as_ref().ok_or(KeyError::NoSigningKey)
    }

    /// This set without the keys in `revoked`: neither published, nor verifying, nor
    /// signing (the result has no signing key if the signing key is among them). `None`
    /// when the set holds none of them. The result never changes with time by itself.
    fn without(&self, revoked: &[&str]) -> Result<Option<KeySet>, KeyError> {
        let keep = |k: &&Arc<SigningKey>| !revoked.contains(&k.kid());
        let touched = self.published.iter().chain(&self.refresh_keys).any(|k| !keep(&k));
        if !touched {
            return Ok(None);
        }
        let published: Vec<Arc<SigningKey>> = self.published.iter().filter(keep).cloned().collect();
        let refresh_keys: Vec<Arc<SigningKey>> = self.refresh_keys.iter().filter(keep).cloned().collect();
        Ok(Some(KeySet {
            signing: self.signing.clone().filter(|k| keep(&k)),
            signing_since: self.signing_since,
            jwks: JwksDocument::build(published.iter().map(|k| k.as_ref()))?,
            verify: verification_keys(published.iter())?,
            refresh_verify: verification_keys(refresh_keys.iter())?,
            published,
            refresh_keys,
            next_change: None,
            jwks_changes_at: self.jwks_changes_at,
        }))
    }

    /// The JWKS `max-age` at `now`: the configured one, shortened so no verifier caches the
    /// set past its next known change.
    pub(crate) fn jwks_max_age(&self, configured: Duration, now: SystemTime) -> Duration {
        match self.jwks_changes_at {
            Some(t) => configured.min(t.duration_since(now).unwrap_or(Duration::ZERO)),
            None => configured,
        }
    }
}

fn verification_keys<'a>(keys: impl Iterator<Item = &'a Arc<SigningKey>>) -> Result<Jwks, KeyError> {
    Ok(Jwks::from_keys(
        keys.map(|k| Ok((k.kid().to_owned(), k.alg().to_jwt(), DecodingKey::from_jwk(k.jwk())?)))
            .collect::<Result<Vec<_>, KeyError>>()?,
    ))
}

fn earliest(a: Option<SystemTime>, b: SystemTime) -> Option<SystemTime> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// The keys last read from the directory, or derived.
#[derive(Debug, Default)]
struct Loaded {
    keys: Vec<DatedKey>,
    fingerprint: Vec<FileStamp>,
}

/// Identity of a key file's content: path, size, modification time, inode. Following
/// symlinks, so a Kubernetes Secret volume's `..data` swap changes it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    path: PathBuf,
    len: u64,
    modified: Option<SystemTime>,
    inode: u64,
}

/// The live key set, shared by every request, and the state needed to refresh it.
#[derive(Debug)]
pub(crate) struct KeyRing {
    source: KeySource,
    policy: KeyPolicy,
    current: ArcSwap<KeySet>,
    /// Guarded by a std mutex: held only by the maintenance task and never across an await.
    loaded: Mutex<Loaded>,
}

impl KeyRing {
    /// Loads or derives the keys and builds the first set. From a directory, creates a key
    /// when there is none that can sign (a fresh deployment: it signs at once), or, on the
    /// writer ([`KeyPolicy::writer`]), when the signing key has another algorithm than the
    /// configured one and no pending key has it (an algorithm switch: the new key is
    /// published `publish_ahead` before it signs). A switch that cannot be made here (not the
    /// writer, or a read-only directory) is a warning: the current key goes on signing.
    pub(crate) fn open(source: KeySource, policy: KeyPolicy, now: SystemTime) -> Result<Self, KeyError> {
        let mut loaded = Loaded::default();
        match &source {
            KeySource::Dir(store) => open_dir(store, &policy, &mut loaded, now)?,
            KeySource::Derived(deriver) => derive_into(deriver, &policy, &mut loaded, now)?,
        }
        let set = KeySet::build(&loaded.keys, &policy, now)?;
        let ring =
            KeyRing { source, policy, current: ArcSwap::from_pointee(set), loaded: Mutex::new(loaded) };
        let set = ring.current();
        if let Ok(signer) = set.signer() {
            tracing::info!(kid = signer.kid(), alg = %signer.alg(), published = set.published.len(), "signing key selected");
        }
        Ok(ring)
    }

    /// The algorithm tokens are signed with: the signing key's, or the configured one
    /// while no key can sign.
    pub(crate) fn alg(&self) -> Algorithm {
        self.current().signing.as_ref().map_or(self.policy.alg, |k| k.alg())
    }

    /// A snapshot of the current set.
    pub(crate) fn current(&self) -> Arc<KeySet> {
        self.current.load_full()
    }

    /// A snapshot of the set as of `now`. When the schedule has changed since the set was
    /// built (a key activated or retired), the set is re-evaluated on the spot from the keys
    /// in memory, so every replica switches keys at the same instant, whatever its timers.
    /// Costs one comparison otherwise.
    pub(crate) fn current_at(&self, now: SystemTime) -> Arc<KeySet> {
        let set = self.current.load_full();
        if set.next_change.is_none_or(|t| now < t) {
            return set;
        }
        // Whoever holds the lock is already rebuilding; use the set we have meanwhile.
        let Ok(loaded) = self.loaded.try_lock() else { return set };
        match KeySet::build(&loaded.keys, &self.policy, now) {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                self.current.store(Arc::clone(&fresh));
                fresh
            }
            Err(_) => set,
        }
    }

    /// The key directory, when keys come from one.
    pub(crate) fn key_dir(&self) -> Option<&Path> {
        match &self.source {
            KeySource::Dir(store) => Some(store.dir()),
            KeySource::Derived(_) => None,
        }
    }

    /// Re-reads the directory if it changed (or if `force`), or derives the keys the window
    /// at `now` newly needs; re-evaluates the schedule at `now`, and swaps in the result. If
    /// no key could sign, the current set stays, minus the keys the directory marks revoked
    /// (which may leave it without a signing key), and the error is returned.
    pub(crate) fn refresh(&self, now: SystemTime, force: bool) -> Result<(), KeyError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        match &self.source {
            KeySource::Dir(store) => {
                let stamps = fingerprint(store)?;
                if force || stamps != loaded.fingerprint {
                    read_dir_into(store, &mut loaded, stamps);
                }
            }
            KeySource::Derived(deriver) => derive_into(deriver, &self.policy, &mut loaded, now)?,
        }
        let old = self.current();
        let set = match KeySet::build(&loaded.keys, &self.policy, now) {
            Ok(set) => set,
            Err(e) => {
                self.keep_without_revoked(&old, &loaded.keys, &e)?;
                return Err(e);
            }
        };
        match (&old.signing, &set.signing) {
            (Some(from), Some(to)) if from.kid() != to.kid() => {
                tracing::info!(from = from.kid(), to = to.kid(), "signing key changed");
            }
            (None, Some(to)) => tracing::info!(to = to.kid(), "a usable signing key is back; signing again"),
            _ => {}
        }
        self.current.store(Arc::new(set));
        Ok(())
    }

    /// After a failed build: keeps `old` (the last good set) but drops every key `keys`
    /// marks revoked. Logs why, and loudly when nothing can sign any more.
    fn keep_without_revoked(&self, old: &KeySet, keys: &[DatedKey], why: &KeyError) -> Result<(), KeyError> {
        let revoked: Vec<&str> =
            keys.iter().filter(|k| k.dates.revoked_at.is_some()).map(|k| k.key.kid()).collect();
        match old.without(&revoked)? {
            Some(kept) => {
                if kept.signing.is_none() {
                    tracing::error!(
                        error = %why,
                        "the signing key was revoked and no other key can sign: refusing to issue tokens \
                         until a usable key is added (tokenmint keys generate --activate-in 0s)"
                    );
                } else {
                    tracing::error!(error = %why, "keeping the previous key set without its revoked keys");
                }
                self.current.store(Arc::new(kept));
            }
            None if old.signing.is_none() => {
                tracing::error!(error = %why, "still no usable signing key: refusing to issue tokens");
            }
            None => tracing::error!(error = %why, "keeping the previous key set: no usable signing key"),
        }
        Ok(())
    }

    /// Creates the next key when automatic rotation calls for it: when no key is pending
    /// and the signing key's period ends within `publish_ahead`. The new key activates at
    /// the end of the period (or `publish_ahead` from now, if that is later), in a file
    /// named after that instant, so two writers at once create one key. Derived keys are
    /// never created: [`KeyRing::refresh`] derives the next one when it is due.
    pub(crate) fn rotate_if_due(&self, now: SystemTime) -> Result<bool, KeyError> {
        let KeySource::Dir(store) = &self.source else { return Ok(false) };
        let next = {
            let loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
            self.policy.next_key(&loaded.keys, now)
        };
        let NextKey::Due { activate_at } = next else { return Ok(false) };
        let created =
            create_logged(store, self.policy.alg, now, activate_at, "rotation: created the next key")?;
        self.refresh(now, true)?;
        Ok(created)
    }

    /// When the maintenance task should next wake without any event.
    pub(crate) fn next_wake(&self) -> Option<SystemTime> {
        let set = self.current();
        let rotation = self.policy.rotation(set.signing_since).map(|(_, create_at)| create_at);
        match (set.next_change, rotation) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Reads the directory into `loaded`, first creating a key when there is none that can sign,
/// or when an algorithm switch needs one (see [`KeyRing::open`]).
fn open_dir(
    store: &KeyStore,
    policy: &KeyPolicy,
    loaded: &mut Loaded,
    now: SystemTime,
) -> Result<(), KeyError> {
    read_dir_into(store, loaded, fingerprint(store)?);
    let created = if !loaded.keys.iter().any(|k| k.dates.revoked_at.is_none()) {
        create_logged(store, policy.alg, now, now, "no usable signing key: created one that signs now")?
    } else if let Some(signing) = policy.switch_needed(&loaded.keys, now) {
        let at = later(now, policy.publish_ahead);
        if !policy.writer {
            tracing::warn!(
                configured = %policy.alg,
                signing = %signing,
                "tokens.algorithm differs from the signing key's and no key of it is pending; this replica \
                 does not write keys (keys.auto_rotate is off while keys.rotate_every is set), so the writer \
                 must create it (the keys.auto_rotate replica at its start, or `tokenmint keys rotate`); \
                 until then {signing} keys go on signing"
            );
            false
        } else {
            match create_logged(store, policy.alg, now, at, "no key of the configured algorithm: created one")
            {
                Ok(created) => created,
                Err(e) => {
                    tracing::warn!(
                        error = %e,
                        configured = %policy.alg,
                        signing = %signing,
                        "cannot create a key of the configured algorithm; the current key goes on signing"
                    );
                    false
                }
            }
        }
    } else {
        false
    };
    if created {
        read_dir_into(store, loaded, fingerprint(store)?);
    }
    Ok(())
}

/// Reads every key file into `loaded` (taken at `stamps`) and logs the files that cannot
/// be used.
fn read_dir_into(store: &KeyStore, loaded: &mut Loaded, stamps: Vec<FileStamp>) {
    let (keys, errors) = store.load();
    for e in &errors {
        tracing::error!(error = %e, "skipping unusable key file");
    }
    loaded.keys = keys.iter().map(|k| k.dated()).collect();
    loaded.fingerprint = stamps;
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

/// The stamps of every key file, to notice changes without reading the keys.
fn fingerprint(store: &KeyStore) -> Result<Vec<FileStamp>, KeyError> {
    let paths = store.key_files()?;
    Ok(paths
        .into_iter()
        .map(|path| {
            let meta = std::fs::metadata(&path).ok();
            FileStamp {
                len: meta.as_ref().map_or(0, |m| m.len()),
                modified: meta.as_ref().and_then(|m| m.modified().ok()),
                inode: meta.as_ref().map_or(0, inode),
                path,
            }
        })
        .collect())
}

#[cfg(unix)]
fn inode(meta: &std::fs::Metadata) -> u64 {
    std::os::unix::fs::MetadataExt::ino(meta)
}

#[cfg(not(unix))]
fn inode(_meta: &std::fs::Metadata) -> u64 {
    0
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

#[cfg(test)]
mod tests;
