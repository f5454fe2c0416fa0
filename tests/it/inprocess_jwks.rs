//! The JWK Set (RFC 7517), in-process: public members only, caching headers, ETag and 304,
//! and keys that persist across restarts (a second application on the same key directory).

use crate::helpers::*;

#[tokio::test]
async fn the_jwks_publishes_public_members_only_rfc7517_4() {
    let app = InProcess::spawn().await;
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.status, 200);
    assert!(res.header("content-type").starts_with("application/json"));
    let body = res.json();
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
    let app = InProcess::spawn_with("[tokens]\nalgorithm = \"RS256\"").await;
    let body = app.get("/.well-known/jwks.json").await.json();
    let k = body["keys"][0].as_object().unwrap();
    assert_eq!(k["kty"], "RSA");
    assert!(k.contains_key("n") && k.contains_key("e"));
    assert!(!k.contains_key("d") && !k.contains_key("p"));
}

#[tokio::test]
async fn the_kid_is_the_rfc7638_thumbprint_and_matches_token_headers() {
    let app = InProcess::spawn().await;
    let jwks = app.jwks().await;
    let jwk = &jwks.keys[0];
    let thumb = jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap();
    assert_eq!(jwk.common.key_id.as_deref(), Some(thumb.as_str()));
    let (token, _) = app.access_token(&[]).await;
    assert_eq!(jsonwebtoken::decode_header(&token).unwrap().kid.as_deref(), Some(thumb.as_str()));
}

#[tokio::test]
async fn the_jwks_is_cacheable_with_the_configured_max_age() {
    let app = InProcess::spawn().await;
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.headers["cache-control"], "public, max-age=300");
    let app = InProcess::spawn_with("[keys]\njwks_max_age = \"45s\"").await;
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.headers["cache-control"], "public, max-age=45");
}

#[tokio::test]
async fn a_matching_if_none_match_gets_304_rfc9110_13_1_2() {
    let app = InProcess::spawn().await;
    let first = app.get("/.well-known/jwks.json").await;
    let etag = first.header("etag").to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'));

    let res = app.get_with("/.well-known/jwks.json", &[("if-none-match", &etag)]).await;
    assert_eq!(res.status, 304);
    assert_eq!(res.headers["etag"], etag.as_str());
    assert!(res.headers.contains_key("cache-control"));
    assert!(res.body.is_empty());

    let list = format!("\"other\", W/{etag}");
    let res = app.get_with("/.well-known/jwks.json", &[("if-none-match", &list)]).await;
    assert_eq!(res.status, 304);

    let res = app.get_with("/.well-known/jwks.json", &[("if-none-match", "\"stale\"")]).await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn a_key_is_created_once_and_reused_after_a_restart() {
    let app = InProcess::spawn().await;
    let kid = app.jwks().await.keys[0].common.key_id.clone().unwrap();
    let files: Vec<_> = std::fs::read_dir(app.keys_dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);

    let restarted = app.sharing_keys(CLIENTS).await;
    let jwks = restarted.get("/.well-known/jwks.json").await.json();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 1);
    assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
}

#[tokio::test]
async fn switching_algorithm_adds_a_key_and_keeps_the_old_one_published() {
    let app = InProcess::spawn().await;
    let (old_token, _) = app.access_token(&[]).await;
    let switched = app.sharing_keys(&format!("[tokens]\nalgorithm = \"EdDSA\"\n{CLIENTS}")).await;
    let jwks = switched.jwks().await;
    assert_eq!(jwks.keys.len(), 2);
    // Tokens signed before the switch still verify against the new JWKS.
    verify_with(&jwks, &old_token, "https://api.one").unwrap();
}

#[tokio::test]
async fn a_304_repeats_the_etag_and_cache_control_of_the_200_rfc9110_15_4_5() {
    let app = InProcess::spawn_with("[keys]\njwks_max_age = \"45s\"").await;
    let full = app.get("/.well-known/jwks.json").await;
    assert_eq!(full.status, 200);
    let (etag, cache) = (full.header("etag").to_owned(), full.header("cache-control").to_owned());
    assert_eq!(cache, "public, max-age=45");
    // The ETag is stable while the key set is: a second 200 carries the same one.
    assert_eq!(app.get("/.well-known/jwks.json").await.header("etag"), etag);
    // RFC 9110 §15.4.5: a 304 carries the ETag and Cache-Control a 200 would have; no body.
    for if_none_match in [etag.clone(), format!("W/{etag}"), "*".to_owned(), format!("\"a\",{etag} ,\"b\"")] {
        let res = app.get_with("/.well-known/jwks.json", &[("if-none-match", &if_none_match)]).await;
        assert_eq!(res.status, 304, "{if_none_match}");
        assert_eq!(res.header("etag"), etag, "{if_none_match}");
        assert_eq!(res.header("cache-control"), cache, "{if_none_match}");
        assert!(res.body.is_empty(), "{if_none_match}");
    }
    // A tag of another key set is no match: the whole document again.
    let res = app.get_with("/.well-known/jwks.json", &[("if-none-match", "\"0123\", W/\"x\"")]).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.body, full.body);
    assert_eq!(res.header("etag"), etag);
}

#[tokio::test]
async fn another_key_set_gets_another_etag_rfc9110_8_8_3() {
    let app = InProcess::spawn().await;
    let before = app.get("/.well-known/jwks.json").await.header("etag").to_owned();
    // A restart with a second algorithm publishes two keys: a new representation, a new tag.
    let two = app.sharing_keys(&format!("[tokens]\nalgorithm = \"EdDSA\"\n{CLIENTS}")).await;
    let res = two.get("/.well-known/jwks.json").await;
    assert_eq!(res.json()["keys"].as_array().unwrap().len(), 2);
    assert_ne!(res.header("etag"), before);
    // The old tag no longer matches.
    let res = two.get_with("/.well-known/jwks.json", &[("if-none-match", &before)]).await;
    assert_eq!(res.status, 200);
}
