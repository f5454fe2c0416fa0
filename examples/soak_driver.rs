//! The load driver of `bench/soak.sh`: a bounded, mixed, closed-loop load against one running
//! tokenmint, with every access token it is given verified by `tokenmint::verify` against
//! the live JWKS (discovered from the issuer, cached as a resource server caches it).
//!
//! ```sh
//! # Key pairs: DIR/client.{pk8,jwks.json} (private_key_jwt) and DIR/idp.{pk8,jwks.json}
//! # (the trusted issuer of the jwt-bearer grant).
//! soak_driver keygen DIR
//! # The load: TASKS concurrent loops for SECONDS, then DIR/summary.env and a markdown
//! # table on stdout. Secrets come from SOAK_SECRET and SOAK_PASSWORD.
//! soak_driver run DIR http://127.0.0.1:18180 SECONDS TASKS
//! ```
//!
//! Each loop picks one operation per iteration by weight ([`WEIGHTS`]): valid token requests
//! of every grant, JWKS with and without `If-None-Match`, introspection, and hostile
//! requests (wrong secrets, garbage bodies, an oversize declared body, non-HTTP bytes,
//! forged tokens at introspection, wrong passwords). Each answer is checked against what
//! that request must get; the summary counts 5xx answers, transport errors, unexpected
//! answers and failed verifications, which `bench/soak.sh` requires to be zero.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tokenmint::verify::{Requirements, Verifier};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Errors end the driver with a message; the load itself never stops on one.
type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The audience of every soak client (the resource server the verifier plays).
const AUDIENCE: &str = "https://api.soak.test";
/// Client credentials with a secret; also exchanges its own tokens and introspects.
const CC_CLIENT: &str = "soak-cc";
/// The password and refresh_token grants.
const PW_CLIENT: &str = "soak-pw";
/// `private_key_jwt` (RFC 7523 §2.2), keys in `client.jwks.json`.
const PKJWT_CLIENT: &str = "soak-pkjwt";
/// The jwt-bearer grant (RFC 7523 §2.1) with identity tokens of [`IDP_ISSUER`].
const FED_CLIENT: &str = "soak-fed";
/// The target of wrong secrets: a `sha256:` client, never throttled, so guesses at it make
/// nobody else wait.
const VICTIM_CLIENT: &str = "soak-victim";
/// The user of valid logins.
const USER: &str = "alice";
/// The user of wrong passwords (throttled per name and address: guessed from 127.0.0.2 so
/// that alice's logins from 127.0.0.1 never wait behind them).
const GUESSED_USER: &str = "mallory";
/// The trusted issuer of the jwt-bearer grant, and the subject it vouches for.
const IDP_ISSUER: &str = "https://idp.soak.test";
/// The federated identity `soak-fed` accepts.
const FED_SUBJECT: &str = "workload-1";
/// Key ids of the driver's two key pairs.
const CLIENT_KID: &str = "soak-pkjwt-1";
/// See [`CLIENT_KID`].
const IDP_KID: &str = "soak-idp-1";
/// A declared body this large is over any `server.max_body_bytes` the soak uses (16 KiB).
const OVERSIZE_BYTES: usize = 1 << 20;
/// How long a raw-socket probe waits for an answer before it counts as a stall.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound of iterations per loop, whatever the duration: the load is bounded twice.
const MAX_ITERATIONS: u64 = 50_000_000;
/// At most this many problem descriptions are kept for the report.
const MAX_DETAILS: usize = 40;

/// One kind of request (or short sequence of requests) the load makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    /// `client_credentials` with Basic credentials; the token verified.
    ClientCredentials,
    /// `password`, then `refresh_token` with the refresh token it gave; both verified.
    PasswordRefresh,
    /// `client_credentials` authenticated by a signed client assertion; verified.
    PrivateKeyJwt,
    /// The jwt-bearer grant with an identity token of the trusted issuer; verified.
    JwtBearer,
    /// Token exchange narrowing a fresh client-credentials token; both verified.
    Exchange,
    /// `GET /.well-known/jwks.json`, then again with `If-None-Match` (304 unless changed).
    Jwks,
    /// Introspection of a fresh token: `active: true`.
    Introspect,
    /// Hostile: a wrong secret (401).
    BadSecret,
    /// Hostile: a form body of random bytes, or broken JSON (400).
    GarbageBody,
    /// Hostile: a declared `Content-Length` of 1 MiB (413 at once, RFC 9110 §15.5.14).
    Oversize,
    /// Hostile: bytes that are not HTTP at all (400, or the connection closed).
    RawGarbage,
    /// Hostile: a tampered signature or `alg: none` at introspection (`active: false`).
    ForgedIntrospect,
    /// Hostile: a wrong password for another user (400 `invalid_grant`, or 429 throttled).
    BadPassword,
}

