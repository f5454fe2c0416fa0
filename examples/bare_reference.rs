//! The "HTTP ceiling" reference points of the load benchmark (`bench/run.sh`, issue 5).
//!
//! A bare axum server with no configuration, no client registry, no logging and no
//! middleware. It answers the same kinds of requests tokenmint answers, doing only the
//! unavoidable work, so that tokenmint's figures measured in the same run can be read as a
//! fraction of what this machine, this HTTP stack and this crypto library allow:
//!
//! - `POST /fixed`: parses the form body and the `Authorization: Basic` header (base64
//!   decoded, split at the colon), then returns a fixed token-shaped JSON reply. The
//!   ceiling for a token endpoint that does no crypto.
//! - `GET /bytes`: returns a fixed, realistic JWKS document (~220 bytes). The ceiling for
//!   tokenmint's `GET /.well-known/jwks.json`.
//! - `POST /mint`: mints one ES256 JWT per request (fixed claims, `iat`/`nbf`/`exp` from the
//!   clock, base64url, signed with an aws-lc-rs `EcdsaKeyPair` generated at startup, the
//!   crypto library tokenmint uses) with no authentication. The ceiling for issuance with
//!   tokenmint's own crypto library.
//! - `POST /mint-ring`: the same, signed with ring's `EcdsaKeyPair`: the "bare axum + ring
//!   ES256 minting endpoint" that issue 5 names as the reference for issuance.
//! - `POST /pkjwt` (with `--assertion-jwks FILE`, a one-key ES256 JWK Set): reads the form's
//!   `client_assertion`, decodes its header and claims (JSON), checks `exp`, verifies its ES256
//!   signature with aws-lc-rs against the key of FILE, then mints as `POST /mint`. The ceiling
//!   for `private_key_jwt` issuance (`examples/assertions.rs` makes the requests).
//!
//! With `--tls CERT KEY` (PEM files) it serves the same routes over TLS instead (rustls on
//! aws-lc-rs, HTTP/1.1, rustls' defaults, as tokenmint's `[server.tls]`): the reference for
//! full TLS handshakes per second (`bench/tls.sh`).
//!
//! ```sh
//! cargo run --release --example bare_reference -- --bind 127.0.0.1:9090
//! curl -s -u bench:secret -d grant_type=client_credentials http://127.0.0.1:9090/fixed
//! curl -s http://127.0.0.1:9090/bytes
//! curl -s -X POST http://127.0.0.1:9090/mint
//! curl -s -X POST http://127.0.0.1:9090/mint-ring
//! ```
//!
//! Written by hand on purpose: it is the floor tokenmint is measured against, so it does only
//! what the work needs and nothing a library would add.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, UnparsedPublicKey,
};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::Serialize;

/// Listen address used when `--bind` is not given.
const DEFAULT_BIND: &str = "127.0.0.1:9090";

/// The fixed reply of `POST /fixed`: the shape and size of a real token response.
const FIXED_TOKEN_REPLY: &[u8] = br#"{"access_token":"eyJ0eXAiOiJhdCtqd3QiLCJhbGciOiJFUzI1NiIsImtpZCI6ImJhcmUtcmVmZXJlbmNlIn0.eyJpc3MiOiJodHRwOi8vMTI3LjAuMC4xOjgwODAiLCJzdWIiOiJiZW5jaCIsImF1ZCI6Imh0dHBzOi8vYXBpLmV4YW1wbGUuY29tIiwiZXhwIjoxNzAwMDAwMzAwLCJpYXQiOjE3MDAwMDAwMDAsIm5iZiI6MTcwMDAwMDAwMCwianRpIjoiQUFBQUFBQUFBQUFBQUFBQUFBQUFBQSIsImNsaWVudF9pZCI6ImJlbmNoIiwic2NvcGUiOiJhcGk6cmVhZCJ9.sG7yPN1ixr3ffNrTjPdJdw6ZF6rmV1-EZ0VHl3NIHfXLYrU8eUDU4eXHG3A1k0yBdUCQpwkRHrHuzYkOR2ocqg","token_type":"Bearer","expires_in":300,"scope":"api:read"}"#;

