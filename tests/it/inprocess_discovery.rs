//! Discovery (RFC 8414, OpenID Connect Discovery 1.0) and the health probes, in-process.

use serde_json::Value;

use crate::helpers::*;

async fn get_json(app: &InProcess, path: &str) -> Value {
    let res = app.get(path).await;
    assert_eq!(res.status, 200, "{path}");
    assert!(res.header("content-type").starts_with("application/json"));
    res.json()
}

#[tokio::test]
async fn authorization_server_metadata_rfc8414_2() {
    let app = InProcess::spawn().await;
    let m = get_json(&app, "/.well-known/oauth-authorization-server").await;
    assert_eq!(m["issuer"], ISSUER, "RFC 8414 §3.3: issuer must match exactly");
    assert_eq!(m["token_endpoint"], format!("{ISSUER}/oauth2/token"));
    assert_eq!(m["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
    assert_eq!(m["grant_types_supported"], serde_json::json!(["client_credentials"]));
    assert_eq!(
        m["token_endpoint_auth_methods_supported"],
        serde_json::json!(["client_secret_basic", "client_secret_post"])
    );
    let scopes: Vec<&str> =
        m["scopes_supported"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(scopes.contains(&"read") && scopes.contains(&"admin:all"));
    assert!(m["response_types_supported"].is_array());
}

#[tokio::test]
async fn openid_configuration_has_the_same_endpoints_plus_oidc_fields() {
    let app = InProcess::spawn().await;
    let oauth = get_json(&app, "/.well-known/oauth-authorization-server").await;
    let oidc = get_json(&app, "/.well-known/openid-configuration").await;
    for field in ["issuer", "token_endpoint", "jwks_uri", "grant_types_supported"] {
        assert_eq!(oauth[field], oidc[field], "{field}");
    }
    assert_eq!(oidc["id_token_signing_alg_values_supported"], serde_json::json!(["ES256"]));
    assert_eq!(oidc["subject_types_supported"], serde_json::json!(["public"]));
}

#[tokio::test]
async fn disabled_grants_are_not_advertised() {
    let app = InProcess::spawn_with("[grants]\ndisabled = [\"client_credentials\"]").await;
    let m = get_json(&app, "/.well-known/oauth-authorization-server").await;
    assert_eq!(m["grant_types_supported"], serde_json::json!([]));
}

#[tokio::test]
async fn the_jwks_uri_from_discovery_serves_the_signing_key() {
    let app = InProcess::spawn().await;
    let m = get_json(&app, "/.well-known/oauth-authorization-server").await;
    // Resolve the advertised URI's path against the test server.
    let path = m["jwks_uri"].as_str().unwrap().trim_start_matches(ISSUER).to_owned();
    let jwks = get_json(&app, &path).await;
    let (token, _) = app.access_token(&[]).await;
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    assert!(jwks["keys"].as_array().unwrap().iter().any(|k| k["kid"] == kid.as_str()));
}

#[tokio::test]
async fn health_and_readiness_probes() {
    let app = InProcess::spawn().await;
    assert_eq!(get_json(&app, "/healthz").await["status"], "ok");
    let ready = get_json(&app, "/readyz").await;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["alg"], "ES256");
    assert_eq!(ready["kid"], app.jwks().await.keys[0].common.key_id.clone().unwrap().as_str());
}

#[tokio::test]
async fn an_issuer_with_a_path_has_its_metadata_at_the_path_inserted_location_rfc8414_3_1() {
    let issuer = format!("{ISSUER}/tenant-a");
    let app = InProcess::spawn_issued(&issuer, CLIENTS).await;
    let res = app.get("/.well-known/oauth-authorization-server/tenant-a").await;
    assert_eq!(res.status, 200);
    let m = res.json();
    assert_eq!(m["issuer"], issuer);
    assert_eq!(m["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
    // Other paths stay unknown.
    let res = app.get("/.well-known/oauth-authorization-server/tenant-b").await;
    assert_eq!(res.status, 404);
}

#[tokio::test]
async fn both_discovery_documents_are_json_cacheable_for_five_minutes_rfc8414_3_2() {
    let issuer = format!("{ISSUER}/tenant-a");
    let app = InProcess::spawn_issued(&issuer, CLIENTS).await;
    for path in [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/tenant-a",
        "/.well-known/openid-configuration",
    ] {
        let res = app.get(path).await;
        assert_eq!(res.status, 200, "{path}");
        // RFC 8414 §3.2: the metadata is a JSON object served as application/json.
        assert_eq!(res.header("content-type"), "application/json", "{path}");
        assert_eq!(res.header("cache-control"), "public, max-age=300", "{path}");
        assert!(!res.headers.contains_key("pragma"), "{path}");
        assert_eq!(res.json()["issuer"], issuer, "{path}");
    }
}

#[tokio::test]
async fn the_probes_answer_exactly_their_documented_bodies() {
    let app = InProcess::spawn().await;
    let res = app.get("/healthz").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), "application/json");
    assert_eq!(res.json(), serde_json::json!({"status": "ok"}));
    let res = app.get("/readyz").await;
    assert_eq!(res.status, 200);
    assert_eq!(res.header("content-type"), "application/json");
    let kid = app.jwks().await.keys[0].common.key_id.clone().unwrap();
    assert_eq!(res.json(), serde_json::json!({"status": "ready", "kid": kid, "alg": "ES256"}));
    // The probes are GET only: another method is a JSON 405.
    let req = axum::http::Request::post("/healthz").body(axum::body::Body::empty()).unwrap();
    assert_oauth_reply(&app.request(req).await, 405, "method_not_allowed");
}
