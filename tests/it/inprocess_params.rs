//! Where the token endpoint takes its parameters from and the rules they follow, in-process:
//! form and JSON bodies, `grant_type` alone from the query string, values left empty dropped
//! (RFC 6749 §3.1), repetitions refused (§3.2) except `resource`/`audience` (RFC 8707 §2),
//! at most 64 parameters, and client credentials never in the query string.

use axum::body::Body;
use axum::http::Request;
use serde_json::{Value, json};
use tokenmint::claims::Audience;

use crate::helpers::*;

const CC: (&str, &str) = ("grant_type", "client_credentials");

/// The `error_description` of an `invalid_request` answer.
fn invalid_request(res: &Reply) -> String {
    assert_oauth_reply(res, 400, "invalid_request")["error_description"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn every_parameter_but_resource_and_audience_may_appear_once_rfc6749_3_2() {
    let app = InProcess::spawn().await;
    let names = [
        "grant_type",
        "scope",
        "expires_in",
        "validity_period",
        "client_id",
        "client_secret",
        "username",
        "password",
        "refresh_token",
        "colour",
    ];
    for name in names {
        let mut form =
            vec![("client_id", "svc-a"), ("client_secret", SECRET_A), CC, (name, "1"), (name, "2")];
        form.dedup();
        // Refused while parsing, before the credentials are looked at: 400, not 401.
        let description = invalid_request(&app.token_post(&form).await);
        assert!(
            description.contains("repeated parameter") && description.contains(&format!("`{name}`")),
            "{description}"
        );
        // The same value twice is a repetition too.
        let res = app.token_basic("svc-a", SECRET_A, &[CC, (name, "x"), (name, "x")]).await;
        assert!(invalid_request(&res).contains(&format!("`{name}`")));
    }
}

#[tokio::test]
async fn resource_and_audience_may_be_repeated_rfc8707_2() {
    let app = InProcess::spawn().await;
    let (token, _) = app.access_token(&[("audience", "https://api.one"), ("audience", "billing")]).await;
    let aud = app.verify(&token, "billing").await.aud;
    assert_eq!(aud, Audience::Many(vec!["https://api.one".into(), "billing".into()]));
    // In JSON: an array, or the member repeated.
    for body in [
        r#"{"grant_type":"client_credentials","resource":["https://api.one","https://api.two"]}"#,
        r#"{"grant_type":"client_credentials","resource":"https://api.one","resource":"https://api.two"}"#,
    ] {
        let req = InProcess::token_req()
            .header("authorization", basic_header("svc-a", SECRET_A))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .unwrap();
        let res = app.request(req).await;
        assert_eq!(res.status, 200, "{body}");
        let claims = app.verify(res.json()["access_token"].as_str().unwrap(), "https://api.two").await;
        assert_eq!(claims.aud, Audience::Many(vec!["https://api.one".into(), "https://api.two".into()]));
    }
    // The `resource` values come first, then the `audience` values.
    let (token, _) = app.access_token(&[("audience", "billing"), ("resource", "https://api.two")]).await;
    let aud = app.verify(&token, "billing").await.aud;
    assert_eq!(aud, Audience::Many(vec!["https://api.two".into(), "billing".into()]));
}

#[tokio::test]
async fn parameters_without_a_value_do_not_count_towards_the_64_rfc6749_3_1() {
    let app = InProcess::spawn().await;
    let names: Vec<String> = (0..100).map(|i| format!("x{i}")).collect();
    let mut form: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "")).collect();
    form.push(CC);
    assert_eq!(app.token_basic("svc-a", SECRET_A, &form).await.status, 200);
    // JSON: `""` and `null` are values left empty as well.
    let mut body: serde_json::Map<String, Value> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.clone(), if i % 2 == 0 { json!("") } else { Value::Null }))
        .collect();
    body.insert("grant_type".into(), json!("client_credentials"));
    body.insert("client_id".into(), json!("svc-a"));
    body.insert("client_secret".into(), json!(SECRET_A));
    assert_eq!(app.token_json(&Value::Object(body)).await.status, 200);
}

