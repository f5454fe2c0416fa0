//! `tokenmint verify-server` behind a real nginx (`auth_request`), in front of a small
//! upstream: a genuine token passes and the upstream sees the forwarded subject; a forged,
//! expired or wrong-audience token is stopped with 401 and the RFC 6750 §3 challenge; a
//! missing scope with 403. Needs Debian's `nginx` (with the auth_request module); without it
//! the test is skipped, unless `REQUIRE_INTEROP=1`.

use std::net::TcpListener as StdListener;
use std::process::Stdio;
use std::time::Duration;

use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::cli::{started, tokenmint};
use crate::forge::{at_header, key_in, sign};
use crate::helpers::*;

/// A free port on 127.0.0.1 (bound, then released for nginx to take).
fn free_port() -> u16 {
    StdListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The nginx configuration: `/` needs a valid token, `/admin/` also the scope `admin:all`
/// (asked per request with `X-Tokenmint-Require-Scope`); the subject and tenant reach the
/// upstream as headers, the challenge reaches the client.
fn nginx_conf(dir: &std::path::Path, port: u16, verify: &str, upstream: &str) -> String {
    let d = dir.display();
    let auth = |name: &str, extra: &str| {
        format!(
            "location = /{name} {{ internal; proxy_pass http://{verify}; proxy_pass_request_body off;\n\
             proxy_set_header Content-Length \"\"; proxy_set_header X-Original-URI $request_uri; {extra} }}\n"
        )
    };
    let protected = |path: &str, auth: &str| {
        format!(
            "location {path} {{ auth_request /{auth};\n\
             auth_request_set $subject $upstream_http_x_tokenmint_subject;\n\
             auth_request_set $tenant $upstream_http_x_tenant;\n\
             auth_request_set $challenge $upstream_http_www_authenticate;\n\
             add_header WWW-Authenticate $challenge always;\n\
             proxy_set_header X-Subject $subject; proxy_set_header X-Tenant $tenant;\n\
             proxy_pass http://{upstream}; }}\n"
        )
    };
    format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
         events {{}}\n\
         http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
         server {{ listen 127.0.0.1:{port};\n{}{}{}{} }} }}\n",
        protected("/", "_auth"),
        protected("/admin/", "_auth_admin"),
        auth("_auth", ""),
        auth("_auth_admin", "proxy_set_header X-Tokenmint-Require-Scope admin:all;"),
    )
}

/// An upstream that answers with the headers nginx forwarded.
async fn upstream() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        axum::Json(json!({ "subject": get("x-subject"), "tenant": get("x-tenant") }))
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn nginx_auth_request_lets_genuine_tokens_through_and_stops_the_rest_rfc6750_3() {
    if std::process::Command::new("nginx").arg("-v").stderr(Stdio::null()).status().is_err() {
        skip_unless_required("no `nginx` on PATH (Debian package nginx, with auth_request)");
        return;
    }
    let app = TestApp::spawn_self_issued(CLIENTS).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokenmint(dir.path());
    cmd.args([
        "verify-server",
        "--issuer",
        &app.issuer,
        "--audience",
        "https://api.one",
        "--bind",
        "127.0.0.1:0",
    ]);
    cmd.args(["--require-scope", "read", "--forward-claim", "tenant=X-Tenant"]);
    let verifier = started(&mut cmd).await;
    let upstream = upstream().await;
    let port = free_port();
    std::fs::write(dir.path().join("nginx.conf"), nginx_conf(dir.path(), port, &verifier.addr, &upstream))
        .unwrap();
    let mut nginx = tokio::process::Command::new("nginx")
        .args(["-p", &dir.path().display().to_string(), "-c", "nginx.conf"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let http = test_http();
    let url = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let up = eventually(|| async { http.get(url("/")).send().await.is_ok() }).await;
    assert!(
        up,
        "nginx did not start: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );
    let call = |path: &'static str, token: Option<String>| {
        let http = http.clone();
        let url = url(path);
        async move {
            let mut req = http.get(url);
            if let Some(token) = token {
                req = req.bearer_auth(token);
            }
            req.send().await.unwrap()
        }
    };

    // A genuine token (scope read): through, and the upstream sees the subject and tenant.
    let (token, _) = app.access_token(&[]).await;
    let res = call("/orders", Some(token.clone())).await;
    assert_eq!(res.status(), 200);
    let seen: Value = res.json().await.unwrap();
    assert_eq!(seen, json!({ "subject": "svc-a", "tenant": "acme" }));
    // The same token again comes from the verified-token cache, with the same answer.
    assert_eq!(call("/orders", Some(token.clone())).await.status(), 200);

    // A missing scope (asked by the proxy for /admin/): 403 insufficient_scope.
    let res = call("/admin/users", Some(token.clone())).await;
    assert_eq!(res.status(), 403);
    let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
    assert!(challenge.contains("error=\"insufficient_scope\""), "{challenge}");

    // No token: 401 with a bare Bearer challenge (RFC 6750 §3.1).
    let res = call("/orders", None).await;
    assert_eq!(res.status(), 401);
    assert!(res.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));

    // Forged, expired and wrong-audience tokens: 401 invalid_token.
    let (key, kid) = key_in(app.keys_dir.path());
    let claims = jsonwebtoken::dangerous::insecure_decode_claims::<Value>(&token).unwrap();
    let with = |name: &str, value: Value| {
        let mut c = claims.clone();
        c[name] = value;
        sign(&at_header(&kid), &c, &key)
    };
    let now = unix_now();
    let (attacker, _) = crate::forge::attacker_key();
    let cases = [
        ("forged", sign(&at_header(&kid), &claims, &attacker)),
        ("expired", {
            let mut c = claims.clone();
            c["iat"] = json!(now - 900);
            c["nbf"] = json!(now - 900);
            c["exp"] = json!(now - 600);
            sign(&at_header(&kid), &c, &key)
        }),
        ("wrong audience", with("aud", json!("https://api.two"))),
    ];
    for (case, bad) in cases {
        let res = call("/orders", Some(bad)).await;
        assert_eq!(res.status(), 401, "{case}");
        let challenge = res.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.contains("error=\"invalid_token\""), "{case}: {challenge}");
    }
    let _ = nginx.start_kill();
    let _ = tokio::time::timeout(Duration::from_secs(10), nginx.wait()).await;
    let (clean, _) = verifier.stop().await;
    assert!(clean, "verify-server did not stop cleanly");
}

