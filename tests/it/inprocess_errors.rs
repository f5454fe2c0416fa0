//! The shape of every error answer, in-process: each error path of the token endpoint gives
//! RFC 6749 §5.2 JSON (`error`, an `error_description` within §5.2's characters), never
//! cached (`Cache-Control: no-store`, `Pragma: no-cache`, RFC 6749 §5.1), as
//! `application/json`; a 401 carries the Basic challenge (RFC 9110 §11.6.1) and nothing else
//! does; unknown paths and wrong methods answer JSON too.

use axum::body::Body;
use axum::http::Request;
use serde_json::json;

use crate::helpers::*;
use crate::password::USERS;

const CC: (&str, &str) = ("grant_type", "client_credentials");

/// What a client that may use every grant needs: the shared clients plus the users.
async fn app() -> InProcess {
    InProcess::spawn_config(&format!("{CLIENTS}{USERS}"), std::sync::Arc::new(tokenmint::clock::SystemClock))
        .await
}

fn form_with(authorization: Option<&str>, path: &str, form: &[(&str, &str)]) -> Request<Body> {
    let mut req = Request::post(path).header("content-type", "application/x-www-form-urlencoded");
    if let Some(value) = authorization {
        req = req.header("authorization", value);
    }
    req.body(form_body(form).into()).unwrap()
}

fn basic_form(form: &[(&str, &str)]) -> Request<Body> {
    form_with(Some(&basic_header("svc-a", SECRET_A)), "/oauth2/token", form)
}

fn raw(content_type: &str, body: &str) -> Request<Body> {
    InProcess::token_req()
        .header("content-type", content_type)
        .header("authorization", basic_header("svc-a", SECRET_A))
        .body(body.to_owned().into())
        .unwrap()
}

