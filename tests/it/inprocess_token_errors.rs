//! Error answers of the token endpoint (RFC 6749 §5.2, RFC 8707 §2): code, status and
//! headers, and the limits, in-process. A client's mistake never yields a 5xx or a
//! plain-text body. (A request stalled on the wire is in `serve`.)

use serde_json::{Value, json};

use crate::helpers::*;

const CC: (&str, &str) = ("grant_type", "client_credentials");

#[tokio::test]
async fn missing_grant_type_is_invalid_request_rfc6749_5_2() {
    let app = InProcess::spawn().await;
    let res = app.token_basic("svc-a", SECRET_A, &[("scope", "read")]).await;
    assert_oauth_reply(&res, 400, "invalid_request");
}

#[tokio::test]
async fn a_repeated_parameter_is_invalid_request_rfc6749_3_2() {
    let app = InProcess::spawn().await;
    let res = app.token_basic("svc-a", SECRET_A, &[CC, ("scope", "read"), ("scope", "write")]).await;
    let body = assert_oauth_reply(&res, 400, "invalid_request");
    assert!(body["error_description"].as_str().unwrap().contains("scope"));
}

#[tokio::test]
async fn unknown_parameters_are_ignored_rfc6749_3_2() {
    let app = InProcess::spawn().await;
    let res = app.token_basic("svc-a", SECRET_A, &[CC, ("colour", "blue"), ("x", "1")]).await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn more_than_64_parameters_is_invalid_request_and_64_is_fine() {
    let app = InProcess::spawn().await;
    let names: Vec<String> = (0..63).map(|i| format!("x{i}")).collect();
    let mut params: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    params.push(CC);
    let res = app.token_basic("svc-a", SECRET_A, &params).await;
    assert_eq!(res.status, 200, "64 parameters must be accepted");
    params.push(("one_too_many", "1"));
    let res = app.token_basic("svc-a", SECRET_A, &params).await;
    let body = assert_oauth_reply(&res, 400, "invalid_request");
    assert!(body["error_description"].as_str().unwrap().contains("64 parameters"));
}

#[tokio::test]
async fn an_unknown_grant_type_is_unsupported_grant_type_rfc6749_5_2() {
    let app = InProcess::spawn().await;
    for grant in ["implicit", "authorization_code", "urn:ietf:params:oauth:grant-type:device_code", " "] {
        let res = app.token_basic("svc-a", SECRET_A, &[("grant_type", grant)]).await;
        assert_oauth_reply(&res, 400, "unsupported_grant_type");
    }
}

#[tokio::test]
async fn parameters_sent_without_a_value_are_treated_as_omitted_rfc6749_3_1() {
    let app = InProcess::spawn().await;
    // An empty grant_type is a missing one, not an unsupported one.
    let res = app.token_basic("svc-a", SECRET_A, &[("grant_type", "")]).await;
    let body = assert_oauth_reply(&res, 400, "invalid_request");
    assert!(body["error_description"].as_str().unwrap().contains("missing"), "{body}");
    // Empty values never count as a repetition.
    let (_, body) = app.access_token(&[("scope", ""), ("scope", "")]).await;
    assert_eq!(body["scope"], "read", "no scope requested: the defaults");
    let (_, body) = app.access_token(&[("scope", ""), ("scope", "write")]).await;
    assert_eq!(body["scope"], "write");
    // An empty expires_in, resource or audience is not requested at all.
    let (token, body) = app.access_token(&[("expires_in", ""), ("resource", ""), ("audience", "")]).await;
    assert_eq!(body["expires_in"], 300);
    app.verify(&token, "https://api.one").await;
    // An empty grant_type in the query string does not repeat the body's.
    let res = app.post_form("/oauth2/token?grant_type=", Some(("svc-a", SECRET_A)), &[CC]).await;
    assert_eq!(res.status, 200);
    // JSON: `""` is a parameter without a value, like in a form.
    let body = json!({
        "grant_type": "client_credentials", "client_id": "svc-a", "client_secret": SECRET_A,
        "scope": "", "expires_in": "", "resource": ["", "https://api.two"], "audience": "",
    });
    let res = app.token_json(&body).await;
    assert_eq!(res.status, 200);
    let body = res.json();
    assert_eq!((body["scope"].as_str(), body["expires_in"].as_u64()), (Some("read"), Some(300)));
    app.verify(body["access_token"].as_str().unwrap(), "https://api.two").await;
    let body = json!({"grant_type": "", "client_id": "svc-a", "client_secret": SECRET_A});
    assert_oauth_reply(&app.token_json(&body).await, 400, "invalid_request");
}

#[tokio::test]
async fn every_error_description_keeps_to_the_allowed_characters_rfc6749_5_2() {
    let app = InProcess::spawn().await;
    let hostile = "q\"b\\n\u{e9}\u{20ac}\u{1}\t\r\n\u{7f}\u{202e}end";
    let long = format!("{hostile}{}", "x".repeat(5000));
    let mut answers: Vec<Reply> = Vec::new();
    for value in [hostile, long.as_str()] {
        let cases: [&[(&str, &str)]; 7] = [
            &[CC, ("scope", value)],
            &[CC, ("scope", &format!("read {value}"))],
            &[("grant_type", value)],
            &[CC, ("resource", value)],
            &[CC, ("audience", value)],
            &[CC, ("expires_in", value)],
            &[CC, (value, "1"), (value, "2")],
        ];
        for form in cases {
            answers.push(app.token_basic("svc-a", SECRET_A, form).await);
        }
        let repeated = [("token", "x"), (value, "1"), (value, "2")];
        answers.push(app.post_form("/oauth2/introspect", Some(("svc-a", SECRET_A)), &repeated).await);
        let json_key = format!("{{{}:{{\"nested\":true}}}}", json!(value));
        answers.push(app.token_raw("application/json", json_key).await);
        answers.push(app.token_raw("application/json", json!(value).to_string()).await);
    }
    answers.push(app.token_raw("text/\"x\\y", "grant_type=client_credentials").await);
    for res in answers {
        let status = res.status.as_u16();
        let body = res.json();
        assert!((400..500).contains(&status), "{status}: {body}");
        let description = body["error_description"].as_str().unwrap();
        assert_conforming_description(description);
        // An echoed value is shortened: a 5000-character value never comes back whole.
        assert!(description.len() <= 160, "{} characters: {description}", description.len());
    }
}

#[tokio::test]
async fn a_grant_the_client_lacks_is_unauthorized_client_rfc6749_5_2() {
    let app = InProcess::spawn().await;
    let res = app.token_basic("no-grants", SECRET_A, &[CC]).await;
    assert_oauth_reply(&res, 400, "unauthorized_client");
}

#[tokio::test]
async fn a_grant_switched_off_in_config_is_unsupported_for_everyone() {
    let app = InProcess::spawn_with("[grants]\ndisabled = [\"client_credentials\"]").await;
    let res = app.token_basic("svc-a", SECRET_A, &[CC]).await;
    assert_oauth_reply(&res, 400, "unsupported_grant_type");
}

#[tokio::test]
async fn a_scope_not_allowed_is_invalid_scope_rfc6749_3_3() {
    let app = InProcess::spawn().await;
    let res = app.token_basic("svc-a", SECRET_A, &[CC, ("scope", "read delete")]).await;
    let body = assert_oauth_reply(&res, 400, "invalid_scope");
    assert!(body["error_description"].as_str().unwrap().contains("delete"));
    let res = app.token_basic("svc-a", SECRET_A, &[CC, ("scope", "read \"quoted\"")]).await;
    assert_oauth_reply(&res, 400, "invalid_scope");
}

#[tokio::test]
async fn a_resource_not_allowed_is_invalid_target_rfc8707_2() {
    let app = InProcess::spawn().await;
    let res = app.token_basic("svc-a", SECRET_A, &[CC, ("resource", "https://evil.example")]).await;
    assert_oauth_reply(&res, 400, "invalid_target");
    let res = app.token_basic("svc-a", SECRET_A, &[CC, ("audience", "https://evil.example")]).await;
    assert_oauth_reply(&res, 400, "invalid_target");
}

#[tokio::test]
async fn a_resource_must_be_an_absolute_uri_without_a_fragment_rfc8707_2() {
    let app = InProcess::spawn().await;
    // `billing` is one of svc-a's audiences, but a bare name: `resource` may not name it.
    for resource in ["billing", "api.one", "/relative", "https://api.one#frag", "https://api.one#"] {
        let res = app.token_basic("svc-a", SECRET_A, &[CC, ("resource", resource)]).await;
        let body = assert_oauth_reply(&res, 400, "invalid_target");
        assert!(body["error_description"].as_str().unwrap().contains("absolute URI"), "{resource}: {body}");
    }
    // The `audience` alias stays lenient: it may name any configured audience.
    let (token, _) = app.access_token(&[("audience", "billing")]).await;
    let claims = app.verify(&token, "billing").await;
    assert_eq!(claims.aud, tokenmint::claims::Audience::One("billing".into()));
    // Both at once: the URI by `resource`, the bare name by `audience`.
    let (token, _) = app.access_token(&[("audience", "billing"), ("resource", "https://api.two")]).await;
    let claims = app.verify(&token, "billing").await;
    let both = vec!["https://api.two".to_owned(), "billing".to_owned()];
    assert_eq!(claims.aud, tokenmint::claims::Audience::Many(both));
    // A well-formed URI the client may not have is refused as before.
    let res = app.token_basic("svc-a", SECRET_A, &[CC, ("resource", "https://api.one/")]).await;
    let body = assert_oauth_reply(&res, 400, "invalid_target");
    assert!(body["error_description"].as_str().unwrap().contains("not allowed"), "{body}");
}

#[tokio::test]
async fn a_malformed_expires_in_is_invalid_request() {
    let app = InProcess::spawn().await;
    for bad in ["0", "-5", "soon", "1e3"] {
        let res = app.token_basic("svc-a", SECRET_A, &[CC, ("expires_in", bad)]).await;
        assert_oauth_reply(&res, 400, "invalid_request");
    }
}

#[tokio::test]
async fn an_oversized_body_gets_413_with_oauth_json() {
    let app = InProcess::spawn().await;
    let big = "x".repeat(20 * 1024);
    let res = app.token_basic("svc-a", SECRET_A, &[CC, ("pad", &big)]).await;
    assert_oauth_reply(&res, 413, "invalid_request");
}

#[tokio::test]
async fn oversized_headers_get_431_with_oauth_json() {
    let app = InProcess::spawn().await;
    let req = InProcess::token_req()
        .header("x-padding", "y".repeat(20 * 1024))
        .header("authorization", basic_header("svc-a", SECRET_A))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&[CC]).into())
        .unwrap();
    assert_oauth_reply(&app.request(req).await, 431, "invalid_request");
}

