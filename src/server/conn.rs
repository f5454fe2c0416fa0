//! One accepted connection, from its first bytes to its close: the TLS handshake when
//! `[server.tls]` is set, the choice between HTTP/1.1 and HTTP/2, and hyper serving it.
//!
//! - With TLS, ALPN chooses (RFC 7301): `h2` is served as HTTP/2, anything else (or no ALPN)
//!   as HTTP/1.1. A connection whose first byte is not a TLS handshake record (a plain HTTP
//!   request sent to the TLS port) gets a plain-text `400` saying the port speaks TLS, and is
//!   closed: no handshake error for the client to puzzle over, no 5xx.
//! - Without TLS, a connection that opens with the HTTP/2 connection preface is served as
//!   HTTP/2 with prior knowledge (h2c, RFC 9113 §3.3), anything else as HTTP/1.1. The bytes
//!   read to tell are handed back to hyper (the `Prefixed` reader). hyper-util's `auto`
//!   builder does the same, but without a deadline for those first bytes.
//!
//! The first bytes, and the handshake, must arrive within `server.header_read_timeout`;
//! after that hyper's own timers take over (HTTP/1.1's header-read timeout, HTTP/2's
//! keep-alive pings). HTTP/2 also bounds the streams open at once
//! (`server.max_concurrent_streams`), the header list, and the streams a client may reset
//! (the 2023 "rapid reset" attack, CVE-2023-44487): past [`MAX_PENDING_ACCEPT_RESETS`]
//! streams reset before they were served, or [`MAX_LOCAL_ERROR_RESETS`] streams the server
//! had to reset, the connection is closed with GOAWAY.
//!
//! A client that half-closes its side after sending an HTTP/1.1 request still gets the
//! response (RFC 9112 §9.6): hyper's `half_close`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::Watcher;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout_at};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;

use super::accept::{ConnectionSettings, PeerService};

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The first byte of a TLS record carrying a handshake message (RFC 8446 §5.1).
const TLS_HANDSHAKE: u8 = 0x16;

/// Streams a client may open and reset before the server has served them, per connection,
/// before it is closed (h2's default, set here so it stays the bound).
pub(crate) const MAX_PENDING_ACCEPT_RESETS: usize = 20;

/// Streams the server may reset because of a client's protocol errors, per connection,
/// before it is closed (hyper's default, set here so it stays the bound).
pub(crate) const MAX_LOCAL_ERROR_RESETS: usize = 1024;

/// Time an HTTP/2 peer has to answer a keep-alive ping before its connection is closed.
const PING_TIMEOUT: Duration = Duration::from_secs(20);

/// Largest request a connection refused for speaking plain HTTP to the TLS port may send
/// before it is closed (read and dropped, so the close is not a reset that eats the answer).
const PLAINTEXT_DRAIN: usize = 64 * 1024;

/// What serves a connection: the protocol builders, configured once, and the TLS acceptor.
#[derive(Debug)]
pub(super) struct Protocols {
    http1: http1::Builder,
    http2: http2::Builder<TokioExecutor>,
    tls: Option<Arc<ServerConfig>>,
    /// Deadline for the first bytes and the TLS handshake, from accept.
    first_bytes: Duration,
}

/// Which protocol a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
}

impl Protocols {
    /// Both protocols with the limits of `settings`; TLS with `tls`.
    pub(super) fn new(settings: &ConnectionSettings, tls: Option<Arc<ServerConfig>>) -> Self {
        let mut h1 = http1::Builder::new();
        // hyper's timer runs for every request head still to come: from the connection's
        // start, and on a keep-alive connection from each response on, so it is also the
        // idle timeout.
        h1.timer(TokioTimer::new()).header_read_timeout(settings.header_read_timeout).half_close(true);
        let mut h2 = http2::Builder::new(TokioExecutor::new());
        // The header list bound (RFC 9113 §6.5.2) leaves room above `max_header_bytes`, so
        // the endpoints' own 431 answers the usual case; it bounds memory for the rest.
        let header_list = settings.max_header_bytes.saturating_mul(2).saturating_add(4096);
        h2.timer(TokioTimer::new())
            .max_concurrent_streams(settings.max_concurrent_streams)
            .max_pending_accept_reset_streams(MAX_PENDING_ACCEPT_RESETS)
            .max_local_error_reset_streams(MAX_LOCAL_ERROR_RESETS)
            .max_header_list_size(u32::try_from(header_list).unwrap_or(u32::MAX))
            .keep_alive_interval(settings.header_read_timeout)
            .keep_alive_timeout(PING_TIMEOUT);
        Protocols { http1: h1, http2: h2, tls, first_bytes: settings.header_read_timeout }
    }

