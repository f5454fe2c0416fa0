//! The verified-token cache (`Verifier::with_cache`): a token seen again is answered from the
//! cache, its times and the caller's requirements still checked on every call; failures are
//! never remembered; a rotation or revocation that takes the key out of the key set ends its
//! tokens' entries.

use std::time::{Duration, SystemTime};

use jsonwebtoken::{Algorithm as JwtAlg, Header};
use serde_json::{Value, json};
use tokenmint::verify::{Algorithm, ErrorKind, Jwks, RemoteJwks, RemoteOptions, Requirements, Verifier};

use crate::foreign::{LoopbackIssuer, TestKey, jwks_of};
use crate::helpers::*;

const AUDIENCE: &str = "https://api.one";

fn requirements(issuer: &str) -> Requirements {
    Requirements {
        issuer: issuer.to_owned(),
        audience: AUDIENCE.to_owned(),
        algorithms: vec![Algorithm::ES256],
        leeway: Duration::from_secs(5),
    }
}

/// An RFC 9068 access token of `issuer`, signed by `key`, expiring `ttl` seconds from now.
fn access_token(key: &TestKey, issuer: &str, ttl: u64) -> String {
    let now = unix_now();
    let claims = json!({
        "iss": issuer, "sub": "svc-a", "aud": AUDIENCE, "exp": now + ttl, "iat": now, "nbf": now,
        "jti": format!("jti-{}", fastrand::u64(..)), "client_id": "svc-a", "scope": "read",
    });
    let mut header = Header::new(JwtAlg::ES256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(key.kid.clone());
    key.sign_with(&header, &claims)
}

fn static_verifier(keys: &[&TestKey], issuer: &str) -> Verifier {
    let jwks = Jwks::from_json(jwks_of(keys).to_string().as_bytes()).unwrap();
    Verifier::new(requirements(issuer), jwks).unwrap().with_cache(100, Duration::from_secs(300))
}

#[tokio::test]
async fn a_token_seen_again_is_answered_from_the_cache_with_its_times_still_checked_rfc9068_4() {
    let key = TestKey::es256("k1");
    let verifier = static_verifier(&[&key], ISSUER);
    let token = access_token(&key, ISSUER, 60);
    let first = verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 1);
    let again = verifier.verify(&token).await.unwrap();
    assert_eq!((again.jti, again.sub), (first.jti, first.sub));
    assert_eq!(verifier.cached_tokens(), 1, "one entry per token");
    // `exp` is checked on every call: past it (and the leeway), the cached token is refused.
    let later = SystemTime::now() + Duration::from_secs(120);
    assert_eq!(verifier.verify_at(&token, later).await.unwrap_err().kind(), ErrorKind::Expired);
    // Clones share the cache.
    assert_eq!(verifier.clone().cached_tokens(), verifier.cached_tokens());
}

/// `verify_shared` hands out the cached claims themselves: one allocation for every caller of
/// a token seen again, and the same checks as `verify` (RFC 9068 §4: `exp` still checked).
#[tokio::test]
async fn verify_shared_answers_a_token_seen_again_with_the_cached_claims_themselves() {
    let key = TestKey::es256("k1");
    let verifier = static_verifier(&[&key], ISSUER);
    let token = access_token(&key, ISSUER, 60);
    let first = verifier.verify_shared(&token).await.unwrap();
    let again = verifier.verify_shared(&token).await.unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again), "a hit shares the remembered claims");
    assert_eq!(*first, verifier.verify(&token).await.unwrap(), "verify answers a copy of the same claims");
    let later = SystemTime::now() + Duration::from_secs(120);
    assert_eq!(verifier.verify_shared_at(&token, later).await.unwrap_err().kind(), ErrorKind::Expired);
    // Without a cache every call verifies afresh.
    let uncached = Verifier::new(
        requirements(ISSUER),
        Jwks::from_json(jwks_of(&[&key]).to_string().as_bytes()).unwrap(),
    )
    .unwrap();
    let (a, b) =
        (uncached.verify_shared(&token).await.unwrap(), uncached.verify_shared(&token).await.unwrap());
    assert!(!std::sync::Arc::ptr_eq(&a, &b) && a == b);
}