/// Each operation's share of the iterations, in percent (they sum to 100): 78 valid, 22
/// hostile. The password grant is kept small: every login costs an argon2id hash.
const WEIGHTS: [(Op, u32); 13] = [
    (Op::ClientCredentials, 30),
    (Op::PasswordRefresh, 3),
    (Op::PrivateKeyJwt, 10),
    (Op::JwtBearer, 5),
    (Op::Exchange, 8),
    (Op::Jwks, 12),
    (Op::Introspect, 10),
    (Op::BadSecret, 6),
    (Op::GarbageBody, 4),
    (Op::Oversize, 3),
    (Op::RawGarbage, 3),
    (Op::ForgedIntrospect, 4),
    (Op::BadPassword, 2),
];

/// The operation for a number in `0..100`.
fn pick(n: u32) -> Op {
    let mut left = n;
    for (op, weight) in WEIGHTS {
        if left < weight {
            return op;
        }
        left -= weight;
    }
    Op::ClientCredentials
}

/// What happened to the requests of one operation.
#[derive(Debug, Default, Clone)]
struct OpStats {
    /// Answers by status code.
    by_status: BTreeMap<u16, u64>,
    /// Requests that got no answer (connection refused or reset, timeout).
    transport: u64,
    /// Answers other than the one the request must get.
    unexpected: u64,
}

/// Everything the loops counted.
#[derive(Debug, Default)]
struct Stats {
    ops: BTreeMap<Op, OpStats>,
    /// Access tokens verified with `tokenmint::verify`.
    verified: u64,
    /// Access tokens that did not verify, or 200 answers without one.
    verify_failures: u64,
    /// The first [`MAX_DETAILS`] problems, with the time they happened.
    details: Vec<String>,
}

/// What every loop shares.
struct Ctx {
    /// Requests from 127.0.0.1.
    http: reqwest::Client,
    /// Wrong passwords, from 127.0.0.2 (see [`GUESSED_USER`]).
    guesser: reqwest::Client,
    /// `http://host:port`, the issuer.
    url: String,
    /// `host:port`, for the raw-socket probes.
    addr: String,
    verifier: Verifier,
    secret: String,
    password: String,
    client_key: EncodingKey,
    idp_key: EncodingKey,
    stats: Mutex<Stats>,
    /// Makes every assertion's `jti` unique.
    seq: AtomicU64,
    started: Instant,
    /// The `jti` prefix of this run, so a second run never replays the first's.
    run_id: u128,
}

/// The status and JSON body of an answer (`Null` if the body is not JSON).
type Answer = (u16, Value);

impl Ctx {
    /// Counts an answer (`None`: no answer) and whether it was the one required.
    fn record(&self, op: Op, status: Option<u16>, expected: bool, detail: impl FnOnce() -> String) {
        let mut stats = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let at = self.started.elapsed().as_secs_f64();
        let entry = stats.ops.entry(op).or_default();
        match status {
            Some(s) => *entry.by_status.entry(s).or_default() += 1,
            None => entry.transport += 1,
        }
        if status.is_some() && !expected {
            entry.unexpected += 1;
        }
        if (status.is_none() || !expected) && stats.details.len() < MAX_DETAILS {
            stats.details.push(format!("{at:.1}s {op:?}: {}", detail()));
        }
    }

    /// Verifies `token` (from an answer of `op`) with `tokenmint::verify`.
    async fn check_token(&self, op: Op, token: Option<&str>) {
        let outcome = match token {
            None => Err("a 200 answer without an access_token".to_owned()),
            Some(t) => self.verifier.verify(t).await.map(drop).map_err(|e| {
                let kid = jsonwebtoken::decode_header(t).ok().and_then(|h| h.kid);
                format!("verification failed: {e} (kid {kid:?})")
            }),
        };
        let mut stats = self.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match outcome {
            Ok(()) => stats.verified += 1,
            Err(why) => {
                stats.verify_failures += 1;
                if stats.details.len() < MAX_DETAILS {
                    let at = self.started.elapsed().as_secs_f64();
                    stats.details.push(format!("{at:.1}s {op:?}: {why}"));
                }
            }
        }
    }

