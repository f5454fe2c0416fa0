//! `[tokens]` in configuration: lifetimes, the signing algorithm, clock skew, token reuse.

use std::time::Duration;

use serde::Deserialize;

use crate::clients::RateLimit;
use crate::keys::Algorithm;

/// `[tokens]` in configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TokenSettings {
    /// Default access-token lifetime.
    #[serde(with = "humantime_serde")]
    pub(crate) ttl: Duration,
    /// Ceiling for any client's or request's lifetime.
    #[serde(with = "humantime_serde")]
    pub(crate) max_ttl: Duration,
    /// The algorithm that signs new tokens.
    pub(crate) algorithm: Algorithm,
    /// Clock-skew allowance, for verifiers and for `nbf`.
    #[serde(with = "humantime_serde")]
    pub(crate) leeway: Duration,
    /// Lifetime of a refresh token (password grant), counted from the login.
    #[serde(with = "humantime_serde")]
    pub(crate) refresh_ttl: Duration,
    /// How long an identical client-credentials request gets the same token (0: off).
    #[serde(with = "humantime_serde")]
    pub(crate) reuse_window: Duration,
    /// The token-request rate limit of every client that sets none (`"100/s"`); unset: none.
    pub(crate) rate_limit: Option<RateLimit>,
    /// Accept a client assertion only when its `aud` is exactly the issuer identifier, alone
    /// (draft-ietf-oauth-rfc7523bis); otherwise the token endpoint URL is accepted too.
    pub(crate) strict_assertion_audience: bool,
    /// How far ahead a client assertion's `exp` may lie (its lifetime, and how long its
    /// `jti` is remembered).
    #[serde(with = "humantime_serde")]
    pub(crate) assertion_max_lifetime: Duration,
    /// Most client-assertion `jti`s remembered at once (per replica) until they expire;
    /// beyond, new assertions are refused.
    pub(crate) assertion_replay_capacity: usize,
}

impl Default for TokenSettings {
    fn default() -> Self {
        TokenSettings {
            ttl: Duration::from_secs(300),
            max_ttl: Duration::from_secs(3600),
            algorithm: Algorithm::ES256,
            leeway: Duration::from_secs(30),
            refresh_ttl: Duration::from_secs(24 * 3600),
            reuse_window: Duration::ZERO,
            rate_limit: None,
            strict_assertion_audience: false,
            assertion_max_lifetime: Duration::from_secs(300),
            assertion_replay_capacity: 100_000,
        }
    }
}
