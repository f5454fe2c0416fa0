//! Workload identity federation: identity tokens of trusted issuers (GitHub Actions,
//! Kubernetes and SPIFFE shaped, signed by keys made in the test and served from a loopback
//! JWKS endpoint or a file) authenticate clients at the token endpoint, as a client
//! assertion (RFC 7521 §4.2) or as the RFC 7523 §2.1 grant.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Header};
use serde_json::{Value, json};
use tokenmint::clock::SystemClock;
use tokenmint::config::Config;

use crate::foreign::{LoopbackIssuer, TestKey, jwks_of};
use crate::helpers::*;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const GH_SUBJECT: &str = "repo:acme/app:environment:prod";
const K8S_SUBJECT: &str = "system:serviceaccount:billing:reporter";
const SPIFFE_SUBJECT: &str = "spiffe://acme.example/ns/billing/sa/reporter";

/// Three trusted issuers: GitHub-shaped (found by discovery), Kubernetes-shaped (a
/// `jwks_uri`) and SPIFFE-shaped (a bundle file), and one client per issuer.
struct Setup {
    app: InProcess,
    github: LoopbackIssuer,
    gh_key: TestKey,
    k8s: LoopbackIssuer,
    k8s_key: TestKey,
    spiffe_issuer: String,
    spiffe_key: TestKey,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let (gh_key, k8s_key, spiffe_key) =
        (TestKey::es256("gh-1"), TestKey::es256("k8s-1"), TestKey::ed25519("svid-1"));
    let github = LoopbackIssuer::start(jwks_of(&[&gh_key])).await;
    let k8s = LoopbackIssuer::start(jwks_of(&[&k8s_key])).await;
    let dir = tempfile::tempdir().unwrap();
    // A SPIFFE bundle: JWT-SVID keys carry `use: jwt-svid`.
    let mut svid_jwk = spiffe_key.jwk.clone();
    svid_jwk["use"] = json!("jwt-svid");
    let bundle = dir.path().join("bundle.jwks.json");
    std::fs::write(&bundle, json!({ "keys": [svid_jwk] }).to_string()).unwrap();
    let spiffe_issuer = "https://spire.acme.example".to_owned();
    let toml = format!(
        r#"
[[trusted_issuers]]
issuer = "{gh}"
audiences = ["https://tokens.test"]
max_token_age = "10m"

[[trusted_issuers]]
issuer = "{k8s}"
jwks_uri = "{k8s_jwks}"

[[trusted_issuers]]
issuer = "{spiffe_issuer}"
jwks_file = "{bundle}"
audiences = ["tokenmint"]

[[clients]]
id = "deployer"
scopes = ["deploy"]
audiences = ["https://api.one"]
grant_types = ["client_credentials", "{JWT_BEARER}"]
federated_identities = [
  {{ issuer = "{gh}", subject = "{GH_SUBJECT}", claims = {{ repository_id = "892341", repository_owner_id = "71523" }} }},
]

[[clients]]
id = "reporter"
audiences = ["https://api.one"]
federated_identities = [{{ issuer = "{k8s}", subject = "{K8S_SUBJECT}" }}]

[[clients]]
id = "exchanger"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
grant_types = ["urn:ietf:params:oauth:grant-type:token-exchange"]
audiences = ["https://api.one"]
federated_identities = [{{ issuer = "{k8s}", subject = "{K8S_SUBJECT}" }}]

[[clients]]
id = "svid-client"
audiences = ["https://api.one"]
federated_identities = [{{ issuer = "{spiffe_issuer}", subject = "{SPIFFE_SUBJECT}" }}]
"#,
        gh = github.url,
        k8s = k8s.url,
        k8s_jwks = k8s.jwks_uri(),
        bundle = bundle.display(),
    );
    let app = InProcess::spawn_config(&toml, Arc::new(SystemClock)).await;
    Setup { app, github, gh_key, k8s, k8s_key, spiffe_issuer, spiffe_key, _dir: dir }
}

