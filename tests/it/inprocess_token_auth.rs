//! Client authentication at the token endpoint (RFC 6749 §2.3, §2.3.1, §3.2.1), in-process.
//! The brute-force throttle counts in-process requests by client name only; throttling by
//! address is in `token_auth`, over a socket.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;

use crate::helpers::*;

const CC: (&str, &str) = ("grant_type", "client_credentials");

/// A token request with this `Authorization` header and a form body.
fn with_authorization(authorization: &str, form: &[(&str, &str)]) -> axum::http::Request<axum::body::Body> {
    InProcess::token_req()
        .header("authorization", authorization)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(form).into())
        .unwrap()
}

#[tokio::test]
async fn client_secret_basic_gets_a_token_rfc6749_2_3_1() {
    let app = InProcess::spawn().await;
    let res = app.token_basic("svc-a", SECRET_A, &[CC]).await;
    assert_eq!(res.status, 200);
    let body = res.json();
    let claims = app.verify(body["access_token"].as_str().unwrap(), "https://api.one").await;
    assert_eq!(claims.client_id, "svc-a");
}

#[tokio::test]
async fn client_secret_post_gets_a_token_rfc6749_2_3_1() {
    let app = InProcess::spawn().await;
    let res = app.token_post(&[CC, ("client_id", "svc-a"), ("client_secret", SECRET_A)]).await;
    assert_eq!(res.status, 200);
    let body = res.json();
    assert_eq!(app.verify(body["access_token"].as_str().unwrap(), "https://api.one").await.sub, "svc-a");
}

#[tokio::test]
async fn json_body_takes_every_form_parameter() {
    let app = InProcess::spawn().await;
    let body = json!({
        "grant_type": "client_credentials",
        "client_id": "svc-a",
        "client_secret": SECRET_A,
        "scope": "write",
        "resource": "https://api.two",
        "expires_in": 60,
    });
    let res = app.token_json(&body).await;
    assert_eq!(res.status, 200);
    let body = res.json();
    assert_eq!(body["scope"], "write");
    assert_eq!(body["expires_in"], 60);
    let claims = app.verify(body["access_token"].as_str().unwrap(), "https://api.two").await;
    assert_eq!(claims.scope.as_deref(), Some("write"));
}

#[tokio::test]
async fn basic_credentials_are_form_urlencoded_rfc6749_2_3_1() {
    let app = InProcess::spawn().await;
    // openid-client encodes `-` as %2D; `+` is a space; reserved characters are %-escaped.
    let raw = format!("my%2Dclient:{}", form_encode(SPECIAL_SECRET));
    let res = app.request(with_authorization(&format!("Basic {}", STANDARD.encode(raw)), &[CC])).await;
    assert_eq!(res.status, 200);
    // The unencoded secret contains ':' and '+', so sending it raw must fail.
    let raw = format!("my-client:{SPECIAL_SECRET}");
    let res = app.request(with_authorization(&format!("Basic {}", STANDARD.encode(raw)), &[CC])).await;
    assert_oauth_reply(&res, 401, "invalid_client");
}

#[tokio::test]
async fn two_authentication_methods_are_refused_rfc6749_2_3() {
    let app = InProcess::spawn().await;
    let res =
        app.token_basic("svc-a", SECRET_A, &[CC, ("client_id", "svc-a"), ("client_secret", SECRET_A)]).await;
    assert_oauth_reply(&res, 400, "invalid_request");
}

#[tokio::test]
async fn basic_with_a_matching_body_client_id_is_accepted_rfc6749_3_2_1() {
    let app = InProcess::spawn().await;
    let ok = app.token_basic("svc-a", SECRET_A, &[CC, ("client_id", "svc-a")]).await;
    assert_eq!(ok.status, 200);
    let mismatch = app.token_basic("svc-a", SECRET_A, &[CC, ("client_id", "my-client")]).await;
    assert_oauth_reply(&mismatch, 400, "invalid_request");
}

