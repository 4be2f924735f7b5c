//! Behaviours the original did not have: surge and unavailability, health gates and timeouts,
//! rollback, rollout control, remediation, brakes, bounds, describe lag and restarts. Scripted
//! plugins, controlled time.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use infrakit_group::authority::Authority;
use infrakit_group::{FileJournal, GroupController, Journal, MemoryJournal, Options};
use infrakit_spi::flavor::Health;
use infrakit_spi::group::{CONFIG_HASH_TAG, GroupId, GroupPlugin, Phase, RolloutState};
use infrakit_spi::instance::{DestroyReason, LOGICAL_ID_TAG};
use serde_json::{Value, json};
use support::*;

fn sized(size: u64, version: &str, updating: Value) -> infrakit_spi::group::GroupSpec {
    spec_with("g", json!({"Allocation": {"Size": size}}), version, updating)
}

/// New members of `config` report Unknown on their first `warmup` checks, then Healthy.
fn warming(config: String, warmup: usize) -> impl FnMut(&infrakit_spi::instance::Description, usize) -> Health + Send {
    move |d, asked| match d.tags.get(CONFIG_HASH_TAG) == Some(&config) && asked < warmup {
        true => Health::Unknown,
        false => Health::Healthy,
    }
}

/// Commits v1 of `size`, waits for it, then rolls to v2 with `updating`; returns the cloud after
/// the rollout converged, with the extremes seen during it.
async fn roll(size: u64, updating: Value) -> Cloud {
    let cloud = Cloud::default();
    let c = cloud.controller(POLL);
    c.commit_group(sized(size, "v1", json!({})), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged && d.instances.len() == size as usize).await;
    polls(POLL, 2).await;
    let v2 = sized(size, "v2", updating);
    cloud.set_health(warming(hash(&v2), 2));
    cloud.reset_extremes();
    c.commit_group(v2.clone(), false).await.unwrap();
    until(&c, "g", POLL, 200, |d| d.converged && all_on(&cloud, &hash(&v2), size as usize)).await;
    cloud
}

#[tokio::test(start_paused = true)]
async fn surge_and_unavailability_as_counts() {
    let cloud = roll(6, json!({"MaxSurge": 2, "MaxUnavailable": 0})).await;
    assert_eq!(cloud.most_existing(), 8, "surged by exactly 2");
    assert_eq!(cloud.fewest_healthy(), Some(6), "never below the size");

    let cloud = roll(6, json!({"MaxSurge": 0, "MaxUnavailable": 2})).await;
    assert_eq!(cloud.most_existing(), 6, "no surge");
    assert_eq!(cloud.fewest_healthy(), Some(4), "down by at most 2");
}

#[tokio::test(start_paused = true)]
async fn surge_and_unavailability_as_percentages() {
    // 25% of 8: surge rounds up to 2, unavailability rounds down to 2.
    let cloud = roll(8, json!({"MaxSurge": "25%", "MaxUnavailable": "25%"})).await;
    assert_eq!(cloud.most_existing(), 10);
    assert!(cloud.fewest_healthy().unwrap() >= 6);
}

#[tokio::test(start_paused = true)]
async fn default_cattle_rollout_creates_before_it_destroys() {
    let cloud = roll(3, json!({})).await;
    assert_eq!(cloud.most_existing(), 4);
    assert_eq!(cloud.fewest_healthy(), Some(3));
}

#[tokio::test(start_paused = true)]
async fn a_health_timeout_pauses_the_rollout_with_its_reason() {
    let cloud = Cloud::default();
    let c = cloud.controller(POLL);
    c.commit_group(sized(3, "v1", json!({})), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged).await;
    let v2 = sized(3, "v2", json!({"HealthTimeout": "2m"}));
    cloud.set_health(warming(hash(&v2), usize::MAX));
    c.commit_group(v2, false).await.unwrap();
    let d = until(&c, "g", POLL, 200, |d| d.status.as_ref().unwrap().phase == Phase::Paused).await;
    let status = d.status.unwrap();
    assert!(status.rollout.reason.as_deref().unwrap().ends_with("not healthy within 2m0s"), "{:?}", status.rollout);
    assert!(!d.converged);
    let provisions = cloud.provisions();
    polls(POLL, 60).await;
    assert_eq!(cloud.provisions(), provisions, "a paused rollout creates nothing more");
    assert_eq!(c.rollout_status(&id("g")).await.unwrap().state, RolloutState::Paused);
}

