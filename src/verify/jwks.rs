//! A parsed JWK Set: verification keys by `kid`, each with the one algorithm it verifies.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, PublicKeyUse};
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
/// Built from a JWKS, keeping only keys that can safely verify access tokens: a `kid` is
/// required, `use` (if present) must be `sig`, symmetric (`oct`) keys are dropped, and each
/// key's algorithm comes from its `alg` member, or from its curve for EC and OKP keys.
#[derive(Clone, Default)]
pub struct Jwks {
    keys: Arc<HashMap<String, Arc<VerifyKey>>>,
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
        let mut keys = HashMap::new();
        for jwk in &set.keys {
            let Some(kid) = jwk.common.key_id.clone() else { continue };
            if jwk.common.public_key_use.as_ref().is_some_and(|u| *u != PublicKeyUse::Signature) {
                continue;
            }
            let inferred = match &jwk.algorithm {
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => {
                    Some(Algorithm::ES256)
                }
                AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => {
                    Some(Algorithm::ES384)
                }
                AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                    Some(Algorithm::EdDSA)
                }
                AlgorithmParameters::RSA(_) => None,
                // Symmetric and unknown key types never verify access tokens.
                _ => continue,
            };
            let declared = jwk.common.key_algorithm.and_then(|a| Algorithm::try_from(a).ok());
            let Some(alg) = declared.or(inferred) else { continue };
            if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
                continue;
            }
            if let Ok(decoding) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, Arc::new(VerifyKey { alg, decoding }));
            }
        }
        Jwks { keys: Arc::new(keys) }
    }

    /// Builds a key set from keys already in hand (the server's own published keys).
    #[cfg(feature = "server")]
    pub(crate) fn from_keys(keys: impl IntoIterator<Item = (String, Algorithm, DecodingKey)>) -> Self {
        let keys = keys
            .into_iter()
            .map(|(kid, alg, decoding)| (kid, Arc::new(VerifyKey { alg, decoding })))
            .collect();
        Jwks { keys: Arc::new(keys) }
    }

    /// The key with this `kid`.
    pub(crate) fn get(&self, kid: &str) -> Option<Arc<VerifyKey>> {
        self.keys.get(kid).cloned()
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.len()
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
