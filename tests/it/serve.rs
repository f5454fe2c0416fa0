//! The connection layer, over raw TCP: `server.header_read_timeout` closes connections that
//! stall in their request head or sit idle between requests (slowloris), keep-alive clients
//! are served request after request, `server.max_connections` caps connections served at
//! once, and shutdown lets an in-flight request finish.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use crate::helpers::*;

/// Longest any single wait in these tests may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(10);

/// `svc-a`'s Basic credentials, `svc-a:secret-a`.
pub(crate) const BASIC_SVC_A: &str = "c3ZjLWE6c2VjcmV0LWE=";

/// A client credentials request for `svc-a`: its head and its body.
fn token_request() -> (String, &'static str) {
    let body = "grant_type=client_credentials";
    let head = format!(
        "POST /oauth2/token HTTP/1.1\r\nHost: tokens.test\r\nAuthorization: Basic {BASIC_SVC_A}\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    (head, body)
}

const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: tokens.test\r\n\r\n";

/// One HTTP/1.1 response: status, head (lower-cased) and body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) head: String,
    pub(crate) body: Vec<u8>,
}

impl Answer {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A raw keep-alive connection.
pub(crate) struct Conn {
    pub(crate) stream: TcpStream,
    /// Bytes read past the last response.
    buf: Vec<u8>,
}

impl Conn {
    pub(crate) async fn open(addr: std::net::SocketAddr) -> Conn {
        Conn { stream: TcpStream::connect(addr).await.unwrap(), buf: Vec::new() }
    }

    /// A connection whose `GET /healthz` was answered 200: accepted, and idle now.
    pub(crate) async fn answered(addr: std::net::SocketAddr) -> Conn {
        let mut conn = Conn::open(addr).await;
        conn.send(HEALTHZ).await;
        assert_eq!(conn.expect_response().await.status, 200);
        conn
    }

    pub(crate) async fn send(&mut self, bytes: &str) {
        self.stream.write_all(bytes.as_bytes()).await.unwrap();
    }

    /// Reads more bytes; `None` at end of stream (or reset).
    pub(crate) async fn fill(&mut self) -> Option<()> {
        let mut chunk = [0u8; 4096];
        match self.stream.read(&mut chunk).await {
            Ok(0) | Err(_) => None,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Some(())
            }
        }
    }

    /// The next response (with a `Content-Length` body), or `None` if the server closed
    /// the connection first.
    pub(crate) async fn response(&mut self) -> Option<Answer> {
        let end = loop {
            if let Some(i) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            self.fill().await?;
        };
        let head = String::from_utf8(self.buf[..end].to_vec()).unwrap().to_ascii_lowercase();
        let status = head[9..12].parse().unwrap();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse().unwrap());
        while self.buf.len() < end + length {
            self.fill().await?;
        }
        let body = self.buf[end..end + length].to_vec();
        self.buf.drain(..end + length);
        Some(Answer { status, head, body })
    }

    /// The next response, within [`PATIENCE`].
    pub(crate) async fn expect_response(&mut self) -> Answer {
        tokio::time::timeout(PATIENCE, self.response()).await.expect("no response in time").expect("closed")
    }

    /// Waits for the server to close the connection; how long that took. Panics if any
    /// byte arrives instead, or if nothing happens within [`PATIENCE`].
    pub(crate) async fn expect_close(&mut self) -> Duration {
        let started = Instant::now();
        let closed = tokio::time::timeout(PATIENCE, self.fill()).await.expect("the connection stayed open");
        assert!(closed.is_none(), "unexpected bytes: {:?}", String::from_utf8_lossy(&self.buf));
        started.elapsed()
    }
}

