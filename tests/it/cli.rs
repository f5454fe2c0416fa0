//! The `tokenmint` binary: `serve` from the environment alone, logs without secrets,
//! `config check` exit codes, `clients add` and `hash-secret`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_tokenmint");

/// `tokenmint` run in `dir` (so no config/tokenmint.toml is found) with a clean environment.
pub(crate) fn tokenmint(dir: &Path) -> Command {
    tokenmint_under(dir, &[])
}

/// [`tokenmint`] started through `wrapper` (a program and its arguments, which then run the
/// binary), for example `setpriv` to drop capabilities; no wrapper if it is empty.
pub(crate) fn tokenmint_under(dir: &Path, wrapper: &[&str]) -> Command {
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(BIN);
            cmd
        }
        None => Command::new(BIN),
    };
    cmd.current_dir(dir).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default());
    // A configuration setting like any other: SIGTERM ends these servers at once instead of
    // after the default delay for load balancers (tests/it/serve.rs tests the delay).
    cmd.env("TOKENMINT_SERVER__SHUTDOWN_DELAY", "0s");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    cmd
}

/// A running `tokenmint serve`, its address read from its log, and every log line so far.
pub(crate) struct Served {
    child: Child,
    pub(crate) addr: String,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
    /// The number of log lines read so far; its sender is dropped when the log ends.
    lines: tokio::sync::watch::Receiver<usize>,
    /// The task that reads the log; it ends when the process has closed its stderr.
    reader: tokio::task::JoinHandle<()>,
}

pub(crate) async fn serve(mut cmd: Command) -> Served {
    started(cmd.args(["serve", "--bind", "127.0.0.1:0"])).await
}

/// Starts `cmd`, a `tokenmint serve` that binds port 0, and reads its address from its log.
pub(crate) async fn started(cmd: &mut Command) -> Served {
    let mut child = cmd.spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (count, lines) = tokio::sync::watch::channel(0);
    let sink = log.clone();
    let reader = tokio::spawn(async move {
        let mut tx = Some(tx);
        let mut stream = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = stream.next_line().await {
            if let Some(i) = line.find("listening on http://") {
                let rest = &line[i + "listening on http://".len()..];
                let addr: String =
                    rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.' || *c == ':').collect();
                if let Some(tx) = tx.take() {
                    let _ = tx.send(addr);
                }
            }
            sink.lock().unwrap().push(line);
            count.send_modify(|n| *n += 1);
        }
    });
    let addr =
        tokio::time::timeout(Duration::from_secs(30), rx).await.expect("server did not start").unwrap();
    Served { child, addr, log, lines, reader }
}

impl Served {
    /// The process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// Waits (at most 10 s) until a log line contains `needle`: woken by every new line,
    /// not polling.
    pub(crate) async fn wait_for_log(&self, needle: &str) -> bool {
        self.wait_for_lines(needle, 1).await
    }

    /// The log lines so far that contain `needle`.
    pub(crate) fn log_lines(&self, needle: &str) -> Vec<String> {
        self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).cloned().collect()
    }

    /// Waits (at most 10 s) until `n` log lines contain `needle`.
    pub(crate) async fn wait_for_lines(&self, needle: &str, n: usize) -> bool {
        let mut lines = self.lines.clone();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            lines.borrow_and_update();
            if self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).count() >= n {
                return true;
            }
            match tokio::time::timeout_at(deadline, lines.changed()).await {
                Ok(Ok(())) => {}
                // The log has ended, or the time is up: one last look.
                Ok(Err(_)) | Err(_) => {
                    return self.log.lock().unwrap().iter().filter(|l| l.contains(needle)).count() >= n;
                }
            }
        }
    }

    /// SIGTERM, then the exit status (graceful shutdown must end with success) and the whole
    /// log, read to its end.
    pub(crate) async fn stop(mut self) -> (bool, Vec<String>) {
        let pid = self.child.id().unwrap();
        let _ = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status();
        let status = tokio::time::timeout(Duration::from_secs(20), self.child.wait()).await.unwrap().unwrap();
        // The process has exited; its last lines are read once the reader reaches the end
        // of the pipe.
        tokio::time::timeout(Duration::from_secs(10), &mut self.reader)
            .await
            .expect("the log did not end after the process exited")
            .unwrap();
        let log = self.log.lock().unwrap().clone();
        (status.success(), log)
    }
}

