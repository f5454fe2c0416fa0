//! Token verification per second with a cached key: the full `tokenmint::verify` check
//! (header, key by kid, signature, issuer, audience, times) against jsonwebtoken's `decode`
//! and against the raw signature verification of the crypto library. The difference is the
//! cost of everything around the signature.
//!
//! Run: `cargo bench --bench verify`

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{self as sig, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use tokenmint::claims::AccessClaims;
use tokenmint::verify::{Jwks, Requirements, Verifier};

const ISSUER: &str = "https://tokens.example.com";
const AUDIENCE: &str = "https://api.example.com";

/// One algorithm's key, token and raw-verification inputs.
struct Case {
    alg: Algorithm,
    token: String,
    /// Signs more tokens like `token`.
    key: EncodingKey,
    header: Header,
    claims: serde_json::Value,
    jwk: Jwk,
    public_key: Vec<u8>,
    raw_alg: &'static dyn sig::VerificationAlgorithm,
}

fn case(alg: Algorithm) -> Case {
    let (der, public_key, raw_alg): (Vec<u8>, Vec<u8>, &'static dyn sig::VerificationAlgorithm) = match alg {
        Algorithm::ES256 => {
            let k = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).expect("ES256 key");
            (
                k.to_pkcs8v1().expect("pkcs8").as_ref().to_vec(),
                k.public_key().as_ref().to_vec(),
                &sig::ECDSA_P256_SHA256_FIXED,
            )
        }
        Algorithm::EdDSA => {
            let k = sig::Ed25519KeyPair::generate().expect("Ed25519 key");
            (
                k.to_pkcs8v1().expect("pkcs8").as_ref().to_vec(),
                k.public_key().as_ref().to_vec(),
                &sig::ED25519,
            )
        }
        _ => {
            use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
            let k = sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("RSA key");
            let der: Pkcs8V1Der<'static> = k.as_der().expect("pkcs8");
            (der.as_ref().to_vec(), k.public_key().as_ref().to_vec(), &sig::RSA_PKCS1_2048_8192_SHA256)
        }
    };
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_der(&der),
        Algorithm::EdDSA => EncodingKey::from_ed_der(&der),
        _ => EncodingKey::from_rsa_pem(pem::encode(&pem::Pem::new("PRIVATE KEY", der)).as_bytes())
            .expect("rsa pem"),
    };
    let mut jwk = Jwk::from_encoding_key(&key, alg).expect("jwk");
    jwk.common.key_id = Some("bench-kid".into());
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some("bench-kid".into());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    let claims = serde_json::json!({
        "iss": ISSUER, "sub": "billing", "aud": AUDIENCE, "exp": now + 3600, "iat": now, "nbf": now,
        "jti": "c2VjcmV0LWp0aS0xMjM0NQ", "client_id": "billing", "scope": "invoices:read invoices:write",
        "tenant": "acme",
    });
    let token = jsonwebtoken::encode(&header, &claims, &key).expect("token");
    Case { alg, token, key, header, claims, jwk, public_key, raw_alg }
}

impl Case {
    /// A token like `token`, with its own `jti`.
    fn token_with_jti(&self, i: usize) -> String {
        let mut claims = self.claims.clone();
        claims["jti"] = serde_json::json!(format!("bench-jti-{i}"));
        jsonwebtoken::encode(&self.header, &claims, &self.key).expect("token")
    }
}

