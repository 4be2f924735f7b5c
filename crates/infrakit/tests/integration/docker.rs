//! The docker plugin through the real binary, each plugin in its own process: the group
//! controller reaches the docker plugin over its socket and hears its changes on its event
//! stream. Runs `examples/docker-web.yml` against the machine's engine: three busybox web
//! servers, one killed and healed before the 10s poll, then a rolling update of VERSION.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::Home;

/// The label the example puts on its containers; the test removes them by it however it ends.
const EXAMPLE_LABEL: &str = "io.infrakit.example=docker-web";

/// How long starting the group or rolling it may take on a loaded machine.
const CONVERGE_DEADLINE: Duration = Duration::from_secs(60);

/// Healing must beat the group's poll (the original's 10s) by far; the crate's tests and the
/// benchmark hold it to the bound, this one leaves room for a busy CI machine.
const HEALED_WITHIN: Duration = Duration::from_secs(5);

fn repo(path: &str) -> String {
    format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("docker");
    assert!(out.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn running() -> Vec<String> {
    docker(&["ps", "-q", "-f", &format!("label={EXAMPLE_LABEL}"), "-f", "status=running"])
        .lines()
        .map(str::to_owned)
        .collect()
}

fn eventually(what: &str, within: Duration, mut probe: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !probe() {
        assert!(started.elapsed() < within, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    started.elapsed()
}

/// Removes the example's containers when created and when dropped.
struct Containers;

impl Containers {
    fn clean() -> Self {
        Self.remove();
        Self
    }

    fn remove(&self) {
        let all = docker(&["ps", "-aq", "-f", &format!("label={EXAMPLE_LABEL}")]);
        let ids: Vec<&str> = all.lines().collect();
        if !ids.is_empty() {
            let _ = Command::new("docker").args(["rm", "-f", "-v"]).args(&ids).output();
        }
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        self.remove();
    }
}

#[test]
fn the_docker_web_example_heals_and_rolls() {
    let status = Command::new(repo("scripts/docker-test-image.sh")).status().unwrap();
    assert!(status.success(), "cannot build the test image");
    let _containers = Containers::clean();
    let home = Home::create();
    let plugins = [home.start(&["docker"]), home.start(&["group"])];
    home.wait_for_socket("docker");
    home.wait_for_socket("group-stateless");

    let example = std::fs::read_to_string(repo("examples/docker-web.yml")).unwrap();
    home.ok(&["group", "commit", &repo("examples/docker-web.yml")]);
    eventually("three containers", CONVERGE_DEADLINE, || running().len() == 3);
    let members = || home.ok(&["group", "describe", "docker-web", "-q"]).lines().count();
    eventually("three members", CONVERGE_DEADLINE, || members() == 3);

    let victim = running()[0].clone();
    docker(&["kill", &victim]);
    let took =
        eventually("the killed one replaced", HEALED_WITHIN, || running().len() == 3 && !running().contains(&victim));
    eprintln!("healed through the sockets in {took:?}");

    let v2 = home.write("docker-web-v2.yml", &example.replace("VERSION=1", "VERSION=2"));
    home.ok(&["group", "commit", &v2]);
    let env_of = |id: &str| docker(&["inspect", "-f", "{{json .Config.Env}}", id]);
    eventually("every container on VERSION=2", CONVERGE_DEADLINE, || {
        let now = running();
        now.len() == 3 && now.iter().all(|id| env_of(id).contains("VERSION=2"))
    });

    home.ok(&["group", "destroy", "docker-web"]);
    eventually("no containers left", CONVERGE_DEADLINE, || running().is_empty());
    for mut plugin in plugins {
        plugin.kill().unwrap();
        plugin.wait().unwrap();
    }
}
