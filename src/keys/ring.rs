//! The key ring: the live [`KeySet`], swapped atomically, kept in step with its
//! [`KeySource`] and with the passing of time.
//!
//! Readers (every token request, every JWKS request) take a cheap snapshot with no lock.
//! A new set is built completely ([`KeySet::build`]) before it is swapped in, so no request
//! ever sees a half-built set. A reload that would leave no usable signing key keeps the last
//! good set (missing or corrupt files must not take the service down), minus every key the
//! directory now marks revoked: a revocation always wins, and when it removes the signing key
//! the set has none and the service refuses to sign (fails closed) until a usable key appears.

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use arc_swap::ArcSwap;

use super::keyset::KeySet;
use super::schedule::{DatedKey, KeyPolicy};
use super::source::{KeySource, Loaded};
use super::{Algorithm, KeyError};

/// The live key set, shared by every request, and the state needed to refresh it.
#[derive(Debug)]
pub(crate) struct KeyRing {
    source: KeySource,
    policy: KeyPolicy,
    current: ArcSwap<KeySet>,
    /// Guarded by a std mutex: held only by the maintenance task and never across an await.
    loaded: Mutex<Loaded>,
    /// The problem last logged by [`KeyRing::refresh`], so that a fault lasting many polls
    /// is logged once (again when it changes); cleared by a refresh that succeeds.
    reported: Mutex<Option<String>>,
}

impl KeyRing {
    /// Opens the source ([`KeySource::open`]: a fresh directory gets its first key) and
    /// builds the first set at `now`.
    pub(crate) fn open(source: KeySource, policy: KeyPolicy, now: SystemTime) -> Result<Self, KeyError> {
        let loaded = source.open(&policy, now)?;
        let set = KeySet::build(&loaded.keys, &policy, now)?;
        let ring = KeyRing {
            source,
            policy,
            current: ArcSwap::from_pointee(set),
            loaded: Mutex::new(loaded),
            reported: Mutex::new(None),
        };
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
                log_change(&set, &fresh);
                self.current.store(Arc::clone(&fresh));
                fresh
            }
            Err(_) => set,
        }
    }

    /// The key directory, when keys come from one.
    pub(crate) fn key_dir(&self) -> Option<&Path> {
        self.source.dir()
    }

    /// Re-reads the directory if it changed (or if `force`), or derives the keys the window
    /// at `now` newly needs; re-evaluates the schedule at `now`, and swaps in the result. If
    /// no key could sign, the current set stays, minus the keys the directory marks revoked
    /// (which may leave it without a signing key), and the error is returned.
    pub(crate) fn refresh(&self, now: SystemTime, force: bool) -> Result<(), KeyError> {
        let mut loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Err(e) = self.source.reload(&mut loaded, &self.policy, now, force) {
            if self.first_report(&e) {
                tracing::error!(error = %e, "cannot read the key directory; the current keys go on signing");
            }
            return Err(e);
        }
        let old = self.current();
        let set = match KeySet::build(&loaded.keys, &self.policy, now) {
            Ok(set) => set,
            Err(e) => {
                self.keep_without_revoked(&old, &loaded.keys, &e)?;
                return Err(e);
            }
        };
        *self.reported.lock().unwrap_or_else(PoisonError::into_inner) = None;
        log_change(&old, &set);
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
            None if self.first_report(why) => {
                tracing::error!(error = %why, "keeping the previous key set: no usable signing key");
            }
            None => {}
        }
        Ok(())
    }

    /// Whether `problem` differs from the one last logged (and records it).
    fn first_report(&self, problem: &KeyError) -> bool {
        let text = problem.to_string();
        let mut reported = self.reported.lock().unwrap_or_else(PoisonError::into_inner);
        if reported.as_deref() == Some(text.as_str()) {
            return false;
        }
        *reported = Some(text);
        true
    }

    /// Creates the next key when automatic rotation calls for it
    /// ([`KeySource::rotate_if_due`]) and, if it did, re-reads the keys. `true` if this
    /// call wrote a key.
    pub(crate) fn rotate_if_due(&self, now: SystemTime) -> Result<bool, KeyError> {
        let created = {
            let loaded = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
            self.source.rotate_if_due(&loaded.keys, &self.policy, now)?
        };
        if created {
            self.refresh(now, true)?;
        }
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

/// Says when going from `old` to `new` changes the signing key (whether a reload or the
/// schedule, at the instant a request sees it, made the change).
fn log_change(old: &KeySet, new: &KeySet) {
    match (&old.signing, &new.signing) {
        (Some(from), Some(to)) if from.kid() != to.kid() => {
            tracing::info!(from = from.kid(), to = to.kid(), "signing key changed");
        }
        (None, Some(to)) => tracing::info!(to = to.kid(), "a usable signing key is back; signing again"),
        _ => {}
    }
}

#[cfg(test)]
mod tests;