/// The fixed body of `GET /bytes`: a one-key ES256 JWKS like the one tokenmint publishes.
const FIXED_JWKS: &[u8] = br#"{"keys":[{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs","use":"sig","alg":"ES256"}]}"#;

/// Lifetime of the minted tokens, in seconds.
const TTL_SECS: u64 = 300;

/// An ES256 key pair, generated at startup, in one of the two crypto libraries.
enum Signer {
    /// aws-lc-rs, the library tokenmint signs with (`POST /mint`).
    AwsLc(EcdsaKeyPair, SystemRandom),
    /// ring (`POST /mint-ring`).
    Ring(ring::signature::EcdsaKeyPair, ring::rand::SystemRandom),
}

/// Why a key pair could not be made or a token signed.
#[derive(Debug)]
struct CryptoError;

impl From<aws_lc_rs::error::Unspecified> for CryptoError {
    fn from(_: aws_lc_rs::error::Unspecified) -> Self {
        CryptoError
    }
}

impl From<ring::error::Unspecified> for CryptoError {
    fn from(_: ring::error::Unspecified) -> Self {
        CryptoError
    }
}

impl From<ring::error::KeyRejected> for CryptoError {
    fn from(_: ring::error::KeyRejected) -> Self {
        CryptoError
    }
}

impl Signer {
    /// A fresh aws-lc-rs P-256 key pair.
    fn aws_lc() -> Result<Self, CryptoError> {
        Ok(Signer::AwsLc(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)?, SystemRandom::new()))
    }

    /// A fresh ring P-256 key pair.
    fn ring() -> Result<Self, CryptoError> {
        use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING as RING_P256, EcdsaKeyPair as RingPair};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = RingPair::generate_pkcs8(&RING_P256, &rng)?;
        Ok(Signer::Ring(RingPair::from_pkcs8(&RING_P256, pkcs8.as_ref(), &rng)?, rng))
    }

    /// The fixed-size (r ‖ s) ES256 signature of `input`.
    fn sign(&self, input: &[u8]) -> Result<[u8; 64], CryptoError> {
        let mut out = [0; 64];
        match self {
            Signer::AwsLc(pair, rng) => out.copy_from_slice(pair.sign(rng, input)?.as_ref()),
            Signer::Ring(pair, rng) => out.copy_from_slice(pair.sign(rng, input)?.as_ref()),
        }
        Ok(out)
    }
}

/// What every request of a minting route shares: the key pair and the encoded JWS header
/// segment (which never changes).
struct Minter {
    /// The ES256 key pair and its randomness source.
    signer: Signer,
    /// `base64url(header)` followed by a `.`, computed once.
    header_segment: String,
}

/// The minting routes' state.
struct Minters {
    /// `POST /mint`: aws-lc-rs.
    aws_lc: Minter,
    /// `POST /mint-ring`: ring.
    ring: Minter,
    /// `POST /pkjwt`: the client's P-256 public key (uncompressed point), if given.
    assertion_key: Option<Vec<u8>>,
}

/// The claims of a minted token: fixed values except the times.
#[derive(Serialize)]
struct Claims {
    /// Issuer.
    iss: &'static str,
    /// Subject (the client).
    sub: &'static str,
    /// Audience.
    aud: &'static str,
    /// Expiry, seconds since the epoch.
    exp: u64,
    /// Issued at, seconds since the epoch.
    iat: u64,
    /// Not before, seconds since the epoch.
    nbf: u64,
    /// Token id (fixed here: the reference does no per-token randomness besides the signature).
    jti: &'static str,
    /// The client id.
    client_id: &'static str,
    /// Granted scopes.
    scope: &'static str,
}

/// The JSON reply of `POST /mint`.
#[derive(Serialize)]
struct TokenReply {
    /// The signed JWT.
    access_token: String,
    /// Always `Bearer`.
    token_type: &'static str,
    /// Lifetime in seconds.
    expires_in: u64,
}

