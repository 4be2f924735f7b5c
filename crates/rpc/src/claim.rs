//! Where plugins live, and claiming a name there.
//!
//! A plugin named `foo` listens on the unix socket `<dir>/foo` and records its process in
//! `<dir>/foo.pid`; both are removed on clean shutdown. The original refuses to start when either
//! file is left over from a crash, and panics on a stale socket. Here a leftover from a dead
//! process is recognised, logged and replaced, while a plugin that is still alive is never
//! touched: starting a second one with its name fails with [`ServeError::Conflict`].
//!
//! Alive means: the socket accepts connections and the pid file (if any) names a live process. A
//! socket that refuses connections, a pid file naming a dead process (its socket may still be held
//! open by an orphaned child), or a pid file without a socket is stale.
//!
//! Two processes starting the same name at the same instant can both find the files stale; the
//! one that binds second gets [`ServeError::Conflict`] from `bind`, except in the narrow window
//! where one removes a stale socket just as the other binds its own. Plugin names are unique
//! per host by convention, so that window is accepted rather than adding a lock file.

use std::ffi::OsString;
use std::fmt;
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use infrakit_spi::home::HOME_ENV;
use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use tokio::net::{UnixListener, UnixStream};

/// Environment variable naming the plugins directory.
pub const PLUGINS_DIR_ENV: &str = "INFRAKIT_PLUGINS_DIR";

/// Only the owner may list the directory or talk to the plugins: a plugin's socket is its API.
const DIR_MODE: u32 = 0o700;
/// Only the owner may connect to a plugin's socket.
const SOCKET_MODE: u32 = 0o600;

/// The plugins directory: `$INFRAKIT_PLUGINS_DIR`, else the `plugins` folder of InfraKit's home
/// (`$INFRAKIT_HOME`, else `~/.infrakit`; see [`infrakit_spi::home`]).
pub fn plugins_dir() -> PathBuf {
    resolve_plugins_dir(|key| std::env::var_os(key), std::env::home_dir())
}

fn resolve_plugins_dir(var: impl Fn(&str) -> Option<OsString>, home: Option<PathBuf>) -> PathBuf {
    let set = |key| var(key).filter(|value: &OsString| !value.is_empty());
    if let Some(dir) = set(PLUGINS_DIR_ENV) {
        return PathBuf::from(dir);
    }
    infrakit_spi::home::resolve(var(HOME_ENV).as_deref(), home.as_deref()).join("plugins")
}

/// Why a plugin could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The name cannot be a file name in the plugins directory.
    #[error("invalid plugin name '{name}': {reason}")]
    InvalidName {
        /// The name given.
        name: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A live plugin already has this name.
    #[error("plugin '{name}' is already running ({pid}) at {}", socket.display())]
    Conflict {
        /// The plugin name.
        name: String,
        /// The live plugin's process, as its pid file says.
        pid: PidDisplay,
        /// Its socket.
        socket: PathBuf,
    },
    /// Something other than a socket (a file, a directory) has the plugin's name; it is never
    /// removed.
    #[error("cannot listen on {}: it exists and is not a socket", path.display())]
    NotASocket {
        /// The path in the way.
        path: PathBuf,
    },
    /// Two services of the plugin have the same RPC name.
    #[error("plugin '{name}' registers the RPC service '{service}' twice")]
    DuplicateService {
        /// The plugin name.
        name: String,
        /// The service name.
        service: String,
    },
    /// Two objects of one service have the same name.
    #[error("plugin '{name}' registers the {service} object '{object}' twice")]
    DuplicateObject {
        /// The plugin name.
        name: String,
        /// The service.
        service: String,
        /// The object name (`""` is the default object).
        object: String,
    },
    /// A file system operation failed.
    #[error("cannot {action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// To which path.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
}

impl From<ServeError> for infrakit_spi::Error {
    fn from(error: ServeError) -> Self {
        match error {
            ServeError::Conflict { .. } => Self::Conflict(error.to_string()),
            ServeError::InvalidName { .. }
            | ServeError::DuplicateService { .. }
            | ServeError::DuplicateObject { .. } => Self::Invalid(error.to_string()),
            ServeError::NotASocket { .. } => Self::Conflict(error.to_string()),
            ServeError::Io { .. } => Self::Failed(error.to_string()),
        }
    }
}

/// A pid for messages: `pid 1234`, or `pid unknown` when the pid file is missing or unreadable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PidDisplay(pub Option<i32>);

impl fmt::Display for PidDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(pid) => write!(f, "pid {pid}"),
            None => f.write_str("pid unknown"),
        }
    }
}

/// This process's hold on a plugin name: the socket and the pid file, removed when dropped.
#[derive(Debug)]
pub(crate) struct Claim {
    socket: PathBuf,
    /// The socket's inode, so that a socket some other process put in our place is left alone.
    socket_inode: u64,
    pid_file: PathBuf,
}

