//! `[server.tls]` (RFC 6749 §3.2: the token endpoint MUST use TLS): tokens over TLS from
//! reqwest and curl, against a test CA made here with rcgen; a certificate swap seen by the
//! next handshake while established connections go on; a broken swap that changes nothing
//! and is counted; plain HTTP to the TLS port refused with a 400 that says why.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use serde_json::Value;
use tokenmint::clock::SystemClock;
use tokenmint::config::Config;
use tokenmint::server::Server;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::helpers::*;

/// A certificate authority made for one test.
pub(crate) struct TestCa {
    pub(crate) pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl TestCa {
    pub(crate) fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        TestCa { pem, issuer: Issuer::new(params, key) }
    }

    /// A server certificate for `localhost` and 127.0.0.1: (certificate PEM, key PEM).
    pub(crate) fn leaf(&self) -> (String, String) {
        let mut params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }

    /// A client that trusts this CA only.
    pub(crate) fn client(&self) -> reqwest::Client {
        self.client_with(reqwest::Client::builder())
    }

    pub(crate) fn client_with(&self, builder: reqwest::ClientBuilder) -> reqwest::Client {
        let ca = reqwest::Certificate::from_pem(self.pem.as_bytes()).unwrap();
        builder.tls_certs_only([ca]).build().unwrap()
    }
}

/// A TLS server in the test process, its certificate files in `dir`.
pub(crate) struct TlsServer {
    pub(crate) addr: std::net::SocketAddr,
    pub(crate) metrics: std::net::SocketAddr,
    pub(crate) dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl TlsServer {
    /// The shared clients, serving TLS with `ca`'s certificate, plus `extra` TOML in `[server]`.
    pub(crate) async fn spawn(ca: &TestCa, extra_server: &str) -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let (cert, key) = ca.leaf();
        write_pair(dir.path(), &cert, &key);
        let toml = format!(
            "issuer = \"{ISSUER}\"\n[server]\n{extra_server}\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n\
             [metrics]\nbind = \"127.0.0.1:0\"\n[keys]\ndir = \"{}\"\n{CLIENTS}",
            dir.path().join("tls.crt").display(),
            dir.path().join("tls.key").display(),
            dir.path().join("keys").display(),
        );
        let config = Config::from_toml(&toml).unwrap_or_else(|e| panic!("{e}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = Server::with_listener(config, listener, Arc::new(SystemClock)).await.unwrap();
        let (addr, metrics) = (server.local_addr().unwrap(), server.metrics_addr().unwrap());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async move {
            let _ = stopped.await;
        }));
        TlsServer { addr, metrics, dir, _stop: stop }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("https://127.0.0.1:{}{path}", self.addr.port())
    }

    /// Replaces the certificate files the way a Kubernetes Secret update does: new files
    /// written aside, then renamed over the old ones.
    pub(crate) fn swap(&self, cert: &str, key: &str) {
        let (tmp_cert, tmp_key) =
            (self.dir.path().join(".tls.crt.new"), self.dir.path().join(".tls.key.new"));
        std::fs::write(&tmp_key, key).unwrap();
        std::fs::write(&tmp_cert, cert).unwrap();
        std::fs::rename(&tmp_key, self.dir.path().join("tls.key")).unwrap();
        std::fs::rename(&tmp_cert, self.dir.path().join("tls.crt")).unwrap();
    }

    /// `tokenmint_tls_reloads_total{result}` from the metrics listener.
    pub(crate) async fn reloads(&self, result: &str) -> u64 {
        let text =
            reqwest::get(format!("http://{}/metrics", self.metrics)).await.unwrap().text().await.unwrap();
        let series = format!("tokenmint_tls_reloads_total{{result=\"{result}\"}} ");
        text.lines()
            .find_map(|l| l.strip_prefix(&series))
            .unwrap_or_else(|| panic!("no {series} in {text}"))
            .parse()
            .unwrap()
    }
}

fn write_pair(dir: &Path, cert: &str, key: &str) {
    std::fs::write(dir.join("tls.crt"), cert).unwrap();
    std::fs::write(dir.join("tls.key"), key).unwrap();
}

/// A client-credentials token for `svc-a` through `http` at `url`; the answer and its version.
async fn token(http: &reqwest::Client, url: &str) -> (reqwest::StatusCode, reqwest::Version, Value) {
    let res = http
        .post(url)
        .basic_auth("svc-a", Some(SECRET_A))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    let (status, version) = (res.status(), res.version());
    (status, version, res.json().await.unwrap())
}