    /// Serves one connection to its end. Errors are the client's doing (malformed requests,
    /// resets, overdue heads, failed handshakes) and only logged at debug level.
    pub(super) async fn serve(
        &self,
        stream: TcpStream,
        peer: SocketAddr,
        service: PeerService,
        watcher: Watcher,
    ) {
        let deadline = Instant::now() + self.first_bytes;
        let served = match &self.tls {
            None => {
                let mut stream = stream;
                let (protocol, prefix) = match timeout_at(deadline, sniff(&mut stream)).await {
                    Ok(Ok(sniffed)) => sniffed,
                    Ok(Err(e)) => {
                        return tracing::debug!(%peer, error = %e, "connection closed before a request");
                    }
                    Err(_) => return tracing::debug!(%peer, "no request within the header-read timeout"),
                };
                self.run(protocol, Prefixed { prefix, read: 0, inner: stream }, service, watcher).await
            }
            Some(config) => {
                let acceptor = TlsAcceptor::from(Arc::clone(config));
                let mut first = [0u8; 1];
                match timeout_at(deadline, stream.peek(&mut first)).await {
                    Ok(Ok(1)) if first[0] == TLS_HANDSHAKE => {}
                    Ok(Ok(1)) => return refuse_plaintext(stream, deadline).await,
                    Ok(_) => return tracing::debug!(%peer, "connection closed before a TLS handshake"),
                    Err(_) => {
                        return tracing::debug!(%peer, "no TLS handshake within the header-read timeout");
                    }
                }
                let tls = match timeout_at(deadline, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => tls,
                    Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                    Err(_) => {
                        return tracing::debug!(%peer, "TLS handshake not done within the header-read timeout");
                    }
                };
                let protocol = match tls.get_ref().1.alpn_protocol() {
                    Some(b"h2") => Protocol::Http2,
                    _ => Protocol::Http1,
                };
                self.run(protocol, tls, service, watcher).await
            }
        };
        if let Err(e) = served {
            tracing::debug!(%peer, error = %e, "connection closed with an error");
        }
    }

    /// Serves `io` with `protocol` until the connection ends or a graceful shutdown has
    /// answered its in-flight requests.
    async fn run<I>(
        &self,
        protocol: Protocol,
        io: I,
        service: PeerService,
        watcher: Watcher,
    ) -> hyper::Result<()>
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let io = TokioIo::new(io);
        match protocol {
            Protocol::Http1 => watcher.watch(self.http1.serve_connection(io, service)).await,
            Protocol::Http2 => watcher.watch(self.http2.serve_connection(io, service)).await,
        }
    }
}

/// Reads until the bytes are not the HTTP/2 preface (HTTP/1.1) or are all of it (HTTP/2);
/// returns the protocol and the bytes read. A request of HTTP/1.1 differs from the preface
/// within its first two bytes (no method is `PRI`), so this waits for no more than it must.
async fn sniff(stream: &mut TcpStream) -> io::Result<(Protocol, Vec<u8>)> {
    let mut buf = [0u8; PREFACE.len()];
    let mut filled = 0;
    loop {
        let n = stream.read(&mut buf[filled..]).await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        filled += n;
        if buf[..filled] != PREFACE[..filled] {
            return Ok((Protocol::Http1, buf[..filled].to_vec()));
        }
        if filled == PREFACE.len() {
            return Ok((Protocol::Http2, buf.to_vec()));
        }
    }
}

/// Answers a plain HTTP request on the TLS port with a `400` that says so, then closes.
async fn refuse_plaintext(mut stream: TcpStream, deadline: Instant) {
    const BODY: &str = "This port speaks TLS: use https:// to reach it.\n";
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\n\
         connection: close\r\n\r\n{BODY}",
        BODY.len()
    );
    let refused = timeout_at(deadline, async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client sent, so that closing does not reset the connection and
        // discard the answer before the client reads it.
        let mut sink = [0u8; 4096];
        let mut left = PLAINTEXT_DRAIN;
        while left > 0 {
            let n = stream.read(&mut sink).await?;
            if n == 0 {
                break;
            }
            left = left.saturating_sub(n);
        }
        Ok::<_, io::Error>(())
    })
    .await;
    if let Ok(Err(e)) = refused {
        tracing::debug!(error = %e, "closing a plain HTTP connection to the TLS port");
    }
}

/// A stream whose first bytes were already read: they are read again first.
#[derive(Debug)]
struct Prefixed<S> {
    prefix: Vec<u8>,
    /// How much of `prefix` has been handed out.
    read: usize,
    inner: S,
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let Some(rest) = this.prefix.get(this.read..).filter(|r| !r.is_empty()) {
            let n = rest.len().min(buf.remaining());
            buf.put_slice(&rest[..n]);
            this.read += n;
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_preface_means_http2_and_anything_else_http1_with_the_bytes_kept() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        for (sent, expected) in [
            (&PREFACE[..], Protocol::Http2),
            (&b"POST /oauth2/token HTTP/1.1\r\n"[..], Protocol::Http1),
            (&b"PRI * HTTP/1.1\r\n"[..], Protocol::Http1),
        ] {
            let mut client = TcpStream::connect(addr).await.unwrap();
            client.write_all(sent).await.unwrap();
            let (mut server, _) = listener.accept().await.unwrap();
            let (protocol, prefix) = sniff(&mut server).await.unwrap();
            assert_eq!(protocol, expected);
            assert!(sent.starts_with(&prefix) && !prefix.is_empty());
            let mut replay = Prefixed { prefix: prefix.clone(), read: 0, inner: server };
            let mut again = vec![0u8; prefix.len()];
            replay.read_exact(&mut again).await.unwrap();
            assert_eq!(again, prefix);
        }
    }
}
