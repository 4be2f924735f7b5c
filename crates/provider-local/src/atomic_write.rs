//! Replacing a small file so that a concurrent reader sees the old content or the new, never a
//! half-written mix: write a hidden temporary file beside it, then rename it over the target.
//!
//! This is atomicity against readers (a plugin scanning its folder mid-write), not durability
//! across power loss: the data is not fsynced, because every file written here describes state
//! that is re-derived or re-created if lost.

use std::fs;
use std::io;
use std::path::Path;

/// Hidden temporary files start with this, so folder scans can tell them from real entries.
pub(crate) const TEMP_PREFIX: &str = ".";

/// Writes `bytes` to `path` through a temporary file beside it and a rename.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let beside = path.parent().unwrap_or(Path::new("."));
    write_through(beside, path, bytes)
}

/// Writes `bytes` to `path` through a temporary file in `scratch` (a folder on the same file
/// system) and a rename: a watcher of `path`'s folder sees the file appear whole, and nothing
/// of the temporary file.
pub(crate) fn write_through(scratch: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "path has no file name"))?;
    // A random suffix keeps two writers of the same file from sharing a temporary file.
    let temp = scratch.join(format!("{TEMP_PREFIX}{name}.{:016x}.tmp", rand::random::<u64>()));
    fs::write(&temp, bytes)?;
    fs::rename(&temp, path).inspect_err(|_| {
        let _ = fs::remove_file(&temp);
    })
}

/// True for names [`write_atomically`] uses for its temporary files (and other hidden files).
pub(crate) fn is_temporary(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_the_file_and_leaves_no_temporary_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("instance-1");
        write_atomically(&path, b"old").unwrap();
        write_atomically(&path, b"new").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"new");
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("instance-1")]);
    }
}
