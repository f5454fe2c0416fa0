//! The access-token hot path of [`Verifier`](super::Verifier) and introspection: a compact
//! JWS (RFC 7515 §7.1) split once, its header and claims each decoded once, the signature
//! checked with a key parsed when the key set was built (aws-lc-rs `ParsedPublicKey`).
//!
//! jsonwebtoken's `decode` parses the key again for every token, decodes the header twice
//! (once for `decode_header`, once inside `decode`) and the claims twice (into a map for its
//! validation, then into the caller's type). Measured on one core (criterion,
//! `benches/verify.rs`, BENCHMARKS.md "Token verification at the signature's cost"), this
//! path verifies at 1.01× (ES256), 1.04× (EdDSA) and 0.96× (RS256) of the raw signature check
//! that parses the key on each call, as `decode` does, where `decode` took 1.04×, 1.07× and
//! 1.19× in the same run; against a key parsed once (`benches/verify_paired.rs`), at 1.03×,
//! 1.04× and 1.10×: about 2 µs of base64url and JSON whatever the algorithm. The rules
//! are jsonwebtoken's: three base64url segments without padding, a header whose `alg` is a
//! known JWS algorithm (so `none` is malformed), duplicate members refused (serde), unknown
//! header members (`jku`, `x5u`, `jwk`, `x5c`) ignored, and the claims read only once the
//! signature verified.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;

use super::{ErrorKind, MAX_TOKEN_BYTES, VerifyError};

/// The header members the checks read; the others are ignored.
#[derive(Debug, Deserialize)]
pub(super) struct RawHeader {
    /// `alg`: a JWS algorithm jsonwebtoken knows (`none` is not one).
    pub(super) alg: Algorithm,
    /// `typ`.
    #[serde(default)]
    pub(super) typ: Option<String>,
    /// `kid`.
    #[serde(default)]
    pub(super) kid: Option<String>,
    /// `crit`: present at all means an extension this verifier does not understand.
    #[serde(default)]
    crit: Option<serde::de::IgnoredAny>,
}

impl RawHeader {
    /// Whether `typ` is `expected`, or its `application/` form, in any case (media types
    /// are case-insensitive, RFC 7515 §4.1.9).
    pub(super) fn typ_is(&self, expected: &str) -> bool {
        const PREFIX: &str = "application/";
        self.typ.as_deref().is_some_and(|t| {
            let short = match t.get(..PREFIX.len()) {
                Some(p) if p.eq_ignore_ascii_case(PREFIX) => &t[PREFIX.len()..],
                _ => t,
            };
            short.eq_ignore_ascii_case(expected)
        })
    }
}

/// A compact JWS, split and its header decoded.
#[derive(Debug)]
pub(super) struct Compact<'a> {
    /// `BASE64URL(header) "." BASE64URL(payload)`: what the signature covers.
    pub(super) signing_input: &'a str,
    /// The payload segment, still encoded: decoded only once the signature verified.
    payload: &'a str,
    /// The decoded signature.
    pub(super) signature: Vec<u8>,
    /// The decoded header.
    pub(super) header: RawHeader,
}

fn malformed(detail: &'static str) -> VerifyError {
    VerifyError::new(ErrorKind::Malformed, detail)
}

/// Splits `token` into its three segments and decodes the header and the signature; a
/// header with `crit` is refused (no extension is understood, RFC 7515 §4.1.11).
pub(super) fn split(token: &str) -> Result<Compact<'_>, VerifyError> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(malformed("token is too long"));
    }
    let (signing_input, signature) = token.rsplit_once('.').ok_or_else(|| malformed("not a JWS: no `.`"))?;
    let (header, payload) = signing_input
        .split_once('.')
        .ok_or_else(|| malformed("not a compact JWS: three segments expected"))?;
    if payload.contains('.') {
        return Err(malformed("not a compact JWS: three segments expected"));
    }
    let header_json = URL_SAFE_NO_PAD.decode(header).map_err(|_| malformed("header is not base64url"))?;
    let header: RawHeader = serde_json::from_slice(&header_json)
        .map_err(|_| malformed("header is not a JWS header with a known `alg`"))?;
    if header.crit.is_some() {
        return Err(malformed("crit header names extensions this verifier does not understand"));
    }
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| malformed("signature is not base64url"))?;
    Ok(Compact { signing_input, payload, signature, header })
}

impl Compact<'_> {
    /// The claims, decoded from the payload (after the signature verified).
    pub(super) fn claims<T: serde::de::DeserializeOwned>(&self) -> Result<T, VerifyError> {
        let json = URL_SAFE_NO_PAD.decode(self.payload).map_err(|_| malformed("payload is not base64url"))?;
        serde_json::from_slice(&json).map_err(VerifyError::from_claims_json)
    }
}
