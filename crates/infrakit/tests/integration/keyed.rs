//! The manager's groups as the original's keyed objects, through the real binary: `plugin ls`
//! lists `group/<ID>` rows, and `group/<ID>` addresses a group as the original's CLI does.

use std::time::{Duration, Instant};

use crate::util::Home;

const SPEC: &str =
    "ID: web\nProperties:\n  Allocation: {Size: 1}\n  Instance: {Plugin: file}\n  Flavor: {Plugin: vanilla}\n";

#[test]
fn the_managers_groups_are_objects_named_after_the_socket() {
    let home = Home::create();
    let _server = crate::reap::Reaped(
        home.start_with_env(&["manager", "file", "vanilla"], &[("INFRAKIT_GROUP_POLL_INTERVAL", "200ms")]),
    );
    home.wait_for_socket("group");
    home.wait_for_socket("vanilla");
    let listed = |home: &Home| home.ok(&["plugin", "ls", "-q"]).lines().map(str::to_owned).collect::<Vec<_>>();
    let rows = listed(&home);
    assert!(rows.contains(&"group".to_owned()) && rows.contains(&"group/groups".to_owned()), "{rows:?}");
    assert!(!rows.contains(&"group/web".to_owned()), "{rows:?}");
    let missing = home.run(&["group", "describe", "group/web"]);
    assert!(!missing.status.success());
    let error = String::from_utf8_lossy(&missing.stderr);
    assert!(error.contains("not found: group/web (key=web)"), "{error}");

    let spec = home.write("web.yml", SPEC);
    home.ok(&["group", "commit", &spec]);
    let rows = listed(&home);
    assert!(rows.contains(&"group/web".to_owned()), "{rows:?}");
    let table = home.ok(&["plugin", "ls"]);
    assert!(table.lines().any(|l| l.starts_with("group/web") && l.contains("Group/0.1.1")), "{table}");

    let started = Instant::now();
    while !home.ok(&["group", "describe", "group/web", "-q"]).lines().any(|l| !l.is_empty()) {
        assert!(started.elapsed() < Duration::from_secs(30), "the group never got its member");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(
        home.ok(&["group", "describe", "group/web", "-q"]),
        home.ok(&["group", "describe", "web", "-q"]),
        "both names reach the group"
    );
    assert_eq!(home.ok(&["group", "scale", "group/web"]), "Group web at 1 instances\n");

    home.ok(&["group", "free", "group/web"]);
    assert!(!listed(&home).contains(&"group/web".to_owned()), "a freed group is no longer an object");
    let gone = home.run(&["group", "describe", "group/web"]);
    assert!(String::from_utf8_lossy(&gone.stderr).contains("not found: group/web (key=web)"));
}
