//! The resource owner password grant (RFC 6749 §4.3), refresh tokens (§6) and ID tokens
//! (OpenID Connect Core §2), through the real server.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokenmint::verify::{ErrorKind, Jwks, Requirements, Verifier};

use crate::helpers::*;

/// Users and first-party clients for these tests, on top of the shared clients.
pub(crate) const USERS: &str = r#"
[[clients]]
id = "app"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
grant_types = ["password", "refresh_token"]
scopes = ["read", "write", "profile", "openid"]
default_scopes = ["read"]
audiences = ["https://api.one"]
claims = { tier = "first-party" }

[[clients]]
id = "app-no-refresh"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
grant_types = ["password"]
scopes = ["read"]
audiences = ["https://api.one"]

[[users]]
username = "alice"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$gr55kYAwgwsBnQH58YKNKw$5fjCaYqJiSh45KiuCjAr/Ja1nFM40pe78lQECvRC3uQ"
scopes = ["read", "profile"]
claims = { email = "alice@example.com", tier = "gold" }

[[users]]
username = "bob"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$swna0PT2Ol9kF0ugUGPWow$W2FZOQiG1OyhJ4o2sNQL4CA5y/DAIC0sCT77FWfMEXk"
scopes = ["read"]
enabled = false
"#;

pub(crate) async fn spawn() -> TestApp {
    TestApp::spawn_config(&format!("{CLIENTS}{USERS}"), std::sync::Arc::new(tokenmint::clock::SystemClock))
        .await
}

async fn login(
    app: &TestApp,
    client: &str,
    user: &str,
    password: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![("grant_type", "password"), ("username", user), ("password", password)];
    form.extend_from_slice(extra);
    app.token_basic(client, SECRET_A, &form).await
}

async fn refresh(app: &TestApp, refresh_token: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
    form.extend_from_slice(extra);
    app.token_basic("app", SECRET_A, &form).await
}

async fn ok_json(res: reqwest::Response) -> Value {
    assert_eq!(res.status(), 200);
    res.json().await.unwrap()
}

#[tokio::test]
async fn the_password_grant_issues_a_user_token_and_a_refresh_token_rfc6749_4_3() {
    let app = spawn().await;
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[]).await).await;
    assert_eq!(body["scope"], "read");
    assert!(body["refresh_token"].is_string());
    assert!(body.get("id_token").is_none(), "no openid, no ID token");
    let claims = app.verify(body["access_token"].as_str().unwrap(), "https://api.one").await;
    assert_eq!(claims.sub, "alice", "RFC 9068 §2.2: sub is the user");
    assert_eq!(claims.client_id, "app");
    assert_eq!(claims.extra["email"], "alice@example.com");
    assert_eq!(claims.extra["tier"], "gold", "the user's claims win over the client's");
}

#[tokio::test]
async fn granted_scopes_are_requested_and_client_and_user_allowed() {
    let app = spawn().await;
    // `write` is the client's but not alice's: it is not granted.
    let body =
        ok_json(login(&app, "app", "alice", "wonderland", &[("scope", "read write profile")]).await).await;
    assert_eq!(body["scope"], "read profile");
    let res = login(&app, "app", "alice", "wonderland", &[("scope", "write")]).await;
    assert_oauth_error(res, 400, "invalid_scope").await;
}

