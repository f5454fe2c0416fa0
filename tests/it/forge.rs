//! Forged and invalid tokens, built with the server's real private key where an attack
//! needs it, for the verifier and introspection tests.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokenmint::verify::ErrorKind;

use crate::helpers::*;

/// The server's ES256 signing key (from its key directory) and its kid.
pub(crate) fn server_key(app: &TestApp) -> (EncodingKey, String) {
    key_in(app.keys_dir.path())
}

/// The ES256 signing key in the key directory `dir`, and its kid.
pub(crate) fn key_in(dir: &std::path::Path) -> (EncodingKey, String) {
    let entry = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .find(|e| e.path().extension().is_some_and(|x| x == "pem"))
        .expect("a key file");
    let text = std::fs::read_to_string(entry.path()).unwrap();
    let pem = &text[text.find("-----BEGIN").unwrap()..];
    let kid = text.lines().find_map(|l| l.strip_prefix("kid = \"")).unwrap().trim_end_matches('"').to_owned();
    (EncodingKey::from_ec_pem(pem.as_bytes()).unwrap(), kid)
}

/// Claims of a valid token for `svc-a` and `https://api.one`, issued now.
pub(crate) fn valid_claims(issuer: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": issuer, "sub": "svc-a", "aud": "https://api.one", "exp": now + 300, "iat": now,
        "nbf": now, "jti": "forged-jti-0001", "client_id": "svc-a", "scope": "read",
    })
}

/// Signs `claims` with `key` under a header of our choosing.
pub(crate) fn sign(header: &Header, claims: &Value, key: &EncodingKey) -> String {
    jsonwebtoken::encode(header, claims, key).unwrap()
}

/// An at+jwt ES256 header for `kid`.
pub(crate) fn at_header(kid: &str) -> Header {
    let mut h = Header::new(Algorithm::ES256);
    h.typ = Some("at+jwt".into());
    h.kid = Some(kid.into());
    h
}

pub(crate) fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

/// A fresh P-256 key the server has never seen (an attacker's, in the forgeries).
pub(crate) fn attacker_key() -> (EncodingKey, jsonwebtoken::jwk::Jwk) {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let der = pair.to_pkcs8v1().unwrap();
    let key = EncodingKey::from_ec_der(der.as_ref());
    let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256).unwrap();
    (key, jwk)
}

/// One forgery: a name, the token, and how the verifier must refuse it.
pub(crate) struct Forgery {
    pub(crate) name: &'static str,
    pub(crate) token: String,
    pub(crate) kind: ErrorKind,
    /// Whether introspection must call it inactive (it does not check the audience).
    pub(crate) inactive_at_introspection: bool,
}

/// Every forged-token case of RFC 8725 §2 and RFC 9068 §4 that the verifier must refuse.
pub(crate) async fn forgeries(app: &TestApp) -> Vec<Forgery> {
    let (key, kid) = server_key(app);
    let claims = valid_claims(&app.issuer);
    let genuine = sign(&at_header(&kid), &claims, &key);
    let parts: Vec<&str> = genuine.split('.').collect();
    let now = unix_now();
    let with = |field: &str, value: Value| {
        let mut c = claims.clone();
        c[field] = value;
        sign(&at_header(&kid), &c, &key)
    };
    let jwks_json = serde_json::to_vec(&app.jwks().await).unwrap();
    let (evil_key, mut evil_jwk) = attacker_key();
    evil_jwk.common.key_id = Some("attacker".into());

    let mut out = vec![
        Forgery {
            name: "alg none, no signature",
            token: format!("{}.{}.", b64(&json!({"alg": "none", "typ": "at+jwt", "kid": kid})), parts[1]),
            // Refused while parsing the header: `none` is not an algorithm at all here.
            kind: ErrorKind::Malformed,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "HS256 keyed with the public JWKS bytes",
            token: {
                let mut h = Header::new(Algorithm::HS256);
                h.typ = Some("at+jwt".into());
                h.kid = Some(kid.clone());
                sign(&h, &claims, &EncodingKey::from_secret(&jwks_json))
            },
            kind: ErrorKind::UnsupportedAlgorithm,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "ES256 with r = s = 0 (CVE-2022-21449)",
            token: format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode([0u8; 64])),
            kind: ErrorKind::BadSignature,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "kid with path traversal",
            token: sign(&at_header("../../../../../etc/passwd"), &claims, &key),
            kind: ErrorKind::UnknownKey,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "attacker key announced in jku, x5u and jwk headers",
            token: {
                let mut h = at_header("attacker");
                h.jku = Some("http://127.0.0.1:9/attacker-jwks.json".into());
                h.x5u = Some("http://127.0.0.1:9/attacker.pem".into());
                h.jwk = Some(evil_jwk.clone());
                sign(&h, &claims, &evil_key)
            },
            kind: ErrorKind::UnknownKey,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "real kid, attacker signature, attacker jwk header",
            token: {
                let mut h = at_header(&kid);
                h.jwk = Some(evil_jwk);
                sign(&h, &claims, &evil_key)
            },
            kind: ErrorKind::BadSignature,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "tampered payload",
            token: {
                let mut c = claims.clone();
                c["scope"] = json!("read admin:all");
                format!("{}.{}.{}", parts[0], b64(&c), parts[2])
            },
            kind: ErrorKind::BadSignature,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "expired",
            token: with("exp", json!(now - 120)),
            kind: ErrorKind::Expired,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "not yet valid",
            token: with("nbf", json!(now + 600)),
            kind: ErrorKind::NotYetValid,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "exp as a string (CVE-2026-25537)",
            token: with("exp", json!((now - 120).to_string())),
            kind: ErrorKind::Malformed,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "wrong iss",
            token: with("iss", json!("https://evil.example")),
            kind: ErrorKind::WrongIssuer,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "wrong aud",
            token: with("aud", json!("https://api.other")),
            kind: ErrorKind::WrongAudience,
            inactive_at_introspection: false,
        },
        Forgery {
            name: "wrong typ",
            token: {
                let mut h = at_header(&kid);
                h.typ = Some("JWT".into());
                sign(&h, &claims, &key)
            },
            kind: ErrorKind::WrongType,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "unknown crit extension",
            token: {
                let mut h = at_header(&kid);
                h.crit = Some(vec!["exp".into()]);
                sign(&h, &claims, &key)
            },
            kind: ErrorKind::Malformed,
            inactive_at_introspection: true,
        },
        Forgery {
            name: "not a JWT at all",
            token: "not.a.jwt".into(),
            kind: ErrorKind::Malformed,
            inactive_at_introspection: true,
        },
    ];
    out.push(Forgery {
        name: "signed by a key the server never published",
        token: {
            let (other, _) = attacker_key();
            sign(&at_header("retired-or-foreign"), &claims, &other)
        },
        kind: ErrorKind::UnknownKey,
        inactive_at_introspection: true,
    });
    out
}
