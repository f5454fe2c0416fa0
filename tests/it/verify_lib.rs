//! `tokenmint::verify` against the real server, and introspection (RFC 7662): genuine
//! tokens pass, every forgery fails with the right kind and is reported inactive. The
//! introspection endpoint's own rules are in `inprocess_introspect`.

use std::time::Duration;

use serde_json::Value;
use tokenmint::verify::{Algorithm, DEFAULT_MAX_LIFETIME, ErrorKind, Jwks, Requirements, Verifier};

use crate::forge::{at_header, forgeries, server_key, sign, valid_claims};
use crate::helpers::*;

fn requirements(issuer: &str) -> Requirements {
    Requirements {
        issuer: issuer.to_owned(),
        audience: "https://api.one".into(),
        algorithms: vec![Algorithm::ES256],
        leeway: Duration::from_secs(30),
    }
}

async fn static_verifier(app: &TestApp) -> Verifier {
    Verifier::new(requirements(&app.issuer), Jwks::from_set(&app.jwks().await)).unwrap()
}

/// POSTs `token` to the introspection endpoint of the server at `addr`, as `as_client`.
async fn introspect_at(http: &reqwest::Client, addr: &str, as_client: &str, token: &str) -> Value {
    let url = format!("http://{addr}/oauth2/introspect");
    let res = send(http.post(url).basic_auth(as_client, Some(SECRET_A)).form(&[("token", token)])).await;
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

/// POSTs `token` to the introspection endpoint as `svc-a`.
async fn introspect(app: &TestApp, token: &str) -> Value {
    let res = send(
        app.http
            .post(app.url("/oauth2/introspect"))
            .basic_auth("svc-a", Some(SECRET_A))
            .form(&[("token", token)]),
    )
    .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    res.json().await.unwrap()
}

#[tokio::test]
async fn a_genuine_token_verifies_and_is_active_rfc9068_4_rfc7662_2_2() {
    let app = TestApp::spawn().await;
    let (token, _) = app.access_token(&[("scope", "read write")]).await;
    let claims = static_verifier(&app).await.verify(&token).await.unwrap();
    assert_eq!(claims.client_id, "svc-a");
    assert!(claims.has_scopes(&["read", "write"]));

    let body = introspect(&app, &token).await;
    assert_eq!(body["active"], true);
    assert_eq!(body["client_id"], "svc-a");
    assert_eq!(body["scope"], "read write");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["iss"], ISSUER);
    assert_eq!(body["aud"], "https://api.one");
    assert_eq!(body["tenant"], "acme");
}

#[tokio::test]
async fn a_token_crafted_with_the_real_key_verifies_so_the_forgeries_below_are_meaningful() {
    let app = TestApp::spawn().await;
    let (key, kid) = server_key(&app);
    let token = sign(&at_header(&kid), &valid_claims(&app.issuer), &key);
    static_verifier(&app).await.verify(&token).await.unwrap();
    assert_eq!(introspect(&app, &token).await["active"], true);
}

#[tokio::test]
async fn every_forgery_is_rejected_and_inactive_rfc8725_rfc9068_4() {
    let app = TestApp::spawn().await;
    let verifier = static_verifier(&app).await;
    let cases = forgeries(&app).await;
    assert!(cases.len() >= 15);
    for case in cases {
        let err = verifier.verify(&case.token).await.expect_err(case.name);
        assert_eq!(err.kind(), case.kind, "{}: {err}", case.name);
        // The error never echoes the token.
        assert!(!err.to_string().contains(&case.token), "{}", case.name);
        let body = introspect(&app, &case.token).await;
        if case.inactive_at_introspection {
            assert_eq!(body, serde_json::json!({"active": false}), "{}", case.name);
        }
    }
}

#[tokio::test]
async fn the_verifier_refuses_a_configuration_with_silent_gaps() {
    let app = TestApp::spawn().await;
    let jwks = Jwks::from_set(&app.jwks().await);
    let mut r = requirements(ISSUER);
    r.algorithms.clear();
    assert_eq!(Verifier::new(r, jwks.clone()).unwrap_err().kind(), ErrorKind::Configuration);
    let mut r = requirements(ISSUER);
    r.audience.clear();
    assert_eq!(Verifier::new(r, jwks.clone()).unwrap_err().kind(), ErrorKind::Configuration);
    let mut r = requirements(ISSUER);
    r.algorithms = vec![Algorithm::HS256];
    assert_eq!(Verifier::new(r, jwks).unwrap_err().kind(), ErrorKind::Configuration);
}

#[tokio::test]
async fn an_algorithm_outside_the_allowed_list_is_refused() {
    let app = TestApp::spawn().await;
    let (token, _) = app.access_token(&[]).await;
    let mut r = requirements(ISSUER);
    r.algorithms = vec![Algorithm::EdDSA];
    let verifier = Verifier::new(r, Jwks::from_set(&app.jwks().await)).unwrap();
    assert_eq!(verifier.verify(&token).await.unwrap_err().kind(), ErrorKind::UnsupportedAlgorithm);
}

#[tokio::test]
async fn leeway_applies_to_exp_rfc7519_4_1_4() {
    let app = TestApp::spawn().await;
    let (token, _) = app.access_token(&[("expires_in", "60")]).await;
    let verifier = static_verifier(&app).await;
    let later = |s| std::time::SystemTime::now() + Duration::from_secs(s);
    verifier.verify_at(&token, later(80)).await.unwrap();
    assert_eq!(verifier.verify_at(&token, later(95)).await.unwrap_err().kind(), ErrorKind::Expired);
}