#[tokio::test]
async fn failures_are_never_cached_and_a_changed_byte_is_another_token() {
    let key = TestKey::es256("k1");
    let verifier = static_verifier(&[&key], ISSUER);
    let token = access_token(&key, ISSUER, 60);
    let forged = access_token(&TestKey::es256("k1"), ISSUER, 60);
    for _ in 0..2 {
        assert_eq!(verifier.verify(&forged).await.unwrap_err().kind(), ErrorKind::BadSignature);
    }
    assert_eq!(verifier.cached_tokens(), 0);
    verifier.verify(&token).await.unwrap();
    // The genuine token's signature on other claims: the cache is keyed by the whole token.
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(&token).unwrap();
    claims["scope"] = json!("read admin");
    let tampered = format!("{}.{}.{}", parts[0], crate::forge::b64(&claims), parts[2]);
    assert_eq!(verifier.verify(&tampered).await.unwrap_err().kind(), ErrorKind::BadSignature);
    // Another issuer's verifier over the same keys refuses the token, cached elsewhere or not.
    let other = static_verifier(&[&key], "https://elsewhere.test");
    assert_eq!(other.verify(&token).await.unwrap_err().kind(), ErrorKind::WrongIssuer);
}

/// The cache is keyed by the token itself: a token it holds never shows in the verifier's
/// `Debug`, and one byte more or less is another token, verified afresh (and refused).
#[tokio::test]
async fn the_cache_never_prints_a_token_and_a_longer_or_shorter_token_is_another() {
    let key = TestKey::es256("k1");
    let verifier = static_verifier(&[&key], ISSUER);
    let token = access_token(&key, ISSUER, 60);
    verifier.verify(&token).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 1);
    let signature = token.rsplit('.').next().unwrap();
    let printed = format!("{verifier:?}");
    assert!(!printed.contains(signature), "Debug shows a cached token: {printed}");
    for other in [format!("{token}A"), token[..token.len() - 1].to_string()] {
        assert!(verifier.verify(&other).await.is_err(), "{other} passed as the cached token");
    }
    assert_eq!(verifier.cached_tokens(), 1);
    verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn a_key_that_leaves_the_key_set_ends_its_cached_tokens() {
    let (old, new) = (TestKey::es256("old"), TestKey::es256("new"));
    let issuer = LoopbackIssuer::start(jwks_of(&[&old, &new])).await;
    let options = RemoteOptions {
        min_max_age: Duration::from_secs(1),
        default_max_age: Duration::from_secs(1),
        ..RemoteOptions::default()
    };
    let remote = RemoteJwks::new(&issuer.jwks_uri(), options).unwrap();
    let verifier =
        Verifier::remote(requirements(ISSUER), remote).unwrap().with_cache(100, Duration::from_secs(300));
    let (by_old, by_new) = (access_token(&old, ISSUER, 300), access_token(&new, ISSUER, 300));
    verifier.verify(&by_old).await.unwrap();
    verifier.verify(&by_new).await.unwrap();
    assert_eq!(verifier.cached_tokens(), 2);
    // The old key is revoked: once the verifier's key set has been refreshed without it, its
    // cached token is refused, while the new key's stays served.
    let fetches = issuer.fetches();
    issuer.publish(jwks_of(&[&new]));
    assert!(eventually(|| async { issuer.fetches() > fetches }).await, "no refresh");
    let refused = eventually(|| async { verifier.verify(&by_old).await.is_err() }).await;
    assert!(refused, "a token of a revoked key is still accepted from the cache");
    assert_eq!(verifier.verify(&by_old).await.unwrap_err().kind(), ErrorKind::UnknownKey);
    verifier.verify(&by_new).await.unwrap();
}
