//! Message framing over raw TCP, where a proxy in front and tokenmint could read one request
//! two ways: `Host` (RFC 9112 §3.2), fields that are not lists (RFC 9110 §5.3), bodies
//! without a media type, declared and chunked body lengths (RFC 9112 §6, §7), transfer
//! codings, and half-closed connections (RFC 9112 §9.6).

use tokio::io::AsyncWriteExt as _;

use crate::helpers::*;
use crate::serve::{BASIC_SVC_A, Conn};

const FORM: &str = "application/x-www-form-urlencoded";
const BODY: &str = "grant_type=client_credentials";

/// A token request for `svc-a` with the given head lines (each ending in `\r\n`) before the
/// blank line, and `body` after it.
fn request(lines: &str, body: &str) -> String {
    format!("POST /oauth2/token HTTP/1.1\r\n{lines}\r\n{body}")
}

/// The head lines of a well-formed request for `BODY`, less whichever the test leaves out.
fn lines(host: bool, authorization: bool, content_type: bool) -> String {
    let mut out = String::new();
    if host {
        out += "Host: tokens.test\r\n";
    }
    if authorization {
        out += &format!("Authorization: Basic {BASIC_SVC_A}\r\n");
    }
    if content_type {
        out += &format!("Content-Type: {FORM}\r\n");
    }
    out + &format!("Content-Length: {}\r\n", BODY.len())
}

/// Sends `raw` on a new connection and reads the one answer: status and the `error`
/// member of its JSON body (`None` on success).
async fn answer(app: &TestApp, raw: &str) -> (u16, Option<String>) {
    let mut conn = Conn::open(app.addr).await;
    conn.send(raw).await;
    let answer = conn.expect_response().await;
    let error = answer.json()["error"].as_str().map(str::to_owned);
    (answer.status, error)
}

#[tokio::test]
async fn an_http_1_1_request_without_host_or_with_two_or_a_bad_one_is_400_rfc9112_3_2() {
    let app = TestApp::spawn().await;
    let ok = lines(true, true, true);
    assert_eq!(answer(&app, &request(&ok, BODY)).await, (200, None), "the well-formed request");
    let no_host = lines(false, true, true);
    let two_hosts = format!("Host: tokens.test\r\n{ok}");
    let cases = [
        ("no Host", no_host.clone()),
        ("two Host fields", two_hosts),
        ("user information", format!("Host: user:pw@tokens.test\r\n{no_host}")),
        ("a space", format!("Host: tokens test\r\n{no_host}")),
        ("a path", format!("Host: tokens.test/x\r\n{no_host}")),
        ("an empty value", format!("Host:\r\n{no_host}")),
    ];
    for (case, head) in cases {
        let mut conn = Conn::open(app.addr).await;
        conn.send(&request(&head, BODY)).await;
        let refused = conn.expect_response().await;
        assert_eq!(refused.status, 400, "{case}");
        assert_eq!(refused.json()["error"], "invalid_request", "{case}");
        assert!(refused.head.contains("connection: close"), "{case}: {}", refused.head);
        conn.expect_close().await;
    }
    // HTTP/1.0 has no Host requirement.
    let http10 = format!("POST /oauth2/token HTTP/1.0\r\n{no_host}\r\n{BODY}");
    assert_eq!(answer(&app, &http10).await, (200, None));
}

#[tokio::test]
async fn two_authorization_or_two_content_type_fields_are_invalid_request_rfc9110_5_3() {
    let app = TestApp::spawn().await;
    let ok = lines(true, true, true);
    // The second Authorization names a client that does not exist: whichever one a reader
    // picked, the answer must not depend on it.
    let two_auth = format!("Authorization: {}\r\n{ok}", basic_header("nobody", "nothing"));
    assert_eq!(answer(&app, &request(&two_auth, BODY)).await, (400, Some("invalid_request".into())));
    let two_types = format!("Content-Type: application/json\r\n{ok}");
    assert_eq!(answer(&app, &request(&two_types, BODY)).await, (400, Some("invalid_request".into())));
}

