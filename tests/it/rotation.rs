//! Key rotation that no verifier notices: two replicas on one key directory, automatic
//! rotation on a compressed schedule, a corrupt file under load, revocation, the keys CLI,
//! and the invariants checked at startup.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;

use crate::cli::{Served, run, serve, tokenmint};
use crate::helpers::*;

/// Windows small enough to rotate every few seconds, still meeting the invariants:
/// publish_ahead (3 s) > jwks_max_age (1 s) + poll_interval (0.5 s) + leeway (0 s), and
/// rotate_every (4 s) > publish_ahead.
const FAST: &str = r#"
[tokens]
ttl = "2s"
max_ttl = "2s"
leeway = "0s"
[keys]
jwks_max_age = "1s"
publish_ahead = "3s"
poll_interval = "500ms"
rotate_every = "4s"
"#;

/// A verifier that caches each server's JWKS for the full max-age it was given and never
/// refetches early: the strictest client a rotation has to satisfy.
#[derive(Default)]
struct CachingVerifier {
    cache: HashMap<String, (JwkSet, Instant, Duration)>,
}

impl CachingVerifier {
    pub(crate) async fn verify(
        &mut self,
        http: &reqwest::Client,
        addr: &str,
        token: &str,
    ) -> Result<(), String> {
        let fresh = self.cache.get(addr).is_some_and(|(_, at, age)| at.elapsed() < *age);
        if !fresh {
            let res = send(http.get(format!("http://{addr}/.well-known/jwks.json"))).await;
            let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
            let age = cache.rsplit("max-age=").next().and_then(|n| n.parse().ok()).unwrap();
            let jwks: JwkSet = res.json().await.unwrap();
            self.cache.insert(addr.to_owned(), (jwks, Instant::now(), Duration::from_secs(age)));
        }
        verify_with(&self.cache[addr].0, token, "https://api.one").map(|_| ())
    }
}

pub(crate) async fn signing_kid(http: &reqwest::Client, addr: &str) -> String {
    let ready: Value = get_json(http, &format!("http://{addr}/readyz")).await;
    ready["kid"].as_str().unwrap().to_owned()
}

fn write_config(dir: &Path, extra: &str) {
    let toml = format!("issuer = \"{ISSUER}\"\n{FAST}dir = \"keys\"\n{extra}\n{CLIENTS}");
    std::fs::write(dir.join("tokenmint.toml"), toml).unwrap();
}

fn replica(dir: &Path, auto_rotate: bool) -> tokio::process::Command {
    let mut cmd = tokenmint(dir);
    cmd.args(["--config", "tokenmint.toml"]);
    if auto_rotate {
        cmd.env("TOKENMINT_KEYS__AUTO_ROTATE", "true");
    }
    cmd
}

/// What two replicas showed under [`observe_rotation`].
pub(crate) struct Observed {
    /// Verifications made.
    checked: usize,
    /// Verifications that failed.
    failures: usize,
    /// Samples where B's signing key matched A's neither just before nor just after.
    disagreements: usize,
    /// A's signing keys, in the order they signed.
    signers: Vec<String>,
}

impl Observed {
    /// Zero failures and disagreements, at least `min_checked` verifications, and at least
    /// three signing keys over ~three periods, none signing twice. `context` goes with the
    /// signer assertion (for instance a replica's log).
    pub(crate) fn assert_clean_rotation(&self, min_checked: usize, context: &str) {
        let Observed { checked, failures, disagreements, signers } = self;
        assert!(*checked > min_checked, "only {checked} verifications");
        assert_eq!(*failures, 0, "{failures} of {checked} verifications failed");
        assert_eq!(*disagreements, 0, "the replicas disagreed on the signing key");
        assert!(
            signers.len() >= 3,
            "expected at least 3 signing keys over ~3 periods, saw {signers:?}\n{context}"
        );
        assert_eq!(
            signers.iter().collect::<HashSet<_>>().len(),
            signers.len(),
            "a key signed twice: {signers:?}"
        );
    }
}