#[tokio::test]
async fn clients_can_be_configured_from_the_environment_alone() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokenmint(dir.path());
    cmd.env("TOKENMINT_ISSUER", ISSUER)
        .env("TOKENMINT_KEYS__DIR", dir.path().join("keys"))
        .env("TOKENMINT_TOKENS__TTL", "2m")
        .env(
            "TOKENMINT_CLIENTS__BILLING__SECRET_HASHES",
            "sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1",
        )
        .env("TOKENMINT_CLIENTS__BILLING__SCOPES", "[invoices:read, invoices:write]")
        .env("TOKENMINT_CLIENTS__BILLING__DEFAULT_SCOPES", "invoices:read")
        .env("TOKENMINT_CLIENTS__BILLING__AUDIENCES", "https://billing.example.com")
        .env("TOKENMINT_CLIENTS__BILLING__CLAIMS", "{tenant=acme}")
        .env("TOKENMINT_CLIENTS__OPS__ID", "Ops-Team")
        .env(
            "TOKENMINT_CLIENTS__OPS__SECRET_HASHES",
            "[\"sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1\"]",
        )
        .env("TOKENMINT_CLIENTS__OPS__AUDIENCES", "[https://ops.example.com]");
    let served = serve(cmd).await;
    let http = reqwest::Client::new();
    let res = basic_token(&http, &served.addr, "billing", SECRET_A).await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["scope"], "invoices:read");
    assert_eq!(body["expires_in"], 120);
    let jwks = get_json(&http, &format!("http://{}/.well-known/jwks.json", served.addr)).await;
    let claims =
        verify_with(&jwks, body["access_token"].as_str().unwrap(), "https://billing.example.com").unwrap();
    assert_eq!(claims.extra["tenant"], "acme");

    // An explicit ID keeps its case.
    let res = basic_token(&http, &served.addr, "Ops-Team", SECRET_A).await;
    assert_eq!(res.status(), 200);
    let (graceful, _) = served.stop().await;
    assert!(graceful, "SIGTERM must end in a clean exit");
}

#[tokio::test]
async fn logs_have_one_line_per_token_request_and_never_a_secret_or_token() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenmint.toml"), format!("[keys]\ndir = \"keys\"\n{CLIENTS}")).unwrap();
    let mut cmd = tokenmint(dir.path());
    cmd.args(["--config", "tokenmint.toml", "--log-format", "json"]).env("RUST_LOG", "debug");
    let served = serve(cmd).await;
    let http = reqwest::Client::new();
    let ok: Value = basic_token(&http, &served.addr, "svc-a", SECRET_A).await.json().await.unwrap();
    let token = ok["access_token"].as_str().unwrap().to_owned();
    let wrong_secret = "wrong-secret-zz9";
    let res = basic_token(&http, &served.addr, "svc-a", wrong_secret).await;
    assert_eq!(res.status(), 401);
    let (_, log) = served.stop().await;

    let requests: Vec<Value> = log
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "token request")
        .collect();
    assert_eq!(requests.len(), 2, "{log:#?}");
    assert_eq!(requests[0]["outcome"], "issued");
    assert_eq!(requests[0]["client_id"], "svc-a");
    assert_eq!(requests[0]["grant_type"], "client_credentials");
    assert!(requests[0]["latency_us"].is_u64());
    assert_eq!(requests[1]["outcome"], "invalid_client");
    let all = log.join("\n");
    for secret in [SECRET_A, wrong_secret, token.as_str(), token.split('.').nth(2).unwrap()] {
        assert!(!all.contains(secret), "log leaked {secret}");
    }
}

pub(crate) async fn run(dir: &Path, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
    let mut cmd = tokenmint(dir);
    cmd.args(args);
    output(cmd, stdin).await
}

/// [`run`] with `vars` added to its environment, and no standard input.
pub(crate) async fn run_with_env(dir: &Path, args: &[&str], vars: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = tokenmint(dir);
    cmd.args(args).envs(vars.iter().copied());
    output(cmd, None).await
}

