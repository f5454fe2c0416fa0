//! Keeps the key ring current: re-reads the key directory when it changes (file-system
//! events, with polling as a fallback because Kubernetes swaps Secret volumes through a
//! symlink and network file systems send no events), on SIGHUP, and whenever the schedule
//! says a key activates or retires. Creates the next key when automatic rotation is on.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

use crate::clock::Clock;
use crate::keys::KeyRing;

/// Debounce for file-system events: a key written by rename arrives as several events.
const SETTLE: Duration = Duration::from_millis(50);

/// What the maintenance task needs besides the ring.
#[derive(Debug)]
pub(crate) struct Maintenance {
    /// Upper bound between two directory checks.
    pub(crate) poll_interval: Duration,
    /// Whether this process creates rotation keys.
    pub(crate) auto_rotate: bool,
    /// SIGHUP, registered as soon as the server is built: before that, SIGHUP's default
    /// action would end the process.
    pub(crate) hangups: Hangups,
}

impl Maintenance {
    /// Settings plus the SIGHUP registration. Call inside the runtime.
    pub(crate) fn new(poll_interval: Duration, auto_rotate: bool) -> Self {
        Maintenance { poll_interval, auto_rotate, hangups: hangup_signals() }
    }
}

/// Runs until `shutdown` resolves.
pub(crate) async fn maintain(
    ring: Arc<KeyRing>,
    clock: Arc<dyn Clock>,
    settings: Maintenance,
    shutdown: impl Future<Output = ()>,
) {
    let (events_tx, mut events) = mpsc::channel::<()>(1);
    // Held for the life of the task; dropping it stops the watch.
    let _watcher = watch_dir(&ring, events_tx);
    let mut settings = settings;
    let mut hangups = settings.hangups.take();
    tokio::pin!(shutdown);
    loop {
        let now = clock.now();
        let until_change = ring
            .next_wake()
            .and_then(|t| t.duration_since(now).ok())
            .map_or(settings.poll_interval, |d| d.min(settings.poll_interval));
        let mut forced = false;
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(until_change) => {}
            Some(()) = events.recv() => {
                tokio::time::sleep(SETTLE).await;
                while events.try_recv().is_ok() {}
            }
            Some(()) = recv_hangup(&mut hangups) => {
                match ring.key_dir() {
                    Some(_) => tracing::info!("SIGHUP: re-reading the key directory"),
                    None => tracing::info!("SIGHUP: re-deriving the keys (the master secret is read only at startup)"),
                }
                forced = true;
            }
        }
        let (ring, clock, auto) = (Arc::clone(&ring), Arc::clone(&clock), settings.auto_rotate);
        // File reads and key generation stay off the async workers.
        let step = tokio::task::spawn_blocking(move || {
            let now = clock.now();
            if auto && let Err(e) = ring.rotate_if_due(now) {
                tracing::error!(error = %e, "automatic rotation failed; will retry");
            }
            // A failed refresh keeps the previous set and has logged why.
            let _ = ring.refresh(now, forced);
        });
        if let Err(e) = step.await {
            tracing::error!(error = %e, "key maintenance step failed");
        }
    }
}

/// Watches the key directory; events only wake the loop, which then compares stamps.
/// Derived keys have no directory to watch.
fn watch_dir(ring: &KeyRing, events: mpsc::Sender<()>) -> Option<notify::RecommendedWatcher> {
    let dir = ring.key_dir()?.to_path_buf();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // A full channel already holds a wake-up; dropping this one loses nothing.
        if may_change_keys(&event) {
            let _ = events.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "no file-system events; polling the key directory instead");
            return None;
        }
    };
    if let Err(e) = watcher.watch(&dir, RecursiveMode::NonRecursive) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the key directory; polling it instead");
        return None;
    }
    Some(watcher)
}

/// Whether a file-system event can mean the key files changed. Reads are not: inotify
/// reports every open of the directory and its files, our own refresh included, so
/// waking on them would re-read the directory in a loop (every `SETTLE`, forever), and
/// replicas sharing the directory would wake each other. A failed watch still wakes.
fn may_change_keys(event: &notify::Result<notify::Event>) -> bool {
    match event {
        Ok(event) => match event.kind {
            EventKind::Access(kind) => kind == AccessKind::Close(AccessMode::Write),
            _ => true,
        },
        Err(_) => true,
    }
}

/// The SIGHUP stream, if it could be registered.
#[cfg(unix)]
pub(crate) type Hangups = Option<tokio::signal::unix::Signal>;
/// No SIGHUP off Unix.
#[cfg(not(unix))]
pub(crate) type Hangups = Option<()>;

#[cfg(unix)]
fn hangup_signals() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP"))
        .ok()
}

#[cfg(not(unix))]
fn hangup_signals() -> Hangups {
    None
}

#[cfg(unix)]
async fn recv_hangup(h: &mut Hangups) -> Option<()> {
    match h {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
async fn recv_hangup(_h: &mut Hangups) -> Option<()> {
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, ModifyKind, RemoveKind, RenameMode};
    use notify::{Event, EventKind};

    use super::*;

    #[test]
    fn reads_do_not_wake_the_loop_but_writes_and_renames_do() {
        let wakes = |kind| may_change_keys(&Ok(Event::new(kind)));
        assert!(!wakes(EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!wakes(EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(!wakes(EventKind::Access(AccessKind::Read)));
        assert!(wakes(EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(wakes(EventKind::Create(CreateKind::File)));
        assert!(wakes(EventKind::Remove(RemoveKind::File)));
        assert!(wakes(EventKind::Modify(ModifyKind::Name(RenameMode::To))));
        assert!(wakes(EventKind::Any));
        assert!(may_change_keys(&Err(notify::Error::generic("watch lost"))));
    }
}
