//! The key ring over a real directory, with explicit instants.

use std::time::{Duration, SystemTime};

use super::*;
use crate::keys::KeyStore;
use crate::keys::testing::{T0, at, created, policy};

#[test]
fn revoking_every_key_leaves_no_signing_key_instead_of_the_revoked_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::new(dir.path());
    let old = created(store.create(Algorithm::ES256, at(T0 - 7200), at(T0 - 7200)).unwrap());
    let signing = created(store.create(Algorithm::ES256, at(T0 - 60), at(T0 - 60)).unwrap());
    let ring = KeyRing::open(KeySource::Dir(store.clone()), policy(), at(T0)).unwrap();
    assert_eq!(ring.current().signer().unwrap().kid(), signing.key.kid());

    // Every key revoked: no set can be built, and the last good set must not keep signing
    // with (or publishing) a revoked key.
    store.revoke(&old, at(T0 + 1)).unwrap();
    store.revoke(&signing, at(T0 + 1)).unwrap();
    assert!(matches!(ring.refresh(at(T0 + 2), true), Err(KeyError::NoSigningKey)));
    let set = ring.current_at(at(T0 + 2));
    assert!(matches!(set.signer(), Err(KeyError::NoSigningKey)));
    assert!(set.published.is_empty(), "{:?}", set.published);
    assert!(!set.verify.contains(signing.key.kid()) && !set.refresh_verify.contains(signing.key.kid()));
    assert_eq!(ring.alg(), Algorithm::ES256);
    // Stays closed, later too.
    assert!(ring.refresh(at(T0 + 3), true).is_err());
    assert!(ring.current_at(at(T0 + 10_000)).signer().is_err());

    // A usable key brings signing back.
    let fresh = created(store.create(Algorithm::EdDSA, at(T0 + 4), at(T0 + 4)).unwrap());
    ring.refresh(at(T0 + 5), true).unwrap();
    assert_eq!(ring.current().signer().unwrap().kid(), fresh.key.kid());
}

#[test]
fn missing_files_keep_the_last_good_set_but_a_revocation_still_removes_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::new(dir.path());
    let a = created(store.create(Algorithm::ES256, at(T0 - 60), at(T0 - 60)).unwrap());
    let b = created(store.create(Algorithm::ES256, at(T0 - 60), at(T0 + 600)).unwrap());
    let ring = KeyRing::open(KeySource::Dir(store.clone()), policy(), at(T0)).unwrap();
    // `b`'s file disappears (a bad Secret update) and `a` is revoked: nothing can be built.
    std::fs::remove_file(&b.path).unwrap();
    store.revoke(&a, at(T0 + 1)).unwrap();
    assert!(ring.refresh(at(T0 + 2), true).is_err());
    // The last good set stays for the missing file, but without the revoked key, and the
    // pending key does not start signing early.
    let set = ring.current();
    assert!(set.signer().is_err());
    let published: Vec<&str> = set.published.iter().map(|k| k.kid()).collect();
    assert_eq!(published, [b.key.kid()]);
}

#[test]
fn an_emptied_directory_keeps_the_last_good_set() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::new(dir.path());
    let a = created(store.create(Algorithm::ES256, at(T0 - 60), at(T0 - 60)).unwrap());
    let ring = KeyRing::open(KeySource::Dir(store.clone()), policy(), at(T0)).unwrap();
    std::fs::remove_file(&a.path).unwrap();
    assert!(ring.refresh(at(T0 + 1), true).is_err());
    assert_eq!(ring.current().signer().unwrap().kid(), a.key.kid());
}

/// The pending keys of `alg` in `store` at `now`.
fn pending(store: &KeyStore, alg: Algorithm, now: SystemTime) -> usize {
    store.load().0.iter().filter(|k| k.key.alg() == alg && k.dates.activate_at > now).count()
}

#[test]
fn an_old_key_of_the_configured_algorithm_does_not_stop_the_switch() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::new(dir.path());
    // tokens.algorithm = ES256; an ES256 key retired long ago, an EdDSA key signing now.
    store.create(Algorithm::ES256, at(T0 - 90_000), at(T0 - 90_000)).unwrap();
    let eddsa = created(store.create(Algorithm::EdDSA, at(T0 - 80_000), at(T0 - 80_000)).unwrap());
    let ring = KeyRing::open(KeySource::Dir(store.clone()), policy(), at(T0)).unwrap();
    assert_eq!(ring.current().signer().unwrap().kid(), eddsa.key.kid(), "the switch waits publish_ahead");
    assert_eq!(pending(&store, Algorithm::ES256, at(T0)), 1);
    // A restart with that key pending creates nothing more.
    drop(ring);
    KeyRing::open(KeySource::Dir(store.clone()), policy(), at(T0 + 60)).unwrap();
    assert_eq!(store.load().0.len(), 3);
}

#[test]
fn only_the_writer_creates_the_key_of_an_algorithm_switch() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::new(dir.path());
    let eddsa = created(store.create(Algorithm::EdDSA, at(T0 - 60), at(T0 - 60)).unwrap());
    let reader = KeyPolicy { writer: false, rotate_every: Some(Duration::from_secs(86_400)), ..policy() };
    let ring = KeyRing::open(KeySource::Dir(store.clone()), reader, at(T0)).unwrap();
    assert_eq!(ring.current().signer().unwrap().kid(), eddsa.key.kid());
    assert_eq!(store.load().0.len(), 1, "a reader wrote a key");
    // A fresh deployment still gets its first key from any replica.
    let empty = tempfile::tempdir().unwrap();
    let fresh = KeyStore::new(empty.path());
    let reader = KeyPolicy { writer: false, ..policy() };
    let ring = KeyRing::open(KeySource::Dir(fresh.clone()), reader, at(T0)).unwrap();
    assert_eq!(ring.current().signer().unwrap().alg(), Algorithm::ES256);
}
