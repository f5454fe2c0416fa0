//! argon2id checks on the blocking pool, a bounded number at a time.
//!
//! One check costs tens of milliseconds of CPU by design. Running it on an async worker
//! would stall every request on that worker, and running unboundedly many would take every
//! core, so each check runs on tokio's blocking pool while holding one of a fixed number of
//! permits.

use tokio::sync::Semaphore;

use super::Secret;

/// Runs argon2id checks off the async runtime, at most `permits` at once.
#[derive(Debug)]
pub(crate) struct Argon2Pool {
    permits: Semaphore,
}

impl Argon2Pool {
    /// A pool that runs at most `permits` checks at once (at least one).
    pub(crate) fn new(permits: usize) -> Self {
        Argon2Pool { permits: Semaphore::new(permits.max(1)) }
    }

    /// Whether `secret` matches the argon2id PHC string `phc`; waits for a permit first.
    pub(crate) async fn verify(&self, phc: &str, secret: &Secret) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        let (phc, secret) = (phc.to_owned(), secret.clone());
        tokio::task::spawn_blocking(move || verify(&phc, &secret)).await.unwrap_or(false)
    }
}

/// Checks `secret` against one argon2id PHC string, on the calling thread.
pub(crate) fn verify(phc: &str, secret: &Secret) -> bool {
    use argon2::password_hash::PasswordVerifier;
    match argon2::PasswordHash::new(phc) {
        Ok(parsed) => argon2::Argon2::default().verify_password(secret.expose(), &parsed).is_ok(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::SecretHash;

    #[test]
    fn argon2id_hash_verifies() {
        let secret = Secret::new("correct horse".into());
        let phc = SecretHash::argon2id_of(&secret).unwrap();
        assert!(verify(&phc, &secret));
        assert!(!verify(&phc, &Secret::new("wrong".into())));
        assert!(!verify("$argon2id$not a phc string", &secret));
    }

    #[tokio::test]
    async fn the_pool_checks_off_the_runtime() {
        let secret = Secret::new("correct horse".into());
        let phc = SecretHash::argon2id_of(&secret).unwrap();
        let pool = Argon2Pool::new(1);
        assert!(pool.verify(&phc, &secret).await);
        assert!(!pool.verify(&phc, &Secret::new("wrong".into())).await);
    }
}
