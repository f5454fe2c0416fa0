//! `tokenmint verify-server`: the verifier as a small HTTP service, for reverse proxies in
//! front of services not written in Rust (nginx `auth_request`, Envoy's HTTP `ext_authz`).
//!
//! Any request path is checked: the request's `Authorization: Bearer` token (RFC 6750 §2.1)
//! is verified against the issuer's keys, found by discovery and cached (the `verify`
//! module's remote JWKS: a refetch on an unknown `kid` within a budget, stale keys kept when
//! a fetch fails, HTTPS only but loopback), through a verified-token cache. The answer:
//! - 200 with `X-Tokenmint-Subject`, `X-Tokenmint-Client-Id`, `X-Tokenmint-Scope` and the
//!   claims asked for with `--forward-claim CLAIM=HEADER`, for the proxy to forward;
//! - 401 with `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1), or a bare
//!   `Bearer` challenge without a token;
//! - 403 `insufficient_scope` when a required scope is missing;
//! - 503 while the keys cannot be fetched (the token was not judged).
//!
//! A proxy may narrow the check per request: `X-Tokenmint-Audience` picks one of the
//! configured audiences, `X-Tokenmint-Require-Scope` (space-separated) adds required scopes.
//!
//! Settings come from `[verify_server]` in the configuration file, then
//! `TOKENMINT_VERIFY_SERVER__*` variables, then the flags; each given flag overrides its
//! setting (a repeatable flag given at all replaces the whole list).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use clap::Args;

use super::verify::parse_algorithms;
use crate::claims::AccessClaims;
use crate::config::{Config, VerifyServerSettings};
use crate::server;
use crate::verify::axum::{BearerRejection, bearer_token};
use crate::verify::{RemoteJwks, RemoteOptions, Requirements, Verifier};

/// The header a proxy sets to pick one of the configured audiences.
const AUDIENCE_HEADER: &str = "x-tokenmint-audience";
/// The header a proxy sets to require more scopes (space-separated).
const SCOPE_HEADER: &str = "x-tokenmint-require-scope";

/// Where `verify-server` listens unless told otherwise.
const DEFAULT_BIND: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 8081));
/// Default clock-skew allowance.
const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);
/// Default longest token lifetime accepted.
const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// Default bound on remembered verified tokens.
const DEFAULT_CACHE_SIZE: usize = 100_000;
/// Default longest time a verified token is remembered.
const DEFAULT_CACHE_MAX_AGE: Duration = Duration::from_secs(300);

/// Arguments of `tokenmint verify-server`. Each overrides its `[verify_server]` setting.
#[derive(Debug, Args)]
pub(super) struct VerifyServerArgs {
    /// The issuer: `iss` must equal it, and its metadata gives the JWKS
    /// [setting: verify_server.issuer; one of the two is required].
    #[arg(long, value_name = "URL")]
    issuer: Option<String>,
    /// An audience `aud` must contain (repeatable; the first is the default, the others may
    /// be picked per request with `X-Tokenmint-Audience`) [setting: verify_server.audiences;
    /// at least one is required].
    #[arg(long = "audience", value_name = "A")]
    audiences: Vec<String>,
    /// Listen address [default: 127.0.0.1:8081].
    #[arg(long, value_name = "ADDR")]
    bind: Option<SocketAddr>,
    /// A scope every token must have (repeatable).
    #[arg(long = "require-scope", value_name = "S")]
    require_scopes: Vec<String>,
    /// A claim to answer as a response header, `CLAIM=HEADER` (repeatable), e.g.
    /// `tenant=X-Tenant`.
    #[arg(long = "forward-claim", value_name = "CLAIM=HEADER", value_parser = parse_forward)]
    forward_claims: Vec<(String, HeaderName)>,
    /// Accepted algorithm (repeatable) [default: ES256, EdDSA and RS256].
    #[arg(long = "algorithm", value_name = "ALG")]
    algorithms: Vec<String>,
    /// Clock-skew allowance [default: 30s].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    leeway: Option<Duration>,
    /// Longest token lifetime (`exp - iat`) accepted [default: 1day].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    max_lifetime: Option<Duration>,
    /// Most verified tokens remembered, 0 for no cache [default: 100000].
    #[arg(long, value_name = "N")]
    cache_size: Option<usize>,
    /// Longest time a verified token is remembered, never past its `exp` [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    cache_max_age: Option<Duration>,
    /// Fetch the issuer's metadata and keys over plain http from a host other than loopback.
    #[arg(long)]
    allow_http: bool,
}

