//! Running blocking file-system work off the async workers.
//!
//! The file and process plugins read and write small files and scan folders; doing that on a
//! tokio worker would stall every other task on it, so each such step runs on the blocking pool.

/// A blocking step panicked: a bug, reported as a failed call rather than a crashed plugin.
#[derive(Debug, thiserror::Error)]
#[error("internal error: a blocking task failed: {0}")]
pub(crate) struct TaskFailed(String);

impl From<tokio::task::JoinError> for TaskFailed {
    fn from(error: tokio::task::JoinError) -> Self {
        Self(error.to_string())
    }
}

impl From<TaskFailed> for infrakit_spi::Error {
    fn from(error: TaskFailed) -> Self {
        Self::failed(error.to_string())
    }
}

/// Runs `work` on tokio's blocking pool and returns its result.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T, TaskFailed>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    Ok(tokio::task::spawn_blocking(work).await?)
}
