//! The client registry: O(1) lookup by `client_id`. Authentication is in [`super::auth`].

use std::collections::HashMap;
use std::sync::Arc;

use super::Client;
use super::auth::SecretChecks;
use crate::credentials::SecretHashError;

/// All configured clients, keyed by `client_id`.
pub(crate) struct Registry {
    clients: HashMap<String, Arc<Client>>,
    /// What checking argon2id secrets needs: the throttle and remembered successes.
    pub(super) secret_checks: SecretChecks,
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
        Ok(Registry { clients, secret_checks: SecretChecks::new()? })
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
