//! JWT client assertions (RFC 7521 §4.2, RFC 7523 §2.2 and §3): a client signs a short JWT
//! with its own key (`private_key_jwt`), or presents an identity token its platform issued
//! (workload identity federation, also as the RFC 7523 §2.1 grant). The signature is checked
//! by [`crate::verify::foreign`]; what the claims must say is decided here.
//!
//! `private_key_jwt` (RFC 7523 §3, RFC 8725):
//! - `iss` and `sub` are the client id;
//! - `aud` names this service: its issuer identifier or its token endpoint URL, or, with
//!   `tokens.strict_assertion_audience`, exactly the issuer identifier as the single
//!   audience (draft-ietf-oauth-rfc7523bis, after the 2025 audience-injection advisory);
//! - `exp` is required, not passed (with the leeway), and at most
//!   `tokens.assertion_max_lifetime` ahead; `iat` and `nbf`, if present, not in the future;
//! - `jti` is required and single-use ([`ReplayCache`]);
//! - algorithms: ES256, EdDSA, RS256 and PS256 only.
//!
//! A federated identity token: its `iss` is a trusted issuer, `aud` contains one of that
//! issuer's audiences, `exp` not passed, `iat` required and not older than the issuer's
//! `max_token_age`, and the client lists the identity (issuer, subject, pinned claims). Such
//! tokens are presented many times within their lifetime, so no `jti` rule applies; the
//! access token issued lives no longer than the identity token.

use std::time::{Duration, SystemTime};

use serde::Deserialize;
use serde_json::{Map, Value};

use super::replay::{ReplayCache, Seen};
use super::{Client, FederatedSubject, TrustedIssuers};
use crate::claims::Audience;
use crate::clock::unix_seconds;
use crate::verify::foreign::{self, ForeignHeader};
use crate::verify::{Algorithm, VerifyError};

/// The signature algorithms accepted for assertions and identity tokens, advertised as
/// `token_endpoint_auth_signing_alg_values_supported` (RFC 8414 §2).
pub(crate) const ASSERTION_ALGORITHMS: [Algorithm; 4] =
    [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256, Algorithm::PS256];

/// Longest `jti` accepted, in bytes: real ones are UUIDs or random strings.
const MAX_JTI_BYTES: usize = 256;

/// How assertions are judged: the service-wide part, from configuration.
#[derive(Debug, Clone)]
pub(crate) struct AssertionPolicy {
    /// This service's issuer identifier.
    pub(crate) issuer: String,
    /// Its token endpoint URL (the issuer and `/oauth2/token`).
    pub(crate) token_endpoint: String,
    /// Accept only the issuer identifier, as the single audience.
    pub(crate) strict_audience: bool,
    /// How far ahead a client assertion's `exp` may lie.
    pub(crate) max_lifetime: Duration,
    /// Clock-skew allowance.
    pub(crate) leeway: Duration,
}

/// Why an assertion was refused. Only logged (at debug): the client sees `invalid_client`,
/// as for a wrong secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AssertionError {
    /// The signature, the key or the token's form.
    #[error("{0}")]
    Token(#[from] VerifyError),
    /// The client declares no keys.
    #[error("the client has no public keys")]
    NoKeys,
    /// `iss` or `sub` is not the client id.
    #[error("iss and sub must both be the client id (RFC 7523 section 3)")]
    NotSelfIssued,
    /// `aud` does not name this service (as the policy requires).
    #[error("aud does not name this service{}", if *strict { " (strict: exactly the issuer identifier, alone)" } else { "" })]
    Audience {
        /// Whether the strict rule applied.
        strict: bool,
    },
    /// `exp` has passed.
    #[error("the assertion has expired")]
    Expired,
    /// `exp` lies too far ahead.
    #[error("exp lies more than {} s ahead", .0.as_secs())]
    TooLong(Duration),
    /// `iat` or `nbf` lies in the future.
    #[error("iat or nbf lies in the future")]
    NotYetValid,
    /// No `jti`, or one too long.
    #[error("jti is required (at most {MAX_JTI_BYTES} bytes) and single-use")]
    Jti,
    /// The `jti` was seen before.
    #[error("the assertion was used before (jti replay)")]
    Replayed,
    /// The replay cache is full of unexpired entries.
    #[error("the replay cache is full (tokens.assertion_replay_capacity); assertion refused")]
    ReplayCacheFull,
    /// `iss` is not a trusted issuer.
    #[error("the token's issuer is not a trusted issuer")]
    UntrustedIssuer,
    /// The client lists no identity of this issuer.
    #[error("the client accepts no identity of this issuer")]
    NotFederated,
    /// `iat` is missing, or older than `max_token_age`.
    #[error("the identity token has no iat or is older than the issuer's max_token_age")]
    TooOld,
    /// No identity of the client matches the subject and pinned claims.
    #[error("no federated identity of the client matches the token's subject and claims")]
    NoIdentity,
}

/// What a request's assertion claims to be, read before any check to find the client: its
/// `iss` and `sub`, unverified.
#[derive(Debug, Deserialize)]
pub(crate) struct Claimed {
    /// `iss`.
    pub(crate) iss: String,
    /// `sub`.
    pub(crate) sub: String,
}

impl Claimed {
    /// The unverified `iss` and `sub` of `token`, if it is a JWT that has both as strings.
    pub(crate) fn of(token: &str) -> Option<Claimed> {
        if token.len() > crate::verify::MAX_TOKEN_BYTES {
            return None;
        }
        jsonwebtoken::dangerous::insecure_decode_claims::<Claimed>(token).ok()
    }

