//! Operating it: Prometheus metrics (scraped by a real Prometheus), the alert rules and the
//! dashboard, audit events, configuration reload without a restart, per-client rate limits.
//!
//! The Prometheus tests need Debian's `prometheus` package (`prometheus` and `promtool`);
//! without it they print `skipped: ...` and pass, unless `REQUIRE_INTEROP=1` (CI),
//! where a missing program fails them.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokenmint::clock::SystemClock;
use tokenmint::config::Config;
use tokenmint::server::Server;

use crate::cli::{serve, tokenmint};
use crate::helpers::*;

/// A server started from a configuration, with its metrics listener.
struct Running {
    addr: SocketAddr,
    metrics: SocketAddr,
    http: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Running {
    /// The shared clients plus `extra`, metrics on 127.0.0.1:0.
    async fn with(extra: &str, keys: &Path) -> Running {
        let toml = config_text(extra, keys);
        Self::start(Config::from_toml(&toml).unwrap_or_else(|e| panic!("{e}"))).await
    }

    /// The configuration in `file` (which a reload reads again).
    async fn from_file(file: &Path) -> Running {
        Self::start(Config::load(Some(file)).unwrap_or_else(|e| panic!("{e}"))).await
    }

    async fn start(config: Config) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server::with_listener(config, listener, Arc::new(SystemClock)).await.unwrap();
        let addr = server.local_addr().unwrap();
        let metrics = server.metrics_addr().expect("metrics are on");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        Running { addr, metrics, http: test_http(), _stop: stop }
    }

    async fn token(&self, id: &str, secret: &str) -> reqwest::Response {
        basic_token(&self.http, &self.addr.to_string(), id, secret).await
    }

    async fn scrape(&self) -> String {
        let res = self.http.get(format!("http://{}/metrics", self.metrics)).send().await.unwrap();
        assert_eq!(res.status(), 200);
        let content_type = res.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/plain; version=0.0.4"), "{content_type}");
        res.text().await.unwrap()
    }
}

/// The configuration text: issuer, keys directory, metrics on 127.0.0.1:0, `extra`, the
/// shared clients.
fn config_text(extra: &str, keys: &Path) -> String {
    format!(
        "issuer = \"{ISSUER}\"\n[keys]\ndir = \"{}\"\n[metrics]\nbind = \"127.0.0.1:0\"\n{extra}\n{CLIENTS}",
        keys.display()
    )
}

/// The value of the sample `name{labels}` (labels in any order, others allowed).
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines().filter(|l| !l.starts_with('#')).find_map(|line| {
        let (series, value) = line.rsplit_once(' ')?;
        let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
        let wanted = labels.iter().all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")));
        (metric == name && wanted).then(|| value.parse().ok()).flatten()
    })
}

/// Every series (name and labels) of the metric `name`.
fn series<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' ').map(|(s, _)| s))
        .filter(|s| s.split('{').next() == Some(name))
        .collect()
}

