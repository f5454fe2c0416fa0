//! The client registry: O(1) lookup by `client_id`, and client authentication.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};

use aws_lc_rs::hmac;
use tokio::sync::Semaphore;

use super::Client;
use super::secret::{self, Secret, SecretHash, SecretHashError};

/// How many remembered argon2 successes the cache holds before it starts over. Bounds memory
/// whatever clients send; a cleared entry only costs one more argon2 check.
const ARGON2_CACHE_CAPACITY: usize = 4096;

/// Why a client failed to authenticate. All of them answer `invalid_client` on the wire;
/// the variants exist for the log.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// No client has this id.
    #[error("unknown client")]
    Unknown,
    /// The client exists but is disabled in configuration.
    #[error("client is disabled")]
    Disabled,
    /// The presented secret matches none of the client's hashes.
    #[error("wrong client secret")]
    BadSecret,
}

/// All configured clients, keyed by `client_id`.
pub(crate) struct Registry {
    clients: HashMap<String, Arc<Client>>,
    /// Remembered argon2 successes: HMAC(process key, client id, hash, secret). Keyed by the
    /// stored hash too, so changing a client's hash invalidates its entries.
    argon2_ok: Mutex<HashSet<[u8; 32]>>,
    /// Per-process random key for the remembered-success digests.
    cache_key: hmac::Key,
    /// Bounds concurrent argon2 checks so a flood of slow checks cannot take every
    /// blocking thread.
    argon2_permits: Semaphore,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("clients", &self.clients.len()).finish_non_exhaustive()
    }
}

impl Registry {
    /// Builds the registry; fails on a duplicate `client_id`.
    pub(crate) fn new(clients: Vec<Client>) -> Result<Self, Vec<String>> {
        let mut map = HashMap::with_capacity(clients.len());
        let mut errors = Vec::new();
        for client in clients {
            let id = client.id.clone();
            if map.insert(id.clone(), Arc::new(client)).is_some() {
                errors.push(format!("client `{id}` is configured more than once"));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let cache_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .map_err(|_| vec![SecretHashError::Random.to_string()])?;
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Registry {
            clients: map,
            argon2_ok: Mutex::new(HashSet::new()),
            cache_key,
            argon2_permits: Semaphore::new(permits),
        })
    }

    /// The client with this id, enabled or not.
    pub(crate) fn get(&self, client_id: &str) -> Option<&Arc<Client>> {
        self.clients.get(client_id)
    }

    /// Every configured client.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Arc<Client>> {
        self.clients.values()
    }

    /// Authenticates a client by id and secret (RFC 6749 §2.3.1).
    ///
    /// SHA-256 hashes are checked inline (microseconds). argon2id hashes are checked on the
    /// blocking pool, at most one per core at a time, and a success is remembered so the
    /// cost is paid once per secret, not once per request.
    pub(crate) async fn authenticate(
        &self,
        client_id: &str,
        presented: &Secret,
    ) -> Result<Arc<Client>, ClientError> {
        let Some(client) = self.clients.get(client_id) else {
            return Err(ClientError::Unknown);
        };
        if !client.enabled {
            return Err(ClientError::Disabled);
        }
        let digest = secret::sha256_digest(presented);
        if secret::matches_any_sha256(&digest, &client.secret_hashes) {
            return Ok(Arc::clone(client));
        }
        for hash in client.secret_hashes.iter().filter(|h| h.is_slow()) {
            if self.check_argon2(client, hash, presented).await {
                return Ok(Arc::clone(client));
            }
        }
        Err(ClientError::BadSecret)
    }

    async fn check_argon2(&self, client: &Client, hash: &SecretHash, presented: &Secret) -> bool {
        let SecretHash::Argon2id(phc) = hash else {
            return false;
        };
        let key = self.cache_entry(&client.id, phc, presented);
        if self.remembered().contains(&key) {
            return true;
        }
        let ok = secret::verify_argon2id_bounded(&self.argon2_permits, phc, presented).await;
        if ok {
            let mut cache = self.remembered();
            if cache.len() >= ARGON2_CACHE_CAPACITY {
                cache.clear();
            }
            cache.insert(key);
        }
        ok
    }

    fn remembered(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        // The set holds no invariant a panic could break, so a poisoned lock is still usable.
        self.argon2_ok.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn cache_entry(&self, client_id: &str, phc: &str, presented: &Secret) -> [u8; 32] {
        let mut ctx = hmac::Context::with_key(&self.cache_key);
        for part in [client_id.as_bytes(), phc.as_bytes(), presented.expose()] {
            ctx.update(&(part.len() as u64).to_be_bytes());
            ctx.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.sign().as_ref());
        out
    }
}
