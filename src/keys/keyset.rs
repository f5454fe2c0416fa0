//! The key set at one instant: the signing key, the published keys and their JWKS, and the
//! keys that verify the service's own tokens. Built from dated keys by the schedule.
//!
//! Pure: a function of (keys, policy, now), no I/O; [`super::ring`] swaps it in.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jsonwebtoken::DecodingKey;

use super::jwks::JwksDocument;
use super::schedule::{self, DatedKey, KeyPolicy, KeyState, KeyTimes};
use super::{KeyError, SigningKey};
use crate::verify::Jwks;

/// One consistent view of the keys at one instant.
#[derive(Debug)]
pub(crate) struct KeySet {
    /// The key that signs new tokens; `None` when the last good set's signing key was
    /// revoked and no other key can sign (see [`KeySet::signer`]).
    pub(crate) signing: Option<Arc<SigningKey>>,
    /// When the signing key started (or starts) signing.
    pub(crate) signing_since: SystemTime,
    /// Every key a verifier may meet (the signing key included), newest first.
    pub(crate) published: Vec<Arc<SigningKey>>,
    /// The state of each of `published`, in the same order.
    pub(crate) states: Vec<KeyState>,
    /// When the schedule next hands signing to another key: the earliest pending key's
    /// activation, or the end of the signing key's rotation period (past, when the rotation
    /// is overdue); `None` when neither.
    pub(crate) signing_changes_at: Option<SystemTime>,
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
    pub(crate) fn build(keys: &[DatedKey], policy: &KeyPolicy, now: SystemTime) -> Result<Self, KeyError> {
        let times: Vec<KeyTimes> = keys.iter().map(|k| k.times()).collect();
        let plan = schedule::evaluate(&times, now, policy.retire_after);
        let signing_index = plan.signing.ok_or(KeyError::NoSigningKey)?;
        let signing_since = keys[signing_index].dates.activate_at;
        let mut published: Vec<(SystemTime, KeyState, Arc<SigningKey>)> = Vec::new();
        let mut jwks_changes_at: Option<SystemTime> = None;
        // The next key to take over: the earliest pending one, else the rotation's next (in the
        // past when the rotation is overdue: its key was never made).
        let mut signing_changes_at: Option<SystemTime> =
            policy.rotation(signing_since).map(|(period_end, _)| period_end);
        for (k, state) in keys.iter().zip(&plan.states) {
            if state.is_published() {
                published.push((k.dates.activate_at, *state, Arc::clone(&k.key)));
            }
            if *state == KeyState::Pending {
                signing_changes_at = earliest(signing_changes_at, k.dates.activate_at);
            }
            if let KeyState::Retired { unpublish_at } = state {
                jwks_changes_at = earliest(jwks_changes_at, *unpublish_at);
            }
        }
        // Newest first: the order verifiers and people reading the JWKS expect.
        published.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.2.kid().cmp(b.2.kid())));
        let states: Vec<KeyState> = published.iter().map(|(_, state, _)| *state).collect();
        let published: Vec<Arc<SigningKey>> = published.into_iter().map(|(_, _, k)| k).collect();
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
            signing_changes_at,
            published,
            states,
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
    pub(crate) fn without(&self, revoked: &[&str]) -> Result<Option<KeySet>, KeyError> {
        let keep = |k: &&Arc<SigningKey>| !revoked.contains(&k.kid());
        let touched = self.published.iter().chain(&self.refresh_keys).any(|k| !keep(&k));
        if !touched {
            return Ok(None);
        }
        let (published, states): (Vec<Arc<SigningKey>>, Vec<KeyState>) = self
            .published
            .iter()
            .zip(&self.states)
            .filter(|(k, _)| keep(k))
            .map(|(k, s)| (Arc::clone(k), *s))
            .unzip();
        let refresh_keys: Vec<Arc<SigningKey>> = self.refresh_keys.iter().filter(keep).cloned().collect();
        let signing = self.signing.clone().filter(|k| keep(&k));
        Ok(Some(KeySet {
            signing_changes_at: self.signing_changes_at.filter(|_| signing.is_some()),
            signing,
            signing_since: self.signing_since,
            states,
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
