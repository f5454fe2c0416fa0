//! Validation: from the [`RawConfig`] the layers produce to a [`Config`], every check in one
//! place. Sections that belong to another module are checked by that module (`clients`,
//! `users`, `keys`); the checks of the sections configuration owns, and every check across
//! sections (durations, name clashes, the master secret's source), are here. Every problem
//! is gathered before failing.

use std::collections::HashSet;
use std::sync::Arc;

use super::error::{ConfigError, Kind, Problem};
use super::raw::{GrantSettings, RawConfig, ServerSettings};
use super::{Config, MAX_DURATION, MAX_LEEWAY};
use crate::clients::{Client, ClientSettings, Fetcher, Limiter, TrustedIssuer, TrustedIssuerSettings};
use crate::keys::settings::{check_settings, retire_after};
use crate::keys::{KeyPolicy, KeySettings, MasterSecret, SourceKind};
use crate::oauth::GrantType;
use crate::token::TokenSettings;
use crate::users::{User, UserSettings};

/// Checks `raw` whole; `problems` are those found while reading it.
pub(super) fn validate(raw: RawConfig, mut problems: Vec<Problem>) -> Result<Config, ConfigError> {
    let mut found = |kind: Kind| problems.push(kind.into());
    let RawConfig {
        issuer,
        server,
        tokens,
        mut keys,
        grants,
        metrics,
        clients,
        users,
        trusted_issuers,
        master_secret_in_file,
    } = raw;
    if let Some(issuer) = &issuer {
        check_issuer(issuer).into_iter().for_each(&mut found);
    }
    check_tokens(&tokens).into_iter().for_each(&mut found);
    check_bounds(&tokens, &keys, &server).into_iter().for_each(&mut found);
    let key_policy = key_policy(&tokens, &keys);
    check_settings(&keys, &key_policy, tokens.leeway).into_iter().map(Kind::Keys).for_each(&mut found);
    resolve_master_secret(&mut keys, master_secret_in_file).into_iter().for_each(&mut found);
    check_server(&server).into_iter().for_each(&mut found);
    if metrics.bind.is_some_and(|m| m == server.bind) {
        found(Kind::MetricsOnServerPort);
    }
    let enabled_grants = enabled_grants(&grants, &mut found);

    // One HTTP client for every fetched key set of this configuration.
    let fetcher = Fetcher::default();
    let mut clients: Vec<Client> = entries(
        clients,
        |settings: ClientSettings| settings.into_client(&fetcher),
        |label, problem| Kind::Client { label, problem },
        &mut found,
    );
    // `tokens.rate_limit` for every client that sets none.
    if let Some(limit) = tokens.rate_limit {
        for client in clients.iter_mut().filter(|c| c.limiter.is_none()) {
            client.limiter = Some(Arc::new(Limiter::new(limit)));
        }
    }
    let users: Vec<User> =
        entries(users, UserSettings::into_user, |label, problem| Kind::User { label, problem }, &mut found);
    check_names(&clients, &users).into_iter().for_each(&mut found);
    let own_issuer = issuer.clone().unwrap_or_default();
    let trusted_issuers: Vec<TrustedIssuer> = entries(
        trusted_issuers,
        |settings: TrustedIssuerSettings| settings.into_trusted(&own_issuer, &fetcher),
        |label, problem| Kind::TrustedIssuer { label, problem },
        &mut found,
    );
    check_federation(&clients, &trusted_issuers).into_iter().for_each(&mut found);

    if !problems.is_empty() {
        return Err(ConfigError::new(problems));
    }
    Ok(Config {
        issuer: issuer.unwrap_or_default(),
        server,
        tokens,
        keys,
        metrics,
        key_policy,
        enabled_grants,
        clients,
        users,
        trusted_issuers,
        source: None,
        bind_overridden: false,
    })
}

/// Checks each labelled entry with `check`; each problem of an entry becomes a [`Kind`]
/// through `kind`, with the entry's label.
fn entries<S, T, P>(
    entries: Vec<(String, S)>,
    check: impl Fn(S) -> Result<T, Vec<P>>,
    kind: impl Fn(String, P) -> Kind,
    found: &mut impl FnMut(Kind),
) -> Vec<T> {
    let mut valid = Vec::with_capacity(entries.len());
    for (label, settings) in entries {
        match check(settings) {
            Ok(entry) => valid.push(entry),
            Err(problems) => problems.into_iter().for_each(|p| found(kind(label.clone(), p))),
        }
    }
    valid
}