#[tokio::test]
async fn no_refresh_token_for_a_client_without_the_refresh_grant() {
    let app = spawn().await;
    let body = ok_json(login(&app, "app-no-refresh", "alice", "wonderland", &[]).await).await;
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn the_grant_is_refused_for_a_client_without_it_rfc6749_5_2() {
    let app = spawn().await;
    let res = login(&app, "svc-a", "alice", "wonderland", &[]).await;
    assert_oauth_error(res, 400, "unauthorized_client").await;
}

#[tokio::test]
async fn a_refresh_gives_fresh_tokens_rfc6749_6() {
    let app = spawn().await;
    let first = ok_json(login(&app, "app", "alice", "wonderland", &[("scope", "read profile")]).await).await;
    let rt = first["refresh_token"].as_str().unwrap();
    let second = ok_json(refresh(&app, rt, &[]).await).await;
    assert_eq!(second["scope"], "read profile");
    assert_ne!(second["refresh_token"], first["refresh_token"], "refresh tokens rotate");
    let a = app.verify(first["access_token"].as_str().unwrap(), "https://api.one").await;
    let b = app.verify(second["access_token"].as_str().unwrap(), "https://api.one").await;
    assert_eq!(b.sub, "alice");
    assert_ne!(a.jti, b.jti);
    // The rotated refresh token works too.
    ok_json(refresh(&app, second["refresh_token"].as_str().unwrap(), &[]).await).await;
}

#[tokio::test]
async fn a_refresh_may_narrow_the_scope_but_never_widen_it_rfc6749_6() {
    let app = spawn().await;
    let first = ok_json(login(&app, "app", "alice", "wonderland", &[("scope", "read profile")]).await).await;
    let rt = first["refresh_token"].as_str().unwrap();
    let narrowed = ok_json(refresh(&app, rt, &[("scope", "read")]).await).await;
    assert_eq!(narrowed["scope"], "read");
    let res = refresh(&app, rt, &[("scope", "read write")]).await;
    assert_oauth_error(res, 400, "invalid_scope").await;
    // The narrowed refresh token carries only the narrowed scope.
    let res = refresh(&app, narrowed["refresh_token"].as_str().unwrap(), &[("scope", "profile")]).await;
    assert_oauth_error(res, 400, "invalid_scope").await;
}

#[tokio::test]
async fn disabling_the_user_revokes_their_refresh_tokens_at_once() {
    let app = spawn().await;
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[]).await).await;
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    // A replica on the same keys whose configuration disables alice.
    let disabled = USERS.replacen(
        "scopes = [\"read\", \"profile\"]",
        "scopes = [\"read\", \"profile\"]\nenabled = false",
        1,
    );
    let (addr, _stop) = app.spawn_sharing_keys(&format!("{CLIENTS}{disabled}")).await;
    let res = send(
        app.http
            .post(format!("http://{addr}/oauth2/token"))
            .basic_auth("app", Some(SECRET_A))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", rt.as_str())]),
    )
    .await;
    assert_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_refresh_token_is_bound_to_its_client() {
    // A second first-party client with the same rights as `app`.
    let app2 = r#"
[[clients]]
id = "app2"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
grant_types = ["password", "refresh_token"]
scopes = ["read"]
audiences = ["https://api.one"]
"#;
    let app = TestApp::spawn_config(
        &format!("{CLIENTS}{USERS}{app2}"),
        std::sync::Arc::new(tokenmint::clock::SystemClock),
    )
    .await;
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[]).await).await;
    let form = [("grant_type", "refresh_token"), ("refresh_token", body["refresh_token"].as_str().unwrap())];
    let res = app.token_basic("app2", SECRET_A, &form).await;
    assert_oauth_error(res, 400, "invalid_grant").await;
}

#[tokio::test]
async fn a_refresh_token_is_never_an_access_token_and_vice_versa_rfc8725_3_11() {
    let app = spawn().await;
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[]).await).await;
    let (access, rt) = (body["access_token"].as_str().unwrap(), body["refresh_token"].as_str().unwrap());
    // A refresh token presented as an access token...
    let requirements = Requirements {
        issuer: ISSUER.into(),
        audience: "https://api.one".into(),
        algorithms: vec![Algorithm::ES256],
        leeway: Duration::from_secs(30),
    };
    let verifier = Verifier::new(requirements, Jwks::from_set(&app.jwks().await)).unwrap();
    assert_eq!(verifier.verify(rt).await.unwrap_err().kind(), ErrorKind::WrongType);
    let res = send(
        app.http
            .post(app.url("/oauth2/introspect"))
            .basic_auth("svc-a", Some(SECRET_A))
            .form(&[("token", rt)]),
    )
    .await;
    assert_eq!(res.json::<Value>().await.unwrap(), serde_json::json!({"active": false}));
    // ...and an access token presented as a refresh token.
    assert_oauth_error(refresh(&app, access, &[]).await, 400, "invalid_grant").await;
    assert_oauth_error(refresh(&app, "garbage", &[]).await, 400, "invalid_grant").await;
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_user_look_the_same() {
    // Wall-clock times are noisy when other tests share the CPU, so a timing that looks off
    // is measured again on a fresh server (a fresh throttle), up to three times. A failure
    // answered without an argon2 check is tens of times faster, and fails all three.
    let mut timings = Vec::new();
    for _ in 0..3 {
        let app = spawn().await;
        // Warm up (first argon2 run, connection set-up) with a success.
        ok_json(login(&app, "app", "alice", "wonderland", &[]).await).await;
        let mut answers = Vec::new();
        for (user, password) in [("alice", "wrong"), ("nobody", "wonderland"), ("bob", "builder")] {
            let started = Instant::now();
            let res = login(&app, "app", user, password, &[]).await;
            let took = started.elapsed();
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap();
            answers.push((status, body, took));
        }
        for (status, body, _) in &answers {
            assert_eq!(*status, 400);
            assert_eq!(body, &answers[0].1, "the three failures must be indistinguishable");
        }
        assert_eq!(answers[0].1["error"], "invalid_grant");
        // Each failure costs one argon2 verification: none is answered much faster.
        let took: Vec<Duration> = answers.iter().map(|a| a.2).collect();
        let slowest = took.iter().max().copied().unwrap_or_default();
        if took.iter().all(|t| *t * 4 >= slowest) {
            return;
        }
        timings.push(took);
    }
    panic!("timings differ too much in every attempt: {timings:?}");
}