/// Polls `condition` every 20 ms for up to 10 s.
async fn within_10s<F: std::future::Future<Output = bool>>(mut condition: impl FnMut() -> F) -> bool {
    for _ in 0..500 {
        if condition().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// The path of `program` if it runs; otherwise `None` after saying the test is skipped, or
/// a failure under `REQUIRE_INTEROP=1`.
fn external(program: &str) -> Option<&str> {
    let runs = std::process::Command::new(program)
        .arg("--version")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if runs {
        return Some(program);
    }
    skip_unless_required(&format!("`{program}` is not installed (Debian package prometheus)"));
    None
}

#[tokio::test]
async fn metrics_count_what_the_requests_did() {
    let keys = tempfile::tempdir().unwrap();
    let app = Running::with("", keys.path()).await;
    assert_eq!(app.token("svc-a", SECRET_A).await.status(), 200);
    assert_eq!(app.token("svc-a", SECRET_A).await.status(), 200);
    assert_eq!(app.token("svc-a", "wrong").await.status(), 401);
    let res = app.http.post(format!("http://{}/oauth2/token", app.addr)).form(&[("grant_type", "magic")]);
    assert_eq!(res.basic_auth("svc-a", Some(SECRET_A)).send().await.unwrap().status(), 400);
    let jwks = app.http.get(format!("http://{}/.well-known/jwks.json", app.addr)).send().await.unwrap();
    let etag = jwks.headers()["etag"].to_str().unwrap().to_owned();
    let again =
        app.http.get(format!("http://{}/.well-known/jwks.json", app.addr)).header("if-none-match", etag);
    assert_eq!(again.send().await.unwrap().status(), 304);

    let text = app.scrape().await;
    let requests = |grant: &str, outcome: &str| {
        sample(&text, "tokenmint_token_requests_total", &[("grant_type", grant), ("outcome", outcome)])
    };
    assert_eq!(requests("client_credentials", "issued"), Some(2.0), "{text}");
    assert_eq!(requests("client_credentials", "invalid_client"), Some(1.0));
    // A grant type nobody implements is counted as `unsupported`, not under its own name.
    assert_eq!(requests("unsupported", "unsupported_grant_type"), Some(1.0));
    assert!(series(&text, "tokenmint_token_requests_total").iter().all(|s| !s.contains("magic")));
    assert_eq!(sample(&text, "tokenmint_tokens_issued_total", &[("client_id", "svc-a")]), Some(2.0));
    let count = "tokenmint_token_request_duration_seconds_count";
    assert_eq!(sample(&text, count, &[("grant_type", "client_credentials")]), Some(3.0));
    assert_eq!(sample(&text, "tokenmint_jwks_requests_total", &[("status", "200")]), Some(1.0));
    assert_eq!(sample(&text, "tokenmint_jwks_requests_total", &[("status", "304")]), Some(1.0));
    // The signing key, as the JWKS publishes it.
    let kid = app
        .http
        .get(format!("http://{}/readyz", app.addr))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["kid"]
        .as_str()
        .unwrap()
        .to_owned();
    let info = [("kid", kid.as_str()), ("alg", "ES256"), ("state", "signing")];
    assert_eq!(sample(&text, "tokenmint_signing_key_info", &info), Some(1.0), "{text}");
    assert_eq!(sample(&text, "tokenmint_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), Some(1.0));
    // Rotation is off and no key is pending: no change is scheduled, so no sample.
    assert_eq!(sample(&text, "tokenmint_signing_key_next_change_timestamp_seconds", &[]), None);
    for (name, labels) in [
        ("tokenmint_key_reloads_total", [("result", "ok")]),
        ("tokenmint_key_reloads_total", [("result", "error")]),
        ("tokenmint_config_reloads_total", [("result", "error")]),
        ("tokenmint_throttled_total", [("kind", "password")]),
        ("tokenmint_throttled_total", [("kind", "client_secret")]),
        ("tokenmint_throttled_total", [("kind", "rate_limit")]),
        ("tokenmint_introspection_requests_total", [("active", "true")]),
    ] {
        assert!(sample(&text, name, &labels).is_some(), "no {name}{labels:?} in\n{text}");
    }
    if cfg!(target_os = "linux") {
        for name in [
            "process_cpu_seconds_total",
            "process_resident_memory_bytes",
            "process_open_fds",
            "process_start_time_seconds",
        ] {
            assert!(sample(&text, name, &[]).is_some_and(|v| v > 0.0), "no {name} in\n{text}");
        }
    }
}

#[tokio::test]
async fn the_next_key_change_is_exported_once_a_rotation_is_scheduled() {
    let keys = tempfile::tempdir().unwrap();
    let toml = config_text("", keys.path()).replace("[keys]\n", "[keys]\nrotate_every = \"24h\"\n");
    let app = Running::start(Config::from_toml(&toml).unwrap()).await;
    let text = app.scrape().await;
    let at = sample(&text, "tokenmint_signing_key_next_change_timestamp_seconds", &[]).expect(&text);
    // The fresh key signs from now; its period ends a day later.
    let expected = (unix_now() + 24 * 3600) as f64;
    assert!((at - expected).abs() < 60.0, "{at} vs {expected}");
}

#[tokio::test]
async fn invented_client_ids_and_grant_types_never_become_label_values() {
    let keys = tempfile::tempdir().unwrap();
    let app = Running::with("", keys.path()).await;
    let mut rng = fastrand::Rng::with_seed(17);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..2000 {
        let id: String = (0..12).map(|_| rng.alphanumeric()).collect();
        let grant = if i % 2 == 0 { "client_credentials".to_owned() } else { format!("urn:x:{id}") };
        let req = app.http.post(format!("http://{}/oauth2/token", app.addr)).basic_auth(&id, Some("x"));
        tasks
            .spawn(async move { req.form(&[("grant_type", grant.as_str())]).send().await.unwrap().status() });
        if tasks.len() >= 32 {
            assert_eq!(tasks.join_next().await.unwrap().unwrap(), 401);
        }
    }
    while let Some(status) = tasks.join_next().await {
        assert_eq!(status.unwrap(), 401);
    }
    let text = app.scrape().await;
    let configured =
        ["svc-a", "my-client", "rotating", "argon", "disabled", "no-grants", "long-lived", "short-lived"];
    let issued = series(&text, "tokenmint_tokens_issued_total");
    assert_eq!(issued.len(), configured.len(), "{issued:#?}");
    for s in issued {
        assert!(configured.iter().any(|id| s.contains(&format!("client_id=\"{id}\""))), "{s}");
    }
    let requests = series(&text, "tokenmint_token_requests_total");
    // Seven grant labels (five grants, `unsupported`, `none`) times the fixed outcomes,
    // whatever was sent.
    assert!(requests.len() <= 7 * 12, "{}", requests.len());
    assert_eq!(
        sample(
            &text,
            "tokenmint_token_requests_total",
            &[("grant_type", "unsupported"), ("outcome", "invalid_client")]
        ),
        Some(1000.0)
    );
}

#[tokio::test]
async fn a_real_prometheus_scrapes_every_series() {
    let Some(prometheus) = external("prometheus") else { return };
    let keys = tempfile::tempdir().unwrap();
    let app = Running::with("", keys.path()).await;
    for _ in 0..3 {
        assert_eq!(app.token("svc-a", SECRET_A).await.status(), 200);
    }
    assert_eq!(app.token("svc-a", "wrong").await.status(), 401);

    let dir = tempfile::tempdir().unwrap();
    let web = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let web_addr = web.local_addr().unwrap();
    drop(web);
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: tokenmint\n    static_configs:\n      - targets: [\"{}\"]\n",
            app.metrics
        ),
    )
    .unwrap();
    let _prometheus = tokio::process::Command::new(prometheus)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
        .arg(format!("--web.listen-address={web_addr}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let query = |q: &'static str| {
        let http = app.http.clone();
        async move {
            let q: String = form_urlencoded::byte_serialize(q.as_bytes()).collect();
            let url = format!("http://{web_addr}/api/v1/query?query={q}");
            let Ok(res) = http.get(url).send().await else { return None };
            let body: Value = res.json().await.ok()?;
            body["data"]["result"][0]["value"][1].as_str().map(str::to_owned)
        }
    };
    // Prometheus starts, scrapes every second, and answers from what it stored.
    let mut scraped = false;
    for _ in 0..300 {
        if query("up{job=\"tokenmint\"}").await.as_deref() == Some("1")
            && query("tokenmint_tokens_issued_total{client_id=\"svc-a\"}").await.as_deref() == Some("3")
        {
            scraped = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(scraped, "Prometheus did not scrape tokenmint within 30 s");
    assert_eq!(
        query("tokenmint_token_requests_total{grant_type=\"client_credentials\",outcome=\"invalid_client\"}")
            .await
            .as_deref(),
        Some("1")
    );
    assert_eq!(query("tokenmint_signing_key_info{state=\"signing\"}").await.as_deref(), Some("1"));
    assert_eq!(query("count(process_resident_memory_bytes{job=\"tokenmint\"})").await.as_deref(), Some("1"));
    assert_eq!(
        query("tokenmint_token_request_duration_seconds_count{grant_type=\"client_credentials\"}")
            .await
            .as_deref(),
        Some("4")
    );
}

#[tokio::test]
async fn promtool_accepts_the_exposition_the_alert_rules_and_their_tests() {
    let Some(promtool) = external("promtool") else { return };
    let keys = tempfile::tempdir().unwrap();
    let app = Running::with("", keys.path()).await;
    assert_eq!(app.token("svc-a", SECRET_A).await.status(), 200);
    let text = app.scrape().await;
    let mut lint = tokio::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut lint.stdin.take().unwrap(), text.as_bytes()).await.unwrap();
    let out = lint.wait_with_output().await.unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "promtool check metrics: {said}");

    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus");
    for args in [["check", "rules", "alerts.yml"], ["test", "rules", "alerts_test.yml"]] {
        let out = std::process::Command::new(promtool).args(args).current_dir(&root).output().unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn the_dashboard_and_the_alerts_query_only_series_the_service_exports() {
    let keys = tempfile::tempdir().unwrap();
    let toml = config_text("", keys.path()).replace("[keys]\n", "[keys]\nrotate_every = \"24h\"\n");
    let app = Running::start(Config::from_toml(&toml).unwrap()).await;
    let text = app.scrape().await;
    let exported: Vec<&str> =
        text.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split(['{', ' ']).next()).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("grafana/tokenmint.json")).unwrap()).unwrap();
    let mut queries: Vec<String> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap().to_owned()))
        .collect();
    queries.push(std::fs::read_to_string(root.join("prometheus/alerts.yml")).unwrap());
    let mut checked = 0;
    for query in &queries {
        for name in query
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("tokenmint_") || w.starts_with("process_"))
        {
            assert!(exported.contains(&name), "`{name}` is queried but not exported");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} series names found in the dashboard and the rules");
}

#[tokio::test]
async fn a_client_added_to_the_file_gets_tokens_after_sighup_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokenmint.toml");
    let head = format!("issuer = \"{ISSUER}\"\n[keys]\ndir = \"keys\"\n");
    std::fs::write(&file, format!("{head}{CLIENTS}")).unwrap();
    let mut cmd = tokenmint(dir.path());
    cmd.args(["--config", "tokenmint.toml"]);
    let served = serve(cmd).await;
    let http = test_http();
    assert_eq!(basic_token(&http, &served.addr, "newcomer", SECRET_A).await.status(), 401);
    let newcomer = "[[clients]]\nid = \"newcomer\"\nsecret_hashes = [\"sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1\"]\naudiences = [\"https://api.new\"]\n";
    // Written in place of the file, as a ConfigMap update or an editor's save does.
    let text = format!("{head}{CLIENTS}{newcomer}");
    std::fs::write(dir.path().join("next.toml"), text).unwrap();
    std::fs::rename(dir.path().join("next.toml"), &file).unwrap();
    let _ = std::process::Command::new("kill").args(["-HUP", &served.pid().to_string()]).status();
    assert!(served.wait_for_log("configuration reloaded").await, "no reload in the log");
    let res = basic_token(&http, &served.addr, "newcomer", SECRET_A).await;
    assert_eq!(res.status(), 200);
    let token: Value = res.json().await.unwrap();
    let jwks: jsonwebtoken::jwk::JwkSet =
        get_json(&http, &format!("http://{}/.well-known/jwks.json", served.addr)).await;
    let claims = verify_with(&jwks, token["access_token"].as_str().unwrap(), "https://api.new").unwrap();
    assert_eq!(claims.client_id, "newcomer");
    // The other clients were not disturbed, and the process is the same one.
    assert_eq!(basic_token(&http, &served.addr, "svc-a", SECRET_A).await.status(), 200);
    let (graceful, log) = served.stop().await;
    assert!(graceful);
    assert_eq!(log.iter().filter(|l| l.contains("listening on")).count(), 1, "{log:#?}");
}

