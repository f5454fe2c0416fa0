//! The token and introspection endpoints, in-process, with whatever a client can put in a
//! request: the body (form, JSON or anything), its media type, the `Authorization` header
//! (Basic and otherwise), the query string and `X-Forwarded-For` from a trusted proxy.
//! Every answer must be a 4xx or a 2xx: never a 5xx, never a panic.
#![no_main]

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use tower::ServiceExt as _;

/// What the fuzzer chooses.
#[derive(Arbitrary, Debug)]
struct Input<'a> {
    introspect: bool,
    content_type: u8,
    authorization: Option<&'a [u8]>,
    query: Option<&'a str>,
    forwarded: Option<&'a [u8]>,
    body: &'a [u8],
}

/// One client with a SHA-256 secret hash (cheap to check) and every grant. No users: a
/// password hash is argon2id, far too slow for a fuzzer's rate, so the password grant ends
/// at "unknown user" and the refresh grant at the refresh token's own checks.
const CONFIG: &str = r#"
issuer = "https://tokens.fuzz"
[server]
trusted_proxies = ["10.0.0.0/8"]
[[clients]]
id = "svc"
secret_hashes = ["sha256:8766b9cb08e6040b704f1e3ee1e186efccf2635b1d2634d6525333007e6aeae1"]
scopes = ["read", "write"]
audiences = ["https://api.one"]
grant_types = ["client_credentials", "password", "refresh_token"]
"#;

struct App {
    runtime: tokio::runtime::Runtime,
    router: Router,
    _keys: tempfile::TempDir,
}

fn app() -> &'static App {
    static APP: OnceLock<App> = OnceLock::new();
    APP.get_or_init(|| {
        let keys = tempfile::tempdir().expect("a temp dir");
        let toml = format!("{CONFIG}\n[keys]\ndir = \"{}\"\n", keys.path().display());
        let config = tokenmint::config::Config::from_toml(&toml).expect("the fuzz configuration is valid");
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
        let router = runtime
            .block_on(tokenmint::server::router(config, Arc::new(tokenmint::clock::SystemClock)))
            .expect("the router starts");
        App { runtime, router, _keys: keys }
    })
}

fuzz_target!(|input: Input<'_>| {
    let app = app();
    let path = if input.introspect { "/oauth2/introspect" } else { "/oauth2/token" };
    let uri = match input.query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    // What hyper would refuse before routing is not a request the router can see.
    let Ok(mut request) =
        Request::builder().method(Method::POST).uri(uri).body(Body::from(input.body.to_vec()))
    else {
        return;
    };
    let content_type = match input.content_type % 4 {
        0 => None,
        1 => Some("application/x-www-form-urlencoded"),
        2 => Some("application/json"),
        _ => Some("text/plain; charset=utf-8"),
    };
    let headers = request.headers_mut();
    if let Some(t) = content_type {
        headers.insert("content-type", HeaderValue::from_static(t));
    }
    for (name, value) in [("authorization", input.authorization), ("x-forwarded-for", input.forwarded)] {
        if let Some(v) = value.and_then(|v| HeaderValue::from_bytes(v).ok()) {
            headers.insert(name, v);
        }
    }
    request.extensions_mut().insert(ConnectInfo(SocketAddr::from(([10, 0, 0, 1], 40000))));
    let response =
        app.runtime.block_on(app.router.clone().oneshot(request)).expect("the router is infallible");
    let status = response.status();
    assert!(!status.is_server_error(), "{status} for {input:?}");
});