    /// Sends `req` and reads the whole answer.
    async fn send(req: reqwest::RequestBuilder) -> std::result::Result<Answer, String> {
        let res = req.send().await.map_err(|e| e.to_string())?;
        let status = res.status().as_u16();
        let body = res.bytes().await.map_err(|e| e.to_string())?;
        Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
    }

    /// A token request that must succeed: counted under `op`, and its access token
    /// verified. The access token, on success.
    async fn issue(&self, op: Op, req: reqwest::RequestBuilder) -> Option<Value> {
        match Self::send(req).await {
            Ok((200, body)) => {
                self.record(op, Some(200), true, String::new);
                self.check_token(op, body["access_token"].as_str()).await;
                Some(body)
            }
            Ok((status, body)) => {
                self.record(op, Some(status), false, || format!("{status} {body}"));
                None
            }
            Err(e) => {
                self.record(op, None, false, || e);
                None
            }
        }
    }

    /// A request that must be refused with a status in `allowed`, counted under `op`.
    async fn refused(&self, op: Op, req: reqwest::RequestBuilder, allowed: &[u16]) {
        match Self::send(req).await {
            Ok((status, body)) => {
                let ok = allowed.contains(&status);
                self.record(op, Some(status), ok, || {
                    format!("{status} {body} (expected one of {allowed:?})")
                });
            }
            Err(e) => self.record(op, None, false, || e),
        }
    }

    fn token_endpoint(&self) -> String {
        format!("{}/oauth2/token", self.url)
    }

    fn introspection_endpoint(&self) -> String {
        format!("{}/oauth2/introspect", self.url)
    }

    /// A fresh `soak-cc` token (counted as [`Op::ClientCredentials`]).
    async fn cc_token(&self) -> Option<String> {
        let req = self
            .http
            .post(self.token_endpoint())
            .basic_auth(CC_CLIENT, Some(&self.secret))
            .form(&[("grant_type", "client_credentials"), ("scope", "read write")]);
        let body = self.issue(Op::ClientCredentials, req).await?;
        body["access_token"].as_str().map(str::to_owned)
    }

    /// A JWT signed by `key` (ES256, `kid`) with `claims`.
    fn sign(key: &EncodingKey, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        // The keys are made by `keygen` and the claims are plain JSON: this cannot fail.
        jsonwebtoken::encode(&header, claims, key).unwrap_or_default()
    }

    fn now() -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    fn jti(&self) -> String {
        format!("{}-{}", self.run_id, self.seq.fetch_add(1, Ordering::Relaxed))
    }

