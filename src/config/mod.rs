//! Configuration: figment layering, then validation into a typed [`Config`].
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
//! Validation gathers every problem before failing, so `tokenmint config check` can print
//! them all at once. Only this module imports figment.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::Duration;

use figment::providers::{Env, Serialized};
use figment::value::Value;
use figment::{Figment, Provider as _};
use ipnet::IpNet;
use serde::Deserialize;

use crate::clients::{Client, ClientSettings};
use crate::keys::{KeyError, KeySettings, KeySource, MasterSecret, SourceKind};
use crate::oauth::GrantType;
use crate::token::TokenSettings;
use crate::users::{User, UserSettings};

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

/// The top-level keys a configuration may have.
/// (`clients` and `users` are read from the file directly, and from their own variables.)
const SECTIONS: &[&str] = &["issuer", "server", "tokens", "keys", "grants"];

/// A configuration that failed validation: every problem found, one per entry.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n  - {}", .errors.join("\n  - "))]
pub struct ConfigError {
    /// Each problem, in a sentence that names the setting.
    pub errors: Vec<String>,
}

impl ConfigError {
    fn new(errors: Vec<String>) -> Self {
        ConfigError { errors }
    }
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
        }
    }
}

/// `[grants]` in configuration: grant types switched off for the whole service.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct GrantSettings {
    /// Grant type names refused for every client, whatever the client's own list says.
    disabled: Vec<String>,
}

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    /// The `iss` claim and the metadata `issuer`.
    pub(crate) issuer: String,
    pub(crate) server: ServerSettings,
    pub(crate) tokens: TokenSettings,
    pub(crate) keys: KeySettings,
    /// Grant types the service accepts (all implemented ones minus `[grants] disabled`).
    pub(crate) enabled_grants: Vec<GrantType>,
    pub(crate) clients: Vec<Client>,
    /// Users of the password grant.
    pub(crate) users: Vec<User>,
}

/// The `TOKENMINT_CLIENTS__*` and `TOKENMINT_USERS__*` variables, read apart from the rest
/// so they add to the file's lists instead of replacing them.
struct EnvGroups {
    clients: Figment,
    users: Figment,
}