/// A GitHub Actions OIDC token's claims (RFC 7519 plus GitHub's own).
fn github_claims(issuer: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": issuer, "sub": GH_SUBJECT, "aud": "https://tokens.test", "iat": now, "nbf": now,
        "exp": now + 300, "jti": "gh-jti", "repository": "acme/app", "repository_id": "892341",
        "repository_owner_id": "71523", "environment": "prod",
    })
}

/// A projected Kubernetes service-account token's claims.
fn k8s_claims(issuer: &str) -> Value {
    let now = unix_now();
    json!({
        "iss": issuer, "sub": K8S_SUBJECT, "aud": ["https://tokens.test"], "iat": now, "nbf": now,
        "exp": now + 3600, "kubernetes.io": { "namespace": "billing", "serviceaccount": { "name": "reporter" } },
    })
}

/// A JWT-SVID's claims.
fn svid_claims(issuer: &str) -> Value {
    let now = unix_now();
    json!({ "iss": issuer, "sub": SPIFFE_SUBJECT, "aud": ["tokenmint"], "iat": now, "exp": now + 300 })
}

/// Presents `token` as `client`'s assertion.
async fn present(app: &InProcess, client: &str, token: &str) -> Reply {
    app.token_post(&[
        ("grant_type", "client_credentials"),
        ("client_id", client),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", token),
    ])
    .await
}

fn assert_status(reply: &Reply, status: u16, error: Option<&str>, case: &str) {
    assert_eq!(reply.status, status, "{case}: {}", String::from_utf8_lossy(&reply.body));
    if let Some(error) = error {
        assert_eq!(reply.json()["error"], error, "{case}");
    }
}

#[tokio::test]
async fn github_kubernetes_and_spiffe_identity_tokens_authenticate_their_clients() {
    let s = setup().await;
    let cases = [
        ("deployer", s.gh_key.sign(&github_claims(&s.github.url))),
        ("reporter", s.k8s_key.sign(&k8s_claims(&s.k8s.url))),
        ("svid-client", s.spiffe_key.sign(&svid_claims(&s.spiffe_issuer))),
    ];
    for (client, token) in &cases {
        let reply = present(&s.app, client, token).await;
        assert_status(&reply, 200, None, client);
        let access = reply.json()["access_token"].as_str().unwrap().to_owned();
        let claims = s.app.verify(&access, "https://api.one").await;
        assert_eq!(claims.sub, *client);
        // An identity token is presented many times within its lifetime: no jti rule.
        assert_status(&present(&s.app, client, token).await, 200, None, "presented again");
    }
}

#[tokio::test]
async fn the_access_token_lives_no_longer_than_the_identity_token() {
    let s = setup().await;
    let mut claims = github_claims(&s.github.url);
    claims["exp"] = json!(unix_now() + 40);
    let reply = present(&s.app, "deployer", &s.gh_key.sign(&claims)).await;
    assert_status(&reply, 200, None, "short identity token");
    let expires_in = reply.json()["expires_in"].as_u64().unwrap();
    assert!(expires_in <= 40, "expires_in {expires_in}");
}

#[tokio::test]
async fn the_jwt_bearer_grant_carries_the_identity_token_rfc7523_2_1() {
    let s = setup().await;
    let token = s.gh_key.sign(&github_claims(&s.github.url));
    let app = &s.app;
    let grant = |client: &'static str, assertion: String| async move {
        app.token_post(&[("grant_type", JWT_BEARER), ("client_id", client), ("assertion", &assertion)]).await
    };
    // Discovery advertises the grant, since a client may use it (RFC 8414 §2).
    let meta = app.get("/.well-known/oauth-authorization-server").await.json();
    assert!(meta["grant_types_supported"].as_array().unwrap().contains(&json!(JWT_BEARER)), "{meta}");
    let reply = grant("deployer", token.clone()).await;
    assert_status(&reply, 200, None, "jwt-bearer");
    assert_eq!(reply.json()["token_type"], "Bearer");
    // RFC 7523 §3.1: an assertion that is not valid is `invalid_grant`.
    let mut wrong = github_claims(&s.github.url);
    wrong["sub"] = json!("repo:acme/app:pull_request");
    assert_status(
        &grant("deployer", s.gh_key.sign(&wrong)).await,
        400,
        Some("invalid_grant"),
        "wrong subject",
    );
    // A client that does not have the grant is `unauthorized_client`.
    let k8s = s.k8s_key.sign(&k8s_claims(&s.k8s.url));
    assert_status(&grant("reporter", k8s).await, 400, Some("unauthorized_client"), "grant not allowed");
    // The grant's `assertion` with other client credentials is ambiguous.
    let both = s
        .app
        .token_basic(
            "svc-a",
            SECRET_A,
            &[("grant_type", JWT_BEARER), ("client_id", "deployer"), ("assertion", &token)],
        )
        .await;
    assert_status(&both, 400, Some("invalid_request"), "with Basic credentials");
}

