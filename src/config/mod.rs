//! Configuration: layering, then validation into a typed [`Config`] (raw → validated, as
//! ripgrep's low-level and high-level arguments).
//!
//! Layers, lowest first: built-in defaults < the TOML file (`config/tokenmint.toml`, or
//! `--config FILE`) < environment variables `TOKENMINT_*`, with `__` for nesting
//! (`TOKENMINT_SERVER__BIND=0.0.0.0:8080`, `TOKENMINT_TOKENS__TTL=2m`).
//!
//! Clients can come from the environment alone: every variable
//! `TOKENMINT_CLIENTS__<KEY>__<FIELD>` belongs to the client `<KEY>` (its `id` defaults to
//! the key, lowercased), e.g. `TOKENMINT_CLIENTS__BILLING__SECRET_HASHES=sha256:...`.
//! Such clients are added to the `[[clients]]` of the file.
//!
//! - `layers`: reading the layers into a raw configuration;
//! - `raw`: the raw form, and the sections configuration owns (`[server]`, `[grants]`);
//! - `validate`: every check, once;
//! - `error`: the problems, gathered before failing so that `tokenmint config check` prints
//!   them all at once.
//!
//! Imports the settings types of `clients`, `users`, `keys` and `token`, nothing else of them.

mod error;
mod layers;
mod raw;
mod validate;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use error::{ConfigError, Problem};
pub(crate) use raw::{MetricsSettings, ServerSettings, VerifyServerSettings};

use crate::clients::{Client, TrustedIssuer};
use crate::keys::{KeyError, KeyPolicy, KeySettings, KeySource, SourceKind};
use crate::oauth::GrantType;
use crate::token::TokenSettings;
use crate::users::User;

/// The configuration file read when `--config` is not given, relative to the working directory.
pub const DEFAULT_CONFIG_PATH: &str = "config/tokenmint.toml";

/// Prefix of every environment variable tokenmint reads.
pub const ENV_PREFIX: &str = "TOKENMINT_";

/// The largest clock-skew allowance accepted. RFC 8725 §3.10 asks for short windows; a
/// larger leeway would let expired tokens live noticeably longer.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The longest duration any setting accepts (ten years). Longer ones are surely mistakes,
/// and instants computed from them (a key's retirement, the next rotation) must stay
/// representable and printable.
pub const MAX_DURATION: Duration = Duration::from_secs(10 * 365 * 24 * 3600);

/// Default of `server.header_read_timeout`: hyper's own default. An honest client sends its
/// headers in one packet, so this only matters for a client that stalls or trickles them, and
/// for idle keep-alive connections, which share the timer: shorter would make pooled clients
/// reconnect more often and widen the window where a request crosses the server's close.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Default of `server.max_concurrent_streams`: the value RFC 9113 §6.5.2 recommends as the
/// least a peer should allow. A token request takes well under a millisecond, so more
/// streams at once on one connection would only queue.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;

/// Default of `server.shutdown_delay`: long enough for a load balancer's health checks
/// (HAProxy's default interval is 2 s) and for Kubernetes to take the pod out of its
/// endpoints (typically within 1 to 2 s) before the listener closes.
pub const DEFAULT_SHUTDOWN_DELAY: Duration = Duration::from_secs(5);

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The `iss` claim and the metadata `issuer`.
    pub(crate) issuer: String,
    /// `[server]`.
    pub(crate) server: ServerSettings,
    /// `[tokens]`.
    pub(crate) tokens: TokenSettings,
    /// `[keys]`, the master secret read.
    pub(crate) keys: KeySettings,
    /// `[metrics]`.
    pub(crate) metrics: MetricsSettings,
    /// The rotation policy from `[tokens]` and `[keys]`.
    key_policy: KeyPolicy,
    /// Grant types the service accepts (all implemented ones minus `[grants] disabled`).
    pub(crate) enabled_grants: Vec<GrantType>,
    /// The clients, ids unique.
    pub(crate) clients: Vec<Client>,
    /// Users of the password grant, names unique and distinct from client ids.
    pub(crate) users: Vec<User>,
    /// `[[trusted_issuers]]`: issuers whose identity tokens authenticate federated clients.
    pub(crate) trusted_issuers: Vec<TrustedIssuer>,
    /// The file it was read from, if any: what a reload reads again.
    source: Option<PathBuf>,
    /// Whether the listen address came from `--bind` rather than the configuration.
    bind_overridden: bool,
}

