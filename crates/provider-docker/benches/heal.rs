//! Heal time on the real engine: from `docker kill` of a member of a group of 3 to its
//! replacement running, 20 trials, with the original's 10s poll (so every heal below it is the
//! event stream's doing). The group controller and the docker plugin run in this process.
//!
//! Each trial kills the oldest member once it has lived past the group controller's crash-loop
//! window: a replacement killed sooner is, by design, held back as a crash loop.
//!
//! `cargo bench -p infrakit-provider-docker --bench heal` (needs the engine and
//! `scripts/docker-test-image.sh`). Prints p50, p90, p99 and max; BENCHMARKS.md records them.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::{EventsOptions, KillContainerOptions, ListContainersOptions, RemoveContainerOptions};
use futures::StreamExt;
use infrakit_group::decide::CRASH_LOOP_WINDOW;
use infrakit_group::{GroupController, Options};
use infrakit_provider_docker::{DockerHealth, DockerOptions, DockerPlugin};
use infrakit_spi::flavor::FlavorPlugin;
use infrakit_spi::group::{GroupId, GroupPlugin, GroupSpec};
use infrakit_spi::instance::InstancePlugin;
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::types::PluginName;
use infrakit_spi::{Error, Result};
use serde_json::json;

/// The number of trials.
const TRIALS: usize = 20;
/// The original's poll interval: a heal that waited for it would show as 10s.
const POLL: Duration = Duration::from_secs(10);
/// The group's size.
const SIZE: usize = 3;
/// The label on the benchmark's containers, which it removes at the end (and at the start, after
/// a run that crashed).
const LABEL: (&str, &str) = ("io.infrakit.test", "provider-docker-bench");
const GROUP: &str = "heal-bench";
const IMAGE: &str = "infrakit-busybox:test";
/// A trial that takes longer has failed.
const TRIAL_DEADLINE: Duration = Duration::from_secs(30);
/// How far past the crash-loop window a victim must have lived, for the coarseness of "first
/// seen" (the bench notices a new container within a settle, not at its start).
const WINDOW_MARGIN: Duration = Duration::from_secs(1);
/// How often the bench looks at the group between trials.
const LOOK_EVERY: Duration = Duration::from_millis(20);

struct Lookup(Arc<DockerPlugin>);

impl PluginLookup for Lookup {
    fn instance(&self, _: &PluginName) -> Result<Arc<dyn InstancePlugin>> {
        Ok(self.0.clone())
    }
    fn flavor(&self, _: &PluginName) -> Result<Arc<dyn FlavorPlugin>> {
        Ok(Arc::new(DockerHealth))
    }
    fn group(&self, name: &PluginName) -> Result<Arc<dyn GroupPlugin>> {
        Err(Error::not_found(format!("no plugin {name}")))
    }
}

fn label_filter() -> HashMap<String, Vec<String>> {
    HashMap::from([("label".to_owned(), vec![format!("{}={}", LABEL.0, LABEL.1)])])
}

async fn running(docker: &Docker) -> Vec<String> {
    let mut filters = label_filter();
    filters.insert("status".to_owned(), vec!["running".to_owned()]);
    let options = ListContainersOptions { filters: Some(filters), ..Default::default() };
    let listed = docker.list_containers(Some(options)).await.unwrap_or_default();
    listed.into_iter().filter_map(|c| c.id).collect()
}

async fn remove_all(docker: &Docker) {
    let options = ListContainersOptions { all: true, filters: Some(label_filter()), ..Default::default() };
    for container in docker.list_containers(Some(options)).await.unwrap_or_default() {
        if let Some(id) = container.id {
            let remove = RemoveContainerOptions { force: true, v: true, ..Default::default() };
            let _ = docker.remove_container(&id, Some(remove)).await;
        }
    }
}

async fn steady(controller: &GroupController, docker: &Docker) {
    let started = Instant::now();
    loop {
        let d = controller.describe_group(&GroupId::from(GROUP)).await.expect("describe");
        if d.converged && d.instances.len() == SIZE && running(docker).await.len() == SIZE {
            return;
        }
        assert!(started.elapsed() < TRIAL_DEADLINE, "the group did not settle: {:#?}", d.status);
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

#[tokio::main]
async fn main() {
    let docker = Docker::connect_with_local_defaults().expect("docker client");
    let docker = docker.negotiate_version().await.expect("the docker engine runs here");
    remove_all(&docker).await;
    let plugin = Arc::new(DockerPlugin::connect(DockerOptions::default()).await.expect("docker plugin"));
    let options = Options { poll_interval: POLL, ..Options::default() };
    let controller = GroupController::new(Arc::new(Lookup(plugin)), options);
    let properties = json!({
        "Allocation": {"Size": SIZE},
        "Instance": {"Plugin": "docker", "Properties": {
            "Tags": {LABEL.0: LABEL.1},
            "Config": {"Image": IMAGE, "Cmd": ["httpd", "-f", "-p", "8080"]},
        }},
        "Flavor": {"Plugin": "docker"},
    });
    let spec = GroupSpec { id: GroupId::from(GROUP), properties: Some(properties) };
    controller.commit_group(spec, false).await.expect("commit");
    steady(&controller, &docker).await;

    let mut times = Vec::with_capacity(TRIALS);
    let mut first_seen: HashMap<String, Instant> = HashMap::new();
    for trial in 1..=TRIALS {
        let before = running(&docker).await;
        let now = Instant::now();
        for id in &before {
            first_seen.entry(id.clone()).or_insert(now);
        }
        let victim = before.iter().min_by_key(|id| first_seen[*id]).expect("members").clone();
        let old_enough = first_seen[&victim] + CRASH_LOOP_WINDOW + WINDOW_MARGIN;
        tokio::time::sleep_until(old_enough.into()).await;
        // Replacements announce themselves on the engine's event stream: no polling bias.
        let mut filters = label_filter();
        filters.insert("type".to_owned(), vec!["container".to_owned()]);
        filters.insert("event".to_owned(), vec!["start".to_owned()]);
        let mut starts = docker.events(Some(EventsOptions { filters: Some(filters), ..Default::default() }));
        let killed = Instant::now();
        docker.kill_container(&victim, None::<KillContainerOptions>).await.expect("docker kill");
        let took = tokio::time::timeout(TRIAL_DEADLINE, async {
            while let Some(event) = starts.next().await {
                let id = event.ok().and_then(|e| e.actor).and_then(|a| a.id).unwrap_or_default();
                if !before.contains(&id) {
                    return killed.elapsed();
                }
            }
            panic!("the engine's event stream ended");
        })
        .await
        .expect("a replacement started");
        println!("trial {trial:2}: {:7.1} ms", took.as_secs_f64() * 1000.0);
        times.push(took);
        steady(&controller, &docker).await;
    }
    controller.shutdown().await;
    remove_all(&docker).await;

    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "docker kill -> replacement running, {TRIALS} trials, poll {POLL:?}: p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms (targets: p50 < 500 ms, p99 < 1000 ms)",
        ms(percentile(&times, 50.0)),
        ms(percentile(&times, 90.0)),
        ms(percentile(&times, 99.0)),
        ms(times[TRIALS - 1]),
    );
}