/// `[verify_server]` in the configuration file, a `TOKENMINT_VERIFY_SERVER__*` variable over
/// it, and a flag over both: each layer decides the setting it gives last.
#[tokio::test]
async fn settings_come_from_the_config_section_the_environment_and_flags_in_that_order() {
    let app = TestApp::spawn_self_issued(CLIENTS).await;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = format!(
        "{CLIENTS}\n[verify_server]\nissuer = \"{}\"\naudiences = \"https://api.two\"\n\
         bind = \"127.0.0.1:{port}\"\nrequire_scopes = [\"admin:all\"]\nforward_claims = {{ tenant = \"X-Tenant\" }}\n",
        app.issuer
    );
    std::fs::write(dir.path().join("tokenmint.toml"), file).unwrap();
    // The token service reads the same file and leaves the section to verify-server.
    let (code, out, err) =
        crate::cli::run(dir.path(), &["config", "check", "--config", "tokenmint.toml"], None).await;
    assert_eq!(code, 0, "{out}{err}");

    let mut cmd = tokenmint(dir.path());
    cmd.args(["--config", "tokenmint.toml", "verify-server", "--audience", "https://api.one"]);
    cmd.env("TOKENMINT_VERIFY_SERVER__REQUIRE_SCOPES", "read");
    let verifier = started(&mut cmd).await;
    assert_eq!(verifier.addr, format!("127.0.0.1:{port}"), "the file's bind");
    let (token, _) = app.access_token(&[]).await;
    let res =
        test_http().get(format!("http://{}/orders", verifier.addr)).bearer_auth(&token).send().await.unwrap();
    // 200: the flag's audience (api.one, not the file's api.two) and the variable's scope
    // (read, not the file's admin:all) are in force; the file's forwarded claim is answered.
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-tenant"], "acme");
    assert_eq!(res.headers()["x-tokenmint-subject"], "svc-a");
    let (clean, _) = verifier.stop().await;
    assert!(clean, "verify-server did not stop cleanly");
}

/// A mistake in `[verify_server]` is a configuration error (exit 64) naming the setting; a
/// missing issuer says where to give one.
#[tokio::test]
async fn a_bad_verify_server_section_is_refused_with_the_setting_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("typo.toml"),
        "[verify_server]\nissuer = \"http://127.0.0.1:1\"\naudince = \"a\"\n",
    )
    .unwrap();
    let (code, _, err) = crate::cli::run(dir.path(), &["--config", "typo.toml", "verify-server"], None).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("verify_server") && err.contains("audince"), "{err}");
    // `config check` reports the same mistake in the shared file.
    let (code, _, err) =
        crate::cli::run(dir.path(), &["config", "check", "--config", "typo.toml"], None).await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("audince"), "{err}");

    std::fs::write(dir.path().join("none.toml"), "[verify_server]\naudiences = [\"a\"]\n").unwrap();
    let (code, _, err) = crate::cli::run(dir.path(), &["--config", "none.toml", "verify-server"], None).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--issuer") && err.contains("verify_server.issuer"), "{err}");
}

/// `verify-server` reads only `TOKENMINT_VERIFY_SERVER__*`: a value figment would misread
/// (a quoted `\` escape after a non-ASCII character) is refused there, naming the variable
/// (exit 64), and ignored in a variable of the service's that `verify-server` never reads.
#[tokio::test]
async fn verify_server_refuses_a_misread_value_only_in_the_variables_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("none.toml"), "[verify_server]\naudiences = [\"a\"]\n").unwrap();
    let run = |name: &'static str| {
        let (dir, vars) = (dir.path(), [(name, "\"Σ\\n\"")]);
        async move { crate::cli::run_with_env(dir, &["--config", "none.toml", "verify-server"], &vars).await }
    };
    let (code, _, err) = run("TOKENMINT_ISSUER").await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("--issuer") && !err.contains("TOKENMINT_ISSUER"), "{err}");
    let (code, _, err) = run("TOKENMINT_VERIFY_SERVER__ISSUER").await;
    assert_eq!(code, 64, "{err}");
    assert!(err.contains("TOKENMINT_VERIFY_SERVER__ISSUER:") && !err.contains("panicked"), "{err}");
}
