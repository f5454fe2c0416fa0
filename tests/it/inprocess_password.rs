//! The resource owner password grant (RFC 6749 §4.3), refresh tokens (§6) and ID tokens
//! (OpenID Connect Core §2), in-process. The brute-force throttle counts in-process
//! requests by user name only; throttling by address is in `password`, over a socket.

use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;
use tokenmint::verify::{ErrorKind, Jwks, Requirements, Verifier};

use crate::helpers::*;
use crate::password::USERS;

async fn spawn() -> InProcess {
    InProcess::spawn_config(&format!("{CLIENTS}{USERS}"), std::sync::Arc::new(tokenmint::clock::SystemClock))
        .await
}

async fn login(app: &InProcess, client: &str, user: &str, password: &str, extra: &[(&str, &str)]) -> Reply {
    let mut form = vec![("grant_type", "password"), ("username", user), ("password", password)];
    form.extend_from_slice(extra);
    app.token_basic(client, SECRET_A, &form).await
}

async fn refresh(app: &InProcess, refresh_token: &str, extra: &[(&str, &str)]) -> Reply {
    let mut form = vec![("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
    form.extend_from_slice(extra);
    app.token_basic("app", SECRET_A, &form).await
}

fn ok_json(res: Reply) -> Value {
    assert_eq!(res.status, 200, "{}", String::from_utf8_lossy(&res.body));
    res.json()
}

#[tokio::test]
async fn the_password_grant_issues_a_user_token_and_a_refresh_token_rfc6749_4_3() {
    let app = spawn().await;
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[]).await);
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
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[("scope", "read write profile")]).await);
    assert_eq!(body["scope"], "read profile");
    let res = login(&app, "app", "alice", "wonderland", &[("scope", "write")]).await;
    assert_oauth_reply(&res, 400, "invalid_scope");
}

#[tokio::test]
async fn no_refresh_token_for_a_client_without_the_refresh_grant() {
    let app = spawn().await;
    let body = ok_json(login(&app, "app-no-refresh", "alice", "wonderland", &[]).await);
    assert!(body.get("refresh_token").is_none());
}

#[tokio::test]
async fn the_grant_is_refused_for_a_client_without_it_rfc6749_5_2() {
    let app = spawn().await;
    let res = login(&app, "svc-a", "alice", "wonderland", &[]).await;
    assert_oauth_reply(&res, 400, "unauthorized_client");
}

#[tokio::test]
async fn a_refresh_gives_fresh_tokens_rfc6749_6() {
    let app = spawn().await;
    let first = ok_json(login(&app, "app", "alice", "wonderland", &[("scope", "read profile")]).await);
    let rt = first["refresh_token"].as_str().unwrap();
    let second = ok_json(refresh(&app, rt, &[]).await);
    assert_eq!(second["scope"], "read profile");
    assert_ne!(second["refresh_token"], first["refresh_token"], "refresh tokens rotate");
    let a = app.verify(first["access_token"].as_str().unwrap(), "https://api.one").await;
    let b = app.verify(second["access_token"].as_str().unwrap(), "https://api.one").await;
    assert_eq!(b.sub, "alice");
    assert_ne!(a.jti, b.jti);
    // The rotated refresh token works too.
    ok_json(refresh(&app, second["refresh_token"].as_str().unwrap(), &[]).await);
}

#[tokio::test]
async fn a_refresh_may_narrow_the_access_token_but_the_refresh_token_keeps_its_scope_rfc6749_6() {
    let app = spawn().await;
    let first = ok_json(login(&app, "app", "alice", "wonderland", &[("scope", "read profile")]).await);
    let rt = first["refresh_token"].as_str().unwrap();
    let narrowed = ok_json(refresh(&app, rt, &[("scope", "read")]).await);
    assert_eq!(narrowed["scope"], "read");
    let res = refresh(&app, rt, &[("scope", "read write")]).await;
    assert_oauth_reply(&res, 400, "invalid_scope");
    // The new refresh token keeps the original scope (RFC 6749 §6: "identical"): the scope
    // dropped from the access token can be had again.
    let again =
        ok_json(refresh(&app, narrowed["refresh_token"].as_str().unwrap(), &[("scope", "profile")]).await);
    assert_eq!(again["scope"], "profile");
    let whole = ok_json(refresh(&app, again["refresh_token"].as_str().unwrap(), &[]).await);
    assert_eq!(whole["scope"], "read profile");
    // And still never more than the original.
    let res = refresh(&app, whole["refresh_token"].as_str().unwrap(), &[("scope", "read write")]).await;
    assert_oauth_reply(&res, 400, "invalid_scope");
}

#[tokio::test]
async fn disabling_the_user_revokes_their_refresh_tokens_at_once() {
    let app = spawn().await;
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[]).await);
    let rt = body["refresh_token"].as_str().unwrap().to_owned();
    // A replica on the same keys whose configuration disables alice.
    let disabled = USERS.replacen(
        "scopes = [\"read\", \"profile\"]",
        "scopes = [\"read\", \"profile\"]\nenabled = false",
        1,
    );
    let replica = app.sharing_keys(&format!("{CLIENTS}{disabled}")).await;
    let res = replica
        .token_basic("app", SECRET_A, &[("grant_type", "refresh_token"), ("refresh_token", &rt)])
        .await;
    assert_oauth_reply(&res, 400, "invalid_grant");
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
    let app = InProcess::spawn_config(
        &format!("{CLIENTS}{USERS}{app2}"),
        std::sync::Arc::new(tokenmint::clock::SystemClock),
    )
    .await;
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[]).await);
    let form = [("grant_type", "refresh_token"), ("refresh_token", body["refresh_token"].as_str().unwrap())];
    let res = app.token_basic("app2", SECRET_A, &form).await;
    assert_oauth_reply(&res, 400, "invalid_grant");
}

