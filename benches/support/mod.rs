//! What the verification benches share: a fresh key of each algorithm, the access tokens
//! they sign (the claims a client-credentials token carries) and a poll for futures that
//! never wait.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{self as sig, KeyPair as _};
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

/// The issuer the bench tokens name.
pub(crate) const ISSUER: &str = "https://tokens.example.com";
/// The audience the bench tokens name.
pub(crate) const AUDIENCE: &str = "https://api.example.com";

/// A fresh key of one algorithm.
pub(crate) struct BenchKey {
    /// The algorithm it signs with.
    pub(crate) alg: Algorithm,
    /// Signs the bench tokens.
    pub(crate) key: EncodingKey,
    /// Its public JWK, `kid` "bench-kid".
    pub(crate) jwk: Jwk,
    /// The raw public key, for aws-lc-rs's own signature check.
    pub(crate) public_key: Vec<u8>,
    /// The aws-lc-rs algorithm that checks its signatures.
    pub(crate) raw_alg: &'static dyn sig::VerificationAlgorithm,
}

impl BenchKey {
    /// A new key of `alg` (ES256, EdDSA, or else RS256 with 2048 bits).
    pub(crate) fn generate(alg: Algorithm) -> BenchKey {
        let (key, public_key, raw_alg): (EncodingKey, Vec<u8>, &'static dyn sig::VerificationAlgorithm) =
            match alg {
                Algorithm::ES256 => {
                    let k = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING)
                        .expect("ES256 key");
                    let der = k.to_pkcs8v1().expect("pkcs8");
                    let key = EncodingKey::from_ec_der(der.as_ref());
                    (key, k.public_key().as_ref().to_vec(), &sig::ECDSA_P256_SHA256_FIXED)
                }
                Algorithm::EdDSA => {
                    let k = sig::Ed25519KeyPair::generate().expect("Ed25519 key");
                    let der = k.to_pkcs8v1().expect("pkcs8");
                    (EncodingKey::from_ed_der(der.as_ref()), k.public_key().as_ref().to_vec(), &sig::ED25519)
                }
                _ => {
                    use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
                    let k = sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
                    let der: Pkcs8V1Der<'static> = k.as_der().expect("pkcs8");
                    let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", der.as_ref().to_vec()));
                    let key = EncodingKey::from_rsa_pem(pem.as_bytes()).expect("rsa pem");
                    (key, k.public_key().as_ref().to_vec(), &sig::RSA_PKCS1_2048_8192_SHA256)
                }
            };
        let mut jwk = Jwk::from_encoding_key(&key, alg).expect("jwk");
        jwk.common.key_id = Some("bench-kid".into());
        BenchKey { alg, key, jwk, public_key, raw_alg }
    }

    /// An RFC 9068 access token signed by this key, with `jti`, valid for an hour.
    pub(crate) fn token(&self, jti: &str) -> String {
        let mut header = Header::new(self.alg);
        header.typ = Some("at+jwt".into());
        header.kid = Some("bench-kid".into());
        let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
        let claims = serde_json::json!({
            "iss": ISSUER, "sub": "billing", "aud": AUDIENCE, "exp": now + 3600, "iat": now, "nbf": now,
            "jti": jti, "client_id": "billing", "scope": "invoices:read invoices:write", "tenant": "acme",
        });
        jsonwebtoken::encode(&header, &claims, &self.key).expect("token")
    }
}

/// Polls a future that never waits (a static key set) to completion.
pub(crate) fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a static-key verification never waits"),
    }
}