#[tokio::test]
async fn malformed_json_and_unknown_content_types_are_invalid_request() {
    let app = InProcess::spawn().await;
    for (ct, body) in [
        ("application/json", "{not json"),
        ("application/json", "[1,2,3]"),
        ("application/json", r#"{"grant_type": {"nested": true}}"#),
        ("application/json", r#"{"grant_type":"client_credentials","grant_type":"client_credentials"}"#),
        ("text/plain", "grant_type=client_credentials"),
        ("application/xml", "<grant/>"),
    ] {
        let res = app.token_raw(ct, body).await;
        assert_oauth_reply(&res, 400, "invalid_request");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_json() {
    let app = InProcess::spawn().await;
    let res = app.get("/nope").await;
    assert_eq!(res.status, 404);
    assert_eq!(res.json()["error"], "not_found");
    let res = app.get("/oauth2/token").await;
    assert_eq!(res.status, 405);
    assert_eq!(res.json()["error"], "method_not_allowed");
}

#[tokio::test]
async fn garbage_never_yields_a_server_error() {
    let app = InProcess::spawn().await;
    // A bounded sweep of hostile inputs: every answer must be a 4xx with a JSON body.
    let bodies: Vec<(String, Vec<u8>)> = vec![
        ("application/x-www-form-urlencoded".into(), b"%%%%&&&===".to_vec()),
        ("application/x-www-form-urlencoded".into(), vec![0xff, 0xfe, b'=', 0x80]),
        (
            "application/x-www-form-urlencoded".into(),
            b"grant_type=client_credentials&client_id=%00&client_secret=%FF".to_vec(),
        ),
        ("application/json".into(), b"".to_vec()),
        ("application/json".into(), b"null".to_vec()),
        (
            "application/json".into(),
            "{\"client_id\":\"\u{202e}\",\"client_secret\":\"x\",\"grant_type\":\"client_credentials\"}"
                .as_bytes()
                .to_vec(),
        ),
        ("application/json; charset=utf-8".into(), vec![b'{'; 5000]),
        ("multipart/form-data; boundary=x".into(), b"--x--".to_vec()),
        (
            "application/x-www-form-urlencoded".into(),
            format!(
                "grant_type=client_credentials&client_id=svc-a&client_secret={SECRET_A}&scope={}",
                "a%20".repeat(1000)
            )
            .into_bytes(),
        ),
    ];
    for (ct, body) in bodies {
        let res = app.token_raw(&ct, body).await;
        let status = res.status.as_u16();
        assert!((400..500).contains(&status), "{ct}: {status}");
        let json: Value = res.json();
        assert!(json["error"].is_string());
    }
}

#[tokio::test]
async fn the_time_limit_covers_a_slow_secret_check_not_only_the_body() {
    // 5 ms is less than one argon2id check (m=19 MiB, t=2).
    let app = InProcess::spawn_with("[server]\nrequest_timeout = \"5ms\"").await;
    let res = app.token_basic("argon", ARGON_SECRET, &[CC]).await;
    assert_oauth_reply(&res, 408, "invalid_request");
}
