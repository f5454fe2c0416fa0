//! Which JWKS keys `tokenmint::verify` uses, and what its errors may say: one key, one
//! algorithm (RFC 8725 §3.1), `use` and `key_ops` honoured (RFC 7517 §4.2, §4.3), keys
//! sharing a `kid` told apart by algorithm (RFC 7517 §4.5) and, sharing both, by signature
//! (never by their order in the set), `typ` compared as a media type, and no claim value
//! ever quoted in an error.

use std::time::Duration;

use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, KeyOperations, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;
use tokenmint::verify::{ErrorKind, Jwks, Requirements, Verifier};

use crate::forge::{at_header, attacker_key, server_key, sign, valid_claims};
use crate::helpers::*;

fn verifier(keys: Vec<Jwk>, algorithms: Vec<Algorithm>) -> Verifier {
    let requirements = Requirements {
        issuer: ISSUER.into(),
        audience: "https://api.one".into(),
        algorithms,
        leeway: Duration::from_secs(30),
    };
    Verifier::new(requirements, Jwks::from_set(&JwkSet { keys })).unwrap()
}

/// A P-256 key and its public JWK with `kid`.
fn es256_key(kid: &str) -> (EncodingKey, Jwk) {
    let (key, mut jwk) = attacker_key();
    jwk.common.key_id = Some(kid.into());
    (key, jwk)
}

/// An Ed25519 key and its public JWK with `kid`.
fn eddsa_key(kid: &str) -> (EncodingKey, Jwk) {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use base64::Engine as _;
    let der = Ed25519KeyPair::generate_pkcs8v1(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
    let public =
        Ed25519KeyPair::from_pkcs8_maybe_unchecked(der.as_ref()).unwrap().public_key().as_ref().to_vec();
    let x = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(public);
    let jwk = serde_json::from_value(json!({ "kty": "OKP", "crv": "Ed25519", "x": x, "kid": kid })).unwrap();
    (EncodingKey::from_ed_der(der.as_ref()), jwk)
}

/// A change to one member of a JWK.
type Mutation = fn(&mut Jwk);

fn header(alg: Algorithm, kid: &str) -> Header {
    let mut h = Header::new(alg);
    h.typ = Some("at+jwt".into());
    h.kid = Some(kid.into());
    h
}

#[tokio::test]
async fn a_key_whose_alg_use_or_key_ops_rule_out_verifying_is_never_used_rfc7517_4_rfc8725_3_1() {
    let (key, jwk) = es256_key("k1");
    let token = sign(&at_header("k1"), &valid_claims(ISSUER), &key);
    // The untouched key verifies, so each refusal below comes from the one member changed.
    verifier(vec![jwk.clone()], vec![Algorithm::ES256]).verify(&token).await.unwrap();
    let mut verify_only = jwk.clone();
    verify_only.common.key_operations = Some(vec![KeyOperations::Verify]);
    verifier(vec![verify_only], vec![Algorithm::ES256]).verify(&token).await.unwrap();

    let mutations: [(&str, Mutation); 5] = [
        ("key_ops without verify", |j| j.common.key_operations = Some(vec![KeyOperations::Encrypt])),
        ("use enc", |j| j.common.public_key_use = Some(PublicKeyUse::Encryption)),
        ("alg of another curve", |j| j.common.key_algorithm = Some(KeyAlgorithm::ES384)),
        ("an encryption alg", |j| j.common.key_algorithm = Some(KeyAlgorithm::RSA_OAEP)),
        ("an alg this library does not know", |j| {
            j.common.key_algorithm = Some(KeyAlgorithm::UNKNOWN_ALGORITHM)
        }),
    ];
    for (name, mutate) in mutations {
        let mut bad = jwk.clone();
        mutate(&mut bad);
        let jwks = Jwks::from_set(&JwkSet { keys: vec![bad.clone()] });
        assert!(jwks.is_empty(), "{name}: the key was kept");
        let err = verifier(vec![bad], vec![Algorithm::ES256]).verify(&token).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownKey, "{name}: {err}");
    }
}

#[tokio::test]
async fn keys_may_share_a_kid_and_the_token_alg_picks_the_key_rfc7517_4_5() {
    let (ec, ec_jwk) = es256_key("shared");
    let (ed, ed_jwk) = eddsa_key("shared");
    let both = vec![Algorithm::ES256, Algorithm::EdDSA];
    let es_token = sign(&header(Algorithm::ES256, "shared"), &valid_claims(ISSUER), &ec);
    let ed_token = sign(&header(Algorithm::EdDSA, "shared"), &valid_claims(ISSUER), &ed);
    // In either order in the set, each token finds its own key.
    for keys in [vec![ec_jwk.clone(), ed_jwk.clone()], vec![ed_jwk, ec_jwk]] {
        let v = verifier(keys, both.clone());
        assert_eq!(v.verify(&es_token).await.unwrap().sub, "svc-a");
        assert_eq!(v.verify(&ed_token).await.unwrap().sub, "svc-a");
    }
    // The alg still has to be allowed, and to match a key: no key of the kid signs HS256.
    let only_es = verifier(vec![es256_key("shared").1], vec![Algorithm::ES256]);
    assert_eq!(only_es.verify(&ed_token).await.unwrap_err().kind(), ErrorKind::UnsupportedAlgorithm);
}

