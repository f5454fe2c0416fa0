//! Token reuse (`tokens.reuse_window`), in-process with a clock the test moves: identical
//! client-credentials requests within the window get the same token; anything that changes
//! the grant gets a new one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokenmint::claims::AccessClaims;
use tokenmint::clock::Clock;

use crate::helpers::{CLIENTS, InProcess, SECRET_A, fixed_instant};
use crate::reuse::REUSE;

/// A clock the test moves forward by hand.
#[derive(Debug)]
struct SteppingClock(Mutex<SystemTime>);

impl Clock for SteppingClock {
    fn now(&self) -> SystemTime {
        *self.0.lock().unwrap()
    }
}

impl SteppingClock {
    fn advance(&self, by: Duration) {
        *self.0.lock().unwrap() += by;
    }
}

async fn reuse_app() -> (InProcess, Arc<SteppingClock>) {
    let clock = Arc::new(SteppingClock(Mutex::new(fixed_instant())));
    let app = InProcess::spawn_config(&format!("{REUSE}{CLIENTS}"), clock.clone()).await;
    (app, clock)
}

fn claims(token: &str) -> AccessClaims {
    jsonwebtoken::dangerous::insecure_decode::<AccessClaims>(token).unwrap().claims
}

#[tokio::test]
async fn an_identical_request_within_the_window_gets_the_same_token_with_its_remaining_lifetime() {
    let (app, clock) = reuse_app().await;
    let (first, body) = app.access_token(&[("scope", "read")]).await;
    assert_eq!(body["expires_in"], 300);
    clock.advance(Duration::from_secs(10));
    let (again, body) = app.access_token(&[("scope", "read")]).await;
    assert_eq!(again, first, "the same token within the window");
    assert_eq!(body["expires_in"], 290, "expires_in is the lifetime left (RFC 6749 §5.1)");
    assert_eq!(body["scope"], "read");

    clock.advance(Duration::from_secs(20));
    let (later, body) = app.access_token(&[("scope", "read")]).await;
    assert_ne!(later, first, "30 s after issue the window is over");
    assert_eq!(body["expires_in"], 300);
    assert_eq!(claims(&later).iat, claims(&first).iat + 30);
    assert_ne!(claims(&later).jti, claims(&first).jti);
}

#[tokio::test]
async fn any_change_to_the_grant_gets_a_new_token() {
    let (app, _clock) = reuse_app().await;
    let (base, _) = app.access_token(&[("scope", "read")]).await;
    let variants: [&[(&str, &str)]; 3] = [
        &[("scope", "read write")],
        &[("scope", "read"), ("resource", "https://api.two")],
        &[("scope", "read"), ("expires_in", "60")],
    ];
    let mut seen = vec![base.clone()];
    for extra in variants {
        let (token, _) = app.access_token(extra).await;
        assert!(!seen.contains(&token), "{extra:?} got an earlier token");
        seen.push(token);
    }
    // The default scope is "read": no `scope` and `scope=read` are the same grant.
    let (default, _) = app.access_token(&[]).await;
    assert_eq!(default, base, "the same granted scope reuses the token");

    // Another client with the same request never gets svc-a's token.
    let res = app.token_basic("rotating", SECRET_A, &[("grant_type", "client_credentials")]).await;
    let body = res.json();
    assert_eq!(claims(body["access_token"].as_str().unwrap()).client_id, "rotating");
}

#[tokio::test]
async fn no_token_is_reused_with_less_than_half_its_lifetime_left() {
    // short-lived has ttl 90 s; a 60 s window is cut at 45 s.
    let clock = Arc::new(SteppingClock(Mutex::new(fixed_instant())));
    let app =
        InProcess::spawn_config(&format!("[tokens]\nreuse_window = \"60s\"\n{CLIENTS}"), clock.clone()).await;
    let get = || app.token_basic("short-lived", SECRET_A, &[("grant_type", "client_credentials")]);
    let first = get().await.json();
    clock.advance(Duration::from_secs(45));
    let second = get().await.json();
    assert_eq!(second["access_token"], first["access_token"]);
    assert_eq!(second["expires_in"], 45);
    clock.advance(Duration::from_secs(1));
    let third = get().await.json();
    assert_ne!(third["access_token"], first["access_token"]);
    assert_eq!(third["expires_in"], 90);
}

#[tokio::test]
async fn off_by_default_every_request_is_signed_anew() {
    let app = InProcess::spawn().await;
    let (a, _) = app.access_token(&[]).await;
    let (b, _) = app.access_token(&[]).await;
    assert_ne!(a, b);
    assert_ne!(claims(&a).jti, claims(&b).jti);
}