/// Runs `cmd` with `stdin` written to it (bounded: 60 s): its exit code, stdout and stderr.
pub(crate) async fn output(mut cmd: Command, stdin: Option<&str>) -> (i32, String, String) {
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input.as_bytes()).await.unwrap();
    }
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn config_check_accepts_a_good_config() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.toml"), CLIENTS).unwrap();
    let (code, out, _) = run(dir.path(), &["config", "check", "--config", "good.toml"], None).await;
    assert_eq!(code, 0);
    assert!(out.contains("configuration OK") && out.contains("8 client(s)"), "{out}");
    assert!(!out.contains("warning"), "{out}");
}

#[tokio::test]
async fn config_check_warns_about_plain_http_off_loopback_rfc6749_3_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("exposed.toml"), format!("[server]\nbind = \"0.0.0.0:8080\"\n{CLIENTS}"))
        .unwrap();
    let (code, out, _) = run(dir.path(), &["config", "check", "--config", "exposed.toml"], None).await;
    // Allowed (a TLS-terminating proxy in front is the expected set-up), but said.
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("warning: server.bind 0.0.0.0:8080") && out.contains("[server.tls]"), "{out}");
}

#[tokio::test]
async fn config_check_prints_every_error_and_exits_64() {
    let dir = tempfile::tempdir().unwrap();
    let bad = "typo = 1\n[tokens]\nttl = \"forever\"\nalgorithm = \"HS256\"\n[[clients]]\nid = \"x\"\nsecret_hashes = [\"plaintext\"]\naudiences = [\"a\"]\n";
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let (code, _, err) = run(dir.path(), &["config", "check", "--config", "bad.toml"], None).await;
    assert_eq!(code, 64, "{err}");
    for needle in ["typo", "forever", "HS256", "plaintext secrets are not accepted"] {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
    // Environment overrides are validated too.
    let (code, _, err) =
        run_with_env(dir.path(), &["config", "check"], &[("TOKENMINT_SERVER__BIND", "not-an-address")]).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("TOKENMINT_SERVER__BIND") || err.contains("bind"), "{err}");
    // A missing --config file is a configuration error as well.
    let (code, _, _) = run(dir.path(), &["config", "check", "--config", "missing.toml"], None).await;
    assert_eq!(code, 64);
}

#[tokio::test]
async fn config_check_refuses_durations_that_would_overflow_and_keys_commands_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("huge.toml"), "[tokens]\nmax_ttl = \"300000000000y\"\n").unwrap();
    let (code, _, err) = run(dir.path(), &["config", "check", "--config", "huge.toml"], None).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("tokens.max_ttl must be at most 10 years"), "{err}");
    let (code, _, err) = run(dir.path(), &["--config", "huge.toml", "keys", "list"], None).await;
    assert_eq!(code, 64, "{err}");
    assert!(!err.contains("panicked"), "{err}");

    // A huge --activate-in saturates at the last RFC 3339 second instead of panicking.
    std::fs::write(dir.path().join("ok.toml"), "[keys]\ndir = \"keys\"\n").unwrap();
    let keys = ["--config", "ok.toml", "keys"];
    let (code, out, err) =
        run(dir.path(), &[&keys[..], &["generate", "--activate-in", "300000000000y"]].concat(), None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("9999-12-31T23:59:59Z"), "{out}");
    let (code, out, err) = run(dir.path(), &[&keys[..], &["list"]].concat(), None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("9999-12-31T23:59:59Z"), "{out}");
}

#[tokio::test]
async fn clients_add_prints_a_secret_once_and_a_block_that_works() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(
        dir.path(),
        &["clients", "add", "reports", "--scope", "reports:read", "--audience", "https://reports.example"],
        None,
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let secret = out.lines().find_map(|l| l.strip_prefix("client_secret = ")).unwrap().to_owned();
    // 256 bits, base64url without padding.
    assert_eq!(secret.len(), 43);
    let toml_start = out.find("[[clients]]").unwrap();
    let block = &out[toml_start..];
    assert!(!block.contains(&secret), "the TOML block holds only the hash");

    let app = TestApp::spawn_config(block, std::sync::Arc::new(tokenmint::clock::SystemClock)).await;
    let res = app
        .token_basic("reports", &secret, &[("grant_type", "client_credentials"), ("scope", "reports:read")])
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    app.verify(body["access_token"].as_str().unwrap(), "https://reports.example").await;
}