#[tokio::test]
async fn repeated_failures_back_off_with_429_and_retry_after() {
    let app = spawn().await;
    for _ in 0..5 {
        let res = login(&app, "app", "alice", "guess", &[]).await;
        assert_oauth_error(res, 400, "invalid_grant").await;
    }
    // Even the right password waits now.
    let res = login(&app, "app", "alice", "wonderland", &[]).await;
    assert!(res.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let body = assert_oauth_error(res, 429, "invalid_grant").await;
    assert!(body["error_description"].as_str().unwrap().contains("too many failed attempts"));
}

/// RFC 6749 §4.3.2: the server MUST protect the endpoint against brute force (RFC 9700
/// deprecates the grant for the same exposure). Attempts are counted when they start, so
/// guesses sent all at once get no more password checks than guesses sent one by one.
#[tokio::test]
async fn concurrent_guesses_get_no_more_checks_than_the_free_attempts_rfc6749_4_3_2() {
    let app = spawn().await;
    let form = [("grant_type", "password"), ("username", "alice"), ("password", "guess")];
    let answers =
        send_all_at_once(40, || app.token_req().basic_auth("app", Some(SECRET_A)).form(&form)).await;
    // A real check answers 400; the documented budget is 5 failures before the backoff.
    assert_backed_off(&answers, 400, "invalid_grant");
    // The guesser is now backing off: even the right password waits.
    let res = login(&app, "app", "alice", "wonderland", &[]).await;
    assert_oauth_error(res, 429, "invalid_grant").await;
}

/// A failed login for `user` as if sent through a proxy that wrote `forwarded_for` (text, or
/// raw header bytes).
async fn failed_login_via(app: &TestApp, user: &str, forwarded_for: impl AsRef<[u8]>) -> u16 {
    let form = [("grant_type", "password"), ("username", user), ("password", "guess")];
    let xff = reqwest::header::HeaderValue::from_bytes(forwarded_for.as_ref()).unwrap();
    let req = app.token_req().basic_auth("app", Some(SECRET_A)).header("x-forwarded-for", xff);
    send(req.form(&form)).await.status().as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_address_limit_counts_the_forwarded_client() {
    // The test client connects from 127.0.0.1, playing the proxy.
    let toml = format!("[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n{CLIENTS}{USERS}");
    let app = TestApp::spawn_config(&toml, std::sync::Arc::new(tokenmint::clock::SystemClock)).await;
    // Five failures from 203.0.113.5, each for another user (so only the address counts),
    // some with a spoofed entry on the left and a second trusted hop on the right.
    for (i, xff) in
        ["203.0.113.5", "198.51.100.1, 203.0.113.5", "203.0.113.5, 10.1.1.1", "203.0.113.5", "203.0.113.5"]
            .iter()
            .enumerate()
    {
        assert_eq!(failed_login_via(&app, &format!("nobody-{i}"), xff).await, 400, "{xff}");
    }
    // That client now backs off, whatever it writes on the left ...
    assert_eq!(failed_login_via(&app, "nobody-5", "192.0.2.77, 203.0.113.5").await, 429);
    // ... and every other client behind the same proxy is unaffected.
    assert_eq!(failed_login_via(&app, "nobody-6", "203.0.113.6").await, 400);
    let res = login(&app, "app", "alice", "wonderland", &[]).await;
    assert_eq!(res.status(), 200, "a user behind the proxy can still log in");
}

#[tokio::test]
async fn a_non_ascii_x_forwarded_for_element_does_not_hide_the_forwarded_client() {
    let toml = format!("[server]\ntrusted_proxies = [\"127.0.0.1\"]\n{CLIENTS}{USERS}");
    let app = TestApp::spawn_config(&toml, std::sync::Arc::new(tokenmint::clock::SystemClock)).await;
    // The client wrote junk (not ASCII) on the left; the proxy appended its real address.
    for i in 0..5 {
        assert_eq!(
            failed_login_via(&app, &format!("nobody-{i}"), b"\xff\xfe caf\xc3\xa9, 203.0.113.5").await,
            400
        );
    }
    // The failures were charged to 203.0.113.5 ...
    assert_eq!(failed_login_via(&app, "nobody-5", "203.0.113.5").await, 429);
    // ... not to the proxy, whose own requests are still checked.
    let form = [("grant_type", "password"), ("username", "nobody-6"), ("password", "guess")];
    let res = send(app.token_req().basic_auth("app", Some(SECRET_A)).form(&form)).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let app = spawn().await;
    // A client rotating made-up X-Forwarded-For values is still one address.
    for i in 0..5 {
        assert_eq!(failed_login_via(&app, &format!("nobody-{i}"), &format!("203.0.113.{i}")).await, 400);
    }
    assert_eq!(failed_login_via(&app, "nobody-5", "203.0.113.99").await, 429);
}

#[tokio::test]
async fn openid_adds_an_id_token_for_the_client_oidc_core_2() {
    let app = spawn().await;
    let before = unix_now();
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[("scope", "openid read")]).await).await;
    let id_token = body["id_token"].as_str().expect("an ID token");
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let jwks = app.jwks().await;
    let key = DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
    let mut v = Validation::new(Algorithm::ES256);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&["app"]);
    v.set_required_spec_claims(&["iss", "sub", "aud", "exp", "iat"]);
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &v).unwrap().claims;
    assert_eq!(claims["sub"], "alice");
    assert!(claims["auth_time"].as_u64().unwrap() >= before);
    assert_eq!(claims["email"], "alice@example.com");
    // A refresh keeps the original auth_time.
    let again = ok_json(refresh(&app, body["refresh_token"].as_str().unwrap(), &[]).await).await;
    let refreshed =
        jsonwebtoken::decode::<Value>(again["id_token"].as_str().unwrap(), &key, &v).unwrap().claims;
    assert_eq!(refreshed["auth_time"], claims["auth_time"]);
}

