//! What a successful token says: RFC 9068 claims and header, scopes (RFC 6749 §3.3),
//! audiences (RFC 8707), lifetimes, and the response (RFC 6749 §5.1), in-process. Tokens
//! are verified against the JWKS fetched in-process too.

use std::collections::HashSet;

use crate::helpers::*;

const CC: (&str, &str) = ("grant_type", "client_credentials");

#[tokio::test]
async fn the_access_token_carries_every_rfc9068_claim_and_header() {
    let app = InProcess::spawn().await;
    let before = unix_now();
    let (token, body) = app.access_token(&[]).await;
    let after = unix_now();

    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("at+jwt"), "RFC 9068 §2.1");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let jwks = app.jwks().await;
    assert!(jwks.find(header.kid.as_deref().unwrap()).is_some());

    let c = app.verify(&token, "https://api.one").await;
    assert_eq!(c.iss, ISSUER);
    assert_eq!(c.sub, "svc-a", "RFC 9068 §2.2: sub is the client for client credentials");
    assert!(c.aud.contains("https://api.one"));
    assert_eq!(c.client_id, "svc-a");
    assert_eq!(c.scope.as_deref(), Some("read"));
    assert!(c.iat >= before && c.iat <= after);
    assert_eq!(c.nbf, Some(c.iat));
    assert_eq!(c.exp - c.iat, 300);
    assert_eq!(body["expires_in"], 300);
    assert_eq!(c.extra["tenant"], "acme");
    assert_eq!(c.extra["tier"], 3);
    // jti: at least 128 random bits, base64url.
    assert!(c.jti.len() >= 22 && c.jti.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
}

#[tokio::test]
async fn jti_is_unique_per_token() {
    let app = InProcess::spawn().await;
    let mut seen = HashSet::new();
    // More tokens than one batch of pooled random bytes (64), so refills are crossed.
    for _ in 0..150 {
        let (token, _) = app.access_token(&[]).await;
        let c = app.verify(&token, "https://api.one").await;
        assert!(seen.insert(c.jti));
    }
}

#[tokio::test]
async fn the_success_response_is_rfc6749_5_1() {
    let app = InProcess::spawn().await;
    let res = app.token_basic("svc-a", SECRET_A, &[CC]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.headers["cache-control"], "no-store");
    assert_eq!(res.headers["pragma"], "no-cache");
    assert!(res.headers["content-type"].to_str().unwrap().starts_with("application/json"));
    let body = res.json();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["access_token"].is_string());
    assert!(body["expires_in"].is_u64());
    assert_eq!(body["scope"], "read");
    assert!(body.get("refresh_token").is_none(), "RFC 6749 §4.4.3: no refresh token");
}

#[tokio::test]
async fn no_scope_requested_grants_the_defaults_rfc6749_3_3() {
    let app = InProcess::spawn().await;
    let (token, body) = app.access_token(&[]).await;
    assert_eq!(body["scope"], "read");
    assert_eq!(app.verify(&token, "https://api.one").await.scope.as_deref(), Some("read"));
}

#[tokio::test]
async fn requested_scopes_are_granted_and_reported_rfc6749_3_3() {
    let app = InProcess::spawn().await;
    let (token, body) = app.access_token(&[("scope", "write admin:all write")]).await;
    assert_eq!(body["scope"], "write admin:all");
    let c = app.verify(&token, "https://api.one").await;
    assert!(c.has_scopes(&["write", "admin:all"]));
    assert!(!c.has_scopes(&["read"]));
}

#[tokio::test]
async fn a_client_without_scopes_gets_a_token_without_a_scope_claim() {
    let app = InProcess::spawn().await;
    let res = app.token_basic("my-client", SPECIAL_SECRET, &[CC]).await;
    let body = res.json();
    assert!(body.get("scope").is_none());
    let c = app.verify(body["access_token"].as_str().unwrap(), "https://api.one").await;
    assert_eq!(c.scope, None);
}

