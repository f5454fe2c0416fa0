//! What wakes the background tasks: file-system events on a directory (with polling as the
//! tasks' fallback, since Kubernetes swaps Secret and ConfigMap volumes through a symlink and
//! network file systems send no events), and SIGHUP.

use std::path::Path;

use notify::event::{AccessKind, AccessMode};
use notify::{EventKind, RecursiveMode, Watcher as _};
use tokio::sync::mpsc;

/// Watches `dir` (not recursively); each event that may mean a change to a file `concerns`
/// accepts sends a wake-up, and the task then compares what it read before. `None` (with a
/// warning naming `what`) when events cannot be had: the task polls.
pub(super) fn watch(
    dir: &Path,
    what: &str,
    concerns: impl Fn(&Path) -> bool + Send + 'static,
    events: mpsc::Sender<()>,
) -> Option<notify::RecommendedWatcher> {
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let about_us = match &event {
            // Events without paths (an overflow) may concern anything.
            Ok(e) => e.paths.is_empty() || e.paths.iter().any(|p| concerns(p)),
            Err(_) => true,
        };
        // A full channel already holds a wake-up; dropping this one loses nothing.
        if about_us && may_change(&event) {
            let _ = events.try_send(());
        }
    });
    let mut watcher = match watcher {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!(error = %e, "no file-system events; polling the {what} instead");
            return None;
        }
    };
    if let Err(e) = watcher.watch(dir, RecursiveMode::NonRecursive) {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot watch the {what}; polling it instead");
        return None;
    }
    Some(watcher)
}

/// Whether a file-system event can mean the files changed. Reads are not: inotify reports
/// every open of the directory and its files, the task's own reads included, so waking on
/// them would re-read the directory in a loop, and replicas sharing the directory would wake
/// each other. A failed watch still wakes.
fn may_change(event: &notify::Result<notify::Event>) -> bool {
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
pub(super) type Hangups = Option<tokio::signal::unix::Signal>;
/// No SIGHUP off Unix.
#[cfg(not(unix))]
pub(super) type Hangups = Option<()>;

#[cfg(unix)]
pub(super) fn hangup_signals() -> Hangups {
    tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .inspect_err(|e| tracing::warn!(error = %e, "cannot listen for SIGHUP"))
        .ok()
}

#[cfg(not(unix))]
pub(super) fn hangup_signals() -> Hangups {
    None
}

#[cfg(unix)]
pub(super) async fn recv_hangup(h: &mut Hangups) -> Option<()> {
    match h {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

#[cfg(not(unix))]
pub(super) async fn recv_hangup(_h: &mut Hangups) -> Option<()> {
    std::future::pending().await
}

#[cfg(test)]
mod tests {
    use notify::event::{CreateKind, ModifyKind, RemoveKind, RenameMode};
    use notify::{Event, EventKind};

    use super::*;

    #[test]
    fn reads_do_not_wake_the_loop_but_writes_and_renames_do() {
        let wakes = |kind| may_change(&Ok(Event::new(kind)));
        assert!(!wakes(EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(!wakes(EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(!wakes(EventKind::Access(AccessKind::Read)));
        assert!(wakes(EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(wakes(EventKind::Create(CreateKind::File)));
        assert!(wakes(EventKind::Remove(RemoveKind::File)));
        assert!(wakes(EventKind::Modify(ModifyKind::Name(RenameMode::To))));
        assert!(wakes(EventKind::Any));
        assert!(may_change(&Err(notify::Error::generic("watch lost"))));
    }
}