#[tokio::test]
async fn a_broken_edit_changes_nothing_and_counts_a_failed_reload() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokenmint.toml");
    let good = config_text("", &dir.path().join("keys"));
    std::fs::write(&file, &good).unwrap();
    let app = Running::from_file(&file).await;
    assert_eq!(app.token("svc-a", SECRET_A).await.status(), 200);
    // A typo in a setting and a client without audiences: both refused, nothing applied.
    let broken =
        good.replace("[metrics]", "ttl_typo = 3\n[metrics]").replace("id = \"svc-a\"", "id = \"svc-b\"");
    let broken = format!(
        "{broken}[[clients]]\nid = \"half\"\nsecret_hashes = [\"sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1\"]\n"
    );
    std::fs::write(&file, broken).unwrap();
    let failed = within_10s(|| {
        let app = &app;
        async move {
            let text = app.scrape().await;
            sample(&text, "tokenmint_config_reloads_total", &[("result", "error")]) == Some(1.0)
        }
    })
    .await;
    assert!(failed, "the broken edit was not counted as a failed reload");
    assert_eq!(app.token("svc-a", SECRET_A).await.status(), 200, "the running configuration changed");
    assert_eq!(app.token("svc-b", SECRET_A).await.status(), 401);
    let text = app.scrape().await;
    assert_eq!(sample(&text, "tokenmint_config_reloads_total", &[("result", "ok")]), Some(0.0));
}

