//! Prometheus metrics (`[metrics] bind`): what the service counts, and the text it serves at
//! `GET /metrics` on its own listener. Exposition through `prometheus-client`; nothing of the
//! format is written here.
//!
//! Series names are a contract (alert rules and dashboards rely on them):
//! - `tokenmint_token_requests_total{grant_type, outcome}`, `outcome` being `issued`,
//!   `reused` or the OAuth error code; `grant_type` one of the implemented grants,
//!   `unsupported` or `none`: nothing a request invents becomes a label value;
//! - `tokenmint_token_request_duration_seconds{grant_type}`, a histogram from 50 µs to 3.3 s;
//! - `tokenmint_tokens_issued_total{client_id}`, configured clients only;
//! - `tokenmint_introspection_requests_total{active}`, `tokenmint_jwks_requests_total{status}`;
//! - `tokenmint_signing_key_info{kid, alg, state}` and
//!   `tokenmint_signing_key_next_change_timestamp_seconds`, read from the key ring at scrape;
//! - `tokenmint_key_reloads_total{result}`, `tokenmint_config_reloads_total{result}`,
//!   `tokenmint_tls_reloads_total{result}` (a changed certificate or key file loaded, or
//!   refused);
//! - `tokenmint_throttled_total{kind}` (`password`, `client_secret`, `rate_limit`);
//! - `tokenmint_build_info{version}` and the process metrics ([`process`]).
//!
//! Recording costs a few relaxed atomic operations: every series a request can touch is
//! created when the service starts, and the request path picks its handle from a table.

mod keys;
mod process;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use crate::clock::Clock;
use crate::keys::KeyRing;
use crate::oauth::GrantType;

/// The `Content-Type` of `GET /metrics`: the Prometheus text format 0.0.4.
pub(crate) const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// The `grant_type` label of a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GrantLabel {
    /// A grant tokenmint implements (whether or not it is enabled).
    Grant(GrantType),
    /// A `grant_type` tokenmint does not implement.
    Unsupported,
    /// No `grant_type` (or the request could not be read).
    None,
}

impl GrantLabel {
    /// Every label value, in table order.
    const ALL: [GrantLabel; 7] = [
        GrantLabel::Grant(GrantType::ClientCredentials),
        GrantLabel::Grant(GrantType::Password),
        GrantLabel::Grant(GrantType::RefreshToken),
        GrantLabel::Grant(GrantType::JwtBearer),
        GrantLabel::Grant(GrantType::TokenExchange),
        GrantLabel::Unsupported,
        GrantLabel::None,
    ];

    /// The label of a request's `grant_type`.
    pub(crate) fn of(grant_type: Option<&str>) -> Self {
        match grant_type {
            None => GrantLabel::None,
            Some(name) => GrantType::parse(name).map_or(GrantLabel::Unsupported, GrantLabel::Grant),
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            GrantLabel::Grant(g) => g.as_str(),
            GrantLabel::Unsupported => "unsupported",
            GrantLabel::None => "none",
        }
    }

    fn index(self) -> usize {
        Self::ALL.iter().position(|g| *g == self).unwrap_or(Self::ALL.len() - 1)
    }
}

/// Every `outcome` label value: `issued`, `reused`, then the OAuth error codes the token
/// endpoint answers with.
pub(crate) const OUTCOMES: [&str; 12] = [
    "issued",
    "reused",
    "invalid_request",
    "invalid_client",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
    "invalid_grant",
    "invalid_target",
    "rate_limited",
    "server_error",
    "temporarily_unavailable",
];

/// What a brute-force throttle or a rate limit held back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Throttled {
    /// A user's password attempts (password grant).
    Password,
    /// An argon2id client's secret attempts.
    ClientSecret,
    /// A client over its `rate_limit`.
    RateLimit,
}

impl Throttled {
    const ALL: [Throttled; 3] = [Throttled::Password, Throttled::ClientSecret, Throttled::RateLimit];