#[tokio::test]
async fn sixty_five_parameters_are_refused_in_json_and_with_the_query_string_too() {
    let app = InProcess::spawn().await;
    // JSON: 61 others, grant_type, client_id and client_secret are 64 ...
    let mut body: serde_json::Map<String, Value> = (0..61).map(|i| (format!("x{i}"), json!("1"))).collect();
    body.insert("grant_type".into(), json!("client_credentials"));
    body.insert("client_id".into(), json!("svc-a"));
    body.insert("client_secret".into(), json!(SECRET_A));
    assert_eq!(app.token_json(&Value::Object(body.clone())).await.status, 200, "64 members must be accepted");
    // ... and one more is too many.
    body.insert("x61".into(), json!("1"));
    assert!(invalid_request(&app.token_json(&Value::Object(body)).await).contains("more than 64 parameters"));
    // A `grant_type` from the query string counts: 64 in the body plus it is 65.
    let names: Vec<String> = (0..64).map(|i| format!("x{i}")).collect();
    let form: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "1")).collect();
    let path = "/oauth2/token?grant_type=client_credentials";
    let res = app.post_form(path, Some(("svc-a", SECRET_A)), &form).await;
    assert!(invalid_request(&res).contains("more than 64 parameters"));
    assert_eq!(app.post_form(path, Some(("svc-a", SECRET_A)), &form[1..]).await.status, 200);
}

#[tokio::test]
async fn json_null_is_a_parameter_without_a_value_rfc6749_3_1() {
    let app = InProcess::spawn().await;
    let body = json!({"grant_type": "client_credentials", "client_id": "svc-a", "client_secret": SECRET_A,
                      "scope": null, "resource": null, "expires_in": null});
    let res = app.token_json(&body).await;
    assert_eq!(res.status, 200);
    let body = res.json();
    assert_eq!((body["scope"].as_str(), body["expires_in"].as_u64()), (Some("read"), Some(300)));
    app.verify(body["access_token"].as_str().unwrap(), "https://api.one").await;
    let body = json!({"grant_type": null, "client_id": "svc-a", "client_secret": SECRET_A});
    assert!(invalid_request(&app.token_json(&body).await).contains("missing `grant_type`"));
}

#[tokio::test]
async fn json_values_are_strings_numbers_or_booleans_and_arrays_only_for_resource_and_audience() {
    let app = InProcess::spawn().await;
    let with = |name: &str, value: Value| {
        let mut body =
            json!({"grant_type": "client_credentials", "client_id": "svc-a", "client_secret": SECRET_A});
        body[name] = value;
        body
    };
    // A number is taken as its text ...
    let res = app.token_json(&with("expires_in", json!(60))).await;
    assert_eq!(res.json()["expires_in"], 60);
    // ... so is a boolean (here a scope `true`, which svc-a may not have).
    let res = app.token_json(&with("scope", json!(true))).await;
    let body = assert_oauth_reply(&res, 400, "invalid_scope");
    assert!(body["error_description"].as_str().unwrap().contains("`true`"), "{body}");
    // An array, an object, or an array of anything but strings names the member refused.
    for (name, value) in [
        ("scope", json!(["read"])),
        ("grant_type", json!(["client_credentials"])),
        ("expires_in", json!({"seconds": 60})),
        ("resource", json!([1])),
        ("audience", json!([["https://api.one"]])),
    ] {
        let description = invalid_request(&app.token_json(&with(name, value.clone())).await);
        assert!(
            description.contains("must be a string") && description.contains(&format!("`{name}`")),
            "{name} {value}: {description}"
        );
    }
    // A JSON body that is not an object says where it broke, and quotes nothing of it.
    for (body, kind) in [
        ("[\"secret-a\"]", "not an object"),
        ("{\"scope\": \"secret-a", "cut short"),
        ("{secret-a}", "malformed"),
    ] {
        let description = invalid_request(&app.token_raw("application/json", body).await);
        assert!(description.contains(kind) && description.contains("line 1"), "{body}: {description}");
        assert!(!description.contains(SECRET_A), "{description}");
    }
}

#[tokio::test]
async fn only_grant_type_is_taken_from_the_query_string() {
    let app = InProcess::spawn().await;
    // Other parameters there are ignored: the defaults apply, not `write` or api.two.
    let path = "/oauth2/token?scope=write&resource=https%3A%2F%2Fapi.two&expires_in=60&colour=blue";
    let res = app.post_form(path, Some(("svc-a", SECRET_A)), &[CC]).await;
    assert_eq!(res.status, 200);
    let body = res.json();
    assert_eq!((body["scope"].as_str(), body["expires_in"].as_u64()), (Some("read"), Some(300)));
    app.verify(body["access_token"].as_str().unwrap(), "https://api.one").await;
    // Nor does the query string repeat them: `scope` in both places is no repetition.
    let res =
        app.post_form("/oauth2/token?scope=read", Some(("svc-a", SECRET_A)), &[CC, ("scope", "write")]).await;
    assert_eq!(res.json()["scope"], "write");
}

