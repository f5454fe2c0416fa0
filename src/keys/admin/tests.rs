//! Operator actions on a real directory, with explicit instants.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;

const T0: u64 = 1_900_000_000;

fn at(s: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(s)
}

fn policy() -> KeyPolicy {
    KeyPolicy {
        alg: Algorithm::ES256,
        publish_ahead: Duration::from_secs(3600),
        retire_after: Duration::from_secs(3630),
        refresh_retire_after: Duration::from_secs(3630),
        rotate_every: None,
        writer: true,
    }
}

fn signing_kid(store: &KeyStore, at: SystemTime) -> String {
    let (rows, _) = list(store, &policy(), at);
    rows.iter().find(|(s, _)| *s == KeyState::Signing).map(|(_, k)| k.key.kid().to_owned()).unwrap()
}

#[test]
fn revoking_the_signing_key_never_hands_signing_back_to_an_older_key() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::new(dir.path());
    store.create(Algorithm::ES256, at(T0 - 7200), at(T0 - 7200)).unwrap();
    // The signing key activated in this very second: the replacement cannot take the same
    // second's slot, and must not land in the future either (the older key would sign
    // until it activates).
    let Created::New(current) = store.create(Algorithm::ES256, at(T0), at(T0)).unwrap() else { panic!() };
    let now = at(T0) + Duration::from_millis(400);
    let outcome = revoke(&store, &policy(), current.key.kid(), now).unwrap();
    assert!(outcome.was_signing);
    let replacement = outcome.replacement.unwrap();
    assert_eq!(signing_kid(&store, now), replacement.kid());
    let (rows, _) = list(&store, &policy(), now);
    let row = rows.iter().find(|(_, k)| k.key.kid() == replacement.kid()).unwrap();
    assert!(row.1.dates.activate_at <= now && row.1.dates.activate_at > at(T0 - 7200));
    let revoked = rows.iter().find(|(_, k)| k.key.kid() == current.key.kid()).unwrap();
    assert_eq!(revoked.0, KeyState::Revoked);
}

#[test]
fn the_replacement_signs_at_once_when_the_current_second_is_free() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::new(dir.path());
    let Created::New(current) = store.create(Algorithm::ES256, at(T0 - 60), at(T0 - 60)).unwrap() else {
        panic!()
    };
    let outcome = revoke(&store, &policy(), current.key.kid(), at(T0)).unwrap();
    let replacement = outcome.replacement.unwrap();
    assert_eq!(signing_kid(&store, at(T0)), replacement.kid());
    // Revoking a key that is not signing creates nothing.
    let again = revoke(&store, &policy(), current.key.kid(), at(T0 + 1)).unwrap();
    assert!(!again.was_signing && again.replacement.is_none());
}

#[test]
fn rotate_makes_the_key_an_algorithm_switch_needs_even_with_another_key_pending() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::new(dir.path());
    store.create(Algorithm::EdDSA, at(T0 - 60), at(T0 - 60)).unwrap();
    store.create(Algorithm::EdDSA, at(T0 - 60), at(T0 + 600)).unwrap();
    let Some(Created::New(k)) = rotate(&store, &policy(), at(T0)).unwrap() else { panic!("no key") };
    assert_eq!(k.key.alg(), Algorithm::ES256);
    assert_eq!(k.dates.activate_at, at(T0 + 3600));
    // Once it is pending, rotate is idempotent again.
    assert!(rotate(&store, &policy(), at(T0 + 1)).unwrap().is_none());
}
