//! The accept loop: serves the router on a TCP listener, one hyper HTTP/1.1 connection per
//! task, until a shutdown future resolves.
//!
//! It replaces `axum::serve`, under which a connection that sent half a request head, or an
//! idle keep-alive connection, stayed open for ever. Here every connection has
//! [`ConnectionSettings::header_read_timeout`], at most
//! [`ConnectionSettings::max_connections`] are served at once, and shutdown stops accepting
//! and lets every in-flight request finish.
//!
//! The header-read timeout is a [`Deadline`] per connection, watched by one timer that lives
//! as long as the connection, rather than hyper's own `header_read_timeout`. hyper's creates
//! a timer for every request head and registers it with tokio's timer wheel whenever the
//! head has not yet arrived, which on a keep-alive connection is every request: that cost
//! about 3% of issuance (BENCHMARKS.md, seventh session). Moving the deadline forward is one
//! clock read and one relaxed store per request; the timer is only reset when it fires
//! before the deadline.
//!
//! HTTP/1.1 only, as before (axum is built without `http2`), so hyper's http1 builder is
//! used directly rather than hyper-util's `auto` builder, which first reads the opening
//! bytes of every connection to look for the HTTP/2 preface.
//!
//! The per-request path is what `axum::serve` did, less its `AddExtension` and `Oneshot`
//! layers: hyper calls [`PeerService`], which inserts the peer address, marks the
//! connection busy and calls the router, and the router boxes the `Incoming` body into an
//! axum `Body` once.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::response::Response;
use axum::routing::future::RouteFuture;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Connection-level limits, from `[server]` in configuration.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ConnectionSettings {
    /// Time a connection has to send a request's head, counted from when it was accepted
    /// and, on a keep-alive connection, from each response (so it is also the idle
    /// timeout). The connection is closed when it passes, without a response.
    pub(crate) header_read_timeout: Duration,
    /// Most connections served at once; `None`: no limit. At the limit the loop stops
    /// accepting, and new connections wait in the kernel's listen backlog.
    pub(crate) max_connections: Option<NonZeroUsize>,
}

/// Serves `router` on `listener` until `shutdown` resolves; then stops accepting, closes
/// idle connections, and returns once every in-flight request has been answered.
///
/// Accept errors never end the loop: connection-level ones (the peer gave up) are skipped,
/// others (out of file descriptors, of memory) are logged and retried after a pause.
pub(crate) async fn serve(
    listener: TcpListener,
    router: Router,
    settings: ConnectionSettings,
    shutdown: impl Future<Output = ()>,
) {
    let http = http1::Builder::new();
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
        let deadline = Arc::new(Deadline::new(settings.header_read_timeout));
        let service = PeerService::new(&router, peer, Arc::clone(&deadline));
        let conn = http.serve_connection(TokioIo::new(nodelay(stream)), service);
        tokio::spawn(run_connection(graceful.watch(conn), deadline, peer, slot));
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Drives one connection to its end, or until it misses its [`Deadline`]; then frees its
/// slot.
async fn run_connection(
    conn: impl Future<Output = Result<(), hyper::Error>>,
    deadline: Arc<Deadline>,
    peer: SocketAddr,
    _slot: Option<OwnedSemaphorePermit>,
) {
    let mut conn = pin!(conn);
    let mut timer = pin!(tokio::time::sleep_until(deadline.first_check().into()));
    loop {
        tokio::select! {
            biased;
            done = &mut conn => {
                if let Err(e) = done {
                    // Malformed requests, resets: the client's doing, not ours.
                    tracing::debug!(%peer, error = %e, "connection closed with an error");
                }
                return;
            }
            () = &mut timer => match deadline.next_check(Instant::now()) {
                Some(at) => timer.as_mut().reset(at.into()),
                None => {
                    // Dropping the connection closes it, without a response.
                    tracing::debug!(%peer, "connection closed: no request head within server.header_read_timeout");
                    return;
                }
            },
        }
    }
}

/// When a connection's next request head is due: `server.header_read_timeout` after it was
/// accepted, and after each response. While a request is being answered there is no
/// deadline: the endpoints that read a body have `server.request_timeout`.
///
/// Shared by the connection's task, which checks it when its timer fires, and its
/// [`PeerService`], which moves it; both run on the connection's task, so relaxed atomics
/// suffice.
#[derive(Debug)]
struct Deadline {
    /// When the connection was accepted; `due` counts from here.
    origin: Instant,
    /// The timeout, in whole milliseconds (rounded up, at least one).
    timeout_ms: u64,
    /// Milliseconds after `origin` by which the next head must be in, or [`Deadline::BUSY`].
    due: AtomicU64,
}

impl Deadline {
    /// `due` while a request is being answered.
    const BUSY: u64 = u64::MAX;

    /// A deadline for a connection accepted now.
    fn new(timeout: Duration) -> Self {
        let timeout_ms = u64::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX / 2).max(1);
        Deadline { origin: Instant::now(), timeout_ms, due: AtomicU64::new(timeout_ms) }
    }

    /// When the connection's timer first fires.
    fn first_check(&self) -> Instant {
        self.at(self.timeout_ms)
    }

    /// `origin` plus `ms`, saturating far in the future.
    fn at(&self, ms: u64) -> Instant {
        let far = Duration::from_secs(10 * 366 * 24 * 3600);
        self.origin.checked_add(Duration::from_millis(ms).min(far)).unwrap_or(self.origin + far)
    }

    /// A request head arrived: no deadline until its response.
    fn busy(&self) {
        self.due.store(Self::BUSY, Ordering::Relaxed);
    }

    /// A response was produced: the next head is due a timeout from now.
    fn rearm(&self) {
        let now = u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX / 2);
        self.due.store(now.saturating_add(self.timeout_ms).min(Self::BUSY - 1), Ordering::Relaxed);
    }

    /// The timer fired at `now`: `None` if the head is overdue (close the connection), else
    /// when to check again.
    fn next_check(&self, now: Instant) -> Option<Instant> {
        match self.due.load(Ordering::Relaxed) {
            // Busy: look again a timeout later; a response rearms the deadline.
            Self::BUSY => Some(now + Duration::from_millis(self.timeout_ms)),
            due => {
                let at = self.at(due);
                (at > now).then_some(at)
            }
        }
    }
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
/// peer address as `ConnectInfo<SocketAddr>` (the password grant's per-address throttle
/// reads it), then goes to the router. The connection's [`Deadline`] is off from each
/// request head to its response.
#[derive(Debug, Clone)]
struct PeerService {
    router: Router,
    peer: ConnectInfo<SocketAddr>,
    deadline: Arc<Deadline>,
}

