//! Token reuse (`tokens.reuse_window`) where it needs a running server: the window shown by
//! `config check`, and a revocation picked up by the key-maintenance task. The window's rules
//! are in `inprocess_reuse`.

use crate::cli::run;
use crate::helpers::{CLIENTS, TestApp, eventually};
use crate::rotation::{keys_cli, signing_kid};

pub(crate) const REUSE: &str = "[tokens]\nreuse_window = \"30s\"\n";

#[tokio::test]
async fn config_check_shows_the_window_and_refuses_a_malformed_one() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("on.toml"), format!("{REUSE}{CLIENTS}")).unwrap();
    let (code, out, _) = run(dir.path(), &["config", "check", "--config", "on.toml"], None).await;
    assert_eq!(code, 0);
    assert!(out.contains("token reuse window 30s"), "{out}");
    std::fs::write(dir.path().join("off.toml"), CLIENTS).unwrap();
    let (_, out, _) = run(dir.path(), &["config", "check", "--config", "off.toml"], None).await;
    assert!(!out.contains("reuse"), "{out}");
    std::fs::write(dir.path().join("bad.toml"), format!("[tokens]\nreuse_window = \"soon\"\n{CLIENTS}"))
        .unwrap();
    let (code, _, err) = run(dir.path(), &["config", "check", "--config", "bad.toml"], None).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("reuse_window"), "{err}");
}

#[tokio::test]
async fn a_revoked_signing_key_stops_reuse_at_once() {
    let app = TestApp::spawn_with(REUSE).await;
    let (first, _) = app.access_token(&[]).await;
    let (again, _) = app.access_token(&[]).await;
    assert_eq!(again, first);
    let kid = signing_kid(&app.http, &app.addr.to_string()).await;
    let (code, _, err) = keys_cli(&app, &["revoke", &kid]).await;
    assert_eq!(code, 0, "{err}");
    // Once the server signs with another key, the very next token is a fresh one.
    let switched = eventually(|| async { signing_kid(&app.http, &app.addr.to_string()).await != kid }).await;
    assert!(switched, "the server never stopped signing with the revoked key");
    let (fresh, _) = app.access_token(&[]).await;
    assert_ne!(fresh, first, "the token signed by the revoked key was still handed out");
    let header = jsonwebtoken::decode_header(&fresh).unwrap();
    assert_ne!(header.kid.as_deref(), Some(kid.as_str()));
    app.verify(&fresh, "https://api.one").await;
}
