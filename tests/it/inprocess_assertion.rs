//! `private_key_jwt` (RFC 7523 §2.2 and §3, RFC 7521 §4.2): clients that sign an assertion
//! with their own key instead of sending a secret, through the token endpoint in-process.

use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};
use tokenmint::config::Config;

use crate::foreign::{TestKey, assertion_claims, jwks_of};
use crate::helpers::*;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const TOKEN_ENDPOINT: &str = "https://tokens.test/oauth2/token";

/// A `reporting` client with `keys` inline (private_key_jwt only), a `both` client with a
/// secret and a key (migration), and the shared secret clients; plus `extra` TOML.
fn config(keys: &[&TestKey], extra: &str) -> String {
    let jwks = jwks_of(keys).to_string();
    format!(
        "{extra}\n[[clients]]\nid = \"reporting\"\njwks = '{jwks}'\nscopes = [\"read\"]\naudiences = [\"https://api.one\"]\n\
         [[clients]]\nid = \"both\"\nsecret_hashes = [\"sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1\"]\n\
         jwks = '{jwks}'\naudiences = [\"https://api.one\"]\n{CLIENTS}"
    )
}

/// The application on exactly `toml`.
async fn serve(toml: &str) -> InProcess {
    InProcess::spawn_config(toml, std::sync::Arc::new(tokenmint::clock::SystemClock)).await
}

/// POSTs the assertion (and `client_id`, if given) with `client_credentials`.
async fn present(app: &InProcess, assertion: &str, client_id: Option<&str>) -> Reply {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    app.token_post(&form).await
}

/// The answer every refused client authentication gets (RFC 6749 §5.2, RFC 7523 §3.2).
fn assert_invalid_client(reply: &Reply, case: &str) {
    assert_eq!(reply.status, 401, "{case}: {}", String::from_utf8_lossy(&reply.body));
    let body = reply.json();
    assert_eq!(body["error"], "invalid_client", "{case}");
}

#[tokio::test]
async fn an_es256_or_eddsa_assertion_gets_a_token_for_its_client_rfc7523_2_2() {
    let (es, ed) = (TestKey::es256("es-1"), TestKey::ed25519("ed-1"));
    let app = serve(&config(&[&es, &ed], "")).await;
    for (key, aud) in [(&es, ISSUER), (&ed, TOKEN_ENDPOINT)] {
        let reply = present(&app, &key.sign(&assertion_claims("reporting", aud)), Some("reporting")).await;
        assert_eq!(reply.status, 200, "{:?}: {}", key.alg, String::from_utf8_lossy(&reply.body));
        let token = reply.json()["access_token"].as_str().unwrap().to_owned();
        let claims = app.verify(&token, "https://api.one").await;
        assert_eq!(claims.sub, "reporting");
        assert_eq!(claims.client_id, "reporting");
    }
    // `client_id` may be left out: the assertion's `sub` names the client (RFC 7521 §4.2).
    let reply = present(&app, &es.sign(&assertion_claims("reporting", ISSUER)), None).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    // The same in a JSON body.
    let body = json!({
        "grant_type": "client_credentials", "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": es.sign(&assertion_claims("reporting", ISSUER)),
    });
    assert_eq!(app.token_json(&body).await.status, 200);
}

#[tokio::test]
async fn an_assertion_without_kid_uses_the_only_key_of_its_algorithm() {
    let key = TestKey::es256("unused");
    let jwks = json!({ "keys": [key.jwk_without_kid()] }).to_string();
    let toml = format!("[[clients]]\nid = \"lone\"\njwks = '{jwks}'\naudiences = [\"https://api.one\"]\n");
    let app = serve(&toml).await;
    let header = Header::new(Algorithm::ES256);
    let reply = present(&app, &key.sign_with(&header, &assertion_claims("lone", ISSUER)), None).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
}

#[tokio::test]
async fn an_assertion_is_single_use_rfc7523_3() {
    let key = TestKey::es256("k1");
    let app = serve(&config(&[&key], "")).await;
    let assertion = key.sign(&assertion_claims("reporting", ISSUER));
    assert_eq!(present(&app, &assertion, None).await.status, 200);
    assert_invalid_client(&present(&app, &assertion, None).await, "replayed jti");
    // Another jti is a new assertion.
    assert_eq!(present(&app, &key.sign(&assertion_claims("reporting", ISSUER)), None).await.status, 200);
}

