//! Test harness: the application driven in-process (no socket), a real server on an
//! ephemeral port, a temp key directory, and an independent verifier built only from the
//! published JWKS.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use serde_json::Value;
use tokenmint::claims::AccessClaims;
use tokenmint::clock::{Clock, FixedClock, SystemClock};
use tokenmint::config::Config;
use tokenmint::server::Server;

/// `secret-a`.
pub(crate) const SECRET_A: &str = "secret-a";
/// A secret with every character RFC 6749 §2.3.1 makes clients encode.
pub(crate) const SPECIAL_SECRET: &str = "p@ss:w+rd %x";
/// The argon2id client's secret.
pub(crate) const ARGON_SECRET: &str = "correct horse battery staple";

/// Clients shared by most tests.
pub(crate) const CLIENTS: &str = r#"
[[clients]]
id = "svc-a"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
scopes = ["read", "write", "admin:all"]
default_scopes = ["read"]
# `billing` is a bare name, not a URI: only the `audience` alias may ask for it (RFC 8707 §2).
audiences = ["https://api.one", "https://api.two", "billing"]
claims = { tenant = "acme", tier = 3 }

[[clients]]
id = "my-client"
secret_hashes = ["sha256:a97092453347e44ee6eaaeac7f29df83c7aae11c947e9b74a8654d9653e70bb3"]
scopes = ["read"]
audiences = ["https://api.one"]

[[clients]]
id = "rotating"
# Two hashes at once: "old-secret" and "secret-a".
secret_hashes = [
  "sha256:5d865deae06fbd34fe9ce848f3e5fc4368f2f612b18aef47f29f2164563a0140",
  "sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1",
]
audiences = ["https://api.one"]

[[clients]]
id = "argon"
secret_hashes = ["$argon2id$v=19$m=19456,t=2,p=1$xvXCl2DEFqFjoJabKCq7qA$ESLBK9Q23EuQfmvequbFQ3q6h9o9DMx+ott7wJGB3y4"]
audiences = ["https://api.one"]

[[clients]]
id = "disabled"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
audiences = ["https://api.one"]
enabled = false

[[clients]]
id = "no-grants"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
grant_types = []
audiences = ["https://api.one"]

[[clients]]
id = "long-lived"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
audiences = ["https://api.one"]
ttl = "3h"

[[clients]]
id = "short-lived"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
audiences = ["https://api.one"]
ttl = "90s"
"#;

/// The issuer every test server uses.
pub(crate) const ISSUER: &str = "https://tokens.test";

/// The application driven in-process: [`tokenmint::server::router`] with requests sent
/// through `tower::ServiceExt::oneshot`, no listener, no socket, no key-maintenance task.
/// Requests carry no peer address, so the brute-force throttles count by name only.
/// Dropping it removes its key directory.
pub(crate) struct InProcess {
    router: axum::Router,
    /// Shared with the applications made by [`InProcess::sharing_keys`].
    pub(crate) keys_dir: Arc<tempfile::TempDir>,
}

/// An in-process answer: status, headers and the whole body.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: http::StatusCode,
    pub(crate) headers: http::HeaderMap,
    pub(crate) body: axum::body::Bytes,
}

impl Reply {
    /// The body as JSON; panics (quoting the body) if it is not.
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }

    /// The value of header `name` as text; panics if it is absent.
    pub(crate) fn header(&self, name: &str) -> &str {
        let value = self.headers.get(name).unwrap_or_else(|| panic!("no {name} header: {:?}", self.headers));
        value.to_str().unwrap()
    }
}

impl InProcess {
    /// The shared clients, ES256, default settings.
    pub(crate) async fn spawn() -> InProcess {
        Self::spawn_with("").await
    }

    /// The shared clients plus `extra` TOML (sections such as `[tokens]`).
    pub(crate) async fn spawn_with(extra: &str) -> InProcess {
        Self::spawn_config(&format!("{extra}\n{CLIENTS}"), Arc::new(SystemClock)).await
    }

    /// Exactly the given TOML (plus issuer [`ISSUER`] and a temp key dir), with `clock`.
    pub(crate) async fn spawn_config(toml: &str, clock: Arc<dyn Clock>) -> InProcess {
        Self::build(Arc::new(tempfile::tempdir().unwrap()), ISSUER, toml, clock).await
    }

    /// The shared clients, with a clock stopped at `at`.
    pub(crate) async fn spawn_at(at: SystemTime) -> InProcess {
        Self::spawn_config(CLIENTS, Arc::new(FixedClock(at))).await
    }

