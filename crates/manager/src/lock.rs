//! The single-node guard: one manager per home folder.
//!
//! Two managers on one home would commit the same groups to two controllers, which then fight
//! over the instances. An exclusive `flock` on `<home>/manager.lock` is held for the manager's
//! life and released by the kernel when the process dies, even by `kill -9`, so a crash never
//! leaves a stale lock behind.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// The lock file's name in the home folder.
pub const LOCK_FILE: &str = "manager.lock";

/// Why the home folder could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another manager holds it.
    #[error("another manager{holder} is already running on {home}; stop it, or give this one another INFRAKIT_HOME")]
    Held { home: PathBuf, holder: String },
    /// The lock file could not be opened or locked.
    #[error("cannot lock {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// The held lock; dropping it releases the home folder.
#[derive(Debug)]
pub struct HomeLock {
    _file: Flock<File>,
}

impl HomeLock {
    /// Locks `home` for this process, or says which process holds it.
    pub fn acquire(home: &Path) -> Result<Self, LockError> {
        let path = home.join(LOCK_FILE);
        let io = |source| LockError::Io { path: path.clone(), source };
        std::fs::create_dir_all(home).map_err(io)?;
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        let mut file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(locked) => locked,
            Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
                let mut pid = String::new();
                let holder = match file.read_to_string(&mut pid) {
                    Ok(_) if !pid.trim().is_empty() => format!(" (process {})", pid.trim()),
                    _ => String::new(),
                };
                return Err(LockError::Held { home: home.to_owned(), holder });
            }
            Err((_, errno)) => return Err(io(errno.into())),
        };
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(Self { _file: file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder_and_a_released_lock_is_free() {
        let home = tempfile::tempdir().unwrap();
        let first = HomeLock::acquire(home.path()).unwrap();
        let err = HomeLock::acquire(home.path()).unwrap_err().to_string();
        assert!(err.contains(&format!("process {}", std::process::id())), "{err}");
        assert!(err.contains("already running"), "{err}");
        drop(first);
        HomeLock::acquire(home.path()).unwrap();
    }
}