/// For 13 s (about three periods of the fast schedules), every 100 ms: a token from each
/// replica, verified by a [`CachingVerifier`] against the signing replica's JWKS (and, with
/// `cross`, the other replica's too), and both replicas' signing keys sampled.
pub(crate) async fn observe_rotation(http: &reqwest::Client, a: &str, b: &str, cross: bool) -> Observed {
    let mut verifier = CachingVerifier::default();
    let mut seen = Observed { checked: 0, failures: 0, disagreements: 0, signers: Vec::new() };
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(13) {
        for (addr, other) in [(a, b), (b, a)] {
            let body: Value = basic_token(http, addr, "svc-a", SECRET_A).await.json().await.unwrap();
            let token = body["access_token"].as_str().unwrap();
            let jwks_of: &[&str] = if cross { &[addr, other] } else { &[addr] };
            for jwks in jwks_of {
                seen.checked += 1;
                if let Err(e) = verifier.verify(http, jwks, token).await {
                    eprintln!("verification failed at {:?}: {e}", started.elapsed());
                    seen.failures += 1;
                }
            }
        }
        // Both report the same signing key: B's answer must match A's just before or after
        // (the only slack is an activation falling between the two samples).
        let (a1, kb, a2) =
            (signing_kid(http, a).await, signing_kid(http, b).await, signing_kid(http, a).await);
        if kb != a1 && kb != a2 {
            seen.disagreements += 1;
        }
        if seen.signers.last() != Some(&a1) {
            seen.signers.push(a1);
        }
        // A sleep by design: it paces samples over 13 s of a wall-clock schedule (the time
        // observed is the behaviour), leaving the CPU to the replicas in between.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    seen
}

#[tokio::test]
async fn two_replicas_rotate_with_zero_verification_failures() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    let a: Served = serve(replica(dir.path(), true)).await;
    let b: Served = serve(replica(dir.path(), false)).await;
    let seen = observe_rotation(&test_http(), &a.addr, &b.addr, false).await;
    let (_, log_a) = a.stop().await;
    let _ = b.stop().await;
    seen.assert_clean_rotation(50, &format!("{log_a:#?}"));
}

#[tokio::test]
async fn automatic_rotation_publishes_each_key_ahead_of_signing() {
    let app = TestApp::spawn_with(&format!("{FAST}auto_rotate = true\n")).await;
    let first_published: RefCell<HashMap<String, Instant>> = RefCell::default();
    let first_signing: RefCell<HashMap<String, Instant>> = RefCell::default();
    let order: RefCell<Vec<String>> = RefCell::default();
    // Sampled until the third key signs, which rotate_every = 4s brings after about 8 s.
    let third = eventually_within(Duration::from_secs(20), || async {
        let keys = app.jwks().await.keys;
        let kid = signing_kid(&app.http, &app.addr.to_string()).await;
        for k in keys {
            first_published.borrow_mut().entry(k.common.key_id.unwrap()).or_insert_with(Instant::now);
        }
        if !first_signing.borrow().contains_key(&kid) {
            first_signing.borrow_mut().insert(kid.clone(), Instant::now());
            order.borrow_mut().push(kid);
        }
        order.borrow().len() >= 3
    })
    .await;
    let (first_published, first_signing, order) =
        (first_published.into_inner(), first_signing.into_inner(), order.into_inner());
    assert!(third, "expected at least 3 keys in 20 s with rotate_every = 4s: {order:?}");
    // Every key after the first was in the JWKS well before it signed: publish_ahead (3 s)
    // less the sampling's lag, which on a loaded 2-core CI machine reached 0.5 s (a key that
    // signed unpublished would show about 0 s here).
    for kid in &order[1..] {
        let ahead = first_signing[kid].duration_since(first_published[kid]);
        assert!(ahead >= Duration::from_millis(2000), "{kid} published only {ahead:?} before signing");
    }
    // Retired keys leave the JWKS once max_ttl + leeway (2 s) has passed.
    assert!(app.jwks().await.keys.len() <= 3);
}