impl Config {
    /// Loads defaults < TOML file < `TOKENMINT_*` environment and validates.
    ///
    /// With `path`, that file must exist. Without, [`DEFAULT_CONFIG_PATH`] is read if it
    /// exists and skipped if not.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let file = match path {
            Some(p) if !p.is_file() => {
                return Err(ConfigError::new(vec![format!("config file {} not found", p.display())]));
            }
            Some(p) => FileLayer::read(p)?,
            None if Path::new(DEFAULT_CONFIG_PATH).is_file() => {
                FileLayer::read(Path::new(DEFAULT_CONFIG_PATH))?
            }
            None => FileLayer::default(),
        };
        let figment = defaults().merge(&file).merge(
            Env::prefixed(ENV_PREFIX)
                .filter(|k| {
                    let k = k.as_str().to_ascii_lowercase();
                    !k.starts_with("clients__") && !k.starts_with("users__")
                })
                .split("__"),
        );
        let env = EnvGroups {
            clients: Figment::from(Env::prefixed(&format!("{ENV_PREFIX}CLIENTS__")).split("__")),
            users: Figment::from(Env::prefixed(&format!("{ENV_PREFIX}USERS__")).split("__")),
        };
        Self::build(&figment, file, Some(&env))
    }

    /// Defaults < the given TOML text; the environment is not read. For tests and tools.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let file = FileLayer::parse(text, None)?;
        Self::build(&defaults().merge(&file), file, None)
    }

    fn build(figment: &Figment, file: FileLayer, env: Option<&EnvGroups>) -> Result<Config, ConfigError> {
        let mut errors = Vec::new();
        // Merge the layers once: every `extract_inner` would merge and clone the whole tree
        // again, which with 100,000 clients costs seconds.
        let root = match figment.data() {
            Ok(mut profiles) => profiles.remove(&figment::Profile::Default).unwrap_or_default(),
            Err(e) => {
                errors.extend(e.into_iter().map(|e| e.to_string()));
                figment::value::Dict::new()
            }
        };
        for (key, value) in root.iter().filter(|(k, _)| !SECTIONS.contains(&k.as_str())) {
            errors.push(format!("unknown setting `{key}`{}", source(figment, value)));
        }
        let sections = Sections { figment, root: &root };
        let issuer: Option<String> = sections.get("issuer", &mut errors);
        let server: ServerSettings = sections.get("server", &mut errors).unwrap_or_default();
        let tokens: TokenSettings = sections.get("tokens", &mut errors).unwrap_or_default();
        let keys: KeySettings = sections.get("keys", &mut errors).unwrap_or_default();
        let grants: GrantSettings = sections.get("grants", &mut errors).unwrap_or_default();

        if let Some(issuer) = &issuer {
            errors.extend(check_issuer(issuer));
        }
        errors.extend(check_tokens(&tokens));
        errors.extend(check_bounds(&tokens, &keys, &server));
        let mut keys = keys;
        errors.extend(crate::keys::settings::check_settings(
            &keys,
            &key_policy(&tokens, &keys),
            tokens.leeway,
        ));
        errors.extend(resolve_master_secret(&mut keys, &file));
        if server.max_body_bytes == 0 || server.max_header_bytes == 0 {
            errors.push("server.max_body_bytes and server.max_header_bytes must be greater than zero".into());
        }
        if server.request_timeout.is_zero() {
            errors.push("server.request_timeout must be longer than zero".into());
        }
        if server.header_read_timeout.is_zero() {
            errors.push("server.header_read_timeout must be longer than zero".into());
        }
        if server.max_connections == Some(0) {
            errors.push("server.max_connections must be at least 1 (leave it out for no limit)".into());
        }
        let enabled_grants = enabled_grants(&grants, &mut errors);

        errors.extend(file.errors);
        let mut clients = from_file(file.clients, "clients", "id", ClientSettings::into_client, &mut errors);
        let mut users = from_file(file.users, "users", "username", UserSettings::into_user, &mut errors);
        if let Some(env) = env {
            let set_id = |s: &mut ClientSettings, key: String| {
                s.id.get_or_insert(key);
            };
            clients.extend(from_env(
                &env.clients,
                "CLIENTS",
                set_id,
                ClientSettings::into_client,
                &mut errors,
            ));
            let set_name = |s: &mut UserSettings, key: String| {
                s.username.get_or_insert(key);
            };
            users.extend(from_env(&env.users, "USERS", set_name, UserSettings::into_user, &mut errors));
        }
        let mut client_ids = std::collections::HashSet::with_capacity(clients.len());
        for c in &clients {
            if !client_ids.insert(c.id.as_str()) {
                errors.push(format!("client `{}` is configured more than once", c.id));
            }
            if c.allows_grant(GrantType::RefreshToken) && !c.allows_grant(GrantType::Password) {
                errors.push(format!(
                    "client `{}`: grant type `refresh_token` needs `password` (refresh tokens come only with \
                     the password grant; client credentials get none, RFC 6749 §4.4.3)",
                    c.id
                ));
            }
        }
        let mut seen = std::collections::HashSet::new();
        for u in &users {
            if !seen.insert(u.username.as_str()) {
                errors.push(format!("user `{}` is configured more than once", u.username));
            }
            // One namespace for `sub`: a client's tokens carry its id, a user's their username.
            if client_ids.contains(u.username.as_str()) {
                errors.push(format!(
                    "client `{0}` and user `{0}` have the same name: the tokens of both would carry \
                     `\"sub\":\"{0}\"`, so a resource server could not tell the client from the user \
                     (RFC 9068 §2.2, §5); rename one of them",
                    u.username
                ));
            }
        }

        if !errors.is_empty() {
            return Err(ConfigError::new(errors));
        }
        Ok(Config {
            issuer: issuer.unwrap_or_default(),
            server,
            tokens,
            keys,
            enabled_grants,
            clients,
            users,
        })
    }

    /// The address the server listens on.
    pub fn bind_addr(&self) -> SocketAddr {
        self.server.bind
    }

    /// Overrides the listen address (the `--bind` flag).
    pub fn set_bind_addr(&mut self, addr: SocketAddr) {
        self.server.bind = addr;
    }

    /// Overrides the key directory.
    pub fn set_keys_dir(&mut self, dir: impl Into<std::path::PathBuf>) {
        self.keys.dir = dir.into();
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key directory.
    pub fn keys_dir(&self) -> &Path {
        &self.keys.dir
    }

    /// The key ring's policy, derived from `[tokens]` and `[keys]`.
    pub(crate) fn key_policy(&self) -> crate::keys::KeyPolicy {
        key_policy(&self.tokens, &self.keys)
    }

    /// Where the key ring's keys come from: the key directory, or derivation from the
    /// master secret (`keys.source = "derived"`).
    pub(crate) fn key_source(&self) -> Result<KeySource, KeyError> {
        KeySource::from_settings(&self.keys, self.tokens.algorithm, &self.issuer)
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
            "issuer {}, bind {}, algorithm {}{derived}, token ttl {} (max {}){reuse}, {} client(s), grants: {}",
            self.issuer,
            self.server.bind,
            self.tokens.algorithm,
            humantime::format_duration(self.tokens.ttl),
            humantime::format_duration(self.tokens.max_ttl),
            self.clients.len(),
            self.enabled_grants.iter().map(|g| g.as_str()).collect::<Vec<_>>().join(", "),
        )
    }
}

