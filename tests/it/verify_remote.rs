//! `RemoteJwks` against a JWKS endpoint we control: refetch on unknown kid bounded by a
//! budget of fetches per cooldown, unknown kids remembered, new keys picked up on first use
//! (rotation, and keys published within the cooldown), stale-if-error, and background
//! refresh driven by `Cache-Control: max-age`.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use tokenmint::verify::{
    Algorithm, ErrorKind, REFETCH_BUDGET, RemoteJwks, RemoteOptions, Requirements, Verifier,
};

use crate::forge::{at_header, attacker_key, server_key, sign, valid_claims};
use crate::helpers::*;

/// A JWKS endpoint that counts fetches and can be switched off or changed.
#[derive(Clone, Default)]
struct Endpoint {
    body: Arc<RwLock<Vec<u8>>>,
    /// When set, each fetch serves the upstream JWKS as it is at that moment.
    upstream: Arc<RwLock<Option<String>>>,
    cache_control: Arc<RwLock<String>>,
    down: Arc<AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

async fn serve_jwks(State(e): State<Endpoint>) -> Response {
    e.fetches.fetch_add(1, Ordering::SeqCst);
    if e.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let cache = e.cache_control.read().unwrap().clone();
    let upstream = e.upstream.read().unwrap().clone();
    let body = match upstream {
        Some(url) => reqwest::get(url).await.unwrap().bytes().await.unwrap().to_vec(),
        None => e.body.read().unwrap().clone(),
    };
    ([(header::CONTENT_TYPE, "application/json".to_owned()), (header::CACHE_CONTROL, cache)], body)
        .into_response()
}

impl Endpoint {
    async fn spawn(body: Vec<u8>) -> (Endpoint, String, tokio::sync::oneshot::Sender<()>) {
        let e = Endpoint::default();
        *e.body.write().unwrap() = body;
        *e.cache_control.write().unwrap() = "public, max-age=300".into();
        let app =
            axum::Router::new().route("/jwks.json", axum::routing::get(serve_jwks)).with_state(e.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        (e, url, serve_in_background(listener, app))
    }

    /// An endpoint serving `app`'s JWKS as it is now.
    async fn serving(app: &TestApp) -> (Endpoint, String, tokio::sync::oneshot::Sender<()>) {
        Self::spawn(jwks_bytes(&app.http, &app.addr.to_string()).await).await
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn jwks_bytes(http: &reqwest::Client, addr: &str) -> Vec<u8> {
    send(http.get(format!("http://{addr}/.well-known/jwks.json"))).await.bytes().await.unwrap().to_vec()
}

fn requirements(algorithms: Vec<Algorithm>) -> Requirements {
    Requirements {
        issuer: ISSUER.into(),
        audience: "https://api.one".into(),
        algorithms,
        leeway: Duration::from_secs(30),
    }
}

fn options(cooldown: Duration) -> RemoteOptions {
    RemoteOptions { refetch_cooldown: cooldown, ..RemoteOptions::default() }
}

#[tokio::test]
async fn a_flood_of_unknown_kids_costs_at_most_the_refetch_budget_per_cooldown() {
    let app = TestApp::spawn().await;
    let (endpoint, url, _stop) = Endpoint::serving(&app).await;
    let remote = RemoteJwks::new(&url, options(Duration::from_secs(60))).unwrap();
    let verifier = Arc::new(Verifier::remote(requirements(vec![Algorithm::ES256]), remote).unwrap());
    let (token, _) = app.access_token(&[]).await;
    verifier.verify(&token).await.unwrap();
    assert_eq!(endpoint.fetches(), 1);

    let (key, _) = server_key(&app);
    let claims = valid_claims(ISSUER);
    let mut tasks = Vec::new();
    for i in 0..200 {
        let forged = sign(&at_header(&format!("made-up-{i}")), &claims, &key);
        let v = verifier.clone();
        tasks.push(tokio::spawn(async move { v.verify(&forged).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err().kind(), ErrorKind::UnknownKey);
    }
    // Concurrent misses share a fetch; the start-up fetch counts against the budget too.
    assert!(endpoint.fetches() <= REFETCH_BUDGET, "{} fetches", endpoint.fetches());
    // One by one, further made-up kids spend what is left of the budget, and then nothing.
    for i in 0..50 {
        let forged = sign(&at_header(&format!("one-by-one-{i}")), &claims, &key);
        assert_eq!(verifier.verify(&forged).await.unwrap_err().kind(), ErrorKind::UnknownKey);
    }
    assert_eq!(endpoint.fetches(), REFETCH_BUDGET, "unknown kids inside the cooldown stop refetching");
    // The real key still verifies throughout.
    verifier.verify(&token).await.unwrap();
}

/// A fresh ES256 key with `kid`, and its public JWK.
fn es256_key(kid: &str) -> (jsonwebtoken::EncodingKey, Value) {
    let (key, mut jwk) = attacker_key();
    jwk.common.key_id = Some(kid.into());
    (key, serde_json::to_value(jwk).unwrap())
}

fn jwks_of(keys: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&json!({ "keys": keys })).unwrap()
}

#[tokio::test]
async fn keys_published_and_used_within_the_cooldown_are_found_within_the_budget_rfc9068_4() {
    let (k1, jwk1) = es256_key("k1");
    let (endpoint, url, _stop) = Endpoint::spawn(jwks_of(std::slice::from_ref(&jwk1))).await;
    let remote = RemoteJwks::new(&url, options(Duration::from_secs(60))).unwrap();
    let verifier = Verifier::remote(requirements(vec![Algorithm::ES256]), remote).unwrap();
    let claims = valid_claims(ISSUER);
    verifier.verify(&sign(&at_header("k1"), &claims, &k1)).await.unwrap();
    assert_eq!(endpoint.fetches(), 1);

    // Keys published one after another, each used at once, all within one cooldown: each
    // costs one fetch until the budget is spent.
    let mut published = vec![jwk1];
    for n in 2..=REFETCH_BUDGET + 1 {
        let kid = format!("k{n}");
        let (key, jwk) = es256_key(&kid);
        published.push(jwk);
        *endpoint.body.write().unwrap() = jwks_of(&published);
        let result = verifier.verify(&sign(&at_header(&kid), &claims, &key)).await;
        if n <= REFETCH_BUDGET {
            assert_eq!(result.unwrap().sub, "svc-a", "{kid}");
            assert_eq!(endpoint.fetches(), n, "{kid}");
        } else {
            // Beyond the budget the key waits for the next window (or the background refresh).
            assert_eq!(result.unwrap_err().kind(), ErrorKind::UnknownKey, "{kid}");
            assert_eq!(endpoint.fetches(), REFETCH_BUDGET, "{kid}");
        }
    }
}

#[tokio::test]
async fn a_kid_still_unknown_after_a_fetch_is_refused_at_once_without_spending_the_budget() {
    let (k1, jwk1) = es256_key("k1");
    let (endpoint, url, _stop) = Endpoint::spawn(jwks_of(std::slice::from_ref(&jwk1))).await;
    let remote = RemoteJwks::new(&url, options(Duration::from_secs(60))).unwrap();
    let verifier = Arc::new(Verifier::remote(requirements(vec![Algorithm::ES256]), remote).unwrap());
    let claims = valid_claims(ISSUER);
    verifier.verify(&sign(&at_header("k1"), &claims, &k1)).await.unwrap();

    // The first token naming a made-up kid fetches once; the kid is then remembered.
    let made_up = sign(&at_header("made-up"), &claims, &k1);
    assert_eq!(verifier.verify(&made_up).await.unwrap_err().kind(), ErrorKind::UnknownKey);
    assert_eq!(endpoint.fetches(), 2);
    // Repeated, one by one and all at once, it costs no fetch although the budget has room.
    for _ in 0..100 {
        assert_eq!(verifier.verify(&made_up).await.unwrap_err().kind(), ErrorKind::UnknownKey);
    }
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let (v, t) = (verifier.clone(), made_up.clone());
        tasks.push(tokio::spawn(async move { v.verify(&t).await }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap_err().kind(), ErrorKind::UnknownKey);
    }
    assert_eq!(endpoint.fetches(), 2, "a remembered unknown kid must not refetch");

    // So the budget is still there for a key that is really new.
    let (k2, jwk2) = es256_key("k2");
    *endpoint.body.write().unwrap() = jwks_of(&[jwk1, jwk2]);
    verifier.verify(&sign(&at_header("k2"), &claims, &k2)).await.unwrap();
    assert_eq!(endpoint.fetches(), 3);
    verifier.verify(&sign(&at_header("k1"), &claims, &k1)).await.unwrap();
    assert_eq!(endpoint.fetches(), 3);
}

#[tokio::test]
async fn concurrent_misses_share_one_fetch() {
    let app = TestApp::spawn().await;
    let (endpoint, url, _stop) = Endpoint::serving(&app).await;
    let remote = RemoteJwks::new(&url, options(Duration::from_secs(60))).unwrap();
    let verifier = Arc::new(Verifier::remote(requirements(vec![Algorithm::ES256]), remote).unwrap());
    // Nothing cached yet: 50 simultaneous verifications trigger exactly one fetch.
    let (token, _) = app.access_token(&[]).await;
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let (v, t) = (verifier.clone(), token.clone());
        tasks.push(tokio::spawn(async move { v.verify(&t).await }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(endpoint.fetches(), 1);
}

#[tokio::test]
async fn a_key_that_signs_at_once_is_fetched_on_first_use_and_no_valid_token_fails() {
    let app = TestApp::spawn().await;
    let (endpoint, url, _stop) = Endpoint::serving(&app).await;
    *endpoint.upstream.write().unwrap() = Some(app.url("/.well-known/jwks.json"));
    let remote = RemoteJwks::new(&url, options(Duration::ZERO)).unwrap();
    let verifier = Verifier::remote(requirements(vec![Algorithm::ES256, Algorithm::EdDSA]), remote).unwrap();
    let (old, _) = app.access_token(&[]).await;
    verifier.verify(&old).await.unwrap();
    let old_kid: Value = get_json(&app.http, &app.url("/readyz")).await;

    // An operator adds a key that signs at once (the emergency path); the running server
    // notices the new file by itself.
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[keys]\ndir = \"{}\"\n", app.keys_dir.path().display());
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let args = ["--config", "c.toml", "keys", "generate", "--alg", "EdDSA", "--activate-in", "0s"];
    let (code, _, err) = crate::cli::run(dir.path(), &args, None).await;
    assert_eq!(code, 0, "{err}");
    let switched = eventually(|| async {
        let now: Value = get_json(&app.http, &app.url("/readyz")).await;
        if now["kid"] == old_kid["kid"] {
            return false;
        }
        assert_eq!(now["alg"], "EdDSA");
        true
    })
    .await;
    assert!(switched, "the server did not pick up the new key within {EVENTUALLY:?}");

    let mut failures = 0;
    for _ in 0..20 {
        let (token, _) = app.access_token(&[]).await;
        if verifier.verify(&token).await.is_err() {
            failures += 1;
        }
    }
    assert_eq!(failures, 0);
    verifier.verify(&old).await.unwrap();
    assert_eq!(endpoint.fetches(), 2, "one fetch at start, one for the new kid");
}

#[tokio::test]
async fn cached_keys_keep_working_when_the_endpoint_is_down() {
    let app = TestApp::spawn().await;
    let (endpoint, url, _stop) = Endpoint::serving(&app).await;
    let remote = RemoteJwks::new(&url, options(Duration::ZERO)).unwrap();
    let verifier = Verifier::remote(requirements(vec![Algorithm::ES256]), remote).unwrap();
    let (token, _) = app.access_token(&[]).await;
    verifier.verify(&token).await.unwrap();

    endpoint.down.store(true, Ordering::SeqCst);
    let (second, _) = app.access_token(&[]).await;
    verifier.verify(&second).await.unwrap();
    // An unknown kid tries a fetch, which fails: the answer is still a clean error.
    let (key, _) = server_key(&app);
    let forged = sign(&at_header("unknown"), &valid_claims(ISSUER), &key);
    assert_eq!(verifier.verify(&forged).await.unwrap_err().kind(), ErrorKind::UnknownKey);
    assert_eq!(endpoint.fetches(), 2);
    verifier.verify(&token).await.unwrap();
}

#[tokio::test]
async fn an_endpoint_down_from_the_start_means_keys_unavailable() {
    let app = TestApp::spawn().await;
    let (endpoint, url, _stop) = Endpoint::spawn(Vec::new()).await;
    endpoint.down.store(true, Ordering::SeqCst);
    let remote = RemoteJwks::new(&url, options(Duration::ZERO)).unwrap();
    let verifier = Verifier::remote(requirements(vec![Algorithm::ES256]), remote).unwrap();
    let (token, _) = app.access_token(&[]).await;
    assert_eq!(verifier.verify(&token).await.unwrap_err().kind(), ErrorKind::KeysUnavailable);
}

#[tokio::test]
async fn max_age_in_any_case_drives_a_background_refresh_rfc9111_5_2() {
    let app = TestApp::spawn().await;
    let (endpoint, url, _stop) = Endpoint::serving(&app).await;
    // Directive names are case-insensitive (RFC 9111 §5.2).
    *endpoint.cache_control.write().unwrap() = "Public, Max-Age=1".into();
    let opts = RemoteOptions { min_max_age: Duration::from_secs(1), ..options(Duration::from_secs(60)) };
    let remote = RemoteJwks::new(&url, opts).unwrap();
    remote.prefetch().await.unwrap();
    assert_eq!(endpoint.fetches(), 1);
    // Refreshed at ~90% of the 1 s lifetime, without any verification asking for it.
    let refreshed = eventually(|| async { endpoint.fetches() >= 2 }).await;
    assert!(refreshed, "no background refresh within {EVENTUALLY:?}");
}

#[tokio::test]
async fn keys_come_over_https_and_plain_http_only_to_loopback_or_when_allowed_rfc8414_2() {
    let default = RemoteOptions::default;
    for loopback in
        ["http://127.0.0.1:1/jwks.json", "http://localhost:1/jwks.json", "http://[::1]:1/jwks.json"]
    {
        RemoteJwks::new(loopback, default()).unwrap_or_else(|e| panic!("{loopback}: {e}"));
    }
    RemoteJwks::new("https://tokens.example/jwks.json", default()).unwrap();
    for refused in
        ["http://tokens.example/jwks.json", "http://10.0.0.8/jwks.json", "ftp://tokens.example/jwks"]
    {
        let err = RemoteJwks::new(refused, default()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration, "{refused}");
    }
    let allowed = RemoteOptions { allow_http: true, ..default() };
    RemoteJwks::new("http://tokens.example/jwks.json", allowed.clone()).unwrap();

    // Credentials in the URL never reach an error message.
    let err = RemoteJwks::new("http://user:hunter2@tokens.example/jwks.json", default()).unwrap_err();
    assert!(err.to_string().contains("allow_http") && !err.to_string().contains("hunter2"), "{err}");
    let unreachable = RemoteJwks::new("http://user:hunter2@127.0.0.1:1/jwks.json", default()).unwrap();
    let err = unreachable.prefetch().await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::KeysUnavailable);
    assert!(!err.to_string().contains("hunter2"), "{err}");

    // Metadata fetched from a trusted place cannot send the keys over plain http either.
    let (issuer, _stop) = metadata_server(
        "",
        |issuer| json!({ "issuer": issuer, "jwks_uri": "http://tokens.example/jwks.json" }),
    )
    .await;
    let err = RemoteJwks::discover(&issuer, default()).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
    RemoteJwks::discover(&issuer, allowed).await.unwrap();
}

#[tokio::test]
async fn an_issuer_with_a_path_is_discovered_at_its_openid_configuration_oidc_discovery_4() {
    let app = TestApp::spawn().await;
    let (_endpoint, jwks_uri, _stop_jwks) = Endpoint::serving(&app).await;
    // Serves only `{issuer}/.well-known/openid-configuration`, as OpenID Connect Discovery 1.0
    // §4 places it (RFC 8414's path-inserted location answers 404).
    let (issuer, _stop) =
        metadata_server("/tenant-a", move |issuer| json!({ "issuer": issuer, "jwks_uri": jwks_uri })).await;
    let remote = RemoteJwks::discover(&issuer, RemoteOptions::default()).await.unwrap();
    let (token, _) = app.access_token(&[]).await;
    let verifier = Verifier::remote(requirements(vec![Algorithm::ES256]), remote).unwrap();
    verifier.verify(&token).await.unwrap();
}

/// A server on 127.0.0.1 whose issuer is its address plus `path`, answering
/// `{issuer}/.well-known/openid-configuration` with `metadata(issuer)`; nothing else.
async fn metadata_server(
    path: &'static str,
    metadata: impl Fn(&str) -> Value + Send + Sync + 'static,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let issuer = format!("http://{}{path}", listener.local_addr().unwrap());
    let body = metadata(&issuer);
    let route = format!("{path}/.well-known/openid-configuration");
    let app = axum::Router::new().route(&route, axum::routing::get(move || async move { axum::Json(body) }));
    (issuer, serve_in_background(listener, app))
}