#[tokio::test]
async fn the_jwks_max_age_never_outlasts_the_next_key_change() {
    let app = TestApp::spawn_with(&format!("{FAST}auto_rotate = true\n")).await;
    let first = send(app.http.get(app.url("/.well-known/jwks.json"))).await.headers()["etag"].clone();
    // Sampled until the key set changes (the next key is published about 1 s in).
    let changed = eventually(|| async {
        let res = send(app.http.get(app.url("/.well-known/jwks.json"))).await;
        let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
        let age: u64 = cache.rsplit("max-age=").next().unwrap().parse().unwrap();
        assert!(age <= 1, "{cache}");
        res.headers()["etag"] != first
    })
    .await;
    assert!(changed, "the JWKS did not change within {EVENTUALLY:?}");
    // With a long configured max-age, the next planned key creation caps it.
    let app = TestApp::spawn_with(
        "[keys]\njwks_max_age = \"10m\"\npublish_ahead = \"1h\"\nrotate_every = \"1h 5m\"\n",
    )
    .await;
    let res = send(app.http.get(app.url("/.well-known/jwks.json"))).await;
    let cache = res.headers()["cache-control"].to_str().unwrap().to_owned();
    let age: u64 = cache.rsplit("max-age=").next().unwrap().parse().unwrap();
    assert!((290..=300).contains(&age), "next key is created in 5 min: {cache}");
}

/// `tokenmint serve` in `dir` on `dir/keys`, polling it every 200 ms, default schedule.
async fn serve_polling(dir: &Path) -> Served {
    let toml = format!("issuer = \"{ISSUER}\"\n[keys]\ndir = \"keys\"\npoll_interval = \"200ms\"\n{CLIENTS}");
    std::fs::write(dir.join("tokenmint.toml"), toml).unwrap();
    serve(replica(dir, false)).await
}

#[tokio::test]
async fn a_corrupt_key_file_under_load_fails_no_request() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_polling(dir.path()).await;
    let http = test_http();
    let kid = signing_kid(&http, &served.addr).await;
    // At least 300 requests, and until every corrupt file has been read.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (http, addr, done) = (http.clone(), served.addr.clone(), done.clone());
        tokio::spawn(async move {
            let (mut sent, mut failed) = (0, 0);
            while sent < 300 || !done.load(std::sync::atomic::Ordering::SeqCst) {
                if basic_token(&http, &addr, "svc-a", SECRET_A).await.status() != 200 {
                    failed += 1;
                }
                sent += 1;
            }
            (sent, failed)
        })
    };
    let junk = [
        ("garbage.pem", "this is not a key".to_owned()),
        ("truncated.pem", "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEG\n".to_owned()),
        (
            "tm-9999999999-es256.pem",
            "alg = \"ES256\"\n-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n".to_owned(),
        ),
    ];
    for (name, text) in junk {
        std::fs::write(dir.path().join("keys").join(name), text).unwrap();
        // The server says it read the file, and skipped it.
        let skipped = format!("{name}: ");
        assert!(served.wait_for_log(&skipped).await, "the server never read {name}");
    }
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let (sent, failed) = load.await.unwrap();
    assert_eq!(failed, 0, "{failed} of {sent} requests failed");
    assert_eq!(signing_kid(&http, &served.addr).await, kid);
    served.stop().await;
}

#[tokio::test]
async fn with_no_usable_key_left_the_last_good_set_stays() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_polling(dir.path()).await;
    let http = test_http();
    let kid = signing_kid(&http, &served.addr).await;
    for entry in std::fs::read_dir(dir.path().join("keys")).unwrap() {
        std::fs::remove_file(entry.unwrap().path()).unwrap();
    }
    assert!(
        served.wait_for_log("keeping the previous key set").await,
        "the server never re-read its emptied key directory"
    );
    assert_eq!(signing_kid(&http, &served.addr).await, kid);
    let body: Value = basic_token(&http, &served.addr, "svc-a", SECRET_A).await.json().await.unwrap();
    let jwks: JwkSet = get_json(&http, &format!("http://{}/.well-known/jwks.json", served.addr)).await;
    verify_with(&jwks, body["access_token"].as_str().unwrap(), "https://api.one").unwrap();
    served.stop().await;
}

/// Runs `tokenmint keys ...` against `app`'s key directory.
pub(crate) async fn keys_cli(app: &TestApp, args: &[&str]) -> (i32, String, String) {
    keys_cli_in(app.keys_dir.path(), args).await
}