/// One request for each way the token endpoint refuses one, with the status and code.
fn token_error_cases() -> Vec<(&'static str, Request<Body>, u16, &'static str)> {
    let many: Vec<(String, &str)> = (0..65).map(|i| (format!("x{i}"), "1")).collect();
    let mut too_many: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    too_many.push(CC);
    let big = "x".repeat(20 * 1024);
    let b64 = |raw: &str| {
        use base64::Engine as _;
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
    };
    vec![
        ("missing grant_type", basic_form(&[("scope", "read")]), 400, "invalid_request"),
        (
            "repeated parameter",
            basic_form(&[CC, ("scope", "read"), ("scope", "read")]),
            400,
            "invalid_request",
        ),
        ("65 parameters", basic_form(&too_many), 400, "invalid_request"),
        (
            "client_id in the query",
            form_with(None, "/oauth2/token?client_id=svc-a", &[CC, ("client_secret", SECRET_A)]),
            400,
            "invalid_request",
        ),
        ("Basic and client_secret", basic_form(&[CC, ("client_secret", SECRET_A)]), 400, "invalid_request"),
        (
            "Basic and another client_id",
            basic_form(&[CC, ("client_id", "my-client")]),
            400,
            "invalid_request",
        ),
        (
            "unsupported content type",
            raw("text/plain", "grant_type=client_credentials"),
            400,
            "invalid_request",
        ),
        ("malformed JSON", raw("application/json", "{\"grant_type\":"), 400, "invalid_request"),
        ("JSON object value", raw("application/json", r#"{"grant_type":{}}"#), 400, "invalid_request"),
        (
            "JSON array for scope",
            raw("application/json", r#"{"grant_type":"client_credentials","scope":["read"]}"#),
            400,
            "invalid_request",
        ),
        ("malformed expires_in", basic_form(&[CC, ("expires_in", "soon")]), 400, "invalid_request"),
        (
            "password grant without a password",
            form_with(
                Some(&basic_header("app", SECRET_A)),
                "/oauth2/token",
                &[("grant_type", "password"), ("username", "alice")],
            ),
            400,
            "invalid_request",
        ),
        (
            "refresh grant without a refresh_token",
            form_with(
                Some(&basic_header("app", SECRET_A)),
                "/oauth2/token",
                &[("grant_type", "refresh_token")],
            ),
            400,
            "invalid_request",
        ),
        ("no credentials", form_with(None, "/oauth2/token", &[CC]), 401, "invalid_client"),
        (
            "client_id without a secret",
            form_with(None, "/oauth2/token", &[CC, ("client_id", "svc-a")]),
            401,
            "invalid_client",
        ),
        ("malformed Basic", form_with(Some(&b64("nocolon")), "/oauth2/token", &[CC]), 401, "invalid_client"),
        (
            "Bearer instead of Basic",
            form_with(Some("Bearer abc"), "/oauth2/token", &[CC]),
            401,
            "invalid_client",
        ),
        (
            "wrong secret",
            form_with(Some(&basic_header("svc-a", "wrong")), "/oauth2/token", &[CC]),
            401,
            "invalid_client",
        ),
        (
            "wrong client_secret_post",
            form_with(None, "/oauth2/token", &[CC, ("client_id", "svc-a"), ("client_secret", "wrong")]),
            401,
            "invalid_client",
        ),
        (
            "unknown client",
            form_with(Some(&basic_header("ghost", SECRET_A)), "/oauth2/token", &[CC]),
            401,
            "invalid_client",
        ),
        ("unknown grant type", basic_form(&[("grant_type", "implicit")]), 400, "unsupported_grant_type"),
        (
            "grant the client lacks",
            form_with(Some(&basic_header("no-grants", SECRET_A)), "/oauth2/token", &[CC]),
            400,
            "unauthorized_client",
        ),
        ("scope not allowed", basic_form(&[CC, ("scope", "delete")]), 400, "invalid_scope"),
        (
            "resource not allowed",
            basic_form(&[CC, ("resource", "https://evil.example")]),
            400,
            "invalid_target",
        ),
        ("relative resource", basic_form(&[CC, ("resource", "/api")]), 400, "invalid_target"),
        (
            "invalid refresh token",
            form_with(
                Some(&basic_header("app", SECRET_A)),
                "/oauth2/token",
                &[("grant_type", "refresh_token"), ("refresh_token", "garbage")],
            ),
            400,
            "invalid_grant",
        ),
        (
            "wrong password",
            form_with(
                Some(&basic_header("app", SECRET_A)),
                "/oauth2/token",
                &[("grant_type", "password"), ("username", "alice"), ("password", "wrong")],
            ),
            400,
            "invalid_grant",
        ),
        ("body too large", basic_form(&[CC, ("pad", &big)]), 413, "invalid_request"),
        (
            "headers too large",
            InProcess::token_req()
                .header("x-padding", "y".repeat(20 * 1024))
                .header("authorization", basic_header("svc-a", SECRET_A))
                .body(form_body(&[CC]).into())
                .unwrap(),
            431,
            "invalid_request",
        ),
    ]
}

#[tokio::test]
async fn every_error_path_of_the_token_endpoint_is_rfc6749_5_2_json_never_cached() {
    let app = app().await;
    let cases = token_error_cases();
    assert!(cases.len() >= 29, "{} cases", cases.len());
    for (what, req, status, code) in cases {
        let res = app.request(req).await;
        // Status, code, a conforming description, no-store, no-cache, JSON, and the Basic
        // challenge on a 401.
        assert_oauth_reply(&res, status, code);
        assert_eq!(res.header("content-type"), "application/json", "{what}");
        let body = res.json();
        let members: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(members, ["error", "error_description"], "{what}: {body}");
        // The challenge comes with the 401s (RFC 6749 §5.2, RFC 9110 §15.5.2) and only them.
        assert_eq!(res.headers.contains_key("www-authenticate"), status == 401, "{what}");
        assert!(!res.headers.contains_key("retry-after"), "{what}: only throttled answers say when to retry");
    }
}

#[tokio::test]
async fn the_challenge_is_exactly_basic_realm_tokenmint_on_every_401_rfc9110_11_6_1() {
    let app = app().await;
    for (what, req, status, _) in token_error_cases() {
        if status != 401 {
            continue;
        }
        let res = app.request(req).await;
        let challenges: Vec<_> = res.headers.get_all("www-authenticate").iter().collect();
        assert_eq!(challenges, ["Basic realm=\"tokenmint\""], "{what}");
    }
    // The introspection endpoint authenticates its callers the same way.
    let res = app.request(form_with(None, "/oauth2/introspect", &[("token", "x")])).await;
    assert_oauth_reply(&res, 401, "invalid_client");
    let res = app
        .request(form_with(Some(&basic_header("svc-a", "wrong")), "/oauth2/introspect", &[("token", "x")]))
        .await;
    assert_oauth_reply(&res, 401, "invalid_client");
}

#[tokio::test]
async fn a_request_over_its_time_limit_gets_408_json() {
    let app = InProcess::spawn_with("[server]\nrequest_timeout = \"5ms\"").await;
    let req = form_with(Some(&basic_header("argon", ARGON_SECRET)), "/oauth2/token", &[CC]);
    let res = app.request(req).await;
    assert_oauth_reply(&res, 408, "invalid_request");
    assert!(res.json()["error_description"].as_str().unwrap().contains("timed out"));
}

#[tokio::test]
async fn a_throttled_client_gets_429_json_with_retry_after_rfc6749_2_3_1() {
    let app = InProcess::spawn().await;
    for _ in 0..5 {
        let res = app.request(form_with(Some(&basic_header("argon", "guess")), "/oauth2/token", &[CC])).await;
        assert_oauth_reply(&res, 401, "invalid_client");
    }
    let res = app.request(form_with(Some(&basic_header("argon", "guess")), "/oauth2/token", &[CC])).await;
    let body = assert_oauth_reply(&res, 429, "invalid_client");
    let wait: u64 = res.header("retry-after").parse().unwrap();
    assert!(wait >= 1, "{wait}");
    // The description says how long, the same number of seconds as Retry-After.
    let description = body["error_description"].as_str().unwrap();
    assert!(description.contains(&format!("retry in {wait} s")), "{description}");
    // The challenge comes with 401s only (RFC 9110 §15.5.2), not with the 429.
    assert!(!res.headers.contains_key("www-authenticate"));
}

#[tokio::test]
async fn an_unknown_path_is_404_json_for_every_method() {
    let app = app().await;
    for (method, path) in [
        ("GET", "/nope"),
        ("POST", "/token"),
        ("GET", "/oauth2/token/x"),
        ("DELETE", "/"),
        ("GET", "/.well-known/jwks"),
    ] {
        let req = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        let res = app.request(req).await;
        let body = assert_oauth_reply(&res, 404, "not_found");
        assert_eq!(res.header("content-type"), "application/json", "{method} {path}");
        assert_eq!(body["error_description"], "no such endpoint", "{method} {path}");
    }
}

#[tokio::test]
async fn a_known_path_with_the_wrong_method_is_405_json_with_allow_rfc9110_15_5_6() {
    let app = app().await;
    for (method, path) in [
        ("GET", "/oauth2/token"),
        ("PUT", "/oauth2/token"),
        ("GET", "/oauth2/introspect"),
        ("POST", "/.well-known/jwks.json"),
        ("DELETE", "/.well-known/oauth-authorization-server"),
        ("POST", "/.well-known/openid-configuration"),
        ("POST", "/healthz"),
        ("PATCH", "/readyz"),
    ] {
        let req = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        let res = app.request(req).await;
        let body = assert_oauth_reply(&res, 405, "method_not_allowed");
        assert_eq!(res.header("content-type"), "application/json", "{method} {path}");
        assert!(!body["error_description"].as_str().unwrap().is_empty());
        // RFC 9110 §15.5.6: a 405 lists the methods the resource supports.
        let allowed = if path.starts_with("/oauth2/") { "POST" } else { "GET,HEAD" };
        assert_eq!(res.header("allow"), allowed, "{method} {path}");
    }
}

#[tokio::test]
async fn introspection_errors_are_rfc6749_5_2_json_too_rfc7662_2_3() {
    let app = app().await;
    let svc_a = basic_header("svc-a", SECRET_A);
    let cases = [
        (form_with(Some(&svc_a), "/oauth2/introspect", &[]), 400, "invalid_request"),
        (
            form_with(Some(&svc_a), "/oauth2/introspect", &[("token", "a"), ("token", "b")]),
            400,
            "invalid_request",
        ),
        (form_with(None, "/oauth2/introspect", &[("token", "x")]), 401, "invalid_client"),
        (
            Request::post("/oauth2/introspect")
                .header("authorization", &svc_a)
                .header("content-type", "text/plain")
                .body(Body::from("token=x"))
                .unwrap(),
            400,
            "invalid_request",
        ),
    ];
    for (req, status, code) in cases {
        assert_oauth_reply(&app.request(req).await, status, code);
    }
    // RFC 7662 §2.2: any token not active is `{"active": false}`, also never cached.
    let res = app.request(form_with(Some(&svc_a), "/oauth2/introspect", &[("token", "garbage")])).await;
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), json!({"active": false}));
    assert_eq!((res.header("cache-control"), res.header("pragma")), ("no-store", "no-cache"));
}
