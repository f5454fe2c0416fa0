//! Criterion benchmark for choosing tokenmint's JWT crypto backend:
//! `ring` 0.17 versus `aws-lc-rs` 1.x (the backend behind jsonwebtoken's
//! `aws_lc_rs` feature).
//!
//! For ES256 (ECDSA P-256/SHA-256, fixed-size signature), EdDSA (Ed25519) and
//! RS256 (RSA-2048 PKCS#1 v1.5/SHA-256) it measures `sign` and `verify` of a
//! realistic ~300-byte JWT signing input (`b64url(header).b64url(claims)`).
//! Both backends get the same PKCS#8 key bytes, the same message and, for
//! `verify`, the same signature bytes. Setup cross-checks that a signature
//! from either backend verifies under both, so a broken configuration aborts
//! the run instead of being measured. A full `jsonwebtoken` ES256
//! encode/decode is measured as a reference point.
//!
//! Run: `cargo bench --bench crypto_backends`

use std::hint::black_box;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::signature::KeyPair as _;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use ring::signature::KeyPair as _;

const ISSUER: &str = "https://auth.tokenmint.example";
const AUDIENCE: &str = "https://api.tokenmint.example";
const KEY_ID: &str = "tm-2026-01";

/// Signs a message with one backend and returns the raw signature bytes.
type SignFn = Box<dyn Fn(&[u8]) -> Vec<u8>>;

/// One JWT algorithm, set up identically for both backends.
struct Case {
    /// JWS `alg` name, used in the benchmark ids.
    alg: &'static str,
    /// JWT signing input: `b64url(header) "." b64url(claims)`.
    message: Vec<u8>,
    /// Public key in the encoding `UnparsedPublicKey` expects for `alg`.
    public_key: Vec<u8>,
    ring_sign: SignFn,
    lc_sign: SignFn,
    ring_verify_alg: &'static dyn ring::signature::VerificationAlgorithm,
    lc_verify_alg: &'static dyn aws_lc_rs::signature::VerificationAlgorithm,
}

impl Case {
    fn ring_verify(&self, signature: &[u8]) -> bool {
        ring::signature::UnparsedPublicKey::new(self.ring_verify_alg, &self.public_key)
            .verify(&self.message, signature)
            .is_ok()
    }

    fn lc_verify(&self, signature: &[u8]) -> bool {
        aws_lc_rs::signature::UnparsedPublicKey::new(self.lc_verify_alg, &self.public_key)
            .verify(&self.message, signature)
            .is_ok()
    }

    /// Aborts unless signatures from each backend verify under both backends
    /// and a tampered signature is rejected by both.
    fn cross_check(&self) {
        let from_ring = (self.ring_sign)(&self.message);
        let from_lc = (self.lc_sign)(&self.message);
        for (origin, signature) in [("ring", &from_ring), ("aws_lc_rs", &from_lc)] {
            assert!(self.ring_verify(signature), "{}: {origin} signature rejected by ring", self.alg);
            assert!(self.lc_verify(signature), "{}: {origin} signature rejected by aws_lc_rs", self.alg);
            let mut tampered = signature.clone();
            tampered[0] ^= 1;
            assert!(!self.ring_verify(&tampered), "{}: ring accepted a tampered signature", self.alg);
            assert!(!self.lc_verify(&tampered), "{}: aws_lc_rs accepted a tampered signature", self.alg);
        }
    }
}

/// Current Unix time in seconds (for realistic, currently valid claims).
fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("system clock is before 1970").as_secs()
}

/// Header and claims of a typical tokenmint access token.
fn jwt_parts(alg: &str) -> (serde_json::Value, serde_json::Value) {
    let iat = now_secs();
    let header = serde_json::json!({ "alg": alg, "typ": "JWT", "kid": KEY_ID });
    let claims = serde_json::json!({
        "iss": ISSUER,
        "sub": "client_7f3a9c2e",
        "aud": AUDIENCE,
        "iat": iat,
        "exp": iat + 3600,
        "jti": "b6f1d0c48e2a4f7b",
        "scope": "tokens:read",
    });
    (header, claims)
}

/// Builds the JWS signing input `b64url(header) "." b64url(claims)`.
fn jwt_signing_input(alg: &str) -> Vec<u8> {
    let (header, claims) = jwt_parts(alg);
    let encode = |value: &serde_json::Value| {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).expect("serialize JWT part"))
    };
    format!("{}.{}", encode(&header), encode(&claims)).into_bytes()
}

