//! Derived keys (`keys.source = "derived"`): the key of every rotation period computed from
//! one master secret with HKDF (RFC 5869), so replicas that share the secret agree on every
//! key with no key directory, no files and no coordination.
//!
//! Time is cut into periods of `keys.rotate_every` (`P`) counted from the Unix epoch: period
//! `n` starts at `n·P` and its key signs from then until period `n + 1` starts. The key of
//! period `n` comes from
//!
//! ```text
//! PRK = HKDF-Extract(salt = "tokenmint derived signing keys", IKM = master secret)
//! OKM = HKDF-Expand(PRK, info = "tokenmint derived key v1" ‖ alg ‖ issuer ‖ P ‖ n ‖ attempt, 32)
//! ```
//!
//! (SHA-256; `alg` and `issuer` length-prefixed, `P` in milliseconds and `n` as big-endian
//! u64, `attempt` one byte). For EdDSA the 32 bytes are the Ed25519 seed; for ES256 they are
//! the P-256 private scalar, and the rare value outside `[1, order − 1]` (about one in 2³²)
//! is skipped for the next `attempt`. RSA keys cannot be derived this way: RS256 needs the
//! key directory.
//!
//! Which periods are derived at an instant: every period whose key may still verify a
//! token (it retired less than `keep` ago), the current one, and the next one from
//! `publish_ahead` before it starts. The schedule ([`super::schedule`]) then treats them like
//! keys from the directory.

use std::fmt;
use std::ops::RangeInclusive;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::agreement::{ECDH_P256, PrivateKey};
use aws_lc_rs::encoding::{AsDer as _, EcPrivateKeyRfc5915Der};
use aws_lc_rs::hkdf::{HKDF_SHA256, KeyType, Prk, Salt};
use aws_lc_rs::signature::Ed25519KeyPair;
use serde::Deserialize;
use zeroize::Zeroizing;

use super::schedule::{DatedKey, KeyDates};
use super::{Algorithm, KeyError, KeyPolicy, SigningKey};
use crate::files;

/// Shortest master secret accepted, in bytes: 256 bits if every byte were random. Generate
/// one with `openssl rand -base64 48`.
pub(crate) const MIN_MASTER_SECRET_BYTES: usize = 32;

/// Most keys one instant may need (see [`Deriver::periods`]); configuration refuses a
/// `rotate_every` so short against the token lifetimes that more would be needed.
pub(crate) const MAX_DERIVED_KEYS: u64 = 1000;

/// HKDF salt: fixed, as RFC 5869 §3.1 allows when the input keying material is already a
/// uniformly random secret.
const SALT: &[u8] = b"tokenmint derived signing keys";

/// First part of every HKDF `info`: names the scheme and its version.
const INFO_LABEL: &[u8] = b"tokenmint derived key v1";

/// The master secret: bytes that never reach a log line, an error or a Debug print, and are
/// wiped from memory when dropped.
#[derive(Clone)]
pub(crate) struct MasterSecret(Zeroizing<Vec<u8>>);

impl fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterSecret(<redacted>)")
    }
}

impl MasterSecret {
    /// The secret from text (an environment variable or a file's content), without leading
    /// and trailing whitespace. Refused when shorter than [`MIN_MASTER_SECRET_BYTES`].
    pub(crate) fn from_text(text: &[u8]) -> Result<Self, MasterSecretError> {
        let trimmed = text.trim_ascii();
        if trimmed.len() < MIN_MASTER_SECRET_BYTES {
            return Err(MasterSecretError::TooShort(trimmed.len()));
        }
        Ok(MasterSecret(Zeroizing::new(trimmed.to_vec())))
    }

    /// Reads the secret from `path`.
    pub(crate) fn read(path: &Path) -> Result<Self, MasterSecretError> {
        let in_file = |source| MasterSecretError::File { path: path.to_path_buf(), source: Box::new(source) };
        let bytes = Zeroizing::new(
            files::read_bounded(path, files::MAX_KEY_FILE)
                .map_err(|e| in_file(MasterSecretError::Read(e)))?,
        );
        Self::from_text(&bytes).map_err(in_file)
    }
}

