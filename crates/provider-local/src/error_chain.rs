//! Rendering an error with its causes on one line.
//!
//! The wire carries only a message, so when a plugin error becomes an [`infrakit_spi::Error`]
//! its whole chain is written out: `cannot start "foo": No such file or directory (os error 2)`.

use std::error::Error;
use std::fmt::Write;

/// `error`, then each of its sources, separated by `: `.
pub(crate) fn error_chain(error: &dyn Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(text, ": {cause}");
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
    fn joins_the_causes() {
        let error = Outer("x", std::io::Error::other("disk full"));
        assert_eq!(error_chain(&error), "cannot write x: disk full");
    }
}
