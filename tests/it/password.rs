//! The password grant's brute-force throttle by source address (RFC 6749 §4.3.2), over a
//! socket: it needs a peer address, and `X-Forwarded-For` from a trusted proxy. The
//! users defined here are shared with `inprocess_password`, where the rest of the grant is
//! tested.

use crate::helpers::*;

/// Users and first-party clients for these tests, on top of the shared clients.
pub(crate) const USERS: &str = r#"
[[clients]]
id = "app"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
grant_types = ["password", "refresh_token"]
scopes = ["read", "write", "profile", "openid"]
default_scopes = ["read"]
audiences = ["https://api.one"]
claims = { tier = "first-party" }

[[clients]]
id = "app-no-refresh"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
grant_types = ["password"]
scopes = ["read"]
audiences = ["https://api.one"]

[[users]]
username = "alice"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$gr55kYAwgwsBnQH58YKNKw$5fjCaYqJiSh45KiuCjAr/Ja1nFM40pe78lQECvRC3uQ"
scopes = ["read", "profile"]
claims = { email = "alice@example.com", tier = "gold" }

[[users]]
username = "bob"
password_hash = "$argon2id$v=19$m=19456,t=2,p=1$swna0PT2Ol9kF0ugUGPWow$W2FZOQiG1OyhJ4o2sNQL4CA5y/DAIC0sCT77FWfMEXk"
scopes = ["read"]
enabled = false
"#;

pub(crate) async fn spawn() -> TestApp {
    TestApp::spawn_config(&format!("{CLIENTS}{USERS}"), std::sync::Arc::new(tokenmint::clock::SystemClock))
        .await
}

async fn login(app: &TestApp, client: &str, user: &str, password: &str) -> reqwest::Response {
    let form = [("grant_type", "password"), ("username", user), ("password", password)];
    app.token_basic(client, SECRET_A, &form).await
}

/// A failed login for `user` as if sent through a proxy that wrote `forwarded_for` (text, or
/// raw header bytes).
async fn failed_login_via(app: &TestApp, user: &str, forwarded_for: impl AsRef<[u8]>) -> u16 {
    let form = [("grant_type", "password"), ("username", user), ("password", "guess")];
    let xff = reqwest::header::HeaderValue::from_bytes(forwarded_for.as_ref()).unwrap();
    let req = app.token_req().basic_auth("app", Some(SECRET_A)).header("x-forwarded-for", xff);
    send(req.form(&form)).await.status().as_u16()
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_address_limit_counts_the_forwarded_client() {
    // The test client connects from 127.0.0.1, playing the proxy.
    let toml = format!("[server]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n{CLIENTS}{USERS}");
    let app = TestApp::spawn_config(&toml, std::sync::Arc::new(tokenmint::clock::SystemClock)).await;
    // Five failures from 203.0.113.5, each for another user (so only the address counts),
    // some with a spoofed entry on the left and a second trusted hop on the right.
    for (i, xff) in
        ["203.0.113.5", "198.51.100.1, 203.0.113.5", "203.0.113.5, 10.1.1.1", "203.0.113.5", "203.0.113.5"]
            .iter()
            .enumerate()
    {
        assert_eq!(failed_login_via(&app, &format!("nobody-{i}"), xff).await, 400, "{xff}");
    }
    // That client now backs off, whatever it writes on the left ...
    assert_eq!(failed_login_via(&app, "nobody-5", "192.0.2.77, 203.0.113.5").await, 429);
    // ... and every other client behind the same proxy is unaffected.
    assert_eq!(failed_login_via(&app, "nobody-6", "203.0.113.6").await, 400);
    let res = login(&app, "app", "alice", "wonderland").await;
    assert_eq!(res.status(), 200, "a user behind the proxy can still log in");
}

#[tokio::test]
async fn a_non_ascii_x_forwarded_for_element_does_not_hide_the_forwarded_client() {
    let toml = format!("[server]\ntrusted_proxies = [\"127.0.0.1\"]\n{CLIENTS}{USERS}");
    let app = TestApp::spawn_config(&toml, std::sync::Arc::new(tokenmint::clock::SystemClock)).await;
    // The client wrote junk (not ASCII) on the left; the proxy appended its real address.
    for i in 0..5 {
        assert_eq!(
            failed_login_via(&app, &format!("nobody-{i}"), b"\xff\xfe caf\xc3\xa9, 203.0.113.5").await,
            400
        );
    }
    // The failures were charged to 203.0.113.5 ...
    assert_eq!(failed_login_via(&app, "nobody-5", "203.0.113.5").await, 429);
    // ... not to the proxy, whose own requests are still checked.
    let form = [("grant_type", "password"), ("username", "nobody-6"), ("password", "guess")];
    let res = send(app.token_req().basic_auth("app", Some(SECRET_A)).form(&form)).await;
    assert_eq!(res.status(), 400);
}

#[tokio::test]
async fn without_trusted_proxies_x_forwarded_for_is_ignored() {
    let app = spawn().await;
    // A client rotating made-up X-Forwarded-For values is still one address.
    for i in 0..5 {
        assert_eq!(failed_login_via(&app, &format!("nobody-{i}"), &format!("203.0.113.{i}")).await, 400);
    }
    assert_eq!(failed_login_via(&app, "nobody-5", "203.0.113.99").await, 429);
}

/// RFC 6749 §4.3.2 asks for protection against brute force, not a cap on honest
/// concurrency: logins sent all at once from one address for one user (a backend signing
/// its users in, a job using a service account) wait behind the checks already running and
/// all succeed, while another address guessing another user's password is backed off alone.
#[tokio::test]
async fn many_right_logins_at_once_from_one_address_all_succeed_rfc6749_4_3_2() {
    let app = spawn().await;
    let guesser =
        reqwest::Client::builder().local_address(std::net::IpAddr::from([127, 0, 0, 2])).build().unwrap();
    let right = [("grant_type", "password"), ("username", "alice"), ("password", "wonderland")];
    let wrong = [("grant_type", "password"), ("username", "nobody"), ("password", "guess")];
    let mut logins = tokio::task::JoinSet::new();
    for _ in 0..24 {
        logins.spawn(send(app.token_req().basic_auth("app", Some(SECRET_A)).form(&right)));
    }
    let mut guesses = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let req = guesser.post(app.url("/oauth2/token")).basic_auth("app", Some(SECRET_A)).form(&wrong);
        guesses.spawn(send(req));
    }
    let statuses =
        |answers: Vec<reqwest::Response>| answers.iter().map(|r| r.status().as_u16()).collect::<Vec<_>>();
    let logged_in = statuses(logins.join_all().await);
    assert!(logged_in.iter().all(|s| *s == 200), "{logged_in:?}");
    let guessed = statuses(guesses.join_all().await);
    assert!(guessed.iter().filter(|s| **s == 400).count() <= 5, "{guessed:?}");
    assert!(guessed.iter().all(|s| [400, 429].contains(s)), "{guessed:?}");
    assert!(guessed.contains(&429), "the guessing address backs off: {guessed:?}");
}
