//! Faults injected under load: a key file truncated mid-write, the signing key's file
//! truncated in place, the key directory made
//! unreadable, removed and restored, a full disk when automatic rotation writes a key, and
//! an invalid configuration reload. Each test runs `tokenmint serve`, keeps a few tasks
//! issuing client credentials tokens and verifying them with `tokenmint::verify` against the
//! server's JWKS, injects one fault, and checks: no failed request, the last good keys keep
//! signing, one log line naming the problem, and recovery without a restart.
//!
//! The unreadable directory needs a server without `CAP_DAC_OVERRIDE` when the tests run as
//! root (`setpriv`, util-linux) and the full disk a tmpfs (`mount`, root only); without them
//! those tests print `skipped: ...` (a failure under `REQUIRE_INTEROP=1`).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::Value;
use tokenmint::verify::{Algorithm, Jwks, Requirements, Verifier};

use crate::cli::{Served, serve, tokenmint_under};
use crate::helpers::*;
use crate::rotation::signing_kid;

/// Tasks issuing tokens at once.
const TASKS: usize = 3;

/// The most requests one task sends, so a test that never stops its load still ends.
const MAX_PER_TASK: usize = 50_000;

/// What the load saw: requests sent, every failure (a status other than 200 or a token that
/// did not verify), and the kids that signed.
#[derive(Default, Debug)]
struct Tally {
    sent: usize,
    failures: Vec<String>,
    kids: HashSet<String>,
}

/// A bounded request loop against one server: [`TASKS`] tasks, each getting a token and
/// verifying it against the JWKS fetched right after, until [`Load::finish`].
struct Load {
    stop: Arc<AtomicBool>,
    done: Arc<AtomicUsize>,
    tasks: tokio::task::JoinSet<Tally>,
}

impl Load {
    fn start(addr: &str) -> Load {
        let (stop, done) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..TASKS {
            let (stop, done, addr, http) = (stop.clone(), done.clone(), addr.to_owned(), test_http());
            tasks.spawn(async move {
                let mut tally = Tally::default();
                while !stop.load(Ordering::SeqCst) && tally.sent < MAX_PER_TASK {
                    tally.sent += 1;
                    match issue_and_verify(&http, &addr).await {
                        Ok(kid) => {
                            tally.kids.insert(kid);
                        }
                        Err(e) => tally.failures.push(e),
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
                tally
            });
        }
        Load { stop, done, tasks }
    }

    /// Waits (bounded) until `n` more requests have completed: the load ran through the
    /// current state of the fault.
    async fn through(&self, n: usize) {
        let target = self.done.load(Ordering::SeqCst) + n;
        let ran = eventually(|| async { self.done.load(Ordering::SeqCst) >= target }).await;
        assert!(ran, "the load stalled: fewer than {n} requests in {EVENTUALLY:?}");
    }

    async fn finish(mut self) -> Tally {
        self.stop.store(true, Ordering::SeqCst);
        let mut all = Tally::default();
        while let Some(tally) = self.tasks.join_next().await {
            let tally = tally.unwrap();
            all.sent += tally.sent;
            all.failures.extend(tally.failures);
            all.kids.extend(tally.kids);
        }
        all
    }
}

impl Tally {
    fn assert_no_failure(&self) {
        assert!(self.sent >= 50, "only {} requests", self.sent);
        assert!(
            self.failures.is_empty(),
            "{} of {} failed: {:?}",
            self.failures.len(),
            self.sent,
            self.failures
        );
    }
}

/// One client credentials token, verified by `tokenmint::verify` against the JWKS the server
/// publishes right after; the kid that signed it.
async fn issue_and_verify(http: &reqwest::Client, addr: &str) -> Result<String, String> {
    let res = basic_token(http, addr, "svc-a", SECRET_A).await;
    let status = res.status();
    let body = res.text().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{status}: {body}"));
    }
    let body: Value = serde_json::from_str(&body).map_err(|e| e.to_string())?;
    let token = body["access_token"].as_str().ok_or("no access_token")?;
    let jwks = send(http.get(format!("http://{addr}/.well-known/jwks.json"))).await;
    let jwks = Jwks::from_json(&jwks.bytes().await.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
    let requirements = Requirements {
        issuer: ISSUER.to_owned(),
        audience: "https://api.one".to_owned(),
        algorithms: vec![Algorithm::ES256],
        leeway: Duration::from_secs(1),
    };
    let verifier = Verifier::new(requirements, jwks).map_err(|e| e.to_string())?;
    verifier.verify(token).await.map_err(|e| format!("verify: {e}"))?;
    let kid = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?.kid;
    kid.ok_or_else(|| "no kid".to_owned())
}

/// Writes `dir/tokenmint.toml` (issuer, `dir/keys`, `keys`, the shared clients) and starts
/// `tokenmint serve` there through `wrapper`.
async fn serve_in(dir: &Path, keys: &str, wrapper: &[&str]) -> Served {
    let toml = format!("issuer = \"{ISSUER}\"\n{keys}\n{CLIENTS}");
    std::fs::write(dir.join("tokenmint.toml"), toml).unwrap();
    let mut cmd = tokenmint_under(dir, wrapper);
    cmd.args(["--config", "tokenmint.toml"]);
    serve(cmd).await
}

/// Generates a key in `keys` that signs after `activate_in`; its kid. Activation times are
/// whole seconds and ties go to the greater kid, so a key meant to take over from one made
/// earlier in the same second activates a second later.
async fn generate(keys: &Path, activate_in: &str) -> String {
    let (code, out, err) =
        crate::rotation::keys_cli_in(keys, &["generate", "--activate-in", activate_in]).await;
    assert_eq!(code, 0, "{err}");
    out.split_whitespace().nth(1).unwrap_or_else(|| panic!("no kid in: {out}")).to_owned()
}

/// Writes `bytes` to `path` with mode 0600, as tokenmint's own key files have.
fn write_private(path: &Path, bytes: &[u8], append: bool) {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(append)
        .truncate(!append)
        .mode(0o600)
        .open(path)
        .unwrap();
    file.write_all(bytes).unwrap();
}

/// The log without the audit lines (one per token request), for failure messages.
fn quiet(log: &[String]) -> Vec<&String> {
    log.iter().filter(|l| !l.contains("tokenmint::audit")).collect()
}

/// Whether this process runs as root.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
        .unwrap_or(false)
}

#[tokio::test]
async fn a_key_file_truncated_mid_write_fails_no_request_and_loads_once_complete() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_in(dir.path(), "[keys]\ndir = \"keys\"\npoll_interval = \"200ms\"\n", &[]).await;
    let (http, keys) = (test_http(), dir.path().join("keys"));
    let old = signing_kid(&http, &served.addr).await;
    // The complete file, made elsewhere: a key that signs a second from now.
    let scratch = tempfile::tempdir().unwrap();
    let new = generate(scratch.path(), "1s").await;
    let made = std::fs::read_dir(scratch.path()).unwrap().map(|e| e.unwrap().path());
    let made: Vec<PathBuf> = made.filter(|p| p.extension().is_some_and(|x| x == "pem")).collect();
    let text = std::fs::read(&made[0]).unwrap();
    let load = Load::start(&served.addr);
    load.through(20).await;

