//! The HTTP edge: routes, shared state, and the mapping of domain errors to responses.
//!
//! Handlers are thin: extract, call the domain (`clients`, `token`, `keys`), answer.
//! Only this module and `server` import axum.

mod error;
mod forwarded;
mod introspect;
mod limits;
mod params;
mod serve;
mod token;
mod wellknown;

use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::{get, post};

use crate::clients::Registry;
use crate::clock::Clock;
use crate::keys::KeyRing;
use crate::token::Issuer;
use crate::users::Users;
pub(crate) use limits::Limits;
pub(crate) use serve::{ConnectionSettings, serve};
use wellknown::Metadata;

/// Everything a request may need, behind one `Arc`: cloning the state is one refcount.
#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    registry: Registry,
    users: Users,
    issuer: Issuer,
    keys: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    metadata: Metadata,
    jwks_max_age: std::time::Duration,
    /// `Cache-Control` for the configured max-age, precomputed.
    jwks_cache_control: HeaderValue,
    limits: Limits,
    /// `server.trusted_proxies`.
    trusted_proxies: Vec<ipnet::IpNet>,
}

impl AppState {
    /// Assembles the state; precomputes the discovery documents and header values.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        registry: Registry,
        users: Users,
        issuer: Issuer,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
        jwks_max_age: std::time::Duration,
        limits: Limits,
        trusted_proxies: Vec<ipnet::IpNet>,
    ) -> Self {
        let alg = keys.alg();
        let metadata = Metadata::build(&issuer, &registry, &users, alg.as_str());
        AppState(Arc::new(Inner {
            registry,
            users,
            issuer,
            keys,
            clock,
            metadata,
            jwks_max_age,
            jwks_cache_control: HeaderValue::from_str(&format!("public, max-age={}", jwks_max_age.as_secs()))
                .unwrap_or_else(|_| HeaderValue::from_static("no-cache")),
            limits,
            trusted_proxies,
        }))
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.0.registry
    }

    pub(crate) fn users(&self) -> &Users {
        &self.0.users
    }

    pub(crate) fn issuer(&self) -> &Issuer {
        &self.0.issuer
    }

    pub(crate) fn keys(&self) -> &KeyRing {
        &self.0.keys
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.0.clock.now()
    }

    fn metadata(&self) -> &Metadata {
        &self.0.metadata
    }

    /// `Cache-Control` of the JWKS now: never past the key set's next known change.
    fn jwks_cache_control(&self, keys: &crate::keys::KeySet) -> HeaderValue {
        let age = keys.jwks_max_age(self.0.jwks_max_age, self.now());
        if age == self.0.jwks_max_age {
            // The common case: no key change due within the configured max-age.
            return self.0.jwks_cache_control.clone();
        }
        HeaderValue::from_str(&format!("public, max-age={}", age.as_secs()))
            .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
    }

    fn limits(&self) -> &Limits {
        &self.0.limits
    }

    /// The address of the client that sent the request (for the brute-force throttles):
    /// the connection's peer, or, from trusted proxies, the client `X-Forwarded-For` names.
    /// `None` only without connection info (in-process requests). Takes no lock and
    /// allocates nothing: it runs on every token request.
    fn requester(&self, parts: &axum::http::request::Parts) -> Option<std::net::IpAddr> {
        let peer = parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()?.0.ip();
        Some(forwarded::client_address(peer, &parts.headers, &self.0.trusted_proxies))
    }
}

/// The first `max` characters of `value` when it has more, for quoting a client-supplied
/// value shortened (in a log line, in an error description); `None` when it fits.
fn shortened(value: &str, max: usize) -> Option<&str> {
    value.char_indices().nth(max).map(|(cut, _)| &value[..cut])
}

/// The application's routes. No I/O: tests can drive it in-process.
pub(crate) fn router(state: AppState) -> Router {
    let mut router = Router::new();
    // RFC 8414 §3.1: an issuer with a path has its metadata at the path-inserted location too
    // (a proxy in front routes it here; `{issuer}/.well-known/...` reaches the routes below
    // once the proxy strips the path).
    if let Some(path) = wellknown::path_inserted_metadata(state.issuer().issuer()) {
        router = router.route(&path, get(wellknown::oauth_metadata));
    }
    router
        .route(wellknown::TOKEN_PATH, post(token::token))
        .route(wellknown::INTROSPECT_PATH, post(introspect::introspect))
        .route(wellknown::JWKS_PATH, get(wellknown::jwks))
        .route(wellknown::OAUTH_METADATA_PATH, get(wellknown::oauth_metadata))
        .route("/.well-known/openid-configuration", get(wellknown::openid_metadata))
        .route("/healthz", get(wellknown::healthz))
        .route("/readyz", get(wellknown::readyz))
        .fallback(limits::not_found)
        .method_not_allowed_fallback(limits::method_not_allowed)
        .with_state(state)
}
