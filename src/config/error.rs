//! What can be wrong with a configuration: one [`Problem`] per mistake, gathered before
//! failing, formatted once when printed.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use super::{MAX_DURATION, MAX_LEEWAY};
use crate::clients::{ClientProblem, IssuerProblem};
use crate::keys::{KeyProblem, MasterSecretError};
use crate::users::UserProblem;

/// A configuration that failed validation: every problem found.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:{}", Listed(.errors))]
pub struct ConfigError {
    /// Each problem, in the order found.
    pub errors: Vec<Problem>,
}

impl ConfigError {
    /// A configuration error with these problems.
    pub(crate) fn new(errors: Vec<Problem>) -> Self {
        ConfigError { errors }
    }
}

impl From<Problem> for ConfigError {
    fn from(problem: Problem) -> Self {
        ConfigError::new(vec![problem])
    }
}

/// The problems one per line, each after `\n  - `.
struct Listed<'a>(&'a [Problem]);

impl fmt::Display for Listed<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|p| write!(f, "\n  - {p}"))
    }
}

/// One mistake in the configuration, in a sentence that names the setting.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct Problem(#[from] Kind);

/// The kinds of [`Problem`]. Settings modules report their own kinds (clients, users,
/// keys); the rest are checks of sections configuration owns, or across sections.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Kind {
    /// `--config FILE` names no file.
    #[error("config file {} not found", .0.display())]
    NotFound(PathBuf),
    /// The file cannot be read, or is not TOML.
    #[error("{name}: {message}")]
    File {
        /// The file.
        name: String,
        /// The reader's or parser's message.
        message: String,
    },
    /// `clients` or `users` written as something else than a list of tables.
    #[error("`{key}` must be a list of tables ([[{key}]]) in {name}")]
    NotAList {
        /// `clients` or `users`.
        key: &'static str,
        /// The file.
        name: String,
    },
    /// A top-level setting tokenmint does not know.
    #[error("unknown setting `{key}`{origin}")]
    UnknownSetting {
        /// The setting.
        key: String,
        /// Where it was set (` (from ...)`), if known.
        origin: String,
    },
    /// A value that does not deserialize (serde's or figment's message).
    #[error("{setting}: {message}{origin}")]
    Invalid {
        /// The setting, or the entry of a list.
        setting: String,
        /// What is wrong with it.
        message: String,
        /// Where it was set (` (from ...)`), if known.
        origin: String,
    },
    /// The layers could not be merged (figment's message).
    #[error("{0}")]
    Layers(String),
    /// An issuer that is not an https URL (http only for a loopback host).
    #[error(
        "issuer `{0}` must be an https:// URL; http:// only for localhost or a loopback address (RFC 8414 §2)"
    )]
    IssuerScheme(String),
    /// An issuer with a query or a fragment.
    #[error("issuer `{0}` must not have a query or fragment (RFC 8414 §2)")]
    IssuerQuery(String),
    /// An issuer with user information (`user:password@`). Not quoted: it may hold a password.
    #[error("issuer must not carry user information (`user:password@host`, RFC 8414 §2)")]
    IssuerUserinfo,
    /// An issuer with characters a URI cannot hold as they are (spaces, controls, non-ASCII).
    #[error(
        "issuer `{0}` has characters a URL cannot carry unencoded (spaces, controls, non-ASCII; RFC 3986 §2)"
    )]
    IssuerChars(String),
    /// An issuer that is not a URL.
    #[error("issuer `{issuer}` is not a valid URL: {reason}")]
    IssuerUrl {
        /// The issuer.
        issuer: String,
        /// Why it does not parse.
        reason: url::ParseError,
    },
    /// `tokens.ttl = "0s"`.
    #[error("tokens.ttl must be longer than zero")]
    ZeroTtl,
    /// `tokens.max_ttl` below `tokens.ttl`.
    #[error(
        "tokens.max_ttl ({}) must not be shorter than tokens.ttl ({})",
        humantime::format_duration(*max_ttl),
        humantime::format_duration(*ttl)
    )]
    MaxTtlBelowTtl {
        /// `tokens.max_ttl`.
        max_ttl: Duration,
        /// `tokens.ttl`.
        ttl: Duration,
    },
    /// `tokens.refresh_ttl = "0s"`.
    #[error("tokens.refresh_ttl must be longer than zero")]
    ZeroRefreshTtl,
    /// A leeway over [`MAX_LEEWAY`].
    #[error(
        "tokens.leeway ({}) must be at most {} (RFC 8725 §3.10)",
        humantime::format_duration(*.0),
        humantime::format_duration(MAX_LEEWAY)
    )]
    LeewayTooLong(Duration),
    /// A duration over [`MAX_DURATION`].
    #[error("{setting} must be at most 10 years ({})", humantime::format_duration(MAX_DURATION))]
    TooLong {
        /// The setting's name.
        setting: &'static str,
    },
    /// A key setting that breaks a rotation invariant.
    #[error(transparent)]
    Keys(#[from] KeyProblem),
    /// `keys.master_secret` in the file.
    #[error(
        "keys.master_secret must not be written in the configuration file: put the secret in a file \
         (keys.master_secret_file) or in the environment variable TOKENMINT_KEYS__MASTER_SECRET"
    )]
    MasterSecretInFile,
    /// `keys.master_secret_file` unreadable or too short.
    #[error("keys.master_secret_file: {0}")]
    MasterSecretFile(MasterSecretError),
    /// A zero size limit.
    #[error("server.max_body_bytes and server.max_header_bytes must be greater than zero")]
    ZeroSizeLimit,
    /// `server.request_timeout = "0s"`.
    #[error("server.request_timeout must be longer than zero")]
    ZeroRequestTimeout,
    /// `server.header_read_timeout = "0s"`.
    #[error("server.header_read_timeout must be longer than zero")]
    ZeroHeaderReadTimeout,
    /// `server.max_connections = 0`.
    #[error("server.max_connections must be at least 1 (leave it out for no limit)")]
    ZeroMaxConnections,
    /// `server.max_concurrent_streams = 0`.
    #[error("server.max_concurrent_streams must be at least 1")]
    ZeroMaxConcurrentStreams,
    /// `metrics.bind` is `server.bind`.
    #[error("metrics.bind must differ from server.bind: metrics are served on a listener of their own")]
    MetricsOnServerPort,
    /// `grants.disabled` names a grant type tokenmint does not have.
    #[error("grants.disabled: unknown grant type `{0}`")]
    UnknownDisabledGrant(String),
    /// A problem with one `[[clients]]` entry.
    #[error("{label}: {problem}")]
    Client {
        /// Which entry: `clients[3] (id `billing`)` or `TOKENMINT_CLIENTS__BILLING__*`.
        label: String,
        /// What is wrong.
        problem: ClientProblem,
    },
    /// A problem with one `[[users]]` entry.
    #[error("{label}: {problem}")]
    User {
        /// Which entry.
        label: String,
        /// What is wrong.
        problem: UserProblem,
    },
    /// Two clients with one id.
    #[error("client `{0}` is configured more than once")]
    DuplicateClient(String),
    /// Two users with one name.
    #[error("user `{0}` is configured more than once")]
    DuplicateUser(String),
    /// A client id that is also a username.
    #[error(
        "client `{0}` and user `{0}` have the same name: the tokens of both would carry `\"sub\":\"{0}\"`, \
         so a resource server could not tell the client from the user (RFC 9068 §2.2, §5); rename one of them"
    )]
    ClientIsUser(String),
    /// A problem with one `[[trusted_issuers]]` entry.
    #[error("{label}: {problem}")]
    TrustedIssuer {
        /// Which entry: `trusted_issuers[0] (issuer `https://...`)`.
        label: String,
        /// What is wrong.
        problem: IssuerProblem,
    },
    /// Two trusted issuers with one `issuer`.
    #[error("trusted issuer `{0}` is configured more than once")]
    DuplicateTrustedIssuer(String),
    /// A client's federated identity names an issuer that is not trusted.
    #[error(
        "client `{client}`: federated identity of `{issuer}`, which is not among the `[[trusted_issuers]]`"
    )]
    UntrustedFederatedIssuer {
        /// The client.
        client: String,
        /// The issuer it names.
        issuer: String,
    },
    /// `tokens.assertion_max_lifetime` or `tokens.assertion_replay_capacity` is zero.
    #[error("tokens.{0} must be greater than zero")]
    ZeroAssertionSetting(&'static str),
}
