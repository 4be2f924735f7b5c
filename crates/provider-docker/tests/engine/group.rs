//! The group controller keeping containers on the real engine: a killed member healed from the
//! engine's events well before the poll, every member killed at once, a rolling update with
//! surge, a member its HEALTHCHECK finds unhealthy replaced, and an image that does not exist met
//! by the crash-loop breaker rather than a hot loop.
//!
//! The engine restarting is in `restart`, on an engine of the test's own.

use std::time::Duration;

use infrakit_spi::group::{CONFIG_HASH_TAG, GroupDescription, GroupId, GroupPlugin, GroupSpec};
use serde_json::json;

use crate::controller::{controller, running, until};
use crate::support::{Scope, docker_kill, image};

/// The original's poll interval: healing must not wait for it.
const POLL: Duration = Duration::from_secs(10);

/// The bound on healing one killed member.
const HEALED_WITHIN: Duration = Duration::from_secs(1);

/// A group of `size` busybox web servers with `VERSION=version`.
fn web(scope: &Scope, size: u64, version: &str, image: &str) -> GroupSpec {
    let properties = json!({
        "Allocation": {"Size": size},
        "Instance": {"Plugin": "docker", "Properties": {
            "Tags": scope.tags(),
            "Config": {"Image": image, "Cmd": ["httpd", "-f", "-p", "8080"], "Env": [format!("VERSION={version}")]},
        }},
        "Flavor": {"Plugin": "docker"},
        "Updating": {"MaxSurge": 1},
    });
    GroupSpec { id: GroupId::from(scope.name.as_str()), properties: Some(properties) }
}

#[tokio::test]
async fn a_killed_container_is_healed_from_the_events_well_before_the_poll() {
    let scope = Scope::new("heal");
    let (c, _) = controller(POLL).await;
    c.commit_group(web(&scope, 3, "1", image()), false).await.unwrap();
    let (d, _) = until(&c, &scope.name, Duration::from_secs(30), |d| d.converged && running(d, 3)).await;

    let victim = d.instances[0].id.clone();
    docker_kill(&[victim.to_string()]);
    let (healed, took) =
        until(&c, &scope.name, POLL, |d| running(d, 3) && d.instances.iter().all(|i| i.id != victim)).await;
    assert!(took < HEALED_WITHIN, "healed in {took:?}");
    assert!(healed.instances.iter().all(|i| i.tags.get("infrakit.group") == Some(&scope.name)));
    c.shutdown().await;
}

#[tokio::test]
async fn every_container_killed_at_once_is_replaced() {
    // What the group sees when the engine restarts: every container stops at once.
    let scope = Scope::new("outage");
    let (c, _) = controller(POLL).await;
    c.commit_group(web(&scope, 3, "1", image()), false).await.unwrap();
    let (d, _) = until(&c, &scope.name, Duration::from_secs(30), |d| d.converged && running(d, 3)).await;

    let all: Vec<String> = d.instances.iter().map(|i| i.id.to_string()).collect();
    docker_kill(&all);
    let (_, took) = until(&c, &scope.name, POLL, |d| {
        d.converged && running(d, 3) && d.instances.iter().all(|i| !all.contains(&i.id.to_string()))
    })
    .await;
    assert!(took < POLL, "recovered in {took:?}, before any poll");
    assert_eq!(scope.containers("status=running").len(), 3);
    c.shutdown().await;
}

#[tokio::test]
async fn a_changed_environment_rolls_the_containers_with_surge() {
    let scope = Scope::new("roll");
    let (c, engine) = controller(Duration::from_secs(1)).await;
    c.commit_group(web(&scope, 3, "1", image()), false).await.unwrap();
    let (before, _) = until(&c, &scope.name, Duration::from_secs(30), |d| d.converged && running(d, 3)).await;
    let provisions = engine.provisions();

    let v2 = web(&scope, 3, "2", image());
    let text = c.commit_group(v2, false).await.unwrap();
    assert!(text.contains('3'), "{text}");
    let mut most = 0;
    let (after, _) = until(&c, &scope.name, Duration::from_secs(60), |d| {
        most = most.max(scope.containers("status=running").len());
        d.converged && running(d, 3) && d.instances.iter().all(|i| !before.instances.iter().any(|b| b.id == i.id))
    })
    .await;
    assert_eq!(engine.provisions() - provisions, 3, "one new container per member");
    assert!(most <= 4, "surge 1: at most 4 containers at once, saw {most}");
    let hashes: Vec<&String> = after.instances.iter().filter_map(|i| i.tags.get(CONFIG_HASH_TAG)).collect();
    assert!(hashes.len() == 3 && hashes.iter().all(|h| *h == hashes[0]));
    assert_ne!(before.instances[0].tags.get(CONFIG_HASH_TAG), Some(hashes[0]));
    c.shutdown().await;
}