/// The merged configuration tree, read section by section.
struct Sections<'a> {
    figment: &'a Figment,
    root: &'a figment::value::Dict,
}

impl Sections<'_> {
    /// Deserializes one top-level section. On failure it records the problems and returns
    /// `None`, so validation goes on and reports the rest. serde stops at a section's first
    /// bad field, so a failed section is re-checked one setting at a time to report every
    /// bad one.
    fn get<T: serde::de::DeserializeOwned>(&self, key: &str, errors: &mut Vec<String>) -> Option<T> {
        let empty = Value::from(figment::value::Dict::new());
        let value = self.root.get(key).unwrap_or(&empty);
        let first = match value.deserialize::<T>() {
            Ok(v) => return Some(v),
            Err(e) => e,
        };
        let before = errors.len();
        if let Value::Dict(_, dict) = value {
            for (name, setting) in dict {
                let single = Value::from(BTreeMap::from([(name.clone(), setting.clone())]));
                if let Err(e) = single.deserialize::<T>() {
                    let source = source(self.figment, setting);
                    errors.extend(e.into_iter().map(|e| format!("{key}.{name}: {e}{source}")));
                }
            }
        }
        if errors.len() == before {
            let source = source(self.figment, value);
            errors.extend(first.into_iter().map(|e| format!("{key}: {e}{source}")));
        }
        None
    }
}

/// The key ring's policy from `[tokens]` and `[keys]`.
fn key_policy(tokens: &TokenSettings, keys: &KeySettings) -> crate::keys::KeyPolicy {
    crate::keys::KeyPolicy {
        alg: tokens.algorithm,
        publish_ahead: keys.publish_ahead,
        retire_after: crate::keys::settings::retire_after(tokens.max_ttl, tokens.leeway),
        refresh_retire_after: crate::keys::settings::retire_after(tokens.refresh_ttl, tokens.leeway),
        rotate_every: keys.rotate_every,
        writer: keys.auto_rotate || keys.rotate_every.is_none(),
    }
}

/// Refuses a master secret written in the configuration file (a plaintext secret in a file
/// that is often committed), and reads `keys.master_secret_file` into `keys.master_secret`.
fn resolve_master_secret(keys: &mut KeySettings, file: &FileLayer) -> Vec<String> {
    let mut errors = Vec::new();
    if file.table.get("keys").and_then(|k| k.get("master_secret")).is_some() {
        errors.push(
            "keys.master_secret must not be written in the configuration file: put the secret in a file \
             (keys.master_secret_file) or in the environment variable TOKENMINT_KEYS__MASTER_SECRET"
                .into(),
        );
    }
    if keys.source == SourceKind::Derived
        && keys.master_secret.is_none()
        && let Some(path) = &keys.master_secret_file
    {
        match MasterSecret::read(path) {
            Ok(secret) => keys.master_secret = Some(secret),
            Err(e) => errors.push(format!("keys.master_secret_file: {e}")),
        }
    }
    errors
}