/// The settings in force: flags over `[verify_server]` over the defaults.
#[derive(Debug)]
struct Settings {
    issuer: String,
    audiences: Vec<String>,
    bind: SocketAddr,
    require_scopes: Vec<String>,
    forward_claims: Vec<(String, HeaderName)>,
    algorithms: Vec<String>,
    leeway: Duration,
    max_lifetime: Duration,
    cache_size: usize,
    cache_max_age: Duration,
    allow_http: bool,
}

impl Settings {
    /// `args` over `file`; an error names what is missing or malformed.
    fn resolve(args: VerifyServerArgs, file: VerifyServerSettings) -> anyhow::Result<Settings> {
        let list = |flags: Vec<String>, setting: crate::clients::OneOrMany| {
            if flags.is_empty() { setting.into_vec() } else { flags }
        };
        let forward_claims = if args.forward_claims.is_empty() {
            let mut claims = Vec::with_capacity(file.forward_claims.len());
            for (claim, header) in file.forward_claims {
                let header = HeaderName::try_from(header.as_str())
                    .with_context(|| format!("verify_server.forward_claims.{claim}: header `{header}`"))?;
                claims.push((claim, header));
            }
            claims
        } else {
            args.forward_claims
        };
        let Some(issuer) = args.issuer.or(file.issuer) else {
            anyhow::bail!("verify-server needs an issuer: give --issuer URL or set verify_server.issuer");
        };
        let audiences = list(args.audiences, file.audiences);
        if audiences.is_empty() {
            anyhow::bail!(
                "verify-server needs an audience: give --audience A or set verify_server.audiences"
            );
        }
        Ok(Settings {
            issuer,
            audiences,
            bind: args.bind.or(file.bind).unwrap_or(DEFAULT_BIND),
            require_scopes: list(args.require_scopes, file.require_scopes),
            forward_claims,
            algorithms: list(args.algorithms, file.algorithms),
            leeway: args.leeway.or(file.leeway).unwrap_or(DEFAULT_LEEWAY),
            max_lifetime: args.max_lifetime.or(file.max_lifetime).unwrap_or(DEFAULT_MAX_LIFETIME),
            cache_size: args.cache_size.or(file.cache_size).unwrap_or(DEFAULT_CACHE_SIZE),
            cache_max_age: args.cache_max_age.or(file.cache_max_age).unwrap_or(DEFAULT_CACHE_MAX_AGE),
            allow_http: args.allow_http || file.allow_http.unwrap_or(false),
        })
    }
}

/// `CLAIM=HEADER`.
fn parse_forward(text: &str) -> Result<(String, HeaderName), String> {
    let (claim, header) = text.split_once('=').ok_or("expected CLAIM=HEADER")?;
    let header = HeaderName::try_from(header).map_err(|e| format!("header `{header}`: {e}"))?;
    Ok((claim.to_owned(), header))
}

/// What every check shares.
#[derive(Debug)]
struct Checker {
    /// One verifier per audience, the default first; they share the key cache.
    verifiers: Vec<Verifier>,
    require_scopes: Vec<String>,
    forward_claims: Vec<(String, HeaderName)>,
}

