//! The key schedule: which key signs, which keys are published, which may be pruned.
//!
//! A pure function of (keys, now): no I/O, no tokio, no clock. Every replica that reads the
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

use std::time::{Duration, SystemTime};

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

#[cfg(test)]
mod tests;
