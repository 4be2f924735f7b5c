//! The original's end-to-end flow (its `e2e-test-1.sh`), through the real binary: the group
//! controller, the file instance plugin and the vanilla flavor, each on its own socket.

use std::time::{Duration, Instant};

use crate::util::Home;

/// How long the group may take to reach a state; a few polls at 200ms, with room for a slow CI.
const CONVERGE_DEADLINE: Duration = Duration::from_secs(30);

fn fixture(name: &str) -> String {
    format!("{}/tests/integration/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

/// The tag of members created from `cattle.json`.
const FIRST_HASH_TAG: &str = "infrakit.config.hash=x4nrsdaibscmj7awpkxzx5vvpt6pilw2";

/// The config hash shared by every instance of a `describe -o json` listing.
fn hash_of(listing: &str) -> String {
    let instances: serde_json::Value = serde_json::from_str(listing).unwrap();
    let hashes: std::collections::BTreeSet<_> = instances
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["Tags"]["infrakit.config.hash"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(hashes.len(), 1, "{listing}");
    hashes.into_iter().next().unwrap()
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

/// Polls `probe` until it returns true or the deadline passes.
fn eventually(what: &str, mut probe: impl FnMut() -> bool) {
    let started = Instant::now();
    while !probe() {
        assert!(started.elapsed() < CONVERGE_DEADLINE, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_originals_e2e_flow() {
    let home = Home::create();
    let mut server = home.start_with_env(
        &["group", "file:instance-file", "vanilla:flavor-vanilla"],
        &[("INFRAKIT_GROUP_POLL_INTERVAL", "200ms")],
    );
    for socket in ["group-stateless", "instance-file", "flavor-vanilla"] {
        home.wait_for_socket(socket);
    }
    assert_eq!(home.ok(&["plugin", "ls", "-q"]), "flavor-vanilla\ngroup-stateless\ninstance-file\n");
    let files = || lines(&home.ok(&["instance", "instance-file", "describe", "-q"]));
    let members = || lines(&home.ok(&["group", "describe", "cattle", "-q"]));
    assert!(files().is_empty());

    // Scenario 28: commit 5.
    let committed = home.ok(&["group", "commit", &fixture("cattle.json")]);
    assert_eq!(committed.trim(), "Committed cattle: Managing 5 instances");
    eventually("5 instances", || files().len() == 5 && members().len() == 5);
    let tags = home.ok(&["instance", "instance-file", "describe", "-o", "json"]);
    assert_eq!(hash_of(&tags), "x4nrsdaibscmj7awpkxzx5vvpt6pilw2", "the original's hash of cattle.json");

    // Scenario 29: roll to a new config and grow to 10.
    let plan = home.ok(&["group", "commit", &fixture("cattle2.json"), "--pretend"]);
    assert_eq!(
        plan.lines().next().unwrap_or_default(),
        "Committing cattle would involve: Performing a rolling update on 5 instances, then adding 5 instances to increase the group size to 10"
    );
    assert!(plan.contains("  create 10, destroy 5; roll 5 in "), "then the controller's forecast: {plan}");
    home.ok(&["group", "commit", &fixture("cattle2.json")]);
    let first_config = || lines(&home.ok(&["instance", "instance-file", "describe", "-q", "--tags", FIRST_HASH_TAG]));
    eventually("10 instances, all of the new config", || files().len() == 10 && first_config().is_empty());
    let second_hash = hash_of(&home.ok(&["instance", "instance-file", "describe", "-o", "json"]));
    let old_hash = || {
        let tag = format!("infrakit.config.hash={second_hash}");
        lines(&home.ok(&["instance", "instance-file", "describe", "-q", "--tags", &tag]))
    };

    // Scenario 30: three instances die and are replaced.
    for id in files().iter().take(3) {
        std::fs::remove_file(home.instance_dir().join(id)).unwrap();
    }
    eventually("10 instances again", || files().len() == 10);

    // Scenario 31: scale down.
    assert_eq!(home.ok(&["group", "scale", "cattle", "5"]).trim(), "Group cattle at 10 instances, scale to 5");
    eventually("5 instances", || files().len() == 5);

    // Scenario 32: free, then re-adopt by tags. The members run the second config and the
    // re-committed spec is the first, so they are rolled back to it, never more than one extra
    // (the default surge) at a time, and nothing is leaked.
    home.ok(&["group", "free", "cattle"]);
    assert_eq!(files().len(), 5, "freeing leaves the instances running");
    home.ok(&["group", "commit", &fixture("cattle.json")]);
    let mut peak = 0;
    eventually("5 instances of the first config", || {
        peak = peak.max(files().len());
        files().len() == 5 && old_hash().is_empty()
    });
    assert!(peak <= 6, "re-adoption over-provisioned: {peak} instances at once");

    // Scenario 33: destroy.
    home.ok(&["group", "destroy", "cattle"]);
    eventually("no instances", || files().is_empty());

    home.ok(&["plugin", "stop", "group-stateless"]);
    assert!(server.wait().unwrap().success());
}

#[test]
fn decisions_stream_to_events_follow() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;

    let home = Home::create();
    let mut server =
        home.start_with_env(&["group", "simulator", "vanilla"], &[("INFRAKIT_GROUP_POLL_INTERVAL", "200ms")]);
    for socket in ["group-stateless", "simulator", "vanilla"] {
        home.wait_for_socket(socket);
    }
    let spec = home.write(
        "workers.yml",
        "ID: workers\nProperties:\n  Allocation: {Size: 2}\n  Instance: {Plugin: simulator/compute}\n  Flavor: {Plugin: vanilla}\n",
    );
    home.ok(&["group", "commit", &spec]);
    eventually("2 members", || home.ok(&["group", "describe", "workers", "-q"]).lines().count() == 2);

    let mut follow =
        home.command_for(&["group", "events", "workers", "--follow"]).stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(follow.stdout.take().unwrap()).lines();
    let recent = lines.next().unwrap().unwrap();
    assert!(recent.contains("provision"), "recent decisions come first: {recent}");
    home.ok(&["group", "scale", "workers", "3"]);
    // Only the scale to 3 makes this decision, so it can only have come through the stream.
    let streamed = lines.by_ref().map(|l| l.unwrap()).find(|l| l.contains("reach size 3")).unwrap();
    assert!(streamed.contains("  provision  "), "a streamed event shows its type: {streamed}");
    follow.kill().unwrap();
    follow.wait().unwrap();

    home.ok(&["plugin", "stop", "group-stateless"]);
    assert!(server.wait().unwrap().success());
}