    /// Runs one operation.
    async fn run(&self, op: Op) {
        match op {
            Op::ClientCredentials => {
                self.cc_token().await;
            }
            Op::PasswordRefresh => {
                let req =
                    self.http.post(self.token_endpoint()).basic_auth(PW_CLIENT, Some(&self.secret)).form(&[
                        ("grant_type", "password"),
                        ("username", USER),
                        ("password", self.password.as_str()),
                        ("scope", "read"),
                    ]);
                let Some(body) = self.issue(op, req).await else { return };
                let Some(refresh) = body["refresh_token"].as_str() else {
                    self.record(op, Some(200), false, || format!("no refresh_token: {body}"));
                    return;
                };
                let req = self
                    .http
                    .post(self.token_endpoint())
                    .basic_auth(PW_CLIENT, Some(&self.secret))
                    .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh)]);
                self.issue(op, req).await;
            }
            Op::PrivateKeyJwt => {
                let now = Self::now();
                let claims = json!({
                    "iss": PKJWT_CLIENT, "sub": PKJWT_CLIENT, "aud": self.url,
                    "iat": now, "exp": now + 60, "jti": self.jti(),
                });
                let assertion = Self::sign(&self.client_key, CLIENT_KID, &claims);
                let req = self.http.post(self.token_endpoint()).form(&[
                    ("grant_type", "client_credentials"),
                    ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                    ("client_assertion", assertion.as_str()),
                ]);
                self.issue(op, req).await;
            }
            Op::JwtBearer => {
                let now = Self::now();
                let claims = json!({
                    "iss": IDP_ISSUER, "sub": FED_SUBJECT, "aud": self.url,
                    "iat": now, "exp": now + 300, "jti": self.jti(),
                });
                let assertion = Self::sign(&self.idp_key, IDP_KID, &claims);
                let req = self.http.post(self.token_endpoint()).form(&[
                    ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                    ("client_id", FED_CLIENT),
                    ("assertion", assertion.as_str()),
                ]);
                self.issue(op, req).await;
            }
            Op::Exchange => {
                let Some(subject) = self.cc_token().await else { return };
                let req =
                    self.http.post(self.token_endpoint()).basic_auth(CC_CLIENT, Some(&self.secret)).form(&[
                        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
                        ("subject_token", subject.as_str()),
                        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
                        ("scope", "read"),
                    ]);
                self.issue(op, req).await;
            }
            Op::Jwks => self.jwks().await,
            Op::Introspect => {
                let Some(token) = self.cc_token().await else { return };
                self.introspect(op, &token, true).await;
            }
            Op::BadSecret => {
                let wrong = format!("wrong-{}", self.jti());
                let req = self
                    .http
                    .post(self.token_endpoint())
                    .basic_auth(VICTIM_CLIENT, Some(wrong))
                    .form(&[("grant_type", "client_credentials")]);
                self.refused(op, req, &[401]).await;
            }
            Op::GarbageBody => {
                let n = self.seq.fetch_add(1, Ordering::Relaxed);
                let req = self.http.post(self.token_endpoint()).basic_auth(CC_CLIENT, Some(&self.secret));
                let req = if n.is_multiple_of(2) {
                    let bytes: Vec<u8> = (0..fastrand::usize(1..2048)).map(|_| fastrand::u8(..)).collect();
                    req.header("content-type", "application/x-www-form-urlencoded").body(bytes)
                } else {
                    req.header("content-type", "application/json")
                        .body("{\"grant_type\": \"client_credentials\",")
                };
                self.refused(op, req, &[400]).await;
            }
            Op::Oversize => {
                let head = format!(
                    "POST /oauth2/token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                     Content-Length: {OVERSIZE_BYTES}\r\n\r\ngrant_type=client_credentials&",
                    self.addr
                );
                self.probe(op, head.as_bytes(), &[413]).await;
            }
            Op::RawGarbage => {
                let mut bytes: Vec<u8> =
                    (0..fastrand::usize(16..512)).map(|_| fastrand::u8(0x21..0x7f)).collect();
                bytes.extend_from_slice(b"\r\n\r\n");
                self.probe(op, &bytes, &[400]).await;
            }
            Op::ForgedIntrospect => {
                let Some(token) = self.cc_token().await else { return };
                let forged = forge(&token, self.seq.fetch_add(1, Ordering::Relaxed));
                self.introspect(op, &forged, false).await;
            }
            Op::BadPassword => {
                let req =
                    self.guesser.post(self.token_endpoint()).basic_auth(PW_CLIENT, Some(&self.secret)).form(
                        &[
                            ("grant_type", "password"),
                            ("username", GUESSED_USER),
                            ("password", "not-the-password"),
                        ],
                    );
                self.refused(op, req, &[400, 429]).await;
            }
        }
    }

    /// The JWKS, then the same with its `ETag` in `If-None-Match` (RFC 9110 §13.1.2): 304,
    /// or 200 with another `ETag` when the key set changed in between.
    async fn jwks(&self) {
        let url = format!("{}/.well-known/jwks.json", self.url);
        let res = match self.http.get(&url).send().await {
            Ok(res) => res,
            Err(e) => return self.record(Op::Jwks, None, false, || e.to_string()),
        };
        let status = res.status().as_u16();
        let etag = res.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let keys = res.json::<Value>().await.ok().and_then(|v| v["keys"].as_array().map(Vec::len));
        let good = status == 200 && etag.is_some() && keys.is_some_and(|n| n > 0);
        self.record(Op::Jwks, Some(status), good, || format!("{status}, etag {etag:?}, {keys:?} keys"));
        let Some(etag) = etag else { return };
        match self.http.get(&url).header("if-none-match", &etag).send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let again = res.headers().get("etag").and_then(|v| v.to_str().ok()).map(str::to_owned);
                let good = status == 304 || (status == 200 && again.as_deref() != Some(etag.as_str()));
                self.record(Op::Jwks, Some(status), good, || {
                    format!("conditional: {status}, etag {again:?}")
                });
            }
            Err(e) => self.record(Op::Jwks, None, false, || e.to_string()),
        }
    }

    /// Introspects `token` as `soak-cc` (RFC 7662 §2.1): 200 with `active` as `active`.
    async fn introspect(&self, op: Op, token: &str, active: bool) {
        let req = self
            .http
            .post(self.introspection_endpoint())
            .basic_auth(CC_CLIENT, Some(&self.secret))
            .form(&[("token", token)]);
        match Self::send(req).await {
            Ok((status, body)) => {
                let good = status == 200 && body["active"].as_bool() == Some(active);
                self.record(op, Some(status), good, || format!("{status} {body} (expected active={active})"));
            }
            Err(e) => self.record(op, None, false, || e),
        }
    }

    /// Sends `bytes` on a fresh connection and reads the status line of the answer; a status
    /// in `allowed`, or the connection closed without an answer, is what a hostile probe
    /// must get. No answer within [`PROBE_TIMEOUT`] is a stall.
    async fn probe(&self, op: Op, bytes: &[u8], allowed: &[u16]) {
        let answer = tokio::time::timeout(PROBE_TIMEOUT, async {
            let mut conn = tokio::net::TcpStream::connect(&self.addr).await?;
            conn.write_all(bytes).await?;
            let mut head = Vec::with_capacity(64);
            let mut buf = [0u8; 256];
            while !head.contains(&b'\n') && head.len() < 4096 {
                let n = conn.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            Ok::<Vec<u8>, std::io::Error>(head)
        })
        .await;
        match answer {
            Err(_) => self.record(op, Some(0), false, || "no answer within 5 s (a stall)".to_owned()),
            // A reset after the server answered and closed is not a failure to answer.
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                self.record(op, Some(0), true, String::new);
            }
            Ok(Err(e)) => self.record(op, None, false, || e.to_string()),
            Ok(Ok(head)) if head.is_empty() => self.record(op, Some(0), true, String::new),
            Ok(Ok(head)) => {
                let line = String::from_utf8_lossy(&head);
                let status = line.split(' ').nth(1).and_then(|s| s.parse::<u16>().ok()).unwrap_or(1);
                let ok = allowed.contains(&status);
                self.record(op, Some(status), ok, || format!("answered {:?}", line.lines().next()));
            }
        }
    }
}

