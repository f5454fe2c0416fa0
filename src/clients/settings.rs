//! A client as written in configuration, and its validation into a [`Client`].

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::Client;
use super::rate::{Limiter, RateLimit};
use crate::claims::RESERVED_CLAIMS;
use crate::credentials::{SecretHash, SecretHashError};
use crate::oauth::{GrantType, is_resource_uri, is_scope_token};

/// One `[[clients]]` entry (or one `TOKENMINT_CLIENTS__<KEY>__*` group) before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ClientSettings {
    /// The `client_id`. Required in TOML; from the environment it defaults to the key.
    #[serde(default)]
    pub(crate) id: Option<String>,
    /// Accepted secret hashes: one string or a list.
    #[serde(default)]
    secret_hashes: OneOrMany,
    /// Grant types this client may use.
    #[serde(default = "default_grant_types")]
    grant_types: OneOrMany,
    /// Scopes this client may be granted.
    #[serde(default)]
    scopes: OneOrMany,
    /// Scopes granted when a request names none.
    #[serde(default)]
    default_scopes: OneOrMany,
    /// Audiences this client may ask for; the first is the default.
    #[serde(default)]
    audiences: OneOrMany,
    /// Token lifetime for this client.
    #[serde(default, with = "humantime_serde")]
    ttl: Option<Duration>,
    /// Extra claims.
    #[serde(default)]
    claims: Map<String, Value>,
    /// Whether the client may authenticate at all.
    #[serde(default = "default_enabled")]
    enabled: bool,
    /// Most token requests per period (`"20/s"`); unset: `tokens.rate_limit`, if any.
    #[serde(default)]
    rate_limit: Option<RateLimit>,
}

/// A list that may also be written as a single string (handy in environment variables).
#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    #[default]
    None,
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

fn default_grant_types() -> OneOrMany {
    OneOrMany::Many(vec![GrantType::ClientCredentials.as_str().to_owned()])
}

fn default_enabled() -> bool {
    true
}

/// What is wrong with one client's settings. Each names the setting; the configuration
/// prefixes the entry it is about.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientProblem {
    /// No `id`, or an empty one.
    #[error("`id` is required and must not be empty")]
    MissingId,
    /// RFC 6749 Appendix A.1: `client-id = *VSCHAR`.
    #[error("`id` may contain only printable ASCII (RFC 6749 Appendix A.1)")]
    IdNotAscii,
    /// No secret hash at all.
    #[error("`secret_hashes` must list at least one hash (see `tokenmint hash-secret`)")]
    NoSecretHash,
    /// A secret hash that does not parse.
    #[error("secret_hashes[{index}]: {source}")]
    SecretHash {
        /// Its place in the list.
        index: usize,
        /// Why it was refused.
        source: SecretHashError,
    },
    /// A grant type tokenmint does not implement.
    #[error(
        "unsupported grant type `{0}` (supported: {supported})",
        supported = GrantType::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
    )]
    UnsupportedGrant(String),
    /// `refresh_token` without `password`.
    #[error(
        "grant type `refresh_token` needs `password` (refresh tokens come only with the password grant; \
         client credentials get none, RFC 6749 §4.4.3)"
    )]
    RefreshWithoutPassword,
    /// A scope that breaks RFC 6749 §3.3's grammar.
    #[error("scope `{0}` is not a valid scope token (RFC 6749 §3.3)")]
    BadScope(String),
    /// A default scope the client may not have.
    #[error("default scope `{0}` is not among the client's `scopes`")]
    DefaultScopeNotAllowed(String),
    /// No audience.
    #[error("`audiences` must list at least one audience (RFC 9068 §2.2 requires `aud`)")]
    NoAudience,
    /// An empty audience.
    #[error("`audiences` must not contain an empty string")]
    EmptyAudience,
    /// `ttl = "0s"`.
    #[error("`ttl` must be longer than zero")]
    ZeroTtl,
    /// An extra claim with a reserved name ([`RESERVED_CLAIMS`]).
    #[error("claim `{0}` is a registered claim and cannot be set per client")]
    ReservedClaim(String),
}

impl ClientSettings {
    /// Validates the settings into a client, reporting every problem at once.
    pub(crate) fn into_client(self) -> Result<Client, Vec<ClientProblem>> {
        let mut errors = Vec::new();

        let id = self.id.unwrap_or_default();
        // RFC 6749 Appendix A.1: client-id = *VSCHAR; we also require at least one.
        if id.is_empty() {
            errors.push(ClientProblem::MissingId);
        } else if !id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            errors.push(ClientProblem::IdNotAscii);
        }

        let mut secret_hashes = Vec::new();
        let hashes = self.secret_hashes.into_vec();
        if hashes.is_empty() {
            errors.push(ClientProblem::NoSecretHash);
        }
        for (index, text) in hashes.iter().enumerate() {
            match SecretHash::parse(text) {
                Ok(h) => secret_hashes.push(h),
                Err(source) => errors.push(ClientProblem::SecretHash { index, source }),
            }
        }

        let mut grant_types = Vec::new();
        for name in self.grant_types.into_vec() {
            match GrantType::parse(&name) {
                Some(g) if !grant_types.contains(&g) => grant_types.push(g),
                Some(_) => {}
                None => errors.push(ClientProblem::UnsupportedGrant(name)),
            }
        }
        if grant_types.contains(&GrantType::RefreshToken) && !grant_types.contains(&GrantType::Password) {
            errors.push(ClientProblem::RefreshWithoutPassword);
        }

        let scopes = self.scopes.into_vec();
        errors
            .extend(scopes.iter().filter(|s| !is_scope_token(s)).map(|s| ClientProblem::BadScope(s.clone())));
        let default_scopes = self.default_scopes.into_vec();
        errors.extend(
            default_scopes
                .iter()
                .filter(|s| !scopes.contains(s))
                .map(|s| ClientProblem::DefaultScopeNotAllowed(s.clone())),
        );

        let audiences = self.audiences.into_vec();
        if audiences.is_empty() {
            errors.push(ClientProblem::NoAudience);
        }
        if audiences.iter().any(String::is_empty) {
            errors.push(ClientProblem::EmptyAudience);
        }

        if self.ttl == Some(Duration::ZERO) {
            errors.push(ClientProblem::ZeroTtl);
        }
        errors.extend(
            self.claims
                .keys()
                .filter(|k| RESERVED_CLAIMS.contains(&k.as_str()))
                .map(|k| ClientProblem::ReservedClaim(k.clone())),
        );

        if !errors.is_empty() {
            return Err(errors);
        }
        let resource_uris = audiences.iter().map(|a| is_resource_uri(a)).collect();
        Ok(Client {
            id,
            secret_hashes,
            grant_types,
            scopes,
            default_scope: default_scopes.join(" "),
            audiences,
            resource_uris,
            ttl: self.ttl,
            claims: self.claims,
            enabled: self.enabled,
            limiter: self.rate_limit.map(|limit| Arc::new(Limiter::new(limit))),
        })
    }
}
