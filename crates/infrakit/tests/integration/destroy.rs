//! A group's destroy is a recorded operation: a manager killed in the middle of one finishes it
//! when it starts again, through the real binary, the process plugin and real processes.

use std::path::Path;

use crate::reap::Reaped;
use crate::util::{Home, eventually};

/// Members that ignore SIGTERM, so that each destroy waits out the plugin's stop grace: a window
/// in which to kill the manager mid-destroy. `MARKER` is their `$0`, to find them.
const STUBBORN: &str = r#"
ID: stubborn
Properties:
  Allocation: {Size: 3}
  Instance:
    Plugin: process
    Properties:
      Cmd: sh
      Args: [-c, 'trap "" TERM; while true; do sleep 1; done', MARKER]
  Flavor: {Plugin: vanilla}
"#;

fn start(home: &Home, options: &str) -> Reaped {
    let args = ["manager", "process", "vanilla", "--options", &format!("process={options}")];
    let server = Reaped(home.start_with_env(&args, &[("INFRAKIT_GROUP_POLL_INTERVAL", "200ms")]));
    for socket in ["group", "process", "vanilla"] {
        home.wait_for_socket(socket);
    }
    server
}

/// The group controllers' journal entries in the home, whatever the controller's name.
fn journal_entries(home: &Path) -> usize {
    let Ok(controllers) = std::fs::read_dir(home.join("journal")) else { return 0 };
    controllers
        .flatten()
        .filter_map(|controller| std::fs::read_dir(controller.path()).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|entry| entry.path().extension().is_some_and(|e| e == "json"))
        .count()
}

/// The processes alive whose command line carries `marker`.
fn alive(marker: &str) -> usize {
    let Ok(processes) = std::fs::read_dir("/proc") else { return 0 };
    processes
        .flatten()
        .filter_map(|p| std::fs::read(p.path().join("cmdline")).ok())
        .filter(|cmdline| cmdline.split(|b| *b == 0).any(|arg| arg == marker.as_bytes()))
        .count()
}

#[test]
fn a_destroy_interrupted_by_kill_9_is_finished_by_the_next_start() {
    let home = Home::create();
    let options = home.write("process.yml", "StopGrace: 3s\n");
    let marker = format!("stubborn-{}", std::process::id());
    let spec = home.write("stubborn.yml", &STUBBORN.replace("MARKER", &marker));
    let mut server = start(&home, &options);
    home.ok(&["group", "commit", &spec]);
    let listing = || home.ok(&["instance", "process", "describe", "-q"]);
    eventually("three members", || listing().lines().count() == 3 && alive(&marker) == 3);

    // The destroy starts: SIGTERM is ignored, so every destroy waits for its grace.
    let mut destroy = Reaped(home.command_for(&["group", "destroy", "stubborn"]).spawn().unwrap());
    eventually("the destroy under way", || {
        journal_entries(home.path()) == 1
            && home.ok(&["group", "describe", "stubborn"]).contains("destroying the group")
    });
    server.kill().unwrap();
    server.wait().unwrap();
    let _ = destroy.wait();
    assert_eq!(alive(&marker), 3, "killed mid-destroy: the members outlive the manager");

    let server = start(&home, &options);
    eventually("the interrupted destroy finished", || alive(&marker) == 0);
    eventually("nothing listed", || listing().is_empty());
    assert!(!home.ok(&["group", "ls", "-q"]).contains("stubborn"), "the destroyed group is not applied again");
    let history = home.ok(&["history", "stubborn"]);
    assert!(history.lines().last().unwrap_or_default().contains("destroy"), "{history}");
    eventually("its journal entry removed", || journal_entries(home.path()) == 0);
    crate::util::stop(server);
}