#[tokio::test]
async fn discovery_lists_the_user_grants() {
    let app = spawn().await;
    let m: Value = get_json(&app.http, &app.url("/.well-known/openid-configuration")).await;
    let grants: Vec<&str> =
        m["grant_types_supported"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(grants, ["client_credentials", "password", "refresh_token"]);
    assert!(m["scopes_supported"].as_array().unwrap().iter().any(|s| s == "openid"));
}

/// Introspects `token` at the server at `addr` as `svc-a`.
async fn introspect_at(app: &TestApp, addr: std::net::SocketAddr, token: &str) -> Value {
    let req = app.http.post(format!("http://{addr}/oauth2/introspect")).basic_auth("svc-a", Some(SECRET_A));
    ok_json(send(req.form(&[("token", token)])).await).await
}

#[tokio::test]
async fn a_user_token_turns_inactive_once_the_user_is_disabled_or_removed_rfc7662_2_2() {
    let app = spawn().await;
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[]).await).await;
    let user_token = body["access_token"].as_str().unwrap().to_owned();
    let (client_token, _) = app.access_token(&[]).await;
    let active = introspect_at(&app, app.addr, &user_token).await;
    assert_eq!(active["active"], true);
    assert_eq!(active["sub"], "alice");
    assert_eq!(active["client_id"], "app");
    // Replicas on the same keys: one where alice is disabled, one where she is gone.
    let disabled = USERS.replacen(
        "scopes = [\"read\", \"profile\"]",
        "scopes = [\"read\", \"profile\"]\nenabled = false",
        1,
    );
    let removed = USERS.replacen("username = \"alice\"", "username = \"alicia\"", 1);
    for users in [disabled, removed] {
        let (addr, _stop) = app.spawn_sharing_keys(&format!("{CLIENTS}{users}")).await;
        assert_eq!(introspect_at(&app, addr, &user_token).await, serde_json::json!({"active": false}));
        // A client's own token (`sub` = `client_id`) does not depend on any user.
        assert_eq!(introspect_at(&app, addr, &client_token).await["active"], true);
    }
}
