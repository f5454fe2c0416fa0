//! Operator actions on the key directory, for `tokenmint keys ...`: list, generate, rotate,
//! import, revoke, prune. Each reads the directory, evaluates the schedule at `now`, and
//! writes through the store (atomically); running replicas pick the change up on their own.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::schedule::DatedKey;
use super::schedule::{self, KeyState, KeyTimes};
use super::store::{Created, StoredKey};
use super::{Algorithm, Deriver, KeyError, KeyPolicy, KeyStore, NextKey, SigningKey};
use crate::clock::later;

/// The directory's keys with their state at `now`, by activation time, and the files that
/// could not be read.
pub(crate) fn list(
    store: &KeyStore,
    policy: &KeyPolicy,
    now: SystemTime,
) -> (Vec<(KeyState, StoredKey)>, Vec<KeyError>) {
    let (keys, errors) = store.load();
    let times: Vec<KeyTimes> = keys.iter().map(|k| k.times()).collect();
    let plan = schedule::evaluate(&times, now, policy.retire_after);
    let mut rows: Vec<(KeyState, StoredKey)> = plan.states.into_iter().zip(keys).collect();
    rows.sort_by(|(_, a), (_, b)| {
        a.dates.activate_at.cmp(&b.dates.activate_at).then_with(|| a.key.kid().cmp(b.key.kid()))
    });
    (rows, errors)
}

/// The derived keys needed at `now` with their states, by activation time (`keys.source =
/// "derived"`: what a running replica publishes and signs with at that instant).
pub(crate) fn list_derived(
    deriver: &Deriver,
    policy: &KeyPolicy,
    now: SystemTime,
) -> Result<Vec<(KeyState, DatedKey)>, KeyError> {
    let keys =
        deriver.needed(now, policy).map(|n| deriver.dated_key(n)).collect::<Result<Vec<_>, KeyError>>()?;
    let times: Vec<KeyTimes> = keys.iter().map(DatedKey::times).collect();
    let plan = schedule::evaluate(&times, now, policy.retire_after);
    Ok(plan.states.into_iter().zip(keys).collect())
}

/// Creates a key of `alg` that signs `activate_in` from now.
pub(crate) fn generate(
    store: &KeyStore,
    alg: Algorithm,
    now: SystemTime,
    activate_in: Duration,
) -> Result<Created, KeyError> {
    store.create(alg, now, after_latest(store, later(now, activate_in)))
}

/// `requested` to the second, moved one second later while another key activates in that
/// same second: activation times are stored to the second and ties go to the greater kid,
/// so without this a key meant to sign "now" could lose to the key it should replace (or
/// collide with its file name).
fn after_latest(store: &KeyStore, requested: SystemTime) -> SystemTime {
    let (keys, _) = store.load();
    let whole = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    // Revoked keys count too: their files still hold their slot's name.
    let taken: Vec<u64> = keys.iter().map(|k| whole(k.dates.activate_at)).collect();
    let mut slot = whole(requested);
    while taken.contains(&slot) {
        slot += 1;
    }
    UNIX_EPOCH + Duration::from_secs(slot)
}

/// When the replacement of the revoked signing key `kid` activates: the latest free second
/// that is not in the future and later than every other live key that has activated, so
/// that it signs at once and, once `kid` is revoked, no older key signs again. Only when no
/// such second is free (keys crowded into the last few seconds) does it fall back to the
/// next free second from now.
fn replacement_slot(rows: &[(KeyState, StoredKey)], kid: &str, now: SystemTime) -> SystemTime {
    let whole = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let taken: Vec<u64> = rows.iter().map(|(_, k)| whole(k.dates.activate_at)).collect();
    let latest_other = rows
        .iter()
        .filter(|(_, k)| k.key.kid() != kid && k.dates.revoked_at.is_none() && k.dates.activate_at <= now)
        .map(|(_, k)| whole(k.dates.activate_at))
        .max();
    let free = |slot: &u64| !taken.contains(slot);
    let after_others = |slot: &u64| latest_other.is_none_or(|l| *slot > l);
    let slot = (0..=whole(now))
        .rev()
        .take_while(after_others)
        .find(free)
        .or_else(|| (whole(now)..=u64::MAX).find(free))
        .unwrap_or_else(|| whole(now));
    UNIX_EPOCH + Duration::from_secs(slot)
}

/// What `rotate` did.
#[derive(Debug)]
pub(crate) enum Rotation {
    /// A key was created (or another writer created the same slot's key at once).
    Created(Created),
    /// A key is already pending: nothing to do.
    Pending,
    /// With `keys.rotate_every`: the next key is not due yet.
    NotDue {
        /// When it is due.
        due_at: SystemTime,
        /// When the signing key's period ends.
        period_end: SystemTime,
    },
}

