//! Binds a listener, assembles the application, and serves until a shutdown future resolves.
//!
//! `run` takes the shutdown future as an argument (mini-redis, axum's graceful-shutdown
//! example): the binary passes SIGINT/SIGTERM, tests pass a channel.
//!
//! - `accept`: the accept loop, one connection per task, with its limits;
//! - `conn`: one connection: the TLS handshake, HTTP/1.1 or HTTP/2, hyper serving it;
//! - `tls`: `[server.tls]`, the certificate and key loaded and swapped for new handshakes;
//! - `tls_task`: reloads them when their files change;
//! - `keys_task`: keeps the key ring current (file-system events, polling, SIGHUP, the
//!   schedule's instants, automatic rotation);
//! - `config_task`: reloads the configuration (SIGHUP, changes to its file);
//! - `metrics`: the `GET /metrics` listener's router;
//! - `watch`: file-system events and SIGHUP, for both tasks.

mod accept;
mod config_task;
mod conn;
mod keys_task;
mod metrics;
mod tls;
mod tls_task;
mod watch;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_rustls::rustls::ServerConfig;

use crate::clients::{AssertionPolicy, Assertions, Registry, TrustedIssuer};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::http::{self, AppState, HttpSettings, Limits, Live};
use crate::keys::{KeyError, KeyRing};
use crate::metrics::Metrics;
use crate::token::{Issuer, TokenSettings};
use crate::users::Users;
use accept::ConnectionSettings;
use config_task::Reloader;
use keys_task::{Maintenance, maintain};
use tls::{Certificates, TlsError};

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
    /// `[server.tls]`: the certificate or key could not be loaded.
    #[error("[server.tls]: {0}")]
    Tls(#[from] TlsError),
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
    /// The application state behind `router`: shutdown marks it draining.
    state: AppState,
    /// `[server.tls]`: the acceptor, and the certificates it takes, which a task reloads
    /// (counting each reload in the metrics).
    tls: Option<(Arc<ServerConfig>, Arc<Certificates>, Arc<Metrics>)>,
    /// `server.shutdown_delay`.
    shutdown_delay: Duration,
    /// `[metrics] bind` and its router, when metrics are served.
    metrics: Option<(TcpListener, Router)>,
    /// Header-read timeout and connection cap of the accept loops.
    connections: ConnectionSettings,
    ring: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    maintenance: Maintenance,
    /// Reloads the configuration, when it came from a file.
    reloader: Option<Reloader>,
}

impl Server {
    /// Binds `config`'s address and prepares the service with the system clock.
    pub async fn bind(config: Config) -> Result<Server, ServerError> {
        let addr = config.server.bind;
        let listener = bind(addr).await?;
        Self::with_listener(config, listener, Arc::new(SystemClock)).await
    }

