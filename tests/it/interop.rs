//! Interoperability: a token fetched with the `oauth2` crate as the client, verified by an
//! independent verifier built only from the JWKS (jsonwebtoken's `DecodingKey::from_jwk`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use oauth2::basic::BasicClient;
use oauth2::{AuthType, ClientId, ClientSecret, Scope, TokenResponse as _, TokenUrl};

use crate::helpers::*;

/// The `oauth2` crate's HTTP hook, carried by reqwest (no redirects, as the crate advises).
async fn oauth2_http(request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, reqwest::Error> {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build()?;
    let response = http.execute(reqwest::Request::try_from(request)?).await?;
    let mut builder = axum::http::Response::builder().status(response.status());
    for (name, value) in response.headers() {
        builder = builder.header(name, value);
    }
    let body = response.bytes().await?.to_vec();
    Ok(builder.body(body).expect("status and headers came from a valid response"))
}

/// An `oauth2` crate client for `app`'s token endpoint; Basic authentication unless changed.
fn oauth2_client(
    app: &TestApp,
    id: &str,
    secret: &str,
) -> BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(id.into()))
        .set_client_secret(ClientSecret::new(secret.into()))
        .set_token_uri(TokenUrl::new(app.url("/oauth2/token")).unwrap())
}

#[tokio::test]
async fn the_oauth2_crate_gets_a_token_with_basic_auth() {
    let app = TestApp::spawn().await;
    let client = oauth2_client(&app, "svc-a", SECRET_A);
    let token = client
        .exchange_client_credentials()
        .add_scope(Scope::new("write".into()))
        .request_async(&oauth2_http)
        .await
        .unwrap();
    assert_eq!(token.token_type().as_ref(), "bearer");
    assert_eq!(token.scopes().unwrap()[0].as_str(), "write");
    assert!(token.expires_in().is_some());
    let claims = app.verify(token.access_token().secret(), "https://api.one").await;
    assert_eq!(claims.scope.as_deref(), Some("write"));
}

#[tokio::test]
async fn the_oauth2_crate_encodes_special_characters_and_we_decode_them_rfc6749_2_3_1() {
    let app = TestApp::spawn().await;
    let client = oauth2_client(&app, "my-client", SPECIAL_SECRET);
    let token = client.exchange_client_credentials().request_async(&oauth2_http).await.unwrap();
    assert_eq!(app.verify(token.access_token().secret(), "https://api.one").await.sub, "my-client");
}

#[tokio::test]
async fn the_oauth2_crate_with_client_secret_post() {
    let app = TestApp::spawn().await;
    let client = oauth2_client(&app, "svc-a", SECRET_A).set_auth_type(AuthType::RequestBody);
    let token = client.exchange_client_credentials().request_async(&oauth2_http).await.unwrap();
    app.verify(token.access_token().secret(), "https://api.one").await;
}

#[tokio::test]
async fn the_oauth2_crate_surfaces_our_error_codes() {
    let app = TestApp::spawn().await;
    let client = oauth2_client(&app, "svc-a", SECRET_A);
    let err = client
        .exchange_client_credentials()
        .add_scope(Scope::new("forbidden".into()))
        .request_async(&oauth2_http)
        .await
        .unwrap_err();
    match err {
        oauth2::RequestTokenError::ServerResponse(r) => {
            assert_eq!(r.error().as_ref(), "invalid_scope");
        }
        other => panic!("expected an RFC 6749 §5.2 error response, got {other:?}"),
    }
}

#[tokio::test]
async fn a_tampered_token_fails_independent_verification() {
    let app = TestApp::spawn().await;
    let (token, _) = app.access_token(&[]).await;
    let jwks = app.jwks().await;
    let parts: Vec<&str> = token.split('.').collect();
    // Swap the payload for one that claims another client, keeping the signature.
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    assert!(payload.contains("\"svc-a\""));
    let forged_payload = URL_SAFE_NO_PAD.encode(payload.replace("\"svc-a\"", "\"svc-b\""));
    let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
    assert!(verify_with(&jwks, &forged, "https://api.one").is_err());
    // A different signature over the genuine content.
    let (other, _) = app.access_token(&[]).await;
    let spliced = format!("{}.{}.{}", parts[0], parts[1], other.split('.').nth(2).unwrap());
    assert!(verify_with(&jwks, &spliced, "https://api.one").is_err());
    assert!(verify_with(&jwks, &token, "https://api.one").is_ok());
}
