//! Mainstream client libraries, unmodified, against the real server: PyJWT and Authlib
//! (`tests/interop/python/check.py`), jose and openid-client (`tests/interop/node/check.mjs`).
//! Each script fetches a token, verifies it from the JWKS alone, exits non-zero with the
//! library's error on any failure, and prints the verified claims as JSON; the tests check them.
//!
//! The libraries come from `python3 -m pip install -r tests/interop/python/requirements.txt` and
//! `npm ci --prefix tests/interop/node`. Without them a test is skipped with a note on stderr,
//! unless `REQUIRE_INTEROP=1` (CI), where it fails.

use std::process::{Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::*;

/// Upper bound for one script run: interpreter start, token request, JWKS fetch, verification.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(60);
/// What the scripts exit with when their libraries are not installed.
const DEPS_MISSING: i32 = 3;
/// Every signing algorithm tokenmint offers.
const ALGORITHMS: [&str; 3] = ["ES256", "EdDSA", "RS256"];

#[derive(Clone, Copy, Debug)]
enum Lang {
    Python,
    Node,
}

impl Lang {
    fn program(self) -> &'static str {
        match self {
            Lang::Python => "python3",
            Lang::Node => "node",
        }
    }

    fn script(self) -> &'static str {
        match self {
            Lang::Python => "tests/interop/python/check.py",
            Lang::Node => "tests/interop/node/check.mjs",
        }
    }

    fn install(self) -> &'static str {
        match self {
            Lang::Python => "python3 -m pip install -r tests/interop/python/requirements.txt",
            Lang::Node => "npm ci --prefix tests/interop/node",
        }
    }

    /// Runs the script from the crate root; a run past `SCRIPT_TIMEOUT` is killed and fails.
    async fn run(self, args: &[&str]) -> std::io::Result<Output> {
        self.run_file(self.script(), args).await
    }

    /// Runs any script of this language from the crate root, with the same time bound.
    async fn run_file(self, script: &str, args: &[&str]) -> std::io::Result<Output> {
        let mut cmd = Command::new(self.program());
        cmd.arg(script)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        tokio::time::timeout(SCRIPT_TIMEOUT, cmd.output())
            .await
            .unwrap_or_else(|_| panic!("{script} {args:?} ran past {SCRIPT_TIMEOUT:?}"))
    }

    /// Whether the libraries are installed. If not, under `REQUIRE_INTEROP=1` the
    /// test fails; otherwise it says on stderr that it is skipped (the caller returns).
    async fn deps_ready(self) -> bool {
        // The script's own message names what is missing and the install command.
        let missing = match self.run(&["--check-deps"]).await {
            Ok(out) if out.status.success() => return true,
            Ok(out) if out.status.code() == Some(DEPS_MISSING) => stderr(&out).trim().to_owned(),
            Ok(out) => panic!("{} --check-deps: {}\n{}", self.script(), out.status, stderr(&out)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                format!("no `{}` on PATH; install it, then run `{}`", self.program(), self.install())
            }
            Err(e) => panic!("cannot run {}: {e}", self.program()),
        };
        skip_unless_required(&missing);
        false
    }

    /// Runs `mode` as `client` asking for `audience`, expecting `issuer`, plus `extra`
    /// arguments; returns the claims the library verified, or fails with its error.
    async fn verified_claims(
        self,
        mode: &str,
        base_url: &str,
        (client_id, secret): (&str, &str),
        (audience, issuer): (&str, &str),
        extra: &[&str],
    ) -> Value {
        let mut args = vec![mode, "--base-url", base_url, "--client-id", client_id, "--secret", secret];
        args.extend(["--audience", audience, "--issuer", issuer]);
        args.extend(extra);
        let out = self.run(&args).await.unwrap_or_else(|e| panic!("cannot run {}: {e}", self.program()));
        assert!(out.status.success(), "{} {mode} failed ({}):\n{}", self.script(), out.status, stderr(&out));
        let stdout = String::from_utf8_lossy(&out.stdout);
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("{mode} printed no claims ({e}): {stdout}"))
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// RFC 9068 §2.2: the claims a library verified are the ones we meant to issue.
fn assert_claims(claims: &Value, client_id: &str, aud: &str, issuer: &str, scope: Option<&str>) {
    assert_eq!(claims["client_id"], client_id, "{claims}");
    assert_eq!(claims["sub"], client_id, "{claims}");
    assert_eq!(claims["aud"], aud, "{claims}");
    assert_eq!(claims["iss"], issuer, "{claims}");
    assert_eq!(claims.get("scope").and_then(Value::as_str), scope, "{claims}");
    assert!(claims["jti"].is_string(), "{claims}");
    assert!(claims["exp"].as_u64().unwrap() > claims["iat"].as_u64().unwrap(), "{claims}");
}

