//! The HTTP edge: routes, shared state, and the mapping of domain errors to responses.
//!
//! Handlers are thin: extract, call the domain (`clients`, `token`, `keys`), answer.
//! Only this module and `server` import axum.

mod credentials;
mod error;
mod forwarded;
pub(crate) mod framing;
mod introspect;
mod limits;
mod params;
mod token;
mod token_response;
mod wellknown;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;

use axum::Router;
use axum::http::HeaderValue;
use axum::routing::{get, post};

use crate::clients::Registry;
use crate::clock::Clock;
use crate::credentials::Requester;
use crate::keys::KeyRing;
use crate::metrics::Metrics;
use crate::token::Issuer;
pub(crate) use limits::Limits;
use wellknown::Metadata;
pub(crate) use wellknown::TOKEN_PATH;

/// What the HTTP edge itself is configured with (from `[server]` and `[keys]`).
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    /// Header, body and time limits of the endpoints that read a body.
    pub(crate) limits: Limits,
    /// Longest `Cache-Control: max-age` of the JWKS (`keys.jwks_max_age`).
    pub(crate) jwks_max_age: Duration,
    /// `server.trusted_proxies`: whose `X-Forwarded-For` names the client.
    pub(crate) trusted_proxies: Vec<ipnet::IpNet>,
}

/// What a configuration reload replaces, all at once: a request sees the old or the new
/// configuration, never a mix.
#[derive(Debug)]
pub(crate) struct Live {
    registry: Registry,
    issuer: Issuer,
    metadata: Metadata,
}

impl Live {
    /// The clients and the issuer of one configuration; precomputes the discovery documents.
    pub(crate) fn new(registry: Registry, issuer: Issuer) -> Self {
        let metadata = Metadata::build(&issuer, &registry);
        Live { registry, issuer, metadata }
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn issuer(&self) -> &Issuer {
        &self.issuer
    }
}

/// Everything a request may need, behind one `Arc`: cloning the state is one refcount.
#[derive(Debug, Clone)]
pub(crate) struct AppState(Arc<Inner>);

#[derive(Debug)]
struct Inner {
    /// The clients and the issuer, swapped whole by a configuration reload.
    live: ArcSwap<Live>,
    /// The key ring (shared by every configuration: keys are not reloaded with it).
    keys: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    settings: HttpSettings,
    /// `Cache-Control` for the configured max-age, precomputed.
    jwks_cache_control: HeaderValue,
    /// Set when shutdown has begun: `/readyz` answers 503 so load balancers stop sending,
    /// while every endpoint still serves until the listener closes.
    draining: AtomicBool,
}

impl AppState {
    /// Assembles the state; precomputes header values.
    pub(crate) fn new(
        live: Live,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        settings: HttpSettings,
    ) -> Self {
        let keys = Arc::clone(live.issuer.keys());
        let jwks_cache_control = max_age(settings.jwks_max_age);
        let live = ArcSwap::from_pointee(live);
        let draining = AtomicBool::new(false);
        AppState(Arc::new(Inner { live, keys, clock, metrics, settings, jwks_cache_control, draining }))
    }

    /// Shutdown has begun: from now on `/readyz` answers 503.
    pub(crate) fn start_draining(&self) {
        self.0.draining.store(true, Ordering::Relaxed);
    }

    /// Whether shutdown has begun.
    fn draining(&self) -> bool {
        self.0.draining.load(Ordering::Relaxed)
    }

    /// The configuration now: hold it for the whole request.
    pub(crate) fn live(&self) -> Arc<Live> {
        self.0.live.load_full()
    }

    /// Swaps in a reloaded configuration; requests under way finish with the one they hold.
    pub(crate) fn replace(&self, live: Live) {
        self.0.live.store(Arc::new(live));
    }

    pub(crate) fn keys(&self) -> &KeyRing {
        &self.0.keys
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.0.metrics
    }

    pub(crate) fn now(&self) -> SystemTime {
        self.0.clock.now()
    }

    /// `Cache-Control` of the JWKS now: never past the key set's next known change.
    fn jwks_cache_control(&self, keys: &crate::keys::KeySet) -> HeaderValue {
        let configured = self.0.settings.jwks_max_age;
        let age = keys.jwks_max_age(configured, self.now());
        if age == configured {
            // The common case: no key change due within the configured max-age.
            return self.0.jwks_cache_control.clone();
        }
        max_age(age)
    }

    fn limits(&self) -> &Limits {
        &self.0.settings.limits
    }

    /// The clock's monotonic time now.
    fn monotonic(&self) -> std::time::Instant {
        self.0.clock.monotonic()
    }

    /// Who sent the request, for the brute-force throttles: the connection's peer, or,
    /// from trusted proxies, the client `X-Forwarded-For` names (no address without
    /// connection info: in-process requests); and when it arrived (`at`, on the clock's
    /// monotonic time). Takes no lock and allocates nothing: it runs on every token request.
    fn requester(&self, parts: &axum::http::request::Parts, at: std::time::Instant) -> Requester {
        let address =
            parts.extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|peer| {
                forwarded::client_address(peer.0.ip(), &parts.headers, &self.0.settings.trusted_proxies)
            });
        Requester { address, at }
    }
}

/// `Cache-Control: public, max-age=<seconds>`.
fn max_age(age: Duration) -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={}", age.as_secs()))
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
}

/// A header field given more than once where it is not a list (RFC 9110 §5.3): which value
/// counts would be each reader's guess.
#[derive(Debug)]
struct Repeated;

/// The one value of the field `name`, `None` if absent.
fn single_header(
    headers: &axum::http::HeaderMap,
    name: axum::http::HeaderName,
) -> Result<Option<&HeaderValue>, Repeated> {
    let mut values = headers.get_all(name).iter();
    match (values.next(), values.next()) {
        (first, None) => Ok(first),
        (_, Some(_)) => Err(Repeated),
    }
}

/// The first `max` characters of `value` when it has more, for quoting a client-supplied
/// value shortened (in a log line, in an error description); `None` when it fits.
fn shortened(value: &str, max: usize) -> Option<&str> {
    // No more bytes than `max`: no more characters either, without counting them.
    if value.len() <= max {
        return None;
    }
    value.char_indices().nth(max).map(|(cut, _)| &value[..cut])
}

/// The application's routes. No I/O: tests can drive it in-process.
pub(crate) fn router(state: AppState) -> Router {
    let mut router = Router::new();
    // RFC 8414 §3.1: an issuer with a path has its metadata at the path-inserted location too
    // (a proxy in front routes it here; `{issuer}/.well-known/...` reaches the routes below
    // once the proxy strips the path).
    if let Some(path) = wellknown::path_inserted_metadata(state.live().issuer().issuer()) {
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
