//! The scale-out test: three `tokenmint serve` processes sharing one key directory behind
//! HAProxy (Debian's package), with HAProxy's health checks on `/readyz`. While a bounded
//! load runs through HAProxy and a verifier that caches the JWKS for its full `max-age`
//! (refetching only when it expires, never on an unknown `kid`) checks every token, the
//! replicas restart one at a time (SIGTERM, start again), the signing key rotates, and the
//! old key is revoked once it has retired. Pass: no failed token request, no failed
//! verification, and one instant at which every replica switched `kid`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::cli::{Served, output, started, tokenmint};
use crate::helpers::*;

/// Replicas behind the load balancer.
const REPLICAS: usize = 3;
/// Concurrent clients of the load.
const WORKERS: usize = 3;
/// The load's bound: it stops after this many requests even if the scenario has not ended.
const MAX_REQUESTS: u64 = 200_000;

/// Short lifetimes so a key retires within the test: tokens live 4 s, verifiers cache the
/// JWKS 1 s, a new key is published 3 s before it signs (> 1 s + 200 ms + 1 s). Replicas
/// answer /readyz 503 for 2 s after SIGTERM, four of HAProxy's health-check intervals.
fn config(keys: &Path) -> String {
    format!(
        "issuer = \"{ISSUER}\"\n[server]\nshutdown_delay = \"2s\"\n\
         [tokens]\nttl = \"4s\"\nmax_ttl = \"4s\"\nrefresh_ttl = \"4s\"\nleeway = \"1s\"\n\
         [keys]\ndir = \"{}\"\njwks_max_age = \"1s\"\npoll_interval = \"200ms\"\npublish_ahead = \"3s\"\n{CLIENTS}",
        keys.display()
    )
}

/// HAProxy in front of `ports`, health-checking `/readyz` every 200 ms (down after two
/// failures, up after two successes), with its admin socket at `socket`.
fn haproxy_config(front: u16, ports: &[u16], socket: &Path) -> String {
    let servers: String = ports
        .iter()
        .enumerate()
        .map(|(i, port)| format!("    server r{i} 127.0.0.1:{port} check\n"))
        .collect();
    format!(
        "global\n    maxconn 512\n    stats socket {} mode 600 level admin\n\
         defaults\n    mode http\n    timeout connect 2s\n    timeout client 30s\n    timeout server 30s\n    timeout check 2s\n\
         frontend tokens\n    bind 127.0.0.1:{front}\n    default_backend replicas\n\
         backend replicas\n    balance roundrobin\n    option httpchk GET /readyz\n    http-check expect status 200\n\
         \x20   default-server inter 200ms fall 2 rise 2\n{servers}",
        socket.display()
    )
}

/// A free port on 127.0.0.1 (bound and released: fixed ports are what HAProxy's
/// configuration names, and a restarted replica binds its own again).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `tokenmint serve` for replica `port`.
async fn replica(dir: &Path, config: &Path, port: u16) -> Served {
    let mut cmd = tokenmint(dir);
    // The real shutdown delay: this is the test of it behind a load balancer.
    cmd.env_remove("TOKENMINT_SERVER__SHUTDOWN_DELAY");
    cmd.arg("--config").arg(config).args(["serve", "--bind", &format!("127.0.0.1:{port}")]);
    started(&mut cmd).await
}

/// `tokenmint keys ARGS` on the shared directory; its output.
async fn keys(dir: &Path, config: &Path, args: &[&str]) -> String {
    let mut cmd = tokenmint(dir);
    cmd.arg("--config").arg(config).arg("keys").args(args);
    let (code, text, stderr) = output(cmd, None).await;
    assert_eq!(code, 0, "keys {args:?}: {text}{stderr}");
    text
}

/// The servers HAProxy sees UP, from `show stat` on its admin socket.
async fn up_servers(socket: &Path) -> usize {
    let Ok(mut stream) = tokio::net::UnixStream::connect(socket).await else { return 0 };
    if stream.write_all(b"show stat\n").await.is_err() {
        return 0;
    }
    let mut csv = String::new();
    let _ = stream.read_to_string(&mut csv).await;
    let mut lines = csv.lines();
    let Some(header) = lines.next() else { return 0 };
    let columns: Vec<&str> = header.trim_start_matches("# ").split(',').collect();
    let (Some(name), Some(status)) =
        (columns.iter().position(|c| *c == "svname"), columns.iter().position(|c| *c == "status"))
    else {
        return 0;
    };
    lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f.get(name).is_some_and(|n| n.starts_with('r')) && f.get(status) == Some(&"UP"))
        .count()
}