/// A forgery of `token`: alternately one signature character changed, and the header
/// replaced by `{"alg":"none"}` with the signature dropped (RFC 8725 §2.1).
fn forge(token: &str, n: u64) -> String {
    let mut parts = token.splitn(3, '.');
    let (header, claims, signature) =
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if n.is_multiple_of(2) {
        let mut sig: Vec<char> = signature.chars().collect();
        if let Some(c) = sig.get_mut(10) {
            *c = if *c == 'A' { 'B' } else { 'A' };
        }
        format!("{header}.{claims}.{}", sig.into_iter().collect::<String>())
    } else {
        // base64url of {"alg":"none","typ":"at+jwt"}.
        format!("eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.{claims}.")
    }
}

/// Writes a fresh P-256 key pair as `DIR/NAME.pk8` and `DIR/NAME.jwks.json` (key id `kid`).
fn keypair(dir: &Path, name: &str, kid: &str) -> Result<()> {
    let pair =
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| "key generation failed")?;
    let der = pair.to_pkcs8v1().map_err(|_| "key encoding failed")?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(format!("{name}.pk8")), der.as_ref())?;
    let key = EncodingKey::from_ec_der(der.as_ref());
    let mut jwk = serde_json::to_value(jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256)?)?;
    jwk["kid"] = json!(kid);
    jwk["use"] = json!("sig");
    std::fs::write(dir.join(format!("{name}.jwks.json")), json!({ "keys": [jwk] }).to_string())?;
    Ok(())
}