fn es256_case() -> Case {
    let ring_rng = ring::rand::SystemRandom::new();
    let lc_rng = aws_lc_rs::rand::SystemRandom::new();

    // Each library's generator must produce keys the other library accepts.
    let ring_pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &ring_rng,
    )
    .expect("ring: generate P-256 key");
    let lc_pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &lc_rng,
    )
    .expect("aws_lc_rs: generate P-256 key");
    aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        ring_pkcs8.as_ref(),
    )
    .expect("aws_lc_rs: load ring-generated P-256 PKCS#8");

    // Benchmark key: the aws-lc-rs-generated PKCS#8, loaded into both backends.
    let ring_kp = ring::signature::EcdsaKeyPair::from_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        lc_pkcs8.as_ref(),
        &ring_rng,
    )
    .expect("ring: load aws_lc_rs-generated P-256 PKCS#8");
    let lc_kp = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        lc_pkcs8.as_ref(),
    )
    .expect("aws_lc_rs: load P-256 PKCS#8");
    let public_key = ring_kp.public_key().as_ref().to_vec();
    assert_eq!(public_key, lc_kp.public_key().as_ref(), "ES256 public keys differ");

    Case {
        alg: "ES256",
        message: jwt_signing_input("ES256"),
        public_key,
        ring_sign: Box::new(move |msg| {
            ring_kp.sign(&ring_rng, msg).expect("ring: ES256 sign").as_ref().to_vec()
        }),
        lc_sign: Box::new(move |msg| {
            lc_kp.sign(&lc_rng, msg).expect("aws_lc_rs: ES256 sign").as_ref().to_vec()
        }),
        ring_verify_alg: &ring::signature::ECDSA_P256_SHA256_FIXED,
        lc_verify_alg: &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
    }
}

fn eddsa_case() -> Case {
    let ring_rng = ring::rand::SystemRandom::new();
    let lc_rng = aws_lc_rs::rand::SystemRandom::new();

    let ring_pkcs8 =
        ring::signature::Ed25519KeyPair::generate_pkcs8(&ring_rng).expect("ring: generate Ed25519 key");
    let lc_pkcs8 = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&lc_rng)
        .expect("aws_lc_rs: generate Ed25519 key");
    aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(ring_pkcs8.as_ref())
        .expect("aws_lc_rs: load ring-generated Ed25519 PKCS#8");

    // Benchmark key: the aws-lc-rs-generated PKCS#8 (v2), loaded into both backends.
    let ring_kp = ring::signature::Ed25519KeyPair::from_pkcs8(lc_pkcs8.as_ref())
        .expect("ring: load aws_lc_rs-generated Ed25519 PKCS#8");
    let lc_kp = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(lc_pkcs8.as_ref())
        .expect("aws_lc_rs: load Ed25519 PKCS#8");
    let public_key = ring_kp.public_key().as_ref().to_vec();
    assert_eq!(public_key, lc_kp.public_key().as_ref(), "Ed25519 public keys differ");

    Case {
        alg: "EdDSA",
        message: jwt_signing_input("EdDSA"),
        public_key,
        ring_sign: Box::new(move |msg| ring_kp.sign(msg).as_ref().to_vec()),
        lc_sign: Box::new(move |msg| lc_kp.sign(msg).as_ref().to_vec()),
        ring_verify_alg: &ring::signature::ED25519,
        lc_verify_alg: &aws_lc_rs::signature::ED25519,
    }
}

fn rs256_case() -> Case {
    let ring_rng = ring::rand::SystemRandom::new();
    let lc_rng = aws_lc_rs::rand::SystemRandom::new();

    // ring cannot generate RSA keys: generate with aws-lc-rs, export PKCS#8 v1
    // DER and load those same bytes into both backends.
    let generated = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
        .expect("aws_lc_rs: generate RSA-2048 key");
    let pkcs8 = generated.as_der().expect("aws_lc_rs: export RSA PKCS#8 DER");
    let ring_kp = ring::signature::RsaKeyPair::from_pkcs8(pkcs8.as_ref()).expect("ring: load RSA PKCS#8");
    let lc_kp = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8.as_ref()).expect("aws_lc_rs: load RSA PKCS#8");
    assert_eq!(ring_kp.public().modulus_len(), 256, "expected a 2048-bit modulus");
    let public_key = ring_kp.public_key().as_ref().to_vec();
    assert_eq!(public_key, lc_kp.public_key().as_ref(), "RSA public keys differ");

    Case {
        alg: "RS256",
        message: jwt_signing_input("RS256"),
        public_key,
        ring_sign: Box::new(move |msg| {
            let mut signature = vec![0; ring_kp.public().modulus_len()];
            ring_kp
                .sign(&ring::signature::RSA_PKCS1_SHA256, &ring_rng, msg, &mut signature)
                .expect("ring: RS256 sign");
            signature
        }),
        lc_sign: Box::new(move |msg| {
            let mut signature = vec![0; lc_kp.public_modulus_len()];
            lc_kp
                .sign(&aws_lc_rs::signature::RSA_PKCS1_SHA256, &lc_rng, msg, &mut signature)
                .expect("aws_lc_rs: RS256 sign");
            signature
        }),
        ring_verify_alg: &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        lc_verify_alg: &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
    }
}