#[tokio::test(start_paused = true)]
async fn on_failure_rollback_restores_the_previous_spec_and_remembers_it() {
    let cloud = Cloud::default();
    let c = cloud.controller(POLL);
    let v1 = sized(3, "v1", json!({}));
    c.commit_group(v1.clone(), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged).await;
    let v2 = sized(3, "v2", json!({"OnFailure": "Rollback", "UnhealthyGracePeriod": "30s"}));
    let bad = hash(&v2);
    cloud.set_health(
        move |d, _| if d.tags.get(CONFIG_HASH_TAG) == Some(&bad) { Health::Unhealthy } else { Health::Healthy },
    );
    c.commit_group(v2.clone(), false).await.unwrap();
    let d = until(&c, "g", POLL, 200, |d| d.converged && all_on(&cloud, &hash(&v1), 3)).await;
    let decisions: Vec<String> = d.status.unwrap().decisions.into_iter().map(|d| d.message).collect();
    assert!(decisions.iter().any(|m| m.contains("failed") && m.contains("rolling back")), "{decisions:#?}");
    assert!(
        c.inspect_groups().await.unwrap()[0].properties.as_ref().unwrap()["Instance"]["Properties"]["Version"] == "v1"
    );
    // The manager re-commits the failed spec: it is not rolled out again...
    let text = c.commit_group(v2.clone(), false).await.unwrap();
    assert!(text.starts_with("Not rolled out again"), "{text}");
    polls(POLL, 10).await;
    assert!(all_on(&cloud, &hash(&v1), 3));
    // ...until an operator resumes it.
    cloud.set_health(|_, _| Health::Healthy);
    c.resume_rollout(&id("g")).await.unwrap();
    until(&c, "g", POLL, 100, |d| d.converged && all_on(&cloud, &hash(&v2), 3)).await;
}

#[tokio::test(start_paused = true)]
async fn pause_resume_and_abort() {
    let cloud = Cloud::default();
    let c = cloud.controller(POLL);
    let v1 = sized(4, "v1", json!({}));
    c.commit_group(v1.clone(), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged).await;
    let v2 = sized(4, "v2", json!({"Count": 3}));
    c.commit_group(v2.clone(), false).await.unwrap();
    until(&c, "g", POLL, 30, |_| cloud.destroys().len() == 1).await;
    let status = c.pause_rollout(&id("g")).await.unwrap();
    assert_eq!(status.state, RolloutState::Paused);
    assert_eq!(status.reason.as_deref(), Some("paused by an operator"));
    let destroyed = cloud.destroys().len();
    polls(POLL, 30).await;
    assert_eq!(cloud.destroys().len(), destroyed, "paused: no member replaced");
    assert_eq!(cloud.live().len(), 5, "the surge member stays, within size + MaxSurge");
    assert_eq!(c.resume_rollout(&id("g")).await.unwrap().state, RolloutState::Rolling);
    until(&c, "g", POLL, 5, |_| cloud.destroys().len() > destroyed).await;
    let status = c.abort_rollout(&id("g")).await.unwrap();
    assert_eq!(status.state, RolloutState::RollingBack);
    until(&c, "g", POLL, 100, |d| d.converged && all_on(&cloud, &hash(&v1), 4)).await;
    assert!(c.abort_rollout(&id("g")).await.unwrap_err().to_string().contains("no rollout in progress"));
    assert!(c.resume_rollout(&id("g")).await.is_ok(), "resume retries the aborted spec");
    until(&c, "g", POLL, 100, |d| d.converged && all_on(&cloud, &hash(&v2), 4)).await;
}

/// Kills a controller (its tasks stop wherever they are) and starts another over the same
/// plugins and journal; the manager re-commits the same spec.
async fn restart(
    old: GroupController,
    cloud: &Cloud,
    journal: Arc<dyn Journal>,
    spec: infrakit_spi::group::GroupSpec,
) -> GroupController {
    old.shutdown().await;
    let c = cloud.controller_with(Options { poll_interval: POLL, journal, ..Options::default() });
    c.commit_group(spec, false).await.unwrap();
    c
}

#[tokio::test(start_paused = true)]
async fn a_rollout_resumes_after_a_restart_within_surge() {
    let cloud = Cloud::default();
    let journal: Arc<dyn Journal> = Arc::new(MemoryJournal::default());
    let c = cloud.controller_with(Options { poll_interval: POLL, journal: journal.clone(), ..Options::default() });
    c.commit_group(sized(5, "v1", json!({})), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged).await;
    let v2 = sized(5, "v2", json!({"MaxSurge": 1, "Count": 2}));
    cloud.set_describe_lag(Duration::from_secs(3));
    cloud.reset_extremes();
    c.commit_group(v2.clone(), false).await.unwrap();
    for kill_after in [2, 3, 5] {
        polls(POLL, kill_after).await;
        let old = c.clone();
        let c2 = restart(old, &cloud, journal.clone(), v2.clone()).await;
        assert!(cloud.most_existing() <= 6, "size + MaxSurge");
        polls(POLL, 1).await;
        c2.shutdown().await;
    }
    let c = restart(c, &cloud, journal, v2.clone()).await;
    until(&c, "g", POLL, 200, |d| d.converged && all_on(&cloud, &hash(&v2), 5)).await;
    assert!(cloud.most_existing() <= 6, "never above size + MaxSurge: {}", cloud.most_existing());
}