    /// Exactly the given TOML with another `issuer` than [`ISSUER`].
    pub(crate) async fn spawn_issued(issuer: &str, toml: &str) -> InProcess {
        Self::build(Arc::new(tempfile::tempdir().unwrap()), issuer, toml, Arc::new(SystemClock)).await
    }

    /// Another application on the same key directory as `self` (a restart, or a replica),
    /// with exactly the given TOML.
    pub(crate) async fn sharing_keys(&self, toml: &str) -> InProcess {
        Self::build(Arc::clone(&self.keys_dir), ISSUER, toml, Arc::new(SystemClock)).await
    }

    async fn build(
        keys_dir: Arc<tempfile::TempDir>,
        issuer: &str,
        toml: &str,
        clock: Arc<dyn Clock>,
    ) -> InProcess {
        let full = format!("issuer = \"{issuer}\"\n{toml}");
        let mut config = Config::from_toml(&full).unwrap_or_else(|e| panic!("{e}"));
        config.set_keys_dir(keys_dir.path());
        let router = tokenmint::server::router(config, clock).await.unwrap();
        InProcess { router, keys_dir }
    }

    /// Sends `req` to the application and reads the whole answer.
    pub(crate) async fn request(&self, req: http::Request<axum::body::Body>) -> Reply {
        oneshot(self.router.clone(), req).await
    }

    /// Sends `n` requests built by `request` concurrently, each on its own task, and
    /// collects the answers (in completion order).
    pub(crate) async fn all_at_once(
        &self,
        n: usize,
        request: impl Fn() -> http::Request<axum::body::Body>,
    ) -> Vec<Answer> {
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let (router, req) = (self.router.clone(), request());
            tasks.spawn(async move {
                let reply = oneshot(router, req).await;
                let retry_after =
                    reply.headers.get("retry-after").map(|v| v.to_str().unwrap().parse().unwrap());
                let error = reply.json()["error"].as_str().map(str::to_owned);
                Answer { status: reply.status.as_u16(), retry_after, error }
            });
        }
        let mut answers = Vec::with_capacity(n);
        while let Some(answer) = tasks.join_next().await {
            answers.push(answer.unwrap());
        }
        answers
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.request(http::Request::get(path).body(axum::body::Body::empty()).unwrap()).await
    }

    /// `GET path` with extra headers.
    pub(crate) async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = http::Request::get(path);
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.request(req.body(axum::body::Body::empty()).unwrap()).await
    }

    /// A `POST /oauth2/token` to be completed by the caller (headers, then a body) and
    /// passed to [`InProcess::request`].
    pub(crate) fn token_req() -> http::request::Builder {
        http::Request::post("/oauth2/token")
    }

    /// POST a form to `path` (which may carry a query string), with Basic credentials if
    /// given (id and secret form-urlencoded first, RFC 6749 §2.3.1).
    pub(crate) async fn post_form(
        &self,
        path: &str,
        basic: Option<(&str, &str)>,
        form: &[(&str, &str)],
    ) -> Reply {
        let mut req = http::Request::post(path).header("content-type", "application/x-www-form-urlencoded");
        if let Some((id, secret)) = basic {
            req = req.header("authorization", basic_header(id, secret));
        }
        self.request(req.body(form_body(form).into()).unwrap()).await
    }

    /// POST a form to the token endpoint with Basic credentials.
    pub(crate) async fn token_basic(&self, id: &str, secret: &str, form: &[(&str, &str)]) -> Reply {
        self.post_form("/oauth2/token", Some((id, secret)), form).await
    }

    /// POST a form with `client_secret_post` credentials (or none).
    pub(crate) async fn token_post(&self, form: &[(&str, &str)]) -> Reply {
        self.post_form("/oauth2/token", None, form).await
    }

    /// POST `body` as `application/json` to the token endpoint.
    pub(crate) async fn token_json(&self, body: &Value) -> Reply {
        self.token_raw("application/json", body.to_string()).await
    }

    /// POST a raw body with a content type.
    pub(crate) async fn token_raw(&self, content_type: &str, body: impl Into<axum::body::Body>) -> Reply {
        let req = Self::token_req().header("content-type", content_type);
        self.request(req.body(body.into()).unwrap()).await
    }

    /// A token for `svc-a` with the given extra parameters; panics unless 200.
    pub(crate) async fn access_token(&self, extra: &[(&str, &str)]) -> (String, Value) {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        let reply = self.token_basic("svc-a", SECRET_A, &form).await;
        assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
        let body = reply.json();
        (body["access_token"].as_str().unwrap().to_owned(), body)
    }

    /// The published JWKS, from `GET /.well-known/jwks.json`.
    pub(crate) async fn jwks(&self) -> JwkSet {
        let reply = self.get("/.well-known/jwks.json").await;
        assert_eq!(reply.status, 200);
        serde_json::from_slice(&reply.body).unwrap()
    }

    /// [`TestApp::verify`]: `token` checked against the published JWKS only.
    pub(crate) async fn verify(&self, token: &str, audience: &str) -> AccessClaims {
        verify_with(&self.jwks().await, token, audience).unwrap()
    }
}

