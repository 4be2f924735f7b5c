//! Why a `process` plugin call failed, and what the caller is told.

use std::io;
use std::path::{Path, PathBuf};

use infrakit_spi::duration::GoDuration;
use infrakit_spi::instance::InstanceId;

use super::properties::InvalidProperties;
use crate::blocking::TaskFailed;
use infrakit_spi::error::chain;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ProcessError {
    #[error(transparent)]
    InvalidProperties(#[from] InvalidProperties),
    #[error("working directory {} does not exist", .0.display())]
    MissingDir(PathBuf),
    #[error("instance {0} not found")]
    NotFound(InstanceId),
    #[error("cannot {action} {}", .path.display())]
    Io { action: &'static str, path: PathBuf, source: io::Error },
    #[error("{} is not a valid process record", .path.display())]
    CorruptRecord { path: PathBuf, source: serde_json::Error },
    #[error("cannot encode the process record")]
    Encode { source: serde_json::Error },
    #[error("cannot start {program:?}")]
    Spawn { program: String, source: io::Error },
    #[error("cannot wait for {program:?}")]
    Wait { program: String, source: io::Error },
    #[error("init {status}; last output: {tail}")]
    InitFailed { status: String, tail: String },
    #[error("init did not finish within {0}; it was killed")]
    InitTimedOut(GoDuration),
    #[error("cannot signal process {pid}")]
    Signal { pid: u32, source: nix::Error },
    #[error("process {pid} is still running {waited} after SIGKILL")]
    Unkillable { pid: u32, waited: GoDuration },
    #[error(transparent)]
    Task(#[from] TaskFailed),
}

impl ProcessError {
    pub(crate) fn io(action: &'static str, path: &Path, source: io::Error) -> Self {
        Self::Io { action, path: path.to_owned(), source }
    }
}

impl From<ProcessError> for infrakit_spi::Error {
    fn from(error: ProcessError) -> Self {
        let message = chain(&error);
        match error {
            ProcessError::InvalidProperties(_) | ProcessError::MissingDir(_) => Self::invalid(message),
            ProcessError::NotFound(_) => Self::not_found(message),
            _ => Self::failed(message),
        }
    }
}
