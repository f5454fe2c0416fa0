//! The public JWK Set document (RFC 7517 §5), serialized once per key-set change.
//!
//! Holds public key parameters only: it is built from [`SigningKey::jwk`], which never
//! contains private material.

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use jsonwebtoken::jwk::JwkSet;

use super::{KeyError, SigningKey};

/// The serialized JWKS and its entity tag.
#[derive(Debug, Clone)]
pub(crate) struct JwksDocument {
    /// `{"keys":[...]}` as sent on the wire.
    pub(crate) bytes: Bytes,
    /// A strong ETag (RFC 9110 §8.8.3) over the bytes, quotes included.
    pub(crate) etag: Bytes,
}

impl JwksDocument {
    /// Serializes the public JWKs of `keys`, in the order given.
    pub(crate) fn build<'a>(keys: impl IntoIterator<Item = &'a SigningKey>) -> Result<Self, KeyError> {
        let set = JwkSet { keys: keys.into_iter().map(|k| k.jwk().clone()).collect() };
        let bytes = serde_json::to_vec(&set)?;
        let d = digest::digest(&digest::SHA256, &bytes);
        let etag = Bytes::from(format!("\"{}\"", URL_SAFE_NO_PAD.encode(&d.as_ref()[..16])));
        Ok(JwksDocument { bytes: Bytes::from(bytes), etag })
    }
}
