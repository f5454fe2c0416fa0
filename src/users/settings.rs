//! A user as written in configuration, and its validation into a [`User`].

use serde::Deserialize;
use serde_json::{Map, Value};

use super::User;
use crate::claims::RESERVED_CLAIMS;
use crate::credentials::{SecretHash, SecretHashError};
use crate::oauth::is_scope_token;

/// One `[[users]]` entry (or one `TOKENMINT_USERS__<KEY>__*` group) before validation.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserSettings {
    /// The username. Required in TOML; from the environment it defaults to the key.
    #[serde(default)]
    pub(crate) username: Option<String>,
    /// argon2id PHC string (`tokenmint hash-password`).
    #[serde(default)]
    password_hash: Option<String>,
    /// Scopes the user may be granted.
    #[serde(default)]
    scopes: Vec<String>,
    /// Extra claims.
    #[serde(default)]
    claims: Map<String, Value>,
    /// Whether the user may log in.
    #[serde(default = "enabled_by_default")]
    enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// What is wrong with one user's settings; the configuration prefixes the entry.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UserProblem {
    /// No username, or one with spaces or non-ASCII characters.
    #[error("`username` is required: printable ASCII without spaces")]
    BadUsername,
    /// A SHA-256 hash where a slow one is needed.
    #[error(
        "`password_hash` must be argon2id (`tokenmint hash-password`): passwords are chosen by people, \
         so a fast hash would let a leaked config be brute-forced"
    )]
    FastHash,
    /// A hash that does not parse.
    #[error("`password_hash`: {0}")]
    BadHash(SecretHashError),
    /// A scope that breaks RFC 6749 §3.3's grammar.
    #[error("scope `{0}` is not a valid scope token (RFC 6749 §3.3)")]
    BadScope(String),
    /// An extra claim with a reserved name ([`RESERVED_CLAIMS`]).
    #[error("claim `{0}` is a registered claim and cannot be set per user")]
    ReservedClaim(String),
}

impl UserSettings {
    /// Validates into a user, reporting every problem at once.
    pub(crate) fn into_user(self) -> Result<User, Vec<UserProblem>> {
        let mut errors = Vec::new();
        let username = self.username.unwrap_or_default();
        if username.is_empty() || !username.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            errors.push(UserProblem::BadUsername);
        }
        let password_hash = self.password_hash.unwrap_or_default();
        match SecretHash::parse(&password_hash) {
            Ok(SecretHash::Argon2id(_)) => {}
            Ok(_) => errors.push(UserProblem::FastHash),
            Err(e) => errors.push(UserProblem::BadHash(e)),
        }
        errors.extend(
            self.scopes.iter().filter(|s| !is_scope_token(s)).map(|s| UserProblem::BadScope(s.clone())),
        );
        errors.extend(
            self.claims
                .keys()
                .filter(|k| RESERVED_CLAIMS.contains(&k.as_str()))
                .map(|k| UserProblem::ReservedClaim(k.clone())),
        );
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(User { username, password_hash, scopes: self.scopes, claims: self.claims, enabled: self.enabled })
    }
}