#[tokio::test]
async fn every_refusal_of_an_identity_token_is_invalid_client() {
    let s = setup().await;
    let gh = &s.github.url;
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut c = github_claims(gh);
        f(&mut c);
        s.gh_key.sign(&c)
    };
    let now = unix_now();
    let stranger = TestKey::es256("gh-1");
    let mut hs256 = Header::new(Algorithm::HS256);
    hs256.kid = Some("gh-1".into());
    let confused = jsonwebtoken::encode(
        &hs256,
        &github_claims(gh),
        &jsonwebtoken::EncodingKey::from_secret(s.gh_key.jwk.to_string().as_bytes()),
    )
    .unwrap();
    // Signed by the Kubernetes issuer's key, claiming to be GitHub's.
    let mut k8s_as_gh = github_claims(gh);
    k8s_as_gh["iss"] = json!(gh);
    let cases: Vec<(&str, &str, String)> = vec![
        ("an issuer that is not trusted", "deployer", edit(&|c| c["iss"] = json!("https://evil.example"))),
        ("the wrong audience", "deployer", edit(&|c| c["aud"] = json!("https://elsewhere.example"))),
        ("the wrong subject", "deployer", edit(&|c| c["sub"] = json!("repo:acme/app:ref:refs/heads/main"))),
        (
            "a pinned claim missing",
            "deployer",
            edit(&|c| drop(c.as_object_mut().unwrap().remove("repository_id"))),
        ),
        ("a pinned claim different", "deployer", edit(&|c| c["repository_owner_id"] = json!("666"))),
        ("expired", "deployer", edit(&|c| c["exp"] = json!(now - 1))),
        ("older than max_token_age", "deployer", edit(&|c| c["iat"] = json!(now - 700))),
        ("no iat", "deployer", edit(&|c| drop(c.as_object_mut().unwrap().remove("iat")))),
        ("issued in the future", "deployer", edit(&|c| c["iat"] = json!(now + 600))),
        ("signed by a key the issuer never published", "deployer", stranger.sign(&github_claims(gh))),
        ("HS256 keyed with the public JWK (alg confusion)", "deployer", confused),
        ("another trusted issuer's key claiming GitHub's iss", "deployer", s.k8s_key.sign(&k8s_as_gh)),
        ("a client that does not federate with this issuer", "reporter", s.gh_key.sign(&github_claims(gh))),
        ("a client with no federated identity", "svc-a", s.gh_key.sign(&github_claims(gh))),
    ];
    for (case, client, token) in &cases {
        assert_status(&present(&s.app, client, token).await, 401, Some("invalid_client"), case);
    }
    // `client_id` is required: an identity token's subject is not a client id.
    let reply = s
        .app
        .token_post(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &s.gh_key.sign(&github_claims(gh))),
        ])
        .await;
    assert_status(&reply, 401, Some("invalid_client"), "no client_id");
}