#[tokio::test]
async fn a_token_signed_by_a_key_no_longer_published_is_rejected_and_inactive() {
    let app = TestApp::spawn().await;
    let (token, _) = app.access_token(&[]).await;
    for entry in std::fs::read_dir(app.keys_dir.path()).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    // Restarted with the old key gone: a new key is created and only it is published.
    let (addr, _stop) = app.spawn_sharing_keys(CLIENTS).await;
    let jwks: jsonwebtoken::jwk::JwkSet =
        get_json(&app.http, &format!("http://{addr}/.well-known/jwks.json")).await;
    let verifier = Verifier::new(requirements(ISSUER), Jwks::from_set(&jwks)).unwrap();
    assert_eq!(verifier.verify(&token).await.unwrap_err().kind(), ErrorKind::UnknownKey);
    let body = introspect_at(&app.http, &addr.to_string(), "svc-a", &token).await;
    assert_eq!(body, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn discovery_finds_the_jwks_rfc8414_3() {
    let app = TestApp::spawn_self_issued(CLIENTS).await;
    let (token, _) = app.access_token(&[]).await;
    let verifier = Verifier::discover(requirements(&app.issuer)).await.unwrap();
    assert_eq!(verifier.verify(&token).await.unwrap().sub, "svc-a");
    // Metadata that names another issuer is refused (RFC 8414 §3.3).
    let wrong = format!("{}/", app.issuer);
    let err = Verifier::discover(requirements(&wrong)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongIssuer);
}

#[tokio::test]
async fn every_signing_algorithm_verifies() {
    for (alg, expected) in [("EdDSA", Algorithm::EdDSA), ("RS256", Algorithm::RS256)] {
        let app = TestApp::spawn_with(&format!("[tokens]\nalgorithm = \"{alg}\"")).await;
        let (token, _) = app.access_token(&[]).await;
        let mut r = requirements(ISSUER);
        r.algorithms = vec![expected];
        let verifier = Verifier::new(r, Jwks::from_set(&app.jwks().await)).unwrap();
        verifier.verify(&token).await.unwrap();
    }
}

/// A token for `svc-a` signed with `app`'s real key, issued at `iat` and expiring at `exp`.
fn lived(app: &TestApp, iat: u64, exp: u64) -> String {
    let (key, kid) = server_key(app);
    let mut claims = valid_claims(&app.issuer);
    claims["iat"] = iat.into();
    claims["nbf"] = iat.into();
    claims["exp"] = exp.into();
    sign(&at_header(&kid), &claims, &key)
}

#[tokio::test]
async fn a_token_that_lives_longer_than_a_day_is_refused_by_default_rfc7519_4_1_6() {
    let app = TestApp::spawn().await;
    let verifier = static_verifier(&app).await;
    assert_eq!(verifier.max_lifetime(), DEFAULT_MAX_LIFETIME);
    assert_eq!(DEFAULT_MAX_LIFETIME, Duration::from_secs(24 * 3600));
    let (now, day) = (unix_now(), 24 * 3600);
    // Exactly one day is allowed; a second more is not, however far `exp` still is.
    verifier.verify(&lived(&app, now, now + day)).await.unwrap();
    for (name, token) in [
        ("a day and a second", lived(&app, now, now + day + 1)),
        ("ten years", lived(&app, now, now + 10 * 365 * day)),
        // Issued long ago, still unexpired: the lifetime, not the time left, is bounded.
        ("issued two days ago, a minute left", lived(&app, now - 2 * day, now + 60)),
    ] {
        let err = verifier.verify(&token).await.expect_err(name);
        assert_eq!(err.kind(), ErrorKind::LifetimeTooLong, "{name}: {err}");
        assert_eq!(err.kind().as_str(), "lifetime_too_long");
    }
    // An expired token is reported as expired, whatever its lifetime.
    let err = verifier.verify(&lived(&app, now - 3 * day, now - 120)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Expired);
    // The service's own tokens (5 minutes by default) are well within the bound.
    let (token, _) = app.access_token(&[]).await;
    verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn the_maximum_lifetime_is_set_on_the_verifier_rfc7519_4_1_6() {
    let app = TestApp::spawn().await;
    let now = unix_now();
    let hour = static_verifier(&app).await.with_max_lifetime(Duration::from_secs(3600));
    assert_eq!(hour.max_lifetime(), Duration::from_secs(3600));
    hour.verify(&lived(&app, now, now + 3600)).await.unwrap();
    let err = hour.verify(&lived(&app, now, now + 3601)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LifetimeTooLong);
    // No leeway applies: both times are the issuer's.
    let err = hour.verify(&lived(&app, now - 10, now + 3595)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LifetimeTooLong);
    // `Duration::MAX` removes the bound.
    let unbounded = static_verifier(&app).await.with_max_lifetime(Duration::MAX);
    unbounded.verify(&lived(&app, now, now + 10 * 365 * 24 * 3600)).await.unwrap();

    // A verifier over a remote JWKS checks it the same way.
    let app = TestApp::spawn_self_issued(CLIENTS).await;
    let remote = Verifier::discover(requirements(&app.issuer)).await.unwrap();
    let (short, _) = app.access_token(&[("expires_in", "60")]).await;
    remote.verify(&short).await.unwrap();
    let err = remote.verify(&lived(&app, now, now + 2 * 24 * 3600)).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::LifetimeTooLong);
    let remote = remote.with_max_lifetime(Duration::from_secs(30));
    assert_eq!(remote.verify(&short).await.unwrap_err().kind(), ErrorKind::LifetimeTooLong);
}
