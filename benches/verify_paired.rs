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
//! - `sha256`: the SHA-256 of that token alone, what every hit would cost at least were the
//!   cache keyed by it (it is keyed by the token itself, compared byte for byte).
//!
//! Tokens cycle through 4,096 made ahead (distinct `jti`), in a 1,024-entry cache for `miss`.
//!
//! Run: `taskset -c 1 cargo bench --bench verify_paired` (`ROUNDS=N` for more rounds).

mod support;

use std::hint::black_box;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use aws_lc_rs::signature::ParsedPublicKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use jsonwebtoken::jwk::JwkSet;
use support::{AUDIENCE, BenchKey, ISSUER, ready};
use tokenmint::verify::{Jwks, Requirements, Verifier};

/// Tokens made ahead; the `miss` cache holds a quarter of them.
const TOKENS: usize = 4096;
/// Verifications per variant per round.
const BLOCK: usize = 32;

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
        let key = BenchKey::generate(alg);
        let parsed = ParsedPublicKey::new(key.raw_alg, &key.public_key).expect("public key");
        let tokens: Vec<String> = (0..TOKENS).map(|i| key.token(&format!("bench-jti-{i}"))).collect();
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
        let verifier = Verifier::new(requirements, Jwks::from_set(&JwkSet { keys: vec![key.jwk.clone()] }))
            .expect("verifier");
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