/// Runs `tokenmint keys ...` against the key directory `keys`.
pub(crate) async fn keys_cli_in(keys: &Path, args: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = format!("[keys]\ndir = \"{}\"\npublish_ahead = \"1h\"\n", keys.display());
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    let mut all = vec!["--config", "c.toml", "keys"];
    all.extend_from_slice(args);
    run(dir.path(), &all, None).await
}

#[tokio::test]
async fn keys_rotate_adds_one_pending_key_and_is_idempotent() {
    let app = TestApp::spawn().await;
    let (code, out, err) = keys_cli(&app, &["rotate"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created"), "{out}");
    let (_, again, _) = keys_cli(&app, &["rotate"]).await;
    assert!(again.contains("already pending"), "{again}");
    let (_, list, _) = keys_cli(&app, &["list"]).await;
    assert_eq!(list.lines().filter(|l| l.contains(" pending ")).count(), 1, "{list}");
    assert_eq!(list.lines().filter(|l| l.contains(" signing ")).count(), 1, "{list}");
    // The running server publishes the pending key without being told.
    assert!(
        eventually(|| async { app.jwks().await.keys.len() == 2 }).await,
        "the pending key never reached the JWKS"
    );
}

#[tokio::test]
async fn keys_revoke_removes_the_signing_key_at_once() {
    let app = TestApp::spawn().await;
    let (old, _) = app.access_token(&[]).await;
    let kid = signing_kid(&app.http, &app.addr.to_string()).await;
    let (code, out, err) = keys_cli(&app, &["revoke", &kid]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("signs from now on"), "{out}");
    let switched = eventually(|| async {
        let jwks = app.jwks().await;
        jwks.find(&kid).is_none() && signing_kid(&app.http, &app.addr.to_string()).await != kid
    })
    .await;
    assert!(switched, "the revoked key is still in use");
    assert!(verify_with(&app.jwks().await, &old, "https://api.one").is_err());
    let (token, _) = app.access_token(&[]).await;
    app.verify(&token, "https://api.one").await;
    let (_, list, _) = keys_cli(&app, &["list"]).await;
    assert!(list.contains("revoked"), "{list}");
    let (code, out, _) = keys_cli(&app, &["prune"]).await;
    assert_eq!(code, 0);
    assert!(out.contains(&kid), "a revoked key is pruned: {out}");
    let (code, _, err) = keys_cli(&app, &["revoke", "no-such-kid"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("no-such-kid"), "{err}");
    // A kid is base64url and may start with `-` (one in 64 does): still a kid, not an option.
    let (code, _, err) = keys_cli(&app, &["revoke", "-p-no-such-kid"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("-p-no-such-kid") && !err.contains("unexpected argument"), "{err}");
}

#[tokio::test]
async fn keys_import_takes_openssl_keys_of_every_kind() {
    let app = TestApp::spawn().await;
    let work = tempfile::tempdir().unwrap();
    let recipes: [(&str, &[&str]); 4] = [
        ("p256-pkcs8.pem", &["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]),
        ("p256-sec1.pem", &["ecparam", "-name", "prime256v1", "-genkey", "-noout"]),
        ("ed25519.pem", &["genpkey", "-algorithm", "ed25519"]),
        ("rsa.pem", &["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
    ];
    for (file, args) in recipes {
        let out =
            std::process::Command::new("openssl").args(args).arg("-out").arg(work.path().join(file)).output();
        let out = out.expect("openssl is needed for this test (Debian package `openssl`)");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let path = work.path().join(file);
        let (code, out, err) = keys_cli(&app, &["import", path.to_str().unwrap()]).await;
        assert_eq!(code, 0, "{file}: {err}");
        assert!(out.contains("created"), "{file}: {out}");
    }
    let (_, list, _) = keys_cli(&app, &["list"]).await;
    for alg in ["ES256", "EdDSA", "RS256"] {
        assert!(list.contains(alg), "{list}");
    }
    assert_eq!(list.lines().filter(|l| l.contains(" pending ")).count(), 4, "{list}");
}

#[tokio::test]
async fn settings_that_would_break_verifiers_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.toml"),
        "[keys]\njwks_max_age = \"1h\"\npublish_ahead = \"30m\"\nrotate_every = \"10m\"\n",
    )
    .unwrap();
    let (code, _, err) = run(dir.path(), &["config", "check", "--config", "bad.toml"], None).await;
    assert_eq!(code, 64);
    assert!(err.contains("keys.publish_ahead (30m) must be longer than keys.jwks_max_age (1h)"), "{err}");
    assert!(err.contains("keys.rotate_every (10m) must be longer than keys.publish_ahead"), "{err}");
    std::fs::write(dir.path().join("auto.toml"), "[keys]\nauto_rotate = true\n").unwrap();
    let (code, _, err) = run(dir.path(), &["config", "check", "--config", "auto.toml"], None).await;
    assert_eq!(code, 64);
    assert!(err.contains("auto_rotate = true needs keys.rotate_every"), "{err}");
}

#[tokio::test]
async fn sighup_re_reads_the_key_directory_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "");
    let served: Served = serve(replica(dir.path(), false)).await;
    let http = test_http();
    let kid = signing_kid(&http, &served.addr).await;
    // A key that signs at once, then SIGHUP: the process reloads instead of exiting (the
    // default action of SIGHUP).
    let (code, _, err) = run(
        dir.path(),
        &["--config", "tokenmint.toml", "keys", "generate", "--alg", "EdDSA", "--activate-in", "0s"],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let status =
        std::process::Command::new("kill").args(["-HUP", &served.pid().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(
        eventually(|| async { signing_kid(&http, &served.addr).await != kid }).await,
        "the new key was not picked up"
    );
    assert!(served.wait_for_log("SIGHUP: re-reading the key directory").await);
    assert_eq!(basic_token(&http, &served.addr, "svc-a", SECRET_A).await.status(), 200);
    let (graceful, _) = served.stop().await;
    assert!(graceful, "SIGHUP must not end the process");
}

/// inotify reports every open of a watched directory, reads included. A server that woke
/// on those re-read its key directory in a loop (its own read waking it again, every
/// 50 ms), and replicas sharing the directory kept waking each other.
#[tokio::test]
async fn an_idle_server_does_not_keep_re_reading_its_key_directory() {
    use notify::Watcher as _;
    use notify::event::{AccessKind, EventKind};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let dir = tempfile::tempdir().unwrap();
    // The default poll interval (10 s): only file-system events could cause a read here.
    let toml = format!("issuer = \"{ISSUER}\"\n[keys]\ndir = \"keys\"\n{CLIENTS}");
    std::fs::write(dir.path().join("tokenmint.toml"), toml).unwrap();
    let served = serve(replica(dir.path(), false)).await;
    signing_kid(&test_http(), &served.addr).await;

    let keys = dir.path().join("keys");
    let opens = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&opens);
    let watched = keys.clone();
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if let Ok(event) = event
            && matches!(event.kind, EventKind::Access(AccessKind::Open(_)))
            && event.paths.iter().any(|p| p == &watched)
        {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    })
    .unwrap();
    watcher.watch(&keys, notify::RecursiveMode::NonRecursive).unwrap();
    // What an operator's `ls keys/` does: one read of the directory.
    assert!(std::fs::read_dir(&keys).unwrap().count() >= 1);
    // A sleep by design: what is tested is that nothing happens while the server is idle.
    // 2 s is four rounds of a loop as slow as 500 ms (the bug's was 50 ms).
    tokio::time::sleep(Duration::from_secs(2)).await;
    drop(watcher);

    let opens = opens.load(Ordering::Relaxed);
    // One is our own read_dir; the poll interval allows no more than one more.
    assert!(opens <= 3, "the idle server opened its key directory {opens} times in 2 s");
    assert_eq!(basic_token(&test_http(), &served.addr, "svc-a", SECRET_A).await.status(), 200);
    served.stop().await;
}

/// Writes an Ed25519 PEM made by openssl to `dir/name` and returns its path.
fn openssl_ed25519(dir: &Path, name: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    let out = std::process::Command::new("openssl")
        .args(["genpkey", "-algorithm", "ed25519", "-out"])
        .arg(&path)
        .output()
        .expect("openssl is needed for this test (Debian package `openssl`)");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    path
}

/// The kid of the key that `keys import` or `keys generate` reports ("created KID (ALG) ...").
fn created_kid(out: &str) -> String {
    out.split_whitespace().nth(1).unwrap_or_else(|| panic!("no kid in: {out}")).to_owned()
}

/// Makes an Ed25519 key with openssl in `work` and imports it: its PEM path and kid.
async fn import_openssl_key(app: &TestApp, work: &Path) -> (String, String) {
    let pem = openssl_ed25519(work, "k.pem").to_str().unwrap().to_owned();
    let (code, out, err) = keys_cli(app, &["import", &pem]).await;
    assert_eq!(code, 0, "{err}");
    let kid = created_kid(&out);
    (pem, kid)
}

/// The key files (`*.pem`) in `dir` that name `kid` in their metadata.
fn files_with_kid(dir: &Path, kid: &str) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "pem"))
        .map(|p| std::fs::read_to_string(p).unwrap_or_default())
        .filter(|text| text.contains(&format!("kid = \"{kid}\"")))
        .collect()
}

#[tokio::test]
async fn a_revoked_key_never_comes_back_through_a_second_copy() {
    let app = TestApp::spawn().await;
    let work = tempfile::tempdir().unwrap();
    let (pem, kid) = import_openssl_key(&app, work.path()).await;
    let pem = pem.as_str();
    // The same key again: refused, nothing written.
    let (code, _, err) = keys_cli(&app, &["import", pem]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&kid) && err.contains("already in the key directory"), "{err}");
    assert_eq!(files_with_kid(app.keys_dir.path(), &kid).len(), 1);
    // A copy made by hand (or by an older tokenmint) under a name that sorts first.
    let original = std::fs::read_dir(app.keys_dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| std::fs::read_to_string(p).unwrap().contains(&kid))
        .unwrap();
    std::fs::copy(&original, app.keys_dir.path().join("0-copy.pem")).unwrap();

    let (code, _, err) = keys_cli(&app, &["revoke", &kid]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        eventually(|| async { app.jwks().await.find(&kid).is_none() }).await,
        "the revoked key stayed in the JWKS"
    );
    let copies = files_with_kid(app.keys_dir.path(), &kid);
    assert_eq!(copies.len(), 2);
    assert!(copies.iter().all(|text| text.contains("revoked_at")), "every copy records the revocation");
    let (_, list, _) = keys_cli(&app, &["list"]).await;
    let rows: Vec<&str> = list.lines().filter(|l| l.contains(&kid)).collect();
    assert_eq!(rows.len(), 1, "{list}");
    assert!(rows[0].contains(" revoked "), "{list}");
    // Re-importing a revoked key is refused too.
    let (code, _, err) = keys_cli(&app, &["import", pem]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("revoked"), "{err}");

    let (code, out, err) = keys_cli(&app, &["prune"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&kid), "{out}");
    assert!(files_with_kid(app.keys_dir.path(), &kid).is_empty(), "prune leaves no copy behind");
    let (_, list, _) = keys_cli(&app, &["list"]).await;
    assert!(!list.contains(&kid), "the revoked key came back: {list}");
    // The running server never publishes it again either: a key generated after the prune
    // shows that the server has read the directory since.
    let (code, out, err) = keys_cli(&app, &["generate", "--activate-in", "1h"]).await;
    assert_eq!(code, 0, "{err}");
    let later = created_kid(&out);
    let reloaded = eventually(|| async {
        let jwks = app.jwks().await;
        assert!(jwks.find(&kid).is_none(), "the revoked key is back in the JWKS");
        jwks.find(&later).is_some()
    })
    .await;
    assert!(reloaded, "the server did not pick up the key directory");
}

#[tokio::test]
async fn a_pruned_revoked_key_stays_revoked_through_import_and_a_restored_backup() {
    let app = TestApp::spawn_with("[keys]\npoll_interval = \"100ms\"\n").await;
    let work = tempfile::tempdir().unwrap();
    let (pem, kid) = import_openssl_key(&app, work.path()).await;
    let pem = pem.as_str();
    // A backup of the key file, taken before the revocation.
    let backup = files_with_kid(app.keys_dir.path(), &kid).pop().unwrap();
    assert!(!backup.contains("revoked_at"));

    let (code, _, err) = keys_cli(&app, &["revoke", &kid]).await;
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = keys_cli(&app, &["prune"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&kid), "{out}");
    assert!(files_with_kid(app.keys_dir.path(), &kid).is_empty());
    // The tombstone: the kid and when, no key material.
    let tombstone = std::fs::read_to_string(app.keys_dir.path().join(format!("{kid}.revoked"))).unwrap();
    assert!(
        tombstone.contains(&format!("kid = \"{kid}\"")) && tombstone.contains("revoked_at = "),
        "{tombstone}"
    );
    assert!(!tombstone.contains("PRIVATE KEY"), "{tombstone}");

    // Importing it again is refused, and writes nothing.
    let (code, _, err) = keys_cli(&app, &["import", pem]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains(&kid) && err.contains("revoked"), "{err}");
    assert!(files_with_kid(app.keys_dir.path(), &kid).is_empty());

    // The backup restored by hand loads as revoked ...
    std::fs::write(app.keys_dir.path().join("restored.pem"), &backup).unwrap();
    let (_, list, _) = keys_cli(&app, &["list"]).await;
    let row = list.lines().find(|l| l.contains(&kid)).unwrap_or_else(|| panic!("{list}"));
    assert!(row.contains(" revoked "), "{list}");
    // ... and the server never publishes it: a key generated after the restore shows that
    // the server has read the directory since.
    let (code, out, err) = keys_cli(&app, &["generate", "--activate-in", "1h"]).await;
    assert_eq!(code, 0, "{err}");
    let later = created_kid(&out);
    let reloaded = eventually(|| async {
        let jwks = app.jwks().await;
        assert!(jwks.find(&kid).is_none(), "the restored revoked key is in the JWKS");
        jwks.find(&later).is_some()
    })
    .await;
    assert!(reloaded, "the server did not pick up the key directory");
    // Pruning removes the restored file again; the tombstone stays.
    let (code, out, err) = keys_cli(&app, &["prune"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&kid), "{out}");
    assert!(!app.keys_dir.path().join("restored.pem").exists());
    assert!(app.keys_dir.path().join(format!("{kid}.revoked")).exists());
}

#[tokio::test]
async fn with_every_key_revoked_the_server_fails_closed_instead_of_signing() {
    let app = TestApp::spawn_with("[keys]\npoll_interval = \"200ms\"\n").await;
    let kid = signing_kid(&app.http, &app.addr.to_string()).await;
    // Every key revoked, with no replacement (as a file revoked by hand, or a replacement
    // that could not be written, leaves it).
    for entry in std::fs::read_dir(app.keys_dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let revoked = text.replacen("-----BEGIN", "revoked_at = \"2020-01-01T00:00:00Z\"\n-----BEGIN", 1);
        std::fs::write(&path, revoked).unwrap();
    }
    assert!(
        eventually(|| async { send(app.http.get(app.url("/readyz"))).await.status() == 503 }).await,
        "readiness still passes with every key revoked"
    );
    let res = basic_token(&app.http, &app.addr.to_string(), "svc-a", SECRET_A).await;
    assert_oauth_error(res, 503, "temporarily_unavailable").await;
    assert!(app.jwks().await.find(&kid).is_none(), "a revoked key is still published");

    // A new key that signs at once brings the service back.
    let (code, _, err) = keys_cli(&app, &["generate", "--activate-in", "0s"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        eventually(|| async { send(app.http.get(app.url("/readyz"))).await.status() == 200 }).await,
        "the new key was not picked up"
    );
    let (token, _) = app.access_token(&[]).await;
    app.verify(&token, "https://api.one").await;
}

#[tokio::test]
async fn a_bare_pem_never_signs_until_imported_however_new_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_polling(dir.path()).await;
    let (http, keys) = (test_http(), dir.path().join("keys"));
    let kid = signing_kid(&http, &served.addr).await;
    // A PEM straight from openssl, newer than every key file (as after `touch`, or after a
    // Kubernetes Secret update rewrote it).
    let work = tempfile::tempdir().unwrap();
    let pem = openssl_ed25519(work.path(), "k.pem");
    std::fs::copy(&pem, keys.join("zz-openssl.pem")).unwrap();
    // The server says it read the file, and skipped it.
    assert!(served.wait_for_log("zz-openssl.pem: ").await, "the server never read the bare PEM");
    assert_eq!(signing_kid(&http, &served.addr).await, kid);
    let jwks: JwkSet = get_json(&http, &format!("http://{}/.well-known/jwks.json", served.addr)).await;
    assert_eq!(jwks.keys.len(), 1, "the bare key must not be published either");
    let (code, list, err) = keys_cli_in(&keys, &["list"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no activate_at") && err.contains("keys import"), "{err}");
    assert_eq!(list.lines().count(), 2, "{list}");

    // Imported, it has an activation time of its own and signs when that says.
    let (code, out, err) =
        keys_cli_in(&keys, &["import", pem.to_str().unwrap(), "--activate-in", "0s"]).await;
    assert_eq!(code, 0, "{err}");
    let imported = created_kid(&out);
    assert!(
        eventually(|| async { signing_kid(&http, &served.addr).await == imported }).await,
        "the imported key never signed"
    );
    served.stop().await;
}

#[tokio::test]
async fn keys_rotate_from_a_scheduler_keeps_the_rotate_every_pace() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[keys]\ndir = \"{}\"\npublish_ahead = \"1h\"\nrotate_every = \"24h\"\n",
        app.keys_dir.path().display()
    );
    std::fs::write(dir.path().join("c.toml"), config).unwrap();
    // A CronJob running far more often than rotate_every - publish_ahead: the key that
    // signs since startup is not due for a successor for 23 hours.
    for _ in 0..3 {
        let (code, out, err) = run(dir.path(), &["--config", "c.toml", "keys", "rotate"], None).await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("not due") && out.contains("nothing to do"), "{out}");
    }
    let (_, list, _) = keys_cli(&app, &["list"]).await;
    assert_eq!(list.lines().count(), 2, "keys rotate created a key before it was due: {list}");
}