#[tokio::test]
async fn a_missing_image_opens_the_crash_loop_breaker() {
    let scope = Scope::new("missing-image");
    let (c, engine) = controller(Duration::from_millis(200)).await;
    c.commit_group(web(&scope, 2, "1", "infrakit-no-such-image:1"), false).await.unwrap();
    let (d, _) = until(&c, &scope.name, Duration::from_secs(10), |d| {
        d.status.as_ref().is_some_and(|s| s.last_error.as_deref().is_some_and(|e| e.contains("cannot be pulled")))
    })
    .await;
    let error = d.status.unwrap().last_error.unwrap();
    assert!(error.contains("image 'infrakit-no-such-image:1' is not on the engine"), "{error}");

    // Polled every 200ms for 3s, a hot loop would try about 30 times; the breaker's backoff
    // (5s after the first failure) allows the first batch and nothing more.
    let first = engine.provisions();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tried = engine.provisions();
    assert!(tried <= 2, "tried {tried} provisions (first error after {first})");
    assert!(scope.containers("label=io.infrakit.test").is_empty());
    c.shutdown().await;
}

#[tokio::test]
async fn a_container_its_healthcheck_finds_unhealthy_is_replaced() {
    let scope = Scope::new("unhealthy");
    let (c, _) = controller(Duration::from_millis(500)).await;
    let mut spec = web(&scope, 2, "1", image());
    let properties = spec.properties.as_mut().unwrap();
    // Healthy until told otherwise: `touch /tmp/sick` makes a container fail its check.
    properties["Instance"]["Properties"]["Config"]["Healthcheck"] =
        json!({"Test": ["CMD", "sh", "-c", "test ! -e /tmp/sick"], "Interval": 100_000_000, "Retries": 1});
    properties["Updating"]["UnhealthyGracePeriod"] = json!("1s");
    c.commit_group(spec, false).await.unwrap();
    let healthy = |d: &GroupDescription| {
        running(d, 2) && d.instances.iter().all(|i| i.properties.as_ref().is_some_and(|p| p["Health"] == "healthy"))
    };
    let (d, _) = until(&c, &scope.name, Duration::from_secs(30), |d| d.converged && healthy(d)).await;

    let sick = d.instances[0].id.clone();
    let out =
        std::process::Command::new("docker").args(["exec", sick.as_str(), "touch", "/tmp/sick"]).output().unwrap();
    assert!(out.status.success());
    let (replaced, _) = until(&c, &scope.name, Duration::from_secs(30), |d| {
        d.converged && healthy(d) && d.instances.iter().all(|i| i.id != sick)
    })
    .await;
    let decisions: Vec<String> = replaced.status.unwrap().decisions.into_iter().map(|d| d.message).collect();
    assert!(decisions.iter().any(|m| m.contains(&format!("replaced {sick}: unhealthy"))), "{decisions:#?}");
    c.shutdown().await;
}

#[tokio::test]
async fn a_container_that_exits_at_once_is_held_by_the_breaker_not_healed_in_a_hot_loop() {
    let scope = Scope::new("crashing");
    let (c, engine) = controller(Duration::from_millis(200)).await;
    let mut spec = web(&scope, 1, "1", image());
    spec.properties.as_mut().unwrap()["Instance"]["Properties"]["Config"]["Cmd"] = json!(["sh", "-c", "exit 1"]);
    c.commit_group(spec, false).await.unwrap();
    // Healed at the engine's speed this would be a dozen containers in 6s; the breaker allows the
    // first, its replacement, and a probe after the 5s backoff.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let provisions = engine.provisions();
    assert!(provisions <= 4, "{provisions} provisions in 6s");
    let d = c.describe_group(&GroupId::from(scope.name.as_str())).await.unwrap();
    let error = d.status.unwrap().last_error.unwrap_or_default();
    assert!(error.contains("after it was listed"), "{error}");
    c.shutdown().await;
}