    /// Whether the client signed it itself (`private_key_jwt`): `iss` = `sub`.
    pub(crate) fn self_issued(&self) -> bool {
        self.iss == self.sub
    }
}

/// The claims of an assertion or identity token that are checked.
#[derive(Debug, Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: Audience,
    exp: u64,
    #[serde(default)]
    iat: Option<u64>,
    #[serde(default)]
    nbf: Option<u64>,
    #[serde(default)]
    jti: Option<String>,
}

/// The claims of an identity token: the checked ones, and the rest for pinned claims.
#[derive(Debug, Deserialize)]
struct IdentityClaims {
    #[serde(flatten)]
    checked: AssertionClaims,
    /// Every claim the checked ones leave.
    #[serde(flatten)]
    other: Map<String, Value>,
}

impl AssertionPolicy {
    /// Checks `client`'s own assertion `token` as of `now`; `replay` remembers its `jti`.
    pub(crate) async fn private_key_jwt(
        &self,
        client: &Client,
        token: &str,
        replay: &ReplayCache,
        now: SystemTime,
    ) -> Result<(), AssertionError> {
        let keys = client.keys.as_ref().ok_or(AssertionError::NoKeys)?;
        let header = foreign::header(token)?;
        let jwks = keys.keys_for(&header).await?;
        let claims: AssertionClaims = foreign::claims(&header, &jwks, &ASSERTION_ALGORITHMS)?;
        if claims.iss != client.id || claims.sub != client.id {
            return Err(AssertionError::NotSelfIssued);
        }
        if !self.names_us(&claims.aud) {
            return Err(AssertionError::Audience { strict: self.strict_audience });
        }
        let (now, leeway) = (unix_seconds(now), self.leeway.as_secs());
        if claims.exp.saturating_add(leeway) <= now {
            return Err(AssertionError::Expired);
        }
        if claims.exp > now.saturating_add(self.max_lifetime.as_secs()).saturating_add(leeway) {
            return Err(AssertionError::TooLong(self.max_lifetime));
        }
        if [claims.iat, claims.nbf].into_iter().flatten().any(|t| t > now.saturating_add(leeway)) {
            return Err(AssertionError::NotYetValid);
        }
        let jti =
            claims.jti.filter(|j| !j.is_empty() && j.len() <= MAX_JTI_BYTES).ok_or(AssertionError::Jti)?;
        match replay.first_use(&client.id, &jti, claims.exp.saturating_add(leeway), now) {
            Seen::First => Ok(()),
            Seen::Again => Err(AssertionError::Replayed),
            Seen::Full => {
                tracing::warn!(
                    client_id = %client.id.escape_debug(),
                    "assertion refused: the replay cache is full (raise tokens.assertion_replay_capacity)"
                );
                Err(AssertionError::ReplayCacheFull)
            }
        }
    }

    /// Checks the identity token `token` of a trusted issuer, presented as `client`, as of
    /// `now`: who it names, and until when the access token may live.
    pub(crate) async fn federated(
        &self,
        client: &Client,
        token: &str,
        issuers: &TrustedIssuers,
        now: SystemTime,
    ) -> Result<FederatedSubject, AssertionError> {
        let claimed = Claimed::of(token).ok_or(AssertionError::UntrustedIssuer)?;
        let issuer = issuers.get(&claimed.iss).ok_or(AssertionError::UntrustedIssuer)?;
        if !client.federated.iter().any(|f| f.issuer == issuer.issuer) {
            return Err(AssertionError::NotFederated);
        }
        let header: ForeignHeader<'_> = foreign::header(token)?;
        let jwks = issuer.keys.keys_for(&header).await?;
        let IdentityClaims { checked: claims, other } =
            foreign::claims(&header, &jwks, &ASSERTION_ALGORITHMS)?;
        // Verified now: the issuer whose keys signed it is the one it names.
        if claims.iss != issuer.issuer {
            return Err(AssertionError::UntrustedIssuer);
        }
        if !issuer.audiences.iter().any(|a| claims.aud.contains(a)) {
            return Err(AssertionError::Audience { strict: false });
        }
        let (now, leeway) = (unix_seconds(now), self.leeway.as_secs());
        // No leeway on `exp`: the access token may not outlive it.
        if claims.exp <= now {
            return Err(AssertionError::Expired);
        }
        let iat = claims.iat.ok_or(AssertionError::TooOld)?;
        if [Some(iat), claims.nbf].into_iter().flatten().any(|t| t > now.saturating_add(leeway)) {
            return Err(AssertionError::NotYetValid);
        }
        if now.saturating_sub(iat) > issuer.max_token_age.as_secs() {
            return Err(AssertionError::TooOld);
        }
        if !client.federated.iter().any(|f| f.matches(&claims.iss, &claims.sub, &other)) {
            return Err(AssertionError::NoIdentity);
        }
        Ok(FederatedSubject { issuer: claims.iss, subject: claims.sub, expires_at: claims.exp })
    }

    /// Whether `aud` names this service, under the policy.
    fn names_us(&self, aud: &Audience) -> bool {
        let values = aud.as_slice();
        if self.strict_audience {
            return values.len() == 1 && values[0] == self.issuer;
        }
        values.iter().any(|a| *a == self.issuer || *a == self.token_endpoint)
    }
}
