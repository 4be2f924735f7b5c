//! The `simulator` plugin: its objects, special properties and knobs, under paused tokio time.

use std::collections::HashSet;
use std::time::Duration;

use infrakit_provider_local::simulator::{Knobs, Probability, SIMULATOR_TAG, Simulator, SimulatorOptions};
use infrakit_spi::Error;
use infrakit_spi::instance::{DestroyContext, InstanceId, InstancePlugin, LogicalId, Spec};
use infrakit_spi::types::Tags;
use serde_json::{Value, json};
use tokio::time::Instant;

fn tags(pairs: &[(&str, &str)]) -> Tags {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn spec(pairs: &[(&str, &str)], properties: Value) -> Spec {
    Spec { properties: Some(properties), tags: tags(pairs), ..Spec::default() }
}

fn simulator(knobs: Knobs) -> Simulator {
    Simulator::new("sim", SimulatorOptions { knobs, ..SimulatorOptions::default() })
}

async fn listed(object: &dyn InstancePlugin, pairs: &[(&str, &str)]) -> Vec<InstanceId> {
    object.describe_instances(&tags(pairs), false).await.unwrap().into_iter().map(|d| d.id).collect()
}

#[tokio::test]
async fn each_typed_object_is_its_own_plugin_over_its_own_store() {
    let simulator = simulator(Knobs::default());
    let objects = simulator.objects();
    let names: Vec<&str> = objects.iter().map(|(name, _)| name.as_str()).collect();
    assert_eq!(names, ["compute", "net", "disk"]);
    let (compute, disk) = (&objects[0].1, &objects[2].1);

    let spec = Spec { logical_id: Some(LogicalId::from("web-1")), ..spec(&[("group", "web")], json!({"Note": "x"})) };
    let id = compute.provision(spec).await.unwrap();
    assert!(id.as_str().parse::<u64>().is_ok(), "a decimal nanosecond ID: {id}");
    assert!(disk.describe_instances(&Tags::new(), false).await.unwrap().is_empty());

    let described = compute.describe_instances(&tags(&[("group", "web")]), true).await.unwrap();
    assert_eq!(described.len(), 1);
    assert_eq!(described[0].tags, tags(&[("group", "web"), (SIMULATOR_TAG, "sim")]));
    assert_eq!(described[0].logical_id, Some(LogicalId::from("web-1")));
    assert_eq!(described[0].properties, Some(json!({"Note": "x"})), "Properties = spec.Properties");
    let without = compute.describe_instances(&Tags::new(), false).await.unwrap();
    assert_eq!(without[0].properties, None);

    compute.label(&id, &tags(&[("group", "db")])).await.unwrap();
    assert_eq!(listed(compute.as_ref(), &[("group", "db")]).await, std::slice::from_ref(&id));
    compute.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
    assert!(listed(compute.as_ref(), &[]).await.is_empty());
    let error = compute.destroy(&id, DestroyContext::TERMINATE).await.unwrap_err();
    assert_eq!(error, Error::not_found(format!("not found {id}")));
    assert!(matches!(compute.label(&InstanceId::from("007"), &Tags::new()).await, Err(Error::NotFound(_))));
}

#[tokio::test]
async fn ids_never_repeat() {
    let simulator = simulator(Knobs::default());
    let mut seen = HashSet::new();
    for (_, object) in simulator.objects() {
        for _ in 0..1_000 {
            assert!(seen.insert(object.provision(Spec::default()).await.unwrap()));
        }
    }
}

#[tokio::test]
async fn simulator_cap_refuses_provisions_at_capacity() {
    let simulator = simulator(Knobs::default());
    let compute = simulator.object("compute").unwrap();
    let capped = json!({"simulator_cap": 2});
    let first = compute.provision(spec(&[], capped.clone())).await.unwrap();
    compute.provision(spec(&[], capped.clone())).await.unwrap();
    let error = compute.provision(spec(&[], capped.clone())).await.unwrap_err();
    assert_eq!(error.to_string(), "at capacity 2");
    assert!(error.retryable());
    compute.destroy(&first, DestroyContext::TERMINATE).await.unwrap();
    compute.provision(spec(&[], capped)).await.unwrap();

    // The knob caps too, and the tighter cap is the one reported.
    compute.update_knobs(|k| k.capacity = Some(1));
    assert_eq!(compute.provision(Spec::default()).await.unwrap_err().to_string(), "at capacity 1");
    assert_eq!(compute.live_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn simulator_delay_makes_the_provision_take_that_long() {
    let simulator = simulator(Knobs::default());
    let compute = simulator.object("compute").unwrap();
    let start = Instant::now();
    compute.provision(spec(&[], json!({"simulator_delay": "5s"}))).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(5));
    assert!(compute.validate(Some(&json!({"simulator_delay": "5s", "simulator_cap": 3}))).await.is_ok());
    let error = compute.validate(Some(&json!({"simulator_delay": "later"}))).await.unwrap_err();
    assert!(error.to_string().starts_with("invalid simulator properties: invalid duration"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn latencies_are_tokio_time_and_can_change_at_run_time() {
    let knobs = Knobs {
        provision_delay: Duration::from_secs(2).into(),
        describe_delay: Duration::from_secs(1).into(),
        destroy_delay: Duration::from_secs(3).into(),
        ..Knobs::default()
    };
    let options =
        SimulatorOptions { knobs, start_delay: Duration::from_secs(10).into(), ..SimulatorOptions::default() };
    let simulator = Simulator::new("sim", options);
    let compute = simulator.object("compute").unwrap();
    let start = Instant::now();
    let id = compute.provision(Spec::default()).await.unwrap();
    assert_eq!(start.elapsed(), Duration::from_secs(10 + 2), "the start delay, then the provision delay");

    let timed = Instant::now();
    compute.describe_instances(&Tags::new(), false).await.unwrap();
    assert_eq!(timed.elapsed(), Duration::from_secs(1));
    let timed = Instant::now();
    compute.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
    assert_eq!(timed.elapsed(), Duration::from_secs(3));

    compute.update_knobs(|k| k.provision_delay = Duration::from_millis(250).into());
    let timed = Instant::now();
    compute.provision(Spec::default()).await.unwrap();
    assert_eq!(timed.elapsed(), Duration::from_millis(250));
    assert_eq!(simulator.object("disk").unwrap().knobs().provision_delay.0, Duration::from_secs(2), "per object");
}

/// The outcomes of `count` provisions on a fresh simulator with this seed and failure rate.
async fn outcomes(seed: u64, rate: f64, count: usize) -> Vec<bool> {
    let knobs = Knobs { failure_rate: Probability::new(rate).unwrap(), ..Knobs::default() };
    let simulator =
        Simulator::new("sim", SimulatorOptions { knobs, failure_seed: seed, ..SimulatorOptions::default() });
    let compute = simulator.object("compute").unwrap();
    let mut outcomes = Vec::with_capacity(count);
    for _ in 0..count {
        match compute.provision(Spec::default()).await {
            Ok(_) => outcomes.push(true),
            Err(error) => {
                assert_eq!(error.to_string(), "simulated provision failure in compute");
                outcomes.push(false);
            }
        }
    }
    outcomes
}

#[tokio::test]
async fn the_failure_rate_is_reproducible_from_the_seed() {
    let first = outcomes(42, 0.3, 200).await;
    assert_eq!(first, outcomes(42, 0.3, 200).await, "same seed, same failures");
    assert_ne!(first, outcomes(43, 0.3, 200).await, "another seed, other failures");
    let failures = first.iter().filter(|ok| !**ok).count();
    assert!((30..=90).contains(&failures), "about 30% of 200 fail, got {failures}");
    assert!(outcomes(42, 0.0, 50).await.iter().all(|ok| *ok));
    assert!(outcomes(42, 1.0, 50).await.iter().all(|ok| !*ok));
}

#[tokio::test(start_paused = true)]
async fn describe_lags_behind_provision_and_destroy() {
    let lag = Duration::from_secs(5);
    let simulator = simulator(Knobs { describe_lag: lag.into(), ..Knobs::default() });
    let compute = simulator.object("compute").unwrap();

    let id = compute.provision(spec(&[("group", "web")], json!({}))).await.unwrap();
    assert!(listed(&compute, &[("group", "web")]).await.is_empty(), "not listed right after provision");
    assert_eq!(
        compute.list_all().into_iter().map(|d| d.id).collect::<Vec<_>>(),
        std::slice::from_ref(&id),
        "but it exists"
    );
    compute.label(&id, &tags(&[("ready", "yes")])).await.unwrap();
    tokio::time::advance(lag - Duration::from_millis(1)).await;
    assert!(listed(&compute, &[("group", "web")]).await.is_empty());
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(listed(&compute, &[("group", "web"), ("ready", "yes")]).await, std::slice::from_ref(&id));

    compute.destroy(&id, DestroyContext::TERMINATE).await.unwrap();
    assert!(compute.list_all().is_empty() && compute.live_count() == 0, "gone at once in truth");
    assert_eq!(listed(&compute, &[("group", "web")]).await, std::slice::from_ref(&id), "still listed after destroy");
    assert!(matches!(compute.destroy(&id, DestroyContext::TERMINATE).await, Err(Error::NotFound(_))));
    tokio::time::advance(lag - Duration::from_millis(1)).await;
    assert_eq!(listed(&compute, &[]).await, [id]);
    tokio::time::advance(Duration::from_millis(1)).await;
    assert!(listed(&compute, &[]).await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_killed_instance_vanishes_at_once_whatever_the_lag() {
    let simulator = simulator(Knobs { describe_lag: Duration::from_secs(1).into(), ..Knobs::default() });
    let compute = simulator.object("compute").unwrap();
    let killed = compute.provision(Spec::default()).await.unwrap();
    let survivor = compute.provision(Spec::default()).await.unwrap();
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(listed(&compute, &[]).await.len(), 2);

    assert!(compute.kill(&killed));
    assert_eq!(listed(&compute, &[]).await, [survivor]);
    assert!(!compute.kill(&killed), "already dead");
    assert!(!compute.kill(&InstanceId::from("not-a-number")));
    assert!(matches!(compute.destroy(&killed, DestroyContext::TERMINATE).await, Err(Error::NotFound(_))));
}

/// 100,000 instances in 10 groups through the plugin interface: describe by tags returns each
/// group's members exactly, and narrowing by a second tag returns the intersection.
#[tokio::test]
async fn holds_100k_instances_and_describes_groups_exactly() {
    const INSTANCES: usize = 100_000;
    const GROUPS: usize = 10;
    let simulator = simulator(Knobs::default());
    let compute = simulator.object("compute").unwrap();
    let mut members: Vec<Vec<InstanceId>> = vec![Vec::new(); GROUPS];
    for n in 0..INSTANCES {
        let group = format!("g{}", n % GROUPS);
        let hash = if n % 4 == 0 { "old" } else { "new" };
        let id = compute
            .provision(spec(&[("infrakit.group", &group), ("infrakit.config.hash", hash)], json!({"n": n})))
            .await
            .unwrap();
        members[n % GROUPS].push(id);
    }
    assert_eq!(compute.live_count(), INSTANCES);

    for (group, expected) in members.iter().enumerate() {
        let found = listed(&compute, &[("infrakit.group", &format!("g{group}"))]).await;
        assert_eq!(&found, expected, "group g{group}");
    }
    let old_in_g4 = listed(&compute, &[("infrakit.group", "g4"), ("infrakit.config.hash", "old")]).await;
    let expected: Vec<InstanceId> = members[4].iter().step_by(2).cloned().collect();
    assert_eq!(old_in_g4, expected, "n % 4 == 0 within n % 10 == 4 is every other member");

    let with_properties = compute.describe_instances(&tags(&[("infrakit.group", "g7")]), true).await.unwrap();
    assert_eq!(with_properties[0].properties, Some(json!({"n": 7})));
    assert!(listed(&compute, &[("infrakit.group", "g10")]).await.is_empty());
    assert_eq!(listed(&compute, &[]).await.len(), INSTANCES);
}

#[tokio::test]
async fn a_provision_asked_again_finds_its_instance_even_before_it_is_listed() {
    let knobs = Knobs { describe_lag: Duration::from_secs(60).into(), ..Knobs::default() };
    let simulator = simulator(knobs);
    let compute = simulator.objects().remove(0).1;
    assert!(compute.promises().await.unwrap().idempotent_provision);
    let token = [("infrakit.group", "web"), ("infrakit.provision.token", "run1-5")];
    let first = compute.provision(spec(&token, json!({}))).await.unwrap();
    assert!(listed(compute.as_ref(), &[]).await.is_empty(), "not listed yet");
    assert_eq!(compute.provision(spec(&token, json!({}))).await.unwrap(), first);
    let other_group = [("infrakit.group", "db"), ("infrakit.provision.token", "run1-5")];
    assert_ne!(compute.provision(spec(&other_group, json!({}))).await.unwrap(), first);
    compute.destroy(&first, DestroyContext::TERMINATE).await.unwrap();
    assert_ne!(compute.provision(spec(&token, json!({}))).await.unwrap(), first, "a destroyed one is not found");
}
