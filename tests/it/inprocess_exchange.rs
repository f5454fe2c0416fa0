//! Token exchange (RFC 8693) in-process: a client narrows its own token, a service delegates a
//! token sent to its API to call the next one (`act`, §4.1), and every refusal of §2.2.2.

use serde_json::{Value, json};

use crate::helpers::*;

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The hash of SECRET_A.
const HASH_A: &str = "sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1";

/// `frontend` calls `orders`, which calls `billing`; each may exchange tokens sent to its own
/// API. `svc-a` narrows its own tokens.
fn config() -> String {
    format!(
        r#"
[[clients]]
id = "svc-a"
secret_hashes = ["{HASH_A}"]
grant_types = ["client_credentials", "{EXCHANGE}"]
scopes = ["read", "write"]
default_scopes = ["read", "write"]
audiences = ["https://api.one", "https://api.two"]

[[clients]]
id = "frontend"
secret_hashes = ["{HASH_A}"]
scopes = ["orders:read", "orders:write"]
default_scopes = ["orders:read", "orders:write"]
audiences = ["https://orders.example"]

[[clients]]
id = "orders"
secret_hashes = ["{HASH_A}"]
grant_types = ["client_credentials", "{EXCHANGE}"]
scopes = ["orders:read", "billing:read"]
audiences = ["https://billing.example"]
exchange_audiences = ["https://orders.example"]

[[clients]]
id = "billing"
secret_hashes = ["{HASH_A}"]
grant_types = ["client_credentials", "{EXCHANGE}"]
scopes = ["orders:read"]
audiences = ["https://ledger.example"]
exchange_audiences = ["https://billing.example"]

[[clients]]
id = "plain"
secret_hashes = ["{HASH_A}"]
scopes = ["read"]
audiences = ["https://api.one"]
exchange_audiences = ["https://orders.example"]
"#
    )
}

async fn serve() -> InProcess {
    InProcess::spawn_config(&config(), std::sync::Arc::new(tokenmint::clock::SystemClock)).await
}

/// A client-credentials token of `client`, with `extra` parameters.
async fn token_of(app: &InProcess, client: &str, extra: &[(&str, &str)]) -> String {
    let mut form = vec![("grant_type", "client_credentials")];
    form.extend_from_slice(extra);
    let reply = app.token_basic(client, SECRET_A, &form).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    reply.json()["access_token"].as_str().unwrap().to_owned()
}

/// `client` exchanges `subject` (an access token) with `extra` parameters.
async fn exchange(app: &InProcess, client: &str, subject: &str, extra: &[(&str, &str)]) -> Reply {
    let mut form =
        vec![("grant_type", EXCHANGE), ("subject_token", subject), ("subject_token_type", ACCESS_TOKEN)];
    form.extend_from_slice(extra);
    app.token_basic(client, SECRET_A, &form).await
}

/// One refused exchange: what it is, the client, its parameters, the error code.
type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);

fn claims_of(token: &str) -> Value {
    jsonwebtoken::dangerous::insecure_decode_claims::<Value>(token).unwrap()
}

#[tokio::test]
async fn a_client_narrows_its_own_token_rfc8693_2_1() {
    let app = serve().await;
    let subject = token_of(&app, "svc-a", &[]).await;
    let reply =
        exchange(&app, "svc-a", &subject, &[("scope", "read"), ("resource", "https://api.two")]).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let body = reply.json();
    // RFC 8693 §2.2.1: issued_token_type is required, token_type Bearer.
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["scope"], "read");
    let token = body["access_token"].as_str().unwrap();
    let claims = app.verify(token, "https://api.two").await;
    assert_eq!((claims.sub.as_str(), claims.client_id.as_str()), ("svc-a", "svc-a"));
    assert!(claims.extra.get("act").is_none(), "no delegation: {:?}", claims.extra);
    // It lives no longer than the subject token.
    assert!(claims.exp <= claims_of(&subject)["exp"].as_u64().unwrap());
    // A wider scope than the subject token holds is refused.
    let narrow = body["access_token"].as_str().unwrap().to_owned();
    let wider = exchange(&app, "svc-a", &narrow, &[("scope", "read write")]).await;
    assert_oauth_reply(&wider, 400, "invalid_scope");
}

