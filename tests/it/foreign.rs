//! What the client-assertion and federation tests share: key pairs made in the test, JWTs
//! signed with them, and a loopback issuer that serves their public keys (a JWKS endpoint
//! and discovery metadata) and can be switched off.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::unix_now;

/// A key pair made for one test: the private half signs, the public JWK is published.
#[derive(Clone)]
pub(crate) struct TestKey {
    pub(crate) alg: Algorithm,
    pub(crate) kid: String,
    encoding: EncodingKey,
    /// The public JWK, with `kid`, `alg` and `use`.
    pub(crate) jwk: Value,
}

impl TestKey {
    /// A fresh P-256 key.
    pub(crate) fn es256(kid: &str) -> TestKey {
        use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        Self::from_der(EncodingKey::from_ec_der(pair.to_pkcs8v1().unwrap().as_ref()), Algorithm::ES256, kid)
    }

    /// A fresh Ed25519 key.
    pub(crate) fn ed25519(kid: &str) -> TestKey {
        use aws_lc_rs::signature::Ed25519KeyPair;
        let pair = Ed25519KeyPair::generate().unwrap();
        Self::from_der(EncodingKey::from_ed_der(pair.to_pkcs8v1().unwrap().as_ref()), Algorithm::EdDSA, kid)
    }

    fn from_der(encoding: EncodingKey, alg: Algorithm, kid: &str) -> TestKey {
        let public = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, alg).unwrap();
        let mut jwk = serde_json::to_value(&public).unwrap();
        jwk["kid"] = json!(kid);
        jwk["use"] = json!("sig");
        TestKey { alg, kid: kid.to_owned(), encoding, jwk }
    }

    /// The same key published without its `kid`.
    pub(crate) fn jwk_without_kid(&self) -> Value {
        let mut jwk = self.jwk.clone();
        jwk.as_object_mut().unwrap().remove("kid");
        jwk
    }

    /// Signs `claims` with a header naming this key's `kid`.
    pub(crate) fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(self.alg);
        header.kid = Some(self.kid.clone());
        self.sign_with(&header, claims)
    }

    /// Signs `claims` under `header` as given.
    pub(crate) fn sign_with(&self, header: &Header, claims: &Value) -> String {
        jsonwebtoken::encode(header, claims, &self.encoding).unwrap()
    }
}

/// A JWK Set document of `keys`' public halves.
pub(crate) fn jwks_of(keys: &[&TestKey]) -> Value {
    json!({ "keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
}

/// Claims of a valid `private_key_jwt` assertion by `client` for `audience`: `exp` a minute
/// ahead and a fresh `jti`.
pub(crate) fn assertion_claims(client: &str, audience: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": client, "sub": client, "aud": audience, "iat": now, "exp": now + 60,
        "jti": format!("jti-{}", fastrand::u64(..)),
    })
}

/// A loopback issuer of identity tokens: it serves its JWKS at `/jwks.json` and its OpenID
/// Connect discovery document, counts the JWKS fetches, and can be taken down.
#[derive(Clone)]
pub(crate) struct LoopbackIssuer {
    /// `http://127.0.0.1:<port>`: its issuer identifier.
    pub(crate) url: String,
    state: Arc<Mutex<IssuerState>>,
}

struct IssuerState {
    jwks: Value,
    up: bool,
    fetches: usize,
    issuer: String,
}

impl LoopbackIssuer {
    /// Starts serving `jwks` on 127.0.0.1 (the task ends with the test's runtime).
    pub(crate) async fn start(jwks: Value) -> LoopbackIssuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(IssuerState { jwks, up: true, fetches: 0, issuer: url.clone() }));
        let app = axum::Router::new()
            .route("/jwks.json", axum::routing::get(serve_jwks))
            .route("/.well-known/openid-configuration", axum::routing::get(serve_metadata))
            .with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, app).await });
        LoopbackIssuer { url, state }
    }

    /// Its JWKS URL.
    pub(crate) fn jwks_uri(&self) -> String {
        format!("{}/jwks.json", self.url)
    }

    /// Publishes another key set.
    pub(crate) fn publish(&self, jwks: Value) {
        self.state.lock().unwrap().jwks = jwks;
    }

    /// Answers 503 to everything (`false`) or serves again (`true`).
    pub(crate) fn set_up(&self, up: bool) {
        self.state.lock().unwrap().up = up;
    }

    /// How many times its JWKS was fetched.
    pub(crate) fn fetches(&self) -> usize {
        self.state.lock().unwrap().fetches
    }
}

async fn serve_jwks(State(state): State<Arc<Mutex<IssuerState>>>) -> Response {
    let mut s = state.lock().unwrap();
    if !s.up {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    s.fetches += 1;
    axum::Json(s.jwks.clone()).into_response()
}

async fn serve_metadata(State(state): State<Arc<Mutex<IssuerState>>>) -> Response {
    let s = state.lock().unwrap();
    if !s.up {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    axum::Json(json!({ "issuer": s.issuer, "jwks_uri": format!("{}/jwks.json", s.issuer) })).into_response()
}
