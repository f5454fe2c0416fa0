//! The introspection endpoint (RFC 7662) in-process: who may call it, its place in
//! discovery, tokens of clients that are gone, and a well-formed answer whatever a token
//! claims. Introspection of genuine and forged tokens, next to the verifier, is in
//! `verify_lib`.

use serde_json::Value;

use crate::forge::{at_header, key_in, sign, valid_claims};
use crate::helpers::*;

/// `token` introspected at `app` by `as_client`; panics unless 200.
async fn introspect_at(app: &InProcess, as_client: &str, token: &str) -> Value {
    let res = app.post_form("/oauth2/introspect", Some((as_client, SECRET_A)), &[("token", token)]).await;
    assert_eq!(res.status, 200);
    res.json()
}

/// The member names of a JSON object in order, repeats included (a map would fold them).
fn member_names(json: &[u8]) -> Vec<String> {
    struct Names(Vec<String>);
    impl<'de> serde::Deserialize<'de> for Names {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct Visitor;
            impl<'de> serde::de::Visitor<'de> for Visitor {
                type Value = Names;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Names, A::Error> {
                    let mut names = Vec::new();
                    while let Some((name, _)) = map.next_entry::<String, serde::de::IgnoredAny>()? {
                        names.push(name);
                    }
                    Ok(Names(names))
                }
            }
            d.deserialize_map(Visitor)
        }
    }
    serde_json::from_slice::<Names>(json).unwrap().0
}

#[tokio::test]
async fn introspection_needs_client_authentication_and_a_token_rfc7662_2_1() {
    let app = InProcess::spawn().await;
    let (token, _) = app.access_token(&[]).await;
    let res = app.post_form("/oauth2/introspect", None, &[("token", token.as_str())]).await;
    assert_oauth_reply(&res, 401, "invalid_client");
    let res =
        app.post_form("/oauth2/introspect", Some(("svc-a", "wrong")), &[("token", token.as_str())]).await;
    assert_oauth_reply(&res, 401, "invalid_client");
    let res = app.post_form("/oauth2/introspect", Some(("svc-a", SECRET_A)), &[("x", "y")]).await;
    assert_oauth_reply(&res, 400, "invalid_request");
}

#[tokio::test]
async fn introspection_is_in_discovery_rfc8414_2() {
    let app = InProcess::spawn().await;
    let m = app.get("/.well-known/oauth-authorization-server").await.json();
    assert_eq!(m["introspection_endpoint"], format!("{ISSUER}/oauth2/introspect"));
}

#[tokio::test]
async fn tokens_of_a_disabled_or_removed_client_become_inactive() {
    let app = InProcess::spawn().await;
    let (token, _) = app.access_token(&[]).await;
    // A replica on the same keys whose configuration disabled svc-a...
    let disabled = CLIENTS.replacen(
        "claims = { tenant = \"acme\", tier = 3 }",
        "claims = { tenant = \"acme\", tier = 3 }\nenabled = false",
        1,
    );
    let replica = app.sharing_keys(&disabled).await;
    let body = introspect_at(&replica, "rotating", &token).await;
    assert_eq!(body, serde_json::json!({"active": false}));
    // ...and one where svc-a is gone.
    let removed = CLIENTS.replacen("id = \"svc-a\"", "id = \"svc-renamed\"", 1);
    let replica = app.sharing_keys(&removed).await;
    let body = introspect_at(&replica, "rotating", &token).await;
    assert_eq!(body, serde_json::json!({"active": false}));
}

#[tokio::test]
async fn introspection_never_repeats_a_member_even_for_a_token_that_claims_one_rfc7662_2_2() {
    let app = InProcess::spawn().await;
    // Configuration refuses `active` and `token_type` as claims now; a token signed before
    // that rule may still carry them.
    let (key, kid) = key_in(app.keys_dir.path());
    let mut claims = valid_claims(ISSUER);
    claims["active"] = Value::from(false);
    claims["token_type"] = Value::from("mac");
    claims["tenant"] = Value::from("acme");
    let token = sign(&at_header(&kid), &claims, &key);
    let res =
        app.post_form("/oauth2/introspect", Some(("svc-a", SECRET_A)), &[("token", token.as_str())]).await;
    assert_eq!(res.status, 200);
    let raw = res.body;
    let names = member_names(&raw);
    let mut unique = names.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), names.len(), "a member repeats: {}", String::from_utf8_lossy(&raw));
    let body: Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(body["active"], true);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["tenant"], "acme");
}

#[tokio::test]
async fn only_a_token_the_configuration_could_issue_now_is_active_rfc7662_2_2() {
    let app = InProcess::spawn().await;
    // Signed with the service's own key: only the claims decide.
    let (key, kid) = key_in(app.keys_dir.path());
    let active = |claims: Value| {
        let token = sign(&at_header(&kid), &claims, &key);
        let app = &app;
        async move { introspect_at(app, "svc-a", &token).await["active"].as_bool().unwrap() }
    };
    assert!(active(valid_claims(ISSUER)).await, "the well-formed token");
    let now = unix_now();
    let mut cases: Vec<(&str, Value)> = Vec::new();
    let mut ten_years = valid_claims(ISSUER);
    ten_years["exp"] = Value::from(now + 10 * 365 * 86_400);
    cases.push(("a lifetime far over tokens.max_ttl (1 h)", ten_years));
    let mut foreign = valid_claims(ISSUER);
    foreign["aud"] = Value::from("https://never.granted");
    cases.push(("an audience the client never had", foreign));
    let mut one_foreign = valid_claims(ISSUER);
    one_foreign["aud"] = serde_json::json!(["https://api.one", "https://never.granted"]);
    cases.push(("one audience of two the client never had", one_foreign));
    let mut scope = valid_claims(ISSUER);
    scope["scope"] = Value::from("read superuser");
    cases.push(("a scope the client does not have", scope));
    let mut future = valid_claims(ISSUER);
    future["iat"] = Value::from(now + 600);
    future["nbf"] = Value::from(now + 600);
    future["exp"] = Value::from(now + 900);
    cases.push(("issued ten minutes in the future", future));
    for (case, claims) in cases {
        assert!(!active(claims).await, "{case} introspected as active");
    }
    // Within the leeway (30 s), as a resource server accepts it: a replica whose clock lags
    // by a second still calls a fresh token active.
    let mut just_ahead = valid_claims(ISSUER);
    just_ahead["iat"] = Value::from(now + 2);
    just_ahead["nbf"] = Value::from(now + 2);
    assert!(active(just_ahead).await, "a token issued 2 s ahead of this replica's clock");
}
