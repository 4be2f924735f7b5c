//! The simulator at scale: provisioning 100,000 instances, then describing by tags.
//!
//! Run with `cargo bench -p infrakit-provider-local --bench simulator`. Each describe figure is
//! the median of several runs; the instances are spread over 10 groups, and within each group
//! over 10 config hashes, as a group controller's rolling update would tag them.

use std::time::{Duration, Instant};

use infrakit_provider_local::simulator::{Simulator, SimulatorOptions};
use infrakit_spi::instance::{InstancePlugin, Spec};
use infrakit_spi::types::Tags;
use serde_json::json;

const INSTANCES: usize = 100_000;
const GROUPS: usize = 10;
const HASHES: usize = 10;
/// Runs per describe figure: enough for a stable median, few enough to finish in seconds.
const RUNS: usize = 15;

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

async fn describe(object: &dyn InstancePlugin, query: &Tags, properties: bool) -> (Duration, usize) {
    let mut samples = Vec::with_capacity(RUNS);
    let mut found = 0;
    for _ in 0..RUNS {
        let start = Instant::now();
        let result = object.describe_instances(query, properties).await.expect("describe");
        samples.push(start.elapsed());
        found = result.len();
    }
    (median(samples), found)
}

async fn run() {
    let simulator = Simulator::new("bench", SimulatorOptions::default());
    let compute = simulator.object("compute").expect("the default objects include compute");

    let start = Instant::now();
    for n in 0..INSTANCES {
        let (group, hash) = (format!("g{}", n % GROUPS), format!("h{}", (n / GROUPS) % HASHES));
        let spec = Spec {
            properties: Some(json!({"Note": "bench", "n": n})),
            tags: tags(&[("infrakit.group", &group), ("infrakit.config.hash", &hash), ("n", &n.to_string())]),
            ..Spec::default()
        };
        compute.provision(spec).await.expect("provision");
    }
    let provision = start.elapsed();
    println!("simulator benchmark: {INSTANCES} instances, {GROUPS} groups x {HASHES} config hashes");
    println!(
        "provision {INSTANCES:>7} instances       {:>10.1?} total, {:>8.2?} per provision",
        provision,
        provision / INSTANCES as u32
    );

    let cases: [(&str, Tags, bool); 5] = [
        ("describe one group", tags(&[("infrakit.group", "g3")]), false),
        ("describe one group, properties", tags(&[("infrakit.group", "g3")]), true),
        ("describe group + config hash", tags(&[("infrakit.group", "g3"), ("infrakit.config.hash", "h7")]), false),
        ("describe one instance by tag", tags(&[("infrakit.group", "g3"), ("n", "4243")]), false),
        ("describe everything", Tags::new(), false),
    ];
    for (name, query, properties) in cases {
        let (took, found) = describe(&compute, &query, properties).await;
        println!("{name:<32} {found:>7} found   {took:>10.2?} median of {RUNS}");
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("a tokio runtime");
    runtime.block_on(run());
}
