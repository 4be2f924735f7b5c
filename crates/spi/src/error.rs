//! The error type shared by every plugin interface.
//!
//! Variants are named by what the caller can do about them, not by where they came from. On the
//! wire every error is a JSON-RPC application error carrying only the message text (that is all
//! the original protocol has), so [`Error`]'s `Display` is exactly the message a remote client
//! sees, and the RPC client maps a remote error back to [`Error::Failed`].

/// The result of a plugin call.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a plugin call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The input is malformed or invalid; the same input fails again.
    #[error("{0}")]
    Invalid(String),
    /// The named object (an instance, a group, a sub-plugin) does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The call conflicts with the current state (say, a second plugin with the same name).
    #[error("{0}")]
    Conflict(String),
    /// The plugin or its backend could not be reached in time; the call may succeed later.
    #[error("{0}")]
    Unavailable(String),
    /// The plugin or its backend tried and failed; the message says why.
    #[error("{0}")]
    Failed(String),
    /// The plugin does not implement this operation.
    #[error("{0}")]
    Unsupported(String),
}

impl Error {
    /// An [`Error::Invalid`] with this message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::Invalid(message.into())
    }

    /// An [`Error::NotFound`] with this message.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    /// An [`Error::Failed`] with this message.
    pub fn failed(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// An [`Error::Unavailable`] with this message.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable(message.into())
    }

    /// Whether the same call may succeed if made again later, unchanged.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Unavailable(_) | Self::Failed(_) => true,
            Self::Invalid(_) | Self::NotFound(_) | Self::Conflict(_) | Self::Unsupported(_) => false,
        }
    }

    /// The message alone, as the wire carries it.
    pub fn message(&self) -> &str {
        match self {
            Self::Invalid(m)
            | Self::NotFound(m)
            | Self::Conflict(m)
            | Self::Unavailable(m)
            | Self::Failed(m)
            | Self::Unsupported(m) => m,
        }
    }
}

/// An error and each of its sources on one line, separated by `: `: the wire carries only a
/// message, so a backend's error is written out whole when it becomes an [`Error`].
pub fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot write {0}")]
    struct Outer(&'static str, #[source] std::io::Error);

    #[test]
    fn a_chain_joins_the_causes() {
        assert_eq!(chain(&Outer("x", std::io::Error::other("disk full"))), "cannot write x: disk full");
    }
}