/// RFC 8414 §2: the issuer is an https URL (http only on a loopback host, for local use)
/// without query, fragment or user information, written as a URL is (RFC 3986 §2: the URL
/// parser would percent-encode a space in the path, so the issuer in tokens would not be
/// the text configured).
fn check_issuer(issuer: &str) -> Vec<Kind> {
    let mut errors = Vec::new();
    // A password in user information must not reach the error line.
    let userinfo = issuer.split_once("://").is_some_and(|(_, rest)| {
        rest.split(['/', '?', '#']).next().is_some_and(|authority| authority.contains('@'))
    });
    if userinfo {
        errors.push(Kind::IssuerUserinfo);
        return errors;
    }
    if !issuer.bytes().all(is_uri_byte) {
        errors.push(Kind::IssuerChars(issuer.escape_debug().to_string()));
        return errors;
    }
    match url::Url::parse(issuer) {
        Ok(u) => {
            let loopback = match u.host() {
                Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
                Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
                Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
                None => false,
            };
            if !(u.scheme() == "https" || (u.scheme() == "http" && loopback)) || !u.has_host() {
                errors.push(Kind::IssuerScheme(issuer.to_owned()));
            }
            if u.query().is_some() || u.fragment().is_some() {
                errors.push(Kind::IssuerQuery(issuer.to_owned()));
            }
        }
        Err(reason) => errors.push(Kind::IssuerUrl { issuer: issuer.to_owned(), reason }),
    }
    errors
}

/// A byte a URI holds as it is (RFC 3986 §2: unreserved, reserved, `%`).
fn is_uri_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~:/?#[]@!$&'()*+,;=%".contains(&b)
}

/// `[tokens]`: lifetimes longer than zero, `max_ttl` not below `ttl`, a short leeway.
fn check_tokens(t: &TokenSettings) -> Vec<Kind> {
    let mut errors = Vec::new();
    if t.ttl.is_zero() {
        errors.push(Kind::ZeroTtl);
    }
    if t.max_ttl < t.ttl {
        errors.push(Kind::MaxTtlBelowTtl { max_ttl: t.max_ttl, ttl: t.ttl });
    }
    if t.refresh_ttl.is_zero() {
        errors.push(Kind::ZeroRefreshTtl);
    }
    if t.leeway > MAX_LEEWAY {
        errors.push(Kind::LeewayTooLong(t.leeway));
    }
    if t.assertion_max_lifetime.is_zero() {
        errors.push(Kind::ZeroAssertionSetting("assertion_max_lifetime"));
    }
    if t.assertion_replay_capacity == 0 {
        errors.push(Kind::ZeroAssertionSetting("assertion_replay_capacity"));
    }
    errors
}

/// Every duration setting is at most [`MAX_DURATION`].
fn check_bounds(t: &TokenSettings, k: &KeySettings, s: &ServerSettings) -> Vec<Kind> {
    let durations = [
        ("tokens.ttl", Some(t.ttl)),
        ("tokens.max_ttl", Some(t.max_ttl)),
        ("tokens.refresh_ttl", Some(t.refresh_ttl)),
        ("tokens.reuse_window", Some(t.reuse_window)),
        ("tokens.assertion_max_lifetime", Some(t.assertion_max_lifetime)),
        ("keys.jwks_max_age", Some(k.jwks_max_age)),
        ("keys.publish_ahead", Some(k.publish_ahead)),
        ("keys.rotate_every", k.rotate_every),
        ("keys.poll_interval", Some(k.poll_interval)),
        ("server.request_timeout", Some(s.request_timeout)),
        ("server.header_read_timeout", Some(s.header_read_timeout)),
        ("server.shutdown_delay", Some(s.shutdown_delay)),
    ];
    durations
        .into_iter()
        .filter(|(_, d)| d.is_some_and(|d| d > MAX_DURATION))
        .map(|(setting, _)| Kind::TooLong { setting })
        .collect()
}

