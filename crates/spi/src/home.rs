//! InfraKit's home folder, where plugins find each other's sockets and keep their state.
//!
//! The original reads it from `INFRAKIT_HOME`, else `~/.infrakit`; every component that keeps a
//! file (the plugins directory, the process plugin's records, the docker plugin's labels, the
//! manager's store and journal) resolves it here, so that one variable moves all of them.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// The variable naming InfraKit's home folder.
pub const HOME_ENV: &str = "INFRAKIT_HOME";

/// InfraKit's home in this process's environment: `$INFRAKIT_HOME`, else `~/.infrakit`, else
/// (no user home at all) `infrakit` in the temp folder.
pub fn home() -> PathBuf {
    resolve(std::env::var_os(HOME_ENV).as_deref(), std::env::home_dir().as_deref())
}

/// InfraKit's home given the value of [`HOME_ENV`] and the user's home folder; an empty value
/// counts as unset, as a shell's `INFRAKIT_HOME=` means.
pub fn resolve(infrakit_home: Option<&OsStr>, user_home: Option<&Path>) -> PathBuf {
    match (infrakit_home.filter(|h| !h.is_empty()), user_home.filter(|h| !h.as_os_str().is_empty())) {
        (Some(home), _) => PathBuf::from(home),
        (None, Some(user)) => user.join(".infrakit"),
        (None, None) => std::env::temp_dir().join("infrakit"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_wins_then_the_users_home() {
        let user = Path::new("/home/me");
        assert_eq!(resolve(Some(OsStr::new("/srv/infrakit")), Some(user)), PathBuf::from("/srv/infrakit"));
        assert_eq!(resolve(Some(OsStr::new("")), Some(user)), PathBuf::from("/home/me/.infrakit"));
        assert_eq!(resolve(None, Some(user)), PathBuf::from("/home/me/.infrakit"));
        assert_eq!(resolve(None, None), std::env::temp_dir().join("infrakit"));
    }
}