#[tokio::test]
async fn a_connection_that_stalls_in_its_request_head_is_closed_after_header_read_timeout() {
    let app = TestApp::spawn_with("[server]\nheader_read_timeout = \"500ms\"").await;
    // Half a request head, as a slowloris client sends it ...
    let mut partial = Conn::open(app.addr).await;
    partial.send("POST /oauth2/token HTTP/1.1\r\nHost: x\r\n").await;
    // ... and a connection that sends nothing at all.
    let mut silent = Conn::open(app.addr).await;
    let (partial, silent) = tokio::join!(partial.expect_close(), silent.expect_close());
    for took in [partial, silent] {
        assert!(took >= Duration::from_millis(400), "closed too early: {took:?}");
        assert!(took < Duration::from_secs(5), "closed too late: {took:?}");
    }
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_after_header_read_timeout() {
    let app = TestApp::spawn_with("[server]\nheader_read_timeout = \"500ms\"").await;
    let mut conn = Conn::answered(app.addr).await;
    let took = conn.expect_close().await;
    assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn a_keep_alive_client_is_served_request_after_request_on_one_connection_rfc9112_9_3() {
    let app = TestApp::spawn_with("[server]\nheader_read_timeout = \"500ms\"").await;
    let mut conn = Conn::open(app.addr).await;
    let (head, body) = token_request();
    // The first head arrives in two pieces, well within the timeout.
    let (first, rest) = head.split_at(30);
    conn.send(first).await;
    // A sleep by design: the pause between the pieces is the behaviour under test.
    tokio::time::sleep(Duration::from_millis(100)).await;
    conn.send(rest).await;
    conn.send(body).await;
    let answer = conn.expect_response().await;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    // Eight more with pauses shorter than the timeout: 1.2 s in all, more than twice the
    // timeout, so the timer starts afresh for every request.
    let started = Instant::now();
    let mut tokens = Vec::new();
    for _ in 0..8 {
        // A sleep by design: idle time shorter than the timeout is the behaviour under test.
        tokio::time::sleep(Duration::from_millis(150)).await;
        conn.send(&head).await;
        conn.send(body).await;
        let answer = conn.expect_response().await;
        assert_eq!(answer.status, 200);
        assert!(!answer.head.contains("connection: close"), "{}", answer.head);
        tokens.push(answer.json()["access_token"].as_str().unwrap().to_owned());
    }
    assert!(started.elapsed() >= Duration::from_millis(1200));
    for token in tokens {
        app.verify(&token, "https://api.one").await;
    }
}

#[tokio::test]
async fn a_request_whose_body_takes_longer_than_header_read_timeout_is_still_answered() {
    // The header-read timeout stops counting once the head is in: the body and the answer
    // are `server.request_timeout`'s business (10 s by default).
    let app = TestApp::spawn_with("[server]\nheader_read_timeout = \"300ms\"").await;
    let mut conn = Conn::open(app.addr).await;
    let (head, body) = token_request();
    conn.send(&head).await;
    // A sleep by design: a body later than header_read_timeout is the behaviour under test
    // (twice the timeout, so a timer wrongly still running would have fired).
    tokio::time::sleep(Duration::from_millis(600)).await;
    conn.send(body).await;
    let answer = conn.expect_response().await;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));
    // And the deadline is back on after the response: the idle connection closes.
    let took = conn.expect_close().await;
    assert!(took >= Duration::from_millis(200) && took < Duration::from_secs(5), "{took:?}");
}

#[tokio::test]
async fn max_connections_caps_the_connections_served_at_once() {
    let app = TestApp::spawn_with("[server]\nmax_connections = 2\nheader_read_timeout = \"5s\"").await;
    let mut first = Conn::open(app.addr).await;
    let mut second = Conn::open(app.addr).await;
    for conn in [&mut first, &mut second] {
        conn.send(HEALTHZ).await;
        assert_eq!(conn.expect_response().await.status, 200);
    }
    // A third connection waits in the listen backlog: no answer while both are open ...
    let mut third = Conn::open(app.addr).await;
    third.send(HEALTHZ).await;
    let waited = tokio::time::timeout(Duration::from_millis(500), third.response()).await;
    assert!(waited.is_err(), "the third connection was served while two were open");
    // ... and is served as soon as one of them closes.
    drop(first);
    assert_eq!(third.expect_response().await.status, 200);
    // The open one was never disturbed.
    second.send(HEALTHZ).await;
    assert_eq!(second.expect_response().await.status, 200);
}

#[tokio::test]
async fn shutdown_finishes_the_in_flight_request_and_closes_idle_connections() {
    let server = Joinable::spawn(&format!("[server]\nshutdown_delay = \"0s\"\n{CLIENTS}")).await;
    let mut idle = Conn::answered(server.addr).await;
    // A token request whose body is still on its way when the shutdown starts.
    let (head, body) = token_request();
    let mut busy = Conn::open(server.addr).await;
    busy.send(&head.replacen("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n", 1)).await;
    // The server asks for the body (RFC 9110 §10.1.1) once the handler reads it: from then
    // on the request is in flight.
    assert_eq!(busy.expect_response().await.status, 100);
    busy.send(&body[..10]).await;

    server.stop.send(()).unwrap();
    idle.expect_close().await;
    // No new connections ...
    let refused = eventually(|| async { TcpStream::connect(server.addr).await.is_err() }).await;
    assert!(refused, "still accepting {EVENTUALLY:?} after shutdown");
    // ... but the request in flight is answered, then its connection closes.
    assert!(!server.served.is_finished(), "returned before the in-flight request was answered");
    busy.send(&body[10..]).await;
    let answer = busy.expect_response().await;
    assert_eq!(answer.status, 200);
    assert!(answer.json()["access_token"].is_string());
    busy.expect_close().await;
    tokio::time::timeout(PATIENCE, server.served).await.expect("the server did not stop").unwrap();
}

