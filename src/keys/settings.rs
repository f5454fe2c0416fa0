//! `[keys]` in configuration, and the invariants that keep rotation invisible to verifiers.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::schedule::KeyPolicy;
use super::{Algorithm, MasterSecret, derive};

/// Where signing keys come from (`keys.source`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SourceKind {
    /// Key files in `keys.dir`, shared by the replicas.
    #[default]
    Dir,
    /// Derived per rotation period from a master secret ([`derive`]); no files.
    Derived,
}

/// `[keys]` in configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct KeySettings {
    /// Where keys come from: the directory (default) or derivation from a master secret.
    pub(crate) source: SourceKind,
    /// With `source = "derived"`: a file holding the master secret.
    pub(crate) master_secret_file: Option<PathBuf>,
    /// With `source = "derived"`: the master secret itself, from the environment only
    /// (`TOKENMINT_KEYS__MASTER_SECRET`); configuration refuses it in the TOML file. After
    /// loading it also holds the secret read from `master_secret_file`.
    pub(crate) master_secret: Option<MasterSecret>,
    /// The key directory.
    pub(crate) dir: PathBuf,
    /// Longest `Cache-Control: max-age` of the JWKS response (it is shorter when the key set
    /// is known to change sooner).
    #[serde(with = "humantime_serde")]
    pub(crate) jwks_max_age: Duration,
    /// How long a new key sits in the JWKS before it signs.
    #[serde(with = "humantime_serde")]
    pub(crate) publish_ahead: Duration,
    /// Automatic rotation period; `"off"` (the default) for none.
    #[serde(deserialize_with = "duration_or_off")]
    pub(crate) rotate_every: Option<Duration>,
    /// Whether this process creates the keys that `rotate_every` calls for. Exactly one
    /// writer per key directory: set it on one replica, or run `tokenmint keys rotate` from
    /// a scheduler instead.
    pub(crate) auto_rotate: bool,
    /// How often the key directory is re-read when file-system events are not delivered
    /// (network file systems, some container volumes).
    #[serde(with = "humantime_serde")]
    pub(crate) poll_interval: Duration,
}

impl Default for KeySettings {
    fn default() -> Self {
        KeySettings {
            source: SourceKind::Dir,
            master_secret_file: None,
            master_secret: None,
            dir: PathBuf::from("keys"),
            jwks_max_age: Duration::from_secs(300),
            publish_ahead: Duration::from_secs(3600),
            rotate_every: None,
            auto_rotate: false,
            poll_interval: Duration::from_secs(10),
        }
    }
}

/// Accepts a human duration (`"24h"`) or `"off"`.
fn duration_or_off<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let text = String::deserialize(d)?;
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    humantime::parse_duration(&text).map(Some).map_err(serde::de::Error::custom)
}

/// How long a retired key stays published after its successor starts signing: the longest
/// token lifetime plus the clock-skew allowance, so that every token a key signed can be
/// verified until it expires. Invariant: `retire_after(max_ttl, leeway) ≥ max_ttl + leeway`.
pub(crate) fn retire_after(max_ttl: Duration, leeway: Duration) -> Duration {
    max_ttl.saturating_add(leeway)
}

/// A key setting that breaks an invariant of [`check_settings`]. Each message explains it.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeyProblem {
    /// Invariant 1.
    #[error(
        "keys.publish_ahead ({}) must be longer than keys.jwks_max_age ({}) + keys.poll_interval ({}) + \
         tokens.leeway ({}) = {}: otherwise a new key could sign before every verifier has fetched it",
        human(*publish_ahead), human(*jwks_max_age), human(*poll_interval), human(*leeway), human(*needed)
    )]
    PublishTooLate {
        /// `keys.publish_ahead`.
        publish_ahead: Duration,
        /// `keys.jwks_max_age`.
        jwks_max_age: Duration,
        /// `keys.poll_interval`.
        poll_interval: Duration,
        /// `tokens.leeway`.
        leeway: Duration,
        /// Their sum.
        needed: Duration,
    },
    /// Invariant 2.
    #[error(
        "keys.rotate_every ({}) must be longer than keys.publish_ahead ({}): each key must be published \
         before the next one is created",
        human(*rotate_every), human(*publish_ahead)
    )]
    RotateBeforePublished {
        /// `keys.rotate_every`.
        rotate_every: Duration,
        /// `keys.publish_ahead`.
        publish_ahead: Duration,
    },
    /// Invariant 3.
    #[error("keys.auto_rotate = true needs keys.rotate_every (e.g. \"24h\")")]
    AutoRotateWithoutPeriod,
    /// `keys.poll_interval = "0s"`.
    #[error("keys.poll_interval must be longer than zero")]
    ZeroPollInterval,
    /// Invariant 4: derived keys without periods.
    #[error(
        "keys.source = \"derived\" needs keys.rotate_every (e.g. \"24h\"): one key is derived per period"
    )]
    DerivedWithoutPeriod,
    /// Invariant 4: so short a period that too many keys would be needed at once.
    #[error(
        "keys.rotate_every ({}) is too short for derived keys: tokens live up to {} (the longest of \
         tokens.max_ttl and tokens.refresh_ttl, plus tokens.leeway), which would keep {needed} keys \
         (at most {})",
        human(*rotate_every), human(*keep), derive::MAX_DERIVED_KEYS
    )]
    DerivedPeriodTooShort {
        /// `keys.rotate_every`.
        rotate_every: Duration,
        /// How long a key may still verify a token.
        keep: Duration,
        /// How many keys that would keep.
        needed: u128,
    },
    /// Invariant 4: no master secret.
    #[error(
        "keys.source = \"derived\" needs a master secret: keys.master_secret_file, or the environment \
         variable TOKENMINT_KEYS__MASTER_SECRET"
    )]
    DerivedWithoutSecret,
    /// Invariant 4: the master secret from two places.
    #[error(
        "give the master secret once: TOKENMINT_KEYS__MASTER_SECRET or keys.master_secret_file, not both"
    )]
    SecretTwice,
    /// Invariant 4: RSA keys cannot be derived.
    #[error("keys.source = \"derived\" derives ES256 or EdDSA keys only; RS256 needs keys.dir")]
    DerivedRsa,
    /// Invariant 4: nothing to create.
    #[error("keys.auto_rotate has no effect with keys.source = \"derived\": remove it")]
    DerivedAutoRotate,
}

