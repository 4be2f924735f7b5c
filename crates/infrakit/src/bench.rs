//! `infrakit bench group`: the group controller's speed and footprint, in-process against the
//! simulator, so the figures measure the controller rather than a transport or a backend.
//!
//! Each scenario prints its measurement next to its target and its ideal; BENCHMARKS.md records
//! the figures with the command that produced them. Nothing here is a pass/fail test.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use infrakit_flavors::Vanilla;
use infrakit_group::{GroupController, Options};
use infrakit_provider_local::{Knobs, Simulator, SimulatorOptions};
use infrakit_rpc::RemoteLookup;
use infrakit_spi::duration::GoDuration;
use infrakit_spi::group::{CONFIG_HASH_TAG, GroupId, GroupPlugin, GroupSpec};
use serde_json::{Value, json};

use crate::registry::{Objects, Registry};

/// How often a scenario looks at the group while waiting: often enough for a 1% resolution on
/// the shortest scenario, rarely enough not to load the controller.
const WATCH_INTERVAL: Duration = Duration::from_millis(5);
/// A scenario that has not converged by then has failed.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(300);

/// A controller and a simulator wired together in this process.
struct Bench {
    controller: GroupController,
}

impl Bench {
    fn new(provision_delay: Duration, poll_interval: Duration) -> Self {
        let registry = Arc::new(Registry::new(RemoteLookup::new(std::env::temp_dir().join("infrakit-bench-none"))));
        let knobs = Knobs { provision_delay: GoDuration(provision_delay), ..Knobs::default() };
        let simulator = Simulator::new("simulator", SimulatorOptions { knobs, ..SimulatorOptions::default() });
        registry.register("simulator", Objects { instances: simulator.objects(), ..Objects::default() });
        registry.register(
            "vanilla",
            Objects { flavors: vec![(String::new(), Arc::new(Vanilla::default()))], ..Objects::default() },
        );
        let options = Options { poll_interval, ..Options::default() };
        Self { controller: GroupController::new(registry, options) }
    }

    async fn commit(&self, id: &str, size: u64, note: &str, updating: Value) -> Result<()> {
        let properties = json!({
            "Allocation": {"Size": size},
            "Instance": {"Plugin": "simulator/compute", "Properties": {"Note": note}},
            "Flavor": {"Plugin": "vanilla", "Properties": {"Tags": {"bench": "yes"}}},
            "Updating": updating,
        });
        self.controller
            .commit_group(GroupSpec { id: GroupId(id.to_owned()), properties: Some(properties) }, false)
            .await?;
        Ok(())
    }

    /// Waits until the group has `size` members, all of one config, and says it converged;
    /// returns the time taken and the most members seen at once.
    async fn converge(&self, id: &str, size: usize) -> Result<(Duration, usize)> {
        let (started, id) = (Instant::now(), GroupId(id.to_owned()));
        let mut peak = 0;
        loop {
            let description = self.controller.describe_group(&id).await?;
            peak = peak.max(description.instances.len());
            let first = description.instances.first().and_then(|i| i.tags.get(CONFIG_HASH_TAG));
            let one_config = description.instances.iter().all(|i| i.tags.get(CONFIG_HASH_TAG) == first);
            if description.converged && description.instances.len() == size && one_config {
                return Ok((started.elapsed(), peak));
            }
            if started.elapsed() > SCENARIO_DEADLINE {
                bail!("group {id} did not converge in {SCENARIO_DEADLINE:?}: {} members", description.instances.len());
            }
            tokio::time::sleep(WATCH_INTERVAL).await;
        }
    }
}

/// Runs every scenario and prints the figures.
pub async fn group() -> Result<()> {
    scale_from_zero().await?;
    bounded_parallelism().await?;
    rollout_with_surge().await?;
    steady_state().await
}

async fn scale_from_zero() -> Result<()> {
    let bench = Bench::new(Duration::ZERO, Duration::from_secs(1));
    bench.commit("big", 1000, "v1", json!({})).await?;
    let (took, _) = bench.converge("big", 1000).await?;
    println!("scale 0 -> 1,000, no latency:               {:>8.3} s   (target < 1 s)", took.as_secs_f64());
    Ok(())
}

async fn bounded_parallelism() -> Result<()> {
    let (size, parallel, latency) = (1000u64, 50u64, Duration::from_millis(200));
    let bench = Bench::new(latency, Duration::from_secs(1));
    bench.commit("bounded", size, "v1", json!({"MaxParallel": parallel})).await?;
    let (took, _) = bench.converge("bounded", size as usize).await?;
    let ideal = latency * size.div_ceil(parallel) as u32;
    println!("scale 0 -> 1,000, 200 ms each, MaxParallel 50: {}, target within 10%)", against_ideal(took, ideal));
    Ok(())
}

async fn rollout_with_surge() -> Result<()> {
    let (size, surge, latency) = (100u64, 10u64, Duration::from_millis(200));
    let bench = Bench::new(latency, Duration::from_secs(1));
    bench.commit("rolling", size, "v1", json!({"MaxSurge": surge})).await?;
    bench.converge("rolling", size as usize).await?;
    bench.commit("rolling", size, "v2", json!({"MaxSurge": surge})).await?;
    let (took, peak) = bench.converge("rolling", size as usize).await?;
    let ideal = latency * size.div_ceil(surge) as u32;
    println!(
        "rollout of 100, MaxSurge 10, 200 ms each:     {}; peak {peak} members, limit {})",
        against_ideal(took, ideal),
        size + surge
    );
    Ok(())
}

async fn steady_state() -> Result<()> {
    const GROUPS: u64 = 100;
    const WINDOW: Duration = Duration::from_secs(30);
    let bench = Bench::new(Duration::ZERO, Duration::from_secs(1));
    for g in 0..GROUPS {
        bench.commit(&format!("g{g}"), 100, "v1", json!({})).await?;
    }
    for g in 0..GROUPS {
        bench.converge(&format!("g{g}"), 100).await?;
    }
    let (cpu_before, wall_before) = (cpu_time()?, Instant::now());
    tokio::time::sleep(WINDOW).await;
    let (cpu, wall) = (cpu_time()? - cpu_before, wall_before.elapsed());
    println!(
        "100 groups x 100 instances, 1 s poll, steady: {:>6.2}% of one core, {} MB resident   (targets < 2%, < 100 MB)",
        cpu.as_secs_f64() / wall.as_secs_f64() * 100.0,
        resident_mb()?
    );
    Ok(())
}

/// `4.035 s   (ideal 4.0 s: +0.9%`: a measured time next to its ideal.
fn against_ideal(took: Duration, ideal: Duration) -> String {
    let (took, ideal) = (took.as_secs_f64(), ideal.as_secs_f64());
    format!("{took:>6.3} s   (ideal {ideal:.1} s: {:+.1}%", (took / ideal - 1.0) * 100.0)
}

/// CPU time (user + system) this process has used.
fn cpu_time() -> Result<Duration> {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).context("getrusage")?;
    let micros = |t: nix::sys::time::TimeVal| Duration::from_micros(t.tv_sec() as u64 * 1_000_000 + t.tv_usec() as u64);
    Ok(micros(usage.user_time()) + micros(usage.system_time()))
}

/// This process's resident memory in MB, from /proc.
fn resident_mb() -> Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no VmRSS in /proc/self/status")?;
    Ok(kb / 1024)
}