impl Minter {
    /// Takes a key pair and encodes the JWS header once.
    fn new(signer: Signer) -> Self {
        let header = br#"{"typ":"at+jwt","alg":"ES256","kid":"bare-reference"}"#;
        let header_segment = format!("{}.", URL_SAFE_NO_PAD.encode(header));
        Self { signer, header_segment }
    }

    /// Mints one token: claims to JSON, base64url, ES256 signature, base64url.
    fn mint(&self) -> Result<String, CryptoError> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let claims = Claims {
            iss: "http://127.0.0.1:8080",
            sub: "bench",
            aud: "https://api.example.com",
            exp: now + TTL_SECS,
            iat: now,
            nbf: now,
            jti: "AAAAAAAAAAAAAAAAAAAAAA",
            client_id: "bench",
            scope: "api:read",
        };
        let json = serde_json::to_vec(&claims).map_err(|_| CryptoError)?;
        let mut token = String::with_capacity(512);
        token.push_str(&self.header_segment);
        URL_SAFE_NO_PAD.encode_string(&json, &mut token);
        let signature = self.signer.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(signature, &mut token);
        Ok(token)
    }
}

/// `POST /fixed`: parse the Basic credentials and the form, answer fixed bytes.
async fn fixed(headers: HeaderMap, body: Bytes) -> Response {
    let Some((client_id, secret)) = basic_credentials(&headers) else {
        return StatusCode::UNAUTHORIZED.into_response();
    };
    let mut grant_type = None;
    for (name, value) in form_urlencoded::parse(&body) {
        if name == "grant_type" {
            grant_type = Some(value);
        }
    }
    if client_id.is_empty() || secret.is_empty() || grant_type.as_deref() != Some("client_credentials") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    token_response(Bytes::from_static(FIXED_TOKEN_REPLY))
}

/// `GET /bytes`: the fixed JWKS document.
async fn jwks_bytes() -> Response {
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], Bytes::from_static(FIXED_JWKS))
        .into_response()
}

/// `POST /mint`: one freshly signed ES256 token per request (aws-lc-rs), no authentication.
async fn mint(State(minters): State<Arc<Minters>>) -> Response {
    mint_with(&minters.aws_lc)
}

/// `POST /mint-ring`: the same as `POST /mint`, signed with ring.
async fn mint_ring(State(minters): State<Arc<Minters>>) -> Response {
    mint_with(&minters.ring)
}

/// `POST /pkjwt`: verifies the form's ES256 `client_assertion`, then mints (aws-lc-rs).
async fn pkjwt(State(minters): State<Arc<Minters>>, body: Bytes) -> Response {
    let Some(point) = &minters.assertion_key else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let assertion =
        form_urlencoded::parse(&body).find(|(name, _)| name == "client_assertion").map(|(_, v)| v);
    match assertion.as_deref().map(|jwt| verify_es256(point, jwt)) {
        Some(true) => mint_with(&minters.aws_lc),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}

/// Decodes the header and claims of `jwt` (JSON), checks `alg` and `exp`, and verifies the
/// ES256 signature over `header.claims` with the public key `point`.
fn verify_es256(point: &[u8], jwt: &str) -> bool {
    let mut parts = jwt.split('.');
    let (Some(header), Some(claims), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let json = |segment: &str| {
        URL_SAFE_NO_PAD
            .decode(segment)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
    };
    let (Some(header), Some(claims), Ok(signature)) =
        (json(header), json(claims), URL_SAFE_NO_PAD.decode(signature))
    else {
        return false;
    };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    if header["alg"] != "ES256" || claims["exp"].as_u64().is_none_or(|exp| exp <= now) {
        return false;
    }
    let signed = &jwt[..jwt.rfind('.').unwrap_or(0)];
    UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).verify(signed.as_bytes(), &signature).is_ok()
}

/// The uncompressed P-256 point (`04 ‖ x ‖ y`) of the one key in the JWK Set at `path`.
fn assertion_key(path: &str) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
    let set: serde_json::Value = serde_json::from_slice(&std::fs::read(path)?)?;
    let jwk = &set["keys"][0];
    let coordinate = |name: &str| -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        Ok(URL_SAFE_NO_PAD.decode(jwk[name].as_str().ok_or("the JWK has no x or y")?)?)
    };
    let mut point = vec![4];
    point.extend(coordinate("x")?);
    point.extend(coordinate("y")?);
    Ok(point)
}