#[tokio::test]
async fn a_removed_client_is_refused_at_once_its_tokens_introspect_inactive_and_still_verify() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokenmint.toml");
    let text = config_text("", &dir.path().join("keys"));
    std::fs::write(&file, &text).unwrap();
    let app = Running::from_file(&file).await;
    let res = app.token("svc-a", SECRET_A).await;
    let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let jwks: jsonwebtoken::jwk::JwkSet =
        get_json(&app.http, &format!("http://{}/.well-known/jwks.json", app.addr)).await;

    // svc-a leaves the configuration (its block is the first of CLIENTS).
    let without = {
        let start = text.find("[[clients]]\nid = \"svc-a\"").unwrap();
        let end = start + text[start..].find("[[clients]]\nid = \"my-client\"").unwrap();
        format!("{}{}", &text[..start], &text[end..])
    };
    std::fs::write(&file, without).unwrap();
    let reloaded = within_10s(|| {
        let app = &app;
        async move { app.token("svc-a", SECRET_A).await.status() == 401 }
    })
    .await;
    assert!(reloaded, "svc-a still gets tokens after its removal");
    let introspected: Value = app
        .http
        .post(format!("http://{}/oauth2/introspect", app.addr))
        .basic_auth("rotating", Some(SECRET_A))
        .form(&[("token", token.as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(introspected, serde_json::json!({"active": false}), "RFC 7662 §2.2");
    // Offline verification does not know about the configuration: the token lives on until exp.
    assert_eq!(verify_with(&jwks, &token, "https://api.one").unwrap().client_id, "svc-a");
    let text = app.scrape().await;
    assert!(sample(&text, "tokenmint_tokens_issued_total", &[("client_id", "svc-a")]).is_none(), "{text}");
}

#[tokio::test]
async fn settings_that_need_a_restart_keep_their_running_values() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokenmint.toml");
    let text =
        config_text("[server]\nmax_body_bytes = 100000\n[tokens]\nttl = \"5m\"\n", &dir.path().join("keys"));
    std::fs::write(&file, &text).unwrap();
    let app = Running::from_file(&file).await;
    let big = format!("grant_type=client_credentials&pad={}", "x".repeat(2000));
    let send_big = || {
        app.http
            .post(format!("http://{}/oauth2/token", app.addr))
            .basic_auth("svc-a", Some(SECRET_A))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone())
            .send()
    };
    assert_eq!(send_big().await.unwrap().status(), 200);
    // A smaller body limit needs a restart; a shorter token lifetime does not.
    let edited = text
        .replace("max_body_bytes = 100000", "max_body_bytes = 1000")
        .replace("ttl = \"5m\"", "ttl = \"1m\"");
    std::fs::write(&file, edited).unwrap();
    let reloaded = within_10s(|| {
        let app = &app;
        async move {
            let body: Value = app.token("svc-a", SECRET_A).await.json().await.unwrap();
            body["expires_in"] == 60
        }
    })
    .await;
    assert!(reloaded, "tokens.ttl was not reloaded");
    assert_eq!(send_big().await.unwrap().status(), 200, "server.max_body_bytes changed without a restart");
}

