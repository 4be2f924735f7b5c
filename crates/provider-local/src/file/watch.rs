//! Watching the folder with inotify (Linux): a removed instance file is an instance that died,
//! pushed to listeners at once instead of at their next poll; a file edited in place is read
//! again at the next describe. Elsewhere nothing is watched: listeners poll, and every describe
//! reads every file.

use std::sync::Arc;

use super::folder::Folder;

/// Starts watching the folder, if it exists and nothing watches it yet. Needs a tokio runtime.
pub(super) fn ensure(folder: &Arc<Folder>) {
    if folder.claim_watch() {
        imp::start(folder);
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use std::io;
    use std::sync::{Arc, Weak};

    use infrakit_spi::changes::{ChangeKind, InstanceChange};
    use infrakit_spi::instance::InstanceId;
    use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, InotifyEvent};

    use super::super::ID_PREFIX;
    use super::Folder;
    use crate::atomic_write::is_temporary;

    /// Starts a thread that reads the folder's events. A thread of its own rather than a task:
    /// tokio can only wait on a file descriptor through `unsafe`, which this workspace forbids,
    /// and one thread per watched folder keeps the process's threads bounded.
    pub(super) fn start(folder: &Arc<Folder>) {
        let watch = || -> io::Result<Inotify> {
            let inotify = Inotify::init(InitFlags::IN_CLOEXEC)?;
            // Not IN_MODIFY: a file edited in place is read again once its writer closes it, and
            // every event wakes this thread. The plugin's own writes land by a rename from its
            // scratch folder, which none of these report.
            let mask = AddWatchFlags::IN_DELETE
                | AddWatchFlags::IN_MOVED_FROM
                | AddWatchFlags::IN_CLOSE_WRITE
                | AddWatchFlags::IN_DELETE_SELF
                | AddWatchFlags::IN_MOVE_SELF;
            inotify.add_watch(&folder.dir, mask)?;
            Ok(inotify)
        };
        let started = watch().and_then(|inotify| {
            let weak = Arc::downgrade(folder);
            std::thread::Builder::new().name("file-watch".to_owned()).spawn(move || follow(&weak, &inotify))
        });
        match started {
            Ok(_) => folder.watching(),
            // Not retried: inotify's limits do not lift by themselves.
            Err(e) => {
                tracing::warn!(dir = %folder.dir.display(), error = %e, "cannot watch the folder; listeners poll")
            }
        }
    }

    /// Reads the folder's events until the folder goes away, the plugin does, or reading fails.
    fn follow(folder: &Weak<Folder>, inotify: &Inotify) {
        loop {
            let events = inotify.read_events();
            let Some(folder) = folder.upgrade() else { return };
            let events = match events {
                Ok(events) => events,
                Err(e) => {
                    tracing::warn!(dir = %folder.dir.display(), error = %e, "stopped watching the folder");
                    return folder.unwatched();
                }
            };
            for event in events {
                if !heard(&folder, &event) {
                    // The folder itself went away or moved: a later call watches it again.
                    return folder.unwatched();
                }
            }
        }
    }

    /// Takes in one event; false when the watch is over.
    fn heard(folder: &Folder, event: &InotifyEvent) -> bool {
        let over = AddWatchFlags::IN_DELETE_SELF | AddWatchFlags::IN_MOVE_SELF | AddWatchFlags::IN_IGNORED;
        if event.mask.intersects(over) {
            return false;
        }
        if event.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
            folder.overflowed();
            folder.feed.publish(InstanceChange::resync());
            return true;
        }
        let Some(name) = event.name.as_ref().and_then(|n| n.to_str()) else { return true };
        if !name.starts_with(ID_PREFIX) || is_temporary(name) {
            return true;
        }
        if event.mask.intersects(AddWatchFlags::IN_DELETE | AddWatchFlags::IN_MOVED_FROM) {
            match folder.removed(name) {
                (true, _) => {}
                (false, Some(tags)) => {
                    tracing::debug!(instance = name, "instance file removed");
                    folder.feed.publish(InstanceChange { id: InstanceId::from(name), tags, kind: ChangeKind::Gone });
                }
                // Never read, so whose it was is unknown: every listener looks.
                (false, None) => folder.feed.publish(InstanceChange::resync()),
            }
        } else {
            folder.edited(name);
        }
        true
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::sync::Arc;

    use super::Folder;

    /// Nothing to start: the index stays untrusted, and listeners poll.
    pub(super) fn start(_folder: &Arc<Folder>) {}
}