    // A writer stopped halfway through the PEM block.
    let (head, rest) = text.split_at(text.len() / 2);
    write_private(&keys.join("incoming.pem"), head, false);
    assert!(served.wait_for_log("incoming.pem: ").await, "the server never read the partial file");
    load.through(50).await;
    assert_eq!(signing_kid(&http, &served.addr).await, old, "the partial file changed the signing key");

    // The writer finishes: the key loads and signs, without a restart.
    write_private(&keys.join("incoming.pem"), rest, true);
    assert!(
        eventually(|| async { signing_kid(&http, &served.addr).await == new }).await,
        "the completed key never signed: {:#?}",
        served.log_lines("tokenmint::keys")
    );
    load.through(20).await;
    let tally = load.finish().await;
    tally.assert_no_failure();
    assert!(tally.kids.contains(&old) && tally.kids.contains(&new), "{:?}", tally.kids);
    let (_, log) = served.stop().await;
    let named: Vec<&String> = log.iter().filter(|l| l.contains("incoming.pem")).collect();
    assert_eq!(named.len(), 1, "one line names the partial file: {:#?}", quiet(&log));
}

#[tokio::test]
async fn the_signing_keys_file_truncated_in_place_keeps_that_key_signing_and_published() {
    let dir = tempfile::tempdir().unwrap();
    let served = serve_in(dir.path(), "[keys]\ndir = \"keys\"\npoll_interval = \"200ms\"\n", &[]).await;
    let (http, keys) = (test_http(), dir.path().join("keys"));
    let old = signing_kid(&http, &served.addr).await;
    let new = generate(&keys, "1s").await;
    assert!(
        eventually(|| async { signing_kid(&http, &served.addr).await == new }).await,
        "{new} never signed"
    );
    let mut files = std::fs::read_dir(&keys).unwrap().map(|e| e.unwrap().path());
    let file = files.find(|p| std::fs::read_to_string(p).is_ok_and(|t| t.contains(&new))).unwrap();
    let text = std::fs::read(&file).unwrap();
    let load = Load::start(&served.addr);
    load.through(20).await;

    // An editor (or a botched copy) truncates the file where it is: same inode, half the key.
    write_private(&file, &text[..text.len() / 2], false);
    let name = file.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(served.wait_for_log(&format!("{name}: ")).await, "the server never read the truncated file");
    load.through(50).await;
    assert_eq!(signing_kid(&http, &served.addr).await, new, "the older key signed again");
    let jwks = send(http.get(format!("http://{}/.well-known/jwks.json", served.addr))).await;
    let jwks: Value = jwks.json().await.unwrap();
    let published: Vec<&str> =
        jwks["keys"].as_array().unwrap().iter().filter_map(|k| k["kid"].as_str()).collect();
    assert!(published.contains(&new.as_str()), "the key left the JWKS while its tokens live: {published:?}");

    // The file restored: nothing changes, and nothing more is logged.
    write_private(&file, &text, false);
    load.through(50).await;
    let tally = load.finish().await;
    tally.assert_no_failure();
    assert!(!tally.kids.contains(&old), "the older key signed during the fault: {:?}", tally.kids);
    let (_, log) = served.stop().await;
    let named: Vec<&String> = log.iter().filter(|l| l.contains(&name) && l.contains("keeping key")).collect();
    assert_eq!(named.len(), 1, "one line names the truncated file and the kept key: {:#?}", quiet(&log));
}