#[tokio::test]
async fn a_client_over_its_rate_limit_gets_429_with_retry_after_and_others_do_not() {
    let keys = tempfile::tempdir().unwrap();
    let limited = "[[clients]]\nid = \"limited\"\nsecret_hashes = [\"sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1\"]\naudiences = [\"https://api.one\"]\nrate_limit = \"3/m\"\n";
    let app = Running::with(limited, keys.path()).await;
    for _ in 0..3 {
        assert_eq!(app.token("limited", SECRET_A).await.status(), 200);
    }
    let res = app.token("limited", SECRET_A).await;
    let retry_after: u64 = res.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    // One request every 20 s refills a 3-a-minute limit.
    assert!((1..=20).contains(&retry_after), "{retry_after}");
    let body = assert_oauth_error(res, 429, "rate_limited").await;
    assert!(body["error_description"].as_str().unwrap().contains("rate_limit"), "{body}");
    // Another client is not held back.
    for _ in 0..10 {
        assert_eq!(app.token("svc-a", SECRET_A).await.status(), 200);
    }
    let text = app.scrape().await;
    assert_eq!(sample(&text, "tokenmint_throttled_total", &[("kind", "rate_limit")]), Some(1.0));
    assert_eq!(
        sample(
            &text,
            "tokenmint_token_requests_total",
            &[("grant_type", "client_credentials"), ("outcome", "rate_limited")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn the_default_rate_limit_applies_to_clients_without_their_own_and_reused_tokens_count() {
    let keys = tempfile::tempdir().unwrap();
    let app = Running::with("[tokens]\nrate_limit = \"2/h\"\nreuse_window = \"30s\"\n", keys.path()).await;
    let first: Value = app.token("svc-a", SECRET_A).await.json().await.unwrap();
    let second: Value = app.token("svc-a", SECRET_A).await.json().await.unwrap();
    assert_eq!(first["access_token"], second["access_token"], "the second is a reused token");
    let res = app.token("svc-a", SECRET_A).await;
    assert_oauth_error(res, 429, "rate_limited").await;
    // Each client has its own budget.
    assert_eq!(app.token("rotating", SECRET_A).await.status(), 200);
    let text = app.scrape().await;
    assert_eq!(
        sample(
            &text,
            "tokenmint_token_requests_total",
            &[("grant_type", "client_credentials"), ("outcome", "reused")]
        ),
        Some(1.0)
    );
}

#[tokio::test]
async fn audit_events_say_who_got_which_token_with_which_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("tokenmint.toml"), format!("[keys]\ndir = \"keys\"\n{CLIENTS}")).unwrap();
    let mut cmd = tokenmint(dir.path());
    cmd.args(["--config", "tokenmint.toml", "--log-format", "json"]);
    let served = serve(cmd).await;
    let http = test_http();
    // `rotating` has two secret hashes; secret-a is the second.
    let res = basic_token(&http, &served.addr, "rotating", SECRET_A).await;
    let token = res.json::<Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned();
    let res = http
        .post(format!("http://{}/oauth2/token", served.addr))
        .form(&[("grant_type", "client_credentials"), ("client_id", "svc-a"), ("client_secret", "guess")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 401);
    let (_, log) = served.stop().await;
    let events = audit_events(&log);
    assert_eq!(events.len(), 2, "{log:#?}");
    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(&token).unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    let issued = &events[0];
    for (field, expected) in [
        ("message", Value::from("token request")),
        ("client_id", Value::from("rotating")),
        ("grant_type", Value::from("client_credentials")),
        ("outcome", Value::from("issued")),
        ("auth_method", Value::from("client_secret_basic")),
        ("secret_index", Value::from(1)),
        ("aud", Value::from("https://api.one")),
        ("jti", claims["jti"].clone()),
        ("exp", claims["exp"].clone()),
        ("kid", Value::from(kid)),
        ("user", Value::from("-")),
        ("address", Value::from("127.0.0.1")),
    ] {
        assert_eq!(issued[field], expected, "{field} in {issued}");
    }
    assert!(issued["timestamp"].is_string() && issued["latency_us"].is_u64(), "{issued}");
    let refused = &events[1];
    assert_eq!(refused["outcome"], "invalid_client");
    assert_eq!(refused["client_id"], "svc-a");
    assert_eq!(refused["auth_method"], "client_secret_post");
    assert!(refused.get("jti").is_none() && refused.get("secret_index").is_none(), "{refused}");
    let all = log.join("\n");
    for secret in [SECRET_A, "guess", token.as_str(), "sha256:"] {
        assert!(!all.contains(secret), "the log holds {secret}");
    }
}

#[cfg(unix)]
#[tokio::test]
async fn a_kubernetes_configmap_update_is_seen_through_its_symlink_swap() {
    use std::os::unix::fs::symlink;
    // The layout kubelet writes: the file is a link into `..data`, itself a link to a
    // timestamped directory, and an update swaps `..data` in one rename.
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys");
    let version = |name: &str, text: &str| {
        std::fs::create_dir(dir.path().join(name)).unwrap();
        std::fs::write(dir.path().join(name).join("tokenmint.toml"), text).unwrap();
    };
    version("..2026_12_01_a", &config_text("", &keys));
    symlink("..2026_12_01_a", dir.path().join("..data")).unwrap();
    symlink("..data/tokenmint.toml", dir.path().join("tokenmint.toml")).unwrap();
    let app = Running::from_file(&dir.path().join("tokenmint.toml")).await;
    assert_eq!(app.token("newcomer", SECRET_A).await.status(), 401);

    let newcomer = "[[clients]]\nid = \"newcomer\"\nsecret_hashes = [\"sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1\"]\naudiences = [\"https://api.new\"]\n";
    version("..2026_12_01_b", &format!("{}{newcomer}", config_text("", &keys)));
    symlink("..2026_12_01_b", dir.path().join("..data_tmp")).unwrap();
    std::fs::rename(dir.path().join("..data_tmp"), dir.path().join("..data")).unwrap();
    let reloaded = within_10s(|| {
        let app = &app;
        async move { app.token("newcomer", SECRET_A).await.status() == 200 }
    })
    .await;
    assert!(reloaded, "the swapped ConfigMap was not reloaded");
    let text = app.scrape().await;
    assert_eq!(sample(&text, "tokenmint_config_reloads_total", &[("result", "ok")]), Some(1.0));
}

#[tokio::test]
async fn a_reload_keeps_rate_limit_budgets_and_brute_force_counters() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("tokenmint.toml");
    let limited = "[[clients]]\nid = \"limited\"\nsecret_hashes = [\"sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1\"]\naudiences = [\"https://api.one\"]\nrate_limit = \"2/h\"\n";
    let text = config_text(limited, &dir.path().join("keys"));
    std::fs::write(&file, &text).unwrap();
    let app = Running::from_file(&file).await;
    for _ in 0..2 {
        assert_eq!(app.token("limited", SECRET_A).await.status(), 200);
    }
    // Five wrong secrets for the argon2id client: it backs off (RFC 6749 §2.3.1).
    for _ in 0..5 {
        assert_eq!(app.token("argon", "guess").await.status(), 401);
    }
    assert_eq!(app.token("argon", "guess").await.status(), 429);
    // Any edit reloads; here a client's lifetime.
    std::fs::write(&file, text.replace("ttl = \"3h\"", "ttl = \"2h\"")).unwrap();
    let reloaded = within_10s(|| {
        let app = &app;
        async move {
            sample(&app.scrape().await, "tokenmint_config_reloads_total", &[("result", "ok")]) == Some(1.0)
        }
    })
    .await;
    assert!(reloaded, "the edit was not reloaded");
    assert_oauth_error(app.token("limited", SECRET_A).await, 429, "rate_limited").await;
    assert_eq!(app.token("argon", ARGON_SECRET).await.status(), 429, "the reload reset the throttle");
}