#[tokio::test]
async fn a_service_delegates_a_token_sent_to_its_api_with_act_rfc8693_4_1() {
    let app = serve().await;
    let user_facing = token_of(&app, "frontend", &[]).await;
    // `orders` received it (its aud is orders' API) and calls billing on the caller's behalf.
    let reply = exchange(&app, "orders", &user_facing, &[("scope", "orders:read")]).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let delegated = reply.json()["access_token"].as_str().unwrap().to_owned();
    let claims = app.verify(&delegated, "https://billing.example").await;
    assert_eq!(claims.sub, "frontend", "the subject stays");
    assert_eq!(claims.client_id, "orders", "the actor is the client (RFC 9068 §2.2)");
    assert_eq!(claims.extra["act"], json!({ "sub": "orders" }));
    // Introspection calls the delegated token active.
    let intro =
        app.post_form("/oauth2/introspect", Some(("svc-a", SECRET_A)), &[("token", &delegated)]).await;
    assert_eq!(intro.json()["active"], true, "{}", intro.json());
    // Billing delegates once more: the chain nests (RFC 8693 §4.1).
    let reply = exchange(&app, "billing", &delegated, &[]).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let chained = claims_of(reply.json()["access_token"].as_str().unwrap());
    assert_eq!(chained["sub"], "frontend");
    assert_eq!(chained["act"], json!({ "sub": "billing", "act": { "sub": "orders" } }));
    assert_eq!(chained["scope"], "orders:read");
}

#[tokio::test]
async fn every_refusal_of_token_exchange_rfc8693_2_2_2() {
    let app = serve().await;
    let subject = token_of(&app, "svc-a", &[]).await;
    let frontend = token_of(&app, "frontend", &[]).await;
    let expired = {
        let (key, kid) = crate::forge::key_in(app.keys_dir.path());
        let mut c = claims_of(&subject);
        c["exp"] = json!(unix_now() - 600);
        c["iat"] = json!(unix_now() - 900);
        crate::forge::sign(&crate::forge::at_header(&kid), &c, &key)
    };
    let grant = [("grant_type", EXCHANGE)];
    // (case, client, parameters, error): every answer is 400.
    let cases: Vec<Case<'_>> = vec![
        ("no subject_token", "svc-a", vec![("subject_token_type", ACCESS_TOKEN)], "invalid_request"),
        ("no subject_token_type", "svc-a", vec![("subject_token", &subject)], "invalid_request"),
        (
            "an unknown subject_token_type",
            "svc-a",
            vec![
                ("subject_token", &subject),
                ("subject_token_type", "urn:ietf:params:oauth:token-type:saml2"),
            ],
            "invalid_request",
        ),
        (
            "a refresh token asked for",
            "svc-a",
            vec![
                ("subject_token", &subject),
                ("subject_token_type", ACCESS_TOKEN),
                ("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token"),
            ],
            "invalid_request",
        ),
        (
            "an actor_token",
            "svc-a",
            vec![
                ("subject_token", &subject),
                ("subject_token_type", ACCESS_TOKEN),
                ("actor_token", &subject),
                ("actor_token_type", ACCESS_TOKEN),
            ],
            "invalid_request",
        ),
        (
            "an expired subject token",
            "svc-a",
            vec![("subject_token", &expired), ("subject_token_type", ACCESS_TOKEN)],
            "invalid_request",
        ),
        (
            "not a token at all",
            "svc-a",
            vec![("subject_token", "not.a.token"), ("subject_token_type", ACCESS_TOKEN)],
            "invalid_request",
        ),
        (
            "another client's token not sent to this client's API",
            "svc-a",
            vec![("subject_token", &frontend), ("subject_token_type", ACCESS_TOKEN)],
            "invalid_request",
        ),
        (
            "an audience the client may not have",
            "svc-a",
            vec![
                ("subject_token", &subject),
                ("subject_token_type", ACCESS_TOKEN),
                ("resource", "https://orders.example"),
            ],
            "invalid_target",
        ),
        (
            "a client without the grant",
            "plain",
            vec![("subject_token", &frontend), ("subject_token_type", ACCESS_TOKEN)],
            "unauthorized_client",
        ),
    ];
    for (case, client, params, error) in cases {
        let mut form = grant.to_vec();
        form.extend(params);
        let reply = app.token_basic(client, SECRET_A, &form).await;
        assert_eq!(reply.status, 400, "{case}: {}", String::from_utf8_lossy(&reply.body));
        assert_eq!(reply.json()["error"], error, "{case}");
    }
}

#[tokio::test]
async fn a_disabled_subject_client_makes_its_tokens_unexchangeable() {
    let app = serve().await;
    let frontend = token_of(&app, "frontend", &[]).await;
    let disabled = config()
        .replace("id = \"frontend\"\nsecret_hashes", "id = \"frontend\"\nenabled = false\nsecret_hashes");
    let after = app.sharing_keys(&disabled).await;
    assert_oauth_reply(&exchange(&after, "orders", &frontend, &[]).await, 400, "invalid_request");
}

#[tokio::test]
async fn discovery_lists_token_exchange_when_a_client_may_use_it_rfc8414_2() {
    let app = serve().await;
    let meta = app.get("/.well-known/oauth-authorization-server").await.json();
    assert!(meta["grant_types_supported"].as_array().unwrap().contains(&json!(EXCHANGE)), "{meta}");
    let plain = InProcess::spawn().await.get("/.well-known/oauth-authorization-server").await.json();
    assert!(!plain["grant_types_supported"].as_array().unwrap().contains(&json!(EXCHANGE)), "{plain}");
}