/// How to start a server that file permissions bind: as is when not root; as root through
/// `setpriv` without `CAP_DAC_OVERRIDE` and `CAP_DAC_READ_SEARCH`. `None` (after saying the
/// test is skipped) if neither works.
fn without_dac_override() -> Option<Vec<&'static str>> {
    if !is_root() {
        return Some(Vec::new());
    }
    let wrapper = vec!["setpriv", "--inh-caps=-all", "--bounding-set=-dac_override,-dac_read_search", "--"];
    // The probe: a directory of mode 000 must be unreadable through the wrapper.
    let probe = tempfile::tempdir().unwrap();
    let locked = probe.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    set_mode(&locked, 0o000);
    let listed = std::process::Command::new(wrapper[0])
        .args(&wrapper[1..])
        .arg("ls")
        .arg(&locked)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
    match listed {
        Ok(status) if !status.success() => Some(wrapper),
        _ => {
            skip_unless_required(
                "running as root and `setpriv` (util-linux) cannot drop CAP_DAC_OVERRIDE, so chmod binds nothing",
            );
            None
        }
    }
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(mode)).unwrap();
}

#[tokio::test]
async fn an_unreadable_then_removed_key_directory_fails_no_request_and_recovers_when_restored() {
    let Some(wrapper) = without_dac_override() else { return };
    let dir = tempfile::tempdir().unwrap();
    let served = serve_in(dir.path(), "[keys]\ndir = \"keys\"\npoll_interval = \"200ms\"\n", &wrapper).await;
    let (http, keys, away) = (test_http(), dir.path().join("keys"), dir.path().join("keys.away"));
    let old = signing_kid(&http, &served.addr).await;
    let load = Load::start(&served.addr);
    load.through(20).await;

    // Unreadable.
    set_mode(&keys, 0o000);
    assert!(
        served.wait_for_log("Permission denied").await,
        "no log line says the key directory cannot be read"
    );
    load.through(50).await;
    assert_eq!(signing_kid(&http, &served.addr).await, old);

    // Removed (moved away, as a broken volume mount or an `rm -r` leaves the path).
    std::fs::rename(&keys, &away).unwrap();
    assert!(
        served.wait_for_log("keeping the previous key set").await,
        "no log line says the key directory has no usable key"
    );
    load.through(50).await;
    assert_eq!(signing_kid(&http, &served.addr).await, old);

    // Restored, readable again: a key added now reaches the running server.
    set_mode(&away, 0o700);
    std::fs::rename(&away, &keys).unwrap();
    let new = generate(&keys, "1s").await;
    assert!(
        eventually(|| async { signing_kid(&http, &served.addr).await == new }).await,
        "the restored directory's new key never signed"
    );
    load.through(20).await;
    let tally = load.finish().await;
    tally.assert_no_failure();
    assert!(tally.kids.contains(&old) && tally.kids.contains(&new), "{:?}", tally.kids);
    let (_, log) = served.stop().await;
    let denied: Vec<&String> = log.iter().filter(|l| l.contains("Permission denied")).collect();
    assert_eq!(denied.len(), 1, "one line for the unreadable directory: {:#?}", quiet(&log));
    let kept: Vec<&String> = log.iter().filter(|l| l.contains("keeping the previous key set")).collect();
    assert_eq!(kept.len(), 1, "one line for the removed directory: {:#?}", quiet(&log));
}

