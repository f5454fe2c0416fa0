//! The client registry: O(1) lookup by `client_id`, and what authenticating clients needs
//! beside them (the trusted issuers, the assertion policy, the replay cache).
//! Authentication is in [`super::auth`].

use std::collections::HashMap;
use std::sync::Arc;

use super::auth::SecretChecks;
use super::{AssertionPolicy, Client, ReplayCache, TrustedIssuer, TrustedIssuers};
use crate::credentials::SecretHashError;

/// What JWT assertions are checked with, from configuration.
#[derive(Debug)]
pub(crate) struct Assertions {
    /// `[[trusted_issuers]]`.
    pub(crate) issuers: Vec<TrustedIssuer>,
    /// The service-wide rules.
    pub(crate) policy: AssertionPolicy,
    /// `tokens.assertion_replay_capacity`.
    pub(crate) replay_capacity: usize,
}

/// All configured clients, keyed by `client_id`.
pub(crate) struct Registry {
    clients: HashMap<String, Arc<Client>>,
    /// What checking argon2id secrets needs: the throttle and remembered successes. Shared
    /// with the registry a configuration reload replaces, so a reload resets no counter.
    pub(super) secret_checks: Arc<SecretChecks>,
    /// Issuers whose identity tokens authenticate federated clients.
    pub(super) issuers: TrustedIssuers,
    /// How assertions are judged.
    pub(super) assertions: AssertionPolicy,
    /// Seen `jti`s of client assertions; shared with the registry a reload replaces, so a
    /// reload makes no assertion replayable.
    pub(super) replay: Arc<ReplayCache>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("clients", &self.clients.len())
            .field("trusted_issuers", &self.issuers.len())
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Builds the registry. Client ids are unique: configuration refuses duplicates. Fails
    /// only if the system random generator does.
    pub(crate) fn new(clients: Vec<Client>, assertions: Assertions) -> Result<Self, SecretHashError> {
        let clients = clients.into_iter().map(|c| (c.id.clone(), Arc::new(c))).collect();
        Ok(Registry {
            clients,
            secret_checks: Arc::new(SecretChecks::new()?),
            issuers: TrustedIssuers::new(assertions.issuers),
            assertions: assertions.policy,
            replay: Arc::new(ReplayCache::new(assertions.replay_capacity)),
        })
    }

    /// The registry of a reloaded configuration, taking over `previous`'s brute-force
    /// counters, remembered argon2 successes and seen assertions, the rate-limit budget of
    /// every client whose limit did not change, and the cached keys of every `jwks_uri` and
    /// trusted issuer that did not move: a reload resets no protection and fetches no key
    /// set again. (The replay cache keeps its capacity until a restart.)
    pub(crate) fn succeeding(clients: Vec<Client>, assertions: Assertions, previous: &Registry) -> Self {
        let clients = clients
            .into_iter()
            .map(|mut c| {
                let old = previous.get(&c.id);
                if let (Some(new), Some(old)) = (&c.limiter, old.and_then(|old| old.limiter.as_ref()))
                    && new.limit() == old.limit()
                {
                    c.limiter = Some(Arc::clone(old));
                }
                if let Some(old_keys) = old.and_then(|old| old.keys.as_ref()) {
                    c.keys = c.keys.take().map(|new| new.keep_cache(old_keys));
                }
                (c.id.clone(), Arc::new(c))
            })
            .collect();
        Registry {
            clients,
            secret_checks: Arc::clone(&previous.secret_checks),
            issuers: TrustedIssuers::succeeding(assertions.issuers, &previous.issuers),
            assertions: assertions.policy,
            replay: Arc::clone(&previous.replay),
        }
    }

    /// A registry of `clients` with no trusted issuer and a default assertion policy.
    #[cfg(test)]
    pub(crate) fn for_tests(clients: Vec<Client>) -> Self {
        let policy = AssertionPolicy {
            issuer: "https://tokens.example.com".into(),
            token_endpoint: "https://tokens.example.com/oauth2/token".into(),
            strict_audience: false,
            max_lifetime: std::time::Duration::from_secs(300),
            leeway: std::time::Duration::from_secs(30),
        };
        let assertions = Assertions { issuers: Vec::new(), policy, replay_capacity: 1024 };
        Registry::new(clients, assertions).expect("random generator")
    }

    /// The client with this id, enabled or not.
    pub(crate) fn get(&self, client_id: &str) -> Option<&Arc<Client>> {
        self.clients.get(client_id)
    }

    /// Every configured client.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Client>> {
        self.clients.values()
    }
}
