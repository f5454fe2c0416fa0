//! The client registry: O(1) lookup by `client_id`. Authentication is in [`super::auth`].

use std::collections::HashMap;
use std::sync::Arc;

use super::Client;
use super::auth::SecretChecks;
use crate::credentials::SecretHashError;

/// All configured clients, keyed by `client_id`.
pub(crate) struct Registry {
    clients: HashMap<String, Arc<Client>>,
    /// What checking argon2id secrets needs: the throttle and remembered successes. Shared
    /// with the registry a configuration reload replaces, so a reload resets no counter.
    pub(super) secret_checks: Arc<SecretChecks>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("clients", &self.clients.len()).finish_non_exhaustive()
    }
}

impl Registry {
    /// Builds the registry. Client ids are unique: configuration refuses duplicates. Fails
    /// only if the system random generator does.
    pub(crate) fn new(clients: Vec<Client>) -> Result<Self, SecretHashError> {
        let clients = clients.into_iter().map(|c| (c.id.clone(), Arc::new(c))).collect();
        Ok(Registry { clients, secret_checks: Arc::new(SecretChecks::new()?) })
    }

    /// The registry of a reloaded configuration, taking over `previous`'s brute-force
    /// counters and remembered argon2 successes, and the rate-limit budget of every client
    /// whose limit did not change: a reload resets no protection.
    pub(crate) fn succeeding(clients: Vec<Client>, previous: &Registry) -> Self {
        let clients = clients
            .into_iter()
            .map(|mut c| {
                let old = previous.get(&c.id).and_then(|old| old.limiter.as_ref());
                if let (Some(new), Some(old)) = (&c.limiter, old)
                    && new.limit() == old.limit()
                {
                    c.limiter = Some(Arc::clone(old));
                }
                (c.id.clone(), Arc::new(c))
            })
            .collect();
        Registry { clients, secret_checks: Arc::clone(&previous.secret_checks) }
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