impl Claim {
    /// Claims `name` in `dir` (created with mode 0700 if missing): replaces stale files, binds the
    /// socket (mode 0600) and writes the pid file.
    pub(crate) async fn take(dir: &Path, name: &str) -> Result<(UnixListener, Self), ServeError> {
        validate_name(name)?;
        std::fs::DirBuilder::new().recursive(true).mode(DIR_MODE).create(dir).map_err(|source| ServeError::Io {
            action: "create the plugins directory",
            path: dir.to_owned(),
            source,
        })?;
        let socket = dir.join(name);
        let pid_file = dir.join(format!("{name}.pid"));
        let conflict = |pid| ServeError::Conflict { name: name.to_owned(), pid, socket: socket.clone() };

        let recorded = recorded_pid(&pid_file);
        let recorded_alive = recorded.map(is_alive);
        match probe_socket(&socket).await {
            SocketState::Live if recorded_alive != Some(false) => return Err(conflict(PidDisplay(recorded))),
            SocketState::Live => {
                tracing::warn!(socket = %socket.display(), pid = %PidDisplay(recorded),
                    "replacing the socket of a dead plugin that something else still holds open");
                remove_if_present(&socket)?;
            }
            SocketState::Refusing => {
                tracing::warn!(socket = %socket.display(), pid = %PidDisplay(recorded),
                    "removing the stale socket of a plugin that is no longer running");
                remove_if_present(&socket)?;
            }
            SocketState::Absent => {}
            SocketState::NotASocket => return Err(ServeError::NotASocket { path: socket }),
        }
        if pid_file.exists() {
            tracing::warn!(pid_file = %pid_file.display(), pid = %PidDisplay(recorded),
                "removing the stale pid file of a plugin that is no longer running");
            remove_if_present(&pid_file)?;
        }

        let listener = UnixListener::bind(&socket).map_err(|source| match source.kind() {
            io::ErrorKind::AddrInUse => conflict(PidDisplay(recorded_pid(&pid_file))),
            _ => ServeError::Io { action: "listen on", path: socket.clone(), source },
        })?;
        let claim = Self {
            socket_inode: std::fs::metadata(&socket).map_err(io_error("inspect", &socket))?.ino(),
            socket: socket.clone(),
            pid_file: pid_file.clone(),
        };
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(SOCKET_MODE))
            .map_err(io_error("restrict the permissions of", &socket))?;
        std::fs::write(&pid_file, std::process::id().to_string()).map_err(io_error("write", &pid_file))?;
        tracing::info!(socket = %socket.display(), "plugin listening");
        Ok((listener, claim))
    }

    /// The socket path.
    pub(crate) fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let ours = std::fs::metadata(&self.socket).is_ok_and(|m| m.ino() == self.socket_inode);
        if ours && let Err(e) = std::fs::remove_file(&self.socket) {
            tracing::warn!(socket = %self.socket.display(), error = %e, "cannot remove the plugin socket");
        }
        if recorded_pid(&self.pid_file) == i32::try_from(std::process::id()).ok()
            && let Err(e) = std::fs::remove_file(&self.pid_file)
        {
            tracing::warn!(pid_file = %self.pid_file.display(), error = %e, "cannot remove the pid file");
        }
    }
}

fn io_error<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ServeError + 'a {
    move |source| ServeError::Io { action, path: path.to_owned(), source }
}

fn validate_name(name: &str) -> Result<(), ServeError> {
    let invalid = |reason| Err(ServeError::InvalidName { name: name.to_owned(), reason });
    if name.is_empty() {
        return invalid("it is empty");
    }
    if name.contains('/') || name.contains('\0') {
        return invalid("it must not contain '/' or NUL (use lookup/type to address an object)");
    }
    if name == "." || name == ".." {
        return invalid("it must not be '.' or '..'");
    }
    if name.ends_with(".pid") || name.ends_with(".listen") {
        return invalid("the suffixes .pid and .listen are reserved");
    }
    Ok(())
}

/// What is at a plugin's socket path.
enum SocketState {
    /// Nothing.
    Absent,
    /// A socket that accepts connections: its plugin is alive.
    Live,
    /// A socket that refuses connections: its plugin is gone.
    Refusing,
    /// Something else, which is not ours to remove.
    NotASocket,
}

async fn probe_socket(socket: &Path) -> SocketState {
    match std::fs::symlink_metadata(socket) {
        Err(_) => return SocketState::Absent,
        Ok(metadata) if !metadata.file_type().is_socket() => return SocketState::NotASocket,
        Ok(_) => {}
    }
    match UnixStream::connect(socket).await {
        Ok(_) => SocketState::Live,
        Err(_) => SocketState::Refusing,
    }
}

/// The pid a pid file records.
fn recorded_pid(pid_file: &Path) -> Option<i32> {
    std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()
}

/// Whether a process exists. Signal 0 checks existence only; EPERM means it exists but belongs
/// to another user.
fn is_alive(pid: i32) -> bool {
    matches!(kill(Pid::from_raw(pid), None), Ok(()) | Err(Errno::EPERM))
}

fn remove_if_present(path: &Path) -> Result<(), ServeError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(ServeError::Io { action: "remove the stale file", path: path.to_owned(), source: e })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugins_dir_resolution_order() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| OsString::from(v))
        };
        let home = Some(PathBuf::from("/home/u"));
        assert_eq!(
            resolve_plugins_dir(env(&[(PLUGINS_DIR_ENV, "/p"), (HOME_ENV, "/h")]), home.clone()),
            PathBuf::from("/p")
        );
        assert_eq!(resolve_plugins_dir(env(&[(HOME_ENV, "/h")]), home.clone()), PathBuf::from("/h/plugins"));
        assert_eq!(
            resolve_plugins_dir(env(&[(PLUGINS_DIR_ENV, ""), (HOME_ENV, "")]), home),
            PathBuf::from("/home/u/.infrakit/plugins")
        );
    }

    #[test]
    fn names_must_be_plain_file_names() {
        for bad in ["", "a/b", ".", "..", "x.pid", "y.listen"] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
        assert!(validate_name("group-stateless").is_ok());
    }
}