#[tokio::test]
async fn wrong_unknown_and_disabled_clients_look_the_same_rfc6749_5_2() {
    let app = InProcess::spawn().await;
    let wrong = assert_oauth_reply(&app.token_basic("svc-a", "nope", &[CC]).await, 401, "invalid_client");
    let unknown = assert_oauth_reply(&app.token_basic("ghost", SECRET_A, &[CC]).await, 401, "invalid_client");
    let disabled =
        assert_oauth_reply(&app.token_basic("disabled", SECRET_A, &[CC]).await, 401, "invalid_client");
    assert_eq!(wrong, unknown);
    assert_eq!(wrong, disabled);
    assert!(!wrong.to_string().contains("nope"));
}

#[tokio::test]
async fn client_secret_post_with_a_wrong_secret_still_gets_the_basic_challenge_rfc9110_15_5_2() {
    let app = InProcess::spawn().await;
    let res = app.token_post(&[CC, ("client_id", "svc-a"), ("client_secret", "wrong")]).await;
    assert_oauth_reply(&res, 401, "invalid_client");
}

#[tokio::test]
async fn missing_or_unsupported_credentials_are_invalid_client() {
    let app = InProcess::spawn().await;
    assert_oauth_reply(&app.token_post(&[CC]).await, 401, "invalid_client");
    assert_oauth_reply(&app.token_post(&[CC, ("client_id", "svc-a")]).await, 401, "invalid_client");
    let bearer = app.request(with_authorization("Bearer some-token", &[CC])).await;
    assert_oauth_reply(&bearer, 401, "invalid_client");
}

#[tokio::test]
async fn malformed_basic_credentials_are_invalid_client_with_the_challenge_rfc6749_5_2() {
    let app = InProcess::spawn().await;
    let b64 = |raw: &[u8]| format!("Basic {}", STANDARD.encode(raw));
    let headers = [
        "Basic !!!notbase64".to_owned(), // not base64
        b64(b"nocolon"),                 // no `:` between id and secret
        b64(b"%FF:x"),                   // the id, once form-decoded, is not UTF-8
        b64(b"\xff\xfe:x"),              // the decoded credentials are not UTF-8
        b64(b":secret"),                 // empty id
        "Basic".to_owned(),              // no credentials at all
    ];
    for header in headers {
        let res = app.request(with_authorization(&header, &[CC])).await;
        // The client tried to authenticate with the Authorization header: 401, invalid_client
        // and the server's Basic challenge (checked by assert_oauth_reply for every 401).
        let body = assert_oauth_reply(&res, 401, "invalid_client");
        assert!(body["error_description"].as_str().unwrap().contains("malformed Basic"), "{header}: {body}");
    }
    // The introspection endpoint authenticates its callers the same way.
    let req = axum::http::Request::post("/oauth2/introspect")
        .header("authorization", b64(b"nocolon"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[("token", "x")]).into())
        .unwrap();
    assert_oauth_reply(&app.request(req).await, 401, "invalid_client");
}

#[tokio::test]
async fn an_empty_client_secret_next_to_basic_is_omitted_not_a_second_method_rfc6749_3_1() {
    let app = InProcess::spawn().await;
    let res = app.token_basic("svc-a", SECRET_A, &[CC, ("client_secret", "")]).await;
    assert_eq!(res.status, 200);
    let res = app.token_basic("svc-a", SECRET_A, &[CC, ("client_id", ""), ("client_secret", "")]).await;
    assert_eq!(res.status, 200);
    // In JSON, `""` is a parameter without a value too.
    let body = json!({"grant_type": "client_credentials", "client_secret": ""}).to_string();
    let req = InProcess::token_req()
        .header("authorization", basic_header("svc-a", SECRET_A))
        .header("content-type", "application/json")
        .body(body.into())
        .unwrap();
    assert_eq!(app.request(req).await.status, 200);
    // An empty client_id and client_secret without Basic are no credentials at all.
    let res = app.token_post(&[CC, ("client_id", ""), ("client_secret", "")]).await;
    assert_oauth_reply(&res, 401, "invalid_client");
}

#[tokio::test]
async fn credentials_never_come_from_the_query_string() {
    let app = InProcess::spawn().await;
    let path =
        format!("/oauth2/token?grant_type=client_credentials&client_id=svc-a&client_secret={SECRET_A}");
    let res = app.post_form(&path, None, &[("scope", "read")]).await;
    assert_oauth_reply(&res, 400, "invalid_request");
}

