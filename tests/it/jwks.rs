//! The JWK Set (RFC 7517): public members only, caching headers, ETag and 304, and keys
//! that persist across restarts.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn the_jwks_publishes_public_members_only_rfc7517_4() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
    let body: Value = res.json().await.unwrap();
    let keys = body["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let k = keys[0].as_object().unwrap();
    assert_eq!(k["kty"], "EC");
    assert_eq!(k["crv"], "P-256");
    assert_eq!(k["use"], "sig");
    assert_eq!(k["alg"], "ES256");
    assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()));
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(!k.contains_key(private), "private member {private} published");
    }
    let allowed = ["kty", "crv", "x", "y", "use", "alg", "kid"];
    assert!(k.keys().all(|m| allowed.contains(&m.as_str())), "{k:?}");
}

#[tokio::test]
async fn rsa_jwks_members_are_public_only_rfc7518_6_3() {
    let app = TestApp::spawn_with("[tokens]\nalgorithm = \"RS256\"").await;
    let body: Value =
        app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let k = body["keys"][0].as_object().unwrap();
    assert_eq!(k["kty"], "RSA");
    assert!(k.contains_key("n") && k.contains_key("e"));
    assert!(!k.contains_key("d") && !k.contains_key("p"));
}

#[tokio::test]
async fn the_kid_is_the_rfc7638_thumbprint_and_matches_token_headers() {
    let app = TestApp::spawn().await;
    let jwks = app.jwks().await;
    let jwk = &jwks.keys[0];
    let thumb = jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap();
    assert_eq!(jwk.common.key_id.as_deref(), Some(thumb.as_str()));
    let (token, _) = app.access_token(&[]).await;
    assert_eq!(jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(), Some(thumb.as_str()));
}

#[tokio::test]
async fn the_jwks_is_cacheable_with_the_configured_max_age() {
    let app = TestApp::spawn().await;
    let res = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(res.headers()["cache-control"], "public, max-age=300");
    let app = TestApp::spawn_with("[keys]\njwks_max_age = \"45s\"").await;
    let res = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_eq!(res.headers()["cache-control"], "public, max-age=45");
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304_rfc9110_13_1_2() {
    let app = TestApp::spawn().await;
    let first = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'));

    let res =
        app.http.get(app.url("/.well-known/jwks.json")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(res.status(), 304);
    assert_eq!(res.headers()["etag"], etag.as_str());
    assert!(res.headers().contains_key("cache-control"));
    assert!(res.bytes().await.unwrap().is_empty());

    let list = format!("\"other\", W/{etag}");
    let res =
        app.http.get(app.url("/.well-known/jwks.json")).header("if-none-match", list).send().await.unwrap();
    assert_eq!(res.status(), 304);

    let res = app
        .http
        .get(app.url("/.well-known/jwks.json"))
        .header("if-none-match", "\"stale\"")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn a_key_is_created_once_and_reused_after_a_restart() {
    let app = TestApp::spawn().await;
    let kid = app.jwks().await.keys[0].common.key_id.clone().unwrap();
    let files: Vec<_> = std::fs::read_dir(app.keys_dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);

    let (addr, _stop) = app.spawn_sharing_keys(CLIENTS).await;
    let jwks: Value = get_json(&app.http, &format!("http://{addr}/.well-known/jwks.json")).await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
}

#[tokio::test]
async fn switching_algorithm_adds_a_key_and_keeps_the_old_one_published() {
    let app = TestApp::spawn().await;
    let (old_token, _) = app.access_token(&[]).await;
    let (addr, _stop) = app.spawn_sharing_keys(&format!("[tokens]\nalgorithm = \"EdDSA\"\n{CLIENTS}")).await;
    let jwks: jsonwebtoken::jwk::JwkSet =
        get_json(&app.http, &format!("http://{addr}/.well-known/jwks.json")).await;
    assert_eq!(jwks.keys.len(), 2);
    // Tokens signed before the switch still verify against the new JWKS.
    verify_with(&jwks, &old_token, "https://api.one").unwrap();
}