/// Runs the load against `url` for `seconds` with `tasks` loops; writes `DIR/summary.env`
/// and prints the per-operation table.
async fn run(dir: &Path, url: &str, seconds: u64, tasks: usize) -> Result<()> {
    let addr = url.strip_prefix("http://").ok_or("the URL must be http://host:port")?.trim_end_matches('/');
    let secret = std::env::var("SOAK_SECRET").map_err(|_| "SOAK_SECRET is not set")?;
    let password = std::env::var("SOAK_PASSWORD").map_err(|_| "SOAK_PASSWORD is not set")?;
    let timeout = Duration::from_secs(10);
    let http = reqwest::Client::builder().timeout(timeout).build()?;
    let guesser = reqwest::Client::builder()
        .timeout(timeout)
        .local_address(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)))
        .build()?;
    // The resource server's view: RFC 8414 discovery at the issuer, then the JWKS cached
    // for its max-age and refetched for an unknown kid, as `tokenmint::verify` does.
    let verifier = Verifier::discover(Requirements {
        issuer: url.to_owned(),
        audience: AUDIENCE.to_owned(),
        algorithms: vec![Algorithm::ES256],
        leeway: Duration::from_secs(5),
    })
    .await
    .map_err(|e| format!("discovery at {url} failed: {e}"))?;
    let ctx = std::sync::Arc::new(Ctx {
        http,
        guesser,
        url: url.to_owned(),
        addr: addr.to_owned(),
        verifier,
        secret,
        password,
        client_key: EncodingKey::from_ec_der(&std::fs::read(dir.join("client.pk8"))?),
        idp_key: EncodingKey::from_ec_der(&std::fs::read(dir.join("idp.pk8"))?),
        stats: Mutex::default(),
        seq: AtomicU64::new(0),
        started: Instant::now(),
        run_id: SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos(),
    });
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut loops = tokio::task::JoinSet::new();
    for _ in 0..tasks {
        let ctx = std::sync::Arc::clone(&ctx);
        loops.spawn(async move {
            for _ in 0..MAX_ITERATIONS {
                if Instant::now() >= deadline {
                    break;
                }
                ctx.run(pick(fastrand::u32(0..100))).await;
            }
        });
    }
    // Progress on stderr every 30 s while the loops run.
    let progress = {
        let ctx = std::sync::Arc::clone(&ctx);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(30));
            tick.tick().await;
            loop {
                tick.tick().await;
                let stats = ctx.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                let total: u64 = stats.ops.values().flat_map(|s| s.by_status.values()).sum();
                eprintln!(
                    "soak_driver: {:.0}s {total} answers, {} verified, {} failed verifications",
                    ctx.started.elapsed().as_secs_f64(),
                    stats.verified,
                    stats.verify_failures
                );
            }
        })
    };
    while let Some(done) = loops.join_next().await {
        done?;
    }
    progress.abort();
    let elapsed = ctx.started.elapsed().as_secs_f64();
    let stats = ctx.stats.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    report(dir, &stats, elapsed)
}

/// `DIR/summary.env` (KEY=value lines for the script) and the markdown table on stdout.
fn report(dir: &Path, stats: &Stats, elapsed: f64) -> Result<()> {
    let mut table = String::from("| operation | requests | answers by status | unexpected | no answer |\n");
    table.push_str("|---|---:|---|---:|---:|\n");
    let (mut total, mut five_xx, mut unexpected, mut transport) = (0u64, 0u64, 0u64, 0u64);
    for (op, s) in &stats.ops {
        let answered: u64 = s.by_status.values().sum();
        let statuses: Vec<String> = s
            .by_status
            .iter()
            .map(|(code, n)| if *code == 0 { format!("closed: {n}") } else { format!("{code}: {n}") })
            .collect();
        let _ = writeln!(
            table,
            "| {op:?} | {} | {} | {} | {} |",
            answered + s.transport,
            statuses.join(", "),
            s.unexpected,
            s.transport
        );
        total += answered + s.transport;
        five_xx +=
            s.by_status.iter().filter(|(code, _)| (500..600).contains(*code)).map(|(_, n)| n).sum::<u64>();
        unexpected += s.unexpected;
        transport += s.transport;
    }
    let mut env = String::new();
    let _ = writeln!(env, "DRIVER_SECONDS={elapsed:.0}");
    let _ = writeln!(env, "DRIVER_REQUESTS={total}");
    let _ = writeln!(env, "DRIVER_RPS={:.0}", total as f64 / elapsed.max(1.0));
    let _ = writeln!(env, "DRIVER_5XX={five_xx}");
    let _ = writeln!(env, "DRIVER_UNEXPECTED={unexpected}");
    let _ = writeln!(env, "DRIVER_NO_ANSWER={transport}");
    let _ = writeln!(env, "DRIVER_VERIFIED={}", stats.verified);
    let _ = writeln!(env, "DRIVER_VERIFY_FAILURES={}", stats.verify_failures);
    std::fs::write(dir.join("summary.env"), env)?;
    std::fs::write(dir.join("details.txt"), stats.details.join("\n") + "\n")?;
    let mut out = std::io::stdout().lock();
    out.write_all(table.as_bytes())?;
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["keygen", dir] => {
            keypair(Path::new(dir), "client", CLIENT_KID)?;
            keypair(Path::new(dir), "idp", IDP_KID)
        }
        ["run", dir, url, seconds, tasks] => run(Path::new(dir), url, seconds.parse()?, tasks.parse()?).await,
        _ => Err("usage: soak_driver keygen DIR | soak_driver run DIR URL SECONDS TASKS".into()),
    }
}
