//! One absurd request never takes the stack down: a size above the ceiling is refused at every
//! entry of the real binary (`up`, the manager's socket, `group scale`, the controller's own
//! socket, remote access), nothing is stored or created, and a stored spec above a lowered
//! ceiling is skipped and reported instead of replayed; and `kill -9` in the middle of a rollout,
//! again and again, leaks and doubles nothing (`infrakit bench chaos`).

use std::process::Command;
use std::time::Duration;

use crate::etcd_ha::free_port;
use crate::reap::Reaped;
use crate::util::{Home, eventually, stop};

/// Far above any ceiling: what made the process grow until the kernel killed it.
const ABSURD: u64 = 2_000_000_000;
const REFUSAL: &str = "exceeds the limit of 100000 members per group (raise it with INFRAKIT_GROUP_MAX_SIZE)";

fn stack(home: &Home, name: &str, size: u64) -> String {
    let spec = format!(
        "ID: web\nProperties:\n  Allocation: {{Size: {size}}}\n  Instance: {{Plugin: file}}\n  Flavor: {{Plugin: vanilla}}\n"
    );
    home.write(name, &spec)
}

fn refused(output: &std::process::Output) -> bool {
    !output.status.success() && String::from_utf8_lossy(&output.stderr).contains(REFUSAL)
}

#[test]
fn a_size_above_the_ceiling_is_refused_at_every_entry_and_changes_nothing() {
    let home = Home::create();
    let absurd = stack(&home, "absurd.yml", ABSURD);
    assert!(refused(&home.run(&["up", &absurd])), "up refuses the file before starting anything");
    assert!(home.instance_files().is_empty());

    let port = free_port();
    let file = stack(&home, "web.yml", 2);
    let up = home.up(&[&file, "--listen", &format!("127.0.0.1:{port}")]);
    eventually("the group converges", || home.instance_files().len() == 2);
    eventually("the token is written", || home.path().join("token").exists());
    let token = std::fs::read_to_string(home.path().join("token")).unwrap().trim().to_owned();

    assert!(refused(&home.run(&["group", "commit", &absurd])), "the manager refuses a commit");
    assert!(refused(&home.run(&["group", "scale", "web", &ABSURD.to_string()])), "and a scale");
    let host = format!("http://127.0.0.1:{port}");
    let remote = home.run(&["--host", &host, "--token", &token, "group", "commit", &absurd]);
    assert!(refused(&remote), "remote access refuses it: {}", String::from_utf8_lossy(&remote.stderr));

    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(home.instance_files().len(), 2, "nothing was created");
    let history = home.ok(&["history", "web"]);
    assert_eq!(history.lines().count(), 2, "one version stored, under a header: {history}");
    stop(up);

    // Straight to a controller's own socket, as a client of the original would send it.
    let controller = Reaped(home.start(&["group", "file", "vanilla"]));
    home.wait_for_socket("group-stateless");
    // Straight to the controller's socket, as a client of the original would send it.
    let body = format!(
        r#"{{"jsonrpc":"2.0","method":"Group.CommitGroup","params":{{"Spec":{{"ID":"web","Properties":{{"Allocation":{{"Size":{ABSURD}}},"Instance":{{"Plugin":"file"}},"Flavor":{{"Plugin":"vanilla"}}}}}},"Pretend":false}},"id":1}}"#
    );
    let answer = Command::new("curl")
        .args(["--silent", "--show-error", "--unix-socket"])
        .arg(home.plugins().join("group-stateless"))
        .args(["http://rpc", "-X", "POST", "-H", "Content-Type: application/json", "-d", &body])
        .output()
        .expect("curl is installed (scripts/test.sh installs it)");
    let answer = String::from_utf8_lossy(&answer.stdout);
    assert!(answer.contains(r#""error""#) && answer.contains(REFUSAL), "{answer}");

    assert_eq!(home.instance_files().len(), 2, "nothing was created");
    stop(controller);
}

#[test]
fn a_stored_spec_above_a_lowered_ceiling_is_skipped_and_reported() {
    let home = Home::create();
    let file = stack(&home, "web.yml", 3);
    let up = home.up(&[&file]);
    eventually("the group converges", || home.instance_files().len() == 3);
    stop(up);

    let manager = home.start_with_env(&["manager", "file", "vanilla"], &[("INFRAKIT_GROUP_MAX_SIZE", "2")]);
    let manager = Reaped(manager);
    home.wait_for_socket("group");
    eventually("the stored spec is reported", || {
        let out = home.run(&["group", "ls"]);
        String::from_utf8_lossy(&out.stdout).contains("rejected")
    });
    let described = home.ok(&["group", "describe", "web", "-o", "json"]);
    assert!(described.contains("exceeds the limit of 2 members per group"), "{described}");
    assert_eq!(home.instance_files().len(), 3, "its instances are left alone");

    // A valid spec manages the group again.
    home.ok(&["group", "commit", &stack(&home, "small.yml", 2)]);
    eventually("the group is managed again", || home.instance_files().len() == 2);
    stop(manager);
}

#[test]
fn kill_9_during_rollouts_leaks_and_doubles_nothing() {
    let home = Home::create();
    let out = home.run(&["bench", "chaos", "--trials", "3", "--size", "20", "--surge", "4"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("3 trials, 0 leaked, 0 doubled, never above 24"), "{stdout}");
}
