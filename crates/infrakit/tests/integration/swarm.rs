//! The seed's configuration through the binary: `infrakit up examples/swarm.yml` brings up a
//! swarm of node containers (each its own Docker engine) on this machine's engine, and keeps it:
//! a killed worker and a killed manager are replaced and rejoin, the workers roll to a new engine
//! label while a service keeps its replicas, and the workers scale up and down.
//!
//! Needs the node image (`scripts/swarm-node-image.sh`, which `scripts/test.sh` runs).

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::reap::Reaped;
use crate::util::Home;

const IMAGE: &str = "infrakit-swarm-node:local";
const LABEL: &str = "io.infrakit.example=swarm";
const NETWORK: &str = "infrakit-swarm";
const MANAGERS: [&str; 3] = ["10.213.7.11", "10.213.7.12", "10.213.7.13"];
/// A bring-up, a manager's replacement (the swarm elects a new leader first) or a drain may
/// take this long.
const DEADLINE: Duration = Duration::from_secs(180);

fn docker(args: &[&str]) -> Option<String> {
    let out = Command::new("docker").args(args).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `docker ARGS` run on the first manager node whose engine answers.
fn swarm(args: &[&str]) -> Option<String> {
    MANAGERS.iter().find_map(|manager| docker(&[&["exec", manager, "docker"], args].concat()))
}

/// The swarm's nodes as a manager that answers sees them: (ID, status, manager status).
fn nodes() -> Option<Vec<(String, String, String)>> {
    let listing = swarm(&["node", "ls", "--format", "{{.ID}} {{.Status}} {{.ManagerStatus}}"])?;
    let node = |line: &str| {
        let mut words = line.split_whitespace().map(str::to_owned);
        (words.next().unwrap_or_default(), words.next().unwrap_or_default(), words.next().unwrap_or_default())
    };
    Some(listing.lines().map(node).collect())
}

fn ready(nodes: &[(String, String, String)]) -> BTreeSet<String> {
    nodes.iter().filter(|(_, status, _)| status == "Ready").map(|(id, _, _)| id.clone()).collect()
}

std::thread_local! {
    /// `infrakit up`'s log, quoted when the test fails.
    static LOG: std::cell::RefCell<Option<std::path::PathBuf>> = const { std::cell::RefCell::new(None) };
}

/// The end of `infrakit up`'s log.
fn log_tail() -> String {
    let text = LOG.with(|l| l.borrow().as_ref().and_then(|p| std::fs::read_to_string(p).ok())).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.contains(" converged")).collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Waits until `probe` holds, sampling the swarm every half second.
fn until(what: &str, mut probe: impl FnMut(&[(String, String, String)]) -> bool) {
    let started = Instant::now();
    loop {
        if nodes().is_some_and(|n| probe(&n)) {
            return;
        }
        assert!(started.elapsed() < DEADLINE, "timed out waiting for: {what}; nodes: {:?}\n{}", nodes(), log_tail());
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn managers_ready(nodes: &[(String, String, String)]) -> usize {
    nodes.iter().filter(|(_, status, manager)| status == "Ready" && !manager.is_empty()).count()
}

fn workers_ready(nodes: &[(String, String, String)]) -> usize {
    nodes.iter().filter(|(_, status, manager)| status == "Ready" && manager.is_empty()).count()
}

/// Removes the example's containers and network, before the test (a crashed run's) and after.
struct Cleanup;

impl Cleanup {
    fn run() {
        if let Some(ids) = docker(&["ps", "-aq", "--filter", &format!("label={LABEL}")]) {
            let ids: Vec<&str> = ids.split_whitespace().collect();
            if !ids.is_empty() {
                let mut args = vec!["rm", "-f"];
                args.extend(ids);
                docker(&args);
            }
        }
        docker(&["network", "rm", NETWORK]);
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        Self::run();
    }
}

/// How many of the service's tasks are meant to run and do. (`docker service ls` also counts a
/// task on a node that was killed, which stays "running" in the swarm's books.)
fn running() -> Option<usize> {
    let states =
        swarm(&["service", "ps", "web", "--filter", "desired-state=running", "--format", "{{.CurrentState}}"])?;
    Some(states.lines().filter(|state| state.starts_with("Running")).count())
}

#[test]
fn the_example_swarm_comes_up_heals_rolls_and_scales() {
    assert!(
        docker(&["image", "inspect", IMAGE]).is_some(),
        "the node image is missing: run scripts/swarm-node-image.sh"
    );
    Cleanup::run();
    let _cleanup = Cleanup;
    let home = Home::create();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/swarm.yml");
    let log = std::fs::File::create(home.path().join("up.log")).unwrap();
    let up = home
        .command_for(&["up", &example.display().to_string()])
        .env("INFRAKIT_GROUP_POLL_INTERVAL", "2s")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    LOG.with(|l| *l.borrow_mut() = Some(home.path().join("up.log")));
    let _up = Reaped(up);

    until("3 managers (one leader) and 3 workers, all Ready", |n| {
        managers_ready(n) == 3 && workers_ready(n) == 3 && n.iter().filter(|(_, _, m)| m == "Leader").count() == 1
    });
    let cluster = |manager: &str| docker(&["exec", manager, "docker", "info", "--format", "{{.Swarm.Cluster.ID}}"]);
    let swarm_id = cluster(MANAGERS[0]).unwrap();
    let service = ["service", "create", "-d", "--name", "web", "--replicas", "3", "--no-resolve-image"];
    swarm(&[&service[..], &["infrakit-busybox:task", "sleep", "1000000"]].concat()).unwrap();
    until("the service's 3 tasks running", |_| running() == Some(3));

    // A worker killed is replaced, and its replacement joins.
    let before = ready(&nodes().unwrap());
    let worker = docker(&["ps", "-q", "--filter", "label=infrakit.group=workers"]).unwrap();
    docker(&["kill", worker.lines().next().unwrap()]).unwrap();
    until("a new worker Ready", |n| workers_ready(n) == 3 && ready(n).difference(&before).count() == 1);

    // The manager that initialised the swarm (and that the flavor asks first) killed: it comes
    // back under its address into the same swarm, its dead predecessor removed. The two others
    // keep the quorum: the swarm answers again once they have elected a leader (it cannot while
    // they elect), and never with fewer than two managers reachable.
    let before = ready(&nodes().unwrap());
    docker(&["kill", MANAGERS[0]]).unwrap();
    let started = Instant::now();
    let mut silent_since: Option<Instant> = None;
    loop {
        let Some(now) = nodes() else {
            let since = *silent_since.get_or_insert_with(Instant::now);
            assert!(
                since.elapsed() < Duration::from_secs(60),
                "no manager answered for a minute: quorum lost?\n{}",
                log_tail()
            );
            std::thread::sleep(Duration::from_millis(500));
            continue;
        };
        silent_since = None;
        let reachable = now.iter().filter(|(_, _, m)| m == "Leader" || m == "Reachable").count();
        assert!(reachable >= 2, "fewer than two managers reachable: {now:?}");
        let joined = managers_ready(&now) == 3 && ready(&now).difference(&before).count() == 1;
        if joined && now.iter().filter(|(_, _, m)| !m.is_empty()).count() == 3 {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "the manager did not rejoin: {now:?}\n{}", log_tail());
        std::thread::sleep(Duration::from_millis(500));
    }
    until("the three managers in the first swarm", |_| {
        MANAGERS.iter().all(|manager| cluster(manager).as_deref() == Some(swarm_id.as_str()))
    });

    // The workers roll to a new engine label, one at a time with a surge of one; the service
    // loses at most one replica at a time and ends whole.
    let spec = std::fs::read_to_string(&example).unwrap();
    let v2 = spec.replace("EngineLabels: {tier: workers}", "EngineLabels: {tier: workers, version: \"2\"}");
    assert_ne!(spec, v2);
    home.ok(&["group", "commit", &home.write("workers-v2.json", &workers_spec(&v2))]);
    let started = Instant::now();
    let mut lowest = 3;
    loop {
        if let Some(now) = running() {
            lowest = lowest.min(now);
        }
        let labelled = swarm(&["node", "ls", "-q"]).and_then(|ids| {
            let format = "{{.Status.State}} {{index .Description.Engine.Labels \"version\"}}";
            let states =
                swarm(&[&["node", "inspect", "--format", format], &ids.lines().collect::<Vec<_>>()[..]].concat())?;
            Some(states.lines().filter(|s| *s == "ready 2").count())
        });
        if labelled == Some(3) && nodes().is_some_and(|n| workers_ready(&n) == 3) && running() == Some(3) {
            break;
        }
        let tasks =
            swarm(&["service", "ps", "web", "--format", "{{.Node}} {{.DesiredState}} {{.CurrentState}} {{.Error}}"]);
        assert!(
            started.elapsed() < DEADLINE,
            "the rollout did not finish: {labelled:?} workers relabelled, {:?} tasks running, nodes {:?}, tasks {tasks:?}\n{}",
            running(),
            nodes(),
            log_tail()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(lowest >= 2, "the service fell to {lowest}/3 during the rollout");

    // Scaled up, the new nodes join; scaled down, the drained nodes leave the node list.
    home.ok(&["group", "scale", "workers", "5"]);
    until("5 workers Ready", |n| workers_ready(n) == 5);
    let before = nodes().unwrap().len();
    home.ok(&["group", "scale", "workers", "2"]);
    until("2 workers Ready, the other 3 gone from the list", |n| workers_ready(n) == 2 && n.len() == before - 3);
    until("the service whole on the smaller swarm", |_| running() == Some(3));
}

/// The workers group of a stack file (the second of its two groups), as a spec to commit.
fn workers_spec(stack: &str) -> String {
    let groups: serde_json::Value = serde_saphyr::from_str(stack).unwrap();
    serde_json::to_string(&groups[1]).unwrap()
}