/// Creates the next key, unless one is already pending (so a retried or doubled scheduler
/// run does nothing). With `keys.rotate_every` set it follows the same due-check as
/// automatic rotation ([`KeyPolicy::next_key`]): nothing until the signing key's period
/// ends within `publish_ahead`, then a key that activates at the end of the period, in the
/// file named after that slot (so a scheduler and an auto-rotating replica create one key
/// between them). With rotation off it is rotation by hand: a key that signs after
/// `publish_ahead`. Either way it also makes the key an algorithm switch needs
/// (`tokens.algorithm` changed, see [`KeyPolicy::switch_needed`]), which replicas that do
/// not write keys leave to it.
pub(crate) fn rotate(store: &KeyStore, policy: &KeyPolicy, now: SystemTime) -> Result<Rotation, KeyError> {
    let (rows, _) = list(store, policy, now);
    let keys: Vec<DatedKey> = rows.iter().map(|(_, k)| k.dated()).collect();
    let soon = later(now, policy.publish_ahead);
    let activate_at = if policy.switch_needed(&keys, now).is_some() {
        soon
    } else {
        match policy.next_key(&keys, now) {
            NextKey::Pending => return Ok(Rotation::Pending),
            NextKey::NotYet { due_at, period_end } => return Ok(Rotation::NotDue { due_at, period_end }),
            NextKey::Due { activate_at } => activate_at,
            NextKey::Off if rows.iter().any(|(state, _)| *state == KeyState::Pending) => {
                return Ok(Rotation::Pending);
            }
            NextKey::Off | NextKey::NoSigningKey => soon,
        }
    };
    store.create(policy.alg, now, activate_at).map(Rotation::Created)
}

/// Imports an operator's PEM private key (PKCS#8, SEC1 EC or PKCS#1 RSA), to sign
/// `activate_in` from now. A key already in the directory (revoked or not) is refused.
pub(crate) fn import(
    store: &KeyStore,
    pem_text: &str,
    now: SystemTime,
    activate_in: Duration,
) -> Result<Created, KeyError> {
    let bad = |reason: String| KeyError::BadKeyFile { path: PathBuf::from("(import)"), reason };
    let pem = pem::parse(pem_text).map_err(|e| bad(format!("PEM: {e}")))?;
    let key = SigningKey::from_pem_block(pem.tag(), pem.contents(), None)?;
    store.add(key, now, after_latest(store, later(now, activate_in)))
}

/// What `revoke` did.
#[derive(Debug)]
pub(crate) struct Revoked {
    /// Whether the revoked key was the signing key.
    pub(crate) was_signing: bool,
    /// The key created to sign at once in its place, if one was needed.
    pub(crate) replacement: Option<Arc<SigningKey>>,
}

/// Revokes `kid` now: out of the JWKS and never signing again. If it was the signing key,
/// a replacement that signs at once is created first (verifiers fetch it on its first
/// unknown kid), and only then is the revocation written: at no instant does the schedule
/// hand signing back to an older key. If the replacement cannot be created, nothing is
/// revoked and the error is returned.
pub(crate) fn revoke(
    store: &KeyStore,
    policy: &KeyPolicy,
    kid: &str,
    now: SystemTime,
) -> Result<Revoked, KeyError> {
    let (rows, _) = list(store, policy, now);
    let Some((state, stored)) = rows.iter().find(|(_, k)| k.key.kid() == kid) else {
        return Err(KeyError::UnknownKid(kid.to_owned()));
    };
    let was_signing = *state == KeyState::Signing;
    let replacement = if was_signing {
        match store.create(policy.alg, now, replacement_slot(&rows, kid, now))? {
            Created::New(k) => Some(k.key),
            Created::AlreadyThere(_) => None,
        }
    } else {
        None
    };
    // Also when the key is already revoked: a copy of it in another file may not say so yet.
    store.revoke(stored, now)?;
    Ok(Revoked { was_signing, replacement })
}

/// Deletes the files of expired and revoked keys; returns what it deleted. A key that may
/// still have signed a valid refresh token is kept even when it is out of the JWKS.
pub(crate) fn prune(
    store: &KeyStore,
    policy: &KeyPolicy,
    now: SystemTime,
) -> Result<Vec<StoredKey>, KeyError> {
    let keep = KeyPolicy { retire_after: policy.verifies_for(), ..policy.clone() };
    let (rows, _) = list(store, &keep, now);
    let mut pruned = Vec::new();
    for (state, stored) in rows {
        if matches!(state, KeyState::Expired { .. } | KeyState::Revoked) {
            store.delete(&stored)?;
            pruned.push(stored);
        }
    }
    Ok(pruned)
}

#[cfg(test)]
mod tests;