/// One request through `router` (a router never fails: its error type is `Infallible`).
async fn oneshot(router: axum::Router, req: http::Request<axum::body::Body>) -> Reply {
    use tower::ServiceExt as _;
    let res = router.oneshot(req).await.unwrap();
    let (parts, body) = res.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    Reply { status: parts.status, headers: parts.headers, body }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
pub(crate) fn basic_header(id: &str, secret: &str) -> String {
    use base64::Engine as _;
    let raw = format!("{}:{}", form_encode(id), form_encode(secret));
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))
}

/// `pairs` as an `application/x-www-form-urlencoded` body.
pub(crate) fn form_body(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
}

/// A running server. Dropping it stops the server and removes its key directory.
pub(crate) struct TestApp {
    pub(crate) addr: SocketAddr,
    /// The configured issuer: [`ISSUER`], or the server's own URL for `spawn_self_issued`.
    pub(crate) issuer: String,
    pub(crate) http: reqwest::Client,
    pub(crate) keys_dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TestApp {
    /// The shared clients, ES256, default settings.
    pub(crate) async fn spawn() -> TestApp {
        Self::spawn_with("").await
    }

    /// The shared clients plus `extra` TOML (sections such as `[tokens]`).
    pub(crate) async fn spawn_with(extra: &str) -> TestApp {
        Self::spawn_config(&format!("{extra}\n{CLIENTS}"), Arc::new(SystemClock)).await
    }

    /// Exactly the given TOML (plus issuer and a temp key dir), with an injected clock.
    pub(crate) async fn spawn_config(toml: &str, clock: Arc<dyn Clock>) -> TestApp {
        let keys_dir = tempfile::tempdir().unwrap();
        Self::spawn_in(keys_dir, toml, clock).await
    }

    /// Another server on the same key directory as `self` (a restart, or a replica).
    pub(crate) async fn spawn_sharing_keys(
        &self,
        toml: &str,
    ) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
        start(self.keys_dir.path(), toml, Arc::new(SystemClock)).await
    }

    /// A server whose issuer is its own address, as discovery requires (RFC 8414 §3.3: the
    /// metadata `issuer` is identical to the URL it was discovered from).
    pub(crate) async fn spawn_self_issued(toml: &str) -> TestApp {
        Self::spawn_self_issued_at("", toml).await
    }

    /// [`TestApp::spawn_self_issued`] with `path` after the address in the issuer (as behind a
    /// proxy that serves the service under that path and strips it).
    pub(crate) async fn spawn_self_issued_at(path: &str, toml: &str) -> TestApp {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}{path}", listener.local_addr().unwrap());
        let keys_dir = tempfile::tempdir().unwrap();
        let (addr, stop) = start_on(listener, &issuer, keys_dir.path(), toml, Arc::new(SystemClock)).await;
        TestApp { addr, issuer, http: test_http(), keys_dir, _stop: stop }
    }

    async fn spawn_in(keys_dir: tempfile::TempDir, toml: &str, clock: Arc<dyn Clock>) -> TestApp {
        let (addr, stop) = start(keys_dir.path(), toml, clock).await;
        TestApp { addr, issuer: ISSUER.to_owned(), http: test_http(), keys_dir, _stop: stop }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A request to the token endpoint, to be completed by the caller and passed to [`send`].
    pub(crate) fn token_req(&self) -> reqwest::RequestBuilder {
        self.http.post(self.url("/oauth2/token"))
    }

    /// POST a form to the token endpoint with Basic credentials.
    pub(crate) async fn token_basic(
        &self,
        id: &str,
        secret: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url("/oauth2/token"))
            .basic_auth(form_encode(id), Some(form_encode(secret)))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// A token for `svc-a` with the given extra parameters; panics unless 200.
    pub(crate) async fn access_token(&self, extra: &[(&str, &str)]) -> (String, Value) {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        let res = self.token_basic("svc-a", SECRET_A, &form).await;
        assert_eq!(res.status(), 200);
        let body: Value = res.json().await.unwrap();
        (body["access_token"].as_str().unwrap().to_owned(), body)
    }

    /// The published JWKS.
    pub(crate) async fn jwks(&self) -> JwkSet {
        get_json(&self.http, &self.url("/.well-known/jwks.json")).await
    }

    /// Verifies `token` the way an independent resource server would: key by `kid` from the
    /// JWKS, algorithm from the key, exact issuer, required audience, `typ` at+jwt.
    pub(crate) async fn verify(&self, token: &str, audience: &str) -> AccessClaims {
        verify_with(&self.jwks().await, token, audience).unwrap()
    }
}