#[tokio::test(start_paused = true)]
async fn a_crash_during_describe_lag_doubles_nothing_with_a_file_journal() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> = Arc::new(FileJournal::new(dir.path()));
    let cloud = Cloud::default();
    cloud.set_describe_lag(Duration::from_secs(30));
    let c = cloud.controller_with(Options { poll_interval: POLL, journal: journal.clone(), ..Options::default() });
    let v1 = sized(5, "v1", json!({}));
    c.commit_group(v1.clone(), false).await.unwrap();
    polls(POLL, 2).await;
    assert_eq!(cloud.provisions(), 5);
    let c = restart(c, &cloud, journal.clone(), v1.clone()).await;
    polls(POLL, 5).await;
    let c = restart(c, &cloud, journal, v1.clone()).await;
    until(&c, "g", POLL, 60, |d| d.converged && d.instances.len() == 5).await;
    assert_eq!(cloud.provisions(), 5, "nothing doubled");
    assert!(cloud.destroys().is_empty(), "nothing to undo");
}

/// Commits a group of 3 whose provisions are cut off by a crash before they reach the plugin,
/// restarts, and returns how long the restarted controller took to converge, in polls.
async fn polls_to_converge_after_provisions_lost_in_a_crash(cloud: &Cloud) -> Option<u32> {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> = Arc::new(FileJournal::new(dir.path()));
    cloud.set_provision_latency(Duration::from_secs(30));
    let c = cloud.controller_with(Options { poll_interval: POLL, journal: journal.clone(), ..Options::default() });
    let v1 = sized(3, "v1", json!({}));
    c.commit_group(v1.clone(), false).await.unwrap();
    polls(POLL, 1).await;
    assert_eq!(cloud.count(), 0, "the provisions are still on their way");
    cloud.set_provision_latency(Duration::ZERO);
    let c = restart(c, cloud, journal, v1).await;
    for n in 1..=30 {
        polls(POLL, 1).await;
        let d = c.describe_group(&id("g")).await.unwrap();
        if d.converged && d.instances.len() == 3 {
            assert_eq!(cloud.count(), 3, "nothing doubled");
            return Some(n);
        }
    }
    None
}

#[tokio::test(start_paused = true)]
async fn a_restart_asks_again_for_lost_provisions_when_the_plugin_promises_idempotence() {
    let cloud = Cloud::default();
    cloud.promise_idempotent_provisions();
    let polls = polls_to_converge_after_provisions_lost_in_a_crash(&cloud).await;
    assert!(polls.is_some_and(|n| n <= 2), "converged after {polls:?} polls");
}

#[tokio::test(start_paused = true)]
async fn a_restart_waits_out_lost_provisions_when_the_plugin_promises_nothing() {
    let cloud = Cloud::default();
    assert_eq!(polls_to_converge_after_provisions_lost_in_a_crash(&cloud).await, None, "a double would be worse");
}

#[tokio::test(start_paused = true)]
async fn scale_down_takes_unhealthy_before_healthy_and_never_self() {
    let cloud = Cloud::default();
    let v1 = sized(4, "v1", json!({}));
    let h = hash(&v1);
    for (i, lid) in [("a", "me"), ("b", "b"), ("c", "c"), ("d", "d")] {
        let mut tags = member_tags("g", &h);
        tags.push((LOGICAL_ID_TAG, lid));
        cloud.seed(i, &tags);
    }
    cloud.set_health(|d, _| if d.id.as_str() == "c" { Health::Unhealthy } else { Health::Healthy });
    let c = cloud.controller_with(Options { poll_interval: POLL, self_id: Some("me".into()), ..Options::default() });
    c.commit_group(v1, false).await.unwrap();
    polls(POLL, 2).await;
    c.set_size(&id("g"), 3).await.unwrap();
    polls(POLL, 2).await;
    assert_eq!(cloud.destroys(), [("c".into(), DestroyReason::Terminate)]);
    c.set_size(&id("g"), 1).await.unwrap();
    until(&c, "g", POLL, 10, |d| d.instances.len() == 1).await;
    assert_eq!(cloud.live()[0].id.as_str(), "a", "self stays");
}

#[tokio::test(start_paused = true)]
async fn unhealthy_members_are_replaced_after_the_grace_period_a_few_at_a_time() {
    let cloud = Cloud::default();
    let c = cloud.controller(POLL);
    let spec = sized(4, "v1", json!({"UnhealthyGracePeriod": "30s", "MaxUnhealthyReplacements": 1}));
    c.commit_group(spec, false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged && d.instances.len() == 4).await;
    let sick = ["i-101", "i-102"];
    cloud.set_health(move |d, _| if sick.contains(&d.id.as_str()) { Health::Unhealthy } else { Health::Healthy });
    polls(POLL, 20).await;
    assert!(cloud.destroys().is_empty(), "within the grace period");
    let d =
        until(&c, "g", POLL, 100, |d| d.converged && d.instances.iter().all(|i| !sick.contains(&i.id.as_str()))).await;
    // One at a time: each replacement is provisioned before the next victim goes.
    let order: Vec<&str> = cloud
        .calls()
        .iter()
        .filter_map(|c| match c {
            Call::Destroy(..) => Some("destroy"),
            Call::Provision(_) => Some("provision"),
            _ => None,
        })
        .skip(4)
        .collect();
    assert_eq!(order, ["destroy", "provision", "destroy", "provision"]);
    let decisions: Vec<String> = d.status.unwrap().decisions.into_iter().map(|d| d.message).collect();
    assert!(decisions.iter().any(|m| m == "replaced i-101: unhealthy for 30s"), "{decisions:#?}");
}

