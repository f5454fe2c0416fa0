//! HTTP/2 on the service's port (RFC 9113): prior-knowledge h2c without TLS (§3.3), h2 by
//! ALPN with TLS (§3.2), HTTP/1.1 beside both. The token endpoint's behaviour, which is not
//! about HTTP/1.1 framing, is checked the same over every transport; then what is HTTP/2's
//! own: the advertised stream bound and `:authority` against `Host`.

use serde_json::Value;

use crate::helpers::*;
use crate::tls::{TestCa, TlsServer};

/// The token endpoint's behaviour over `http` at `base` (`http://addr` or `https://addr`),
/// every answer in `version`.
async fn token_endpoint_checks(http: &reqwest::Client, base: &str, version: reqwest::Version) {
    let url = format!("{base}/oauth2/token");
    let jwks: jsonwebtoken::jwk::JwkSet =
        http.get(format!("{base}/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    let check = |res: reqwest::Response, status: u16| {
        assert_eq!((res.status().as_u16(), res.version()), (status, version), "{res:?}");
        res
    };
    let basic = |form: &[(&str, &str)]| http.post(&url).basic_auth("svc-a", Some(SECRET_A)).form(form).send();

    // RFC 6749 §4.4.2, client_secret_basic (§2.3.1): a token the JWKS verifies.
    let res = check(basic(&[("grant_type", "client_credentials")]).await.unwrap(), 200);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims = verify_with(&jwks, &token, "https://api.one").unwrap();
    assert_eq!(claims.client_id, "svc-a");
    // client_secret_post (RFC 6749 §2.3.1), a narrower scope (§3.3) and a resource (RFC 8707).
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", "svc-a"),
        ("client_secret", SECRET_A),
        ("scope", "write"),
    ];
    let res = check(
        http.post(&url)
            .form(&[form.as_slice(), &[("resource", "https://api.two")]].concat())
            .send()
            .await
            .unwrap(),
        200,
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["scope"], "write");
    verify_with(&jwks, body["access_token"].as_str().unwrap(), "https://api.two").unwrap();
    // A JSON body.
    let json = serde_json::json!({"grant_type": "client_credentials", "client_id": "svc-a", "client_secret": SECRET_A});
    check(http.post(&url).json(&json).send().await.unwrap(), 200);
    // RFC 6749 §5.2: a wrong secret is 401 invalid_client with a challenge.
    let res =
        http.post(&url).basic_auth("svc-a", Some("wrong")).form(&[("grant_type", "client_credentials")]);
    let res = check(res.send().await.unwrap(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_client");
    // An unknown grant, a scope the client does not have, an audience it may not ask for.
    for (form, code) in [
        (&[("grant_type", "urn:example:nope")][..], "unsupported_grant_type"),
        (&[("grant_type", "client_credentials"), ("scope", "root")], "invalid_scope"),
        (&[("grant_type", "client_credentials"), ("resource", "https://elsewhere")], "invalid_target"),
    ] {
        let res = check(basic(form).await.unwrap(), 400);
        assert_eq!(res.json::<Value>().await.unwrap()["error"], code);
    }
    // A body over server.max_body_bytes: 413 with OAuth JSON.
    let big = "x".repeat(20 * 1024);
    let res = http
        .post(&url)
        .basic_auth("svc-a", Some(SECRET_A))
        .form(&[("grant_type", "client_credentials"), ("pad", &big)]);
    let res = check(res.send().await.unwrap(), 413);
    assert_eq!(res.json::<Value>().await.unwrap()["error"], "invalid_request");
    // GET is 405 naming POST (RFC 9110 §15.5.6).
    let res = check(http.get(&url).send().await.unwrap(), 405);
    assert_eq!(res.headers()["allow"], "POST");
    // Introspection (RFC 7662 §2) of the first token.
    let res = http
        .post(format!("{base}/oauth2/introspect"))
        .basic_auth("svc-a", Some(SECRET_A))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(check(res, 200).json::<Value>().await.unwrap()["active"], true);
    // The JWKS answers 304 to its own ETag.
    let res = check(http.get(format!("{base}/.well-known/jwks.json")).send().await.unwrap(), 200);
    let etag = res.headers()["etag"].clone();
    let res =
        http.get(format!("{base}/.well-known/jwks.json")).header("if-none-match", etag).send().await.unwrap();
    check(res, 304);
}

#[tokio::test]
async fn the_token_endpoint_behaves_the_same_over_http1_h2c_and_h2_over_tls_rfc9113() {
    let mut app = TestApp::spawn().await;
    let base = format!("http://{}", app.addr);
    token_endpoint_checks(&app.http, &base, reqwest::Version::HTTP_11).await;
    // h2c with prior knowledge (RFC 9113 §3.3), on the same port.
    app.http = reqwest::Client::builder().http2_prior_knowledge().build().unwrap();
    token_endpoint_checks(&app.http, &base, reqwest::Version::HTTP_2).await;
    // h2 chosen by ALPN over TLS (RFC 9113 §3.2), and HTTP/1.1 over TLS beside it.
    let ca = TestCa::new("test CA");
    let server = TlsServer::spawn(&ca, "").await;
    let base = server.url("");
    token_endpoint_checks(&ca.client(), &base, reqwest::Version::HTTP_2).await;
    let http1 = ca.client_with(reqwest::Client::builder().http1_only());
    token_endpoint_checks(&http1, &base, reqwest::Version::HTTP_11).await;
}

/// An h2 client connection (prior knowledge) to `addr`, driven in the background.
async fn h2_connect(addr: std::net::SocketAddr) -> h2::client::SendRequest<bytes::Bytes> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    tokio::spawn(conn);
    client
}

/// Sends `request` without a body and returns the status and body.
async fn h2_send(
    client: &mut h2::client::SendRequest<bytes::Bytes>,
    request: axum::http::Request<()>,
) -> (u16, Vec<u8>) {
    let mut ready = client.clone().ready().await.unwrap();
    let (response, _) = ready.send_request(request, true).unwrap();
    let response = response.await.unwrap();
    let status = response.status().as_u16();
    let mut body = response.into_body();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.data().await {
        let chunk = chunk.unwrap();
        body.flow_control().release_capacity(chunk.len()).unwrap();
        bytes.extend_from_slice(&chunk);
    }
    *client = ready;
    (status, bytes)
}

#[tokio::test]
async fn the_server_advertises_its_stream_bound_rfc9113_6_5_2() {
    let app = TestApp::spawn_with("[server]\nmax_concurrent_streams = 7").await;
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (mut client, mut conn) = h2::client::handshake(tcp).await.unwrap();
    let request = axum::http::Request::get(format!("http://{}/healthz", app.addr)).body(()).unwrap();
    let (response, _) = client.send_request(request, true).unwrap();
    // The connection is driven here, not in a task, so its settings can be read after.
    let response = tokio::select! {
        response = response => response.unwrap(),
        ended = &mut conn => panic!("the connection ended first: {ended:?}"),
    };
    assert_eq!(response.status(), 200);
    // The server's SETTINGS came before its first answer.
    assert_eq!(conn.max_concurrent_send_streams(), 7);
}

#[tokio::test]
async fn an_h2_host_that_differs_from_authority_is_refused_rfc9113_8_3_1() {
    let app = TestApp::spawn().await;
    let mut client = h2_connect(app.addr).await;
    let request = axum::http::Request::get(format!("http://{}/healthz", app.addr))
        .header("host", "elsewhere.example")
        .body(())
        .unwrap();
    let (status, body) = h2_send(&mut client, request).await;
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "invalid_request");
    assert!(body["error_description"].as_str().unwrap().contains(":authority"));
    // The same Host as :authority is fine.
    let mut client = h2_connect(app.addr).await;
    let request = axum::http::Request::get(format!("http://{}/healthz", app.addr))
        .header("host", app.addr.to_string())
        .body(())
        .unwrap();
    assert_eq!(h2_send(&mut client, request).await.0, 200);
}

