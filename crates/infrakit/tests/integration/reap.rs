//! Processes a test starts outside `Home::start`: killed when the test ends, even by a failed
//! assertion, so that no server outlives its test.

use std::ops::{Deref, DerefMut};
use std::process::Child;

/// A child process that is killed, if still running, when dropped.
pub struct Reaped(pub Child);

impl Deref for Reaped {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl DerefMut for Reaped {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Reaped {
    fn drop(&mut self) {
        if matches!(self.0.try_wait(), Ok(None)) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
