//! Token verification per second with a cached key: the full `tokenmint::verify` check
//! (header, key by kid, signature, issuer, audience, times) against jsonwebtoken's `decode`
//! and against the raw signature verification of the crypto library. The difference is the
//! cost of everything around the signature.
//!
//! Run: `cargo bench --bench verify`

mod support;

use std::hint::black_box;
use std::time::Duration;

use aws_lc_rs::signature as sig;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use criterion::{Criterion, criterion_group, criterion_main};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use support::{AUDIENCE, BenchKey, ISSUER, ready};
use tokenmint::claims::AccessClaims;
use tokenmint::verify::{Jwks, Requirements, Verifier};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    for alg in [Algorithm::ES256, Algorithm::EdDSA, Algorithm::RS256] {
        let case = BenchKey::generate(alg);
        let token = case.token("c2VjcmV0LWp0aS0xMjM0NQ");
        let name = format!("{alg:?}");
        let requirements = Requirements {
            issuer: ISSUER.into(),
            audience: AUDIENCE.into(),
            algorithms: vec![case.alg],
            leeway: Duration::from_secs(30),
        };
        let jwks = Jwks::from_set(&JwkSet { keys: vec![case.jwk.clone()] });
        let verifier = Verifier::new(requirements, jwks).expect("verifier");
        ready(verifier.verify(&token)).expect("the bench token verifies");
        group.bench_function(format!("{name}/tokenmint_verify"), |b| {
            b.iter(|| ready(verifier.verify(black_box(&token))).expect("valid"))
        });

        // The verified-token cache: a token seen again (the hit), and a token seen once (the
        // miss: hashing, the lookup and the insert, with an eviction, on top of the full
        // check). The misses cycle through 20,000 tokens made ahead of the measurement, in a
        // cache of 1,024: each is long evicted when it comes round again.
        let cached = verifier.clone().with_cache(1 << 20, Duration::from_secs(3600));
        ready(cached.verify(&token)).expect("valid");
        group.bench_function(format!("{name}/tokenmint_verify_cached_hit"), |b| {
            b.iter(|| ready(cached.verify(black_box(&token))).expect("valid"))
        });
        group.bench_function(format!("{name}/tokenmint_verify_shared_cached_hit"), |b| {
            b.iter(|| ready(cached.verify_shared(black_box(&token))).expect("valid"))
        });
        let fresh: Vec<String> = (0..20_000).map(|i| case.token(&format!("bench-jti-{i}"))).collect();
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
                jsonwebtoken::decode::<AccessClaims>(black_box(&token), &decoding, &validation)
                    .expect("valid")
            })
        });

        let (message, signature) = token.rsplit_once('.').expect("three parts");
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
