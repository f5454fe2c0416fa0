//! A client as written in configuration, and its validation into a [`Client`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::federation::FederatedIdentity;
use super::keys::{Fetcher, KeySource};
use super::rate::{Limiter, RateLimit};
use super::{AuthMethod, Client};
use crate::claims::RESERVED_CLAIMS;
use crate::credentials::{SecretHash, SecretHashError};
use crate::files;
use crate::oauth::{GrantType, is_resource_uri, is_scope_token};
use crate::verify::Jwks;

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
    /// The authentication methods it may use, by RFC 7591 name: one or a list. Unset: the
    /// secret methods when `secret_hashes` is set, and `private_key_jwt` when keys are.
    #[serde(default)]
    token_endpoint_auth_method: OneOrMany,
    /// A file holding its public keys (a JWK Set), for `private_key_jwt`.
    #[serde(default)]
    jwks_file: Option<PathBuf>,
    /// Its public keys written inline: a JWK Set as a JSON string or a table.
    #[serde(default)]
    jwks: Option<InlineJwks>,
    /// Where its public keys are fetched (RFC 7591 §2 `jwks_uri`).
    #[serde(default)]
    jwks_uri: Option<String>,
    /// External identities that may act as this client (trusted issuers' tokens).
    #[serde(default)]
    pub(crate) federated_identities: Vec<FederatedIdentity>,
    /// Audiences of the tokens this client may exchange on their subjects' behalf (RFC 8693).
    #[serde(default)]
    exchange_audiences: OneOrMany,
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
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    /// Not given.
    #[default]
    None,
    /// One string.
    One(String),
    /// A list.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The strings, in order.
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::None => Vec::new(),
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

