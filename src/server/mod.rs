//! Binds a listener, assembles the application, and serves until a shutdown future resolves.
//!
//! `run` takes the shutdown future as an argument (mini-redis, axum's graceful-shutdown
//! example): the binary passes SIGINT/SIGTERM, tests pass a channel.
//!
//! - `accept`: the accept loop, one HTTP/1.1 connection per task, with its limits;
//! - `keys_task`: keeps the key ring current (file-system events, polling, SIGHUP, the
//!   schedule's instants, automatic rotation).

mod accept;
mod keys_task;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;

use crate::clients::Registry;
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::http::{self, AppState, HttpSettings, Limits};
use crate::keys::{KeyError, KeyRing};
use crate::token::Issuer;
use crate::users::Users;
use accept::ConnectionSettings;
use keys_task::{Maintenance, maintain};

/// Why the server could not start. Its message says what to fix.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ServerError(#[from] StartError);

/// The kinds of [`ServerError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The operating system's reason.
        source: io::Error,
    },
    /// No usable signing key could be loaded or created.
    #[error("signing keys: {0}")]
    Keys(#[from] KeyError),
    /// Loading the keys stopped with a panic.
    #[error("loading the signing keys failed: {0}")]
    KeyTask(#[from] tokio::task::JoinError),
    /// The system random generator failed.
    #[error("the system random number generator failed")]
    Random,
}

impl From<KeyError> for ServerError {
    fn from(e: KeyError) -> Self {
        ServerError(e.into())
    }
}

impl From<tokio::task::JoinError> for ServerError {
    fn from(e: tokio::task::JoinError) -> Self {
        ServerError(e.into())
    }
}

/// A bound, ready-to-run token service.
#[derive(Debug)]
pub struct Server {
    listener: TcpListener,
    router: Router,
    /// Header-read timeout and connection cap of the accept loop.
    connections: ConnectionSettings,
    ring: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    maintenance: Maintenance,
}

impl Server {
    /// Binds `config`'s address and prepares the service with the system clock.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let addr = config.server.bind;
        let listener =
            TcpListener::bind(addr).await.map_err(|source| ServerError(StartError::Bind { addr, source }))?;
        Self::with_listener(config, listener, Arc::new(SystemClock)).await
    }

    /// Prepares the service on an already bound listener (tests bind `127.0.0.1:0`),
    /// with an injected clock.
    pub async fn with_listener(
        config: Config,
        listener: TcpListener,
        clock: Arc<dyn Clock>,
    ) -> Result<Server, ServerError> {
        let maintenance = Maintenance::new(config.keys.poll_interval, config.keys.auto_rotate);
        let connections = ConnectionSettings {
            header_read_timeout: config.server.header_read_timeout,
            max_connections: config.server.max_connections.and_then(NonZeroUsize::new),
        };
        let (router, ring) = assemble(config, Arc::clone(&clock)).await?;
        Ok(Server { listener, router, connections, ring, clock, maintenance })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves, then stops accepting, closes idle connections and
    /// lets in-flight requests finish. Meanwhile the key ring follows the key directory and
    /// the schedule.
    ///
    /// Nothing here fails: accept errors (such as running out of file descriptors) are
    /// logged and retried, and a failed key reload keeps the last good keys.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop_keys, keys_stopped) = tokio::sync::oneshot::channel::<()>();
        let keys_task = tokio::spawn(maintain(self.ring, self.clock, self.maintenance, async move {
            let _ = keys_stopped.await;
        }));
        accept::serve(self.listener, self.router, self.connections, shutdown).await;
        let _ = stop_keys.send(());
        let _ = keys_task.await;
    }
}

/// The application's routes over `config`, with no listener and no key maintenance (the key
/// set stays as loaded, though its schedule still moves with `clock`): for driving the HTTP
/// edge in-process, with `tower::ServiceExt::oneshot`. Requests carry no peer address, so
/// the brute-force throttles count them by name only.
pub async fn router(config: Config, clock: Arc<dyn Clock>) -> Result<Router, ServerError> {
    Ok(assemble(config, clock).await?.0)
}

/// Loads the keys and builds the application state and its router.
async fn assemble(config: Config, clock: Arc<dyn Clock>) -> Result<(Router, Arc<KeyRing>), ServerError> {
    let source = config.key_source()?;
    let policy = config.key_policy();
    let now = clock.now();
    // Key generation (RSA especially) and file I/O stay off the async workers.
    let ring = Arc::new(tokio::task::spawn_blocking(move || KeyRing::open(source, policy, now)).await??);
    let registry = Registry::new(config.clients).map_err(|_| ServerError(StartError::Random))?;
    let users = Users::new(config.users);
    let issuer = Issuer::new(config.issuer, config.tokens, config.enabled_grants, Arc::clone(&ring), users);
    let settings = HttpSettings {
        limits: Limits {
            max_header_bytes: config.server.max_header_bytes,
            max_body_bytes: config.server.max_body_bytes,
            request_timeout: config.server.request_timeout,
        },
        jwks_max_age: config.keys.jwks_max_age,
        trusted_proxies: config.server.trusted_proxies,
    };
    let state = AppState::new(registry, issuer, clock, settings);
    Ok((http::router(state), ring))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; finishing in-flight requests");
}