/// The shared clients, signing with `alg`.
async fn spawn_signing_with(alg: &str) -> TestApp {
    TestApp::spawn_with(&format!("[tokens]\nalgorithm = \"{alg}\"")).await
}

/// Tokens of every algorithm, verified by `lang`'s `mode` from the JWKS alone: the claims
/// the library hands back are the ones we issued, extra claims included.
async fn every_algorithm_verifies(lang: Lang, mode: &str) {
    if !lang.deps_ready().await {
        return;
    }
    for alg in ALGORITHMS {
        let app = spawn_signing_with(alg).await;
        let claims = lang
            .verified_claims(
                mode,
                &app.url(""),
                ("svc-a", SECRET_A),
                ("https://api.two", ISSUER),
                &["--scope", "read write", "--alg", alg],
            )
            .await;
        assert_claims(&claims, "svc-a", "https://api.two", ISSUER, Some("read write"));
        assert_eq!(claims["tenant"], "acme", "the client's extra claims reach the verifier");
        assert_eq!(claims["tier"], json!(3));
    }
}

#[tokio::test]
async fn pyjwt_verifies_every_algorithm_from_the_jwks_rfc9068_4() {
    every_algorithm_verifies(Lang::Python, "pyjwt").await;
}

#[tokio::test]
async fn authlib_client_secret_basic_then_authlib_jose_validates_rfc9068_4() {
    if !Lang::Python.deps_ready().await {
        return;
    }
    let app = TestApp::spawn().await;
    let claims = Lang::Python
        .verified_claims(
            "authlib-basic",
            &app.url(""),
            ("svc-a", SECRET_A),
            ("https://api.two", ISSUER),
            &["--scope", "write"],
        )
        .await;
    assert_claims(&claims, "svc-a", "https://api.two", ISSUER, Some("write"));
}

/// Authlib sends Basic credentials unencoded (authlib/authlib#594 was reverted), so a secret
/// with reserved characters works only when the caller form-encodes it first, as Authlib's
/// maintainers advise; that, and client_secret_post, work unchanged against tokenmint.
#[tokio::test]
async fn authlib_with_reserved_characters_in_the_secret_rfc6749_2_3_1() {
    if !Lang::Python.deps_ready().await {
        return;
    }
    let app = TestApp::spawn().await;
    for (mode, extra) in [("authlib-post", &[][..]), ("authlib-basic", &["--pre-encode"][..])] {
        let claims = Lang::Python
            .verified_claims(
                mode,
                &app.url(""),
                ("my-client", SPECIAL_SECRET),
                ("https://api.one", ISSUER),
                extra,
            )
            .await;
        assert_claims(&claims, "my-client", "https://api.one", ISSUER, None);
    }
}

#[tokio::test]
async fn jose_verifies_every_algorithm_with_typ_at_jwt_rfc9068_2_1_and_4() {
    every_algorithm_verifies(Lang::Node, "jose").await;
}

/// openid-client discovers the token endpoint and JWKS from both metadata documents, then
/// authenticates with ClientSecretBasic, form-urlencoding `my-client` (as `my%2Dclient`) and
/// `p@ss:w+rd %x` per RFC 6749 §2.3.1.
#[tokio::test]
async fn openid_client_discovers_and_gets_a_token_rfc8414_3_rfc6749_2_3_1() {
    if !Lang::Node.deps_ready().await {
        return;
    }
    let server = TestApp::spawn_self_issued(CLIENTS).await;
    // oidc: /.well-known/openid-configuration; oauth2: RFC 8414 §3 oauth-authorization-server.
    for discovery in ["oidc", "oauth2"] {
        let claims = Lang::Node
            .verified_claims(
                "openid-client",
                &server.issuer,
                ("my-client", SPECIAL_SECRET),
                ("https://api.one", &server.issuer),
                &["--discovery", discovery, "--scope", "read"],
            )
            .await;
        assert_claims(&claims, "my-client", "https://api.one", &server.issuer, Some("read"));
    }
}