#[tokio::test]
async fn keys_sharing_kid_and_algorithm_are_each_tried_never_picked_by_order_rfc8725_3_1() {
    let (first, first_jwk) = es256_key("dup");
    let (second, second_jwk) = es256_key("dup");
    let (stranger, _) = es256_key("dup");
    let es = vec![Algorithm::ES256];
    let claims = valid_claims(ISSUER);
    let by_first = sign(&at_header("dup"), &claims, &first);
    let by_second = sign(&at_header("dup"), &claims, &second);
    let by_stranger = sign(&at_header("dup"), &claims, &stranger);
    let mut elsewhere = claims.clone();
    elsewhere["aud"] = json!("https://api.other");
    let second_elsewhere = sign(&at_header("dup"), &elsewhere, &second);
    for keys in [vec![first_jwk.clone(), second_jwk.clone()], vec![second_jwk, first_jwk]] {
        assert_eq!(Jwks::from_set(&JwkSet { keys: keys.clone() }).len(), 2, "both keys are kept");
        let v = verifier(keys, es.clone());
        // A token verifies if either key verifies its signature, in either order.
        assert_eq!(v.verify(&by_first).await.unwrap().sub, "svc-a");
        assert_eq!(v.verify(&by_second).await.unwrap().sub, "svc-a");
        // Neither key signed it: a bad signature, whichever was tried last.
        assert_eq!(v.verify(&by_stranger).await.unwrap_err().kind(), ErrorKind::BadSignature);
        // The key that verifies the signature decides the rest: the wrong audience is
        // reported, not the other key's failed signature.
        assert_eq!(v.verify(&second_elsewhere).await.unwrap_err().kind(), ErrorKind::WrongAudience);
    }
    // A key of another algorithm under the same kid does not join the candidates.
    let (ed, ed_jwk) = eddsa_key("dup");
    let ed_token = sign(&header(Algorithm::EdDSA, "dup"), &claims, &ed);
    let mixed = verifier(vec![es256_key("dup").1, ed_jwk, es256_key("dup").1], vec![Algorithm::EdDSA]);
    assert_eq!(mixed.verify(&ed_token).await.unwrap().sub, "svc-a");
    assert_eq!(mixed.verify(&by_first).await.unwrap_err().kind(), ErrorKind::UnsupportedAlgorithm);
}

#[tokio::test]
async fn typ_is_compared_as_a_case_insensitive_media_type_rfc7515_4_1_9_rfc9068_4() {
    let app = TestApp::spawn().await;
    let (key, kid) = server_key(&app);
    let v = Verifier::new(
        Requirements {
            issuer: ISSUER.into(),
            audience: "https://api.one".into(),
            algorithms: vec![Algorithm::ES256],
            leeway: Duration::from_secs(30),
        },
        Jwks::from_set(&app.jwks().await),
    )
    .unwrap();
    for typ in ["at+jwt", "AT+JWT", "application/at+jwt", "Application/AT+JWT", "APPLICATION/at+jwt"] {
        let mut h = at_header(&kid);
        h.typ = Some(typ.into());
        v.verify(&sign(&h, &valid_claims(ISSUER), &key)).await.unwrap_or_else(|e| panic!("{typ}: {e}"));
    }
    for typ in ["jwt", "application/jwt", "application/", "application/at+jwt+x", "xapplication/at+jwt"] {
        let mut h = at_header(&kid);
        h.typ = Some(typ.into());
        let err = v.verify(&sign(&h, &valid_claims(ISSUER), &key)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WrongType, "{typ}");
    }
}

#[tokio::test]
async fn errors_never_quote_a_claim_value() {
    let (key, jwk) = es256_key("k1");
    let v = verifier(vec![jwk], vec![Algorithm::ES256]);
    let secret = "SECRET-CLAIM-VALUE-1f2e";
    let mut cases = Vec::new();
    for (claim, value) in
        [("exp", json!(secret)), ("client_id", json!({ "nested": secret })), ("sub", json!([secret]))]
    {
        let mut claims = valid_claims(ISSUER);
        claims[claim] = value;
        cases.push((claim, sign(&at_header("k1"), &claims, &key)));
    }
    for (claim, token) in cases {
        let err = v.verify(&token).await.unwrap_err();
        assert!(!err.to_string().contains(secret), "{claim}: {err}");
    }
    // A missing claim is still named: that comes from the verifier, not the token.
    let mut claims = valid_claims(ISSUER);
    claims.as_object_mut().unwrap().remove("jti");
    let err = v.verify(&sign(&at_header("k1"), &claims, &key)).await.unwrap_err();
    assert!(err.to_string().contains("jti"), "{err}");
}
