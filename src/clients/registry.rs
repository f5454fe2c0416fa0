//! The client registry: O(1) lookup by `client_id`, and client authentication.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::hmac;

use super::Client;
use crate::credentials::{self, Argon2Pool, Attempt, Secret, SecretHash, SecretHashError, Throttle};

/// How many remembered argon2 successes the cache holds. Bounds memory whatever clients
/// send; an evicted entry only costs one more argon2 check.
const ARGON2_CACHE_CAPACITY: usize = 4096;

/// Why a client failed to authenticate. All of them answer `invalid_client` on the wire;
/// all but [`ClientError::Throttled`] (429) with the same status and description.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// An argon2 client's id, or the caller's address, is backing off after failed
    /// secrets (RFC 6749 §2.3.1); nothing was checked.
    #[error("too many failed attempts")]
    Throttled {
        /// How long until an attempt may be admitted again.
        retry_after: Duration,
    },
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
    /// stored hash too, so changing a client's hash invalidates its entries. Bounded: past
    /// [`ARGON2_CACHE_CAPACITY`], the least useful entries go.
    argon2_ok: quick_cache::sync::Cache<[u8; 32], ()>,
    /// Per-process random key for the remembered-success digests.
    cache_key: hmac::Key,
    /// Runs argon2 checks off the runtime, one per core at most, so a flood of slow checks
    /// cannot take every blocking thread.
    argon2: Argon2Pool,
    /// Brute-force protection for argon2 clients (RFC 6749 §2.3.1): failures, and checks in
    /// flight, by `client_id` and by address. sha256 clients never touch it.
    throttle: Throttle,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry").field("clients", &self.clients.len()).finish_non_exhaustive()
    }
}

impl Registry {
    /// Builds the registry. Client ids are unique: configuration refuses duplicates. Fails
    /// only if the system random generator does (for the remembered-success key).
    pub(crate) fn new(clients: Vec<Client>) -> Result<Self, SecretHashError> {
        let clients = clients.into_iter().map(|c| (c.id.clone(), Arc::new(c))).collect();
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let cache_key = hmac::Key::generate(hmac::HMAC_SHA256, &rng).map_err(|_| SecretHashError::Random)?;
        let permits = std::thread::available_parallelism().map_or(2, |n| n.get());
        Ok(Registry {
            clients,
            argon2_ok: quick_cache::sync::Cache::new(ARGON2_CACHE_CAPACITY),
            cache_key,
            argon2: Argon2Pool::new(permits),
            throttle: Throttle::default(),
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

    /// Authenticates a client by id and secret (RFC 6749 §2.3.1); `address` is the caller's,
    /// for the brute-force throttle.
    ///
    /// SHA-256 hashes are checked inline (microseconds), with no lock and no allocation: a
    /// generated 256-bit secret needs no throttle. argon2id hashes (human-chosen secrets) go
    /// through the throttle first (per client id and per address, counting checks still
    /// running), then are checked on the blocking pool, at most one per core at a time; a
    /// success is remembered so the cost is paid once per secret, not once per request.
    pub(crate) async fn authenticate(
        &self,
        client_id: &str,
        presented: &Secret,
        address: Option<IpAddr>,
    ) -> Result<Arc<Client>, ClientError> {
        let Some(client) = self.clients.get(client_id) else {
            return Err(ClientError::Unknown);
        };
        if !client.enabled {
            return Err(ClientError::Disabled);
        }
        let digest = credentials::sha256_digest(presented);
        if credentials::matches_any_sha256(&digest, &client.secret_hashes) {
            return Ok(Arc::clone(client));
        }
        if !client.secret_hashes.iter().any(SecretHash::is_slow) {
            return Err(ClientError::BadSecret);
        }
        self.authenticate_argon2(client, presented, address).await
    }

    /// The argon2 half of [`authenticate`](Self::authenticate), under the throttle.
    async fn authenticate_argon2(
        &self,
        client: &Arc<Client>,
        presented: &Secret,
        address: Option<IpAddr>,
    ) -> Result<Arc<Client>, ClientError> {
        // (PHC string, remembered-success key) for each argon2 hash; usually one.
        let candidates: Vec<(&str, [u8; 32])> = client
            .secret_hashes
            .iter()
            .filter_map(SecretHash::argon2id_phc)
            .map(|phc| (phc, self.cache_entry(&client.id, phc, presented)))
            .collect();
        // A remembered secret is answered only when a fresh check would be admitted, so a
        // blocked guesser cannot use the cache to test guesses without paying for them.
        let known_good = || candidates.iter().any(|(_, key)| self.argon2_ok.get(key).is_some());
        let admitted = self.throttle.begin_unless(&client.id, address, Instant::now(), known_good);
        let attempt: Attempt<'_> = match admitted {
            Ok(Some(attempt)) => attempt,
            Ok(None) => return Ok(Arc::clone(client)),
            Err(retry_after) => return Err(ClientError::Throttled { retry_after }),
        };
        for (phc, key) in &candidates {
            if self.argon2.verify(phc, presented).await {
                self.argon2_ok.insert(*key, ());
                attempt.succeeded(Instant::now());
                return Ok(Arc::clone(client));
            }
        }
        attempt.failed(Instant::now());
        Err(ClientError::BadSecret)
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