#[tokio::test]
async fn an_unknown_kid_refetches_and_a_jwks_endpoint_that_is_down_keeps_the_keys_it_had() {
    let s = setup().await;
    let first = s.k8s_key.sign(&k8s_claims(&s.k8s.url));
    assert_status(&present(&s.app, "reporter", &first).await, 200, None, "first fetch");
    let fetches = s.k8s.fetches();
    // The cluster rotates its signing key: the new kid is found by one refetch.
    let rotated = TestKey::es256("k8s-2");
    s.k8s.publish(jwks_of(&[&s.k8s_key, &rotated]));
    let token = rotated.sign(&k8s_claims(&s.k8s.url));
    assert_status(&present(&s.app, "reporter", &token).await, 200, None, "rotated key");
    assert_eq!(s.k8s.fetches(), fetches + 1);
    // The endpoint goes down: the cached keys still verify (stale-if-error).
    s.k8s.set_up(false);
    assert_status(&present(&s.app, "reporter", &first).await, 200, None, "endpoint down");
    // A kid nobody published stays refused, down or not.
    let unknown = TestKey::es256("k8s-3").sign(&k8s_claims(&s.k8s.url));
    assert_status(&present(&s.app, "reporter", &unknown).await, 401, Some("invalid_client"), "unknown kid");
}

#[tokio::test]
async fn an_issuer_whose_keys_were_never_fetched_is_a_clear_refusal() {
    let key = TestKey::es256("down-1");
    let issuer = LoopbackIssuer::start(jwks_of(&[&key])).await;
    issuer.set_up(false);
    let toml = format!(
        "[[trusted_issuers]]\nissuer = \"{}\"\n\n[[clients]]\nid = \"reporter\"\naudiences = [\"https://api.one\"]\n\
         federated_identities = [{{ issuer = \"{}\", subject = \"{K8S_SUBJECT}\" }}]\n",
        issuer.url, issuer.url
    );
    let app = InProcess::spawn_config(&toml, Arc::new(SystemClock)).await;
    let token = key.sign(&k8s_claims(&issuer.url));
    assert_status(&present(&app, "reporter", &token).await, 401, Some("invalid_client"), "discovery down");
    // Once the issuer answers again (after the discovery retry pause), it works; here the
    // pause has not passed, so the refusal stands without another request to the issuer.
    issuer.set_up(true);
    assert_status(&present(&app, "reporter", &token).await, 401, Some("invalid_client"), "within the pause");
    assert_eq!(issuer.fetches(), 0);
}

#[test]
fn federation_configuration_mistakes_are_reported() {
    let cases = [
        (
            "[[clients]]\nid = \"c\"\naudiences = [\"a\"]\nfederated_identities = [{ issuer = \"https://gh.example\", subject = \"s\" }]\n",
            "not among the `[[trusted_issuers]]`",
        ),
        ("[[trusted_issuers]]\nissuer = \"https://tokens.test\"\n", "this service's own issuer"),
        ("[[trusted_issuers]]\nissuer = \"http://gh.example\"\n", "issuer (for discovery)"),
        (
            "[[trusted_issuers]]\nissuer = \"https://gh.example\"\n[[trusted_issuers]]\nissuer = \"https://gh.example\"\n",
            "configured more than once",
        ),
        (
            "[[trusted_issuers]]\nissuer = \"https://gh.example\"\n[[clients]]\nid = \"c\"\naudiences = [\"a\"]\n\
             federated_identities = [{ issuer = \"https://gh.example\", subject = \"s\", claims = { aud = \"x\" } }]\n",
            "claim `aud` is checked by tokenmint itself",
        ),
    ];
    for (toml, says) in cases {
        let err =
            Config::from_toml(&format!("issuer = \"https://tokens.test\"\n{toml}")).unwrap_err().to_string();
        assert!(err.contains(says), "{says}: {err}");
    }
}