/// The settings a running service keeps until it restarts: those a configuration reload
/// cannot change (listeners, the issuer, the keys and what their schedule depends on).
#[derive(Debug, Clone)]
pub(crate) struct Fixed {
    issuer: String,
    server: ServerSettings,
    keys: KeySettings,
    metrics: MetricsSettings,
    tokens: TokenSettings,
    /// `--bind` set the address: a reloaded file's `server.bind` is not a change.
    bind_overridden: bool,
}

impl Fixed {
    /// The settings of `new` that differ from these, by name: a reload keeps these and says
    /// a restart is needed for them.
    pub(crate) fn differences(&self, new: &Config) -> Vec<&'static str> {
        let (s, n) = (&self.server, &new.server);
        let (k, nk) = (&self.keys, &new.keys);
        let (t, nt) = (&self.tokens, &new.tokens);
        let checks = [
            ("issuer", self.issuer != new.issuer),
            ("server.bind", !self.bind_overridden && s.bind != n.bind),
            ("server.max_body_bytes", s.max_body_bytes != n.max_body_bytes),
            ("server.max_header_bytes", s.max_header_bytes != n.max_header_bytes),
            ("server.request_timeout", s.request_timeout != n.request_timeout),
            ("server.trusted_proxies", s.trusted_proxies != n.trusted_proxies),
            ("server.header_read_timeout", s.header_read_timeout != n.header_read_timeout),
            ("server.max_connections", s.max_connections != n.max_connections),
            ("server.max_concurrent_streams", s.max_concurrent_streams != n.max_concurrent_streams),
            ("server.shutdown_delay", s.shutdown_delay != n.shutdown_delay),
            ("server.tls", s.tls != n.tls),
            ("metrics.bind", self.metrics.bind != new.metrics.bind),
            ("keys.source", k.source != nk.source),
            ("keys.dir", k.dir != nk.dir),
            ("keys.master_secret_file", k.master_secret_file != nk.master_secret_file),
            ("keys.jwks_max_age", k.jwks_max_age != nk.jwks_max_age),
            ("keys.publish_ahead", k.publish_ahead != nk.publish_ahead),
            ("keys.rotate_every", k.rotate_every != nk.rotate_every),
            ("keys.auto_rotate", k.auto_rotate != nk.auto_rotate),
            ("keys.poll_interval", k.poll_interval != nk.poll_interval),
            ("tokens.algorithm", t.algorithm != nt.algorithm),
            ("tokens.max_ttl", t.max_ttl != nt.max_ttl),
            ("tokens.refresh_ttl", t.refresh_ttl != nt.refresh_ttl),
            ("tokens.leeway", t.leeway != nt.leeway),
            ("tokens.assertion_replay_capacity", t.assertion_replay_capacity != nt.assertion_replay_capacity),
        ];
        checks.into_iter().filter(|(_, differs)| *differs).map(|(name, _)| name).collect()
    }

    /// The issuer.
    pub(crate) fn issuer(&self) -> &str {
        &self.issuer
    }

    /// `new`'s `[tokens]` with the settings the keys' schedule depends on kept as running.
    pub(crate) fn tokens(&self, new: &TokenSettings) -> TokenSettings {
        TokenSettings {
            algorithm: self.tokens.algorithm,
            max_ttl: self.tokens.max_ttl,
            refresh_ttl: self.tokens.refresh_ttl,
            leeway: self.tokens.leeway,
            ..new.clone()
        }
    }
}

