//! What fails in the docker plugin, and what the caller is told.
//!
//! The wire carries only a message, so each error says which container and which step, and the
//! engine's own words follow. The variant of [`infrakit_spi::Error`] is chosen by what the caller
//! can do: an engine that cannot be reached is `Unavailable` (try later), a missing container is
//! `NotFound`, an engine that refuses the request is `Invalid` or `Failed`.

use infrakit_spi::Error;

/// A call to the engine that failed, with what the plugin was doing.
#[derive(Debug, thiserror::Error)]
#[error("{doing}: {source}")]
pub struct EngineError {
    /// What the plugin was doing, e.g. `cannot create container web-1`.
    pub doing: String,
    /// The engine client's error.
    #[source]
    pub source: bollard::errors::Error,
}

impl EngineError {
    /// The engine's HTTP status, when it answered at all.
    pub fn status(&self) -> Option<u16> {
        match &self.source {
            bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
            _ => None,
        }
    }
}

impl From<EngineError> for Error {
    fn from(error: EngineError) -> Self {
        let message = match &error.source {
            // The engine's message alone reads better than bollard's wrapper around it.
            bollard::errors::Error::DockerResponseServerError { message, .. } => format!("{}: {message}", error.doing),
            _ => error.to_string(),
        };
        match error.status() {
            Some(404) => Error::NotFound(message),
            Some(409) => Error::Conflict(message),
            Some(400) => Error::Invalid(message),
            Some(_) => Error::Failed(message),
            None => Error::Unavailable(message),
        }
    }
}

/// Adds what the plugin was doing to an engine call's error.
pub trait Doing<T> {
    /// `doing` is only built when the call failed.
    fn doing(self, doing: impl FnOnce() -> String) -> Result<T, EngineError>;
}

impl<T> Doing<T> for Result<T, bollard::errors::Error> {
    fn doing(self, doing: impl FnOnce() -> String) -> Result<T, EngineError> {
        self.map_err(|source| EngineError { doing: doing(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(status_code: u16) -> EngineError {
        let source = bollard::errors::Error::DockerResponseServerError { status_code, message: "no such thing".into() };
        EngineError { doing: "cannot start container web-1".into(), source }
    }

    #[test]
    fn the_engines_status_picks_the_variant_and_its_words_stay() {
        let error = Error::from(answered(404));
        assert_eq!(error, Error::NotFound("cannot start container web-1: no such thing".into()));
        assert!(matches!(Error::from(answered(409)), Error::Conflict(_)));
        assert!(matches!(Error::from(answered(500)), Error::Failed(_)));
        let unreachable = EngineError { doing: "x".into(), source: bollard::errors::Error::RequestTimeoutError };
        assert!(matches!(Error::from(unreachable), Error::Unavailable(_)));
    }
}
