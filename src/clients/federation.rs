//! Workload identity federation: issuers whose identity tokens tokenmint trusts
//! (`[[trusted_issuers]]`), and the external identities that may act as a client
//! (`federated_identities` on a client). A Kubernetes service-account token, a GitHub Actions
//! OIDC token or a SPIFFE JWT-SVID then authenticates the client, with no secret stored.
//!
//! Declared in configuration, so every replica agrees without a database. Matching is
//! exact: the issuer, the subject and each pinned claim must be equal. There are no
//! wildcards: a wildcard subject is the classic misconfiguration of GitHub OIDC trust.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::keys::{Fetcher, KeySource};
use crate::files;
use crate::verify::Jwks;

/// The longest `max_token_age` when none is set: one hour (a Kubernetes projected token is
/// refreshed after 80% of its lifetime, one hour by default).
pub(crate) const DEFAULT_MAX_TOKEN_AGE: Duration = Duration::from_secs(3600);

/// Claims a pinned-claims table may not name: the registered ones, which the checks
/// themselves decide.
const REGISTERED: &[&str] = &["iss", "sub", "aud", "exp", "iat", "nbf", "jti"];

/// One `[[trusted_issuers]]` entry before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TrustedIssuerSettings {
    /// The exact `iss` of its tokens.
    #[serde(default)]
    issuer: String,
    /// Where its keys are fetched; neither this nor `jwks_file`: discovery at the issuer.
    #[serde(default)]
    jwks_uri: Option<String>,
    /// A file holding its JWK Set (a Kubernetes cluster's `/openid/v1/jwks`, a SPIFFE bundle).
    #[serde(default)]
    jwks_file: Option<PathBuf>,
    /// Audiences its tokens' `aud` must contain one of; empty: this service's issuer.
    #[serde(default)]
    audiences: Vec<String>,
    /// Tokens older than this (by `iat`) are refused.
    #[serde(default, with = "humantime_serde")]
    max_token_age: Option<Duration>,
}

/// What is wrong with one trusted issuer.
#[derive(Debug, thiserror::Error)]
pub(crate) enum IssuerProblem {
    /// No `issuer`.
    #[error("`issuer` is required")]
    MissingIssuer,
    /// Our own issuer: our access tokens are not identity tokens.
    #[error("`issuer` is this service's own issuer; its access tokens do not authenticate clients")]
    OwnIssuer,
    /// Both sources of keys.
    #[error("set at most one of `jwks_uri` and `jwks_file`")]
    TwoKeySources,
    /// A key file that could not be read or holds no usable key.
    #[error("jwks_file `{path}`: {reason}")]
    KeyFile {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// A `jwks_uri` (or, for discovery, the issuer) that is not an HTTPS URL.
    #[error("{0}")]
    Url(String),
    /// `max_token_age = "0s"`.
    #[error("`max_token_age` must be longer than zero")]
    ZeroAge,
    /// An empty audience.
    #[error("`audiences` must not contain an empty string")]
    EmptyAudience,
}

/// A trusted issuer, validated.
#[derive(Debug)]
pub(crate) struct TrustedIssuer {
    /// Its exact `iss`.
    pub(crate) issuer: String,
    /// Its keys.
    pub(crate) keys: KeySource,
    /// Accepted `aud` values (at least one).
    pub(crate) audiences: Vec<String>,
    /// Oldest token accepted, by `iat`.
    pub(crate) max_token_age: Duration,
}

impl TrustedIssuerSettings {
    /// Validates the settings; `own_issuer` is this service's issuer (the default audience),
    /// `fetcher` what fetched keys are fetched with.
    pub(crate) fn into_trusted(
        self,
        own_issuer: &str,
        fetcher: &Fetcher,
    ) -> Result<TrustedIssuer, Vec<IssuerProblem>> {
        let mut errors = Vec::new();
        if self.issuer.is_empty() {
            errors.push(IssuerProblem::MissingIssuer);
        } else if self.issuer.trim_end_matches('/') == own_issuer.trim_end_matches('/') {
            errors.push(IssuerProblem::OwnIssuer);
        }
        if self.max_token_age == Some(Duration::ZERO) {
            errors.push(IssuerProblem::ZeroAge);
        }
        if self.audiences.iter().any(String::is_empty) {
            errors.push(IssuerProblem::EmptyAudience);
        }
        let keys = match (&self.jwks_uri, &self.jwks_file) {
            (Some(_), Some(_)) => Err(IssuerProblem::TwoKeySources),
            (Some(uri), None) => {
                KeySource::remote(uri, fetcher).map_err(|e| IssuerProblem::Url(e.to_string()))
            }
            (None, Some(path)) => read_issuer_keys(path),
            (None, None) => {
                KeySource::discovered(&self.issuer, fetcher).map_err(|e| IssuerProblem::Url(e.to_string()))
            }
        };
        let keys = keys.map_err(|e| errors.push(e)).ok();
        match keys {
            Some(keys) if errors.is_empty() => Ok(TrustedIssuer {
                audiences: match self.audiences.is_empty() {
                    true => vec![own_issuer.to_owned()],
                    false => self.audiences,
                },
                issuer: self.issuer,
                keys,
                max_token_age: self.max_token_age.unwrap_or(DEFAULT_MAX_TOKEN_AGE),
            }),
            _ => Err(errors),
        }
    }
}

/// A trusted issuer's key file: a JWK Set of which at least one key can verify tokens.
fn read_issuer_keys(path: &std::path::Path) -> Result<KeySource, IssuerProblem> {
    let problem = |reason: String| IssuerProblem::KeyFile { path: path.display().to_string(), reason };
    let bytes = files::read_bounded(path, files::MAX_JWKS_FILE).map_err(|e| problem(e.to_string()))?;
    let jwks = Jwks::from_json(&bytes).map_err(|e| problem(e.to_string()))?;
    if jwks.is_empty() {
        return Err(problem("no key with a `kid` that can verify signatures".to_owned()));
    }
    Ok(KeySource::Static(jwks))
}

/// An external identity that may act as a client: `{ issuer, subject, claims }`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FederatedIdentity {
    /// A trusted issuer's `issuer`.
    pub(crate) issuer: String,
    /// The exact `sub`.
    pub(crate) subject: String,
    /// Claims that must be present with exactly these values (GitHub's `repository_id`...).
    #[serde(default)]
    pub(crate) claims: Map<String, Value>,
}

