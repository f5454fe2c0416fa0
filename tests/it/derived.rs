//! Derived keys (`keys.source = "derived"`): replicas that share only a master secret agree
//! on every key, rotate together with zero verification failures, and write no key files.

use std::path::Path;
use std::sync::Arc;

use crate::cli::{Served, output, run, serve, tokenmint};
use crate::helpers::*;
use crate::rotation::{observe_rotation, signing_kid};
use tokenmint::clock::SystemClock;

/// A master secret as an operator would make it (`openssl rand -base64 48`).
const MASTER: &str = "q3V0bV9kZXJpdmVkX2tleXNfdGVzdF9zZWNyZXRfMDEyMzQ1Njc4OWFiY2RlZg==";
/// Another one.
const OTHER_MASTER: &str = "b3RoZXJfbWFzdGVyX3NlY3JldF9mb3JfdGVzdHNfMDEyMzQ1Njc4OWFiY2RlZmdo";

/// The rotation test's compressed schedule (see `rotation::FAST`), with derived keys: a new
/// key every 4 s, published 3 s ahead. `refresh_ttl` is short too, as it sets how many past
/// keys are kept for refresh tokens.
const FAST_DERIVED: &str = r#"
[tokens]
ttl = "2s"
max_ttl = "2s"
refresh_ttl = "8s"
leeway = "0s"
[keys]
source = "derived"
jwks_max_age = "1s"
publish_ahead = "3s"
poll_interval = "500ms"
rotate_every = "4s"
"#;

/// Writes `tokenmint.toml` (the fast schedule plus `extra` in `[keys]`) into `dir`, and the
/// master secret file when `secret_file` is given.
fn write_replica(dir: &Path, extra: &str, secret_file: Option<&str>) {
    let toml = format!("issuer = \"{ISSUER}\"\n{FAST_DERIVED}dir = \"keys\"\n{extra}\n{CLIENTS}");
    std::fs::write(dir.join("tokenmint.toml"), toml).unwrap();
    if let Some(secret) = secret_file {
        std::fs::write(dir.join("master.secret"), format!("{secret}\n")).unwrap();
    }
}

/// True when `dir/keys` holds no file (or does not exist).
fn no_key_files(dir: &Path) -> bool {
    std::fs::read_dir(dir.join("keys")).map_or(true, |mut entries| entries.next().is_none())
}

#[tokio::test]
async fn two_replicas_sharing_only_the_secret_rotate_with_zero_verification_failures() {
    // Two replicas, each in its own directory: A reads the secret from a file, B from the
    // environment. Nothing else is shared.
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    write_replica(dir_a.path(), "master_secret_file = \"master.secret\"", Some(MASTER));
    write_replica(dir_b.path(), "", None);
    let mut cmd_a = tokenmint(dir_a.path());
    cmd_a.args(["--config", "tokenmint.toml"]);
    let mut cmd_b = tokenmint(dir_b.path());
    cmd_b.args(["--config", "tokenmint.toml"]).env("TOKENMINT_KEYS__MASTER_SECRET", MASTER);
    let a: Served = serve(cmd_a).await;
    let b: Served = serve(cmd_b).await;
    let http = test_http();
    // Each token is checked against the JWKS of the replica that signed it and of the other.
    let seen = observe_rotation(&http, &a.addr, &b.addr, true).await;
    // SIGHUP re-derives (the secret is read at startup only) and the replica keeps serving.
    std::process::Command::new("kill").args(["-HUP", &a.pid().to_string()]).status().unwrap();
    assert!(a.wait_for_log("SIGHUP: re-deriving the keys").await);
    assert_eq!(basic_token(&http, &a.addr, "svc-a", SECRET_A).await.status(), 200);
    let (graceful, log_a) = a.stop().await;
    assert!(graceful, "SIGHUP must not end the process");
    let (_, log_b) = b.stop().await;
    seen.assert_clean_rotation(100, "");
    assert!(no_key_files(dir_a.path()) && no_key_files(dir_b.path()), "derived keys wrote key files");
    for line in log_a.iter().chain(&log_b) {
        assert!(!line.contains(MASTER), "the master secret reached the log: {line}");
    }
}

/// An in-process server with derived keys of `alg` from `secret`.
async fn derived_app(secret: &str, alg: &str) -> (TestApp, tempfile::TempDir) {
    let secret_dir = tempfile::tempdir().unwrap();
    let path = secret_dir.path().join("master.secret");
    std::fs::write(&path, secret).unwrap();
    let toml = format!(
        "[tokens]\nalgorithm = \"{alg}\"\n[keys]\nsource = \"derived\"\nrotate_every = \"24h\"\n\
         master_secret_file = \"{}\"\n{CLIENTS}",
        path.display()
    );
    (TestApp::spawn_config(&toml, Arc::new(SystemClock)).await, secret_dir)
}

