//! The state folder: one record and one log file per instance.
//!
//! `<dir>/<id>.json` records what the plugin started (the spec, the tags, the pid and the start
//! time) and is replaced atomically on every change, so that a plugin restarted over the same
//! folder finds its processes again. `<dir>/<id>.log` receives the process's stdout and stderr,
//! and before them the output of the spec's `Init`.
//!
//! Everything here blocks; callers run it on the blocking pool.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use infrakit_spi::instance::{Description, InstanceId, LogicalId, Spec};
use infrakit_spi::types::{Tags, nullable};
use rand::Rng;
use serde::{Deserialize, Serialize};
use tracing::debug;

use super::error::ProcessError;
use super::identity::ProcessIdentity;
use crate::atomic_write::{is_temporary, write_atomically};

/// Every instance ID starts with this.
const ID_PREFIX: &str = "proc-";
/// Characters after the prefix: lowercase letters and digits read well and need no quoting.
const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
/// 36^8 ≈ 2.8e12 IDs: collisions within one folder are negligible, and still checked.
const ID_RANDOM_CHARS: usize = 8;
const RECORD_SUFFIX: &str = ".json";
const LOG_SUFFIX: &str = ".log";

/// What the plugin knows of one instance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct Record {
    #[serde(rename = "ID")]
    pub(crate) id: InstanceId,
    #[serde(rename = "LogicalID", default)]
    pub(crate) logical_id: Option<LogicalId>,
    /// The instance's tags: the spec's, then merged labels.
    #[serde(default, with = "nullable")]
    pub(crate) tags: Tags,
    /// The spec it was provisioned from.
    pub(crate) spec: Spec,
    /// Which process it is.
    #[serde(flatten)]
    pub(crate) process: ProcessIdentity,
}

impl Record {
    /// The instance as describe reports it; with `properties`, the record itself.
    pub(crate) fn describe(&self, properties: bool) -> Description {
        Description {
            id: self.id.clone(),
            logical_id: self.logical_id.clone(),
            tags: self.tags.clone(),
            properties: if properties { serde_json::to_value(self).ok() } else { None },
        }
    }
}

/// The state folder.
#[derive(Debug, Clone)]
pub(crate) struct StateDir {
    dir: PathBuf,
}

impl StateDir {
    pub(crate) fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The log file of instance `id` (which need not exist).
    pub(crate) fn log_path(&self, id: &InstanceId) -> PathBuf {
        self.dir.join(format!("{id}{LOG_SUFFIX}"))
    }

    /// Creates the folder if needed, picks a fresh ID and creates its empty log file, which
    /// reserves the ID against concurrent provisions.
    pub(crate) fn reserve(&self) -> Result<(InstanceId, File), ProcessError> {
        fs::create_dir_all(&self.dir).map_err(|e| ProcessError::io("create", &self.dir, e))?;
        let mut rng = rand::rng();
        loop {
            let suffix: String =
                (0..ID_RANDOM_CHARS).map(|_| char::from(ID_ALPHABET[rng.random_range(0..ID_ALPHABET.len())])).collect();
            let id = InstanceId(format!("{ID_PREFIX}{suffix}"));
            let log_path = self.log_path(&id);
            match OpenOptions::new().append(true).create_new(true).open(&log_path) {
                Ok(log) if !self.record_path(&id).exists() => return Ok((id, log)),
                Ok(_) => {
                    // A record without a log: the log was deleted by hand. Keep looking.
                    let _ = fs::remove_file(&log_path);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(ProcessError::io("create", &log_path, e)),
            }
        }
    }

    /// The record of `id`, or `None` if there is none.
    pub(crate) fn read(&self, id: &InstanceId) -> Result<Option<Record>, ProcessError> {
        if !is_valid_id(id.as_str()) {
            return Ok(None);
        }
        let path = self.record_path(id);
        match fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map(Some).map_err(|source| ProcessError::CorruptRecord { path, source })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ProcessError::io("read", &path, e)),
        }
    }

    /// Writes (or replaces) a record atomically.
    pub(crate) fn write(&self, record: &Record) -> Result<(), ProcessError> {
        let path = self.record_path(&record.id);
        let bytes = serde_json::to_vec_pretty(record).map_err(|source| ProcessError::Encode { source })?;
        write_atomically(&path, &bytes).map_err(|e| ProcessError::io("write", &path, e))
    }

    /// Removes the record of `id`; a missing record is not an error.
    pub(crate) fn remove_record(&self, id: &InstanceId) -> Result<(), ProcessError> {
        remove_if_present(&self.record_path(id))
    }

    /// Removes the log of `id`; a missing log is not an error.
    pub(crate) fn remove_log(&self, id: &InstanceId) -> Result<(), ProcessError> {
        remove_if_present(&self.log_path(id))
    }

    /// Every record in the folder. Files that are not records are skipped with a debug log.
    pub(crate) fn records(&self) -> Result<Vec<Record>, ProcessError> {
        let entries = match fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            // No folder yet: nothing was ever provisioned here.
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ProcessError::io("list", &self.dir, e)),
        };
        let mut records = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| ProcessError::io("list", &self.dir, e))?;
            let name = entry.file_name();
            let Some(id) = name.to_str().and_then(|n| n.strip_suffix(RECORD_SUFFIX)) else { continue };
            if is_temporary(id) || !is_valid_id(id) {
                continue;
            }
            match self.read(&InstanceId::from(id)) {
                Ok(Some(record)) if record.id.as_str() == id => records.push(record),
                Ok(Some(record)) => {
                    debug!(file = %entry.path().display(), id = %record.id, "skipping: record names another instance")
                }
                Ok(None) => {}
                Err(e) => debug!(error = %infrakit_spi::error::chain(&e), "skipping: not a process record"),
            }
        }
        records.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(records)
    }

    fn record_path(&self, id: &InstanceId) -> PathBuf {
        self.dir.join(format!("{id}{RECORD_SUFFIX}"))
    }
}