/// Mints one token with `minter` and answers it as a token response.
fn mint_with(minter: &Minter) -> Response {
    let Ok(access_token) = minter.mint() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let reply = TokenReply { access_token, token_type: "Bearer", expires_in: TTL_SECS };
    match serde_json::to_vec(&reply) {
        Ok(json) => token_response(Bytes::from(json)),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// A 200 JSON token response with the headers RFC 6749 §5.1 requires (as tokenmint sends).
fn token_response(body: Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::PRAGMA, HeaderValue::from_static("no-cache")),
        ],
        body,
    )
        .into_response()
}

/// Decodes `Authorization: Basic base64(id:secret)` into its two parts.
fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    Some((id.to_owned(), secret.to_owned()))
}

/// The command line: `--bind ADDR` (else [`DEFAULT_BIND`]), `--tls CERT KEY` and
/// `--assertion-jwks FILE`.
struct Args {
    bind: SocketAddr,
    /// PEM certificate chain and key files.
    tls: Option<(String, String)>,
    /// The JWK Set of `POST /pkjwt`'s client key.
    jwks: Option<String>,
}

/// Reads the command line.
fn args() -> Result<Args, Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut bind = DEFAULT_BIND.to_owned();
    let (mut tls, mut jwks) = (None, None);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bind" => bind = args.next().ok_or("--bind needs an address")?,
            "--tls" => {
                let cert = args.next().ok_or("--tls needs a certificate file")?;
                tls = Some((cert, args.next().ok_or("--tls needs a key file")?));
            }
            "--assertion-jwks" => jwks = Some(args.next().ok_or("--assertion-jwks needs a file")?),
            _ => {
                return Err(format!(
                    "unknown argument {arg:?}; usage: bare_reference [--bind ADDR] [--tls CERT KEY] [--assertion-jwks FILE]"
                )
                .into());
            }
        }
    }
    Ok(Args { bind: bind.parse()?, tls, jwks })
}

/// Serves `app` over TLS on `listener`, one HTTP/1.1 connection per task, until killed.
async fn serve_tls(
    listener: tokio::net::TcpListener,
    app: Router,
    (cert, key): (String, String),
) -> Result<(), Box<dyn std::error::Error>> {
    use tokio_rustls::rustls::pki_types::pem::PemObject as _;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let chain = CertificateDer::pem_slice_iter(&std::fs::read(cert)?).collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_slice(&std::fs::read(key)?)?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    loop {
        let (tcp, _) = listener.accept().await?;
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(tcp).await else { return };
            let service =
                hyper::service::service_fn(move |request: axum::extract::Request<hyper::body::Incoming>| {
                    let mut app = app.clone();
                    async move { tower_service::Service::call(&mut app, request).await }
                });
            let io = hyper_util::rt::TokioIo::new(tls);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

/// Starts the five routes on one port and serves until killed.
#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let Args { bind: addr, tls, jwks } = args()?;
    let minters = Minters {
        aws_lc: Minter::new(Signer::aws_lc().map_err(|_| "generating the aws-lc-rs ES256 key pair")?),
        ring: Minter::new(Signer::ring().map_err(|_| "generating the ring ES256 key pair")?),
        assertion_key: jwks.as_deref().map(assertion_key).transpose()?,
    };
    let app = Router::new()
        .route("/fixed", post(fixed))
        .route("/bytes", get(jwks_bytes))
        .route("/mint", post(mint))
        .route("/mint-ring", post(mint_ring))
        .route("/pkjwt", post(pkjwt))
        .with_state(Arc::new(minters));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    if let Some(files) = tls {
        println!("bare_reference listening on https://{}", listener.local_addr()?);
        return serve_tls(listener, app, files).await;
    }
    println!("bare_reference listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