/// Polls a future that never waits (a static key set) to completion.
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a static-key verification never waits"),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
        let case = case(alg);
        let name = format!("{alg:?}");
        let requirements = Requirements {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            algorithms: vec![case.alg],
            leeway: Duration::from_secs(30),
        };
        let jwks = Jwks::from_set(&JwkSet { keys: vec![case.jwk.clone()] });
        let verifier = Verifier::new(requirements, jwks).expect("verifier");
        ready(verifier.verify(&case.token)).expect("the bench token verifies");
        group.bench_function(format!("{name}/tokenmint_verify"), |b| {
            b.iter(|| ready(verifier.verify(black_box(&case.token))).expect("valid"))
        });

        // The verified-token cache: a token seen again (the hit), and a token seen once (the
        // miss: hashing, the lookup and the insert, with an eviction, on top of the full
        // check). The misses cycle through 20,000 tokens made ahead of the measurement, in a
        // cache of 1,024: each is long evicted when it comes round again.
        let cached = verifier.clone().with_cache(1 << 20, Duration::from_secs(3600));
        ready(cached.verify(&case.token)).expect("valid");
        group.bench_function(format!("{name}/tokenmint_verify_cached_hit"), |b| {
            b.iter(|| ready(cached.verify(black_box(&case.token))).expect("valid"))
        });
        group.bench_function(format!("{name}/tokenmint_verify_shared_cached_hit"), |b| {
            b.iter(|| ready(cached.verify_shared(black_box(&case.token))).expect("valid"))
        });
        let fresh: Vec<String> = (0..20_000).map(|i| case.token_with_jti(i)).collect();
        let mut next = fresh.iter().cycle();
        group.bench_function(format!("{name}/tokenmint_verify_cached_miss"), |b| {
            let cold = verifier.clone().with_cache(1024, Duration::from_secs(3600));
            b.iter(|| ready(cold.verify(black_box(next.next().expect("cycle")))).expect("valid"))
        });
        group.bench_function(format!("{name}/tokenmint_verify_shared_cached_miss"), |b| {
            let cold = verifier.clone().with_cache(1024, Duration::from_secs(3600));
            b.iter(|| ready(cold.verify_shared(black_box(next.next().expect("cycle")))).expect("valid"))
        });

        let decoding = DecodingKey::from_jwk(&case.jwk).expect("decoding key");
        let mut validation = Validation::new(case.alg);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        group.bench_function(format!("{name}/jsonwebtoken_decode"), |b| {
            b.iter(|| {
                jsonwebtoken::decode::<AccessClaims>(black_box(&case.token), &decoding, &validation)
                    .expect("valid")
            })
        });

        let (message, signature) = case.token.rsplit_once('.').expect("three parts");
        let signature = URL_SAFE_NO_PAD.decode(signature).expect("base64url");
        let public = sig::UnparsedPublicKey::new(case.raw_alg, case.public_key.clone());
        public.verify(message.as_bytes(), &signature).expect("raw signature verifies");
        group.bench_function(format!("{name}/raw_signature"), |b| {
            b.iter(|| public.verify(black_box(message.as_bytes()), black_box(&signature)).expect("valid"))
        });
    }
    group.finish();
}

/// The token and key of `bench/verify-peers.sh` (`VERIFY_PEERS_DIR`), so that the Rust
/// verifiers are measured on the very token PyJWT and jose verify.
fn peers(c: &mut Criterion) {
    let Some(dir) = std::env::var_os("VERIFY_PEERS_DIR") else { return };
    let dir = std::path::PathBuf::from(dir);
    let token = std::fs::read_to_string(dir.join("token.txt")).expect("token.txt").trim().to_owned();
    let set: JwkSet =
        serde_json::from_slice(&std::fs::read(dir.join("jwks.json")).expect("jwks.json")).expect("JWKS");
    let requirements = Requirements {
        issuer: ISSUER.into(),
        audience: AUDIENCE.into(),
        algorithms: vec![Algorithm::ES256],
        leeway: Duration::from_secs(30),
    };
    let verifier = Verifier::new(requirements, Jwks::from_set(&set)).expect("verifier");
    ready(verifier.verify(&token)).expect("the peers' token verifies");
    let mut group = c.benchmark_group("verify/peers");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    group.bench_function("tokenmint_verify", |b| {
        b.iter(|| ready(verifier.verify(black_box(&token))).expect("valid"))
    });
    let cached = verifier.clone().with_cache(1024, Duration::from_secs(3600));
    group.bench_function("tokenmint_verify_cached_hit", |b| {
        b.iter(|| ready(cached.verify(black_box(&token))).expect("valid"))
    });
    let decoding = DecodingKey::from_jwk(&set.keys[0]).expect("decoding key");
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    group.bench_function("jsonwebtoken_decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<AccessClaims>(black_box(&token), &decoding, &validation).expect("valid")
        })
    });
    group.finish();
}

criterion_group!(benches, bench, peers);
criterion_main!(benches);
