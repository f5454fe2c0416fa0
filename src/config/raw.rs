//! The configuration as written, before validation: the sections configuration owns
//! (`[server]`, `[grants]`) and the raw form of the whole, as the layers produce it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use serde::Deserialize;

use super::{DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_SHUTDOWN_DELAY};
use crate::clients::{ClientSettings, OneOrMany, TrustedIssuerSettings};
use crate::keys::KeySettings;
use crate::token::TokenSettings;
use crate::users::UserSettings;

/// Every section as read from the layers, each entry of `[[clients]]` and `[[users]]` with
/// the label that names it in messages. Sections that failed to read hold their defaults
/// (the failure is already a problem), so validation goes on and reports the rest.
#[derive(Debug, Default)]
pub(super) struct RawConfig {
    /// `issuer`.
    pub(super) issuer: Option<String>,
    /// `[server]`.
    pub(super) server: ServerSettings,
    /// `[tokens]`.
    pub(super) tokens: TokenSettings,
    /// `[keys]`.
    pub(super) keys: KeySettings,
    /// `[grants]`.
    pub(super) grants: GrantSettings,
    /// `[metrics]`.
    pub(super) metrics: MetricsSettings,
    /// `[[clients]]` of the file, then `TOKENMINT_CLIENTS__*` groups.
    pub(super) clients: Vec<(String, ClientSettings)>,
    /// `[[users]]` of the file, then `TOKENMINT_USERS__*` groups.
    pub(super) users: Vec<(String, UserSettings)>,
    /// `[[trusted_issuers]]` of the file.
    pub(super) trusted_issuers: Vec<(String, TrustedIssuerSettings)>,
    /// Whether the file itself sets `keys.master_secret` (refused: a plaintext secret in a
    /// file that is often committed).
    pub(super) master_secret_in_file: bool,
}

/// `[verify_server]`: the settings of `tokenmint verify-server`, each overridden by its
/// command-line flag (a list flag given once replaces the whole list). The token service
/// ignores the section, so one file can hold both.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct VerifyServerSettings {
    /// The issuer (`--issuer`).
    pub(crate) issuer: Option<String>,
    /// The accepted audiences, the default first (`--audience`). Lists may also be
    /// written as one string (handy in environment variables).
    pub(crate) audiences: OneOrMany,
    /// The listen address (`--bind`).
    pub(crate) bind: Option<SocketAddr>,
    /// Scopes every token must have (`--require-scope`).
    pub(crate) require_scopes: OneOrMany,
    /// Claims answered as response headers, claim name to header name (`--forward-claim`).
    pub(crate) forward_claims: BTreeMap<String, String>,
    /// Accepted algorithms (`--algorithm`).
    pub(crate) algorithms: OneOrMany,
    /// Clock-skew allowance (`--leeway`).
    #[serde(with = "humantime_serde")]
    pub(crate) leeway: Option<Duration>,
    /// Longest token lifetime accepted (`--max-lifetime`).
    #[serde(with = "humantime_serde")]
    pub(crate) max_lifetime: Option<Duration>,
    /// Most verified tokens remembered, 0 for none (`--cache-size`).
    pub(crate) cache_size: Option<usize>,
    /// Longest time a verified token is remembered (`--cache-max-age`).
    #[serde(with = "humantime_serde")]
    pub(crate) cache_max_age: Option<Duration>,
    /// Plain http to a host other than loopback (`--allow-http`).
    pub(crate) allow_http: Option<bool>,
}

/// `[server]` in configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerSettings {
    /// The address to listen on.
    pub(crate) bind: SocketAddr,
    /// Largest accepted request body.
    pub(crate) max_body_bytes: usize,
    /// Largest accepted total size of request headers.
    pub(crate) max_header_bytes: usize,
    /// Time limit for one request, reading the body included.
    #[serde(with = "humantime_serde")]
    pub(crate) request_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` is believed, as addresses or CIDR ranges.
    #[serde(deserialize_with = "ip_ranges")]
    pub(crate) trusted_proxies: Vec<IpNet>,
    /// Time a connection has to send a request's headers, counted from the moment the
    /// server starts waiting for them: on a new connection, and on a keep-alive connection
    /// after each response (so it is also the idle keep-alive timeout). A connection that
    /// misses it is closed (slowloris).
    #[serde(with = "humantime_serde")]
    pub(crate) header_read_timeout: Duration,
    /// Most connections served at once; further ones wait in the listen backlog until one
    /// closes. `None` (the default): no limit.
    pub(crate) max_connections: Option<usize>,
    /// Most HTTP/2 streams (requests) one connection may have open at once
    /// (`SETTINGS_MAX_CONCURRENT_STREAMS`, RFC 9113 §6.5.2).
    pub(crate) max_concurrent_streams: u32,
    /// After SIGTERM: how long `/readyz` answers 503 while requests are still served, so
    /// load balancers and Kubernetes endpoints stop sending here before the listener closes.
    #[serde(with = "humantime_serde")]
    pub(crate) shutdown_delay: Duration,
    /// `[server.tls]`: serve TLS on `bind`. `None`: plain HTTP (behind a TLS-terminating proxy).
    pub(crate) tls: Option<TlsSettings>,
}

/// `[server.tls]` in configuration: the PEM files of the service's certificate, reloaded
/// when they change. The names default to those of a Kubernetes TLS Secret's keys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSettings {
    /// The certificate chain, leaf first (PEM).
    #[serde(default = "TlsSettings::default_cert_file")]
    pub(crate) cert_file: PathBuf,
    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    #[serde(default = "TlsSettings::default_key_file")]
    pub(crate) key_file: PathBuf,
}

impl TlsSettings {
    fn default_cert_file() -> PathBuf {
        PathBuf::from("tls/tls.crt")
    }

    fn default_key_file() -> PathBuf {
        PathBuf::from("tls/tls.key")
    }
}

/// A list of addresses (`"10.0.0.7"`) and CIDR ranges (`"10.0.0.0/8"`).
fn ip_ranges<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<IpNet>, D::Error> {
    Vec::<String>::deserialize(d)?
        .iter()
        .map(|text| {
            text.parse::<IpNet>().or_else(|_| text.parse::<IpAddr>().map(IpNet::from)).map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{text}` is not an IP address or a CIDR range (10.0.0.0/8)"
                ))
            })
        })
        .collect()
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_body_bytes: 16 * 1024,
            max_header_bytes: 16 * 1024,
            request_timeout: Duration::from_secs(10),
            trusted_proxies: Vec::new(),
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_connections: None,
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            shutdown_delay: DEFAULT_SHUTDOWN_DELAY,
            tls: None,
        }
    }
}

/// `[grants]` in configuration: grant types switched off for the whole service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct GrantSettings {
    /// Grant type names refused for every client, whatever the client's own list says.
    pub(super) disabled: Vec<String>,
}

/// `[metrics]` in configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MetricsSettings {
    /// Where `GET /metrics` is served, on a listener of its own; unset: nowhere.
    pub(crate) bind: Option<SocketAddr>,
}