#[tokio::test]
async fn shutdown_is_not_held_up_for_ever_by_a_stalled_connection() {
    let server = Joinable::spawn(&format!(
        "[server]\nheader_read_timeout = \"500ms\"\nshutdown_delay = \"0s\"\n{CLIENTS}"
    ))
    .await;
    let mut stalled = Conn::open(server.addr).await;
    stalled.send("POST /oauth2/token HTTP/1.1\r\nHost: x\r\n").await;
    // Connections are accepted in the order they came: once a later one has been answered,
    // the stalled one is the server's too when the shutdown starts.
    let later = Conn::answered(server.addr).await;
    drop(later);
    server.stop.send(()).unwrap();
    tokio::time::timeout(PATIENCE, server.served).await.expect("the server did not stop").unwrap();
    stalled.expect_close().await;
}

#[tokio::test]
async fn a_stalled_request_gets_408_with_oauth_json() {
    let app = TestApp::spawn_with("[server]\nrequest_timeout = \"1s\"").await;
    let mut stream = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    // Promise 100 bytes of body, send 11, then stall.
    let head = "POST /oauth2/token HTTP/1.1\r\nhost: t\r\ncontent-type: application/x-www-form-urlencoded\r\n\
                content-length: 100\r\n\r\ngrant_type=";
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(15), async {
        let mut buf = [0u8; 1024];
        while !response.windows(4).any(|w| w == b"\r\n\r\n") || !response.ends_with(b"}") {
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            response.extend_from_slice(&buf[..n]);
        }
    })
    .await;
    assert!(read.is_ok(), "the server never answered");
    let text = String::from_utf8_lossy(&response);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"error\":\"invalid_request\""), "{text}");
}

#[tokio::test]
async fn after_the_shutdown_signal_readyz_is_503_at_once_while_requests_are_still_served() {
    // A delay no test waits out: the server is dropped with the test.
    let server = Joinable::spawn(&format!("[server]\nshutdown_delay = \"1h\"\n{CLIENTS}")).await;
    let http = test_http();
    let readyz = format!("http://{}/readyz", server.addr);
    assert_eq!(http.get(&readyz).send().await.unwrap().status(), 200);
    let mut kept = Conn::answered(server.addr).await;

    server.stop.send(()).unwrap();
    // The flag is set by the shutdown future as it resolves: the next /readyz sees it.
    let draining = eventually(|| async { http.get(&readyz).send().await.unwrap().status() == 503 }).await;
    assert!(draining, "/readyz still ready after the shutdown signal");
    let res = http.get(&readyz).send().await.unwrap();
    assert_eq!(res.headers()["cache-control"], "no-store");
    assert_eq!(res.json::<Value>().await.unwrap()["reason"], "shutting down");
    // Tokens are still issued, on new connections and on open ones alike.
    assert_eq!(basic_token(&http, &server.addr.to_string(), "svc-a", SECRET_A).await.status(), 200);
    let (head, body) = token_request();
    kept.send(&format!("{head}{body}")).await;
    assert_eq!(kept.expect_response().await.status, 200);
    // A connection made during the delay is served too.
    Conn::answered(server.addr).await;
    assert!(!server.served.is_finished());
}

#[tokio::test]
async fn after_the_shutdown_delay_the_listener_closes_and_the_server_drains() {
    let server = Joinable::spawn(&format!("[server]\nshutdown_delay = \"200ms\"\n{CLIENTS}")).await;
    let mut idle = Conn::answered(server.addr).await;
    server.stop.send(()).unwrap();
    idle.expect_close().await;
    let refused = eventually(|| async { TcpStream::connect(server.addr).await.is_err() }).await;
    assert!(refused, "still accepting {EVENTUALLY:?} after shutdown");
    tokio::time::timeout(PATIENCE, server.served).await.expect("the server did not stop").unwrap();
}