impl Config {
    /// Loads defaults < TOML file < `TOKENMINT_*` environment and validates.
    ///
    /// With `path`, that file must exist. Without, [`DEFAULT_CONFIG_PATH`] is read if it
    /// exists and skipped if not.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let (raw, source) = layers::load(path, &mut problems)?;
        Ok(Config { source, ..validate::validate(raw, problems)? })
    }

    /// The `[verify_server]` section alone, for `tokenmint verify-server`: the file (as
    /// [`Config::load`] finds it) < `TOKENMINT_VERIFY_SERVER__*` variables. The rest of the
    /// file is not read.
    pub(crate) fn load_verify_server(path: Option<&Path>) -> Result<VerifyServerSettings, ConfigError> {
        layers::load_verify_server(path).map_err(ConfigError::new)
    }

    /// Defaults < the given TOML text; the environment is not read. For tests and tools.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let mut problems = Vec::new();
        let raw = layers::from_toml(text, &mut problems)?;
        validate::validate(raw, problems)
    }

    /// The address the server listens on.
    pub fn bind_addr(&self) -> SocketAddr {
        self.server.bind
    }

    /// Overrides the listen address (the `--bind` flag).
    pub fn set_bind_addr(&mut self, addr: SocketAddr) {
        self.server.bind = addr;
        self.bind_overridden = true;
    }

    /// Overrides the key directory.
    pub fn set_keys_dir(&mut self, dir: impl Into<std::path::PathBuf>) {
        self.keys.dir = dir.into();
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The file the configuration was read from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// What a reload of this configuration keeps.
    pub(crate) fn fixed(&self) -> Fixed {
        Fixed {
            issuer: self.issuer.clone(),
            server: self.server.clone(),
            keys: self.keys.clone(),
            metrics: self.metrics.clone(),
            tokens: self.tokens.clone(),
            bind_overridden: self.bind_overridden,
        }
    }

    /// The key directory.
    pub fn keys_dir(&self) -> &Path {
        &self.keys.dir
    }

    /// The key ring's policy, derived from `[tokens]` and `[keys]`.
    pub(crate) fn key_policy(&self) -> KeyPolicy {
        self.key_policy.clone()
    }

    /// Where the key ring's keys come from: the key directory, or derivation from the
    /// master secret (`keys.source = "derived"`).
    pub(crate) fn key_source(&self) -> Result<KeySource, KeyError> {
        KeySource::from_settings(&self.keys, self.tokens.algorithm, &self.issuer)
    }

    /// What is allowed but probably a mistake, one sentence each, for `config check` and the
    /// startup log: plain HTTP on an address other than loopback (RFC 6749 §3.2: the token
    /// endpoint MUST use TLS; behind a TLS-terminating proxy that is the expected set-up).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.server.tls.is_none() && !self.server.bind.ip().is_loopback() {
            warnings.push(format!(
                "server.bind {} is not a loopback address and [server.tls] is not set: tokens and client \
                 secrets cross the network in plain HTTP unless a TLS-terminating proxy is in front \
                 (RFC 6749 section 3.2: the token endpoint MUST use TLS)",
                self.server.bind
            ));
        }
        warnings
    }

    /// A one-paragraph summary for `config check` and the startup log.
    pub fn summary(&self) -> String {
        let reuse = match self.tokens.reuse_window {
            w if w.is_zero() => String::new(),
            w => format!(", token reuse window {}", humantime::format_duration(w)),
        };
        let derived = match (self.keys.source, self.keys.rotate_every) {
            (SourceKind::Derived, Some(every)) => {
                format!(
                    ", keys derived from the master secret (one per {})",
                    humantime::format_duration(every)
                )
            }
            _ => String::new(),
        };
        format!(
            "issuer {}, bind {}{}, algorithm {}{derived}, token ttl {} (max {}){reuse}, {} client(s), grants: {}",
            self.issuer,
            self.server.bind,
            if self.server.tls.is_some() { " (TLS)" } else { "" },
            self.tokens.algorithm,
            humantime::format_duration(self.tokens.ttl),
            humantime::format_duration(self.tokens.max_ttl),
            self.clients.len(),
            self.enabled_grants.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", "),
        )
    }
}

#[cfg(test)]
mod tests;