/// The audit event of a federated client's token names the external identity that acted as
/// it, and that of a `private_key_jwt` client its method; neither has a `secret_index`.
#[tokio::test]
async fn audit_events_record_the_external_issuer_and_subject() {
    let (k8s_key, own_key) = (TestKey::es256("k8s-1"), TestKey::es256("own-1"));
    let k8s = LoopbackIssuer::start(jwks_of(&[&k8s_key])).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "issuer = \"https://tokens.test\"\n[keys]\ndir = \"keys\"\n\n[[trusted_issuers]]\nissuer = \"{url}\"\njwks_uri = \"{jwks}\"\n\n\
         [[clients]]\nid = \"reporter\"\naudiences = [\"https://api.one\"]\n\
         federated_identities = [{{ issuer = \"{url}\", subject = \"{K8S_SUBJECT}\" }}]\n\n\
         [[clients]]\nid = \"reporting\"\njwks = '{own}'\naudiences = [\"https://api.one\"]\n",
        url = k8s.url,
        jwks = k8s.jwks_uri(),
        own = jwks_of(&[&own_key]),
    );
    std::fs::write(dir.path().join("tokenmint.toml"), toml).unwrap();
    let mut cmd = crate::cli::tokenmint(dir.path());
    cmd.args(["--config", "tokenmint.toml", "--log-format", "json"]);
    let served = crate::cli::serve(cmd).await;
    let http = test_http();
    let url = format!("http://{}/oauth2/token", served.addr);
    let identity = k8s_key.sign(&k8s_claims(&k8s.url));
    let own = own_key.sign(&crate::foreign::assertion_claims("reporting", "https://tokens.test"));
    for (client, assertion) in [(Some("reporter"), &identity), (None, &own)] {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", assertion.as_str()),
        ];
        form.extend(client.map(|c| ("client_id", c)));
        let res = http.post(&url).form(&form).send().await.unwrap();
        assert_eq!(res.status(), 200, "{}", res.text().await.unwrap());
    }
    let (_, log) = served.stop().await;
    let events = audit_events(&log);
    assert_eq!(events.len(), 2, "{log:#?}");
    let (federated, signed) = (&events[0], &events[1]);
    assert_eq!(federated["client_id"], "reporter", "{federated}");
    assert_eq!(federated["auth_method"], "federated_jwt", "{federated}");
    assert_eq!(federated["federated_iss"], json!(k8s.url), "{federated}");
    assert_eq!(federated["federated_sub"], K8S_SUBJECT, "{federated}");
    assert_eq!(signed["client_id"], "reporting", "{signed}");
    assert_eq!(signed["auth_method"], "private_key_jwt", "{signed}");
    for event in [federated, signed] {
        assert!(event.get("secret_index").is_none(), "{event}");
    }
    assert!(signed.get("federated_iss").is_none(), "{signed}");
    // Neither assertion reaches the log.
    let all = log.join("\n");
    assert!(!all.contains(&identity) && !all.contains(&own));
}

/// RFC 8693 with a `jwt` subject token: a client with its own credentials exchanges an
/// identity token that matches one of its federated identities for its own access token.
#[tokio::test]
async fn an_identity_token_is_exchanged_by_a_client_it_federates_with_rfc8693_2_1() {
    let s = setup().await;
    let mut claims = k8s_claims(&s.k8s.url);
    claims["exp"] = json!(unix_now() + 100);
    let exchange = |token: String| {
        let app = &s.app;
        async move {
            app.token_basic(
                "exchanger",
                SECRET_A,
                &[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                    ("subject_token", &token),
                    ("subject_token_type", "urn:ietf:params:oauth:token-type:jwt"),
                ],
            )
            .await
        }
    };
    let reply = exchange(s.k8s_key.sign(&claims)).await;
    assert_status(&reply, 200, None, "identity token exchanged");
    let body = reply.json();
    assert_eq!(body["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    assert!(body["expires_in"].as_u64().unwrap() <= 100, "{body}");
    let access = s.app.verify(body["access_token"].as_str().unwrap(), "https://api.one").await;
    assert_eq!(access.sub, "exchanger");
    // Another subject is no identity of this client: RFC 8693 §2.2.2 `invalid_request`.
    claims["sub"] = json!("system:serviceaccount:billing:other");
    assert_status(&exchange(s.k8s_key.sign(&claims)).await, 400, Some("invalid_request"), "wrong subject");
}
