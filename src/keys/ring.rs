//! The key ring: the signing key and the published set, swapped atomically.
//!
//! Readers (every token request, every JWKS request) take a cheap snapshot with no lock.
//! A new [`KeySet`] is built completely before it is swapped in, so no request ever sees a
//! half-built set.

use std::sync::Arc;
use std::time::SystemTime;

use arc_swap::ArcSwap;
use jsonwebtoken::DecodingKey;

use super::jwks::JwksDocument;
use super::store::StoredKey;
use super::{Algorithm, KeyError, KeyStore, SigningKey};
use crate::verify::Jwks;

/// One consistent view of the keys.
#[derive(Debug)]
pub(crate) struct KeySet {
    /// The key that signs new tokens.
    pub(crate) signing: Arc<SigningKey>,
    /// Every key a verifier may meet (the signing key included), newest first.
    pub(crate) published: Vec<Arc<SigningKey>>,
    /// The serialized JWKS of `published`.
    pub(crate) jwks: JwksDocument,
    /// `published` as verification keys, for introspection.
    pub(crate) verify: Jwks,
}

impl KeySet {
    /// Builds a set from stored keys: the newest key of `alg` signs (ties broken by kid);
    /// every key is published. `None` if no key of `alg` is present.
    pub(crate) fn select(mut keys: Vec<StoredKey>, alg: Algorithm) -> Result<Option<Self>, KeyError> {
        keys.sort_by(|a, b| b.created_at.cmp(&a.created_at).then_with(|| a.key.kid().cmp(b.key.kid())));
        let published: Vec<Arc<SigningKey>> = keys.into_iter().map(|k| Arc::new(k.key)).collect();
        let Some(signing) = published.iter().find(|k| k.alg() == alg).cloned() else {
            return Ok(None);
        };
        let jwks = JwksDocument::build(published.iter().map(|k| k.as_ref()))?;
        let verify = Jwks::from_keys(
            published
                .iter()
                .map(|k| Ok((k.kid().to_owned(), k.alg().to_jwt(), DecodingKey::from_jwk(k.jwk())?)))
                .collect::<Result<Vec<_>, KeyError>>()?,
        );
        Ok(Some(KeySet { signing, published, jwks, verify }))
    }
}

/// The live key set, shared by every request.
#[derive(Debug)]
pub(crate) struct KeyRing {
    current: ArcSwap<KeySet>,
}

impl KeyRing {
    /// Loads the store and selects the signing key for `alg`. When no key of `alg` exists
    /// (a fresh deployment), one is created and written to the store.
    pub(crate) fn open(store: &KeyStore, alg: Algorithm, now: SystemTime) -> Result<Self, KeyError> {
        let (mut keys, errors) = store.load();
        for e in &errors {
            tracing::error!(error = %e, "skipping unusable key file");
        }
        if !keys.iter().any(|k| k.key.alg() == alg) {
            let created = store.create(alg, now)?;
            tracing::warn!(
                kid = created.key.kid(),
                alg = %alg,
                path = %created.path.display(),
                "no {alg} signing key in {}: created a new one",
                store.dir().display()
            );
            keys.push(created);
        }
        let set = KeySet::select(keys, alg)?.ok_or(KeyError::Crypto("no signing key after creation"))?;
        tracing::info!(kid = set.signing.kid(), alg = %alg, published = set.published.len(), "signing key selected");
        Ok(KeyRing { current: ArcSwap::from_pointee(set) })
    }

    /// A snapshot of the current set.
    pub(crate) fn current(&self) -> Arc<KeySet> {
        self.current.load_full()
    }
}