impl PeerService {
    fn new(router: &Router, peer: SocketAddr, deadline: Arc<Deadline>) -> Self {
        PeerService { router: router.clone(), peer: ConnectInfo(peer), deadline }
    }
}

impl hyper::service::Service<Request<Incoming>> for PeerService {
    type Response = Response;
    type Error = Infallible;
    type Future = Rearm;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        self.deadline.busy();
        request.extensions_mut().insert(self.peer);
        // `Router::call` needs `&mut`; a clone is one reference count. The router is always
        // ready (its `poll_ready` returns `Ready` unconditionally), so no `poll_ready` first.
        let response = tower_service::Service::call(&mut self.router.clone(), request);
        Rearm { response, deadline: Arc::clone(&self.deadline) }
    }
}

/// The router's answer to one request; rearms the connection's [`Deadline`] when ready.
struct Rearm {
    response: RouteFuture<Infallible>,
    deadline: Arc<Deadline>,
}

impl Future for Rearm {
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let response = ready!(Pin::new(&mut self.response).poll(cx));
        self.deadline.rearm();
        Poll::Ready(response)
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
    fn a_deadline_is_off_while_busy_and_moves_forward_with_each_response() {
        let d = Deadline::new(Duration::from_millis(500));
        let first = d.first_check();
        assert_eq!(first, d.origin + Duration::from_millis(500));
        // Fired on time with nothing received: overdue.
        assert_eq!(d.next_check(first), None);
        // Fired early (timers may): check again at the deadline.
        assert_eq!(d.next_check(first - Duration::from_millis(100)), Some(first));
        // A request is being answered: no deadline, look again a timeout later.
        d.busy();
        assert_eq!(d.next_check(first), Some(first + Duration::from_millis(500)));
        // Answered: due a timeout after the response.
        std::thread::sleep(Duration::from_millis(20));
        d.rearm();
        let due = d.next_check(first).expect("not yet due");
        assert!(due >= d.origin + Duration::from_millis(520), "{:?}", due - d.origin);
        assert_eq!(d.next_check(due), None);
    }

    #[test]
    fn deadline_timeouts_round_up_to_whole_milliseconds_and_never_overflow() {
        assert_eq!(Deadline::new(Duration::from_micros(1)).timeout_ms, 1);
        assert_eq!(Deadline::new(Duration::from_micros(1500)).timeout_ms, 2);
        let d = Deadline::new(Duration::MAX);
        d.rearm();
        assert!(d.first_check() > d.origin);
        assert!(d.next_check(Instant::now()).is_some());
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