#[tokio::test]
async fn tokens_verify_against_any_replica_with_the_same_secret_and_no_other() {
    for alg in ["ES256", "EdDSA"] {
        let (a, _sa) = derived_app(MASTER, alg).await;
        let (b, _sb) = derived_app(MASTER, alg).await;
        let (c, _sc) = derived_app(OTHER_MASTER, alg).await;
        let (token, _) = a.access_token(&[]).await;
        let (jwks_a, jwks_b) = (a.jwks().await, b.jwks().await);
        assert_eq!(jwks_a, jwks_b, "{alg}: replicas with one secret publish the same keys");
        assert_eq!(jwks_a.keys[0].common.key_algorithm.map(|k| format!("{k:?}")), Some(alg.to_owned()));
        let claims = verify_with(&jwks_b, &token, "https://api.one").unwrap();
        assert_eq!(claims.sub, "svc-a");
        let err = verify_with(&c.jwks().await, &token, "https://api.one").unwrap_err();
        assert!(err.contains("kid"), "{alg}: another secret must give other keys: {err}");
        assert!(std::fs::read_dir(a.keys_dir.path()).unwrap().next().is_none(), "no key file is written");
    }
}

#[tokio::test]
async fn keys_list_shows_the_derived_keys_and_the_other_commands_refuse() {
    let (app, secret_dir) = derived_app(MASTER, "ES256").await;
    let kid = signing_kid(&app.http, &app.addr.to_string()).await;
    let config = format!(
        "issuer = \"{ISSUER}\"\n[keys]\nsource = \"derived\"\nrotate_every = \"24h\"\nmaster_secret_file = \"{}\"\n",
        secret_dir.path().join("master.secret").display()
    );
    std::fs::write(secret_dir.path().join("c.toml"), config).unwrap();
    let (code, out, err) = run(secret_dir.path(), &["--config", "c.toml", "keys", "list"], None).await;
    assert_eq!(code, 0, "{err}");
    let signing: Vec<&str> = out.lines().filter(|l| l.contains(" signing ")).collect();
    assert_eq!(signing.len(), 1, "{out}");
    assert!(signing[0].starts_with(&kid), "the CLI derives the key the server signs with: {out}");
    for command in ["rotate", "generate", "prune"] {
        let (code, _, err) = run(secret_dir.path(), &["--config", "c.toml", "keys", command], None).await;
        assert_eq!(code, 1, "{command}");
        assert!(err.contains("derived from the master secret"), "{command}: {err}");
    }
    let (code, _, err) = run(secret_dir.path(), &["--config", "c.toml", "keys", "revoke", &kid], None).await;
    assert_eq!(code, 1);
    assert!(err.contains("change the master secret"), "{err}");
}

#[tokio::test]
async fn derived_key_settings_are_checked_and_the_secret_is_never_echoed() {
    let dir = tempfile::tempdir().unwrap();
    let check = |toml: &str, env: Option<&str>| {
        std::fs::write(dir.path().join("c.toml"), format!("[keys]\nsource = \"derived\"\n{toml}")).unwrap();
        let mut cmd = tokenmint(dir.path());
        cmd.args(["--config", "c.toml", "config", "check"]);
        if let Some(secret) = env {
            cmd.env("TOKENMINT_KEYS__MASTER_SECRET", secret);
        }
        async move {
            let (code, _, stderr) = output(cmd, None).await;
            (code, stderr)
        }
    };
    let cases: [(&str, Option<&str>, &str); 6] = [
        ("rotate_every = \"24h\"\n", None, "needs a master secret"),
        ("", Some(MASTER), "needs keys.rotate_every"),
        (
            &format!("rotate_every = \"24h\"\nmaster_secret = \"{MASTER}\"\n"),
            None,
            "must not be written in the configuration file",
        ),
        ("rotate_every = \"24h\"\n", Some("short-secret-123"), "at least 32 are needed"),
        ("rotate_every = \"2h\"\n[tokens]\nalgorithm = \"RS256\"\n", Some(MASTER), "RS256 needs keys.dir"),
        (
            "rotate_every = \"2h\"\n[tokens]\nrefresh_ttl = \"90d\"\n",
            Some(MASTER),
            "too short for derived keys",
        ),
    ];
    for (toml, env, expected) in cases {
        let (code, err) = check(toml, env).await;
        assert_eq!(code, 64, "{toml}: {err}");
        assert!(err.contains(expected), "{toml}: expected `{expected}` in {err}");
        assert!(!err.contains(MASTER) && !err.contains("short-secret-123"), "the secret was echoed: {err}");
    }
    let (code, err) = check("rotate_every = \"24h\"\n", Some(MASTER)).await;
    assert_eq!(code, 0, "{err}");
}