#[tokio::test(start_paused = true)]
async fn the_meltdown_brake_engages_and_releases() {
    let cloud = Cloud::default();
    let c = cloud.controller(POLL);
    c.commit_group(sized(10, "v1", json!({"UnhealthyGracePeriod": "10s"})), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged && d.instances.len() == 10).await;
    // Seven of ten report unhealthy at once: an outage, not seven broken machines.
    let down = Arc::new(std::sync::Mutex::new(7usize));
    let share = down.clone();
    cloud.set_health(move |d, _| {
        let n: usize = d.id.as_str()[2..].parse().unwrap();
        if n - 100 <= *share.lock().unwrap() { Health::Unhealthy } else { Health::Healthy }
    });
    let d = until(&c, "g", POLL, 30, |d| {
        d.status.as_ref().unwrap().phase == Phase::Degraded
            && d.status.as_ref().unwrap().waiting.iter().any(|w| w.starts_with("meltdown brake"))
    })
    .await;
    polls(POLL, 30).await;
    assert!(cloud.destroys().is_empty(), "nothing replaced while the brake holds: {:?}", d.status);
    *down.lock().unwrap() = 2;
    until(&c, "g", POLL, 100, |_| cloud.destroys().len() == 2).await;
    let events = c.events(&id("g")).unwrap();
    assert!(events.iter().any(|e| e.message.starts_with("meltdown brake: 7 of 10 members down")));
    assert!(events.iter().any(|e| e.message.starts_with("meltdown brake released")));
}

#[tokio::test(start_paused = true)]
async fn the_crash_loop_breaker_backs_off_exponentially_to_its_cap() {
    let cloud = Cloud::default();
    cloud.fail_all_provisions(true);
    let c = cloud.controller(POLL);
    c.commit_group(sized(1, "v1", json!({"MaxProvisionBackoff": "1m"})), false).await.unwrap();
    polls(POLL, 400).await;
    let attempts = cloud.attempts();
    let gaps: Vec<u64> = attempts.windows(2).map(|w| (w[1] - w[0]).as_secs()).collect();
    // Each gap is the backoff, rounded up to the next poll.
    let expected = [5, 10, 20, 40, 60, 60, 60];
    for (gap, backoff) in gaps.iter().zip(expected) {
        assert!((backoff..=backoff + 1).contains(gap), "gaps {gaps:?}");
    }
    let d = c.describe_group(&id("g")).await.unwrap();
    let status = d.status.unwrap();
    assert_eq!(status.phase, Phase::Degraded);
    assert!(status.waiting.iter().any(|w| w.contains("back off")), "{:?}", status.waiting);
    assert!(status.last_error.unwrap().contains("quota"));
    cloud.fail_all_provisions(false);
    until(&c, "g", POLL, 100, |d| d.converged && d.instances.len() == 1).await;
}

