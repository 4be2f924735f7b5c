//! The engine restarted: every container stops with it, and when it is back the groups are
//! recovered, cattle and pets, without waiting for the poll and without a doubled member.
//!
//! On an engine of the test's own (see `private_engine`): the machine's engine serves every other
//! test and cannot be restarted under them.

use std::collections::HashSet;
use std::time::Duration;

use infrakit_provider_docker::DockerOptions;
use infrakit_spi::group::{GroupDescription, GroupId, GroupPlugin, GroupSpec};
use serde_json::{Value, json};

use crate::controller::{controller_on, running, until};
use crate::private_engine::PrivateEngine;
use crate::support::image;

/// Longer than the whole test: recovery must come from the plugin telling the controller that
/// the engine is back, not from a poll.
const POLL: Duration = Duration::from_secs(120);

/// From the engine answering again to both groups running again: the plugin reconnects within
/// 2 s and a replacement starts in well under a second; the rest is margin for a slow machine.
const RECOVERED_WITHIN: Duration = Duration::from_secs(20);

fn group(id: &str, allocation: Value) -> GroupSpec {
    let properties = json!({
        "Allocation": allocation,
        "Instance": {"Plugin": "docker", "Properties": {
            // httpd as PID 1 ignores SIGTERM: the engine would wait its default 10 s to kill it.
            "Config": {"Image": image(), "Cmd": ["httpd", "-f", "-p", "8080"], "StopTimeout": 1},
        }},
        "Flavor": {"Plugin": "docker"},
    });
    GroupSpec { id: GroupId::from(id), properties: Some(properties) }
}

fn ids(d: &GroupDescription) -> HashSet<String> {
    d.instances.iter().map(|i| i.id.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_engine_restarted_and_every_group_recovered_once_it_was_back() {
    let bridge_before = machine_bridge();
    let mut engine = PrivateEngine::start().await;
    let options = DockerOptions { host: Some(engine.host()), ..DockerOptions::default() };
    let (c, plugin) = controller_on(options, POLL).await;
    c.commit_group(group("cattle", json!({"Size": 2})), false).await.unwrap();
    c.commit_group(group("pets", json!({"LogicalIDs": ["pet-a", "pet-b"]})), false).await.unwrap();
    let (cattle, _) = until(&c, "cattle", Duration::from_secs(30), |d| d.converged && running(d, 2)).await;
    let (pets, _) = until(&c, "pets", Duration::from_secs(30), |d| d.converged && running(d, 2)).await;
    let before: HashSet<String> = ids(&cattle).union(&ids(&pets)).cloned().collect();

    engine.stop().await;
    engine.start_again().await;
    // The pets' dead containers may already be removed to free their names; the cattle's stay.
    let still_running: HashSet<String> = engine.containers("status=running").await.into_iter().collect();
    assert!(still_running.is_disjoint(&before), "every member stopped with the engine");
    let exited: HashSet<String> = engine.containers("status=exited").await.into_iter().collect();
    assert!(ids(&cattle).is_subset(&exited), "{exited:?}");

    let replaced = |d: &GroupDescription| d.converged && running(d, 2) && ids(d).is_disjoint(&before);
    let (cattle, took) = until(&c, "cattle", RECOVERED_WITHIN, replaced).await;
    let (pets, _) = until(&c, "pets", RECOVERED_WITHIN, replaced).await;
    eprintln!("recovered {took:?} after the engine answered; {} provisions asked in all", plugin.provisions());

    let names: HashSet<String> =
        pets.instances.iter().filter_map(|i| i.logical_id.as_ref()).map(|l| l.to_string()).collect();
    assert_eq!(names, HashSet::from(["pet-a".to_owned(), "pet-b".to_owned()]), "pets keep their names");
    let now: HashSet<String> = ids(&cattle).union(&ids(&pets)).cloned().collect();
    let live: HashSet<String> = engine.containers("status=running").await.into_iter().collect();
    assert_eq!(live, now, "exactly the groups' members run: nothing doubled or leaked");
    c.shutdown().await;
    drop(engine);
    assert_eq!(machine_bridge(), bridge_before, "the machine's engine keeps its bridge");
}

/// Whether the machine's engine has its default bridge, which an engine of the test's own must
/// leave alone.
fn machine_bridge() -> bool {
    std::path::Path::new("/sys/class/net/docker0").exists()
}