    /// Prepares the service on an already bound listener (tests bind `127.0.0.1:0`),
    /// with an injected clock. The metrics listener, if configured, is bound here.
    pub async fn with_listener(
        config: Config,
        listener: TcpListener,
        clock: Arc<dyn Clock>,
    ) -> Result<Server, ServerError> {
        let connections = ConnectionSettings {
            header_read_timeout: config.server.header_read_timeout,
            max_connections: config.server.max_connections.and_then(NonZeroUsize::new),
            max_concurrent_streams: config.server.max_concurrent_streams,
            max_header_bytes: config.server.max_header_bytes,
        };
        let tls = match &config.server.tls {
            Some(files) => {
                let certs = Arc::new(
                    Certificates::load(&files.cert_file, &files.key_file).map_err(StartError::from)?,
                );
                Some((certs.server_config().map_err(StartError::from)?, certs))
            }
            None => None,
        };
        let shutdown_delay = config.server.shutdown_delay;
        let metrics_listener = match config.metrics.bind {
            Some(addr) => Some(bind(addr).await?),
            None => None,
        };
        let (poll_interval, auto_rotate) = (config.keys.poll_interval, config.keys.auto_rotate);
        let (state, ring, metrics, reloader) = assemble(config, Arc::clone(&clock)).await?;
        let maintenance = Maintenance::new(poll_interval, auto_rotate, Arc::clone(&metrics));
        let tls = tls.map(|(acceptor, certs)| (acceptor, certs, Arc::clone(&metrics)));
        let metrics = metrics_listener.map(|l| (l, metrics::router(metrics)));
        Ok(Server {
            listener,
            router: http::router(state.clone()),
            state,
            tls,
            shutdown_delay,
            metrics,
            connections,
            ring,
            clock,
            maintenance,
            reloader,
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Whether the service's port speaks TLS (`[server.tls]`).
    pub fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// The address `GET /metrics` is served on, when `[metrics] bind` is set.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().and_then(|(l, _)| l.local_addr().ok())
    }

    /// Serves until `shutdown` resolves; then `/readyz` answers 503 at once while every
    /// endpoint is served for `server.shutdown_delay` more (so load balancers stop sending
    /// here first), and then it stops accepting, closes idle connections and lets in-flight
    /// requests finish. Meanwhile the key ring follows the key directory and the schedule,
    /// the configuration its file, and the TLS certificate its files.
    ///
    /// Nothing here fails: accept errors (such as running out of file descriptors) are
    /// logged and retried, and a failed key or configuration reload keeps the last good one.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let stopping = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(maintain(self.ring, self.clock, self.maintenance, stopping()));
        if let Some(reloader) = self.reloader {
            tasks.spawn(reloader.run(stopping()));
        }
        if let Some((listener, router)) = self.metrics {
            tasks.spawn(accept::serve(listener, None, router, self.connections, stopping()));
        }
        let acceptor = match self.tls {
            Some((acceptor, certs, metrics)) => {
                tasks.spawn(tls_task::maintain(certs, metrics, stopping()));
                Some(acceptor)
            }
            None => None,
        };
        let (state, delay) = (self.state, self.shutdown_delay);
        let shutdown = async move {
            shutdown.await;
            state.start_draining();
            if !delay.is_zero() {
                tracing::info!(
                    delay_ms = delay.as_millis() as u64,
                    "shutting down: /readyz answers 503; serving on for server.shutdown_delay, then closing the listener"
                );
                tokio::time::sleep(delay).await;
            }
        };
        accept::serve(self.listener, acceptor, self.router, self.connections, shutdown).await;
        let _ = stop.send(true);
        while tasks.join_next().await.is_some() {}
    }
}

/// Binds `addr`.
async fn bind(addr: SocketAddr) -> Result<TcpListener, ServerError> {
    TcpListener::bind(addr).await.map_err(|source| ServerError(StartError::Bind { addr, source }))
}

/// The application's routes over `config`, with no listener, no key maintenance and no
/// reload (the key set stays as loaded, though its schedule still moves with `clock`): for
/// driving the HTTP edge in-process, with `tower::ServiceExt::oneshot`. Requests carry no
/// peer address, so the brute-force throttles count them by name only.
pub async fn router(config: Config, clock: Arc<dyn Clock>) -> Result<Router, ServerError> {
    let (state, ..) = assemble(config, clock).await?;
    Ok(http::router(state))
}

/// Loads the keys and builds the application state, its metrics and its reloader.
async fn assemble(
    config: Config,
    clock: Arc<dyn Clock>,
) -> Result<(AppState, Arc<KeyRing>, Arc<Metrics>, Option<Reloader>), ServerError> {
    let source = config.key_source()?;
    let policy = config.key_policy();
    let now = clock.now();
    // Key generation (RSA especially) and file I/O stay off the async workers.
    let ring = Arc::new(tokio::task::spawn_blocking(move || KeyRing::open(source, policy, now)).await??);
    let metrics = Arc::new(Metrics::new(
        config.clients.iter().map(|c| c.id.as_str()),
        Arc::clone(&ring),
        Arc::clone(&clock),
    ));
    let settings = HttpSettings {
        limits: Limits {
            max_header_bytes: config.server.max_header_bytes,
            max_body_bytes: config.server.max_body_bytes,
            request_timeout: config.server.request_timeout,
        },
        jwks_max_age: config.keys.jwks_max_age,
        trusted_proxies: config.server.trusted_proxies.clone(),
    };
    let (fixed, source) = (config.fixed(), config.source().map(Path::to_path_buf));
    let live = live(config.issuer.clone(), config.tokens.clone(), config, Arc::clone(&ring), None)
        .map_err(ServerError)?;
    let state = AppState::new(live, clock, Arc::clone(&metrics), settings);
    let reloader =
        source.map(|path| Reloader::new(path, fixed, state.clone(), Arc::clone(&ring), Arc::clone(&metrics)));
    Ok((state, ring, metrics, reloader))
}

/// The clients and the issuer of `config`, for `issuer` with `tokens`, signing with `keys`;
/// after a reload, carrying over the brute-force counters and rate-limit budgets of the
/// `previous` configuration.
fn live(
    issuer: String,
    tokens: TokenSettings,
    config: Config,
    keys: Arc<KeyRing>,
    previous: Option<&Live>,
) -> Result<Live, StartError> {
    let assertions = assertions(&issuer, &tokens, config.trusted_issuers);
    let (registry, users) = match previous {
        None => (
            Registry::new(config.clients, assertions).map_err(|_| StartError::Random)?,
            Users::new(config.users),
        ),
        Some(old) => (
            Registry::succeeding(config.clients, assertions, old.registry()),
            Users::succeeding(config.users, old.issuer().users()),
        ),
    };
    let issuer = Issuer::new(issuer, tokens, config.enabled_grants, keys, users);
    Ok(Live::new(registry, issuer))
}

/// What client assertions are checked with, for `issuer` under `tokens`, trusting `issuers`.
pub(crate) fn assertions(issuer: &str, tokens: &TokenSettings, issuers: Vec<TrustedIssuer>) -> Assertions {
    Assertions {
        issuers,
        policy: AssertionPolicy {
            issuer: issuer.to_owned(),
            token_endpoint: format!("{}{}", issuer.trim_end_matches('/'), crate::http::TOKEN_PATH),
            strict_audience: tokens.strict_assertion_audience,
            max_lifetime: tokens.assertion_max_lifetime,
            leeway: tokens.leeway,
        },
        replay_capacity: tokens.assertion_replay_capacity,
    }
}

/// Installs the SIGHUP handler for the rest of the process's life. Call it first thing,
/// within the runtime: a SIGHUP that arrives while the service starts (config management
/// reloading right after a restart) would otherwise take its default action and kill the
/// process before the reloaders listen. A SIGHUP in that window reloads nothing: the
/// configuration and keys are read after it anyway.
pub fn catch_hangups() {
    // tokio keeps the handler installed after the stream is dropped.
    drop(watch::hangup_signals());
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