#[tokio::test]
async fn a_refresh_token_is_never_an_access_token_and_vice_versa_rfc8725_3_11() {
    let app = spawn().await;
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[]).await);
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
    let res = app.post_form("/oauth2/introspect", Some(("svc-a", SECRET_A)), &[("token", rt)]).await;
    assert_eq!(res.json(), serde_json::json!({"active": false}));
    // ...and an access token presented as a refresh token.
    assert_oauth_reply(&refresh(&app, access, &[]).await, 400, "invalid_grant");
    assert_oauth_reply(&refresh(&app, "garbage", &[]).await, 400, "invalid_grant");
}

#[tokio::test]
async fn wrong_password_unknown_user_and_disabled_user_look_the_same() {
    // Wall-clock times are noisy when other tests share the CPU, so a timing that looks off
    // is measured again on a fresh application (a fresh throttle), up to three times. A
    // failure answered without an argon2 check is tens of times faster, and fails all three.
    let mut timings = Vec::new();
    for _ in 0..3 {
        let app = spawn().await;
        // Warm up (first argon2 run) with a success.
        ok_json(login(&app, "app", "alice", "wonderland", &[]).await);
        let mut answers = Vec::new();
        for (user, password) in [("alice", "wrong"), ("nobody", "wonderland"), ("bob", "builder")] {
            let started = Instant::now();
            let res = login(&app, "app", user, password, &[]).await;
            let took = started.elapsed();
            answers.push((res.status.as_u16(), res.json(), took));
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
        assert_oauth_reply(&res, 400, "invalid_grant");
    }
    // Even the right password waits now.
    let res = login(&app, "app", "alice", "wonderland", &[]).await;
    assert!(res.header("retry-after").parse::<u64>().unwrap() >= 1);
    let body = assert_oauth_reply(&res, 429, "invalid_grant");
    assert!(body["error_description"].as_str().unwrap().contains("too many failed attempts"));
}

/// RFC 6749 §4.3.2: the server MUST protect the endpoint against brute force (RFC 9700
/// deprecates the grant for the same exposure). Attempts are counted when they start, so
/// guesses sent all at once get no more password checks than guesses sent one by one.
#[tokio::test]
async fn concurrent_guesses_get_no_more_checks_than_the_free_attempts_rfc6749_4_3_2() {
    let app = spawn().await;
    let answers = logins_at_once(&app, 40, "guess").await;
    // A real check answers 400; the documented budget is 5 failures before the backoff.
    assert_backed_off(&answers, 400, "invalid_grant");
    // The guesser is now backing off: even the right password waits.
    let res = login(&app, "app", "alice", "wonderland", &[]).await;
    assert_oauth_reply(&res, 429, "invalid_grant");
}

#[tokio::test]
async fn openid_adds_an_id_token_for_the_client_oidc_core_2() {
    let app = spawn().await;
    let before = unix_now();
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[("scope", "openid read")]).await);
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
    let again = ok_json(refresh(&app, body["refresh_token"].as_str().unwrap(), &[]).await);
    let refreshed =
        jsonwebtoken::decode::<Value>(again["id_token"].as_str().unwrap(), &key, &v).unwrap().claims;
    assert_eq!(refreshed["auth_time"], claims["auth_time"]);
}

#[tokio::test]
async fn discovery_lists_the_user_grants() {
    let app = spawn().await;
    let m = app.get("/.well-known/openid-configuration").await.json();
    let grants: Vec<&str> =
        m["grant_types_supported"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(grants, ["client_credentials", "password", "refresh_token"]);
    assert!(m["scopes_supported"].as_array().unwrap().iter().any(|s| s == "openid"));
}

/// Introspects `token` at `app` as `svc-a`.
async fn introspect_at(app: &InProcess, token: &str) -> Value {
    ok_json(app.post_form("/oauth2/introspect", Some(("svc-a", SECRET_A)), &[("token", token)]).await)
}

#[tokio::test]
async fn a_user_token_turns_inactive_once_the_user_is_disabled_or_removed_rfc7662_2_2() {
    let app = spawn().await;
    let body = ok_json(login(&app, "app", "alice", "wonderland", &[]).await);
    let user_token = body["access_token"].as_str().unwrap().to_owned();
    let (client_token, _) = app.access_token(&[]).await;
    let active = introspect_at(&app, &user_token).await;
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
        let replica = app.sharing_keys(&format!("{CLIENTS}{users}")).await;
        assert_eq!(introspect_at(&replica, &user_token).await, serde_json::json!({"active": false}));
        // A client's own token (`sub` = `client_id`) does not depend on any user.
        assert_eq!(introspect_at(&replica, &client_token).await["active"], true);
    }
}

/// `n` password logins as `alice` with `password` by the client `app`, sent all at once.
async fn logins_at_once(app: &InProcess, n: usize, password: &str) -> Vec<Answer> {
    let form = [("grant_type", "password"), ("username", "alice"), ("password", password)];
    app.all_at_once(n, || {
        InProcess::token_req()
            .header("authorization", basic_header("app", SECRET_A))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form_body(&form).into())
            .unwrap()
    })
    .await
}

/// RFC 6749 §4.3.2: the throttle counts failures, not concurrency. The right password sent
/// many times at once waits for the checks already running and is never refused.
#[tokio::test]
async fn the_right_password_many_times_at_once_always_succeeds_rfc6749_4_3_2() {
    let app = spawn().await;
    let answers = logins_at_once(&app, 24, "wonderland").await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
}