#[tokio::test]
async fn grant_type_from_the_query_string_needs_no_body() {
    let app = InProcess::spawn().await;
    let path = "/oauth2/token?grant_type=client_credentials";
    // No body and no content type: parsed as an empty form.
    for content_type in [None, Some("application/x-www-form-urlencoded")] {
        let mut req = Request::post(path).header("authorization", basic_header("svc-a", SECRET_A));
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let res = app.request(req.body(Body::empty()).unwrap()).await;
        assert_eq!(res.status, 200, "{content_type:?}: {}", String::from_utf8_lossy(&res.body));
        let claims = app.verify(res.json()["access_token"].as_str().unwrap(), "https://api.one").await;
        assert_eq!(claims.client_id, "svc-a");
    }
    // An empty JSON body is no JSON object, whatever the query string says.
    let req = Request::post(path)
        .header("authorization", basic_header("svc-a", SECRET_A))
        .header("content-type", "application/json")
        .body(Body::empty())
        .unwrap();
    assert!(invalid_request(&app.request(req).await).contains("JSON"));
}

#[tokio::test]
async fn client_credentials_in_the_query_string_are_refused_one_by_one() {
    let app = InProcess::spawn().await;
    for query in
        ["client_id=svc-a", "client_secret=secret-a", "grant_type=client_credentials&client_id=svc-a"]
    {
        let path = format!("/oauth2/token?{query}");
        // With Basic credentials too: the secret may already sit in a log.
        let res = app.post_form(&path, Some(("svc-a", SECRET_A)), &[("scope", "read")]).await;
        assert!(invalid_request(&res).contains("query string"), "{query}");
        let res =
            app.post_form(&path, None, &[CC, ("client_id", "svc-a"), ("client_secret", SECRET_A)]).await;
        assert!(invalid_request(&res).contains("query string"), "{query}");
    }
    // An empty one is no parameter at all (RFC 6749 §3.1).
    let res =
        app.post_form("/oauth2/token?client_id=&client_secret=", Some(("svc-a", SECRET_A)), &[CC]).await;
    assert_eq!(res.status, 200);
}

#[tokio::test]
async fn basic_and_a_body_client_secret_are_refused_in_json_too_rfc6749_2_3() {
    let app = InProcess::spawn().await;
    let req = InProcess::token_req()
        .header("authorization", basic_header("svc-a", SECRET_A))
        .header("content-type", "application/json")
        .body(json!({"grant_type": "client_credentials", "client_secret": SECRET_A}).to_string().into())
        .unwrap();
    let description = invalid_request(&app.request(req).await);
    assert!(description.contains("one client authentication method"), "{description}");
    // Even when the secrets differ, and whichever is right.
    let res =
        app.token_basic("svc-a", "wrong", &[CC, ("client_id", "svc-a"), ("client_secret", SECRET_A)]).await;
    assert!(invalid_request(&res).contains("one client authentication method"));
}

#[tokio::test]
async fn media_types_match_without_case_or_parameters() {
    let app = InProcess::spawn().await;
    let form = form_body(&[CC]);
    for ct in [
        "application/x-www-form-urlencoded; charset=UTF-8",
        "APPLICATION/X-WWW-FORM-URLENCODED",
        " application/x-www-form-urlencoded ;charset=utf-8",
    ] {
        let req = InProcess::token_req()
            .header("authorization", basic_header("svc-a", SECRET_A))
            .header("content-type", ct)
            .body(form.clone().into())
            .unwrap();
        assert_eq!(app.request(req).await.status, 200, "{ct}");
    }
    let json = json!({"grant_type": "client_credentials"}).to_string();
    for ct in ["application/json; charset=utf-8", "Application/JSON"] {
        let req = InProcess::token_req()
            .header("authorization", basic_header("svc-a", SECRET_A))
            .header("content-type", ct)
            .body(json.clone().into())
            .unwrap();
        assert_eq!(app.request(req).await.status, 200, "{ct}");
    }
    // Without a content type, a body is not guessed at (tests/it/framing.rs has the rest).
    let req = InProcess::token_req()
        .header("authorization", basic_header("svc-a", SECRET_A))
        .body(form.into())
        .unwrap();
    let untyped = app.request(req).await;
    assert_eq!(untyped.status, 400);
    assert_eq!(untyped.json()["error"], "invalid_request");
}

#[tokio::test]
async fn an_unsupported_content_type_is_named_without_its_parameters() {
    let app = InProcess::spawn().await;
    for (ct, named) in [
        ("text/plain", "`text/plain`"),
        ("multipart/form-data; boundary=secret-a", "`multipart/form-data`"),
        ("application/jwt", "`application/jwt`"),
    ] {
        let res = app.token_raw(ct, "grant_type=client_credentials").await;
        let description = invalid_request(&res);
        assert!(description.starts_with("unsupported content type"), "{description}");
        assert!(description.contains(named) && !description.contains(SECRET_A), "{ct}: {description}");
    }
}
