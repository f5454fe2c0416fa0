//! The token endpoint's work without HTTP: signing per algorithm, the whole issuance path
//! (client authentication, scope and audience decisions, claims, signing), and client
//! secret checks per hash kind.
//!
//! Run: `cargo bench --features bench --bench issuance`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use tokenmint::bench::{ARGON2_CLIENT, IssuancePath, SHA256_CLIENT};

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("issuance");
    group.measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1)).sample_size(30);
    for alg in ["ES256", "EdDSA", "RS256"] {
        let path = IssuancePath::new(alg);
        assert!(!path.issue().is_empty());
        group.bench_function(format!("issue/{alg}"), |b| b.iter(|| black_box(path.issue())));
    }
    let path = IssuancePath::new("ES256");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (id, secret) = SHA256_CLIENT;
    group.bench_function("secret/sha256", |b| {
        b.iter(|| assert!(runtime.block_on(path.authenticate(black_box(id), black_box(secret)))))
    });
    let (id, secret) = ARGON2_CLIENT;
    // The first check pays argon2; later ones are served from the remembered-success cache.
    assert!(runtime.block_on(path.authenticate(id, secret)));
    group.bench_function("secret/argon2id_remembered", |b| {
        b.iter(|| assert!(runtime.block_on(path.authenticate(black_box(id), black_box(secret)))))
    });
    group.sample_size(10).measurement_time(Duration::from_secs(5));
    // The argon2 check itself: through `authenticate`, the throttle would answer after the
    // fifth wrong secret without checking.
    group.bench_function("secret/argon2id_wrong_secret_uncached", |b| {
        b.iter(|| assert!(!runtime.block_on(path.argon2_miss(black_box("wrong guess")))))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
