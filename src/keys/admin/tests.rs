//! Operator actions on a real directory, with explicit instants.

use std::time::{Duration, SystemTime};

use super::*;
use crate::keys::testing::{T0, at, policy};

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
    let Rotation::Created(Created::New(k)) = rotate(&store, &policy(), at(T0)).unwrap() else {
        panic!("no key")
    };
    assert_eq!(k.key.alg(), Algorithm::ES256);
    assert_eq!(k.dates.activate_at, at(T0 + 3600));
    // Once it is pending, rotate is idempotent again.
    assert!(matches!(rotate(&store, &policy(), at(T0 + 1)).unwrap(), Rotation::Pending));
}

#[test]
fn rotate_follows_rotate_every_like_automatic_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::new(dir.path());
    let daily = KeyPolicy { rotate_every: Some(Duration::from_secs(86_400)), ..policy() };
    store.create(Algorithm::ES256, at(T0), at(T0)).unwrap();
    // A scheduler running every hour: nothing until the period ends within publish_ahead.
    for hour in 0..23 {
        let now = at(T0 + hour * 3600);
        let Rotation::NotDue { due_at, period_end } = rotate(&store, &daily, now).unwrap() else {
            panic!("rotated after {hour} h of a 24 h period")
        };
        assert_eq!((due_at, period_end), (at(T0 + 23 * 3600), at(T0 + 86_400)));
    }
    assert_eq!(store.load().0.len(), 1);
    // Due: the key activates at the end of the period, in that slot's file, so an
    // auto-rotating replica making the same key at the same time writes nothing more.
    let now = at(T0 + 23 * 3600);
    let Rotation::Created(Created::New(k)) = rotate(&store, &daily, now).unwrap() else { panic!("not due") };
    assert_eq!(k.dates.activate_at, at(T0 + 86_400));
    assert!(k.path.ends_with(format!("tm-{}-es256.pem", T0 + 86_400)));
    assert!(matches!(
        store.create(Algorithm::ES256, now, at(T0 + 86_400)).unwrap(),
        Created::AlreadyThere(_)
    ));
    // Idempotent: the next runs find it pending.
    assert!(matches!(rotate(&store, &daily, at(T0 + 23 * 3600 + 60)).unwrap(), Rotation::Pending));
}

#[test]
fn with_rotation_off_rotate_is_rotation_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::new(dir.path());
    store.create(Algorithm::ES256, at(T0), at(T0)).unwrap();
    let Rotation::Created(Created::New(k)) = rotate(&store, &policy(), at(T0 + 10)).unwrap() else {
        panic!("no key")
    };
    assert_eq!(k.dates.activate_at, at(T0 + 10 + 3600));
    assert!(matches!(rotate(&store, &policy(), at(T0 + 11)).unwrap(), Rotation::Pending));
    // An empty directory gets its first key either way.
    let empty = tempfile::tempdir().unwrap();
    let daily = KeyPolicy { rotate_every: Some(Duration::from_secs(86_400)), ..policy() };
    assert!(matches!(rotate(&KeyStore::new(empty.path()), &daily, at(T0)).unwrap(), Rotation::Created(_)));
}