#[tokio::test]
async fn a_burst_of_reset_streams_closes_the_connection_cve_2023_44487() {
    let app = TestApp::spawn().await;
    let tcp = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    let (client, conn) = h2::client::handshake(tcp).await.unwrap();
    let conn = tokio::spawn(conn);
    // The "rapid reset" attack: open streams and cancel them at once, far more than the
    // server lets a client reset before it has served them.
    let mut client = client.ready().await.unwrap();
    for _ in 0..200 {
        let request =
            axum::http::Request::post(format!("http://{}/oauth2/token", app.addr)).body(()).unwrap();
        let Ok((_, mut stream)) = client.send_request(request, false) else { break };
        stream.send_reset(h2::Reason::CANCEL);
        match client.clone().ready().await {
            Ok(ready) => client = ready,
            Err(_) => break,
        }
    }
    // The server answers with GOAWAY: the connection ends, with ENHANCE_YOUR_CALM.
    let ended = tokio::time::timeout(std::time::Duration::from_secs(10), conn)
        .await
        .expect("the connection stayed open");
    let error = ended.unwrap().expect_err("the connection ended cleanly");
    assert_eq!(error.reason(), Some(h2::Reason::ENHANCE_YOUR_CALM), "{error}");
    // Other connections are served as before.
    assert_eq!(
        app.token_basic("svc-a", SECRET_A, &[("grant_type", "client_credentials")]).await.status(),
        200
    );
}
