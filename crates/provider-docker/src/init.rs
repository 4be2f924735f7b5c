//! Running a spec's `Init` inside a started container (`sh -c`), and judging how it ended.
//!
//! The original copied the script into the container and polled its exec; here the exec's
//! output is streamed until it ends, then its exit code is read. The last part of the output is
//! kept for the error, because that is where a script says why it failed.

use std::time::Duration;

use bollard::Docker;
use bollard::exec::{CreateExecOptions, StartExecResults};
use futures::StreamExt;

use crate::error::{Doing, EngineError};

/// How much of Init's output an error quotes: the end of a failing script's output, without
/// letting a chatty one bloat an error message that travels on the wire.
const QUOTED_OUTPUT: usize = 2048;

/// How Init ended, when it did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum InitFailed {
    /// The engine could not run it.
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// It ran and exited non-zero.
    #[error("Init exited with {code}: {output}")]
    Exited {
        /// Its exit code.
        code: i64,
        /// The end of its output.
        output: String,
    },
    /// It ran longer than allowed.
    #[error("Init did not finish within {0:?}")]
    TimedOut(Duration),
}

/// Runs `script` with `sh -c` in the running container `container`, within `timeout`.
pub async fn run_init(docker: &Docker, container: &str, script: &str, timeout: Duration) -> Result<(), InitFailed> {
    let doing = || format!("cannot run Init in container {container}");
    let exec = docker
        .create_exec(
            container,
            CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(vec!["sh", "-c", script]),
                ..Default::default()
            },
        )
        .await
        .doing(doing)?;
    let output = async {
        let mut tail = String::new();
        if let StartExecResults::Attached { mut output, .. } = docker.start_exec(&exec.id, None).await.doing(doing)? {
            while let Some(chunk) = output.next().await {
                tail.push_str(&String::from_utf8_lossy(&chunk.doing(doing)?.into_bytes()));
                keep_tail(&mut tail);
            }
        }
        Ok::<_, EngineError>(tail)
    };
    let output = tokio::time::timeout(timeout, output).await.map_err(|_| InitFailed::TimedOut(timeout))??;
    let inspected = docker.inspect_exec(&exec.id).await.doing(doing)?;
    match inspected.exit_code {
        Some(0) => Ok(()),
        code => Err(InitFailed::Exited { code: code.unwrap_or(-1), output: output.trim().to_owned() }),
    }
}

/// Drops all but the last [`QUOTED_OUTPUT`] bytes (at a character boundary).
fn keep_tail(text: &mut String) {
    if text.len() > QUOTED_OUTPUT {
        let mut start = text.len() - QUOTED_OUTPUT;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text.drain(..start);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_end_of_the_output_is_kept() {
        let mut text = format!("{}é{}", "a".repeat(QUOTED_OUTPUT), "b".repeat(QUOTED_OUTPUT - 1));
        keep_tail(&mut text);
        assert!(text.len() <= QUOTED_OUTPUT);
        assert!(text.ends_with('b') && !text.contains('a'));
    }
}