#[tokio::test]
async fn hash_secret_output_is_accepted_by_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "a-long-generated-secret-0123456789abcdef";
    let (code, out, _) = run(dir.path(), &["hash-secret"], Some(&format!("{secret}\n"))).await;
    assert_eq!(code, 0);
    let sha = out.trim().to_owned();
    assert!(sha.starts_with("sha256:") && sha.len() == 71);
    let (code, out, _) = run(dir.path(), &["hash-secret", "--argon2"], Some(secret)).await;
    assert_eq!(code, 0);
    let argon = out.trim().to_owned();
    assert!(argon.starts_with("$argon2id$"));

    for hash in [sha, argon] {
        let toml = format!(
            "[[clients]]\nid = \"h\"\nsecret_hashes = [\"{hash}\"]\naudiences = [\"https://x.example\"]\n"
        );
        let app = TestApp::spawn_config(&toml, std::sync::Arc::new(tokenmint::clock::SystemClock)).await;
        let res = app.token_basic("h", secret, &[("grant_type", "client_credentials")]).await;
        assert_eq!(res.status(), 200, "{hash}");
    }
    let (code, _, _) = run(dir.path(), &["hash-secret"], Some("")).await;
    assert_ne!(code, 0, "an empty secret is refused");
}

/// A token from `app` and its JWKS written to `dir/jwks.json`.
async fn token_and_jwks_file(app: &TestApp, dir: &Path) -> String {
    let (token, _) = app.access_token(&[]).await;
    let jwks = send(app.http.get(app.url("/.well-known/jwks.json"))).await.bytes().await.unwrap();
    std::fs::write(dir.join("jwks.json"), jwks).unwrap();
    token
}

#[tokio::test]
async fn verify_prints_claims_and_exits_0_for_a_valid_token() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let token = token_and_jwks_file(&app, dir.path()).await;
    let args = ["verify", "--jwks", "jwks.json", "--issuer", ISSUER, "--audience", "https://api.one", &token];
    let (code, out, err) = run(dir.path(), &args, None).await;
    assert_eq!(code, 0, "{err}");
    let claims: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(claims["client_id"], "svc-a");
    // `-` reads the token from stdin.
    let args = ["verify", "--jwks", "jwks.json", "--issuer", ISSUER, "--audience", "https://api.one", "-"];
    let (code, _, err) = run(dir.path(), &args, Some(&format!("{token}\n"))).await;
    assert_eq!(code, 0, "{err}");
}

#[tokio::test]
async fn verify_exits_1_with_the_reason_for_an_invalid_token() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let token = token_and_jwks_file(&app, dir.path()).await;
    for (audience, issuer, needle) in
        [("https://api.other", ISSUER, "wrong_audience"), ("https://api.one", "https://evil", "wrong_issuer")]
    {
        let args = ["verify", "--jwks", "jwks.json", "--issuer", issuer, "--audience", audience, &token];
        let (code, out, err) = run(dir.path(), &args, None).await;
        assert_eq!(code, 1, "{err}");
        assert!(out.is_empty());
        assert!(err.contains(needle), "{err}");
        assert!(!err.contains(&token), "the reason never echoes the token");
    }
}