/// Sends a request; panics on transport errors (a test failure, not an HTTP status).
pub(crate) async fn send(req: reqwest::RequestBuilder) -> reqwest::Response {
    req.send().await.unwrap()
}

/// One answer of [`InProcess::all_at_once`]: status, `Retry-After` seconds, and the `error` code.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) retry_after: Option<u64>,
    pub(crate) error: Option<String>,
}

/// Asserts what a burst of wrong credentials sent at once must get from a brute-force
/// throttle: at least one and at most the documented 5 real checks (answered `checked`),
/// and `429` with error `code` and a `Retry-After` of at least 1 s for all the others.
pub(crate) fn assert_backed_off(answers: &[Answer], checked: u16, code: &str) {
    let ran = answers.iter().filter(|a| a.status == checked).count();
    assert!((1..=5).contains(&ran), "{ran} credential checks ran: {answers:?}");
    for a in answers.iter().filter(|a| a.status != checked) {
        assert_eq!(a.status, 429, "{answers:?}");
        assert_eq!(a.error.as_deref(), Some(code));
        assert!(a.retry_after >= Some(1), "{a:?}");
    }
}

/// Serves `app` (a stand-in server: a resource server, a JWKS or metadata endpoint) on
/// `listener` in the background until the returned sender is used or dropped.
pub(crate) fn serve_in_background(
    listener: tokio::net::TcpListener,
    app: axum::Router,
) -> tokio::sync::oneshot::Sender<()> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
            .unwrap();
    });
    stop
}

/// How long [`eventually`] waits. Generous: it only runs out when a test is failing.
pub(crate) const EVENTUALLY: Duration = Duration::from_secs(10);

/// Polls `condition` every 50 ms for up to [`EVENTUALLY`]; whether it came true. For changes
/// the server picks up by itself (key directory events and polls, SIGHUP, its schedule).
pub(crate) async fn eventually<F: std::future::Future<Output = bool>>(condition: impl FnMut() -> F) -> bool {
    eventually_within(EVENTUALLY, condition).await
}