#[tokio::test]
async fn resource_picks_the_audience_rfc8707_2() {
    let app = InProcess::spawn().await;
    let (token, _) = app.access_token(&[("resource", "https://api.two")]).await;
    let c = app.verify(&token, "https://api.two").await;
    assert_eq!(c.aud, tokenmint::claims::Audience::One("https://api.two".into()));
    // The default audience is the first configured one.
    let (token, _) = app.access_token(&[]).await;
    assert!(verify_with(&app.jwks().await, &token, "https://api.two").is_err());
}

#[tokio::test]
async fn audience_is_an_alias_of_resource() {
    let app = InProcess::spawn().await;
    let (token, _) = app.access_token(&[("audience", "https://api.two")]).await;
    app.verify(&token, "https://api.two").await;
}

#[tokio::test]
async fn several_resources_make_an_audience_array_rfc8707_2() {
    let app = InProcess::spawn().await;
    let (token, _) =
        app.access_token(&[("resource", "https://api.one"), ("resource", "https://api.two")]).await;
    let c = app.verify(&token, "https://api.two").await;
    assert_eq!(
        c.aud,
        tokenmint::claims::Audience::Many(vec!["https://api.one".into(), "https://api.two".into()])
    );
}

#[tokio::test]
async fn lifetime_is_capped_at_max_ttl() {
    let app = InProcess::spawn().await;
    let res = app.token_basic("long-lived", SECRET_A, &[CC]).await;
    let body = res.json();
    assert_eq!(body["expires_in"], 3600, "client ttl 3h capped at max_ttl 1h");
    let c = app.verify(body["access_token"].as_str().unwrap(), "https://api.one").await;
    assert_eq!(c.exp - c.iat, 3600);
}

#[tokio::test]
async fn the_client_ttl_overrides_the_default() {
    let app = InProcess::spawn().await;
    let body = app.token_basic("short-lived", SECRET_A, &[CC]).await.json();
    assert_eq!(body["expires_in"], 90);
}

#[tokio::test]
async fn a_request_may_shorten_the_lifetime_but_never_lengthen_it() {
    let app = InProcess::spawn().await;
    let (token, body) = app.access_token(&[("expires_in", "60")]).await;
    assert_eq!(body["expires_in"], 60);
    let c = app.verify(&token, "https://api.one").await;
    assert_eq!(c.exp - c.iat, 60);
    let (_, body) = app.access_token(&[("expires_in", "99999")]).await;
    assert_eq!(body["expires_in"], 300);
    // WSO2's name for the same parameter.
    let (_, body) = app.access_token(&[("validity_period", "120")]).await;
    assert_eq!(body["expires_in"], 120);
}

#[tokio::test]
async fn the_service_default_ttl_applies() {
    let app = InProcess::spawn_with("[tokens]\nttl = \"2m\"\nmax_ttl = \"10m\"").await;
    let (_, body) = app.access_token(&[]).await;
    assert_eq!(body["expires_in"], 120);
}

#[tokio::test]
async fn time_comes_from_the_injected_clock() {
    let at = fixed_instant();
    let app = InProcess::spawn_at(at).await;
    let (token, _) = app.access_token(&[]).await;
    let c: tokenmint::claims::AccessClaims = jsonwebtoken::dangerous::insecure_decode(&token).unwrap().claims;
    assert_eq!(c.iat, 1_900_000_000);
    assert_eq!(c.exp, 1_900_000_300);
}

#[tokio::test]
async fn eddsa_and_rs256_tokens_verify_from_the_jwks() {
    for (alg, expected) in
        [("EdDSA", jsonwebtoken::Algorithm::EdDSA), ("RS256", jsonwebtoken::Algorithm::RS256)]
    {
        let app = InProcess::spawn_with(&format!("[tokens]\nalgorithm = \"{alg}\"")).await;
        let (token, _) = app.access_token(&[]).await;
        assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, expected);
        assert_eq!(app.verify(&token, "https://api.one").await.sub, "svc-a");
    }
}