/// `[server]`: limits and timeouts greater than zero.
fn check_server(server: &ServerSettings) -> Vec<Kind> {
    let mut errors = Vec::new();
    if server.max_body_bytes == 0 || server.max_header_bytes == 0 {
        errors.push(Kind::ZeroSizeLimit);
    }
    if server.request_timeout.is_zero() {
        errors.push(Kind::ZeroRequestTimeout);
    }
    if server.header_read_timeout.is_zero() {
        errors.push(Kind::ZeroHeaderReadTimeout);
    }
    if server.max_connections == Some(0) {
        errors.push(Kind::ZeroMaxConnections);
    }
    if server.max_concurrent_streams == 0 {
        errors.push(Kind::ZeroMaxConcurrentStreams);
    }
    errors
}

/// The key ring's policy, from `[tokens]` and `[keys]`.
fn key_policy(tokens: &TokenSettings, keys: &KeySettings) -> KeyPolicy {
    KeyPolicy {
        alg: tokens.algorithm,
        publish_ahead: keys.publish_ahead,
        retire_after: retire_after(tokens.max_ttl, tokens.leeway),
        refresh_retire_after: retire_after(tokens.refresh_ttl, tokens.leeway),
        rotate_every: keys.rotate_every,
        writer: keys.auto_rotate || keys.rotate_every.is_none(),
    }
}

/// Refuses a master secret written in the configuration file (a plaintext secret in a file
/// that is often committed), and reads `keys.master_secret_file` into `keys.master_secret`.
fn resolve_master_secret(keys: &mut KeySettings, in_file: bool) -> Vec<Kind> {
    let mut errors = Vec::new();
    if in_file {
        errors.push(Kind::MasterSecretInFile);
    }
    if keys.source == SourceKind::Derived
        && keys.master_secret.is_none()
        && let Some(path) = &keys.master_secret_file
    {
        match MasterSecret::read(path) {
            Ok(secret) => keys.master_secret = Some(secret),
            Err(e) => errors.push(Kind::MasterSecretFile(e)),
        }
    }
    errors
}

/// The grant types the service accepts: every implemented one but `grants.disabled`.
fn enabled_grants(grants: &GrantSettings, found: &mut impl FnMut(Kind)) -> Vec<GrantType> {
    for name in grants.disabled.iter().filter(|n| GrantType::parse(n).is_none()) {
        found(Kind::UnknownDisabledGrant(name.clone()));
    }
    GrantType::ALL.iter().copied().filter(|g| !grants.disabled.iter().any(|d| d == g.as_str())).collect()
}

/// Client ids and usernames are unique, and one namespace: a client's tokens carry its id
/// as `sub`, a user's their username (RFC 9068 §2.2).
fn check_names(clients: &[Client], users: &[User]) -> Vec<Kind> {
    let mut errors = Vec::new();
    let mut client_ids = HashSet::with_capacity(clients.len());
    for c in clients {
        if !client_ids.insert(c.id.as_str()) {
            errors.push(Kind::DuplicateClient(c.id.clone()));
        }
    }
    let mut usernames = HashSet::with_capacity(users.len());
    for u in users {
        if !usernames.insert(u.username.as_str()) {
            errors.push(Kind::DuplicateUser(u.username.clone()));
        }
        if client_ids.contains(u.username.as_str()) {
            errors.push(Kind::ClientIsUser(u.username.clone()));
        }
    }
    errors
}

/// Trusted issuers are unique, and every federated identity of a client names one of them.
fn check_federation(clients: &[Client], issuers: &[TrustedIssuer]) -> Vec<Kind> {
    let mut errors = Vec::new();
    let mut names = HashSet::with_capacity(issuers.len());
    for i in issuers {
        if !names.insert(i.issuer.as_str()) {
            errors.push(Kind::DuplicateTrustedIssuer(i.issuer.clone()));
        }
    }
    for c in clients {
        for f in c.federated.iter().filter(|f| !names.contains(f.issuer.as_str())) {
            errors.push(Kind::UntrustedFederatedIssuer { client: c.id.clone(), issuer: f.issuer.clone() });
        }
    }
    errors
}
