//! The claims of an access token as written: borrowed, serialized straight to JSON with no
//! intermediate map.

use serde::Serialize;
use serde_json::{Map, Value};

/// `aud`: a string for one audience, an array for several (RFC 7519 §4.1.3).
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub(super) enum AudienceRef<'a> {
    One(&'a str),
    Many(&'a [&'a str]),
}

impl<'a> AudienceRef<'a> {
    pub(super) fn from_slice(audiences: &'a [&'a str]) -> Self {
        match audiences {
            [one] => AudienceRef::One(one),
            many => AudienceRef::Many(many),
        }
    }
}

/// RFC 9068 §2.2 claims, in the order they are written.
#[derive(Debug, Serialize)]
pub(super) struct AccessTokenClaims<'a> {
    pub(super) iss: &'a str,
    pub(super) sub: &'a str,
    pub(super) aud: AudienceRef<'a>,
    pub(super) exp: u64,
    pub(super) iat: u64,
    pub(super) nbf: u64,
    pub(super) jti: &'a str,
    pub(super) client_id: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub(super) scope: &'a str,
    #[serde(flatten)]
    pub(super) extra: &'a Map<String, Value>,
}

/// A refresh token's claims (`typ: rt+jwt`). Only tokenmint reads them: the audience is
/// tokenmint itself, so no resource server accepts one as an access token.
#[derive(Debug, Serialize, serde::Deserialize)]
pub(super) struct RefreshClaims {
    pub(super) iss: String,
    /// The user.
    pub(super) sub: String,
    /// The issuer again: refresh tokens are addressed to tokenmint.
    pub(super) aud: String,
    /// The client the refresh token is bound to.
    pub(super) client_id: String,
    /// The scopes it may refresh, space-delimited.
    #[serde(default)]
    pub(super) scope: String,
    /// Fixed at login: refreshing never extends it.
    pub(super) exp: u64,
    pub(super) iat: u64,
    pub(super) jti: String,
    /// When the user last entered their password.
    pub(super) auth_time: u64,
}

/// An OpenID Connect ID token (OpenID Connect Core §2).
#[derive(Debug, Serialize)]
pub(super) struct IdTokenClaims<'a> {
    pub(super) iss: &'a str,
    pub(super) sub: &'a str,
    /// The client, per OpenID Connect Core §2.
    pub(super) aud: &'a str,
    pub(super) exp: u64,
    pub(super) iat: u64,
    pub(super) auth_time: u64,
    #[serde(flatten)]
    pub(super) extra: &'a Map<String, Value>,
}

impl crate::verify::Issued for RefreshClaims {
    fn issuer(&self) -> &str {
        &self.iss
    }

    fn audiences(&self) -> &[String] {
        std::slice::from_ref(&self.aud)
    }
}