#[tokio::test]
async fn the_readme_pyjwt_snippet_verifies_and_rejects_rfc9068_4() {
    if !Lang::Python.deps_ready().await {
        return;
    }
    let app = TestApp::spawn_self_issued(CLIENTS).await;
    let (token, _) = app.access_token(&[]).await;
    let script = "examples/verify_pyjwt.py";
    let out = Lang::Python.run_file(script, &[&app.issuer, "https://api.one", &token]).await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_claims(&claims, "svc-a", "https://api.one", &app.issuer, Some("read"));
    let out = Lang::Python.run_file(script, &[&app.issuer, "https://api.other", &token]).await.unwrap();
    assert_eq!(out.status.code(), Some(1), "a wrong audience must be refused");
}

#[tokio::test]
async fn pyjwt_verifies_the_id_token_with_aud_the_client_oidc_core_2() {
    if !Lang::Python.deps_ready().await {
        return;
    }
    let app = crate::password::spawn().await;
    let form =
        [("grant_type", "password"), ("username", "alice"), ("password", "wonderland"), ("scope", "openid")];
    let body: Value = app.token_basic("app", SECRET_A, &form).await.json().await.unwrap();
    let id_token = body["id_token"].as_str().unwrap();
    let jwks_uri = app.url("/.well-known/jwks.json");
    let script = "tests/interop/python/id_token.py";
    let out = Lang::Python.run_file(script, &[&jwks_uri, ISSUER, "app", id_token]).await.unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let claims: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["aud"], "app");
    // The same token for another client is refused.
    let out = Lang::Python.run_file(script, &[&jwks_uri, ISSUER, "svc-a", id_token]).await.unwrap();
    assert_eq!(out.status.code(), Some(1));
}

/// `lang`'s `keygen` makes an `alg` key pair; a server trusts its public half for the client
/// `pkjwt` (plus `extra` TOML); `mode` gets a token with `private_key_jwt` (RFC 7523 §2.2),
/// unmodified, and verifies it.
async fn private_key_jwt_gets_a_token(lang: Lang, mode: &str, alg: &str, extra: &str) {
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join(format!("{alg}.pem"));
    let key_file = key_file.to_str().unwrap();
    let out = lang.run(&["keygen", "--key-alg", alg, "--key-file", key_file]).await.unwrap();
    assert!(out.status.success(), "keygen {alg}: {}", stderr(&out));
    let jwks_file = dir.path().join(format!("{alg}.jwks.json"));
    std::fs::write(&jwks_file, &out.stdout).unwrap();
    let toml = format!(
        "{extra}\n[[clients]]\nid = \"pkjwt\"\njwks_file = \"{}\"\nscopes = [\"read\"]\naudiences = [\"https://api.one\"]\n",
        jwks_file.display()
    );
    let server = TestApp::spawn_self_issued(&toml).await;
    let claims = lang
        .verified_claims(
            mode,
            &server.issuer,
            ("pkjwt", "-"),
            ("https://api.one", &server.issuer),
            &["--key-file", key_file, "--key-alg", alg, "--scope", "read"],
        )
        .await;
    assert_claims(&claims, "pkjwt", "https://api.one", &server.issuer, Some("read"));
}

/// Authlib's PrivateKeyJWT signs assertions valid for an hour (its fixed default), so the
/// server allows that with `tokens.assertion_max_lifetime` (default five minutes).
#[tokio::test]
async fn authlib_private_key_jwt_with_ec_and_rsa_keys_rfc7523_2_2() {
    if !Lang::Python.deps_ready().await {
        return;
    }
    for alg in ["ES256", "RS256"] {
        private_key_jwt_gets_a_token(
            Lang::Python,
            "authlib-pkjwt",
            alg,
            "[tokens]\nassertion_max_lifetime = \"1h\"",
        )
        .await;
    }
}

/// openid-client's PrivateKeyJwt, after discovery: assertions live 60 s, `aud` the issuer.
#[tokio::test]
async fn openid_client_private_key_jwt_with_ec_and_rsa_keys_rfc7523_2_2() {
    if !Lang::Node.deps_ready().await {
        return;
    }
    for alg in ["ES256", "RS256"] {
        private_key_jwt_gets_a_token(Lang::Node, "openid-client-pkjwt", alg, "").await;
    }
}
