//! One signing key: the private key pair, its `kid`, its public JWK, and JWT signing.
//!
//! The JWS header segment is computed once per key, so signing a token costs one claims
//! serialization, one base64url pass and one signature.

use std::fmt;
use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
    RsaKeyPair, RsaPublicKeyComponents,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{DecodingKey, Header};
use serde::Serialize;

use super::{Algorithm, KeyError};
use crate::claims::ACCESS_TOKEN_TYPE;

/// The private half, in the crypto library's parsed form (parsed once, used per token).
enum Pair {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

/// A loaded signing key. Its Debug output shows the `kid` and algorithm only.
pub(crate) struct SigningKey {
    kid: Arc<str>,
    alg: Algorithm,
    pair: Pair,
    /// PKCS#8 v1 DER of the private key, for writing to the key store.
    pkcs8: Vec<u8>,
    /// The public key as a JWK with `kid`, `alg` and `use`.
    jwk: Jwk,
    /// base64url of the JWS header of each [`TokenKind`], indexed by it.
    headers: [String; 3],
}

/// The kinds of JWT tokenmint signs, each with its own `typ` so that none can pass for
/// another (RFC 8725 §3.11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenKind {
    /// An RFC 9068 access token: `typ: at+jwt`.
    Access = 0,
    /// A tokenmint refresh token: `typ: rt+jwt`; only tokenmint reads it.
    Refresh = 1,
    /// An OpenID Connect ID token: `typ: JWT`.
    Id = 2,
}

impl TokenKind {
    /// The JOSE `typ` header value.
    pub(crate) fn typ(self) -> &'static str {
        match self {
            TokenKind::Access => ACCESS_TOKEN_TYPE,
            TokenKind::Refresh => REFRESH_TOKEN_TYPE,
            TokenKind::Id => "JWT",
        }
    }
}

