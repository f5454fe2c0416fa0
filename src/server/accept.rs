//! The accept loop: serves the router on a TCP listener, one connection per task (HTTP/1.1
//! or HTTP/2, over TLS or not: see `conn`), until a shutdown future resolves.
//!
//! `axum::serve` has no timeouts: a connection that sent half a request head, or an idle
//! keep-alive connection, stays open for ever. Here every connection has a deadline for its
//! first bytes (and its TLS handshake) and hyper's `header_read_timeout`
//! ([`ConnectionSettings::header_read_timeout`]), at most
//! [`ConnectionSettings::max_connections`] are served at once, and shutdown stops accepting
//! and lets every in-flight request finish.
//!
//! The per-request path is what `axum::serve` does, less its `AddExtension` and `Oneshot`
//! layers: hyper calls [`PeerService`], which refuses a request whose framing is ambiguous
//! ([`framing`]), inserts the peer address and calls the router, and the router boxes the
//! `Incoming` body into an axum `Body` once.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::future::RouteFuture;
use hyper::body::Incoming;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::rustls::ServerConfig;

use super::conn::Protocols;
use crate::http::framing;

/// Connection-level limits, from `[server]` in configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionSettings {
    /// Time a connection has to send a request's head, counted from when it was accepted
    /// and, on a keep-alive connection, from each response (so it is also the idle
    /// timeout). The connection is closed when it passes. It also bounds the TLS handshake.
    pub(crate) header_read_timeout: Duration,
    /// Most connections served at once; `None`: no limit. At the limit the loop stops
    /// accepting, and new connections wait in the kernel's listen backlog.
    pub(crate) max_connections: Option<NonZeroUsize>,
    /// Most HTTP/2 streams open at once on one connection.
    pub(crate) max_concurrent_streams: u32,
    /// `server.max_header_bytes`: HTTP/2's header list bound is derived from it.
    pub(crate) max_header_bytes: usize,
}

/// Serves `router` on `listener` (with TLS when `tls` is set) until `shutdown` resolves;
/// then stops accepting, closes idle connections, and returns once every in-flight request
/// has been answered.
///
/// Accept errors never end the loop: connection-level ones (the peer gave up) are skipped,
/// others (out of file descriptors, of memory) are logged and retried after a pause.
pub(crate) async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ServerConfig>>,
    router: Router,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()>,
) {
    let protocols = Arc::new(Protocols::new(&settings, tls));
    let graceful = GracefulShutdown::new();
    let slots = settings.max_connections.map(|n| Arc::new(Semaphore::new(n.get())));
    let mut shutdown = pin!(shutdown);
    let mut backoff = Backoff::default();
    loop {
        let slot = match &slots {
            None => None,
            Some(slots) => tokio::select! {
                biased;
                () = &mut shutdown => break,
                permit = Arc::clone(slots).acquire_owned() => match permit {
                    Ok(permit) => Some(permit),
                    // The semaphore is never closed.
                    Err(_) => break,
                },
            },
        };
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff.reset();
                accepted
            }
            Err(e) if is_connection_error(&e) => {
                tracing::debug!(error = %e, "a connection was dropped before it was accepted");
                continue;
            }
            Err(e) => {
                let pause = backoff.next();
                tracing::error!(error = %e, pause_ms = pause.as_millis() as u64, "cannot accept connections; retrying");
                tokio::select! {
                    biased;
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(pause) => continue,
                }
            }
        };
        let service = PeerService { router: router.clone(), peer: ConnectInfo(peer) };
        let (protocols, watcher) = (Arc::clone(&protocols), graceful.watcher());
        tokio::spawn(async move {
            protocols.serve(nodelay(stream), peer, service, watcher).await;
            // The slot is free once the connection is closed.
            drop(slot);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Sets `TCP_NODELAY`: a response never waits for the ACK of the previous segment.
fn nodelay(stream: TcpStream) -> TcpStream {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(error = %e, "cannot set TCP_NODELAY");
    }
    stream
}

/// An accept error that concerns one connection only: the peer reset or aborted it before
/// it was accepted. Anything else is the process's problem (file descriptors, memory).
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused | ErrorKind::ConnectionAborted | ErrorKind::ConnectionReset
    )
}

/// Pauses after failed accepts: 10 ms, doubling up to 1 s, back to 10 ms after a success
/// (Go's `net/http` does the same). Short enough to recover quickly when descriptors free
/// up, long enough not to spin and flood the log while they do not.
#[derive(Debug, Default)]
struct Backoff {
    /// The last pause; zero after a success.
    last: Duration,
}

impl Backoff {
    /// The first pause.
    const FIRST: Duration = Duration::from_millis(10);
    /// The longest pause.
    const MAX: Duration = Duration::from_secs(1);

    /// The pause before the next attempt.
    fn next(&mut self) -> Duration {
        self.last = if self.last.is_zero() { Self::FIRST } else { (self.last * 2).min(Self::MAX) };
        self.last
    }

    /// Called after a successful accept.
    fn reset(&mut self) {
        self.last = Duration::ZERO;
    }
}

/// The router as hyper sees it on one connection: every request gets the connection's
/// peer address as `ConnectInfo<SocketAddr>` (the brute-force throttles' per-address counts
/// read it), then goes to the router.
#[derive(Debug, Clone)]
pub(super) struct PeerService {
    router: Router,
    peer: ConnectInfo<SocketAddr>,
}

impl hyper::service::Service<Request<Incoming>> for PeerService {
    type Response = Response;
    type Error = Infallible;
    type Future = Answer;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        if let Some(refused) = framing::refusal(request.version(), request.uri(), request.headers()) {
            return Answer::Refused(Some(refused));
        }
        request.extensions_mut().insert(self.peer);
        // `Router::call` needs `&mut`; a clone is one reference count. The router is always
        // ready (its `poll_ready` returns `Ready` unconditionally), so no `poll_ready` first.
        Answer::Routed(tower_service::Service::call(&mut self.router.clone(), request))
    }
}

/// The response to one request: the router's, or the framing check's refusal.
pub(super) enum Answer {
    Routed(RouteFuture<Infallible>),
    /// Taken when polled.
    Refused(Option<Response>),
}

impl Future for Answer {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.get_mut() {
            Answer::Routed(routed) => Pin::new(routed).poll(cx),
            Answer::Refused(refused) => {
                Poll::Ready(Ok(refused.take().unwrap_or_else(|| StatusCode::BAD_REQUEST.into_response())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_pauses_double_up_to_a_second_and_reset_after_a_success() {
        let mut b = Backoff::default();
        let pauses: Vec<u64> = (0..9).map(|_| b.next().as_millis() as u64).collect();
        assert_eq!(pauses, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.reset();
        assert_eq!(b.next(), Duration::from_millis(10));
    }

    #[test]
    fn only_peer_failures_count_as_connection_errors() {
        use std::io::{Error, ErrorKind};
        assert!(is_connection_error(&Error::from(ErrorKind::ConnectionAborted)));
        // EMFILE and friends are the process's problem: logged and retried after a pause.
        assert!(!is_connection_error(&Error::from_raw_os_error(24)));
        assert!(!is_connection_error(&Error::from(ErrorKind::OutOfMemory)));
    }
}
