//! Paired measurement of the verifier against the raw signature check, for ratios that
//! criterion's one-row-after-another runs cannot resolve on a shared VM (whose speed drifts
//! by 10–70% over minutes, more than the 1–5% these targets are about).
//!
//! Each round times one block of each variant back to back, over the same tokens, so the
//! drift is nearly the same for every variant within a round; the figures are the medians
//! over the rounds of the per-round ratios and differences, with their interquartile range.
//! The variants, per algorithm:
//! - `raw`: aws-lc-rs checks the signature of each token with a key parsed once;
//! - `uncached`: `Verifier::verify` with no cache;
//! - `miss`: `Verifier::verify_shared` with a cache that has never seen the token (hash,
//!   lookup, the full check, insert with an eviction);
//! - `hit`: `Verifier::verify_shared` on a token the cache holds;
//! - `sha256`: the SHA-256 of that token alone, the cache's key and so a hit's floor.
//!
//! Tokens cycle through 4,096 made ahead (distinct `jti`), in a 1,024-entry cache for `miss`.
//!
//! Run: `taskset -c 1 cargo bench --bench verify_paired` (`ROUNDS=N` for more rounds).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest;
use aws_lc_rs::signature::{self as sig, KeyPair as _, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use tokenmint::verify::{Jwks, Requirements, Verifier};

const ISSUER: &str = "https://tokens.example.com";
const AUDIENCE: &str = "https://api.example.com";
/// Tokens made ahead; the `miss` cache holds a quarter of them.
const TOKENS: usize = 4096;
/// Verifications per variant per round.
const BLOCK: usize = 32;

/// A fresh key of `alg`: the signing key, its JWK and the raw public key with its algorithm.
fn key(alg: Algorithm) -> (EncodingKey, Jwk, ParsedPublicKey) {
    let (key, public, raw_alg): (EncodingKey, Vec<u8>, &'static dyn sig::VerificationAlgorithm) = match alg {
        Algorithm::ES256 => {
            let k = sig::EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).expect("ES256 key");
            let der = k.to_pkcs8v1().expect("pkcs8");
            (
                EncodingKey::from_ec_der(der.as_ref()),
                k.public_key().as_ref().to_vec(),
                &sig::ECDSA_P256_SHA256_FIXED,
            )
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
    let parsed = ParsedPublicKey::new(raw_alg, public).expect("public key");
    (key, jwk, parsed)
}

/// `TOKENS` access tokens signed by `key`, each with its own `jti`.
fn tokens(alg: Algorithm, key: &EncodingKey) -> Vec<String> {
    let mut header = Header::new(alg);
    header.typ = Some("at+jwt".into());
    header.kid = Some("bench-kid".into());
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    (0..TOKENS)
        .map(|i| {
            let claims = serde_json::json!({
                "iss": ISSUER, "sub": "billing", "aud": AUDIENCE, "exp": now + 3600, "iat": now,
                "nbf": now, "jti": format!("bench-jti-{i}"), "client_id": "billing",
                "scope": "invoices:read invoices:write", "tenant": "acme",
            });
            jsonwebtoken::encode(&header, &claims, key).expect("token")
        })
        .collect()
}

/// Polls a future that never waits (a static key set) to completion.
fn ready<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("a static-key verification never waits"),
    }
}

/// Microseconds per call of `f` over the next `BLOCK` items of `items` (from `*at`).
fn block<T>(items: &[T], at: &mut usize, mut f: impl FnMut(&T)) -> f64 {
    let start = Instant::now();
    for _ in 0..BLOCK {
        f(&items[*at % items.len()]);
        *at += 1;
    }
    start.elapsed().as_secs_f64() * 1e6 / BLOCK as f64
}

/// The median and interquartile range of `values`.
fn quartiles(values: &mut [f64]) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let at = |q: f64| values[((values.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.25), at(0.75))
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes no such flag: one round.
    let rounds: usize = match std::env::args().any(|a| a == "--bench") {
        true => std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(2000),
        false => 1,
    };
    println!(
        "{rounds} rounds of {BLOCK} verifications per variant; median (interquartile range) over rounds"
    );
    println!(
        "| Algorithm | raw µs | uncached µs | uncached ÷ raw | miss − uncached µs | hit µs | uncached ÷ hit | SHA-256 of the token µs |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
        let (key, jwk, parsed) = key(alg);
        let tokens = tokens(alg, &key);
        let signed: Vec<(&str, Vec<u8>)> = tokens
            .iter()
            .map(|t| {
                let (message, signature) = t.rsplit_once('.').expect("three parts");
                (message, URL_SAFE_NO_PAD.decode(signature).expect("base64url"))
            })
            .collect();
        let requirements = Requirements {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            algorithms: vec![alg],
            leeway: Duration::from_secs(30),
        };
        let verifier =
            Verifier::new(requirements, Jwks::from_set(&JwkSet { keys: vec![jwk] })).expect("verifier");
        let cold = verifier.clone().with_cache(TOKENS / 4, Duration::from_secs(3600));
        let warm = verifier.clone().with_cache(1 << 16, Duration::from_secs(3600));
        ready(warm.verify_shared(&tokens[0])).expect("the bench token verifies");

        let (mut raw, mut uncached, mut ratio, mut over, mut hit, mut speedup, mut sha) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut at = 0;
        for round in 0..rounds + 1 {
            let mut times = [0.0; 5];
            // Each round starts with a different variant, so none is always first.
            for step in 0..5 {
                let variant = (round + step) % 5;
                let mut from = at;
                times[variant] = match variant {
                    0 => block(&signed, &mut from, |(m, s)| {
                        parsed.verify_sig(black_box(m.as_bytes()), black_box(s)).expect("raw signature")
                    }),
                    1 => block(&tokens, &mut from, |t| {
                        ready(verifier.verify(black_box(t))).expect("valid");
                    }),
                    2 => block(&tokens, &mut from, |t| {
                        ready(cold.verify_shared(black_box(t))).expect("valid");
                    }),
                    3 => block(&tokens[..1], &mut from, |t| {
                        ready(warm.verify_shared(black_box(t))).expect("valid");
                    }),
                    _ => block(&tokens[..1], &mut from, |t| {
                        black_box(digest::digest(&digest::SHA256, black_box(t.as_bytes())));
                    }),
                };
            }
            at += BLOCK;
            if round == 0 {
                continue; // warm-up
            }
            let [r, u, m, h, d] = times;
            raw.push(r);
            uncached.push(u);
            ratio.push(u / r);
            over.push(m - u);
            hit.push(h);
            speedup.push(u / h);
            sha.push(d);
        }
        let show = |v: &mut Vec<f64>, digits: usize| {
            let (median, low, high) = quartiles(v);
            format!("{median:.digits$} ({low:.digits$}–{high:.digits$})")
        };
        println!(
            "| {alg:?} | {} | {} | {} | {} | {} | {} | {} |",
            show(&mut raw, 1),
            show(&mut uncached, 1),
            show(&mut ratio, 3),
            show(&mut over, 2),
            show(&mut hit, 2),
            show(&mut speedup, 0),
            show(&mut sha, 2),
        );
    }
}