/// Why a master secret was refused. Never quotes the secret.
#[derive(Debug, thiserror::Error)]
pub(crate) enum MasterSecretError {
    /// Fewer than [`MIN_MASTER_SECRET_BYTES`] bytes.
    #[error(
        "the master secret has {0} bytes; at least {MIN_MASTER_SECRET_BYTES} are needed (generate one with \
         `openssl rand -base64 48`)"
    )]
    TooShort(usize),
    /// A number or a boolean where text was expected (an environment variable of digits).
    #[error(
        "the master secret must be text with letters in it, not a number or a boolean (generate one with \
         `openssl rand -base64 48`)"
    )]
    NotText,
    /// The file could not be read (or is not a regular file of at most 64 KiB).
    #[error("{0}")]
    Read(files::ReadError),
    /// A problem with the secret in this file.
    #[error("{}: {source}", path.display())]
    File {
        /// `keys.master_secret_file`.
        path: std::path::PathBuf,
        /// What is wrong.
        source: Box<MasterSecretError>,
    },
}

/// Text only, and no error message ever quotes the value (serde's "invalid type" errors
/// would: an environment variable of digits arrives as a number).
impl<'de> Deserialize<'de> for MasterSecret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            NotText(serde::de::IgnoredAny),
        }
        match Raw::deserialize(d)? {
            Raw::Text(text) => {
                let text = Zeroizing::new(text);
                MasterSecret::from_text(text.as_bytes()).map_err(serde::de::Error::custom)
            }
            Raw::NotText(_) => Err(serde::de::Error::custom(MasterSecretError::NotText)),
        }
    }
}

/// Computes the key of each period. Holds only the HKDF pseudorandom key, not the secret.
pub(crate) struct Deriver {
    prk: Prk,
    alg: Algorithm,
    issuer: String,
    period_ms: u64,
}

impl fmt::Debug for Deriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deriver")
            .field("alg", &self.alg)
            .field("issuer", &self.issuer)
            .field("period_ms", &self.period_ms)
            .finish_non_exhaustive()
    }
}

/// HKDF output length as aws-lc-rs wants it.
struct Len(usize);

impl KeyType for Len {
    fn len(&self) -> usize {
        self.0
    }
}

impl Deriver {
    /// A deriver for `alg` keys of `issuer`, one per `period`. Refuses RS256 and a period
    /// under one millisecond.
    pub(crate) fn new(
        secret: &MasterSecret,
        alg: Algorithm,
        issuer: &str,
        period: Duration,
    ) -> Result<Self, KeyError> {
        if alg == Algorithm::RS256 {
            return Err(KeyError::Rejected {
                alg,
                reason: "RSA keys cannot be derived; use ES256 or EdDSA".into(),
            });
        }
        let period_ms = u64::try_from(period.as_millis()).unwrap_or(u64::MAX);
        if period_ms == 0 {
            return Err(KeyError::Crypto("derived keys need keys.rotate_every of at least 1 ms"));
        }
        let prk = Salt::new(HKDF_SHA256, SALT).extract(&secret.0);
        Ok(Deriver { prk, alg, issuer: issuer.to_owned(), period_ms })
    }

    /// When period `n` starts (and its key starts signing).
    pub(crate) fn period_start(&self, n: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(n.saturating_mul(self.period_ms))
    }