/// Runs `verify-server` with `args` over the `[verify_server]` section of the
/// configuration (`config`, as `serve` finds it).
pub(super) fn run(config: Option<&Path>, args: VerifyServerArgs) -> anyhow::Result<ExitCode> {
    let settings = Settings::resolve(args, Config::load_verify_server(config)?)?;
    let algorithms = match parse_algorithms(&settings.algorithms) {
        Ok(a) => a,
        Err(bad) => anyhow::bail!("unsupported algorithm `{bad}` (use ES256, EdDSA or RS256)"),
    };
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the runtime")?;
    runtime.block_on(async move {
        let options = RemoteOptions { allow_http: settings.allow_http, ..RemoteOptions::default() };
        let jwks = RemoteJwks::discover(&settings.issuer, options)
            .await
            .with_context(|| format!("discovering the keys of {}", settings.issuer))?;
        if let Err(e) = jwks.prefetch().await {
            tracing::warn!(error = %e, "the issuer's keys could not be fetched yet; retrying on the first token");
        }
        let mut verifiers = Vec::with_capacity(settings.audiences.len());
        for audience in &settings.audiences {
            let requirements = Requirements {
                issuer: settings.issuer.clone(),
                audience: audience.clone(),
                algorithms: algorithms.clone(),
                leeway: settings.leeway,
            };
            let mut verifier = Verifier::remote(requirements, jwks.clone())?.with_max_lifetime(settings.max_lifetime);
            if settings.cache_size > 0 {
                verifier = verifier.with_cache(settings.cache_size, settings.cache_max_age);
            }
            verifiers.push(verifier);
        }
        let checker = Arc::new(Checker {
            verifiers,
            require_scopes: settings.require_scopes,
            forward_claims: settings.forward_claims,
        });
        let app = axum::Router::new().fallback(check).with_state(checker);
        let listener = tokio::net::TcpListener::bind(settings.bind)
            .await
            .with_context(|| format!("binding {}", settings.bind))?;
        let addr = listener.local_addr()?;
        tracing::info!(issuer = %settings.issuer, "verify-server listening on http://{addr}");
        axum::serve(listener, app).with_graceful_shutdown(server::shutdown_signal()).await?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Checks one request's bearer token.
async fn check(State(checker): State<Arc<Checker>>, headers: HeaderMap) -> Response {
    let Some(verifier) = pick_verifier(&checker, &headers) else {
        // The proxy asked for an audience this server was not started with: its mistake.
        return (StatusCode::INTERNAL_SERVER_ERROR, "verify-server: X-Tokenmint-Audience is not configured")
            .into_response();
    };
    let token = match bearer_token(&headers) {
        Ok(token) => token,
        Err(rejection) => return rejection.into_response(),
    };
    let claims = match verifier.verify_shared(token).await {
        Ok(claims) => claims,
        Err(e) => return BearerRejection::from_error(&e).into_response(),
    };
    let extra = headers.get(SCOPE_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("");
    let required: Vec<&str> = checker
        .require_scopes
        .iter()
        .map(String::as_str)
        .chain(extra.split(' ').filter(|s| !s.is_empty()))
        .collect();
    if !claims.has_scopes(&required) {
        return BearerRejection::insufficient_scope(&required).into_response();
    }
    (StatusCode::OK, answer_headers(&checker, &claims)).into_response()
}

/// The verifier of the audience the proxy asked for, or of the default one.
fn pick_verifier<'a>(checker: &'a Checker, headers: &HeaderMap) -> Option<&'a Verifier> {
    match headers.get(AUDIENCE_HEADER) {
        None => checker.verifiers.first(),
        Some(wanted) => {
            checker.verifiers.iter().find(|v| v.requirements().audience.as_bytes() == wanted.as_bytes())
        }
    }
}

/// The verified facts a proxy forwards: subject, client, scopes and the chosen claims. A
/// value that cannot be a header value (a line break, say) is left out rather than mangled.
fn answer_headers(checker: &Checker, claims: &AccessClaims) -> HeaderMap {
    let mut out = HeaderMap::new();
    let mut put = |name: HeaderName, value: &str| {
        if let Ok(value) = HeaderValue::from_str(value) {
            out.insert(name, value);
        }
    };
    put(HeaderName::from_static("x-tokenmint-subject"), &claims.sub);
    put(HeaderName::from_static("x-tokenmint-client-id"), &claims.client_id);
    put(HeaderName::from_static("x-tokenmint-scope"), claims.scope.as_deref().unwrap_or(""));
    for (claim, header) in &checker.forward_claims {
        let value = match claims.extra.get(claim) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other @ (serde_json::Value::Number(_) | serde_json::Value::Bool(_))) => other.to_string(),
            _ => continue,
        };
        put(header.clone(), &value);
    }
    out
}
