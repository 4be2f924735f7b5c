//! The ceiling on a group's size: one absurd request must not take the process down.
//!
//! A group of two billion members cannot exist, but a controller asked for one would try, one
//! provision at a time, until memory ran out; a manager would store the request first and die
//! again on every start. Every reader of a spec checks its size against this ceiling while
//! parsing (see [`super::GroupProperties::validate`]), so a commit, a scale, a stored spec and a
//! plan all refuse the same sizes with the same message.
//!
//! The ceiling is a process-wide setting: the binary reads [`MAX_SIZE_ENV`] once at start and
//! calls [`set_max_size`]; libraries and tests get [`DEFAULT_MAX_SIZE`].

use std::sync::OnceLock;

use crate::{Error, Result};

/// Large enough for a real fleet behind one controller, small enough that its bookkeeping fits
/// in a few hundred megabytes.
pub const DEFAULT_MAX_SIZE: u64 = 100_000;

/// The environment variable that sets the ceiling.
pub const MAX_SIZE_ENV: &str = "INFRAKIT_GROUP_MAX_SIZE";

static MAX_SIZE: OnceLock<u64> = OnceLock::new();

/// Sets the ceiling for this process; the first call wins.
pub fn set_max_size(size: u64) {
    let _ = MAX_SIZE.set(size);
}

/// The ceiling in force.
pub fn max_size() -> u64 {
    MAX_SIZE.get().copied().unwrap_or(DEFAULT_MAX_SIZE)
}

/// Reads a ceiling as [`MAX_SIZE_ENV`] gives it: a whole number of at least 1.
pub fn parse_max_size(text: &str) -> Result<u64> {
    match text.trim().parse::<u64>() {
        Ok(size) if size > 0 => Ok(size),
        _ => Err(Error::invalid(format!("{MAX_SIZE_ENV}={text:?}: want a whole number of members, at least 1"))),
    }
}

/// Refuses a size above the ceiling, naming the limit and how to raise it.
pub fn check(size: u64) -> Result<()> {
    let ceiling = max_size();
    if size > ceiling {
        return Err(Error::invalid(format!(
            "Size {size} exceeds the limit of {ceiling} members per group (raise it with {MAX_SIZE_ENV})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_above_the_ceiling_are_refused_with_the_way_to_raise_it() {
        assert!(check(DEFAULT_MAX_SIZE).is_ok());
        let message = check(2_000_000_000).unwrap_err().to_string();
        assert_eq!(
            message,
            "Size 2000000000 exceeds the limit of 100000 members per group (raise it with INFRAKIT_GROUP_MAX_SIZE)"
        );
    }

    #[test]
    fn the_setting_is_a_positive_whole_number() {
        assert_eq!(parse_max_size(" 250000 ").unwrap(), 250_000);
        assert!(parse_max_size("0").is_err());
        assert!(parse_max_size("-1").is_err());
        assert!(parse_max_size("1e6").is_err());
    }
}