#[tokio::test]
async fn verify_exits_2_on_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (code, _, _) = run(dir.path(), &["verify", "--issuer", ISSUER, "tok"], None).await;
    assert_eq!(code, 2, "--audience is required");
    let (code, _, _) = run(dir.path(), &["verify", "--audience", "a", "tok"], None).await;
    assert_eq!(code, 2, "--issuer or --jwks is required");
    let args = ["verify", "--jwks", "missing.json", "--issuer", ISSUER, "--audience", "a", "tok"];
    let (code, _, _) = run(dir.path(), &args, None).await;
    assert_eq!(code, 2, "an unreadable JWKS file");
    std::fs::write(dir.path().join("garbage.json"), "{not json").unwrap();
    let args = ["verify", "--jwks", "garbage.json", "--issuer", ISSUER, "--audience", "a", "tok"];
    let (code, _, err) = run(dir.path(), &args, None).await;
    assert_eq!(code, 2, "a JWKS file that is not JSON: {err}");
    let args = ["verify", "--issuer", ISSUER, "--audience", "", "tok"];
    let (code, _, err) = run(dir.path(), &args, None).await;
    assert_eq!(code, 2, "an empty audience: {err}");
    // Plain http to a host other than loopback needs --allow-http: a setup question, not the
    // token's fault, and refused before anything is fetched.
    let args = ["verify", "--issuer", "http://tokens.example", "--audience", "a", "tok"];
    let (code, _, err) = run(dir.path(), &args, None).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--allow-http"), "{err}");
}

#[tokio::test]
async fn verify_refuses_a_token_living_longer_than_max_lifetime_rfc7519_4_1_6() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    // The service's token lives 5 minutes.
    let token = token_and_jwks_file(&app, dir.path()).await;
    let base = ["verify", "--jwks", "jwks.json", "--issuer", ISSUER, "--audience", "https://api.one"];
    let with = |extra: &[&'static str], token: &str| {
        let mut args: Vec<String> = base.iter().map(|s| (*s).to_owned()).collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        args.push(token.to_owned());
        args
    };
    for (extra, expected) in
        [(&[][..], 0), (&["--max-lifetime", "5m"][..], 0), (&["--max-lifetime", "4m"][..], 1)]
    {
        let args = with(extra, &token);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = run(dir.path(), &args, None).await;
        assert_eq!(code, expected, "{extra:?}: {err}");
        if expected == 1 {
            assert!(err.contains("lifetime_too_long"), "{err}");
        }
    }
    // By default, one day: a token signed with the real key for two days is invalid.
    let (key, kid) = crate::forge::server_key(&app);
    let mut claims = crate::forge::valid_claims(ISSUER);
    claims["exp"] = (unix_now() + 2 * 24 * 3600).into();
    let long = crate::forge::sign(&crate::forge::at_header(&kid), &claims, &key);
    for (extra, expected) in [(&[][..], 1), (&["--max-lifetime", "3days"][..], 0)] {
        let args = with(extra, &long);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = run(dir.path(), &args, None).await;
        assert_eq!(code, expected, "{extra:?}: {err}");
        assert!(!err.contains(&long), "the reason never echoes the token");
    }
    // A duration that does not parse is a usage error.
    let args = with(&["--max-lifetime", "soon"], &token);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, _, _) = run(dir.path(), &args, None).await;
    assert_eq!(code, 2);
}

#[tokio::test]
async fn verify_discovers_the_keys_from_the_issuer() {
    let app = TestApp::spawn_self_issued(CLIENTS).await;
    let (token, _) = app.access_token(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let args = ["verify", "--issuer", app.issuer.as_str(), "--audience", "https://api.one", &token];
    let (code, out, err) = run(dir.path(), &args, None).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("\"svc-a\""));
}

#[tokio::test]
async fn verify_with_only_a_jwks_file_says_iss_is_unchecked() {
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let token = token_and_jwks_file(&app, dir.path()).await;
    let args = ["verify", "--jwks", "jwks.json", "--audience", "https://api.one", &token];
    let (code, _, err) = run(dir.path(), &args, None).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("`iss` is not checked"), "{err}");
}

#[tokio::test]
async fn decode_shows_header_and_claims_and_says_it_did_not_verify() {
    let app = TestApp::spawn().await;
    let (token, _) = app.access_token(&[]).await;
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(dir.path(), &["decode", &token], None).await;
    assert_eq!(code, 0);
    assert!(err.contains("NOT VERIFIED"));
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["header"]["typ"], "at+jwt");
    assert_eq!(v["claims"]["sub"], "svc-a");
    let (code, _, _) = run(dir.path(), &["decode", "garbage"], None).await;
    assert_eq!(code, 1);
}

