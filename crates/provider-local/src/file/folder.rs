//! The folder of instance files, and the blocking work on it.
//!
//! Writes replace a file through a temporary file and a rename, so a reader never sees half a
//! file, and are serialized, so a label racing a destroy cannot write a destroyed instance back.
//! Reads list the folder and read only the files the [`Index`] does not hold.

use std::collections::HashSet;
use std::fs;
use std::io;
use std::os::unix::fs::DirEntryExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use infrakit_spi::changes::ChangeFeed;
use infrakit_spi::error::chain;
use infrakit_spi::group::GROUP_TAG;
use infrakit_spi::instance::{Description, InstanceId, PROVISION_TOKEN_TAG, Spec};
use infrakit_spi::types::Tags;
use sha1::{Digest, Sha1};
use tracing::debug;

use super::index::{Cached, Index};
use super::{FileError, ID_PREFIX, InstanceFile, MAX_INSTANCE_FILE_BYTES};
use crate::atomic_write::{is_temporary, write_through};
use crate::go_json::marshal_indent_flat;

/// The hidden folder, inside the folder, where files are written before they are renamed in.
const SCRATCH: &str = ".infrakit-scratch";

/// The folder of instance files.
#[derive(Debug)]
pub(super) struct Folder {
    pub dir: PathBuf,
    /// Serializes read-modify-write and remove, so that a label racing a destroy cannot write a
    /// destroyed instance back, and two labels cannot lose each other's tags.
    changes: Mutex<()>,
    /// The files as last read.
    index: Mutex<Index>,
    /// Set while a watcher reports the folder's changes: only then is the index trusted.
    watched: AtomicBool,
    /// Set once a watcher was started (it may have stopped since).
    watch_started: AtomicBool,
    /// Files this plugin is removing: their removal is its own doing, not a death to report.
    removing: Mutex<HashSet<String>>,
    /// Deaths pushed to listeners.
    pub feed: ChangeFeed,
    /// Whether the folder is in memory, once looked up.
    in_memory: OnceLock<bool>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section here leaves its data whole (inserts, removes, swaps).
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Folder {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            changes: Mutex::new(()),
            index: Mutex::new(Index::default()),
            watched: AtomicBool::new(false),
            watch_started: AtomicBool::new(false),
            removing: Mutex::new(HashSet::new()),
            feed: ChangeFeed::new(),
            in_memory: OnceLock::new(),
        }
    }

    /// Whether the folder (or, while it does not exist, the nearest folder above it) is on a
    /// file system in memory: tmpfs, on Linux.
    pub fn in_memory(&self) -> bool {
        *self.in_memory.get_or_init(|| {
            let existing = self.dir.ancestors().find(|p| p.exists());
            existing.is_some_and(on_tmpfs)
        })
    }

    /// True the first time it is called while the folder exists: the caller starts a watcher.
    pub fn claim_watch(&self) -> bool {
        self.dir.is_dir()
            && self.watch_started.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// A watcher reports the folder's changes from now on. What the index holds was read
    /// before and is read again.
    pub fn watching(&self) {
        locked(&self.index).clear();
        self.watched.store(true, Ordering::Release);
    }

    /// The watcher stopped (the folder went away or moved): the index is no longer trusted, and
    /// a later call may start another watcher.
    pub fn unwatched(&self) {
        self.watched.store(false, Ordering::Release);
        locked(&self.index).clear();
        locked(&self.removing).clear();
        self.watch_started.store(false, Ordering::Release);
    }

    /// The watcher saw `name` removed: forgets it, and says whether this plugin removed it and
    /// what tags it had.
    pub fn removed(&self, name: &str) -> (bool, Option<Tags>) {
        let ours = locked(&self.removing).remove(name);
        (ours, locked(&self.index).forget(name))
    }

    /// The watcher saw `name` written in place: it is read again at the next describe.
    pub fn edited(&self, name: &str) {
        locked(&self.index).forget(name);
    }

    /// The watcher may have missed changes.
    pub fn overflowed(&self) {
        locked(&self.index).clear();
    }

    pub fn provision(&self, spec: Spec) -> Result<InstanceId, FileError> {
        let id = InstanceId(format!("{ID_PREFIX}{}", instance_number(&spec)));
        // Held from the look to the write, so two calls with one token make one file.
        let _changes = locked(&self.changes);
        if self.path_of(&id)?.is_file() {
            debug!(%id, "provision asked again: the instance exists");
            return Ok(id);
        }
        let file = InstanceFile {
            description: Description {
                id: id.clone(),
                logical_id: spec.logical_id.clone(),
                tags: spec.tags.clone(),
                properties: None,
            },
            spec,
        };
        let scratch = self.scratch();
        fs::create_dir_all(&scratch).map_err(|source| FileError::Write { path: scratch, source })?;
        self.write(&file)?;
        debug!(%id, dir = %self.dir.display(), "provisioned file instance");
        Ok(id)
    }

    pub fn label(&self, id: &InstanceId, labels: &Tags) -> Result<(), FileError> {
        let _changes = locked(&self.changes);
        let path = self.path_of(id)?;
        let mut file = read_instance_file(&path).map_err(|e| match e {
            FileError::Read { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                FileError::NotFound(id.clone())
            }
            other => other,
        })?;
        file.description.tags.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        self.write(&file)
    }

    pub fn destroy(&self, id: &InstanceId) -> Result<(), FileError> {
        let _changes = locked(&self.changes);
        let path = self.path_of(id)?;
        if self.watched.load(Ordering::Acquire) {
            locked(&self.removing).insert(id.to_string());
        }
        fs::remove_file(&path).map_err(|source| {
            locked(&self.removing).remove(id.as_str());
            match source.kind() {
                io::ErrorKind::NotFound => FileError::NotFound(id.clone()),
                _ => FileError::Remove { path, source },
            }
        })?;
        debug!(%id, "destroyed file instance");
        Ok(())
    }

    /// The instances carrying all of `tags`, by ID. Lists the folder, and reads the files the
    /// index does not hold (all of them when nothing watches the folder).
    pub fn describe(&self, tags: &Tags, properties: bool) -> Result<Vec<Description>, FileError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            // No folder yet: nothing was ever provisioned here.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(FileError::List { path: self.dir.clone(), source }),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| FileError::List { path: self.dir.clone(), source })?;
            if let Ok(name) = entry.file_name().into_string()
                && name.starts_with(ID_PREFIX)
                && !is_temporary(&name)
            {
                names.push((name, entry));
            }
        }
        let trusted = self.watched.load(Ordering::Acquire);
        let mut index = locked(&self.index);
        let mut found = Vec::new();
        for (name, entry) in &names {
            let inode = entry.ino();
            let cached = match index.get(name, inode).filter(|_| trusted) {
                Some(cached) => cached,
                None => {
                    let Some(file) = instance_file_in(entry, name) else { continue };
                    let properties = serde_json::to_value(&file.spec).ok();
                    let cached = Arc::new(Cached { description: file.description, properties });
                    index.insert(name.clone(), inode, Arc::clone(&cached));
                    cached
                }
            };
            if !tags.iter().all(|(k, v)| cached.description.tags.get(k) == Some(v)) {
                continue;
            }
            let mut description = cached.description.clone();
            if properties {
                description.properties = cached.properties.clone();
            }
            found.push(description);
        }
        index.retain(&names.iter().map(|(name, _)| name.as_str()).collect());
        drop(index);
        found.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(found)
    }

    /// The file of instance `id`, refusing IDs that would reach outside the folder.
    pub fn path_of(&self, id: &InstanceId) -> Result<PathBuf, FileError> {
        let name = id.as_str();
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(FileError::NotFound(id.clone()));
        }
        Ok(self.dir.join(name))
    }

    /// Where files are written before they are renamed into the folder: a hidden folder of its
    /// own, so that the folder's watcher hears nothing of this plugin's writes.
    fn scratch(&self) -> PathBuf {
        self.dir.join(SCRATCH)
    }

    fn write(&self, file: &InstanceFile) -> Result<(), FileError> {
        let id = &file.description.id;
        let bytes = marshal_indent_flat(file).map_err(|source| FileError::Encode { id: id.clone(), source })?;
        let path = self.path_of(id)?;
        let scratch = self.scratch();
        match write_through(&scratch, &path, &bytes) {
            // Made by the first provision; a folder made by another plugin (or emptied by hand)
            // may lack it.
            Err(e) if e.kind() == io::ErrorKind::NotFound && !scratch.is_dir() => {
                fs::create_dir_all(&scratch).map_err(|source| FileError::Write { path: scratch.clone(), source })?;
                write_through(&scratch, &path, &bytes)
            }
            written => written,
        }
        .map_err(|source| FileError::Write { path, source })
    }
}