#[tokio::test]
async fn a_token_over_tls_with_reqwest_on_http1_and_h2_by_alpn_rfc6749_3_2() {
    let ca = TestCa::new("test CA");
    let server = TlsServer::spawn(&ca, "").await;
    let jwks: jsonwebtoken::jwk::JwkSet =
        ca.client().get(server.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    for (http, version) in [
        (ca.client_with(reqwest::Client::builder().http1_only()), reqwest::Version::HTTP_11),
        // ALPN offers h2 first (RFC 7301): reqwest takes it.
        (ca.client(), reqwest::Version::HTTP_2),
    ] {
        let (status, got, body) = token(&http, &server.url("/oauth2/token")).await;
        assert_eq!((status.as_u16(), got), (200, version), "{body}");
        verify_with(&jwks, body["access_token"].as_str().unwrap(), "https://api.one").unwrap();
    }
    // A client that does not trust the CA gets no connection at all.
    let stranger = TestCa::new("another CA").client();
    assert!(stranger.get(server.url("/healthz")).send().await.is_err());
}

#[tokio::test]
async fn a_token_over_tls_with_curl_on_http1_and_http2() {
    if std::process::Command::new("curl").arg("--version").output().is_err() {
        return skip_unless_required("curl is not installed");
    }
    let ca = TestCa::new("test CA");
    let server = TlsServer::spawn(&ca, "").await;
    let ca_file = server.dir.path().join("ca.pem");
    std::fs::write(&ca_file, &ca.pem).unwrap();
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let out = tokio::process::Command::new("curl")
            .args(["-sS", flag, "--cacert"])
            .arg(&ca_file)
            .args(["-u", &format!("svc-a:{SECRET_A}"), "-d", "grant_type=client_credentials"])
            .args(["-w", "\n%{http_code} %{http_version}"])
            .arg(server.url("/oauth2/token"))
            .output()
            .await
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{text} {}", String::from_utf8_lossy(&out.stderr));
        let (body, status) = text.rsplit_once('\n').unwrap();
        assert_eq!(status, format!("200 {version}"), "{text}");
        let body: Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["token_type"], "Bearer");
    }
}

#[tokio::test]
async fn a_certificate_swap_is_seen_by_the_next_handshake_and_keeps_established_connections() {
    let (old_ca, new_ca) = (TestCa::new("old CA"), TestCa::new("new CA"));
    let server = TlsServer::spawn(&old_ca, "").await;
    // One connection made before the swap, kept alive in the pool.
    let established = old_ca.client_with(reqwest::Client::builder().http1_only());
    assert_eq!(token(&established, &server.url("/oauth2/token")).await.0, 200);
    let trusting_new = new_ca.client();
    assert!(trusting_new.get(server.url("/healthz")).send().await.is_err());

    let (cert, key) = new_ca.leaf();
    server.swap(&cert, &key);
    let url = server.url("/healthz");
    let swapped = eventually(|| async {
        // A new client every time: a new handshake, never a pooled connection.
        new_ca.client().get(&url).send().await.is_ok_and(|r| r.status() == 200)
    })
    .await;
    assert!(swapped, "the new certificate was never served");
    assert_eq!(server.reloads("ok").await, 1);
    // The old certificate is gone for new handshakes ...
    assert!(old_ca.client().get(server.url("/healthz")).send().await.is_err());
    // ... while the connection made with it goes on.
    assert_eq!(token(&established, &server.url("/oauth2/token")).await.0, 200);
}

#[tokio::test]
async fn a_broken_swap_changes_nothing_and_counts_a_failed_reload() {
    let ca = TestCa::new("test CA");
    let server = TlsServer::spawn(&ca, "").await;
    // A certificate with another certificate's key: both parse, but they do not match.
    // (The swap renames two files: a reload between the renames is refused too, so the
    // count is at least one.)
    let ((cert, _), (_, other_key)) = (ca.leaf(), ca.leaf());
    server.swap(&cert, &other_key);
    let refused = eventually(|| async { server.reloads("error").await >= 1 }).await;
    assert!(refused, "the broken pair was not refused (ok: {})", server.reloads("ok").await);
    assert_eq!(token(&ca.client(), &server.url("/oauth2/token")).await.0, 200);
    // Text that is no PEM at all: refused too.
    let before = server.reloads("error").await;
    server.swap("not a certificate\n", "not a key\n");
    assert!(
        eventually(|| async { server.reloads("error").await > before }).await,
        "the garbage was not refused"
    );
    assert_eq!(token(&ca.client(), &server.url("/oauth2/token")).await.0, 200);
    assert_eq!(server.reloads("ok").await, 0);
    // A good pair after the broken ones loads.
    let (cert, key) = ca.leaf();
    server.swap(&cert, &key);
    assert!(eventually(|| async { server.reloads("ok").await == 1 }).await, "the good pair was not loaded");
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_a_400_that_says_so() {
    let ca = TestCa::new("test CA");
    let server = TlsServer::spawn(&ca, "").await;
    let res = test_http().get(format!("http://{}/healthz", server.addr)).send().await.unwrap();
    assert_eq!(res.status(), 400);
    assert!(res.text().await.unwrap().contains("TLS"));
    // A raw request with a body: the whole answer arrives, then the close.
    let mut stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let body = form_body(&[("grant_type", "client_credentials")]);
    let request = format!(
        "POST /oauth2/token HTTP/1.1\r\nhost: x\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{answer}");
    // And TLS still works afterwards.
    assert_eq!(token(&ca.client(), &server.url("/oauth2/token")).await.0, 200);
}

#[tokio::test]
async fn a_server_whose_certificate_files_are_broken_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), "garbage", "garbage");
    let toml = format!(
        "issuer = \"{ISSUER}\"\n[server.tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n[keys]\ndir = \"{}\"\n{CLIENTS}",
        dir.path().join("tls.crt").display(),
        dir.path().join("tls.key").display(),
        dir.path().join("keys").display(),
    );
    let config = Config::from_toml(&toml).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = Server::with_listener(config, listener, Arc::new(SystemClock)).await.unwrap_err().to_string();
    assert!(err.contains("[server.tls]") && err.contains("tls.crt"), "{err}");
    let missing: PathBuf = dir.path().join("missing.crt");
    let toml =
        toml.replace(&dir.path().join("tls.crt").display().to_string(), &missing.display().to_string());
    let config = Config::from_toml(&toml).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = Server::with_listener(config, listener, Arc::new(SystemClock)).await.unwrap_err().to_string();
    assert!(err.contains("missing.crt"), "{err}");
}