#[tokio::test(start_paused = true)]
async fn max_parallel_bounds_concurrent_operations() {
    let cloud = Cloud::default();
    cloud.set_provision_latency(Duration::from_secs(10));
    let c = cloud.controller(POLL);
    let start = tokio::time::Instant::now();
    c.commit_group(sized(10, "v1", json!({"MaxParallel": 3})), false).await.unwrap();
    until(&c, "g", Duration::from_millis(100), 1000, |d| d.instances.len() == 10).await;
    assert_eq!(cloud.most_provisioning(), 3);
    let took = start.elapsed();
    assert!(took >= Duration::from_secs(40) && took < Duration::from_secs(42), "ceil(10/3) x 10s, took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn max_size_caps_commits_and_scaling() {
    let cloud = Cloud::default();
    let c = cloud.controller(POLL);
    let err = c.commit_group(sized(8, "v1", json!({"MaxSize": 5})), false).await.unwrap_err();
    assert_eq!(err.to_string(), "Size 8 exceeds MaxSize 5");
    c.commit_group(sized(5, "v1", json!({"MaxSize": 5})), false).await.unwrap();
    assert_eq!(c.set_size(&id("g"), 6).await.unwrap_err().to_string(), "Size 6 exceeds MaxSize 5");
    assert_eq!(c.size(&id("g")).await.unwrap(), 5);
}

#[tokio::test(start_paused = true)]
async fn describe_lag_never_over_provisions() {
    let cloud = Cloud::default();
    cloud.set_describe_lag(Duration::from_secs(30));
    let c = cloud.controller(POLL);
    c.commit_group(sized(5, "v1", json!({})), false).await.unwrap();
    until(&c, "g", POLL, 60, |d| d.converged && d.instances.len() == 5).await;
    assert_eq!(cloud.provisions(), 5);
    assert!(cloud.destroys().is_empty());
    // A vanished member is replaced once, even while its replacement is not listed yet.
    cloud.remove("i-103");
    until(&c, "g", POLL, 60, |d| d.converged && d.instances.len() == 5).await;
    assert_eq!(cloud.provisions(), 6);
}

#[tokio::test(start_paused = true)]
async fn pets_are_never_doubled_under_describe_lag() {
    let cloud = Cloud::default();
    cloud.set_describe_lag(Duration::from_secs(30));
    let c = cloud.controller(POLL);
    c.commit_group(pets_spec("g", &["a", "b", "c"], "v1"), false).await.unwrap();
    until(&c, "g", POLL, 60, |d| d.converged && d.instances.len() == 3).await;
    let b = cloud.live().into_iter().find(|d| d.logical_id == Some("b".into())).unwrap();
    cloud.remove(b.id.as_str());
    until(&c, "g", POLL, 60, |d| d.converged && d.instances.len() == 3).await;
    assert_eq!(cloud.provisions(), 4);
    let bs = cloud.live().into_iter().filter(|d| d.logical_id == Some("b".into())).count();
    assert_eq!(bs, 1);
    // A rollout of pets destroys first and waits for the old instance to be gone from the list.
    let v2 = pets_spec("g", &["a", "b", "c"], "v2");
    c.commit_group(v2.clone(), false).await.unwrap();
    until(&c, "g", POLL, 300, |d| d.converged && all_on(&cloud, &hash(&v2), 3)).await;
    assert_eq!(cloud.most_existing(), 3, "one logical ID, one instance, at all times");
}

#[tokio::test(start_paused = true)]
async fn self_is_never_remediated() {
    let cloud = Cloud::default();
    let c = cloud.controller_with(Options { poll_interval: POLL, self_id: Some("me".into()), ..Options::default() });
    c.commit_group(pets_spec("g", &["me", "you"], "v1"), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged && d.instances.len() == 2).await;
    cloud.set_health(|d, _| if d.logical_id == Some("me".into()) { Health::Unhealthy } else { Health::Healthy });
    polls(POLL, 300).await;
    assert!(cloud.destroys().is_empty());
}

#[tokio::test(start_paused = true)]
async fn destroy_instances_checks_membership_first_and_shrinks_the_group() {
    let cloud = Cloud::default();
    let c = cloud.controller(POLL);
    c.commit_group(sized(3, "v1", json!({})), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged && d.instances.len() == 3).await;
    let err = c.destroy_instances(&id("g"), &["i-101".into(), "nope".into()]).await.unwrap_err();
    assert_eq!(err.to_string(), "not members of group 'g': nope");
    assert!(cloud.destroys().is_empty(), "nothing destroyed on a bad request");
    c.destroy_instances(&id("g"), &["i-102".into()]).await.unwrap();
    assert_eq!(cloud.destroys(), [("i-102".into(), DestroyReason::Terminate)]);
    assert_eq!(c.size(&id("g")).await.unwrap(), 2);
    polls(POLL, 5).await;
    assert_eq!(cloud.live().len(), 2, "not re-created");
}

#[tokio::test(start_paused = true)]
async fn every_decision_is_an_event() {
    let cloud = Cloud::default();
    let c = cloud.controller(POLL);
    let mut events = c.subscribe();
    c.commit_group(sized(2, "v1", json!({})), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged && d.instances.len() == 2).await;
    let first = events.recv().await.unwrap();
    assert_eq!(first.topic, "g/provision");
    assert_eq!(first.message, "provisioning a member to reach size 2");
    let d = c.describe_group(&id("g")).await.unwrap();
    let status = d.status.unwrap();
    assert_eq!(status.phase, Phase::Converged);
    assert_eq!((status.counts.desired, status.counts.actual, status.counts.healthy), (2, 2, 2));
    assert!(status.decisions.len() >= 4, "{:?}", status.decisions);
    assert!(status.decisions[0].time.ends_with('Z'));
    let json = serde_json::to_value(c.describe_group(&id("g")).await.unwrap()).unwrap();
    assert_eq!(json["Converged"], true);
    assert_eq!(json["Status"]["Phase"], "converged");
}

/// A journal whose disk is full.
struct FullDisk;

#[async_trait::async_trait]
impl Journal for FullDisk {
    async fn load(
        &self,
        _: &GroupId,
    ) -> Result<Option<infrakit_group::journal::JournalEntry>, infrakit_group::journal::JournalError> {
        Ok(None)
    }

    async fn save(
        &self,
        _: &GroupId,
        _: &infrakit_group::journal::JournalEntry,
    ) -> Result<(), infrakit_group::journal::JournalError> {
        Err(infrakit_group::journal::JournalError::Write {
            path: "/full/g.json".into(),
            source: std::io::Error::other("no space left"),
        })
    }

    async fn remove(&self, _: &GroupId) -> Result<(), infrakit_group::journal::JournalError> {
        Ok(())
    }

    async fn groups(&self) -> Result<Vec<GroupId>, infrakit_group::journal::JournalError> {
        Ok(Vec::new())
    }
}

#[tokio::test(start_paused = true)]
async fn nothing_is_provisioned_that_the_journal_could_not_record() {
    let cloud = Cloud::default();
    let c = cloud.controller_with(Options { poll_interval: POLL, journal: Arc::new(FullDisk), ..Options::default() });
    c.commit_group(sized(3, "v1", json!({})), false).await.unwrap();
    polls(POLL, 5).await;
    assert_eq!(cloud.provisions(), 0);
    let status = c.describe_group(&id("g")).await.unwrap().status.unwrap();
    let error = status.last_error.unwrap();
    assert!(
        error.starts_with(
            "cannot save the journal, 3 operations held: cannot write journal /full/g.json: no space left"
        ),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_freed_group_is_adopted_again_without_new_instances() {
    let cloud = Cloud::default();
    let c = cloud.controller(POLL);
    let v1 = sized(5, "v1", json!({}));
    c.commit_group(v1.clone(), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged && d.instances.len() == 5).await;
    c.free_group(&id("g")).await.unwrap();
    assert_eq!(c.describe_group(&id("g")).await.unwrap_err().to_string(), "Group 'g' is not being watched");
    assert_eq!(c.commit_group(v1, false).await.unwrap(), "Managing 5 instances");
    until(&c, "g", POLL, 5, |d| d.converged && d.instances.len() == 5).await;
    assert_eq!(cloud.provisions(), 5);
    assert!(cloud.destroys().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_rollback_survives_a_restart_and_the_managers_recommit() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> = Arc::new(FileJournal::new(dir.path()));
    let cloud = Cloud::default();
    let c = cloud.controller_with(Options { poll_interval: POLL, journal: journal.clone(), ..Options::default() });
    let v1 = sized(2, "v1", json!({}));
    c.commit_group(v1.clone(), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged).await;
    let v2 = sized(2, "v2", json!({"OnFailure": "Rollback", "HealthTimeout": "30s"}));
    let bad = hash(&v2);
    cloud.set_health(
        move |d, _| if d.tags.get(CONFIG_HASH_TAG) == Some(&bad) { Health::Unknown } else { Health::Healthy },
    );
    c.commit_group(v2.clone(), false).await.unwrap();
    until(&c, "g", POLL, 200, |d| d.converged && all_on(&cloud, &hash(&v1), 2)).await;
    assert!(c.events(&id("g")).unwrap().iter().any(|e| e.message.contains("rolling back")));
    let provisions = cloud.provisions();
    // The manager starts again and commits the spec it stored: the failed one.
    let c = restart(c, &cloud, journal, v2.clone()).await;
    polls(POLL, 60).await;
    assert!(all_on(&cloud, &hash(&v1), 2), "the rolled-back spec stays");
    assert_eq!(cloud.provisions(), provisions, "no rollout started again");
    let spec = &c.inspect_groups().await.unwrap()[0];
    assert_eq!(spec.properties.as_ref().unwrap()["Instance"]["Properties"]["Version"], "v1");
}

#[tokio::test(start_paused = true)]
async fn a_pushed_change_heals_at_once_and_without_one_the_poll_does() {
    const SLOW_POLL: Duration = Duration::from_secs(10);
    const PROMPTLY: Duration = Duration::from_millis(50);
    for pushes in [true, false] {
        let cloud = Cloud::default();
        if pushes {
            cloud.push_changes();
        }
        let c = cloud.controller(SLOW_POLL);
        c.commit_group(sized(3, "v1", json!({})), false).await.unwrap();
        until(&c, "g", PROMPTLY, 10, |d| d.converged && d.instances.len() == 3).await;
        let provisions = cloud.provisions();

        cloud.kill(cloud.live()[0].id.as_str());
        tokio::time::sleep(PROMPTLY).await;
        match pushes {
            true => assert_eq!((cloud.provisions(), cloud.count()), (provisions + 1, 3), "healed before the poll"),
            false => assert_eq!((cloud.provisions(), cloud.count()), (provisions, 2), "waits for the poll"),
        }
        tokio::time::sleep(SLOW_POLL).await;
        assert_eq!((cloud.provisions(), cloud.count()), (provisions + 1, 3), "pushes={pushes}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_resync_after_the_backend_is_back_runs_a_pass_at_once() {
    const SLOW_POLL: Duration = Duration::from_secs(10);
    const PROMPTLY: Duration = Duration::from_millis(50);
    let cloud = Cloud::default();
    cloud.push_changes();
    let c = cloud.controller(SLOW_POLL);
    c.commit_group(sized(2, "v1", json!({})), false).await.unwrap();
    until(&c, "g", PROMPTLY, 10, |d| d.converged && d.instances.len() == 2).await;
    let provisions = cloud.provisions();

    // Lost while the plugin could not hear its backend: no change names it.
    cloud.remove(cloud.live()[0].id.as_str());
    tokio::time::sleep(PROMPTLY).await;
    assert_eq!(cloud.count(), 1, "nothing told the controller yet");
    cloud.resync();
    tokio::time::sleep(PROMPTLY).await;
    assert_eq!((cloud.provisions(), cloud.count()), (provisions + 1, 2), "healed before the poll");
}

#[tokio::test(start_paused = true)]
async fn a_member_that_keeps_dying_at_once_is_recreated_with_growing_waits() {
    const FAST_POLL: Duration = Duration::from_secs(1);
    const WATCH: Duration = Duration::from_secs(160);
    let cloud = Cloud::default();
    cloud.push_changes();
    let c = cloud.controller(FAST_POLL);
    c.commit_group(sized(1, "v1", json!({})), false).await.unwrap();
    until(&c, "g", Duration::from_millis(50), 10, |d| d.converged && d.instances.len() == 1).await;

    // Every member dies as soon as it is listed, as a container whose command exits at once.
    let start = tokio::time::Instant::now();
    let mut created = Vec::new();
    while start.elapsed() < WATCH {
        if let Some(member) = cloud.live().first() {
            created.push(start.elapsed().as_secs());
            cloud.kill(member.id.as_str());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The first death is healed at once; from then on each wait doubles (5, 10, 20, 40, 80 s)
    // where a breaker that closed on every listing would wait 5 s each time (over 30 members).
    let waits: Vec<u64> = created.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(created.len() <= 8, "{} members in {WATCH:?}: {created:?}", created.len());
    assert!(waits.windows(2).skip(1).all(|w| w[1] >= w[0] * 2 - 1), "waits {waits:?} do not double");
    assert!(waits.last().is_some_and(|w| *w >= 40), "waits {waits:?}");
}

#[tokio::test(start_paused = true)]
async fn a_replacement_that_dies_at_once_is_a_crash_loop_held_by_the_breaker() {
    const PROMPTLY: Duration = Duration::from_millis(50);
    let cloud = Cloud::default();
    cloud.push_changes();
    let c = cloud.controller(POLL);
    c.commit_group(sized(1, "v1", json!({})), false).await.unwrap();
    until(&c, "g", PROMPTLY, 10, |d| d.converged && d.instances.len() == 1).await;

    // The member dies young (its slot's first quick death) and is healed at once; its
    // replacement dying young too is a crash loop.
    let provisions = cloud.provisions();
    cloud.kill(cloud.live()[0].id.as_str());
    tokio::time::sleep(PROMPTLY).await;
    assert_eq!(cloud.provisions(), provisions + 1);
    cloud.kill(cloud.live()[0].id.as_str());
    polls(POLL, 3).await;
    assert_eq!(cloud.provisions(), provisions + 1, "held by the breaker");
    let d = c.describe_group(&id("g")).await.unwrap();
    assert!(d.status.unwrap().last_error.unwrap().contains("vanished 50ms after it was listed: 2 quick deaths"));

    // After the backoff the probe goes; a replacement that lived past the window heals at once.
    until(&c, "g", POLL, 10, |d| d.instances.len() == 1).await;
    tokio::time::sleep(infrakit_group::decide::CRASH_LOOP_WINDOW).await;
    let provisions = cloud.provisions();
    cloud.kill(cloud.live()[0].id.as_str());
    tokio::time::sleep(PROMPTLY).await;
    assert_eq!(cloud.provisions(), provisions + 1, "a long-lived replacement's death is no crash loop");
}

#[tokio::test(start_paused = true)]
async fn a_first_quick_death_is_healed_at_once_and_the_second_in_a_row_backs_off() {
    const PROMPTLY: Duration = Duration::from_millis(50);
    let cloud = Cloud::default();
    cloud.push_changes();
    let c = cloud.controller(POLL);
    c.commit_group(sized(3, "v1", json!({})), false).await.unwrap();
    until(&c, "g", PROMPTLY, 10, |d| d.converged && d.instances.len() == 3).await;
    tokio::time::sleep(infrakit_group::decide::CRASH_LOOP_WINDOW).await;
    // Kills a member and returns its replacement, asserting it was provisioned at once.
    let kill = |victim: String| {
        let cloud = &cloud;
        async move {
            let (before, provisions) = (cloud.live(), cloud.provisions());
            cloud.kill(&victim);
            tokio::time::sleep(PROMPTLY).await;
            assert_eq!(cloud.provisions(), provisions + 1, "{victim} not replaced at once");
            cloud.live().into_iter().find(|m| before.iter().all(|b| b.id != m.id)).expect("a replacement")
        }
    };

    // Chaos kills long-lived members and then each replacement while it is young: each young
    // death is its slot's first quick death, healed at once.
    let members = cloud.live();
    for victim in &members[..2] {
        let young = kill(victim.id.to_string()).await;
        kill(young.id.to_string()).await;
    }

    // The same slot dying young a second time in a row is a crash loop: its replacement waits.
    let young = kill(members[2].id.to_string()).await;
    let younger = kill(young.id.to_string()).await;
    let provisions = cloud.provisions();
    cloud.kill(younger.id.as_str());
    polls(POLL, 3).await;
    assert_eq!(cloud.provisions(), provisions, "the second quick death in a row backs off");
    let d = c.describe_group(&id("g")).await.unwrap();
    assert!(d.status.unwrap().last_error.unwrap().contains("2 quick deaths in a row of its slot"));
    until(&c, "g", POLL, 10, |d| d.instances.len() == 3).await;
}

#[tokio::test(start_paused = true)]
async fn two_first_commits_at_once_make_one_group_and_abandon_no_call() {
    let cloud = Cloud::default();
    cloud.set_validate_latency(Duration::from_millis(10));
    cloud.set_provision_latency(Duration::from_millis(100));
    let c = cloud.controller(POLL);
    let (first, second) = tokio::join!(
        c.commit_group(sized(3, "v1", json!({})), false),
        c.commit_group(sized(3, "v1", json!({})), false)
    );
    first.unwrap();
    second.unwrap();
    until(&c, "g", POLL, 10, |d| d.converged && d.instances.len() == 3).await;
    assert_eq!(cloud.attempts().len(), 3, "no provision started twice or abandoned mid-call");
}

/// An authority the test grants and withdraws, as a manager's lease would.
struct Lease(AtomicBool);

impl Authority for Lease {
    fn may_act(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

#[tokio::test(start_paused = true)]
async fn a_controller_without_authority_holds_and_acts_once_it_has_it_again() {
    let cloud = Cloud::default();
    let lease = Arc::new(Lease(AtomicBool::new(true)));
    let c = cloud.controller_with(Options { poll_interval: POLL, authority: lease.clone(), ..Options::default() });
    c.commit_group(sized(2, "v1", json!({})), false).await.unwrap();
    until(&c, "g", POLL, 10, |d| d.converged && d.instances.len() == 2).await;

    // Frozen past its lease: whatever it sees, it does nothing.
    lease.0.store(false, Ordering::SeqCst);
    let provisions = cloud.provisions();
    cloud.remove(cloud.live()[0].id.as_str());
    polls(POLL, 5).await;
    assert_eq!((cloud.provisions(), cloud.count()), (provisions, 1), "nothing done without authority");
    let d = c.describe_group(&id("g")).await.unwrap();
    assert!(!d.converged);
    assert!(d.status.unwrap().waiting.iter().any(|w| w.contains("leadership is not confirmed")));

    lease.0.store(true, Ordering::SeqCst);
    until(&c, "g", POLL, 10, |d| d.converged && d.instances.len() == 2).await;
    assert_eq!(cloud.provisions(), provisions + 1);
}

#[tokio::test(start_paused = true)]
async fn a_destroy_interrupted_by_a_restart_is_finished_from_the_journal() {
    let dir = tempfile::tempdir().unwrap();
    let journal: Arc<dyn Journal> = Arc::new(FileJournal::new(dir.path()));
    let cloud = Cloud::default();
    let c = cloud.controller_with(Options { poll_interval: POLL, journal: journal.clone(), ..Options::default() });
    let v1 = sized(5, "v1", json!({}));
    c.commit_group(v1.clone(), false).await.unwrap();
    until(&c, "g", POLL, 5, |d| d.converged && d.instances.len() == 5).await;
    let stuck = cloud.live()[0].id.to_string();
    cloud.fail_destroy(&stuck);

    let error = c.destroy_group(&id("g")).await.unwrap_err().to_string();
    assert!(error.contains("is being destroyed; a destroy failed and is retried"), "{error}");
    assert!(c.inspect_groups().await.unwrap().is_empty(), "a group being destroyed is no longer a managed spec");
    let refused = c.commit_group(v1.clone(), false).await.unwrap_err().to_string();
    assert!(refused.contains("is being destroyed"), "{refused}");
    polls(POLL, 3).await;
    assert_eq!(cloud.count(), 1, "the others are gone; the refused one is retried");

    // The process stops (or crashes) before the last destroy succeeds.
    c.shutdown().await;
    cloud.allow_destroys();
    let c = cloud.controller_with(Options { poll_interval: POLL, journal: journal.clone(), ..Options::default() });
    assert_eq!(c.resume_destroys().await.unwrap(), 1);
    polls(POLL, 3).await;
    assert!(cloud.live().is_empty());
    assert_eq!(cloud.provisions(), 5, "nothing was created while destroying");
    assert_eq!(journal.load(&id("g")).await.unwrap(), None, "the finished destroy leaves no journal");
    assert_eq!(c.describe_group(&id("g")).await.unwrap_err().to_string(), "Group 'g' is not being watched");
    assert_eq!(c.resume_destroys().await.unwrap(), 0);
    // The name is free again.
    assert_eq!(c.commit_group(v1, false).await.unwrap(), "Managing 5 instances");
}

#[tokio::test(start_paused = true)]
async fn groups_on_one_plugin_share_its_listing_between_periodic_passes() {
    let cloud = Cloud::default();
    let c = cloud.controller(POLL);
    let groups: Vec<String> = (0..10).map(|n| format!("g{n}")).collect();
    for group in &groups {
        c.commit_group(spec(group, 2, "v1"), false).await.unwrap();
    }
    for group in &groups {
        until(&c, group, POLL, 10, |d| d.converged && d.instances.len() == 2).await;
    }
    let before = cloud.describes();
    polls(POLL, 10).await;
    let calls = cloud.describes() - before;
    assert!(calls <= 2 * 10, "10 groups over 10 polls listed the plugin {calls} times (100 without sharing)");
    assert!(calls >= 10, "at least one listing a poll: {calls}");

    // Sharing never hides a death: a member killed is replaced, and nothing else is touched.
    let victim = cloud.live()[0].clone();
    cloud.kill(victim.id.as_str());
    polls(POLL, 3).await;
    assert_eq!(cloud.count(), 20);
    assert_eq!(cloud.provisions(), 21);
}
