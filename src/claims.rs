//! RFC 9068 access-token claims: the JWT body tokenmint signs and resource servers read.
//!
//! This module is a leaf: it depends on serde only, so the verifying side can use it
//! without the server.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The JOSE `typ` header value of an access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// Claim names a client's or user's extra claims may not use: the registered JWT claims
/// (RFC 7519 §4.1), the ones RFC 9068 §2.2 and RFC 8693 §4 (`act`, `may_act`: delegation)
/// give a meaning to in access tokens, and the
/// members of an introspection response (RFC 7662 §2.2) that the response sets itself,
/// since introspection answers with the token's claims next to them.
pub const RESERVED_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "nbf",
    "iat",
    "jti",
    "client_id",
    "scope",
    "auth_time",
    "acr",
    "amr",
    "cnf",
    "act",
    "may_act",
    "typ",
    "active",
    "token_type",
];

/// The `aud` claim: one audience, or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience, serialized as a string.
    One(String),
    /// Several audiences, serialized as an array.
    Many(Vec<String>),
}

impl Audience {
    /// The audiences, one or many.
    pub fn as_slice(&self) -> &[String] {
        match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many,
        }
    }

    /// Whether `audience` is one of the audiences.
    pub fn contains(&self, audience: &str) -> bool {
        self.as_slice().iter().any(|a| a == audience)
    }
}

/// The claims of an RFC 9068 access token, as a verifier reads them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: the token service's issuer URL.
    pub iss: String,
    /// Subject: for the client credentials grant, the client itself.
    pub sub: String,
    /// Audience: the resource server(s) the token is meant for.
    pub aud: Audience,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// Issued at, seconds since the Unix epoch.
    pub iat: u64,
    /// Not before, seconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// Unique token identifier.
    pub jti: String,
    /// The OAuth client the token was issued to.
    pub client_id: String,
    /// Granted scopes, space-delimited (RFC 9068 §2.2.3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// Any further claims (a client's configured extra claims).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl AccessClaims {
    /// The granted scopes, one by one.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scope.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty())
    }

    /// Whether every one of `required` was granted.
    pub fn has_scopes(&self, required: &[&str]) -> bool {
        required.iter().all(|r| self.scopes().any(|s| s == *r))
    }
}
