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