#[tokio::test]
async fn a_fifo_a_device_a_directory_and_a_huge_file_among_the_keys_are_skipped_unread() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_polling(dir.path()).await;
    let (http, keys) = (test_http(), dir.path().join("keys"));
    // Each named `*.pem`, as an operator's mistake would name them.
    let made = std::process::Command::new("mkfifo").arg(keys.join("fifo.pem")).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo failed");
    std::os::unix::fs::symlink("/dev/zero", keys.join("zero.pem")).unwrap();
    std::fs::create_dir(keys.join("dir.pem")).unwrap();
    // 512 MiB, sparse: costs no disk, but reading it would cost 512 MiB of memory.
    std::fs::File::create(keys.join("huge.pem")).unwrap().set_len(512 << 20).unwrap();
    for name in ["fifo.pem", "zero.pem", "dir.pem", "huge.pem"] {
        // One error line names each file and says it was not read.
        assert!(served.wait_for_log(&format!("{name}: ")).await, "the server never looked at {name}");
    }
    let log = served.log_lines("not read");
    assert!(log.iter().any(|l| l.contains("fifo.pem") && l.contains("FIFO")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("zero.pem") && l.contains("device")), "{log:?}");
    assert!(log.iter().any(|l| l.contains("huge.pem") && l.contains("larger than")), "{log:?}");
    // Reloads still run: a new key reaches the replica, and the CLI does not hang either.
    let (code, out, err) = keys_cli_in(&keys, &["generate", "--activate-in", "0s"]).await;
    assert_eq!(code, 0, "{err}");
    let new = created_kid(&out);
    assert!(
        eventually(|| async { signing_kid(&http, &served.addr).await == new }).await,
        "the new key never signed"
    );
    let (code, list, err) = keys_cli_in(&keys, &["list"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(list.contains(&new), "{list}");
    // Resident memory stayed small: none of the 512 MiB was read.
    let status = std::fs::read_to_string(format!("/proc/{}/status", served.pid())).unwrap();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .unwrap()
        .trim()
        .trim_end_matches(" kB")
        .parse()
        .unwrap();
    assert!(rss_kib < 128 * 1024, "resident memory {rss_kib} KiB");
    // And SIGTERM still ends it.
    let (clean, _) = served.stop().await;
    assert!(clean, "the server did not shut down cleanly");
}