/// The `typ` of tokenmint's refresh tokens.
pub(crate) const REFRESH_TOKEN_TYPE: &str = "rt+jwt";

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("private_key", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// Generates a new key for `alg`. RSA keys are 2048 bits.
    pub(crate) fn generate(alg: Algorithm) -> Result<Self, KeyError> {
        let pkcs8 = match alg {
            Algorithm::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map(|d| d.as_ref().to_vec()),
            Algorithm::EdDSA => {
                Ed25519KeyPair::generate().and_then(|k| k.to_pkcs8v1()).map(|d| d.as_ref().to_vec())
            }
            Algorithm::RS256 => {
                use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
                RsaKeyPair::generate(KeySize::Rsa2048)
                    .and_then(|k| AsDer::<Pkcs8V1Der<'static>>::as_der(&k))
                    .map(|d| d.as_ref().to_vec())
            }
        }
        .map_err(|_| KeyError::Crypto("key generation"))?;
        Self::from_pkcs8(&pkcs8, Some(alg))
    }

    /// Loads a private key from a PEM block: PKCS#8 (`PRIVATE KEY`, what `openssl genpkey`
    /// writes), SEC1 (`EC PRIVATE KEY`, from `openssl ecparam -genkey`) or PKCS#1
    /// (`RSA PRIVATE KEY`, from older `openssl genrsa`). Keys are kept as PKCS#8.
    pub(crate) fn from_pem_block(tag: &str, der: &[u8], alg: Option<Algorithm>) -> Result<Self, KeyError> {
        let rejected =
            |alg: Algorithm, e: &dyn std::fmt::Display| KeyError::Rejected { alg, reason: e.to_string() };
        match tag {
            "PRIVATE KEY" => Self::from_pkcs8(der, alg),
            "EC PRIVATE KEY" => {
                let k = EcdsaKeyPair::from_private_key_der(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map_err(|e| rejected(Algorithm::ES256, &e))?;
                let pkcs8 = k.to_pkcs8v1().map_err(|e| rejected(Algorithm::ES256, &e))?;
                Self::from_pkcs8(pkcs8.as_ref(), Some(Algorithm::ES256))
            }
            "RSA PRIVATE KEY" => {
                use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
                let k = RsaKeyPair::from_der(der).map_err(|e| rejected(Algorithm::RS256, &e))?;
                let pkcs8: Pkcs8V1Der<'static> = k.as_der().map_err(|e| rejected(Algorithm::RS256, &e))?;
                Self::from_pkcs8(pkcs8.as_ref(), Some(Algorithm::RS256))
            }
            "ENCRYPTED PRIVATE KEY" => Err(KeyError::Rejected {
                alg: alg.unwrap_or(Algorithm::ES256),
                reason: "encrypted keys are not supported; decrypt with `openssl pkcs8 -nocrypt`".into(),
            }),
            other => Err(KeyError::Rejected {
                alg: alg.unwrap_or(Algorithm::ES256),
                reason: format!("expected a private key PEM block, found `{other}`"),
            }),
        }
    }

    /// Loads a PKCS#8 private key. With `alg` given the key must be of that kind; without,
    /// the kind is read off the key (P-256 → ES256, Ed25519 → EdDSA, RSA → RS256).
    pub(crate) fn from_pkcs8(der: &[u8], alg: Option<Algorithm>) -> Result<Self, KeyError> {
        let try_alg = |a: Algorithm| -> Result<(Pair, Vec<u8>), String> {
            match a {
                Algorithm::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                    .map(|k| (Pair::Es256(k), der.to_vec()))
                    .map_err(|e| e.to_string()),
                Algorithm::EdDSA => {
                    let k = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der).map_err(|e| e.to_string())?;
                    let v1 = k.to_pkcs8v1().map_err(|e| e.to_string())?.as_ref().to_vec();
                    Ok((Pair::EdDsa(k), v1))
                }
                Algorithm::RS256 => {
                    let k = RsaKeyPair::from_pkcs8(der).map_err(|e| e.to_string())?;
                    if k.public_modulus_len() < 256 {
                        return Err("RSA keys must be at least 2048 bits".into());
                    }
                    Ok((Pair::Rs256(k), der.to_vec()))
                }
            }
        };
        let (alg, (pair, pkcs8)) = match alg {
            Some(a) => (a, try_alg(a).map_err(|reason| KeyError::Rejected { alg: a, reason })?),
            None => [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256]
                .into_iter()
                .find_map(|a| try_alg(a).ok().map(|p| (a, p)))
                .ok_or_else(|| KeyError::Rejected {
                    alg: Algorithm::ES256,
                    reason: "not a P-256, Ed25519 or RSA PKCS#8 private key".into(),
                })?,
        };
        let jwk = public_jwk(&pair, alg)?;
        let kid = jwk.thumbprint(ThumbprintHash::SHA256)?;
        let mut jwk = jwk;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let headers = [
            encode_header(alg, &kid, TokenKind::Access.typ())?,
            encode_header(alg, &kid, TokenKind::Refresh.typ())?,
            encode_header(alg, &kid, TokenKind::Id.typ())?,
        ];
        Ok(SigningKey { kid: kid.into(), alg, pair, pkcs8, jwk, headers })
    }

    /// The key id: the RFC 7638 JWK thumbprint (SHA-256) of the public key, so the same key
    /// gets the same `kid` on every replica and after every restart.
    pub(crate) fn kid(&self) -> &str {
        &self.kid
    }

    /// The `kid`, shared (a reference count, no copy).
    pub(crate) fn shared_kid(&self) -> Arc<str> {
        Arc::clone(&self.kid)
    }

    /// The algorithm this key signs with.
    pub(crate) fn alg(&self) -> Algorithm {
        self.alg
    }

    /// The public JWK (`kty`, `kid`, `use`, `alg` and the key parameters).
    pub(crate) fn jwk(&self) -> &Jwk {
        &self.jwk
    }

    /// The private key as PKCS#8 v1 DER, for the key store only.
    pub(crate) fn pkcs8_der(&self) -> &[u8] {
        &self.pkcs8
    }

    /// Signs `claims` as an RFC 9068 access token (`typ: at+jwt`).
    pub(crate) fn sign_access_token<T: Serialize>(&self, claims: &T) -> Result<String, KeyError> {
        self.sign(TokenKind::Access, claims)
    }

    /// Signs `claims` as a compact JWS of `kind`.
    pub(crate) fn sign<T: Serialize>(&self, kind: TokenKind, claims: &T) -> Result<String, KeyError> {
        let header = &self.headers[kind as usize];
        // Room for a usual claims set, so serialization does not regrow the buffer.
        let mut payload = Vec::with_capacity(512);
        serde_json::to_writer(&mut payload, claims)?;
        let mut token = String::with_capacity(header.len() + payload.len() * 4 / 3 + 360);
        token.push_str(header);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        token.push('.');
        let signing_input_len = token.len() - 1;
        let rng = SystemRandom::new();
        let input = &token.as_bytes()[..signing_input_len];
        match &self.pair {
            Pair::Es256(k) => {
                let sig = k.sign(&rng, input).map_err(|_| KeyError::Crypto("ECDSA signing"))?;
                URL_SAFE_NO_PAD.encode_string(sig.as_ref(), &mut token);
            }
            Pair::EdDsa(k) => {
                let sig = k.sign(input);
                URL_SAFE_NO_PAD.encode_string(sig.as_ref(), &mut token);
            }
            Pair::Rs256(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &rng, input, &mut sig)
                    .map_err(|_| KeyError::Crypto("RSA signing"))?;
                URL_SAFE_NO_PAD.encode_string(&sig, &mut token);
            }
        }
        Ok(token)
    }
}