#[tokio::test]
async fn a_body_without_content_type_is_invalid_request_but_an_empty_one_with_a_query_grant_is_served() {
    let app = TestApp::spawn().await;
    let untyped = lines(true, true, false);
    let (status, error) = answer(&app, &request(&untyped, BODY)).await;
    assert_eq!((status, error.as_deref()), (400, Some("invalid_request")));
    // Apigee's documented style: grant_type in the query string, no body at all.
    let apigee = format!(
        "POST /oauth2/token?grant_type=client_credentials HTTP/1.1\r\nHost: tokens.test\r\n\
         Authorization: Basic {BASIC_SVC_A}\r\nContent-Length: 0\r\n\r\n"
    );
    assert_eq!(answer(&app, &apigee).await, (200, None));
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_413_before_the_body_is_read() {
    // The request timeout is far beyond the test's patience (`PATIENCE`, 10 s): a 413 at
    // all shows the server did not wait for a body that is never sent.
    let app = TestApp::spawn_with("[server]\nmax_body_bytes = 1024\nrequest_timeout = \"60s\"").await;
    let head = format!(
        "Host: tokens.test\r\nAuthorization: Basic {BASIC_SVC_A}\r\nContent-Type: {FORM}\r\n\
         Content-Length: 1000000000\r\n"
    );
    let mut conn = Conn::open(app.addr).await;
    conn.send(&request(&head, "grant_type=")).await;
    let refused = conn.expect_response().await;
    assert_eq!(refused.status, 413);
    assert_eq!(refused.json()["error"], "invalid_request");
    assert!(refused.head.contains("connection: close"), "{}", refused.head);
}

#[tokio::test]
async fn a_malformed_chunked_body_is_400_and_only_an_oversized_one_is_413_rfc9112_7_1() {
    let app = TestApp::spawn_with("[server]\nmax_body_bytes = 64").await;
    let chunked = format!(
        "Host: tokens.test\r\nAuthorization: Basic {BASIC_SVC_A}\r\nContent-Type: {FORM}\r\n\
         Transfer-Encoding: chunked\r\n"
    );
    let good = format!("{:x}\r\n{BODY}\r\n0\r\n\r\n", BODY.len());
    assert_eq!(answer(&app, &request(&chunked, &good)).await, (200, None), "well-formed chunks");
    // A chunk size that is not hexadecimal.
    let (status, error) = answer(&app, &request(&chunked, "zz\r\ngrant_type\r\n0\r\n\r\n")).await;
    assert_eq!((status, error.as_deref()), (400, Some("invalid_request")), "bad chunk size");
    // Chunks adding up to more than max_body_bytes.
    let big = "a".repeat(60);
    let over = format!("3c\r\n{big}\r\n3c\r\n{big}\r\n0\r\n\r\n");
    let (status, error) = answer(&app, &request(&chunked, &over)).await;
    assert_eq!((status, error.as_deref()), (413, Some("invalid_request")), "too large");
}

#[tokio::test]
async fn a_transfer_coding_other_than_one_chunked_is_refused_rfc9112_6_1() {
    let app = TestApp::spawn().await;
    let auth = format!("Host: tokens.test\r\nAuthorization: Basic {BASIC_SVC_A}\r\nContent-Type: {FORM}\r\n");
    let body = format!("{:x}\r\n{BODY}\r\n0\r\n\r\n", BODY.len());
    for coding in ["gzip, chunked", "chunked, chunked", "identity, chunked"] {
        let head = format!("{auth}Transfer-Encoding: {coding}\r\n");
        let mut conn = Conn::open(app.addr).await;
        conn.send(&request(&head, &body)).await;
        let refused = conn.expect_response().await;
        assert_eq!(refused.status, 400, "{coding}");
        assert_eq!(refused.json()["error"], "invalid_request", "{coding}");
        conn.expect_close().await;
    }
    // Two fields that together apply chunked twice.
    let head = format!("{auth}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n");
    assert_eq!(answer(&app, &request(&head, &body)).await, (400, Some("invalid_request".into())));
}

#[tokio::test]
async fn a_client_that_half_closes_after_its_request_still_gets_every_response_rfc9112_9_6() {
    let app = TestApp::spawn().await;
    let head = request(&lines(true, true, true), "");
    for i in 0..20 {
        // The end of the stream arrives while the server waits for the body.
        let mut conn = Conn::open(app.addr).await;
        conn.send(&head).await;
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        conn.send(BODY).await;
        conn.stream.shutdown().await.unwrap();
        let answer = conn.expect_response().await;
        assert_eq!(answer.status, 200, "request {i}");
        assert!(answer.json()["access_token"].is_string(), "request {i}");
    }
}