/// " (from <source>)" for a value, naming the file or environment it came from.
fn source(figment: &Figment, value: &Value) -> String {
    figment.get_metadata(value.tag()).map(|m| format!(" (from {})", m.name)).unwrap_or_default()
}

/// The configuration file, parsed once. Its `[[clients]]` and `[[users]]` lists are taken out
/// and deserialized straight from the TOML tree: passing 100,000 clients through figment's
/// value tree (convert, merge, clone) costs seconds. The rest of the file is a figment layer.
#[derive(Debug, Default)]
struct FileLayer {
    table: toml::Table,
    clients: Vec<toml::Value>,
    users: Vec<toml::Value>,
    /// Problems with the shape of the lists themselves.
    errors: Vec<String>,
    path: Option<std::path::PathBuf>,
}

impl FileLayer {
    fn read(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::new(vec![format!("{}: {e}", path.display())]))?;
        Self::parse(&text, Some(path.to_path_buf()))
    }

    fn parse(text: &str, path: Option<std::path::PathBuf>) -> Result<Self, ConfigError> {
        let name = path.as_ref().map_or_else(|| "configuration".to_owned(), |p| p.display().to_string());
        let mut table: toml::Table =
            text.parse().map_err(|e: toml::de::Error| ConfigError::new(vec![format!("{name}: {e}")]))?;
        let mut errors = Vec::new();
        let mut list = |key: &str| match table.remove(key) {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items,
            Some(_) => {
                errors.push(format!("`{key}` must be a list of tables ([[{key}]]) in {name}"));
                Vec::new()
            }
        };
        let (clients, users) = (list("clients"), list("users"));
        Ok(FileLayer { table, clients, users, errors, path })
    }
}

impl figment::Provider for FileLayer {
    fn metadata(&self) -> figment::Metadata {
        let named = figment::Metadata::named("TOML file");
        match &self.path {
            Some(p) => named.source(figment::Source::File(p.clone())),
            None => named,
        }
    }

    fn data(&self) -> Result<figment::value::Map<figment::Profile, figment::value::Dict>, figment::Error> {
        Serialized::defaults(&self.table).data()
    }
}

/// The built-in defaults: every section present, so serde defaults fill each one.
fn defaults() -> Figment {
    Figment::from(Serialized::defaults(serde_json::json!({
        "issuer": "http://127.0.0.1:8080",
        "server": {},
        "tokens": {},
        "keys": {},
        "grants": {},
    })))
}

fn check_issuer(issuer: &str) -> Vec<String> {
    let mut errors = Vec::new();
    match url::Url::parse(issuer) {
        Ok(u) => {
            if !matches!(u.scheme(), "https" | "http") {
                errors.push(format!("issuer `{issuer}` must be an https:// (or http:// for local use) URL"));
            }
            if u.query().is_some() || u.fragment().is_some() {
                errors.push(format!("issuer `{issuer}` must not have a query or fragment (RFC 8414 §2)"));
            }
        }
        Err(e) => errors.push(format!("issuer `{issuer}` is not a valid URL: {e}")),
    }
    errors
}

fn check_tokens(t: &TokenSettings) -> Vec<String> {
    let mut errors = Vec::new();
    if t.ttl.is_zero() {
        errors.push("tokens.ttl must be longer than zero".into());
    }
    if t.max_ttl < t.ttl {
        errors.push(format!(
            "tokens.max_ttl ({}) must not be shorter than tokens.ttl ({})",
            humantime::format_duration(t.max_ttl),
            humantime::format_duration(t.ttl)
        ));
    }
    if t.refresh_ttl.is_zero() {
        errors.push("tokens.refresh_ttl must be longer than zero".into());
    }
    if t.leeway > MAX_LEEWAY {
        errors.push(format!(
            "tokens.leeway ({}) must be at most {} (RFC 8725 §3.10)",
            humantime::format_duration(t.leeway),
            humantime::format_duration(MAX_LEEWAY)
        ));
    }
    errors
}

