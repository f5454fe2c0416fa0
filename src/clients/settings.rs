//! A client as written in configuration, and its validation into a [`Client`].

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use super::Client;
use crate::claims::RESERVED_CLAIMS;
use crate::credentials::SecretHash;
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

impl ClientSettings {
    /// Validates the settings into a client, reporting every problem at once.
    /// `label` names the entry in error messages.
    pub(crate) fn into_client(self, label: &str) -> Result<Client, Vec<String>> {
        let mut errors = Vec::new();
        let mut err = |msg: String| errors.push(format!("{label}: {msg}"));

        let id = self.id.unwrap_or_default();
        // RFC 6749 Appendix A.1: client-id = *VSCHAR; we also require at least one.
        if id.is_empty() {
            err("`id` is required and must not be empty".into());
        } else if !id.bytes().all(|b| (0x20..=0x7e).contains(&b)) {
            err("`id` may contain only printable ASCII (RFC 6749 Appendix A.1)".into());
        }

        let mut secret_hashes = Vec::new();
        let hashes = self.secret_hashes.into_vec();
        if hashes.is_empty() {
            err("`secret_hashes` must list at least one hash (see `tokenmint hash-secret`)".into());
        }
        for (i, text) in hashes.iter().enumerate() {
            match SecretHash::parse(text) {
                Ok(h) => secret_hashes.push(h),
                Err(e) => err(format!("secret_hashes[{i}]: {e}")),
            }
        }

        let mut grant_types = Vec::new();
        for name in self.grant_types.into_vec() {
            match GrantType::parse(&name) {
                Some(g) if !grant_types.contains(&g) => grant_types.push(g),
                Some(_) => {}
                None => err(format!(
                    "unsupported grant type `{name}` (supported: {})",
                    GrantType::ALL.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", ")
                )),
            }
        }

        let scopes = self.scopes.into_vec();
        for s in scopes.iter().filter(|s| !is_scope_token(s)) {
            err(format!("scope `{s}` is not a valid scope token (RFC 6749 §3.3)"));
        }
        let default_scopes = self.default_scopes.into_vec();
        for s in default_scopes.iter().filter(|s| !scopes.contains(s)) {
            err(format!("default scope `{s}` is not among the client's `scopes`"));
        }

        let audiences = self.audiences.into_vec();
        if audiences.is_empty() {
            err("`audiences` must list at least one audience (RFC 9068 §2.2 requires `aud`)".into());
        }
        if audiences.iter().any(String::is_empty) {
            err("`audiences` must not contain an empty string".into());
        }

        if self.ttl == Some(Duration::ZERO) {
            err("`ttl` must be longer than zero".into());
        }
        for name in self.claims.keys().filter(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
            err(format!("claim `{name}` is a registered claim and cannot be set per client"));
        }

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
        })
    }
}