/// A duration as configuration writes it (`1h 5m`).
fn human(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

/// The invariants that keep rotation invisible to verifiers, checked at startup and by
/// `tokenmint config check`. Each violation is explained in its message.
///
/// 1. `publish_ahead > jwks_max_age + poll_interval + leeway`: a verifier refetches the
///    JWKS at least every `jwks_max_age`, a replica notices a new key file within
///    `poll_interval` (sooner with file-system events), and clocks differ by up to `leeway`;
///    a key published for less than their sum could sign before some verifier has it.
/// 2. `rotate_every > publish_ahead`: each key must be published before the next one is made.
/// 3. `auto_rotate` needs `rotate_every`.
/// 4. Derived keys need `rotate_every` (their periods), a master secret from one place, an
///    algorithm that can be derived, no `auto_rotate` (there is nothing to create), and few
///    enough periods per token lifetime ([`derive::MAX_DERIVED_KEYS`]).
pub(crate) fn check_settings(keys: &KeySettings, policy: &KeyPolicy, leeway: Duration) -> Vec<KeyProblem> {
    let mut errors = Vec::new();
    let needed = keys.jwks_max_age.saturating_add(keys.poll_interval).saturating_add(leeway);
    if keys.publish_ahead <= needed {
        errors.push(KeyProblem::PublishTooLate {
            publish_ahead: keys.publish_ahead,
            jwks_max_age: keys.jwks_max_age,
            poll_interval: keys.poll_interval,
            leeway,
            needed,
        });
    }
    if let Some(every) = keys.rotate_every
        && every <= keys.publish_ahead
    {
        errors.push(KeyProblem::RotateBeforePublished {
            rotate_every: every,
            publish_ahead: keys.publish_ahead,
        });
    }
    if keys.auto_rotate && keys.rotate_every.is_none() {
        errors.push(KeyProblem::AutoRotateWithoutPeriod);
    }
    if keys.poll_interval.is_zero() {
        errors.push(KeyProblem::ZeroPollInterval);
    }
    if keys.source == SourceKind::Derived {
        errors.extend(check_derived(keys, policy));
    }
    errors
}

/// Invariant 4 of [`check_settings`].
fn check_derived(keys: &KeySettings, policy: &KeyPolicy) -> Vec<KeyProblem> {
    let mut errors = Vec::new();
    match keys.rotate_every {
        None => errors.push(KeyProblem::DerivedWithoutPeriod),
        Some(every) => {
            let keep = policy.verifies_for();
            let needed = keep.as_millis() / every.as_millis().max(1) + 2;
            if needed > u128::from(derive::MAX_DERIVED_KEYS) {
                errors.push(KeyProblem::DerivedPeriodTooShort { rotate_every: every, keep, needed });
            }
        }
    }
    match (&keys.master_secret, &keys.master_secret_file) {
        (None, None) => errors.push(KeyProblem::DerivedWithoutSecret),
        (Some(_), Some(_)) => errors.push(KeyProblem::SecretTwice),
        _ => {}
    }
    if policy.alg == Algorithm::RS256 {
        errors.push(KeyProblem::DerivedRsa);
    }
    if keys.auto_rotate {
        errors.push(KeyProblem::DerivedAutoRotate);
    }
    errors
}
