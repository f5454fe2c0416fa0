//! The key schedule: which key signs, which keys are published, which may be pruned, and
//! when automatic rotation calls for the next key ([`KeyPolicy::next_key`]).
//!
//! Pure functions of (keys, policy, now): no I/O, no tokio, no clock. Every replica that reads the
//! same key directory computes the same answer at the same instant, so replicas agree
//! without talking to each other.
//!
//! - The **signing** key is the one with the latest `activate_at <= now` (ties broken by the
//!   greater `kid`). If no key has activated yet, the earliest pending key signs: with nothing
//!   else to sign with, a fresh deployment must not stay unable to issue.
//! - **Published** keys: every pending key (so verifiers cache it before it signs), the
//!   signing key, and every retired key whose successor activated less than
//!   `retire_after` (= `tokens.max_ttl` + `tokens.leeway`) ago, so every token a key signed
//!   stays verifiable until it expires.
//! - Everything else is **expired** and may be pruned. **Revoked** keys never sign and are
//!   never published.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::{Algorithm, SigningKey};
use crate::clock::later;

/// What the schedule needs to know about one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyTimes {
    /// The key id (ties between equal `activate_at` go to the greater kid).
    pub(crate) kid: String,
    /// When the key starts signing.
    pub(crate) activate_at: SystemTime,
    /// Whether the key was revoked.
    pub(crate) revoked: bool,
}

/// A key's place in the schedule at some instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyState {
    /// Published, not yet signing.
    Pending,
    /// Signing new tokens (and published).
    Signing,
    /// No longer signing, still published until `unpublish_at`.
    Retired {
        /// When it leaves the JWKS.
        unpublish_at: SystemTime,
    },
    /// Out of the JWKS since `unpublished_at`; may be pruned.
    Expired {
        /// When it left the JWKS.
        unpublished_at: SystemTime,
    },
    /// Revoked by an operator: never signs, never published.
    Revoked,
}

impl KeyState {
    /// Whether verifiers should find this key in the JWKS.
    pub(crate) fn is_published(self) -> bool {
        matches!(self, KeyState::Pending | KeyState::Signing | KeyState::Retired { .. })
    }

    /// A short name for listings.
    pub(crate) fn name(self) -> &'static str {
        match self {
            KeyState::Pending => "pending",
            KeyState::Signing => "signing",
            KeyState::Retired { .. } => "retired",
            KeyState::Expired { .. } => "expired",
            KeyState::Revoked => "revoked",
        }
    }

    /// When the key leaves (or left) the JWKS, if that is decided.
    pub(crate) fn unpublish_at(self) -> Option<SystemTime> {
        match self {
            KeyState::Retired { unpublish_at } => Some(unpublish_at),
            KeyState::Expired { unpublished_at } => Some(unpublished_at),
            _ => None,
        }
    }
}

/// The schedule evaluated at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Schedule {
    /// Each key's state, in the order the keys were given.
    pub(crate) states: Vec<KeyState>,
    /// Index of the signing key, if any key can sign.
    pub(crate) signing: Option<usize>,
    /// The next instant at which any state changes (an activation or an unpublication).
    pub(crate) next_change: Option<SystemTime>,
}

/// Evaluates the schedule of `keys` at `now`.
pub(crate) fn evaluate(keys: &[KeyTimes], now: SystemTime, retire_after: Duration) -> Schedule {
    // Live keys in activation order; ties by kid, so the greater kid counts as later.
    let mut order: Vec<usize> = (0..keys.len()).filter(|&i| !keys[i].revoked).collect();
    order.sort_by(|&a, &b| {
        keys[a].activate_at.cmp(&keys[b].activate_at).then_with(|| keys[a].kid.cmp(&keys[b].kid))
    });

    let active = order.iter().rposition(|&i| keys[i].activate_at <= now);
    // With nothing active yet, the earliest pending key signs.
    let signing_pos = active.or(if order.is_empty() { None } else { Some(0) });

    let mut states = vec![KeyState::Revoked; keys.len()];
    let mut next_change: Option<SystemTime> = None;
    let mut note = |t: SystemTime| {
        if t > now && next_change.is_none_or(|n| t < n) {
            next_change = Some(t);
        }
    };
    for (pos, &i) in order.iter().enumerate() {
        let state = match signing_pos {
            Some(s) if pos == s => KeyState::Signing,
            Some(s) if pos > s => KeyState::Pending,
            // Before the signing key: retired by its successor's activation.
            _ => {
                let successor = order.get(pos + 1).map_or(now, |&j| keys[j].activate_at);
                let until = later(successor, retire_after);
                if until > now {
                    KeyState::Retired { unpublish_at: until }
                } else {
                    KeyState::Expired { unpublished_at: until }
                }
            }
        };
        match state {
            KeyState::Pending => note(keys[i].activate_at),
            KeyState::Retired { unpublish_at } => note(unpublish_at),
            _ => {}
        }
        states[i] = state;
    }
    Schedule { states, signing: signing_pos.map(|p| order[p]), next_change }
}

/// When a key was made, when it signs, and whether it was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyDates {
    /// When the key was created.
    pub(crate) created_at: SystemTime,
    /// When the key starts signing.
    pub(crate) activate_at: SystemTime,
    /// When the key was revoked, if it was.
    pub(crate) revoked_at: Option<SystemTime>,
}

/// A key and its dates, wherever it came from (a file, or derivation).
#[derive(Debug, Clone)]
pub(crate) struct DatedKey {
    /// The key.
    pub(crate) key: Arc<SigningKey>,
    /// Its dates.
    pub(crate) dates: KeyDates,
}

impl DatedKey {
    /// Whether this key is pending at `now`: not revoked, and not yet active.
    pub(crate) fn is_pending(&self, now: SystemTime) -> bool {
        self.dates.revoked_at.is_none() && self.dates.activate_at > now
    }

    /// What the schedule needs to know about this key.
    pub(crate) fn times(&self) -> KeyTimes {
        KeyTimes {
            kid: self.key.kid().to_owned(),
            activate_at: self.dates.activate_at,
            revoked: self.dates.revoked_at.is_some(),
        }
    }
}

/// The rotation policy, from `[tokens]` and `[keys]` in configuration.
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
    /// algorithm switch needs): the one writer per key directory (`keys.auto_rotate`), or
    /// every process while `keys.rotate_every` is off.
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
    keys.get(evaluate(&times, now, Duration::ZERO).signing?)
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
    pub(crate) fn rotation(&self, signing_since: SystemTime) -> Option<(SystemTime, SystemTime)> {
        let period_end = later(signing_since, self.rotate_every?);
        Some((period_end, period_end.checked_sub(self.publish_ahead).unwrap_or(UNIX_EPOCH)))
    }
}

#[cfg(test)]
mod tests;