/// An inline JWK Set: JSON text (`jwks = '{"keys":[...]}'`) or the document itself.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum InlineJwks {
    Text(String),
    Document(Value),
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
    /// No way to authenticate at all.
    #[error(
        "the client needs a way to authenticate: `secret_hashes` (see `tokenmint hash-secret`), public keys \
         (`jwks_file`, `jwks` or `jwks_uri`) or `federated_identities`"
    )]
    NoCredentials,
    /// A `token_endpoint_auth_method` tokenmint does not implement.
    #[error(
        "unsupported token_endpoint_auth_method `{0}` (supported: client_secret_basic, client_secret_post, \
         private_key_jwt)"
    )]
    UnknownMethod(String),
    /// A secret method allowed without a secret hash, or `private_key_jwt` without keys.
    #[error("token_endpoint_auth_method `{}` needs {}", .0.as_str(), if *.0 == AuthMethod::PrivateKeyJwt { "public keys (`jwks_file`, `jwks` or `jwks_uri`)" } else { "`secret_hashes`" })]
    MethodWithoutCredentials(AuthMethod),
    /// Secret hashes, or keys, that no allowed method would use.
    #[error("`{0}` is set but token_endpoint_auth_method allows no method that uses it")]
    UnusedCredentials(&'static str),
    /// More than one of `jwks_file`, `jwks` and `jwks_uri`.
    #[error("set at most one of `jwks_file`, `jwks` and `jwks_uri`")]
    TwoKeySources,
    /// Public keys that could not be read, or are not a set of public signature keys.
    #[error("{setting}: {reason}")]
    Keys {
        /// `jwks_file` (with its path), `jwks` or `jwks_uri`.
        setting: String,
        /// Why.
        reason: String,
    },
    /// A federated identity pinning a registered claim.
    #[error(
        "federated_identities[{index}]: claim `{claim}` is checked by tokenmint itself; pin only other claims"
    )]
    PinnedRegisteredClaim {
        /// Its place in the list.
        index: usize,
        /// The claim.
        claim: String,
    },
    /// A federated identity with an empty subject.
    #[error("federated_identities[{0}]: `subject` must not be empty")]
    EmptySubject(usize),
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
    /// Validates the settings into a client, reporting every problem at once; a `jwks_uri`
    /// fetches with `fetcher`'s client.
    pub(crate) fn into_client(self, fetcher: &Fetcher) -> Result<Client, Vec<ClientProblem>> {
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
        let keys = match client_keys(self.jwks_file, self.jwks, self.jwks_uri, fetcher) {
            Ok(keys) => keys,
            Err(problem) => {
                errors.push(problem);
                None
            }
        };
        let methods =
            auth_methods(self.token_endpoint_auth_method, !hashes.is_empty(), keys.is_some(), &mut errors);
        if hashes.is_empty() && keys.is_none() && self.federated_identities.is_empty() {
            errors.push(ClientProblem::NoCredentials);
        }
        for (index, identity) in self.federated_identities.iter().enumerate() {
            if identity.subject.is_empty() {
                errors.push(ClientProblem::EmptySubject(index));
            }
            if let Some(claim) = identity.registered_claim() {
                errors.push(ClientProblem::PinnedRegisteredClaim { index, claim: claim.to_owned() });
            }
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

        let exchange_audiences = self.exchange_audiences.into_vec();
        if exchange_audiences.iter().any(String::is_empty) {
            errors.push(ClientProblem::EmptyAudience);
        }
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
            methods,
            keys,
            federated: self.federated_identities,
            exchange_audiences,
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

/// The client's public keys from whichever of `jwks_file`, `jwks` and `jwks_uri` is set.
fn client_keys(
    file: Option<PathBuf>,
    inline: Option<InlineJwks>,
    uri: Option<String>,
    fetcher: &Fetcher,
) -> Result<Option<KeySource>, ClientProblem> {
    let problem = |setting: String| move |reason: String| ClientProblem::Keys { setting, reason };
    match (file, inline, uri) {
        (None, None, None) => Ok(None),
        (Some(path), None, None) => {
            let setting = format!("jwks_file `{}`", path.display());
            let bytes = files::read_bounded(&path, files::MAX_JWKS_FILE)
                .map_err(|e| problem(setting.clone())(e.to_string()))?;
            Jwks::from_client_json(&bytes).map(|j| Some(KeySource::Static(j))).map_err(problem(setting))
        }
        (None, Some(inline), None) => {
            let text = match inline {
                InlineJwks::Text(text) => text,
                InlineJwks::Document(doc) => doc.to_string(),
            };
            Jwks::from_client_json(text.as_bytes())
                .map(|j| Some(KeySource::Static(j)))
                .map_err(problem("jwks".into()))
        }
        (None, None, Some(uri)) => {
            KeySource::remote(&uri, fetcher).map(Some).map_err(|e| problem("jwks_uri".into())(e.to_string()))
        }
        _ => Err(ClientProblem::TwoKeySources),
    }
}

/// The methods a client may use: those it lists, each with what it needs; unset, those its
/// credentials allow.
fn auth_methods(
    listed: OneOrMany,
    has_secrets: bool,
    has_keys: bool,
    errors: &mut Vec<ClientProblem>,
) -> Vec<AuthMethod> {
    let names = listed.into_vec();
    if names.is_empty() {
        let mut methods = Vec::new();
        if has_secrets {
            methods.extend([AuthMethod::SecretBasic, AuthMethod::SecretPost]);
        }
        if has_keys {
            methods.push(AuthMethod::PrivateKeyJwt);
        }
        return methods;
    }
    let mut methods = Vec::new();
    for name in names {
        match AuthMethod::parse(&name) {
            Some(m) if !methods.contains(&m) => methods.push(m),
            Some(_) => {}
            None => errors.push(ClientProblem::UnknownMethod(name)),
        }
    }
    for &m in &methods {
        let has = if m == AuthMethod::PrivateKeyJwt { has_keys } else { has_secrets };
        if !has {
            errors.push(ClientProblem::MethodWithoutCredentials(m));
        }
    }
    if has_secrets && !methods.iter().any(|m| matches!(m, AuthMethod::SecretBasic | AuthMethod::SecretPost)) {
        errors.push(ClientProblem::UnusedCredentials("secret_hashes"));
    }
    if has_keys && !methods.contains(&AuthMethod::PrivateKeyJwt) {
        errors.push(ClientProblem::UnusedCredentials("jwks_file / jwks / jwks_uri"));
    }
    methods
}
