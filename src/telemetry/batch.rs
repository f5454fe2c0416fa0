//! A log sink that never makes a request wait and never wakes a thread per line.
//!
//! A formatted line is appended to a shared buffer under a short lock. The writer thread
//! is woken only when the buffer goes from empty to non-empty; it then lets lines gather
//! for up to [`BATCH_WINDOW`], or until [`FLUSH_BYTES`] are waiting, and writes the whole
//! batch with one call. Under load that is one wake-up and one `write` per batch instead of
//! per line (a per-line hand-off cost about 5 µs of the single core per token request), and
//! at most about ten batches a second: each wake-up of the writer costs the request path
//! far more than the thread's own work, so the window is long. The size
//! threshold keeps batches bounded when many cores log at once.
//!
//! When the output stalls (a full stderr pipe), at most [`MAX_PENDING_BYTES`] wait; further
//! lines are dropped and counted, and the count is reported in the next batch.
//!
//! Measured gain, against the same build writing through tracing-appender's non-blocking
//! writer (which hands each line to its worker thread and wakes it for it): issuance
//! **+12%** (1.09–1.18 over 3 pairs of fresh processes) with each server alone on its core,
//! `ALONE=1 bench/ab.sh <that build> target/release/tokenmint`; head to head on one shared
//! core the two cost the same (1.001). The wake-ups take time from the request path, not CPU
//! another busy process could not have used (BENCHMARKS.md).

use std::io::{self, Write};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tracing_subscriber::fmt::MakeWriter;

/// Longest a line waits for its batch: the writer thread gathers lines for this long after
/// the first one of a batch arrives.
pub(crate) const BATCH_WINDOW: Duration = Duration::from_millis(100);

/// A batch is written as soon as this many bytes wait, before its window is over.
pub(crate) const FLUSH_BYTES: usize = 1024 * 1024;

/// Most bytes waiting for the output; lines beyond are dropped, never waited for.
pub(crate) const MAX_PENDING_BYTES: usize = 4 * 1024 * 1024;

/// The shared buffer and the writer thread's wake-up.
#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// How long a batch gathers ([`BATCH_WINDOW`] outside tests).
    window: Duration,
    /// Waiting bytes that end a batch early ([`FLUSH_BYTES`] outside tests).
    flush_bytes: usize,
}

#[derive(Debug, Default)]
struct State {
    /// Complete lines not yet written.
    pending: Vec<u8>,
    /// Lines dropped since the last batch because `pending` was full.
    dropped: u64,
    /// Set by [`FlushGuard`]: write what is left, then stop.
    closed: bool,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a valid buffer: keep logging.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The producer side: a [`MakeWriter`] whose writers append to the shared buffer.
#[derive(Debug, Clone)]
pub(crate) struct BatchSink {
    shared: Arc<Shared>,
}

/// Stops the writer thread when dropped, after it has written every pending line.
#[derive(Debug)]
#[must_use = "dropping the guard stops the writer thread"]
pub(crate) struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl BatchSink {
    /// Starts the writer thread for `out`.
    pub(crate) fn spawn<W: Write + Send + 'static>(out: W) -> io::Result<(BatchSink, FlushGuard)> {
        Self::spawn_with(out, BATCH_WINDOW, FLUSH_BYTES)
    }

    /// Starts the writer thread for `out` with a given batch window and early-flush size.
    fn spawn_with<W: Write + Send + 'static>(
        out: W,
        window: Duration,
        flush_bytes: usize,
    ) -> io::Result<(BatchSink, FlushGuard)> {
        let shared = Arc::new(Shared { state: Mutex::default(), wake: Condvar::new(), window, flush_bytes });
        let worker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("tokenmint-log".into())
            .spawn(move || write_batches(&worker, out))?;
        Ok((BatchSink { shared: Arc::clone(&shared) }, FlushGuard { shared, thread: Some(thread) }))
    }

    /// Queues one complete line (tracing's formatter hands over whole events).
    fn push(&self, line: &[u8]) {
        let mut state = self.shared.lock();
        if state.closed || state.pending.len() + line.len() > MAX_PENDING_BYTES {
            state.dropped += 1;
            return;
        }
        let before = state.pending.len();
        state.pending.extend_from_slice(line);
        let after = state.pending.len();
        drop(state);
        // Wake the writer when a batch starts, and again when it grows big enough to go early.
        let flush = self.shared.flush_bytes;
        if before == 0 || (before < flush && after >= flush) {
            self.shared.wake.notify_one();
        }
    }
}