#[tokio::test]
async fn users_can_be_configured_from_the_environment_alone() {
    let dir = tempfile::tempdir().unwrap();
    let hash =
        "$argon2id$v=19$m=19456,t=2,p=1$gr55kYAwgwsBnQH58YKNKw$5fjCaYqJiSh45KiuCjAr/Ja1nFM40pe78lQECvRC3uQ";
    let mut cmd = tokenmint(dir.path());
    cmd.env("TOKENMINT_KEYS__DIR", dir.path().join("keys"))
        .env(
            "TOKENMINT_CLIENTS__APP__SECRET_HASHES",
            "sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1",
        )
        .env("TOKENMINT_CLIENTS__APP__GRANT_TYPES", "[password]")
        .env("TOKENMINT_CLIENTS__APP__SCOPES", "[read]")
        .env("TOKENMINT_CLIENTS__APP__AUDIENCES", "https://api.one")
        .env("TOKENMINT_USERS__ALICE__PASSWORD_HASH", hash)
        .env("TOKENMINT_USERS__ALICE__SCOPES", "[read]");
    let served = serve(cmd).await;
    let http = reqwest::Client::new();
    let form =
        [("grant_type", "password"), ("username", "alice"), ("password", "wonderland"), ("scope", "read")];
    let res = send(
        http.post(format!("http://{}/oauth2/token", served.addr))
            .basic_auth("app", Some(SECRET_A))
            .form(&form),
    )
    .await;
    assert_eq!(res.status(), 200);
    let (_, log) = served.stop().await;
    assert!(!log.join("\n").contains("wonderland"), "the password never reaches the log");
}

#[tokio::test]
async fn hash_password_output_is_accepted_as_a_user_password_hash() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, _) = run(dir.path(), &["hash-password"], Some("s3cret pass\n")).await;
    assert_eq!(code, 0);
    let hash = out.trim().to_owned();
    assert!(hash.starts_with("$argon2id$"));
    let toml = format!(
        "{}[[users]]\nusername = \"carol\"\npassword_hash = \"{hash}\"\nscopes = [\"read\"]\n",
        crate::password::USERS.split("[[users]]").next().unwrap()
    );
    let app = TestApp::spawn_config(&toml, std::sync::Arc::new(tokenmint::clock::SystemClock)).await;
    let form = [("grant_type", "password"), ("username", "carol"), ("password", "s3cret pass")];
    assert_eq!(app.token_basic("app", SECRET_A, &form).await.status(), 200);
}

#[tokio::test]
async fn clients_add_without_an_audience_uses_the_client_id() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run(dir.path(), &["clients", "add", "nightly-job"], None).await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("no --audience given"), "{err}");
    let secret = out.lines().find_map(|l| l.strip_prefix("client_secret = ")).unwrap().to_owned();
    let block = &out[out.find("[[clients]]").unwrap()..];
    let app = TestApp::spawn_config(block, std::sync::Arc::new(tokenmint::clock::SystemClock)).await;
    let res = app.token_basic("nightly-job", &secret, &[("grant_type", "client_credentials")]).await;
    let body: Value = res.json().await.unwrap();
    app.verify(body["access_token"].as_str().unwrap(), "nightly-job").await;
}

#[tokio::test]
async fn a_client_id_that_is_also_a_username_is_refused_by_check_and_by_serve_rfc9068_2_2() {
    let dir = tempfile::tempdir().unwrap();
    // `svc-a` is one of the shared clients; here it is a user as well.
    let user = "[[users]]\nusername = \"svc-a\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$gr55kYAwgwsBnQH58YKNKw$5fjCaYqJiSh45KiuCjAr/Ja1nFM40pe78lQECvRC3uQ\"\n";
    std::fs::write(dir.path().join("clash.toml"), format!("[keys]\ndir = \"keys\"\n{CLIENTS}{user}"))
        .unwrap();
    let (code, _, err) = run(dir.path(), &["config", "check", "--config", "clash.toml"], None).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("client `svc-a` and user `svc-a`"), "{err}");
    // Startup runs the same validation: the server never comes up.
    let (code, _, err) =
        run(dir.path(), &["serve", "--bind", "127.0.0.1:0", "--config", "clash.toml"], None).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("client `svc-a` and user `svc-a`"), "{err}");
}