/// True for IDs this plugin hands out; anything else (say `../x`) names no instance.
pub(crate) fn is_valid_id(id: &str) -> bool {
    id.strip_prefix(ID_PREFIX)
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
}

fn remove_if_present(path: &Path) -> Result<(), ProcessError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(ProcessError::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str) -> Record {
        Record {
            id: InstanceId::from(id),
            logical_id: Some(LogicalId::from("web-1")),
            tags: Tags::from([("tier".to_owned(), "web".to_owned())]),
            spec: Spec::default(),
            process: ProcessIdentity { pid: 42, start_time: 7 },
        }
    }

    #[test]
    fn reserves_distinct_readable_ids() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().join("process"));
        let (a, _) = state.reserve().unwrap();
        let (b, _) = state.reserve().unwrap();
        assert_ne!(a, b);
        assert!(is_valid_id(a.as_str()) && a.as_str().len() == ID_PREFIX.len() + ID_RANDOM_CHARS, "{a}");
        assert!(state.log_path(&a).exists());
    }

    #[test]
    fn records_round_trip_with_pid_and_start_time_at_top_level() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().to_owned());
        state.write(&record("proc-abc")).unwrap();
        let json: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.path().join("proc-abc.json")).unwrap()).unwrap();
        assert_eq!((json["Pid"].as_u64(), json["StartTime"].as_u64()), (Some(42), Some(7)));
        assert_eq!(json["LogicalID"], "web-1");
        assert_eq!(state.read(&InstanceId::from("proc-abc")).unwrap(), Some(record("proc-abc")));
        assert_eq!(state.read(&InstanceId::from("proc-none")).unwrap(), None);
        assert_eq!(state.read(&InstanceId::from("../etc/passwd")).unwrap(), None);
    }

    #[test]
    fn listing_skips_what_is_not_a_record() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::new(dir.path().to_owned());
        state.write(&record("proc-b")).unwrap();
        state.write(&record("proc-a")).unwrap();
        fs::write(dir.path().join("proc-c.json"), b"not json").unwrap();
        fs::write(dir.path().join("proc-d.json"), serde_json::to_vec(&record("proc-a")).unwrap()).unwrap();
        fs::write(dir.path().join("notes.json"), b"{}").unwrap();
        fs::write(dir.path().join("proc-a.log"), b"hello").unwrap();
        let ids: Vec<String> = state.records().unwrap().into_iter().map(|r| r.id.0).collect();
        assert_eq!(ids, ["proc-a", "proc-b"]);
        assert!(StateDir::new(dir.path().join("missing")).records().unwrap().is_empty());
    }
}