/// Waits until HAProxy sees `n` replicas UP.
async fn wait_up(socket: &Path, n: usize) {
    let up = eventually_within(Duration::from_secs(30), || async { up_servers(socket).await == n }).await;
    assert!(up, "HAProxy never saw {n} replicas up");
}

/// A resource server's view: the JWKS, cached for its full `max-age` and refetched only
/// when that has passed.
struct Verifier {
    http: reqwest::Client,
    url: String,
    cached: Mutex<Option<(Arc<JwkSet>, Instant)>>,
}

impl Verifier {
    async fn jwks(&self) -> Result<Arc<JwkSet>, String> {
        if let Some((set, until)) = self.cached.lock().unwrap().as_ref()
            && Instant::now() < *until
        {
            return Ok(Arc::clone(set));
        }
        let res = self.http.get(&self.url).send().await.map_err(|e| e.to_string())?;
        let max_age = res
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split("max-age=").nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0);
        let set: Arc<JwkSet> = Arc::new(res.json().await.map_err(|e| e.to_string())?);
        *self.cached.lock().unwrap() =
            Some((Arc::clone(&set), Instant::now() + Duration::from_secs(max_age)));
        Ok(set)
    }
}

/// What the load saw.
#[derive(Default)]
struct Tally {
    issued: AtomicU64,
    failed: AtomicU64,
    /// The first failures, for the assertion message.
    failures: Mutex<Vec<String>>,
    /// Per `kid`: the earliest and latest `iat` of its tokens.
    kids: Mutex<BTreeMap<String, (u64, u64)>>,
}

impl Tally {
    fn fail(&self, why: String) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        let mut failures = self.failures.lock().unwrap();
        if failures.len() < 10 {
            failures.push(why);
        }
    }
}

async fn load(front: String, verifier: Arc<Verifier>, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::new();
    let url = format!("http://{front}/oauth2/token");
    while !stop.load(Ordering::Relaxed) && tally.issued.load(Ordering::Relaxed) < MAX_REQUESTS {
        let res = http
            .post(&url)
            .basic_auth("svc-a", Some(SECRET_A))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await;
        let body: Value = match res {
            Ok(res) if res.status() == 200 => match res.json().await {
                Ok(body) => body,
                Err(e) => {
                    tally.fail(format!("body: {e}"));
                    continue;
                }
            },
            Ok(res) => {
                let status = res.status();
                tally.fail(format!("{status}: {}", res.text().await.unwrap_or_default()));
                continue;
            }
            Err(e) => {
                tally.fail(format!("request: {e}"));
                continue;
            }
        };
        tally.issued.fetch_add(1, Ordering::Relaxed);
        let token = body["access_token"].as_str().unwrap_or_default();
        let verified = match verifier.jwks().await {
            Ok(jwks) => verify_with(&jwks, token, "https://api.one"),
            Err(e) => Err(format!("JWKS: {e}")),
        };
        match verified {
            Ok(claims) => {
                let kid = jsonwebtoken::decode_header(token).unwrap().kid.unwrap();
                let iat = claims.iat;
                let mut kids = tally.kids.lock().unwrap();
                let span = kids.entry(kid).or_insert((iat, iat));
                span.0 = span.0.min(iat);
                span.1 = span.1.max(iat);
            }
            Err(e) => tally.fail(format!("verification: {e}")),
        }
    }
}

