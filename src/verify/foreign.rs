//! JWTs signed by someone else's key: a client's assertion (`private_key_jwt`, RFC 7523
//! §2.2) or a workload platform's identity token (a Kubernetes service-account token, a
//! GitHub Actions OIDC token, a SPIFFE JWT-SVID; RFC 7523 §2.1).
//!
//! Only the signature is checked here, the RFC 8725 way: the key decides the algorithm,
//! which must also be allowed; `none` and HMAC never verify (no key of a [`Jwks`] is
//! symmetric); a `crit` header is refused; `jku`, `x5u`, `jwk` and `x5c` are ignored. The
//! claims' meaning (`iss`, `sub`, `aud`, times, `jti`) is the caller's to check: it differs
//! between assertions and identity tokens.

use jsonwebtoken::Algorithm;

use super::compact::{self, Compact};
use super::jwks::Jwks;
use super::{ACCESS_TOKEN_TYPE, ErrorKind, VerifyError};

/// A foreign JWT, split, with the parts of its header the checks need.
#[derive(Debug)]
pub(crate) struct ForeignHeader<'a> {
    /// The token, split.
    compact: Compact<'a>,
    /// `kid`, which identity tokens always carry and assertions may leave out.
    pub(crate) kid: Option<String>,
}

/// Splits the token and checks its header ([`compact::split`]: size, `crit`), and that the
/// token is not one of our access tokens (`typ` `at+jwt`, RFC 9068 §4): an access token never stands for an
/// assertion (RFC 8725 §3.11, explicit typing keeps the kinds of JWT apart).
pub(crate) fn header(token: &str) -> Result<ForeignHeader<'_>, VerifyError> {
    let compact = compact::split(token)?;
    if compact.header.typ_is(ACCESS_TOKEN_TYPE) {
        return Err(VerifyError::new(
            ErrorKind::WrongType,
            "an access token (typ at+jwt) is not an assertion",
        ));
    }
    let kid = compact.header.kid.clone();
    Ok(ForeignHeader { compact, kid })
}

/// Verifies the signature with the key of `keys` the header names by `kid` (each of the keys
/// with that `kid` and algorithm is tried), or, without a `kid`, with the only key of the
/// token's algorithm; then decodes the claims (once, after the signature).
pub(crate) fn claims<T: serde::de::DeserializeOwned>(
    header: &ForeignHeader<'_>,
    keys: &Jwks,
    algorithms: &[Algorithm],
) -> Result<T, VerifyError> {
    let alg = header.compact.header.alg;
    let verify = |key: &_| super::verify_signature(&header.compact, key, algorithms);
    match &header.kid {
        Some(kid) => {
            let candidates = keys.get(kid, alg).ok_or_else(super::unknown_kid)?;
            super::first_verifying(candidates, verify)?;
        }
        None => {
            let key = keys.only_of(alg).ok_or_else(|| {
                VerifyError::new(
                    ErrorKind::UnknownKey,
                    "the token has no kid, and the key set has no single key of its algorithm",
                )
            })?;
            verify(key)?;
        }
    }
    header.compact.claims()
}