    /// The periods whose keys are needed at `now`: from the oldest whose key retired less
    /// than `keep` ago, to the current one, or the next one once it is `publish_ahead` away.
    pub(crate) fn periods(
        &self,
        now: SystemTime,
        publish_ahead: Duration,
        keep: Duration,
    ) -> RangeInclusive<u64> {
        let ms = |t: SystemTime| t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis()) as u64;
        let now_ms = ms(now);
        let current = now_ms / self.period_ms;
        // Period j's key retires when j + 1 starts and is needed until `keep` after that.
        let first = now_ms.saturating_sub(keep.as_millis() as u64) / self.period_ms;
        let next_starts = current.saturating_add(1).saturating_mul(self.period_ms);
        let ahead = now_ms.saturating_add(publish_ahead.as_millis() as u64) >= next_starts;
        first.min(current)..=if ahead { current + 1 } else { current }
    }

    /// The periods whose keys are needed at `now` under `policy`: [`Deriver::periods`] with
    /// [`KeyPolicy::verifies_for`].
    pub(crate) fn needed(&self, now: SystemTime, policy: &KeyPolicy) -> RangeInclusive<u64> {
        self.periods(now, policy.publish_ahead, policy.verifies_for())
    }

    /// The key of period `n` with its dates: created and activated when the period starts.
    pub(crate) fn dated_key(&self, n: u64) -> Result<DatedKey, KeyError> {
        let start = self.period_start(n);
        let dates = KeyDates { created_at: start, activate_at: start, revoked_at: None };
        Ok(DatedKey { key: Arc::new(self.key(n)?), dates })
    }

    /// The key of period `n`.
    pub(crate) fn key(&self, n: u64) -> Result<SigningKey, KeyError> {
        for attempt in 0..=u8::MAX {
            let okm = self.okm(n, attempt)?;
            match self.alg {
                Algorithm::EdDSA => {
                    let pair = Ed25519KeyPair::from_seed_unchecked(&okm[..])
                        .map_err(|_| KeyError::Crypto("Ed25519 key from derived seed"))?;
                    let pkcs8 = pair.to_pkcs8v1().map_err(|_| KeyError::Crypto("Ed25519 key encoding"))?;
                    return SigningKey::from_pkcs8(pkcs8.as_ref(), Some(Algorithm::EdDSA));
                }
                Algorithm::ES256 => {
                    // Out of range (zero, or not below the group order): take the next attempt.
                    let Ok(private) = PrivateKey::from_private_key(&ECDH_P256, &okm[..]) else { continue };
                    let der: EcPrivateKeyRfc5915Der<'static> =
                        private.as_der().map_err(|_| KeyError::Crypto("P-256 key encoding"))?;
                    return SigningKey::from_pem_block(
                        "EC PRIVATE KEY",
                        der.as_ref(),
                        Some(Algorithm::ES256),
                    );
                }
                Algorithm::RS256 => break,
            }
        }
        Err(KeyError::Crypto("no usable key derived for this period"))
    }

    /// 32 bytes of HKDF output for period `n`, attempt `attempt`.
    fn okm(&self, n: u64, attempt: u8) -> Result<Zeroizing<[u8; 32]>, KeyError> {
        let alg = self.alg.as_str().as_bytes();
        let issuer = self.issuer.as_bytes();
        let (alg_len, issuer_len) = (len_prefix(alg), len_prefix(issuer));
        let (period, n, attempt) = (self.period_ms.to_be_bytes(), n.to_be_bytes(), [attempt]);
        let info: [&[u8]; 8] = [INFO_LABEL, &alg_len, alg, &issuer_len, issuer, &period, &n, &attempt];
        let mut out = Zeroizing::new([0u8; 32]);
        self.prk
            .expand(&info, Len(32))
            .and_then(|okm| okm.fill(&mut out[..]))
            .map_err(|_| KeyError::Crypto("HKDF"))?;
        Ok(out)
    }
}