/// [`eventually`] with another time limit, for conditions a schedule brings about later.
pub(crate) async fn eventually_within<F: std::future::Future<Output = bool>>(
    limit: Duration,
    mut condition: impl FnMut() -> F,
) -> bool {
    let deadline = std::time::Instant::now() + limit;
    loop {
        if condition().await {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        // The poll interval: the condition is checked again, not waited for blindly.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// GETs `url` and parses the JSON body.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(http: &reqwest::Client, url: &str) -> T {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// A client credentials request with Basic credentials to the server at `addr`.
pub(crate) async fn basic_token(
    http: &reqwest::Client,
    addr: &str,
    id: &str,
    secret: &str,
) -> reqwest::Response {
    let req = http.post(format!("http://{addr}/oauth2/token")).basic_auth(id, Some(secret));
    send(req.form(&[("grant_type", "client_credentials")])).await
}

/// An HTTP client that never follows redirects.
pub(crate) fn test_http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A server whose end a test waits for: `stop` starts a graceful shutdown, `served`
/// resolves when `Server::run` has returned.
pub(crate) struct Joinable {
    pub(crate) addr: SocketAddr,
    pub(crate) stop: tokio::sync::oneshot::Sender<()>,
    pub(crate) served: tokio::task::JoinHandle<()>,
    _keys_dir: tempfile::TempDir,
}

impl Joinable {
    /// `toml` (plus issuer and a temp key dir) on 127.0.0.1:0, system clock.
    pub(crate) async fn spawn(toml: &str) -> Joinable {
        let keys_dir = tempfile::tempdir().unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, stop, served) =
            launch(listener, ISSUER, keys_dir.path(), toml, Arc::new(SystemClock)).await;
        Joinable { addr, stop, served, _keys_dir: keys_dir }
    }
}

/// Starts a server on 127.0.0.1:0 with `keys_dir`; the sender stops it.
async fn start(
    keys_dir: &std::path::Path,
    toml: &str,
    clock: Arc<dyn Clock>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    start_on(listener, ISSUER, keys_dir, toml, clock).await
}

/// Starts a server on `listener` with `issuer` and `keys_dir` prepended to `toml`.
async fn start_on(
    listener: tokio::net::TcpListener,
    issuer: &str,
    keys_dir: &std::path::Path,
    toml: &str,
    clock: Arc<dyn Clock>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let (addr, stop, _) = launch(listener, issuer, keys_dir, toml, clock).await;
    (addr, stop)
}

/// [`start_on`], also returning the task that runs the server.
async fn launch(
    listener: tokio::net::TcpListener,
    issuer: &str,
    keys_dir: &std::path::Path,
    toml: &str,
    clock: Arc<dyn Clock>,
) -> (SocketAddr, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let full = format!("issuer = \"{issuer}\"\n{toml}");
    let mut config = Config::from_toml(&full).unwrap_or_else(|e| panic!("{e}"));
    config.set_keys_dir(keys_dir);
    let server = Server::with_listener(config, listener, clock).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(server.run(async move {
        let _ = stopped.await;
    }));
    (addr, stop, served)
}

/// The independent verification, reusable against any JWKS.
pub(crate) fn verify_with(jwks: &JwkSet, token: &str, audience: &str) -> Result<AccessClaims, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(format!("typ is {:?}", header.typ));
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("kid not in JWKS")?;
    let alg = jwk.common.key_algorithm.ok_or("JWK without alg")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let alg = jsonwebtoken::Algorithm::try_from(alg).map_err(|e| e.to_string())?;
    let mut v = Validation::new(alg);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<AccessClaims>(token, &key, &v).map(|d| d.claims).map_err(|e| e.to_string())
}

/// RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
pub(crate) fn form_encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Asserts an RFC 6749 §5.2 error: status, `error` code, a description, and no-store.
pub(crate) async fn assert_oauth_error(res: reqwest::Response, status: u16, code: &str) -> Value {
    let (got, headers) = (res.status().as_u16(), res.headers().clone());
    let body = res.bytes().await.unwrap();
    check_oauth_error(got, &headers, &body, status, code)
}

/// [`assert_oauth_error`] for an in-process [`Reply`].
pub(crate) fn assert_oauth_reply(reply: &Reply, status: u16, code: &str) -> Value {
    check_oauth_error(reply.status.as_u16(), &reply.headers, &reply.body, status, code)
}

/// The checks of [`assert_oauth_error`]: status, `Cache-Control: no-store`, `Pragma:
/// no-cache`, a JSON content type, the Basic challenge on a 401, the `error` code, and a
/// non-empty `error_description` within RFC 6749 §5.2's character set. The parsed body.
fn check_oauth_error(got: u16, headers: &http::HeaderMap, body: &[u8], status: u16, code: &str) -> Value {
    let text = String::from_utf8_lossy(body);
    assert_eq!(got, status, "status: {text}");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/json"));
    if status == 401 {
        assert_eq!(headers["www-authenticate"], "Basic realm=\"tokenmint\"");
    }
    let body: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {text}"));
    assert_eq!(body["error"], code, "{body}");
    let description = body["error_description"].as_str().unwrap_or("");
    assert!(!description.is_empty(), "{body}");
    assert_conforming_description(description);
    body
}

/// Asserts RFC 6749 §5.2's character set for `error_description`:
/// `%x20-21 / %x23-5B / %x5D-7E`, printable ASCII without `"` and `\`.
pub(crate) fn assert_conforming_description(description: &str) {
    let bad: Vec<char> = description
        .chars()
        .filter(|c| !matches!(*c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
        .collect();
    assert!(
        bad.is_empty(),
        "error_description {description:?} has characters RFC 6749 §5.2 forbids: {bad:?}"
    );
}

/// Seconds since the epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// A fixed instant for clock-injected tests.
pub(crate) fn fixed_instant() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_900_000_000)
}

/// For a test that needs an outside program or library which is `missing` (a sentence naming
/// it and how to install it): says on stderr that the test is skipped, so that `cargo test`
/// passes on a fresh machine, or fails the test under `REQUIRE_INTEROP=1` (CI installs them all).
pub(crate) fn skip_unless_required(missing: &str) {
    if std::env::var("REQUIRE_INTEROP").as_deref() == Ok("1") {
        panic!("REQUIRE_INTEROP=1 and {missing}");
    }
    eprintln!("skipped: {missing}");
}

/// The audit events (target `tokenmint::audit`) among JSON log lines.
pub(crate) fn audit_events(log: &[String]) -> Vec<Value> {
    log.iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "tokenmint::audit")
        .collect()
}