#[tokio::test]
async fn every_bad_assertion_is_invalid_client_with_the_answer_of_a_wrong_secret_rfc7523_3() {
    let key = TestKey::es256("k1");
    let app = serve(&config(&[&key], "")).await;
    let wrong_secret = app.token_basic("svc-a", "wrong", &[("grant_type", "client_credentials")]).await;
    let now = unix_now();
    let good = || assertion_claims("reporting", ISSUER);
    let with = |name: &str, value: Value| {
        let mut c = good();
        c[name] = value;
        c
    };
    let without = |name: &str| {
        let mut c = good();
        c.as_object_mut().unwrap().remove(name);
        c
    };
    let stranger = TestKey::es256("k1");
    let mut at_jwt = Header::new(Algorithm::ES256);
    at_jwt.kid = Some("k1".into());
    at_jwt.typ = Some("at+jwt".into());
    let mut unknown_kid = Header::new(Algorithm::ES256);
    unknown_kid.kid = Some("k2".into());
    let hs256 = jsonwebtoken::encode(
        &Header { kid: Some("k1".into()), ..Header::new(Algorithm::HS256) },
        &good(),
        &jsonwebtoken::EncodingKey::from_secret(key.jwk.to_string().as_bytes()),
    )
    .unwrap();
    let parts: Vec<String> = key.sign(&good()).split('.').map(str::to_owned).collect();
    let unsigned = {
        use base64::Engine as _;
        let header = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#);
        format!("{header}.{}.", parts[1])
    };
    let cases: Vec<(&str, String)> = vec![
        ("iss is another client", key.sign(&with("iss", json!("svc-a")))),
        ("sub is another client", key.sign(&with("sub", json!("svc-a")))),
        ("aud is a resource server", key.sign(&with("aud", json!("https://api.one")))),
        ("no aud", key.sign(&without("aud"))),
        ("no exp", key.sign(&without("exp"))),
        ("expired", key.sign(&with("exp", json!(now - 120)))),
        ("exp an hour ahead (more than assertion_max_lifetime)", key.sign(&with("exp", json!(now + 3600)))),
        ("iat in the future", key.sign(&with("iat", json!(now + 600)))),
        ("nbf in the future", key.sign(&with("nbf", json!(now + 600)))),
        ("no jti", key.sign(&without("jti"))),
        ("empty jti", key.sign(&with("jti", json!("")))),
        ("signed by a key the client never published", stranger.sign(&good())),
        ("a kid the client does not have", key.sign_with(&unknown_kid, &good())),
        ("typ at+jwt: an access token is no assertion", key.sign_with(&at_jwt, &good())),
        ("HS256 keyed with the public JWK (RFC 8725 §2.1)", hs256),
        ("alg none (RFC 8725 §2.1)", unsigned),
        ("a signature of another body", format!("{}.{}.{}", parts[0], crate::forge::b64(&good()), parts[2])),
    ];
    for (case, assertion) in &cases {
        let reply = present(&app, assertion, Some("reporting")).await;
        assert_invalid_client(&reply, case);
        assert_eq!(reply.json()["error_description"], wrong_secret.json()["error_description"], "{case}");
    }
    // `client_id` that is not the assertion's subject.
    assert_invalid_client(&present(&app, &key.sign(&good()), Some("both")).await, "client_id mismatch");
}

