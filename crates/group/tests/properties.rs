//! The controller's invariants under random faults: provision failures, describe lag, unhealthy
//! reports, slow warm-ups and restarts in the middle of a rollout.
//!
//! - Never more than size + MaxSurge instances exist.
//! - A rollout that started healthy never destroys a healthy member when fewer than
//!   size − MaxUnavailable healthy would remain.
//! - Once the faults stop, the group converges on the new config.

mod support;

use std::sync::Arc;
use std::time::Duration;

use infrakit_group::{GroupController, Journal, MemoryJournal, Options};
use infrakit_spi::flavor::Health;
use infrakit_spi::group::{CONFIG_HASH_TAG, GroupId, GroupPlugin, RolloutState};
use proptest::prelude::*;
use serde_json::json;
use support::*;

/// Polls with faults on, after the rollout is committed.
const FAULTY_POLLS: u32 = 120;
/// Polls allowed to converge after the faults stop: long enough for a restored provision to
/// time out (5 minutes) and a breaker at its cap (5 minutes) to probe again.
const CONVERGENCE_POLLS: usize = 1500;

#[derive(Debug, Clone)]
struct Faults {
    size: u64,
    surge: u64,
    unavailable: u64,
    count_gate: u64,
    provision_failure_percent: u32,
    describe_lag: u64,
    unhealthy_percent: u64,
    warmup: usize,
    restarts: Vec<u32>,
    seed: u64,
}

fn faults() -> impl Strategy<Value = Faults> {
    (
        1u64..6,
        0u64..3,
        0u64..3,
        0u64..3,
        0u32..40,
        0u64..15,
        0u64..20,
        0usize..3,
        proptest::collection::vec(0u32..FAULTY_POLLS, 0..3),
        any::<u64>(),
    )
        .prop_map(|(size, surge, unavailable, count_gate, fail, lag, unhealthy, warmup, mut restarts, seed)| {
            restarts.sort_unstable();
            let (surge, unavailable) = if surge == 0 && unavailable == 0 { (1, 0) } else { (surge, unavailable) };
            Faults {
                size,
                surge,
                unavailable,
                count_gate,
                provision_failure_percent: fail,
                describe_lag: lag,
                unhealthy_percent: unhealthy,
                warmup,
                restarts,
                seed,
            }
        })
}

/// Members of `config` answer Unknown while warming up, then Healthy but for random unhealthy
/// reports; members of other configs are healthy but for the same random reports.
fn flaky(config: String, warmup: usize, unhealthy_percent: u64, seed: u64) -> HealthScript {
    let mut state = seed | 1;
    Box::new(move |d: &infrakit_spi::instance::Description, asked: usize| {
        if d.tags.get(CONFIG_HASH_TAG) == Some(&config) && asked < warmup {
            return Health::Unknown;
        }
        match xorshift(&mut state) % 100 < unhealthy_percent {
            true => Health::Unhealthy,
            false => Health::Healthy,
        }
    })
}

async fn run(f: Faults) -> Result<(), TestCaseError> {
    let cloud = Cloud::default();
    let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::default());
    let options = || Options { poll_interval: POLL, journal: journal.clone(), ..Options::default() };
    let mut c: GroupController = cloud.controller_with(options());
    let updating = json!({"MaxSurge": f.surge, "MaxUnavailable": f.unavailable, "Count": f.count_gate});
    let v1 = spec_with("g", json!({"Allocation": {"Size": f.size}}), "v1", updating.clone());
    let v2 = spec_with("g", json!({"Allocation": {"Size": f.size}}), "v2", updating);
    c.commit_group(v1.clone(), false).await.unwrap();
    until(&c, "g", POLL, 20, |d| d.converged && d.instances.len() == f.size as usize).await;

    // The rollout starts healthy; then the faults begin.
    cloud.set_describe_lag(Duration::from_secs(f.describe_lag));
    cloud.fail_randomly(f.provision_failure_percent, f.seed);
    let (new, warmup, unhealthy, seed) = (hash(&v2), f.warmup, f.unhealthy_percent, f.seed);
    cloud.set_health(flaky(new.clone(), warmup, unhealthy, seed));
    c.commit_group(v2.clone(), false).await.unwrap();
    let mut restarts = f.restarts.iter().peekable();
    for poll in 0..FAULTY_POLLS {
        while restarts.next_if(|&&at| at == poll).is_some() {
            c.shutdown().await;
            c = cloud.controller_with(options());
            c.commit_group(v2.clone(), false).await.unwrap();
        }
        polls(POLL, 1).await;
    }

    // The faults stop; an operator resumes a rollout that failed meanwhile.
    cloud.fail_randomly(0, 0);
    cloud.set_health(flaky(new.clone(), warmup, 0, seed));
    if c.rollout_status(&GroupId::from("g")).await.unwrap().state == RolloutState::Paused {
        c.resume_rollout(&GroupId::from("g")).await.unwrap();
    }
    until(&c, "g", POLL, CONVERGENCE_POLLS, |d| {
        let on_new = d.instances.iter().all(|i| i.tags.get(CONFIG_HASH_TAG) == Some(&new));
        d.converged && on_new && d.instances.len() == f.size as usize
    })
    .await;

    prop_assert!(
        cloud.most_existing() as u64 <= f.size + f.surge,
        "{} instances existed at once, more than {} + {}",
        cloud.most_existing(),
        f.size,
        f.surge
    );
    let floor = f.size.saturating_sub(f.unavailable) as usize;
    for (was_healthy, left) in cloud.destroy_audit() {
        prop_assert!(!was_healthy || left >= floor, "a healthy member went, leaving {left} healthy, below {floor}");
    }
    c.shutdown().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn invariants_hold_under_random_faults(f in faults()) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().start_paused(true).build().unwrap();
        runtime.block_on(run(f))?;
    }
}
