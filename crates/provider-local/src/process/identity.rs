//! Telling whether a recorded process is still the one we started.
//!
//! A pid alone is not an identity: once a process exits and is reaped, the kernel may give its
//! pid to an unrelated process. The pair (pid, start time) is, because a new process with the
//! same pid starts later. The start time is field 22 of `/proc/<pid>/stat`, in clock ticks since
//! boot; it never changes for the life of a process, exec included.

use std::fs;
use std::io;

use serde::{Deserialize, Serialize};

/// A process as the plugin recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ProcessIdentity {
    /// The process ID, which is also its process group ID (it leads a group of its own).
    pub(crate) pid: u32,
    /// Field 22 of `/proc/<pid>/stat`.
    pub(crate) start_time: u64,
}

/// What became of a recorded process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// It is running (or stopped, or sleeping): it exists and is ours.
    Running,
    /// It has exited and waits for its parent to reap it.
    Zombie,
    /// No process has its pid any more.
    Exited,
    /// Its pid belongs to another process now.
    PidReused,
}

impl Liveness {
    /// True only for a process that is still ours and alive.
    pub(crate) fn is_running(self) -> bool {
        self == Self::Running
    }
}

impl ProcessIdentity {
    /// The identity of the live process `pid`.
    pub(crate) fn of(pid: u32) -> io::Result<Self> {
        let stat =
            Stat::read(pid)?.ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no process {pid}")))?;
        Ok(Self { pid, start_time: stat.start_time })
    }

    /// What became of this process.
    pub(crate) fn liveness(&self) -> Liveness {
        match Stat::read(self.pid) {
            // Unreadable counts as gone: a process we started is always ours to read.
            Ok(None) | Err(_) => Liveness::Exited,
            Ok(Some(stat)) if stat.start_time != self.start_time => Liveness::PidReused,
            Ok(Some(stat)) if stat.state == 'Z' || stat.state == 'X' => Liveness::Zombie,
            Ok(Some(_)) => Liveness::Running,
        }
    }
}

/// The fields of `/proc/<pid>/stat` this module needs.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    state: char,
    start_time: u64,
}

impl Stat {
    /// The stat of `pid`, or `None` if there is no such process.
    fn read(pid: u32) -> io::Result<Option<Self>> {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(text) => Self::parse(&text)
                .map(Some)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("unexpected /proc/{pid}/stat"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Parses `pid (comm) state ppid ... starttime ...`. The command name may hold spaces and
    /// parentheses, so fields are counted from the last `)`.
    fn parse(text: &str) -> Option<Self> {
        let after_comm = &text[text.rfind(')')? + 1..];
        let mut fields = after_comm.split_ascii_whitespace();
        // Field 3 is the state; field 22 the start time, 19 fields further on.
        let state = fields.next()?.chars().next()?;
        let start_time = fields.nth(18)?.parse().ok()?;
        Some(Self { state, start_time })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_stat_line_with_a_tricky_command_name() {
        let line = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100 18446744073709551615";
        assert_eq!(Stat::parse(line), Some(Stat { state: 'S', start_time: 987_654 }));
        assert_eq!(Stat::parse("4242 (x) S 1 2"), None);
    }

    #[test]
    fn this_process_is_running_and_a_different_start_time_is_another_process() {
        let me = ProcessIdentity::of(std::process::id()).unwrap();
        assert_eq!(me.liveness(), Liveness::Running);
        let impostor = ProcessIdentity { start_time: me.start_time + 1, ..me };
        assert_eq!(impostor.liveness(), Liveness::PidReused);
    }
}