/// A field's length as four big-endian bytes, so that no two `info` strings run together.
fn len_prefix(field: &[u8]) -> [u8; 4] {
    u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> MasterSecret {
        MasterSecret::from_text(text.as_bytes()).unwrap()
    }

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test-master-secret";

    #[test]
    fn the_same_inputs_give_the_same_key_and_any_change_gives_another() {
        let hour = Duration::from_secs(3600);
        for alg in [Algorithm::ES256, Algorithm::EdDSA] {
            let d = Deriver::new(&secret(SECRET), alg, "https://a.test", hour).unwrap();
            let kid = d.key(7).unwrap().kid().to_owned();
            assert_eq!(
                Deriver::new(&secret(SECRET), alg, "https://a.test", hour).unwrap().key(7).unwrap().kid(),
                kid
            );
            let others = [
                d.key(8).unwrap(),
                Deriver::new(&secret(&format!("{SECRET}x")), alg, "https://a.test", hour)
                    .unwrap()
                    .key(7)
                    .unwrap(),
                Deriver::new(&secret(SECRET), alg, "https://b.test", hour).unwrap().key(7).unwrap(),
                Deriver::new(&secret(SECRET), alg, "https://a.test", hour * 2).unwrap().key(7).unwrap(),
            ];
            for other in others {
                assert_ne!(other.kid(), kid, "{alg}");
            }
        }
        let es = Deriver::new(&secret(SECRET), Algorithm::ES256, "https://a.test", hour).unwrap();
        let ed = Deriver::new(&secret(SECRET), Algorithm::EdDSA, "https://a.test", hour).unwrap();
        assert_ne!(es.key(7).unwrap().kid(), ed.key(7).unwrap().kid());
    }

    #[test]
    fn short_secrets_and_rsa_are_refused_and_nothing_secret_is_printed() {
        assert!(MasterSecret::from_text(b"  too short  \n").unwrap_err().to_string().contains("at least 32"));
        let s = secret(&format!("  {SECRET}\n"));
        assert_eq!(format!("{s:?}"), "MasterSecret(<redacted>)");
        let d = Deriver::new(&s, Algorithm::ES256, "https://a.test", Duration::from_secs(60)).unwrap();
        assert!(!format!("{d:?}").contains(SECRET));
        assert!(Deriver::new(&s, Algorithm::RS256, "https://a.test", Duration::from_secs(60)).is_err());
        // A value that is not text is refused without being quoted.
        let err = serde_json::from_str::<MasterSecret>("98765432109876543210").unwrap_err().to_string();
        assert!(err.contains("must be text") && !err.contains("98765"), "{err}");
        let ok: MasterSecret = serde_json::from_str(&format!("\"{SECRET}\"")).unwrap();
        let from_json = Deriver::new(&ok, Algorithm::EdDSA, "i", Duration::from_secs(60)).unwrap();
        // Leading and trailing whitespace (a file's final newline) is not part of the secret.
        let plain = Deriver::new(&secret(SECRET), Algorithm::EdDSA, "i", Duration::from_secs(60)).unwrap();
        let padded = Deriver::new(&s, Algorithm::EdDSA, "i", Duration::from_secs(60)).unwrap();
        assert_eq!(plain.key(1).unwrap().kid(), padded.key(1).unwrap().kid());
        assert_eq!(plain.key(1).unwrap().kid(), from_json.key(1).unwrap().kid());
    }

    #[test]
    fn the_window_keeps_retired_keys_and_adds_the_next_one_ahead_of_time() {
        let d = Deriver::new(&secret(SECRET), Algorithm::EdDSA, "i", Duration::from_secs(100)).unwrap();
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        let (ahead, keep) = (Duration::from_secs(30), Duration::from_secs(150));
        // Period 10 is [1000, 1100). Key 8 retired at 900 and is kept until 1050.
        assert_eq!(d.periods(at(1010), ahead, keep), 8..=10);
        assert_eq!(d.periods(at(1060), ahead, keep), 9..=10);
        // From 1070 (30 s before 1100) period 11 is derived too.
        assert_eq!(d.periods(at(1069), ahead, keep), 9..=10);
        assert_eq!(d.periods(at(1070), ahead, keep), 9..=11);
        assert_eq!(d.period_start(11), at(1100));
        // Near the epoch nothing underflows.
        assert_eq!(d.periods(at(5), ahead, keep), 0..=0);
    }
}