impl FederatedIdentity {
    /// A pinned claim that is a registered one, if any (the checks decide those).
    pub(crate) fn registered_claim(&self) -> Option<&str> {
        self.claims.keys().map(String::as_str).find(|k| REGISTERED.contains(k))
    }

    /// Whether a token of `issuer` about `subject` with `claims` is this identity.
    pub(crate) fn matches(&self, issuer: &str, subject: &str, claims: &Map<String, Value>) -> bool {
        self.issuer == issuer
            && self.subject == subject
            && self.claims.iter().all(|(name, value)| claims.get(name) == Some(value))
    }
}

/// The trusted issuers, by `issuer`.
#[derive(Debug, Default)]
pub(crate) struct TrustedIssuers {
    by_issuer: HashMap<String, Arc<TrustedIssuer>>,
}

impl TrustedIssuers {
    /// The set; issuers are unique (configuration refuses duplicates).
    pub(crate) fn new(issuers: Vec<TrustedIssuer>) -> Self {
        TrustedIssuers { by_issuer: issuers.into_iter().map(|i| (i.issuer.clone(), Arc::new(i))).collect() }
    }

    /// These issuers, keeping the key caches of `previous` where an issuer's keys come from
    /// the same place.
    pub(crate) fn succeeding(issuers: Vec<TrustedIssuer>, previous: &TrustedIssuers) -> Self {
        let kept = issuers.into_iter().map(|TrustedIssuer { issuer, keys, audiences, max_token_age }| {
            let keys = match previous.get(&issuer) {
                Some(old) => keys.keep_cache(&old.keys),
                None => keys,
            };
            TrustedIssuer { issuer, keys, audiences, max_token_age }
        });
        Self::new(kept.collect())
    }

    /// The trusted issuer with this `issuer`.
    pub(crate) fn get(&self, issuer: &str) -> Option<&Arc<TrustedIssuer>> {
        self.by_issuer.get(issuer)
    }

    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        self.by_issuer.len()
    }
}
