//! Table tests of the schedule with explicit instants.

use std::time::Duration;

use std::sync::Arc;

use super::*;
use crate::keys::testing::{T0, at, policy};

const RETIRE: Duration = Duration::from_secs(3630); // max_ttl 1h + leeway 30s

fn key(kid: &str, activate: u64) -> KeyTimes {
    KeyTimes { kid: kid.into(), activate_at: at(activate), revoked: false }
}

fn names(s: &Schedule) -> Vec<&'static str> {
    s.states.iter().map(|k| k.name()).collect()
}

#[test]
fn table() {
    struct Case {
        name: &'static str,
        keys: Vec<KeyTimes>,
        now: u64,
        states: &'static [&'static str],
        signing: Option<usize>,
        next_change: Option<u64>,
    }
    let revoked = |mut k: KeyTimes| {
        k.revoked = true;
        k
    };
    let cases = vec![
        Case { name: "no keys", keys: vec![], now: T0, states: &[], signing: None, next_change: None },
        Case {
            name: "one active key signs",
            keys: vec![key("a", T0 - 10)],
            now: T0,
            states: &["signing"],
            signing: Some(0),
            next_change: None,
        },
        Case {
            name: "a pending key is published but does not sign",
            keys: vec![key("a", T0 - 10), key("b", T0 + 3600)],
            now: T0,
            states: &["signing", "pending"],
            signing: Some(0),
            next_change: Some(T0 + 3600),
        },
        Case {
            name: "at activate_at exactly the new key signs and the old one retires",
            keys: vec![key("a", T0 - 10), key("b", T0)],
            now: T0,
            states: &["retired", "signing"],
            signing: Some(1),
            next_change: Some(T0 + 3630),
        },
        Case {
            name: "a retired key stays published for max_ttl + leeway after its successor activated",
            keys: vec![key("a", T0 - 7200), key("b", T0 - 3629)],
            now: T0,
            states: &["retired", "signing"],
            signing: Some(1),
            next_change: Some(T0 + 1),
        },
        Case {
            name: "then it expires",
            keys: vec![key("a", T0 - 7200), key("b", T0 - 3630)],
            now: T0,
            states: &["expired", "signing"],
            signing: Some(1),
            next_change: None,
        },
        Case {
            name: "order of the input does not matter",
            keys: vec![key("c", T0 + 100), key("a", T0 - 7200), key("b", T0 - 60)],
            now: T0,
            states: &["pending", "retired", "signing"],
            signing: Some(2),
            next_change: Some(T0 + 100),
        },
        Case {
            name: "ties on activate_at go to the greater kid",
            keys: vec![key("kid-b", T0 - 5), key("kid-a", T0 - 5)],
            now: T0,
            states: &["signing", "retired"],
            signing: Some(0),
            next_change: Some(T0 - 5 + 3630),
        },
        Case {
            name: "nothing active yet: the earliest pending key signs",
            keys: vec![key("late", T0 + 7200), key("early", T0 + 3600)],
            now: T0,
            states: &["pending", "signing"],
            signing: Some(1),
            next_change: Some(T0 + 7200),
        },
        Case {
            name: "a revoked signing key hands back to its predecessor",
            keys: vec![key("a", T0 - 600), revoked(key("b", T0 - 60))],
            now: T0,
            states: &["signing", "revoked"],
            signing: Some(0),
            next_change: None,
        },
        Case {
            name: "only revoked keys: nothing signs",
            keys: vec![revoked(key("a", T0 - 600))],
            now: T0,
            states: &["revoked"],
            signing: None,
            next_change: None,
        },
        Case {
            name: "three generations",
            keys: vec![key("g1", T0 - 90_000), key("g2", T0 - 4000), key("g3", T0 + 83_400)],
            now: T0,
            states: &["expired", "signing", "pending"],
            signing: Some(1),
            next_change: Some(T0 + 83_400),
        },
    ];
    for c in cases {
        let s = evaluate(&c.keys, at(c.now), RETIRE);
        assert_eq!(names(&s), c.states, "{}", c.name);
        assert_eq!(s.signing, c.signing, "{}", c.name);
        assert_eq!(s.next_change, c.next_change.map(at), "{}", c.name);
    }
}

#[test]
fn every_token_a_key_signed_stays_verifiable_until_it_expires() {
    // Sweep time across two rotations: whenever a key signs at t, it is still published at
    // t + max_ttl + leeway - 1 (the latest instant a verifier with leeway accepts a token).
    let keys = vec![key("a", T0), key("b", T0 + 5000), key("c", T0 + 10_000)];
    for t in (T0..T0 + 12_000).step_by(37) {
        let s = evaluate(&keys, at(t), RETIRE);
        let signer = s.signing.unwrap();
        let later = evaluate(&keys, at(t) + RETIRE - Duration::from_secs(1), RETIRE);
        assert!(later.states[signer].is_published(), "key {} signed at {t} but vanished", keys[signer].kid);
    }
}

#[test]
fn a_key_is_published_before_it_signs() {
    let keys = vec![key("a", T0), key("b", T0 + 3600)];
    let before = evaluate(&keys, at(T0 + 3599), RETIRE);
    assert_eq!(before.states[1], KeyState::Pending);
    assert!(before.states[1].is_published());
    assert_eq!(evaluate(&keys, at(T0 + 3600), RETIRE).signing, Some(1));
}

#[test]
fn switch_needed_looks_at_the_signing_and_pending_keys_only() {
    let dated = |alg, activate: u64| {
        let key = Arc::new(SigningKey::generate(alg).unwrap());
        let dates = KeyDates { created_at: at(0), activate_at: at(activate), revoked_at: None };
        DatedKey { key, dates }
    };
    let p = policy();
    let now = at(T0);
    assert_eq!(p.switch_needed(&[dated(Algorithm::ES256, T0 - 10)], now), None);
    assert_eq!(p.switch_needed(&[dated(Algorithm::EdDSA, T0 - 10)], now), Some(Algorithm::EdDSA));
    let old_es = dated(Algorithm::ES256, T0 - 1000);
    assert_eq!(
        p.switch_needed(&[old_es.clone(), dated(Algorithm::EdDSA, T0 - 10)], now),
        Some(Algorithm::EdDSA)
    );
    let pending_es = dated(Algorithm::ES256, T0 + 10);
    assert_eq!(p.switch_needed(&[dated(Algorithm::EdDSA, T0 - 10), pending_es], now), None);
    let pending_rs = dated(Algorithm::RS256, T0 + 10);
    assert_eq!(p.switch_needed(&[dated(Algorithm::EdDSA, T0 - 10), pending_rs], now), Some(Algorithm::EdDSA));
}
