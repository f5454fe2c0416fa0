//! `[server.tls]`: TLS on the service's own port, with rustls (through `tokio-rustls`) on the
//! aws-lc-rs provider, TLS 1.2 and 1.3 with rustls' safe defaults, and ALPN offering `h2`
//! then `http/1.1`. No TLS code of our own: this module loads a certificate chain and its
//! key from PEM files, and swaps them in when the files change.
//!
//! The server configuration is built once; the certificate comes from [`Certificates`], a
//! resolver that hands every new handshake the pair loaded last. Reloading
//! ([`Certificates::reload`]) reads both files again (the Secret's symlink swap included) and
//! swaps the pair in only when it parses and the key matches the certificate; otherwise the
//! old pair stays, and the caller logs why and counts a failed reload. Connections already
//! established keep the certificate they were made with.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

use crate::credentials::sha256;
use crate::files::{self, ReadError};

/// The ALPN protocols offered, most preferred first (RFC 7301; RFC 9113 §3.2 for `h2`).
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// Why a certificate and key pair was not loaded. Never quotes the key.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: ReadError,
    },
    /// The certificate file holds no PEM certificate, or a broken one.
    #[error("{}: no usable PEM certificate ({reason})", path.display())]
    Certificate {
        /// The file.
        path: PathBuf,
        /// What the PEM reader said.
        reason: String,
    },
    /// The key file holds no PEM private key (PKCS#8, PKCS#1 or SEC1), or a broken one.
    #[error("{}: no usable PEM private key ({reason})", path.display())]
    Key {
        /// The file.
        path: PathBuf,
        /// What the PEM reader or the crypto provider said.
        reason: String,
    },
    /// The key is not the certificate's, or the certificate does not parse.
    #[error("the key in {} does not belong to the certificate in {}: {reason}", key.display(), cert.display())]
    Mismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls' reason.
        reason: rustls::Error,
    },
    /// rustls refused the protocol versions (cannot happen with its own defaults).
    #[error("TLS configuration: {0}")]
    Config(rustls::Error),
}

/// The certificate chain and key every new handshake gets: the last pair that loaded.
pub(crate) struct Certificates {
    /// The PEM certificate chain file (`tls.crt` of a Kubernetes TLS Secret).
    cert_file: PathBuf,
    /// The PEM private key file (`tls.key`).
    key_file: PathBuf,
    current: ArcSwap<CertifiedKey>,
    /// SHA-256 of both files' bytes when last loaded (or last refused): a reload reads
    /// them again and parses only when they changed.
    digest: ArcSwap<[u8; 32]>,
}

impl std::fmt::Debug for Certificates {
    // The key stays out of every log line.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("cert_file", &self.cert_file)
            .field("key_file", &self.key_file)
            .finish_non_exhaustive()
    }
}

/// What a reload found.
#[derive(Debug)]
pub(crate) enum Reload {
    /// Neither file changed.
    Unchanged,
    /// A new pair serves the next handshakes.
    Loaded,
    /// The files changed but the new pair was refused; the old one stays.
    Refused(TlsError),
}

impl Certificates {
    /// Loads the pair at startup; an error stops the service from starting.
    pub(crate) fn load(cert_file: &Path, key_file: &Path) -> Result<Certificates, TlsError> {
        let (pair, digest) = read_pair(cert_file, key_file)?;
        Ok(Certificates {
            cert_file: cert_file.to_path_buf(),
            key_file: key_file.to_path_buf(),
            current: ArcSwap::from_pointee(pair?),
            digest: ArcSwap::from_pointee(digest),
        })
    }

    /// The certificate file.
    pub(crate) fn cert_file(&self) -> &Path {
        &self.cert_file
    }

    /// The key file.
    pub(crate) fn key_file(&self) -> &Path {
        &self.key_file
    }

    /// Reads both files again; when they changed, swaps in the new pair if it loads. Blocking
    /// file I/O: call it off the async workers.
    pub(crate) fn reload(&self) -> Reload {
        let (pair, digest) = match read_pair(&self.cert_file, &self.key_file) {
            Ok(read) => read,
            // A file missing or unreadable mid-swap: try again at the next wake-up.
            Err(e) => return Reload::Refused(e),
        };
        if *self.digest.load_full() == digest {
            return Reload::Unchanged;
        }
        self.digest.store(Arc::new(digest));
        match pair {
            Ok(pair) => {
                self.current.store(Arc::new(pair));
                Reload::Loaded
            }
            Err(e) => Reload::Refused(e),
        }
    }

    /// The TLS configuration of the service's port: rustls' defaults on the aws-lc-rs
    /// provider, certificates from `self`, ALPN `h2` and `http/1.1`.
    pub(crate) fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        let resolver: Arc<dyn ResolvesServerCert> = Arc::clone(self) as _;
        let mut config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Config)?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// The aws-lc-rs provider, the crypto library behind signing too.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

/// Both files read (an error if either cannot be), their digest, and the pair they make.
type ReadPair = (Result<CertifiedKey, TlsError>, [u8; 32]);

fn read_pair(cert_file: &Path, key_file: &Path) -> Result<ReadPair, TlsError> {
    let read = |path: &Path| {
        files::read_bounded(path, files::MAX_TLS_FILE)
            .map_err(|source| TlsError::Read { path: path.to_path_buf(), source })
    };
    let (cert_pem, key_pem) = (read(cert_file)?, read(key_file)?);
    let mut both = Vec::with_capacity(cert_pem.len() + key_pem.len() + 1);
    both.extend_from_slice(&cert_pem);
    both.push(0);
    both.extend_from_slice(&key_pem);
    let digest = sha256(&both);
    zeroize::Zeroize::zeroize(&mut both);
    let pair = parse_pair(cert_file, &cert_pem, key_file, &key_pem);
    let mut key_pem = key_pem;
    zeroize::Zeroize::zeroize(&mut key_pem);
    Ok((pair, digest))
}

/// The pair from the PEM text of both files: a chain of at least one certificate, a key the
/// provider can sign with, and the key the certificate's.
fn parse_pair(
    cert_file: &Path,
    cert_pem: &[u8],
    key_file: &Path,
    key_pem: &[u8],
) -> Result<CertifiedKey, TlsError> {
    let chain = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Certificate { path: cert_file.to_path_buf(), reason: e.to_string() })?;
    if chain.is_empty() {
        return Err(TlsError::Certificate {
            path: cert_file.to_path_buf(),
            reason: "no CERTIFICATE section".to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| TlsError::Key { path: key_file.to_path_buf(), reason: e.to_string() })?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| TlsError::Key { path: key_file.to_path_buf(), reason: e.to_string() })?;
    let pair = CertifiedKey::new(chain, signing);
    pair.keys_match().map_err(|reason| TlsError::Mismatch {
        cert: cert_file.to_path_buf(),
        key: key_file.to_path_buf(),
        reason,
    })?;
    Ok(pair)
}