#[tokio::test]
async fn config_check_refuses_bad_connection_limits() {
    let dir = tempfile::tempdir().unwrap();
    let bad = format!("[server]\nheader_read_timeout = \"0s\"\nmax_connections = 0\n{CLIENTS}");
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let (code, _, err) = run(dir.path(), &["config", "check", "--config", "bad.toml"], None).await;
    assert_eq!(code, 64, "{err}");
    for needle in ["server.header_read_timeout", "server.max_connections"] {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
    // From the environment too, and a malformed duration names the setting.
    let vars = [("TOKENMINT_SERVER__HEADER_READ_TIMEOUT", "soon")];
    let (code, _, err) = run_with_env(dir.path(), &["config", "check"], &vars).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("header_read_timeout"), "{err}");
}

/// Found by the `config_env` fuzz target: a variable one `_` short of a separator
/// (`..._ALICE_PASSWORD_HASH` for `..._ALICE__PASSWORD_HASH`) puts its value where a whole
/// user or client is expected, and the type error quoted it: a hash or a secret in the log.
#[tokio::test]
async fn config_check_names_a_mistyped_variable_without_repeating_its_value() {
    let dir = tempfile::tempdir().unwrap();
    let hash =
        "$argon2id$v=19$m=19456,t=2,p=1$gr55kYAwgwsBnQH58YKNKw$5fjCaYqJiSh45KiuCjAr/Ja1nFM40pe78lQECvRC3uQ";
    let sha = "sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1";
    let plaintext = "correct-horse-battery-staple-42";
    let vars = [
        ("TOKENMINT_USERS__ALICE_PASSWORD_HASH", hash),
        ("TOKENMINT_CLIENTS__BILLING_SECRET_HASHES", sha),
        ("TOKENMINT_CLIENTS__OPS", plaintext),
    ];
    let (code, _, err) = run_with_env(dir.path(), &["config", "check"], &vars).await;
    assert_eq!(code, 64, "{err}");
    for needle in [
        "TOKENMINT_USERS__ALICE_PASSWORD_HASH__*",
        "TOKENMINT_CLIENTS__BILLING_SECRET_HASHES__*",
        "TOKENMINT_CLIENTS__OPS__*",
        "expected struct",
    ] {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
    for value in [hash, sha, plaintext, "gr55kYAwgwsBnQH58YKNKw", "8766b9cb08e6040b"] {
        assert!(!err.contains(value), "the message repeats {value:?}: {err}");
    }
}

/// Found by the `config_env` fuzz target after 50 minutes: figment unescapes a quoted value
/// at a character index as if it were a byte index, so a `\` after a non-ASCII character
/// panicked (`Σ`, two bytes) or could read the value wrong (`éé`). Such a variable is
/// refused by name, before figment reads it; the process never panics.
#[tokio::test]
async fn config_check_refuses_a_quoted_escape_after_a_non_ascii_character() {
    let dir = tempfile::tempdir().unwrap();
    let vars = [("TOKENMINT_ISSUER", "\"Σ\\n\""), ("TOKENMINT_CLIENTS__BILLING__SCOPES", "[\"éé\\n\"]")];
    let (code, _, err) = run_with_env(dir.path(), &["config", "check"], &vars).await;
    assert_eq!(code, 64, "{err}");
    assert!(!err.contains("panicked"), "{err}");
    for needle in ["TOKENMINT_ISSUER:", "TOKENMINT_CLIENTS__BILLING__SCOPES:", "after a non-ASCII character"]
    {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
}

#[tokio::test]
async fn config_check_refuses_introspection_members_as_claims_rfc7662_2_2() {
    let dir = tempfile::tempdir().unwrap();
    let bad = CLIENTS.replacen("claims = { tenant = \"acme\", tier = 3 }", "claims = { active = false }", 1);
    let bad = bad.replacen("ttl = \"3h\"", "ttl = \"3h\"\nclaims = { token_type = \"mac\" }", 1);
    std::fs::write(dir.path().join("bad.toml"), bad).unwrap();
    let (code, _, err) = run(dir.path(), &["config", "check", "--config", "bad.toml"], None).await;
    assert_eq!(code, 64, "{err}");
    for needle in ["claim `active`", "claim `token_type`"] {
        assert!(err.contains(needle), "missing {needle:?} in {err}");
    }
}

#[tokio::test]
async fn a_closed_standard_output_ends_a_command_quietly_with_141() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("good.toml"), CLIENTS).unwrap();
    let commands: [&[&str]; 2] = [&["config", "check", "--config", "good.toml"], &["keys", "list"]];
    for args in commands {
        // Standard output is a pipe whose reader is already gone, as after `| head -1`.
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        let mut cmd = tokenmint(dir.path());
        cmd.args(args).stdout(writer);
        // Not `output()`: it would replace standard output with a pipe of its own.
        let child = cmd.spawn().unwrap();
        let out =
            tokio::time::timeout(Duration::from_secs(60), child.wait_with_output()).await.unwrap().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
}

#[tokio::test]
async fn a_sighup_while_the_service_starts_never_kills_it() {
    // Enough clients that loading them takes a while: the SIGHUPs land during start-up.
    let dir = tempfile::tempdir().unwrap();
    let mut config = String::from("[keys]\ndir = \"keys\"\n");
    for i in 0..20_000 {
        config += &format!(
            "[[clients]]\nid = \"svc-{i}\"\nsecret_hashes = [\"sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1\"]\n\
             audiences = [\"https://api\"]\n"
        );
    }
    std::fs::write(dir.path().join("tokenmint.toml"), config).unwrap();
    let mut child = tokenmint(dir.path())
        .args(["--config", "tokenmint.toml", "serve", "--bind", "127.0.0.1:0"])
        .spawn()
        .unwrap();
    let pid = child.id().unwrap().to_string();
    let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = tokio::time::timeout(Duration::from_secs(30), log.next_line()).await.unwrap().unwrap();
    assert!(first.is_some_and(|l| l.contains("tokenmint starting")), "the first log line says it starts");
    // SIGHUP after SIGHUP until the service listens (a bounded number of them).
    let (mut hangups, mut listening) = (0, false);
    while !listening && hangups < 2000 {
        std::process::Command::new("kill").args(["-HUP", &pid]).status().unwrap();
        hangups += 1;
        let line = tokio::time::timeout(Duration::from_millis(5), log.next_line()).await;
        if let Ok(line) = line {
            let line = line.unwrap().unwrap_or_else(|| panic!("the log ended after {hangups} SIGHUPs"));
            listening = line.contains("listening on http://");
        }
    }
    assert!(listening, "the service never listened");
    assert!(child.try_wait().unwrap().is_none(), "the process died");
    let _ = std::process::Command::new("kill").args(["-TERM", &pid]).status();
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn config_check_refuses_issuers_rfc8414_2_does_not_allow() {
    let dir = tempfile::tempdir().unwrap();
    let check = |issuer: &'static str| {
        let path = dir.path().to_path_buf();
        async move {
            std::fs::write(path.join("c.toml"), format!("issuer = \"{issuer}\"\n{CLIENTS}")).unwrap();
            run(&path, &["config", "check", "--config", "c.toml"], None).await
        }
    };
    for good in [
        "https://tokens.example",
        "https://tokens.example/tenant/a",
        "http://localhost:8080",
        "http://127.0.0.1:8080",
        "http://[::1]:8080",
    ] {
        let (code, _, err) = check(good).await;
        assert_eq!(code, 0, "{good}: {err}");
    }
    for (bad, says) in [
        ("http://tokens.example", "https://"),
        ("https://tokens.example/a?b=c", "query"),
        ("https://tokens.example/#x", "fragment"),
        ("https://tokens.example/a b", "characters"),
        ("ftp://tokens.example", "https://"),
    ] {
        let (code, _, err) = check(bad).await;
        assert_eq!(code, 64, "{bad} was accepted");
        assert!(err.contains(says), "{bad}: {err}");
    }
    // User information is refused, and its password never printed.
    let (code, _, err) = check("https://user:hunter2-pw@tokens.example").await;
    assert_eq!(code, 64);
    assert!(err.contains("user information") && !err.contains("hunter2-pw"), "{err}");
}
