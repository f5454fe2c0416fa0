//! The example resource server (examples/resource_server.rs) with the axum extractor:
//! RFC 6750 §3 challenges for missing, invalid and under-scoped tokens.

use std::sync::Arc;

use serde_json::Value;
use tokenmint::verify::{RemoteJwks, RemoteOptions, Verifier};

use crate::helpers::*;

#[path = "../../examples/resource_server.rs"]
#[allow(dead_code, unreachable_pub)]
mod example;

/// The example app on 127.0.0.1:0, verifying against `issuer`'s discovered JWKS.
async fn spawn_resource_server(issuer: &str, audience: &str) -> (String, tokio::sync::oneshot::Sender<()>) {
    let verifier = Verifier::discover(example::requirements(issuer, audience)).await.unwrap();
    spawn_with(verifier).await
}

/// The example app on 127.0.0.1:0 with `verifier`.
async fn spawn_with(verifier: Verifier) -> (String, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    (base, serve_in_background(listener, example::app(Arc::new(verifier))))
}

const DEMO: &str = r#"
[[clients]]
id = "demo"
secret_hashes = ["sha256:cd577fe2561ebff23505db0bb006300c7cdecbd46bc0e03c449afafaca2c25bf"]
scopes = ["demo:read", "demo:write"]
default_scopes = ["demo:read"]
audiences = ["https://api.example.com", "https://other.example.com"]
"#;

async fn demo_token(app: &TestApp, extra: &[(&str, &str)]) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    let body: Value = app.token_basic("demo", "demo-secret", &form).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_valid_token_with_the_scope_gets_through() {
    let app = TestApp::spawn_self_issued(DEMO).await;
    let (rs, _stop) = spawn_resource_server(&app.issuer, "https://api.example.com").await;
    let token = demo_token(&app, &[]).await;
    let res = send(app.http.get(format!("{rs}/reports")).bearer_auth(&token)).await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "reports for demo\n");
}

#[tokio::test]
async fn no_token_gets_a_bare_bearer_challenge_rfc6750_3_1() {
    let app = TestApp::spawn_self_issued(DEMO).await;
    let (rs, _stop) = spawn_resource_server(&app.issuer, "https://api.example.com").await;
    let res = send(app.http.get(format!("{rs}/reports"))).await;
    assert_eq!(res.status(), 401);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn an_invalid_token_gets_invalid_token_rfc6750_3_1() {
    let app = TestApp::spawn_self_issued(DEMO).await;
    let (rs, _stop) = spawn_resource_server(&app.issuer, "https://api.example.com").await;
    // A token for another audience, and a tampered one.
    let other = demo_token(&app, &[("resource", "https://other.example.com")]).await;
    let tampered = format!("{}x", demo_token(&app, &[]).await);
    for token in [other, tampered] {
        let res = send(app.http.get(format!("{rs}/reports")).bearer_auth(&token)).await;
        assert_eq!(res.status(), 401);
        let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("Bearer error=\"invalid_token\""), "{challenge}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token");
    }
}

#[tokio::test]
async fn a_missing_scope_gets_403_insufficient_scope_rfc6750_3_1() {
    let app = TestApp::spawn_self_issued(DEMO).await;
    let (rs, _stop) = spawn_resource_server(&app.issuer, "https://api.example.com").await;
    let token = demo_token(&app, &[("scope", "demo:read")]).await;
    let res = send(app.http.get(format!("{rs}/admin")).bearer_auth(&token)).await;
    assert_eq!(res.status(), 403);
    assert_eq!(
        res.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"demo:write\""
    );
    let token = demo_token(&app, &[("scope", "demo:write")]).await;
    let res = send(app.http.get(format!("{rs}/admin")).bearer_auth(&token)).await;
    assert_eq!(res.status(), 200);
}

#[tokio::test]
async fn unreachable_keys_get_503_not_invalid_token_rfc6750_3_1() {
    let app = TestApp::spawn_self_issued(DEMO).await;
    // Keys from an endpoint that is down: the token cannot be judged, so it is not called
    // invalid (a client would throw a good token away and ask for another).
    let remote = RemoteJwks::new("http://127.0.0.1:1/jwks.json", RemoteOptions::default()).unwrap();
    let requirements = example::requirements(&app.issuer, "https://api.example.com");
    let (rs, _stop) = spawn_with(Verifier::remote(requirements, remote).unwrap()).await;
    let token = demo_token(&app, &[]).await;
    let res = send(app.http.get(format!("{rs}/reports")).bearer_auth(&token)).await;
    assert_eq!(res.status(), 503);
    assert!(res.headers().get("www-authenticate").is_none());
    let body: Value = res.json().await.unwrap();
    assert!(body["error"].is_null(), "{body}");
}

#[tokio::test]
async fn two_authorization_headers_are_invalid_request_rfc6750_3_1() {
    let app = TestApp::spawn_self_issued(DEMO).await;
    let (rs, _stop) = spawn_resource_server(&app.issuer, "https://api.example.com").await;
    let token = demo_token(&app, &[]).await;
    let req = app
        .http
        .get(format!("{rs}/reports"))
        .header("authorization", format!("Bearer {token}"))
        .header("authorization", "Basic ZGVtbzpkZW1vLXNlY3JldA==");
    let res = send(req).await;
    assert_eq!(res.status(), 400);
    assert_eq!(res.headers()["www-authenticate"], "Bearer error=\"invalid_request\"");
    // The same token alone gets through.
    let res = send(app.http.get(format!("{rs}/reports")).bearer_auth(&token)).await;
    assert_eq!(res.status(), 200);
}