impl Write for &BatchSink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.push(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchSink {
    type Writer = &'a BatchSink;

    fn make_writer(&'a self) -> Self::Writer {
        self
    }
}

/// The writer thread: wait for a first line, gather for the window (or until enough bytes
/// wait), write, repeat; on close, write what is left and return.
fn write_batches<W: Write>(shared: &Shared, mut out: W) {
    let mut batch = Vec::new();
    loop {
        let mut state = shared.lock();
        while state.pending.is_empty() && !state.closed {
            state = shared.wake.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
        let deadline = Instant::now() + shared.window;
        while !state.closed && state.pending.len() < shared.flush_bytes {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            state = shared.wake.wait_timeout(state, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        std::mem::swap(&mut state.pending, &mut batch);
        let dropped = std::mem::take(&mut state.dropped);
        let closed = state.closed;
        drop(state);
        if dropped > 0 {
            let _ = writeln!(batch, "tokenmint: {dropped} log lines dropped: the log output is too slow");
        }
        // Nowhere to report a failing stderr: the lines are lost, requests carry on.
        let _ = out.write_all(&batch).and_then(|()| out.flush());
        batch.clear();
        if closed {
            return;
        }
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telemetry::capture::Capture;

    #[test]
    fn lines_from_many_threads_arrive_whole_and_in_order_per_thread() {
        let out = Capture::default();
        let (sink, guard) = BatchSink::spawn(out.clone()).unwrap();
        std::thread::scope(|s| {
            for t in 0..4 {
                let sink = sink.clone();
                s.spawn(move || {
                    for i in 0..1000 {
                        let mut w = sink.make_writer();
                        w.write_all(format!("t{t} line {i}\n").as_bytes()).unwrap();
                    }
                });
            }
        });
        drop(guard);
        let text = out.text();
        assert_eq!(text.lines().count(), 4000);
        for t in 0..4 {
            let mine: Vec<usize> = text
                .lines()
                .filter_map(|l| l.strip_prefix(&format!("t{t} line ")))
                .map(|n| n.parse().unwrap())
                .collect();
            assert_eq!(mine, (0..1000).collect::<Vec<_>>());
        }
    }

    /// An output that blocks until the test lets it go, like a full pipe.
    struct Stalled {
        gate: Arc<Mutex<()>>,
        inner: Capture,
    }

    impl Write for Stalled {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let _open = self.gate.lock().unwrap();
            self.inner.write(buf)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stalled_output_drops_lines_instead_of_blocking_and_reports_the_count() {
        let gate = Arc::new(Mutex::new(()));
        let closed_gate = gate.lock().unwrap();
        let out = Capture::default();
        let window = Duration::from_millis(10);
        let (sink, guard) = BatchSink::spawn_with(
            Stalled { gate: Arc::clone(&gate), inner: out.clone() },
            window,
            FLUSH_BYTES,
        )
        .unwrap();
        // The first line starts a batch whose write blocks on the gate.
        (&sink).write_all(b"first\n").unwrap();
        std::thread::sleep(window * 5);
        let mut line = vec![b'x'; 1023];
        line.push(b'\n');
        let fits = MAX_PENDING_BYTES / line.len();
        for _ in 0..fits + 10 {
            (&sink).write_all(&line).unwrap();
        }
        drop(closed_gate);
        drop(guard);
        let text = out.text();
        assert!(text.starts_with("first\n"));
        assert_eq!(text.lines().filter(|l| l.starts_with('x')).count(), fits);
        assert!(text.contains("log lines dropped"), "no drop report in the output");
    }

    /// Waits (at most 10 s) until `out` holds `len` bytes; returns whether it did.
    fn arrives(out: &Capture, len: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if out.bytes().len() >= len {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }

    #[test]
    fn a_batch_is_written_when_its_window_ends() {
        let out = Capture::default();
        let (sink, _guard) =
            BatchSink::spawn_with(out.clone(), Duration::from_millis(20), FLUSH_BYTES).unwrap();
        (&sink).write_all(b"one line\n").unwrap();
        assert!(arrives(&out, 9), "a lone line was not written after its window");
    }

    #[test]
    fn a_batch_that_reaches_the_flush_size_goes_before_its_window_ends() {
        let out = Capture::default();
        // A window no test waits out: only the size threshold can start this write.
        let (sink, guard) = BatchSink::spawn_with(out.clone(), Duration::from_secs(3600), 4096).unwrap();
        let line = [b'x'; 1023].iter().copied().chain([b'\n']).collect::<Vec<u8>>();
        for _ in 0..4 {
            (&sink).write_all(&line).unwrap();
        }
        assert!(arrives(&out, 4096), "4 KiB waited for the window instead of going early");
        (&sink).write_all(b"tail\n").unwrap();
        drop(guard);
        assert!(out.bytes().ends_with(b"tail\n"), "closing did not write the last lines");
    }
}