/// A non-negative 63-bit number, as Go's `rand.Int63()`: random, or derived from the group and
/// the provision token when the spec carries one, so that a repeated provision names the same
/// instance.
fn instance_number(spec: &Spec) -> u64 {
    let Some(token) = spec.tags.get(PROVISION_TOKEN_TAG) else {
        return rand::random::<u64>() >> 1;
    };
    let group = spec.tags.get(GROUP_TAG).map_or("", String::as_str);
    let digest = Sha1::new().chain_update(group).chain_update([0]).chain_update(token).finalize();
    let mut bytes = [0; 8];
    bytes.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(bytes) >> 1
}

/// The instance held by the folder entry `name`, or `None` (with a debug log) when the entry is
/// not an instance file: the wrong type, too large, unreadable, not instance JSON, or naming a
/// different instance than its file name says.
fn instance_file_in(entry: &fs::DirEntry, name: &str) -> Option<InstanceFile> {
    let path = entry.path();
    match entry.metadata() {
        Ok(meta) if meta.is_file() && meta.len() <= MAX_INSTANCE_FILE_BYTES => {}
        Ok(_) => {
            debug!(path = %path.display(), "skipping: not a regular file of instance size");
            return None;
        }
        Err(e) => {
            debug!(path = %path.display(), error = %e, "skipping: cannot stat");
            return None;
        }
    }
    match read_instance_file(&path) {
        Ok(file) if file.description.id.as_str() == name => Some(file),
        Ok(file) => {
            debug!(path = %path.display(), id = %file.description.id, "skipping: file names another instance");
            None
        }
        Err(e) => {
            debug!(error = %chain(&e), "skipping: not an instance file");
            None
        }
    }
}

#[cfg(target_os = "linux")]
fn on_tmpfs(path: &Path) -> bool {
    nix::sys::statfs::statfs(path).is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
}

#[cfg(not(target_os = "linux"))]
fn on_tmpfs(_path: &Path) -> bool {
    false
}

fn read_instance_file(path: &Path) -> Result<InstanceFile, FileError> {
    let bytes = fs::read(path).map_err(|source| FileError::Read { path: path.to_owned(), source })?;
    serde_json::from_slice(&bytes).map_err(|source| FileError::Corrupt { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_cannot_escape_the_folder() {
        let folder = Folder::new(PathBuf::from("/nowhere"));
        for bad in ["", ".", "..", "../etc/passwd", "a/b"] {
            assert!(matches!(folder.path_of(&InstanceId::from(bad)), Err(FileError::NotFound(_))), "{bad}");
        }
    }
}