/// Every duration setting is at most [`MAX_DURATION`].
fn check_bounds(t: &TokenSettings, k: &KeySettings, s: &ServerSettings) -> Vec<String> {
    let durations = [
        ("tokens.ttl", Some(t.ttl)),
        ("tokens.max_ttl", Some(t.max_ttl)),
        ("tokens.refresh_ttl", Some(t.refresh_ttl)),
        ("tokens.reuse_window", Some(t.reuse_window)),
        ("keys.jwks_max_age", Some(k.jwks_max_age)),
        ("keys.publish_ahead", Some(k.publish_ahead)),
        ("keys.rotate_every", k.rotate_every),
        ("keys.poll_interval", Some(k.poll_interval)),
        ("server.request_timeout", Some(s.request_timeout)),
        ("server.header_read_timeout", Some(s.header_read_timeout)),
    ];
    durations
        .into_iter()
        .filter_map(|(name, d)| d.filter(|d| *d > MAX_DURATION).map(|_| name))
        .map(|name| format!("{name} must be at most 10 years ({})", humantime::format_duration(MAX_DURATION)))
        .collect()
}

fn enabled_grants(grants: &GrantSettings, errors: &mut Vec<String>) -> Vec<GrantType> {
    for name in grants.disabled.iter().filter(|n| GrantType::parse(n).is_none()) {
        errors.push(format!("grants.disabled: unknown grant type `{name}`"));
    }
    GrantType::ALL.iter().copied().filter(|g| !grants.disabled.iter().any(|d| d == g.as_str())).collect()
}

/// Validates the `[[clients]]` or `[[users]]` entries of the file; `name_field` labels
/// each entry in error messages.
fn from_file<S: serde::de::DeserializeOwned, T>(
    values: Vec<toml::Value>,
    section: &str,
    name_field: &str,
    into: impl Fn(S, &str) -> Result<T, Vec<String>>,
    errors: &mut Vec<String>,
) -> Vec<T> {
    let mut out = Vec::with_capacity(values.len());
    for (i, value) in values.into_iter().enumerate() {
        let name = value.get(name_field).and_then(|v| v.as_str()).unwrap_or("?");
        let label = format!("{section}[{i}] ({name_field} `{name}`)");
        match S::deserialize(value) {
            Ok(settings) => match into(settings, &label) {
                Ok(t) => out.push(t),
                Err(es) => errors.extend(es),
            },
            Err(e) => errors.push(format!("{label}: {}", e.message())),
        }
    }
    out
}

/// Reads `TOKENMINT_<GROUP>__<KEY>__<FIELD>` variables: one entry per `<KEY>`, whose name
/// defaults to the key (lowercased by figment).
fn from_env<S: serde::de::DeserializeOwned, T>(
    env: &Figment,
    group: &str,
    default_name: impl Fn(&mut S, String),
    into: impl Fn(S, &str) -> Result<T, Vec<String>>,
    errors: &mut Vec<String>,
) -> Vec<T> {
    let groups = match env.extract::<BTreeMap<String, Value>>() {
        Ok(g) => g,
        Err(e) => {
            errors.extend(e.into_iter().map(|e| format!("{ENV_PREFIX}{group}__*: {e}")));
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (key, value) in groups {
        let label = format!("{ENV_PREFIX}{group}__{}__*", key.to_ascii_uppercase());
        match value.deserialize::<S>() {
            Ok(mut settings) => {
                default_name(&mut settings, key);
                match into(settings, &label) {
                    Ok(t) => out.push(t),
                    Err(es) => errors.extend(es),
                }
            }
            Err(e) => errors.extend(e.into_iter().map(|e| format!("{label}: {e}"))),
        }
    }
    out
}

#[cfg(test)]
mod tests;