    fn as_str(self) -> &'static str {
        match self {
            Throttled::Password => "password",
            Throttled::ClientSecret => "client_secret",
            Throttled::RateLimit => "rate_limit",
        }
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    grant_type: &'static str,
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantTypeLabel {
    grant_type: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabel {
    client_id: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActiveLabel {
    active: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabel {
    kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabel {
    version: &'static str,
}

/// A success and a failure counter.
#[derive(Debug, Clone)]
struct Results {
    ok: Counter,
    error: Counter,
}

impl Results {
    fn register(registry: &mut Registry, name: &str, help: &str) -> Self {
        let family = Family::<ResultLabel, Counter>::default();
        registry.register(name, help, family.clone());
        Results {
            ok: family.get_or_create_owned(&ResultLabel { result: "ok" }),
            error: family.get_or_create_owned(&ResultLabel { result: "error" }),
        }
    }

    fn count(&self, ok: bool) {
        if ok { &self.ok } else { &self.error }.inc();
    }
}

/// The service's metrics: the registry they are served from, and a handle for every series
/// a request can touch.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    /// `tokenmint_token_requests_total`, by grant label, then by index in [`OUTCOMES`].
    requests: Vec<Vec<Counter>>,
    /// `tokenmint_token_request_duration_seconds`, by grant label.
    durations: Vec<Histogram>,
    /// `tokenmint_tokens_issued_total`.
    issued: Family<ClientLabel, Counter>,
    /// Its handles, by client id: the configured clients only.
    issued_by_client: ArcSwap<HashMap<String, Counter>>,
    /// `tokenmint_introspection_requests_total`: active, inactive.
    introspection: [Counter; 2],
    /// `tokenmint_jwks_requests_total`: 200, 304.
    jwks: [Counter; 2],
    key_reloads: Results,
    config_reloads: Results,
    tls_reloads: Results,
    /// `tokenmint_throttled_total`, by [`Throttled::ALL`] order.
    throttled: Vec<Counter>,
}

impl Metrics {
    /// Every series, at zero, for `clients`; the key series read `keys` at each scrape.
    pub(crate) fn new<'a>(
        clients: impl IntoIterator<Item = &'a str>,
        keys: Arc<KeyRing>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let mut root = Registry::default();
        root.register_collector(Box::new(process::ProcessMetrics));
        let registry = root.sub_registry_with_prefix("tokenmint");
        let requests_family = Family::<RequestLabels, Counter>::default();
        registry.register(
            "token_requests",
            "Token requests by grant type and outcome",
            requests_family.clone(),
        );
        let requests = GrantLabel::ALL
            .iter()
            .map(|g| {
                OUTCOMES
                    .iter()
                    .map(|o| {
                        requests_family
                            .get_or_create_owned(&RequestLabels { grant_type: g.as_str(), outcome: o })
                    })
                    .collect()
            })
            .collect();
        let durations_family = Family::<GrantTypeLabel, Histogram>::new_with_constructor(|| {
            // 50 µs to 3.3 s, doubling.
            Histogram::new(exponential_buckets(0.000_05, 2.0, 17))
        });
        registry.register_with_unit(
            "token_request_duration",
            "Time to answer a token request, from its head to its answer",
            prometheus_client::registry::Unit::Seconds,
            durations_family.clone(),
        );
        let durations = GrantLabel::ALL
            .iter()
            .map(|g| durations_family.get_or_create_owned(&GrantTypeLabel { grant_type: g.as_str() }))
            .collect();
        let issued = Family::<ClientLabel, Counter>::default();
        registry.register(
            "tokens_issued",
            "Access tokens issued (or reused) by configured client",
            issued.clone(),
        );
        let introspection_family = Family::<ActiveLabel, Counter>::default();
        registry.register(
            "introspection_requests",
            "Introspection requests by whether the token was active",
            introspection_family.clone(),
        );
        let introspection =
            ["true", "false"].map(|active| introspection_family.get_or_create_owned(&ActiveLabel { active }));
        let jwks_family = Family::<StatusLabel, Counter>::default();
        registry.register("jwks_requests", "JWKS requests by response status", jwks_family.clone());
        let jwks = ["200", "304"].map(|status| jwks_family.get_or_create_owned(&StatusLabel { status }));
        let key_reloads =
            Results::register(registry, "key_reloads", "Re-reads of the signing keys by result");
        let config_reloads =
            Results::register(registry, "config_reloads", "Reloads of the configuration by result");
        let tls_reloads = Results::register(
            registry,
            "tls_reloads",
            "Reloads of a changed TLS certificate or key file by result",
        );
        let throttled_family = Family::<KindLabel, Counter>::default();
        registry.register(
            "throttled",
            "Requests held back by a brute-force throttle or a rate limit, by kind",
            throttled_family.clone(),
        );
        let throttled = Throttled::ALL
            .iter()
            .map(|t| throttled_family.get_or_create_owned(&KindLabel { kind: t.as_str() }))
            .collect();
        registry.register(
            "build",
            "The running tokenmint's version",
            Info::new(VersionLabel { version: env!("CARGO_PKG_VERSION") }),
        );
        registry.register_collector(Box::new(keys::KeyMetrics::new(keys, clock)));
        let metrics = Metrics {
            registry: root,
            requests,
            durations,
            issued,
            issued_by_client: ArcSwap::default(),
            introspection,
            jwks,
            key_reloads,
            config_reloads,
            tls_reloads,
            throttled,
        };
        metrics.track_clients(clients);
        metrics
    }

    /// Makes `clients` the configured clients whose tokens are counted (after a reload:
    /// series of clients no longer configured are dropped).
    pub(crate) fn track_clients<'a>(&self, clients: impl IntoIterator<Item = &'a str>) {
        let handles: HashMap<String, Counter> = clients
            .into_iter()
            .map(|id| {
                let label = ClientLabel { client_id: id.to_owned() };
                (id.to_owned(), self.issued.get_or_create_owned(&label))
            })
            .collect();
        for gone in self.issued_by_client.load().keys().filter(|id| !handles.contains_key(*id)) {
            self.issued.remove(&ClientLabel { client_id: gone.clone() });
        }
        self.issued_by_client.store(Arc::new(handles));
    }

    /// One answered token request.
    pub(crate) fn token_request(&self, grant: GrantLabel, outcome: &str, took: Duration) {
        let g = grant.index();
        if let (Some(row), Some(o)) = (self.requests.get(g), OUTCOMES.iter().position(|x| *x == outcome))
            && let Some(counter) = row.get(o)
        {
            counter.inc();
        }
        if let Some(h) = self.durations.get(g) {
            h.observe(took.as_secs_f64());
        }
    }

    /// A token issued (or reused) for `client_id`; ids not configured are not counted.
    pub(crate) fn token_issued(&self, client_id: &str) {
        if let Some(counter) = self.issued_by_client.load().get(client_id) {
            counter.inc();
        }
    }

    /// One introspection answer.
    pub(crate) fn introspection(&self, active: bool) {
        self.introspection[usize::from(!active)].inc();
    }

    /// One JWKS answer: 200, or 304 Not Modified.
    pub(crate) fn jwks(&self, not_modified: bool) {
        self.jwks[usize::from(not_modified)].inc();
    }

    /// One re-read of the signing keys.
    pub(crate) fn key_reload(&self, ok: bool) {
        self.key_reloads.count(ok);
    }

    /// One configuration reload.
    pub(crate) fn config_reload(&self, ok: bool) {
        self.config_reloads.count(ok);
    }

    /// One reload of changed TLS certificate files: loaded, or refused (the old pair stays).
    pub(crate) fn tls_reload(&self, ok: bool) {
        self.tls_reloads.count(ok);
    }

    /// One request held back.
    pub(crate) fn throttled(&self, kind: Throttled) {
        if let Some(counter) =
            Throttled::ALL.iter().position(|k| *k == kind).and_then(|i| self.throttled.get(i))
        {
            counter.inc();
        }
    }

    /// The text `GET /metrics` answers with.
    pub(crate) fn encode(&self) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(16 * 1024);
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)?;
        Ok(text)
    }
}
