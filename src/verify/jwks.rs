//! A parsed JWK Set: verification keys by `kid`, each with the one algorithm it verifies.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::{ErrorKind, VerifyError};

/// One usable verification key.
pub(crate) struct VerifyKey {
    /// The algorithm this key verifies; a token's `alg` must equal it.
    pub(crate) alg: Algorithm,
    /// The public key.
    pub(crate) decoding: DecodingKey,
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey").field("alg", &self.alg).finish_non_exhaustive()
    }
}

/// Verification keys by `kid`. Cheap to clone.
///
/// Built from a JWKS, keeping only keys that can safely verify access tokens (RFC 7517 §4,
/// RFC 8725 §3.1: one key, one algorithm): a `kid` is required; `use`, if present, must be
/// `sig`; `key_ops`, if present, must include `verify`; symmetric (`oct`) keys are dropped.
/// Each key's algorithm is its `alg` member, or its curve's for EC and OKP keys; a key whose
/// `alg` is not a signature algorithm, or names another curve or key type, is dropped. Two
/// keys may share a `kid` if their algorithms differ (RFC 7517 §4.5); the token's `alg`
/// picks between them.
#[derive(Clone, Default)]
pub struct Jwks {
    keys: Arc<HashMap<String, Vec<Arc<VerifyKey>>>>,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Jwks").field("kids", &self.keys.keys().collect::<Vec<_>>()).finish()
    }
}

impl Jwks {
    /// Parses a JWKS document (`{"keys":[...]}`).
    pub fn from_json(bytes: &[u8]) -> Result<Self, VerifyError> {
        let set: JwkSet = serde_json::from_slice(bytes).map_err(|e| {
            VerifyError::new(ErrorKind::KeysUnavailable, format!("JWKS is not valid JSON: {e}"))
        })?;
        Ok(Self::from_set(&set))
    }

    /// Keeps the usable keys of a parsed JWK Set.
    pub fn from_set(set: &JwkSet) -> Self {
        let mut keys: HashMap<String, Vec<Arc<VerifyKey>>> = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            let Some(alg) = signature_algorithm(jwk) else { continue };
            let Ok(decoding) = DecodingKey::from_jwk(jwk) else { continue };
            let same_kid = keys.entry(kid).or_default();
            // A repeated (kid, alg) pair is ambiguous: the first one stays.
            if !same_kid.iter().any(|k| k.alg == alg) {
                same_kid.push(Arc::new(VerifyKey { alg, decoding }));
            }
        }
        Jwks { keys: Arc::new(keys) }
    }

    /// Builds a key set from keys already in hand (the server's own published keys).
    #[cfg(feature = "server")]
    pub(crate) fn from_keys(keys: impl IntoIterator<Item = (String, Algorithm, DecodingKey)>) -> Self {
        let mut by_kid: HashMap<String, Vec<Arc<VerifyKey>>> = HashMap::new();
        for (kid, alg, decoding) in keys {
            by_kid.entry(kid).or_default().push(Arc::new(VerifyKey { alg, decoding }));
        }
        Jwks { keys: Arc::new(by_kid) }
    }

    /// The key with this `kid` for `alg`; if none has that algorithm, another key with this
    /// `kid`, so that the caller reports the mismatch.
    pub(crate) fn get(&self, kid: &str, alg: Algorithm) -> Option<Arc<VerifyKey>> {
        let same_kid = self.keys.get(kid)?;
        same_kid.iter().find(|k| k.alg == alg).or_else(|| same_kid.first()).cloned()
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.values().map(Vec::len).sum()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key with this `kid` is present.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }
}

/// The one signature algorithm `jwk` may verify, or `None` if it must not verify tokens.
fn signature_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
        return None;
    }
    if jwk.common.key_operations.as_ref().is_some_and(|ops| !ops.contains(&KeyOperations::Verify)) {
        return None;
    }
    // An `alg` this library cannot verify with (an encryption algorithm, ES512, ...) means
    // the key is not for us, whatever its curve would suggest.
    let declared = match jwk.common.key_algorithm {
        Some(alg) => Some(Algorithm::try_from(alg).ok()?),
        None => None,
    };
    let alg = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(p) => match p.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return None,
        },
        AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
        AlgorithmParameters::RSA(_) => {
            const RSA: [Algorithm; 6] = [
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ];
            return declared.filter(|a| RSA.contains(a));
        }
        // Symmetric and unknown key types never verify access tokens.
        _ => return None,
    };
    match declared {
        Some(d) if d != alg => None,
        _ => Some(alg),
    }
}
