//! Stopping an instance: SIGTERM to its process group, a grace period to exit cleanly, then
//! SIGKILL.
//!
//! The process is signalled only while it is verifiably ours (same pid and start time): once it
//! is gone its pid, and so its group ID, may belong to someone else.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::time::Instant;

use super::error::ProcessError;
use super::identity::{Liveness, ProcessIdentity};

/// How often a stopping process is checked: short against a grace period of seconds, long
/// enough that the check (one small `/proc` read) costs nothing.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How long a SIGKILLed process may take to disappear before destroy reports it: the kernel
/// kills at once unless the process is stuck in uninterruptible I/O, which no wait would fix.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// How an instance's process came to an end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stopped {
    /// It was no longer running when destroy came: it had exited, or its pid is someone else's.
    AlreadyGone(Liveness),
    /// It exited within the grace period after SIGTERM.
    Terminated,
    /// It outlived the grace period and was killed.
    Killed,
}

/// Stops `process` and its process group: SIGTERM, up to `grace` to exit, then SIGKILL.
pub(crate) async fn stop(process: ProcessIdentity, grace: Duration) -> Result<Stopped, ProcessError> {
    let liveness = process.liveness();
    if !liveness.is_running() {
        return Ok(Stopped::AlreadyGone(liveness));
    }
    signal_group(process.pid, Signal::SIGTERM)?;
    if exited_within(process, grace).await {
        return Ok(Stopped::Terminated);
    }
    // Checked again: the process may have exited (and its pid been reused) at the last moment.
    if !process.liveness().is_running() {
        return Ok(Stopped::Terminated);
    }
    signal_group(process.pid, Signal::SIGKILL)?;
    if exited_within(process, KILL_WAIT).await {
        return Ok(Stopped::Killed);
    }
    Err(ProcessError::Unkillable { pid: process.pid, waited: KILL_WAIT.into() })
}

/// Sends `signal` to the process group led by `pid`, or to the process alone if it has left
/// its group; a process that no longer exists is not an error.
pub(crate) fn signal_group(pid: u32, signal: Signal) -> Result<(), ProcessError> {
    let target = Pid::from_raw(i32::try_from(pid).map_err(|_| ProcessError::Signal { pid, source: Errno::EINVAL })?);
    match killpg(target, signal) {
        Ok(()) => Ok(()),
        Err(Errno::ESRCH) => match kill(target, signal) {
            Ok(()) | Err(Errno::ESRCH) => Ok(()),
            Err(source) => Err(ProcessError::Signal { pid, source }),
        },
        Err(source) => Err(ProcessError::Signal { pid, source }),
    }
}

/// True once `process` is no longer running (a zombie counts as exited), false if it still
/// runs after `limit`.
async fn exited_within(process: ProcessIdentity, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !process.liveness().is_running() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL_INTERVAL.min(deadline - Instant::now())).await;
    }
}