/// `sign/ALG/BACKEND` and `verify/ALG/BACKEND` for every case.
fn bench_backends(c: &mut Criterion) {
    for case in [es256_case(), eddsa_case(), rs256_case()] {
        case.cross_check();
        // Verify benchmarks use one signature (made by ring) for both backends.
        let signature = (case.ring_sign)(&case.message);
        eprintln!(
            "{}: signing input {} bytes, signature {} bytes",
            case.alg,
            case.message.len(),
            signature.len()
        );

        let mut sign = c.benchmark_group(format!("sign/{}", case.alg));
        sign.throughput(Throughput::Elements(1));
        sign.bench_function("ring", |b| b.iter(|| (case.ring_sign)(black_box(&case.message))));
        sign.bench_function("aws_lc_rs", |b| b.iter(|| (case.lc_sign)(black_box(&case.message))));
        sign.finish();

        let mut verify = c.benchmark_group(format!("verify/{}", case.alg));
        verify.throughput(Throughput::Elements(1));
        verify.bench_function("ring", |b| b.iter(|| case.ring_verify(black_box(&signature))));
        verify.bench_function("aws_lc_rs", |b| b.iter(|| case.lc_verify(black_box(&signature))));
        verify.finish();
    }
}

/// Reference: a complete `jsonwebtoken` 11 ES256 encode (JSON serialization,
/// base64url, PKCS#8 parsing, signing) and decode (signature + claim
/// validation) with its `aws_lc_rs` provider.
fn bench_jsonwebtoken(c: &mut Criterion) {
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};

    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        &rng,
    )
    .expect("aws_lc_rs: generate P-256 key");
    let key_pair = aws_lc_rs::signature::EcdsaKeyPair::from_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        pkcs8.as_ref(),
    )
    .expect("aws_lc_rs: load P-256 PKCS#8");
    let encoding_key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let decoding_key = DecodingKey::from_ec_der(key_pair.public_key().as_ref());

    let (_, claims) = jwt_parts("ES256");
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some(KEY_ID.to_owned());
    let mut validation = Validation::new(Algorithm::ES256);
    validation.set_audience(&[AUDIENCE]);
    validation.set_issuer(&[ISSUER]);

    // Sanity: the token decodes under jsonwebtoken and its signature verifies under ring.
    let token = jsonwebtoken::encode(&header, &claims, &encoding_key).expect("jsonwebtoken: encode");
    let decoded = jsonwebtoken::decode::<serde_json::Value>(&token, &decoding_key, &validation)
        .expect("jsonwebtoken: decode");
    assert_eq!(decoded.claims, claims, "jsonwebtoken round trip changed the claims");
    let (signing_input, signature_b64) = token.rsplit_once('.').expect("token has a signature part");
    let signature = URL_SAFE_NO_PAD.decode(signature_b64).expect("signature is base64url");
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::ECDSA_P256_SHA256_FIXED,
        key_pair.public_key().as_ref(),
    )
    .verify(signing_input.as_bytes(), &signature)
    .expect("ring: verify jsonwebtoken ES256 token");

    let mut group = c.benchmark_group("jsonwebtoken/ES256");
    group.throughput(Throughput::Elements(1));
    group.bench_function("encode", |b| {
        b.iter(|| jsonwebtoken::encode(&header, black_box(&claims), &encoding_key).expect("encode"))
    });
    group.bench_function("decode", |b| {
        b.iter(|| {
            jsonwebtoken::decode::<serde_json::Value>(black_box(&token), &decoding_key, &validation)
                .expect("decode")
        })
    });
    group.finish();
}

/// Short runs: the whole suite should finish in a few minutes on 2 cores.
fn config() -> Criterion {
    Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(30)
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_backends, bench_jsonwebtoken
}
criterion_main!(benches);
