//! Client authentication over a socket: the brute-force throttle by source address (RFC 6749
//! §2.3.1), which needs a peer address. Everything else about client authentication is in
//! `inprocess_token_auth`.

use crate::helpers::*;

const CC: (&str, &str) = ("grant_type", "client_credentials");

/// Six argon2id clients sharing the `argon` client's hash (secret [`ARGON_SECRET`]).
fn argon_clients() -> String {
    let hash =
        "$argon2id$v=19$m=19456,t=2,p=1$xvXCl2DEFqFjoJabKCq7qA$ESLBK9Q23EuQfmvequbFQ3q6h9o9DMx+ott7wJGB3y4";
    (1..=6)
        .map(|i| format!("[[clients]]\nid = \"argon-{i}\"\nsecret_hashes = [\"{hash}\"]\naudiences = [\"https://api.one\"]\n"))
        .collect()
}

/// A client credentials request for `id` as if forwarded by a proxy for `client_address`.
async fn via(app: &TestApp, id: &str, secret: &str, client_address: &str) -> reqwest::Response {
    let req = app.token_req().basic_auth(id, Some(secret)).header("x-forwarded-for", client_address);
    send(req.form(&[CC])).await
}

#[tokio::test]
async fn wrong_secrets_for_many_argon2_clients_back_off_per_address_rfc6749_2_3_1() {
    let toml = format!("[server]\ntrusted_proxies = [\"127.0.0.1\"]\n{}", argon_clients());
    let app = TestApp::spawn_config(&toml, std::sync::Arc::new(tokenmint::clock::SystemClock)).await;
    // One wrong secret for each of five clients from one address ...
    for i in 1..=5 {
        assert_eq!(via(&app, &format!("argon-{i}"), "guess", "203.0.113.5").await.status(), 401);
    }
    // ... and that address backs off, for a sixth client too, right secret or not.
    assert_oauth_error(via(&app, "argon-6", ARGON_SECRET, "203.0.113.5").await, 429, "invalid_client").await;
    // Another address behind the same proxy is not affected.
    assert_eq!(via(&app, "argon-6", ARGON_SECRET, "203.0.113.6").await.status(), 200);
}