#[tokio::test]
async fn grant_type_may_come_in_the_query_string() {
    let app = InProcess::spawn().await;
    let path = "/oauth2/token?grant_type=client_credentials";
    let res = app.post_form(path, Some(("svc-a", SECRET_A)), &[("scope", "read")]).await;
    assert_eq!(res.status, 200);
    // ...but not in both places at once: that is a repeated parameter (RFC 6749 §3.2).
    let res = app.post_form(path, Some(("svc-a", SECRET_A)), &[CC]).await;
    assert_oauth_reply(&res, 400, "invalid_request");
}

#[tokio::test]
async fn every_configured_secret_hash_is_accepted_during_rotation() {
    let app = InProcess::spawn().await;
    assert_eq!(app.token_basic("rotating", "old-secret", &[CC]).await.status, 200);
    assert_eq!(app.token_basic("rotating", SECRET_A, &[CC]).await.status, 200);
    assert_oauth_reply(&app.token_basic("rotating", "other", &[CC]).await, 401, "invalid_client");
}

#[tokio::test]
async fn argon2id_secrets_verify_and_wrong_ones_fail() {
    let app = InProcess::spawn().await;
    for _ in 0..2 {
        // The second success is served from the remembered-success cache.
        assert_eq!(app.token_basic("argon", ARGON_SECRET, &[CC]).await.status, 200);
    }
    assert_oauth_reply(&app.token_basic("argon", "correct horse", &[CC]).await, 401, "invalid_client");
}

/// RFC 6749 §2.3.1: password-based client authentication MUST be protected against brute
/// force. For argon2id (human-chosen) secrets, wrong secrets sent all at once get no more
/// checks than the free attempts; the rest get `429 invalid_client` with `Retry-After`.
#[tokio::test]
async fn concurrent_wrong_secrets_for_an_argon2_client_back_off_rfc6749_2_3_1() {
    let app = InProcess::spawn().await;
    let answers = app.all_at_once(40, || with_authorization(&basic_header("argon", "guess"), &[CC])).await;
    assert_backed_off(&answers, 401, "invalid_client");
    // Backing off: even the right secret waits, at the token and introspection endpoints.
    let res = app.token_basic("argon", ARGON_SECRET, &[CC]).await;
    assert!(res.header("retry-after").parse::<u64>().unwrap() >= 1);
    assert_oauth_reply(&res, 429, "invalid_client");
    let res = app.post_form("/oauth2/introspect", Some(("argon", ARGON_SECRET)), &[("token", "x")]).await;
    assert_oauth_reply(&res, 429, "invalid_client");
    // Other clients are not affected.
    assert_eq!(app.token_basic("svc-a", SECRET_A, &[CC]).await.status, 200);
}

#[tokio::test]
async fn sha256_clients_are_never_throttled() {
    let app = InProcess::spawn().await;
    let answers = app.all_at_once(40, || with_authorization(&basic_header("svc-a", "guess"), &[CC])).await;
    assert!(answers.iter().all(|a| a.status == 401 && a.retry_after.is_none()), "{answers:?}");
    assert_eq!(app.token_basic("svc-a", SECRET_A, &[CC]).await.status, 200);
}

#[tokio::test]
async fn a_remembered_argon2_secret_serves_concurrent_requests() {
    let app = InProcess::spawn().await;
    assert_eq!(app.token_basic("argon", ARGON_SECRET, &[CC]).await.status, 200);
    // Remembered successes reserve no attempt, so the throttle does not cap a busy client.
    let answers =
        app.all_at_once(40, || with_authorization(&basic_header("argon", ARGON_SECRET), &[CC])).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
}

/// RFC 6749 §2.3.1: a client starting many workers at once sends its right argon2id secret
/// on many requests before any check has finished. They wait for the first checks instead of
/// being throttled, and the first success serves the rest.
#[tokio::test]
async fn a_new_argon2_clients_first_requests_at_once_all_succeed_rfc6749_2_3_1() {
    let app = InProcess::spawn().await;
    let answers =
        app.all_at_once(40, || with_authorization(&basic_header("argon", ARGON_SECRET), &[CC])).await;
    assert!(answers.iter().all(|a| a.status == 200), "{answers:?}");
}