#[tokio::test]
async fn a_client_uses_only_the_methods_it_allows() {
    let key = TestKey::es256("k1");
    let toml = config(&[&key], "");
    let app = serve(&toml).await;
    // A key-only client has no secret to send; a secret-only client has no key.
    let secret_only = TestKey::es256("k1");
    assert_invalid_client(
        &present(&app, &secret_only.sign(&assertion_claims("svc-a", ISSUER)), None).await,
        "assertion for a client without keys",
    );
    // The migration client may use either.
    assert_eq!(app.token_basic("both", SECRET_A, &[("grant_type", "client_credentials")]).await.status, 200);
    assert_eq!(present(&app, &key.sign(&assertion_claims("both", ISSUER)), None).await.status, 200);
    // Restricted to private_key_jwt, its secret no longer works.
    let jwks = jwks_of(&[&key]).to_string();
    let only_key = format!(
        "[[clients]]\nid = \"both\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\njwks = '{jwks}'\n\
         audiences = [\"https://api.one\"]\n"
    );
    let err = Config::from_toml(&format!(
        "{only_key}secret_hashes = [\"sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1\"]\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(err.contains("`secret_hashes` is set but token_endpoint_auth_method allows no method"), "{err}");
    let app = serve(&only_key).await;
    assert_invalid_client(
        &app.token_basic("both", SECRET_A, &[("grant_type", "client_credentials")]).await,
        "secret",
    );
}

#[tokio::test]
async fn a_strict_audience_accepts_the_issuer_identifier_alone_rfc7523bis() {
    let key = TestKey::es256("k1");
    let app = serve(&config(&[&key], "[tokens]\nstrict_assertion_audience = true\n")).await;
    let mut claims = assertion_claims("reporting", ISSUER);
    assert_eq!(present(&app, &key.sign(&claims), None).await.status, 200);
    for aud in [json!(TOKEN_ENDPOINT), json!([ISSUER, "https://elsewhere.example"])] {
        claims = assertion_claims("reporting", ISSUER);
        claims["aud"] = aud.clone();
        assert_invalid_client(&present(&app, &key.sign(&claims), None).await, &aud.to_string());
    }
}

#[tokio::test]
async fn discovery_lists_private_key_jwt_and_its_algorithms_rfc8414_2() {
    let key = TestKey::es256("k1");
    let app = serve(&config(&[&key], "")).await;
    let meta = app.get("/.well-known/oauth-authorization-server").await.json();
    assert_eq!(
        meta["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post", "private_key_jwt"])
    );
    assert_eq!(
        meta["token_endpoint_auth_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "RS256", "PS256"])
    );
    // Without any key client, it is not advertised.
    let plain = InProcess::spawn().await.get("/.well-known/oauth-authorization-server").await.json();
    assert_eq!(
        plain["token_endpoint_auth_methods_supported"],
        json!(["client_secret_basic", "client_secret_post"])
    );
}

#[test]
fn a_private_or_symmetric_key_in_a_clients_set_is_a_configuration_error_rfc7517_4() {
    let key = TestKey::es256("k1");
    let mut private = key.jwk.clone();
    private["d"] = json!("c2VjcmV0");
    let oct = json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h"});
    let client = |jwks: Value| {
        format!(
            "[[clients]]\nid = \"reporting\"\njwks = '{}'\naudiences = [\"https://api.one\"]\n",
            json!({"keys": [jwks]})
        )
    };
    for (case, jwks, says) in
        [("private EC key", private, "private member `d`"), ("symmetric key", oct, "private member `k`")]
    {
        let err = Config::from_toml(&client(jwks)).unwrap_err().to_string();
        assert!(err.contains(says), "{case}: {err}");
    }
    let two = format!(
        "[[clients]]\nid = \"r\"\njwks = '{}'\njwks_uri = \"https://keys.example/jwks\"\naudiences = [\"a\"]\n",
        jwks_of(&[&key])
    );
    assert!(Config::from_toml(&two).unwrap_err().to_string().contains("at most one of"));
    let plain_http =
        "[[clients]]\nid = \"r\"\njwks_uri = \"http://keys.example/jwks\"\naudiences = [\"a\"]\n";
    assert!(Config::from_toml(plain_http).unwrap_err().to_string().contains("jwks_uri"));
}

#[tokio::test]
async fn a_clients_keys_can_come_from_a_file() {
    let key = TestKey::ed25519("file-key");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("reporting.jwks.json");
    std::fs::write(&path, jwks_of(&[&key]).to_string()).unwrap();
    let toml = format!(
        "[[clients]]\nid = \"reporting\"\njwks_file = \"{}\"\naudiences = [\"https://api.one\"]\n",
        path.display()
    );
    let app = serve(&toml).await;
    assert_eq!(present(&app, &key.sign(&assertion_claims("reporting", ISSUER)), None).await.status, 200);
}