#[tokio::test]
async fn three_replicas_behind_haproxy_restart_rotate_and_revoke_without_a_failed_request() {
    if std::process::Command::new("haproxy").arg("-v").output().is_err() {
        return skip_unless_required("haproxy is not installed (Debian's haproxy)");
    }
    let dir = tempfile::tempdir().unwrap();
    let keys_dir = dir.path().join("keys");
    let config_file: PathBuf = dir.path().join("tokenmint.toml");
    std::fs::write(&config_file, config(&keys_dir)).unwrap();
    // The first key, signing at once, made before any replica starts (each would otherwise
    // make its own).
    keys(dir.path(), &config_file, &["generate", "--activate-in", "0s"]).await;

    let ports: Vec<u16> = (0..REPLICAS).map(|_| free_port()).collect();
    let mut replicas = Vec::new();
    for &port in &ports {
        replicas.push(Some(replica(dir.path(), &config_file, port).await));
    }
    let front = free_port();
    let socket = dir.path().join("haproxy.sock");
    let haproxy_file = dir.path().join("haproxy.cfg");
    std::fs::write(&haproxy_file, haproxy_config(front, &ports, &socket)).unwrap();
    let mut haproxy = tokio::process::Command::new("haproxy")
        .arg("-db")
        .arg("-f")
        .arg(&haproxy_file)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    wait_up(&socket, REPLICAS).await;

    let front = format!("127.0.0.1:{front}");
    let verifier = Arc::new(Verifier {
        http: reqwest::Client::new(),
        url: format!("http://{front}/.well-known/jwks.json"),
        cached: Mutex::new(None),
    });
    let (tally, stop) = (Arc::new(Tally::default()), Arc::new(AtomicBool::new(false)));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            tokio::spawn(load(front.clone(), Arc::clone(&verifier), Arc::clone(&tally), Arc::clone(&stop)))
        })
        .collect();
    let issued = |n: u64| {
        let tally = Arc::clone(&tally);
        async move { eventually(|| async { tally.issued.load(Ordering::Relaxed) >= n }).await }
    };
    assert!(issued(50).await, "no load went through");

    // Rolling restart: each replica in turn gets SIGTERM (it answers /readyz 503 and serves
    // on for server.shutdown_delay while HAProxy takes it out, then drains) and starts again
    // on its port; the next goes once HAProxy has it back.
    for (i, &port) in ports.iter().enumerate() {
        let (graceful, log) = replicas[i].take().unwrap().stop().await;
        assert!(graceful, "replica {i}: {log:?}");
        replicas[i] = Some(replica(dir.path(), &config_file, port).await);
        wait_up(&socket, REPLICAS).await;
    }
    let old_kid = tally.kids.lock().unwrap().keys().next().cloned().unwrap();

    // Rotation by hand: the next key signs publish_ahead (3 s) from now, on every replica at
    // once.
    keys(dir.path(), &config_file, &["generate"]).await;
    let rotated = eventually(|| async { tally.kids.lock().unwrap().len() == 2 }).await;
    assert!(rotated, "no replica switched to the new key");
    // The old key retires max_ttl + leeway (5 s) after it stopped signing, leaving the JWKS;
    // then it is revoked.
    let jwks_url = format!("http://{front}/.well-known/jwks.json");
    let retired = eventually(|| async {
        let jwks: JwkSet = get_json(&reqwest::Client::new(), &jwks_url).await;
        jwks.find(&old_kid).is_none()
    })
    .await;
    assert!(retired, "the old key never retired");
    keys(dir.path(), &config_file, &["revoke", &old_kid]).await;
    // Load goes on after the revocation, on the new key.
    let after = tally.issued.load(Ordering::Relaxed) + 100;
    assert!(issued(after).await, "the load stalled after the revocation");

    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.await.unwrap();
    }
    let (issued, failed) = (tally.issued.load(Ordering::Relaxed), tally.failed.load(Ordering::Relaxed));
    let kids = tally.kids.lock().unwrap().clone();
    println!(
        "cluster: {REPLICAS} replicas behind HAProxy, {WORKERS} clients: {issued} tokens issued and verified, \
         {failed} failures, {REPLICAS} restarts, 1 rotation, 1 revocation; tokens by kid (first and last iat): {kids:?}"
    );
    assert_eq!(failed, 0, "{:?}", tally.failures.lock().unwrap());
    // One switch for the whole cluster: no token of the old key was issued after the first
    // token of the new one (iat has a resolution of one second).
    let new_first = kids.iter().find(|(k, _)| **k != old_kid).map(|(_, span)| span.0).unwrap();
    assert!(kids[&old_kid].1 <= new_first, "{kids:?}");
    let _ = haproxy.kill().await;
    for served in replicas.into_iter().flatten() {
        let (graceful, _) = served.stop().await;
        assert!(graceful);
    }
}
