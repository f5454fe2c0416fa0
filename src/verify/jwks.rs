//! A parsed JWK Set: verification keys by `kid`, each with the one algorithm it verifies.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::signature::ParsedPublicKey;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, DecodingKeyKind};

use super::{ErrorKind, VerifyError};

/// One usable verification key.
pub(crate) struct VerifyKey {
    /// The algorithm this key verifies; a token's `alg` must equal it.
    pub(crate) alg: Algorithm,
    /// The public key, parsed once by aws-lc-rs when the set was built.
    pub(crate) parsed: ParsedPublicKey,
}

impl VerifyKey {
    /// The key for `alg` (as jsonwebtoken read it from a JWK), parsed now; `None` if aws-lc-rs
    /// refuses it (a point off the curve,
    /// an RSA modulus below 2048 bits...), since no token could verify with it.
    fn new(alg: Algorithm, decoding: DecodingKey) -> Option<Self> {
        use aws_lc_rs::signature as sig;
        let rsa = |params: &'static sig::RsaParameters| match decoding.kind() {
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                sig::RsaPublicKeyComponents { n: n.as_slice(), e: e.as_slice() }
                    .to_parsed_public_key(params)
                    .ok()
            }
            DecodingKeyKind::SecretOrDer(_) => None,
        };
        let raw = |params: &'static dyn sig::VerificationAlgorithm| match decoding.kind() {
            DecodingKeyKind::SecretOrDer(bytes) => ParsedPublicKey::new(params, bytes).ok(),
            DecodingKeyKind::RsaModulusExponent { .. } => None,
        };
        let parsed = match alg {
            Algorithm::ES256 => raw(&sig::ECDSA_P256_SHA256_FIXED),
            Algorithm::ES384 => raw(&sig::ECDSA_P384_SHA384_FIXED),
            Algorithm::EdDSA => raw(&sig::ED25519),
            Algorithm::RS256 => rsa(&sig::RSA_PKCS1_2048_8192_SHA256),
            Algorithm::RS384 => rsa(&sig::RSA_PKCS1_2048_8192_SHA384),
            Algorithm::RS512 => rsa(&sig::RSA_PKCS1_2048_8192_SHA512),
            Algorithm::PS256 => rsa(&sig::RSA_PSS_2048_8192_SHA256),
            Algorithm::PS384 => rsa(&sig::RSA_PSS_2048_8192_SHA384),
            Algorithm::PS512 => rsa(&sig::RSA_PSS_2048_8192_SHA512),
            // HMAC and anything newer: never a public verification key here.
            _ => None,
        }?;
        Some(VerifyKey { alg, parsed })
    }
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
/// `sig` (or `jwt-svid`, a SPIFFE bundle's signing keys); `key_ops`, if present, must
/// include `verify`; symmetric (`oct`) keys are dropped.
/// Each key's algorithm is its `alg` member, or its curve's for EC and OKP keys; a key whose
/// `alg` is not a signature algorithm, or names another curve or key type, is dropped. Keys
/// may share a `kid` (RFC 7517 §4.5): the token's `alg` picks among them, and when several
/// keys share both the `kid` and the algorithm, all of them are kept and a token verifies if
/// any one of them verifies its signature. The order of the keys in the set never decides.
#[derive(Clone, Default)]
pub struct Jwks {
    keys: Arc<HashMap<String, Vec<Arc<VerifyKey>>>>,
    /// Keys without a `kid`: kept only in a client's own key set
    /// ([`Jwks::from_client_json`]), where an assertion without `kid` picks the one key of
    /// its algorithm. Never used for access tokens, which always name their key.
    unnamed: Arc<Vec<Arc<VerifyKey>>>,
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
            let Some(key) = DecodingKey::from_jwk(jwk).ok().and_then(|d| VerifyKey::new(alg, d)) else {
                continue;
            };
            insert(keys.entry(kid).or_default(), key);
        }
        Jwks { keys: Arc::new(keys), unnamed: Arc::default() }
    }

    /// Parses the public keys a client authenticates with (`private_key_jwt`, RFC 7523
    /// §2.2): strictly, since the operator wrote it. Every key must be a public key that can
    /// verify signatures (RFC 7517 §4: `use` `sig`, `key_ops` with `verify`, an algorithm
    /// known for its type and curve); a private key (one with `d`, `p`, `q`, ...) or a
    /// symmetric key is refused, as is an empty set. Keys without `kid` are kept.
    #[cfg(feature = "server")]
    pub(crate) fn from_client_json(bytes: &[u8]) -> Result<Self, String> {
        /// Members only a private or symmetric JWK has (RFC 7518 §6.2.2, §6.3.2, §6.4.1).
        const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
        let Some(list) = doc.get("keys").and_then(serde_json::Value::as_array) else {
            return Err("not a JWK Set: no `keys` array (RFC 7517 §5)".to_owned());
        };
        if list.is_empty() {
            return Err("the set has no key".to_owned());
        }
        let mut by_kid: HashMap<String, Vec<Arc<VerifyKey>>> = HashMap::new();
        let mut unnamed = Vec::new();
        for (i, value) in list.iter().enumerate() {
            if let Some(member) = PRIVATE_MEMBERS.iter().find(|m| value.get(**m).is_some()) {
                return Err(format!(
                    "keys[{i}] has the private member `{member}`: publish public keys only, keep private ones \
                     with the client"
                ));
            }
            let jwk: Jwk = serde_json::from_value(value.clone()).map_err(|e| format!("keys[{i}]: {e}"))?;
            let Some(alg) = signature_algorithm(&jwk) else {
                return Err(format!(
                    "keys[{i}] cannot verify signatures: use `sig`, an EC (P-256, P-384), OKP (Ed25519) or \
                     RSA key with its `alg`"
                ));
            };
            let decoding = DecodingKey::from_jwk(&jwk).map_err(|e| format!("keys[{i}]: {e}"))?;
            let key = VerifyKey::new(alg, decoding)
                .ok_or_else(|| format!("keys[{i}] is not a valid {alg:?} public key"))?;
            match jwk.common.key_id {
                Some(kid) => insert(by_kid.entry(kid).or_default(), key),
                None => unnamed.push(Arc::new(key)),
            }
        }
        Ok(Jwks { keys: Arc::new(by_kid), unnamed: Arc::new(unnamed) })
    }

    /// The one key of the set that verifies `alg`, named or not; `None` when there is none
    /// or more than one (an assertion without `kid` must leave no choice).
    #[cfg(feature = "server")]
    pub(crate) fn only_of(&self, alg: Algorithm) -> Option<&Arc<VerifyKey>> {
        let mut of_alg = self.keys.values().flatten().chain(self.unnamed.iter()).filter(|k| k.alg == alg);
        let first = of_alg.next()?;
        of_alg.next().is_none().then_some(first)
    }

    /// Builds a key set from keys already in hand (the server's own published keys).
    #[cfg(feature = "server")]
    pub(crate) fn from_keys(keys: impl IntoIterator<Item = (String, Algorithm, DecodingKey)>) -> Self {
        let mut by_kid: HashMap<String, Vec<Arc<VerifyKey>>> = HashMap::new();
        for (kid, alg, decoding) in keys {
            if let Some(key) = VerifyKey::new(alg, decoding) {
                insert(by_kid.entry(kid).or_default(), key);
            }
        }
        Jwks { keys: Arc::new(by_kid), unnamed: Arc::default() }
    }

    /// The keys with this `kid` for `alg`, each of which the caller tries (RFC 8725 §3.1:
    /// the key, not the token, decides the algorithm, so an ambiguous pair is resolved by the
    /// signature, never by the order of the set). If none has that algorithm, the other keys
    /// with this `kid`, so that the caller reports the mismatch. `None` if no key has it.
    pub(crate) fn get(&self, kid: &str, alg: Algorithm) -> Option<&[Arc<VerifyKey>]> {
        let same_kid = self.keys.get(kid)?;
        let Some(start) = same_kid.iter().position(|k| k.alg == alg) else {
            return Some(same_kid);
        };
        // `insert` keeps the keys of one algorithm next to each other.
        let len = same_kid[start..].iter().take_while(|k| k.alg == alg).count();
        Some(&same_kid[start..start + len])
    }

    /// How many usable keys the set holds.
    pub fn len(&self) -> usize {
        self.keys.values().map(Vec::len).sum::<usize>() + self.unnamed.len()
    }

    /// Whether the set holds no usable key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.unnamed.is_empty()
    }

    /// Whether a key with this `kid` is present.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }
}

/// Adds `key` to the keys of one `kid`, right after the last key of its algorithm, so that
/// the keys of each algorithm stay next to each other ([`Jwks::get`] returns them as a slice).
fn insert(same_kid: &mut Vec<Arc<VerifyKey>>, key: VerifyKey) {
    let at = same_kid.iter().rposition(|k| k.alg == key.alg).map_or(same_kid.len(), |i| i + 1);
    same_kid.insert(at, Arc::new(key));
}

/// The one signature algorithm `jwk` may verify, or `None` if it must not verify tokens.
fn signature_algorithm(jwk: &Jwk) -> Option<Algorithm> {
    // `jwt-svid` is the signing use of a SPIFFE trust bundle (SPIFFE Trust Domain and
    // Bundle §4.2.2): keys that sign JWT-SVIDs.
    let signing = |u: &PublicKeyUse| match u {
        PublicKeyUse::Signature => true,
        PublicKeyUse::Other(other) => other == "jwt-svid",
        _ => false,
    };
    if jwk.common.public_key_use.as_ref().is_some_and(|u| !signing(u)) {
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
