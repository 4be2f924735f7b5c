//! Starting an instance's processes: the spec's `Init` script, then the program itself.
//!
//! Both run with the properties' `Dir` and `Env`, stdin from `/dev/null`, and stdout and stderr
//! appended to the instance's log file. Each leads a process group of its own
//! (`process_group(0)`), for two reasons:
//! - Ctrl-C on the plugin's terminal signals the terminal's foreground process group; a process
//!   in another group does not receive it, so stopping the plugin leaves instances running.
//! - Destroy signals the whole group, so a shell's children go with it.
//!
//! A session of its own (`setsid`) would also detach the process from the terminal, but std's
//! safe `CommandExt::setsid` is not stable and `pre_exec` needs `unsafe`, which the workspace
//! forbids; with stdin, stdout and stderr redirected, a group of its own is enough.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::process::{Child, Command};

use super::error::ProcessError;
use super::identity::ProcessIdentity;
use super::properties::ProcessProperties;
use super::stop::signal_group;
use crate::blocking::blocking;

/// How much of the end of Init's output a failed provision reports: enough for the error a
/// script printed last, short enough for a one-line RPC error.
const INIT_OUTPUT_TAIL_BYTES: u64 = 1024;

/// Runs `script` with `sh -c`, output to `log`, and fails unless it exits with status 0 within
/// `timeout`; on a timeout its whole process group is killed.
pub(crate) async fn run_init(
    script: &str,
    properties: &ProcessProperties,
    log: &File,
    log_path: &Path,
    timeout: Duration,
) -> Result<(), ProcessError> {
    const SHELL: &str = "sh";
    let mut command = command(SHELL, properties, log)?;
    command.arg("-c").arg(script).kill_on_drop(true);
    let mut child = command.spawn().map_err(|source| ProcessError::Spawn { program: SHELL.to_owned(), source })?;
    let status = match tokio::time::timeout(timeout, child.wait()).await {
        Ok(status) => status.map_err(|source| ProcessError::Wait { program: SHELL.to_owned(), source })?,
        Err(_) => {
            if let Some(pid) = child.id() {
                signal_group(pid, Signal::SIGKILL)?;
            }
            let _ = child.wait().await;
            return Err(ProcessError::InitTimedOut(timeout.into()));
        }
    };
    if status.success() {
        return Ok(());
    }
    let path = log_path.to_owned();
    let tail = blocking(move || output_tail(&path)).await?.map_err(|e| ProcessError::io("read", log_path, e))?;
    Err(ProcessError::InitFailed { status: describe_status(status), tail })
}

/// Starts the instance's program and identifies it. The caller owns the child and must reap it.
pub(crate) fn start(properties: &ProcessProperties, log: &File) -> Result<(Child, ProcessIdentity), ProcessError> {
    let program = &properties.cmd;
    let mut command = command(program, properties, log)?;
    command.args(&properties.args);
    let mut child = command.spawn().map_err(|source| ProcessError::Spawn { program: program.clone(), source })?;
    // Until it is reaped the child's /proc entry stays, even if it has already exited, so its
    // identity can always be read here.
    let identity = child.id().ok_or_else(|| ProcessError::Wait {
        program: program.clone(),
        source: std::io::Error::other("the process was reaped before it could be identified"),
    });
    match identity
        .and_then(|pid| ProcessIdentity::of(pid).map_err(|e| ProcessError::io("identify", Path::new(program), e)))
    {
        Ok(identity) => Ok((child, identity)),
        Err(e) => {
            let _ = child.start_kill();
            tokio::spawn(async move { child.wait().await });
            Err(e)
        }
    }
}

/// A command for `program` with the properties' directory and environment, no stdin, output to
/// `log`, leading a new process group.
fn command(program: &str, properties: &ProcessProperties, log: &File) -> Result<Command, ProcessError> {
    let output = || log.try_clone().map_err(|source| ProcessError::Spawn { program: program.to_owned(), source });
    let mut command = Command::new(program);
    command.envs(&properties.env).stdin(Stdio::null()).stdout(output()?).stderr(output()?).process_group(0);
    if let Some(dir) = &properties.dir {
        command.current_dir(dir);
    }
    Ok(command)
}

/// The last [`INIT_OUTPUT_TAIL_BYTES`] of a log, trimmed, or `(none)`.
fn output_tail(path: &Path) -> std::io::Result<String> {
    let mut file = File::open(path)?;
    let len = file.metadata()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(INIT_OUTPUT_TAIL_BYTES)))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let text = String::from_utf8_lossy(&bytes);
    let tail = text.trim_start_matches(char::REPLACEMENT_CHARACTER).trim();
    Ok(if tail.is_empty() { "(none)".to_owned() } else { tail.to_owned() })
}

/// `exited with code 3`, or `was killed by signal 9`.
fn describe_status(status: ExitStatus) -> String {
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(signal)) => format!("was killed by signal {signal}"),
        (None, None) => format!("ended with {status}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_is_the_end_of_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        std::fs::write(&path, format!("{}\nlast words\n", "x".repeat(5000))).unwrap();
        let tail = output_tail(&path).unwrap();
        assert!(tail.ends_with("x\nlast words") && tail.len() < 1100, "{tail}");
        std::fs::write(&path, "  \n").unwrap();
        assert_eq!(output_tail(&path).unwrap(), "(none)");
    }

    #[test]
    fn statuses_read_as_exit_codes_or_signals() {
        assert_eq!(describe_status(ExitStatus::from_raw(3 << 8)), "exited with code 3");
        assert_eq!(describe_status(ExitStatus::from_raw(9)), "was killed by signal 9");
    }
}