/// The public JWK of a key pair, built through jsonwebtoken from the public components.
fn public_jwk(pair: &Pair, alg: Algorithm) -> Result<Jwk, KeyError> {
    let decoding = match pair {
        Pair::Es256(k) => {
            // Uncompressed SEC1 point: 0x04 || x (32 bytes) || y (32 bytes).
            let (x, y) = match k.public_key().as_ref() {
                [4, xy @ ..] if xy.len() == 64 => xy.split_at(32),
                _ => return Err(KeyError::Crypto("unexpected P-256 public key encoding")),
            };
            DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(x), &URL_SAFE_NO_PAD.encode(y))?
        }
        Pair::EdDsa(k) => DecodingKey::from_ed_components(&URL_SAFE_NO_PAD.encode(k.public_key().as_ref()))?,
        Pair::Rs256(k) => {
            let c = RsaPublicKeyComponents::<Vec<u8>>::from(k.public_key());
            DecodingKey::from_rsa_raw_components(&c.n, &c.e)
        }
    };
    Ok(Jwk::from_decoding_key(&decoding, Some(alg.to_jwt()))?)
}

/// base64url of a compact JWS header with `typ`, `alg` and `kid`.
fn encode_header(alg: Algorithm, kid: &str, typ: &str) -> Result<String, KeyError> {
    let mut header = Header::new(alg.to_jwt());
    header.typ = Some(typ.to_owned());
    header.kid = Some(kid.to_owned());
    Ok(URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::Validation;

    #[derive(serde::Serialize, serde::Deserialize)]
    struct Body {
        sub: String,
        exp: u64,
    }

    /// STYLE.md rule 15: generate with the crypto library, sign, and verify through
    /// jsonwebtoken with a key built only from the published JWK.
    #[test]
    fn every_algorithm_signs_what_its_jwk_verifies() {
        for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
            let key = SigningKey::generate(alg).unwrap();
            let body = Body { sub: "svc".into(), exp: 4_000_000_000 };
            let token = key.sign_access_token(&body).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!(header.typ.as_deref(), Some("at+jwt"));
            assert_eq!(header.kid.as_deref(), Some(key.kid()));
            let dk = DecodingKey::from_jwk(key.jwk()).unwrap();
            let mut v = Validation::new(alg.to_jwt());
            v.validate_aud = false;
            let data = jsonwebtoken::decode::<Body>(&token, &dk, &v).unwrap();
            assert_eq!(data.claims.sub, "svc");
        }
    }

    #[test]
    fn reloading_the_pkcs8_keeps_the_kid_and_detects_the_algorithm() {
        for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
            let key = SigningKey::generate(alg).unwrap();
            let again = SigningKey::from_pkcs8(key.pkcs8_der(), None).unwrap();
            assert_eq!(again.alg(), alg);
            assert_eq!(again.kid(), key.kid());
        }
    }

    #[test]
    fn debug_hides_the_private_key() {
        let key = SigningKey::generate(Algorithm::ES256).unwrap();
        let shown = format!("{key:?}");
        assert!(shown.contains(key.kid()) && shown.contains("<redacted>"));
    }
}