/// A tmpfs mounted on a directory for the life of the guard; unmounted on drop.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `path`; `None` (after saying the test is skipped) if
    /// mounting is not permitted here.
    fn mount(path: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(path).unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !mounted {
            skip_unless_required("`mount -t tmpfs` is not permitted here (it needs root)");
            return None;
        }
        Some(Tmpfs { path: path.to_owned() })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Fills the file system under `path` with `path/filler` until a write fails with ENOSPC.
fn fill(path: &Path) {
    use std::io::Write as _;
    let mut file = std::fs::File::create(path.join("filler")).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match file.write_all(&chunk).and_then(|()| file.flush()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => return,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
}

#[tokio::test]
async fn a_full_disk_when_rotation_writes_a_key_fails_no_request_and_the_next_key_follows_free_space() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let Some(_tmpfs) = Tmpfs::mount(&keys, "256k") else { return };
    // The first key, then a full disk: rotation comes due 1 s after that key starts signing
    // (rotate_every 4 s less publish_ahead 3 s) and finds no space to write the next one.
    let first = generate(&keys, "0s").await;
    fill(&keys);
    let fast = "[tokens]\nttl = \"2s\"\nmax_ttl = \"2s\"\nleeway = \"0s\"\n[keys]\ndir = \"keys\"\njwks_max_age = \"1s\"\npublish_ahead = \"3s\"\npoll_interval = \"500ms\"\nrotate_every = \"4s\"\nauto_rotate = true\n";
    let served = serve_in(dir.path(), fast, &[]).await;
    let http = test_http();
    assert_eq!(signing_kid(&http, &served.addr).await, first);
    let load = Load::start(&served.addr);
    assert!(
        served.wait_for_log("No space left on device").await,
        "no log line says the rotation key could not be written"
    );
    load.through(50).await;
    assert_eq!(signing_kid(&http, &served.addr).await, first, "the last good key stopped signing");

    // Space again: the next key is written, published and signs, without a restart.
    std::fs::remove_file(keys.join("filler")).unwrap();
    assert!(
        served.wait_for_log("rotation: created the next key").await,
        "no rotation key after space was freed"
    );
    let rotated = eventually(|| async { signing_kid(&http, &served.addr).await != first }).await;
    assert!(rotated, "the rotation key never signed");
    load.through(20).await;
    let tally = load.finish().await;
    tally.assert_no_failure();
    assert!(tally.kids.len() >= 2, "{:?}", tally.kids);
    let (_, log) = served.stop().await;
    let full: Vec<&String> = log.iter().filter(|l| l.contains("No space left on device")).collect();
    assert_eq!(full.len(), 1, "one line for the full disk: {:#?}", quiet(&log));
}

#[tokio::test]
async fn an_invalid_configuration_reload_under_load_keeps_the_running_one_until_a_valid_edit() {
    let dir = tempfile::tempdir().unwrap();
    let keys = "[keys]\ndir = \"keys\"\n";
    let served = serve_in(dir.path(), keys, &[]).await;
    let (http, file) = (test_http(), dir.path().join("tokenmint.toml"));
    let old = signing_kid(&http, &served.addr).await;
    let good = std::fs::read_to_string(&file).unwrap();
    let load = Load::start(&served.addr);
    load.through(20).await;
    let hangup = || {
        let _ = std::process::Command::new("kill").args(["-HUP", &served.pid().to_string()]).status();
    };

    // Not TOML at all (an editor's half-saved file), then SIGHUP.
    std::fs::write(&file, format!("{good}\n[[clients]\nid = ")).unwrap();
    hangup();
    assert!(served.wait_for_log("configuration reload refused").await, "no log line for the invalid file");
    load.through(50).await;

    // A valid edit goes live: a new client gets tokens.
    let newcomer = "[[clients]]\nid = \"newcomer\"\nsecret_hashes = [\"sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1\"]\naudiences = [\"https://api.new\"]\n";
    std::fs::write(&file, format!("{good}{newcomer}")).unwrap();
    hangup();
    assert!(served.wait_for_log("configuration reloaded").await, "the valid edit was not reloaded");
    assert_eq!(basic_token(&http, &served.addr, "newcomer", SECRET_A).await.status(), 200);
    load.through(20).await;
    let tally = load.finish().await;
    tally.assert_no_failure();
    assert_eq!(tally.kids, HashSet::from([old]), "the signing key changed");
    let (graceful, log) = served.stop().await;
    assert!(graceful);
    assert_eq!(log.iter().filter(|l| l.contains("listening on")).count(), 1, "the server restarted");
    // One line per reload attempt: the file's change and the SIGHUP may each make one.
    let refused: Vec<&String> = log.iter().filter(|l| l.contains("configuration reload refused")).collect();
    assert!((1..=2).contains(&refused.len()), "one line for the invalid file: {:#?}", quiet(&log));
}
