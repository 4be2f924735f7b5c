//! Table tests of the decision: one pass at a time, with hand-made observations and time.

use std::time::Duration;

use infrakit_spi::flavor::Health;
use infrakit_spi::group::{BOOTSTRAP_CONFIG_HASH, CONFIG_HASH_TAG, GROUP_TAG, OnFailure, Phase};
use infrakit_spi::instance::{Description, DestroyReason, LOGICAL_ID_TAG, Promises};
use tokio::time::Instant;

use super::*;
use crate::model::PROVISION_TOKEN_TAG;
use crate::policy::{Gate, Policy};
use crate::rollout::Pause;

const NEW: &str = "newconfighash";
const OLD: &str = "oldconfighash";

fn cattle(size: u64) -> Desired {
    Desired {
        group: "g".into(),
        allocation: Allocation::Cattle { size },
        policy: Policy::cattle_default(size),
        self_id: None,
        promises: Promises::default(),
    }
}

fn pets(ids: &[&str]) -> Desired {
    Desired {
        allocation: Allocation::Pets { ids: ids.iter().map(|&i| LogicalId::from(i)).collect() },
        policy: Policy::new(&Default::default(), ids.len() as u64, true, 0),
        ..cattle(0)
    }
}

/// A memory of a group on the new config that converged on the old one before.
fn memory() -> Memory {
    let mut m = Memory::new("t", NEW.into());
    m.rollout.stable = Some(OLD.into());
    m
}

fn member(id: &str, config: &str, health: Health) -> Member {
    let mut d = Description { id: id.into(), ..Description::default() };
    d.tags.insert(GROUP_TAG.into(), "g".into());
    d.tags.insert(CONFIG_HASH_TAG.into(), config.into());
    Member::new(d, health)
}

fn pet(id: &str, lid: &str, config: &str, health: Health) -> Member {
    let mut m = member(id, config, health);
    m.description.tags.insert(LOGICAL_ID_TAG.into(), lid.into());
    Member::new(m.description, health)
}

fn listed(members: &[Member]) -> Observed {
    Observed { members: members.to_vec() }
}

fn provisions(plan: &Plan) -> Vec<Option<String>> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::Provision { logical_id, .. } => Some(logical_id.as_ref().map(|l| l.to_string())),
            _ => None,
        })
        .collect()
}

fn destroyed(plan: &Plan) -> Vec<(String, DestroyReason)> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::Destroy { instance, reason, .. } => Some((instance.id.to_string(), *reason)),
            _ => None,
        })
        .collect()
}

/// Runs passes over the same observation until `now + span`, one per `every`.
fn settle(d: &Desired, o: &Observed, mut m: Memory, start: Instant, span: Duration, every: Duration) -> (Memory, Plan) {
    let mut now = start;
    let mut plan = decide(d, o, m.clone(), now);
    while now < start + span {
        now += every;
        m = plan.next.clone();
        plan = decide(d, o, m.clone(), now);
    }
    (m, plan)
}

/// Lists what a plan created, tagged by token, as healthy members of `config`.
fn materialize(plan: &Plan, config: &str) -> Vec<Member> {
    plan.actions
        .iter()
        .filter_map(|a| match a {
            Action::Provision { token, logical_id, .. } => {
                let mut m = member(&format!("i-{token}"), config, Health::Healthy);
                m.description.tags.insert(PROVISION_TOKEN_TAG.into(), token.to_string());
                if let Some(lid) = logical_id {
                    m.description.tags.insert(LOGICAL_ID_TAG.into(), lid.to_string());
                }
                Some(Member::new(m.description, Health::Healthy))
            }
            _ => None,
        })
        .collect()
}

#[test]
fn a_new_group_provisions_its_size_and_counts_them_while_unlisted() {
    let d = cattle(3);
    let now = Instant::now();
    let plan = decide(&d, &Observed::default(), memory(), now);
    assert_eq!(provisions(&plan).len(), 3);
    assert_eq!(plan.report.phase, Phase::Scaling);
    assert_eq!(plan.report.counts.in_flight, 3);
    // Describe lag: nothing listed yet, for minutes. Nothing more is created.
    let (_, later) =
        settle(&d, &Observed::default(), plan.next, now, Duration::from_secs(240), Duration::from_secs(10));
    assert!(provisions(&later).is_empty());
    assert_eq!(later.report.counts.in_flight, 3);
}

#[test]
fn a_listed_instance_resolves_its_intent_by_token_even_without_the_returned_id() {
    let d = cattle(1);
    let now = Instant::now();
    let plan = decide(&d, &Observed::default(), memory(), now);
    let made = materialize(&plan, NEW);
    let plan = decide(&d, &listed(&made), plan.next.clone(), now + Duration::from_secs(1));
    assert!(plan.next.intents.is_empty());
    assert!(plan.actions.is_empty());
    assert_eq!(plan.next.tracks[made[0].id()].cause, Some(Cause::Scale));
    assert_eq!(plan.report.phase, Phase::Converged);
    assert!(plan.report.converged());
}

#[test]
fn an_intent_never_listed_times_out_counts_a_failure_and_backs_off() {
    let d = cattle(1);
    let start = Instant::now();
    let plan = decide(&d, &Observed::default(), memory(), start);
    let after = start + PROVISION_VISIBILITY_TIMEOUT;
    let plan = decide(&d, &Observed::default(), plan.next.clone(), after);
    assert!(plan.next.intents.is_empty(), "the lost provision is forgotten");
    assert_eq!(plan.next.breakers[&ConfigHash::from(NEW)].failures(), 1);
    assert!(provisions(&plan).is_empty(), "the breaker holds the next provision for its backoff");
    assert!(plan.report.waiting.iter().any(|w| w.contains("back off")));
    let plan = decide(&d, &Observed::default(), plan.next.clone(), after + Duration::from_secs(5));
    assert_eq!(provisions(&plan).len(), 1, "one probe after the backoff");
}

#[test]
fn scale_down_removes_the_lowest_ids_among_equals_and_uses_terminate() {
    let d = cattle(2);
    let o = listed(&["a", "b", "c", "d"].map(|id| member(id, NEW, Health::Healthy)));
    let plan = decide(&d, &o, memory(), Instant::now());
    assert_eq!(destroyed(&plan), [("a".into(), DestroyReason::Terminate), ("b".into(), DestroyReason::Terminate)]);
}

#[test]
fn scale_down_prefers_old_config_then_unhealthy_then_newest_and_never_self() {
    let mut d = cattle(3);
    d.self_id = Some("me".into());
    let start = Instant::now();
    let mut me = member("a-self", OLD, Health::Healthy);
    me.logical_id = Some("me".into());
    let first = vec![me, member("b", NEW, Health::Healthy), member("c", NEW, Health::Healthy)];
    let plan = decide(&d, &listed(&first), memory(), start);
    let mut all = first.clone();
    all.extend([
        member("d", OLD, Health::Healthy),
        member("e", NEW, Health::Unhealthy),
        member("f", NEW, Health::Healthy),
    ]);
    d.allocation = Allocation::Cattle { size: 2 };
    let plan = decide(&d, &listed(&all), plan.next.clone(), start + Duration::from_secs(1));
    // Old members exist, so the rollout keeps its surge as slack: three go. The old one (not
    // self), the unhealthy one, then the newest healthy one.
    let gone: Vec<String> = destroyed(&plan).into_iter().map(|(id, _)| id).collect();
    assert_eq!(gone, ["d", "e", "f"]);
}

#[test]
fn rollout_with_surge_creates_before_it_destroys() {
    let d = cattle(3);
    let start = Instant::now();
    let old = ["o1", "o2", "o3"].map(|id| member(id, OLD, Health::Healthy));
    let plan = decide(&d, &listed(&old), memory(), start);
    assert_eq!(plan.next.rollout.stage, Stage::Rolling);
    assert_eq!(provisions(&plan).len(), 1, "surge 1");
    assert!(destroyed(&plan).is_empty(), "unavailable 0: nothing goes before the new member is ready");
    assert_eq!(plan.report.phase, Phase::Rolling);

    let mut now_listed = old.to_vec();
    now_listed.extend(materialize(&plan, NEW));
    let plan = decide(&d, &listed(&now_listed), plan.next.clone(), start + Duration::from_secs(10));
    assert_eq!(destroyed(&plan), [("o1".into(), DestroyReason::RollingUpdate)]);
    assert!(provisions(&plan).is_empty(), "the destroyed member still exists until its destroy returns");
}

#[test]
fn rollout_with_unavailability_destroys_first_and_never_drops_below() {
    let mut d = cattle(4);
    d.policy.max_surge = 0;
    d.policy.max_unavailable = 2;
    let old = ["o1", "o2", "o3", "o4"].map(|id| member(id, OLD, Health::Healthy));
    let start = Instant::now();
    let warm = decide(&d, &listed(&old), memory(), start);
    assert_eq!(destroyed(&warm).len(), 2);
    assert!(provisions(&warm).is_empty());
}

#[test]
fn rollout_waits_for_the_count_gate() {
    let mut d = cattle(1);
    d.policy.gate = Gate::Count(2);
    let start = Instant::now();
    let old = vec![member("o1", OLD, Health::Healthy)];
    let plan = decide(&d, &listed(&old), memory(), start);
    let mut both = old.clone();
    both.extend(materialize(&plan, NEW));
    let once = decide(&d, &listed(&both), plan.next.clone(), start + Duration::from_secs(10));
    assert!(destroyed(&once).is_empty(), "one healthy check is not two");
    let twice = decide(&d, &listed(&both), once.next.clone(), start + Duration::from_secs(20));
    assert_eq!(destroyed(&twice).len(), 1);
}

#[test]
fn a_new_member_not_ready_in_time_pauses_the_rollout() {
    let mut d = cattle(1);
    d.policy.health_timeout = Duration::from_secs(60);
    let start = Instant::now();
    let old = vec![member("o1", OLD, Health::Healthy)];
    let plan = decide(&d, &listed(&old), memory(), start);
    let mut both = old.clone();
    both.extend(materialize(&plan, NEW).into_iter().map(|m| Member::new(m.description, Health::Unknown)));
    let (_, plan) = settle(&d, &listed(&both), plan.next, start, Duration::from_secs(70), Duration::from_secs(10));
    assert!(
        matches!(&plan.next.rollout.stage, Stage::Paused { reason: Pause::Failed(why) } if why.contains("not healthy within 1m0s"))
    );
    assert_eq!(plan.report.phase, Phase::Paused);
    assert_eq!(plan.next.rollout.current, ConfigHash::from(NEW), "OnFailure: Pause keeps the config");
    assert!(destroyed(&plan).is_empty());
}

#[test]
fn on_failure_rollback_makes_the_previous_config_current() {
    let mut d = cattle(1);
    d.policy.on_failure = OnFailure::Rollback;
    d.policy.unhealthy_grace = Duration::from_secs(30);
    let start = Instant::now();
    let old = vec![member("o1", OLD, Health::Healthy)];
    let plan = decide(&d, &listed(&old), memory(), start);
    let mut both = old.clone();
    both.extend(materialize(&plan, NEW).into_iter().map(|m| Member::new(m.description, Health::Unhealthy)));
    let (_, plan) = settle(&d, &listed(&both), plan.next, start, Duration::from_secs(20), Duration::from_secs(10));
    assert_eq!(plan.next.rollout.current, ConfigHash::from(NEW), "within the grace period");
    let plan = decide(&d, &listed(&both), plan.next.clone(), start + Duration::from_secs(30));
    assert_eq!(plan.next.rollout.current, ConfigHash::from(OLD));
    assert_eq!(plan.next.rollout.failed.as_ref().map(|f| f.config.as_str()), Some(NEW));
    assert!(plan.actions.is_empty(), "nothing more of the failed config this pass");
    assert!(matches!(&plan.next.rollout.stage, Stage::RollingBack { reason } if reason.contains("unhealthy for")));
}

#[test]
fn one_unhealthy_check_does_not_fail_a_rollout() {
    let d = cattle(1);
    let start = Instant::now();
    let old = vec![member("o1", OLD, Health::Healthy)];
    let plan = decide(&d, &listed(&old), memory(), start);
    let made = materialize(&plan, NEW);
    let mut sick = old.clone();
    sick.push(Member::new(made[0].description.clone(), Health::Unhealthy));
    let plan = decide(&d, &listed(&sick), plan.next.clone(), start + Duration::from_secs(10));
    assert_eq!(plan.next.rollout.stage, Stage::Rolling);
    let mut well = old.clone();
    well.push(made[0].clone());
    let plan = decide(&d, &listed(&well), plan.next.clone(), start + Duration::from_secs(20));
    assert_eq!(destroyed(&plan).len(), 1);
}

#[test]
fn pets_fill_missing_ids_remove_strangers_and_leave_unnamed_alone() {
    let d = pets(&["one", "two", "three"]);
    let mut unnamed = member("x", NEW, Health::Healthy);
    unnamed.logical_id = None;
    let o = listed(&[
        pet("i1", "one", NEW, Health::Healthy),
        pet("i2", "two", NEW, Health::Healthy),
        pet("i4", "four", NEW, Health::Healthy),
        unnamed,
    ]);
    let plan = decide(&d, &o, memory(), Instant::now());
    assert_eq!(provisions(&plan), [Some("three".to_owned())]);
    assert!(matches!(&plan.actions[1], Action::Provision { sequence: 2, .. }), "{:?}", plan.actions);
    assert_eq!(destroyed(&plan), [("i4".into(), DestroyReason::Terminate)]);
    assert!(plan.report.waiting.iter().any(|w| w.contains("x has no logical ID")));
}

#[test]
fn a_pet_is_never_doubled() {
    let d = pets(&["one"]);
    let start = Instant::now();
    let plan = decide(&d, &Observed::default(), memory(), start);
    assert_eq!(provisions(&plan).len(), 1);
    let (_, plan) =
        settle(&d, &Observed::default(), plan.next, start, Duration::from_secs(200), Duration::from_secs(10));
    assert!(provisions(&plan).is_empty(), "in flight: the logical ID is taken");
    // Two instances of one logical ID (a backend that lied): keep the current, ready one.
    let o = listed(&[pet("a", "one", OLD, Health::Healthy), pet("b", "one", NEW, Health::Healthy)]);
    let plan = decide(&d, &o, memory(), start);
    assert_eq!(destroyed(&plan), [("a".into(), DestroyReason::Terminate)]);
    assert!(provisions(&plan).is_empty());
}

#[test]
fn pets_roll_one_at_a_time_destroying_first() {
    let d = pets(&["one", "two"]);
    let start = Instant::now();
    let old = [pet("i1", "one", OLD, Health::Healthy), pet("i2", "two", OLD, Health::Healthy)];
    let plan = decide(&d, &listed(&old), memory(), start);
    assert_eq!(destroyed(&plan), [("i1".into(), DestroyReason::RollingUpdate)]);
    assert!(provisions(&plan).is_empty());
    // Still listed (destroy in flight): no second instance of 'one', no second victim.
    let plan = decide(&d, &listed(&old), plan.next.clone(), start + Duration::from_secs(10));
    assert!(plan.actions.is_empty());
    let mut m = plan.next;
    m.destroy_finished(&"i1".into(), None);
    let plan = decide(&d, &listed(&old[1..]), m.clone(), start + Duration::from_secs(20));
    assert_eq!(provisions(&plan), [Some("one".to_owned())]);
    assert!(destroyed(&plan).is_empty(), "the new 'one' is not ready yet");
}

#[test]
fn unhealthy_members_are_replaced_after_the_grace_period_one_at_a_time() {
    let d = cattle(3);
    let start = Instant::now();
    let o = listed(&[
        member("a", NEW, Health::Healthy),
        member("b", NEW, Health::Unhealthy),
        member("c", NEW, Health::Unhealthy),
    ]);
    let (_, early) = settle(&d, &o, memory(), start, Duration::from_secs(50), Duration::from_secs(10));
    assert!(early.actions.is_empty(), "within the grace period");
    assert_eq!(early.report.phase, Phase::Degraded);
    let (_, plan) = settle(&d, &o, memory(), start, Duration::from_secs(60), Duration::from_secs(10));
    let gone = destroyed(&plan);
    assert_eq!(gone, [("b".into(), DestroyReason::Terminate)]);
    assert!(plan.report.notes.iter().any(|n| n.message == "replaced b: unhealthy for 1m0s"));
    // Until the replacement is listed, c waits.
    let plan = decide(&d, &o, plan.next.clone(), start + Duration::from_secs(70));
    assert!(destroyed(&plan).is_empty());
}

#[test]
fn the_meltdown_brake_holds_heals_and_releases() {
    let d = cattle(10);
    let start = Instant::now();
    let all: Vec<Member> = (0..10).map(|i| member(&format!("i{i}"), NEW, Health::Healthy)).collect();
    let plan = decide(&d, &listed(&all), memory(), start);
    let plan = decide(&d, &listed(&all[..4]), plan.next.clone(), start + Duration::from_secs(10));
    assert!(matches!(plan.next.meltdown, Meltdown::Engaged { .. }));
    assert!(provisions(&plan).is_empty());
    assert_eq!(plan.report.phase, Phase::Degraded);
    // Five come back: one down is no meltdown; the missing one is healed.
    let plan = decide(&d, &listed(&all[..9]), plan.next.clone(), start + Duration::from_secs(20));
    assert_eq!(plan.next.meltdown, Meltdown::Released);
    assert_eq!(provisions(&plan).len(), 1);
}

#[test]
fn the_crash_loop_breaker_backs_off_exponentially_to_the_cap() {
    let d = cattle(1);
    let mut now = Instant::now();
    let mut m = memory();
    let mut waits = Vec::new();
    for _ in 0..8 {
        let plan = decide(&d, &Observed::default(), m.clone(), now);
        let Some(Action::Provision { token, .. }) = plan.actions.first() else {
            now += Duration::from_secs(1);
            m = plan.next;
            continue;
        };
        m = plan.next.clone();
        m.provision_failed(token, "quota exceeded", now, d.policy.max_provision_backoff);
        let Breaker::Open { until, .. } = m.breakers[&ConfigHash::from(NEW)].clone() else { panic!("open") };
        waits.push(until.duration_since(now).as_secs());
        now = until;
    }
    assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300]);
}

#[test]
fn self_is_never_destroyed_and_is_drained_once_when_last() {
    let mut d = pets(&["me", "two"]);
    d.self_id = Some("me".into());
    let start = Instant::now();
    let o = listed(&[pet("i1", "me", OLD, Health::Healthy), pet("i2", "two", NEW, Health::Healthy)]);
    let plan = decide(&d, &o, memory(), start);
    assert!(destroyed(&plan).is_empty());
    assert!(matches!(plan.actions.as_slice(), [Action::Drain { instance }] if instance.id.as_str() == "i1"));
    let plan = decide(&d, &o, plan.next.clone(), start + Duration::from_secs(10));
    assert!(plan.actions.is_empty(), "drained once");
    assert!(plan.report.converged(), "the original reports converged here too");
}

#[test]
fn bootstrap_instances_are_adopted_not_rolled() {
    let d = cattle(1);
    let o = listed(&[member("boot", BOOTSTRAP_CONFIG_HASH, Health::Healthy)]);
    let plan = decide(&d, &o, memory(), Instant::now());
    assert_eq!(plan.actions, [Action::Adopt { instance: "boot".into() }]);
    assert_eq!(plan.next.rollout.stage, Stage::Steady);
}

#[test]
fn an_operators_pause_holds_with_nothing_to_roll() {
    let d = cattle(1);
    let o = listed(&[member("a", NEW, Health::Healthy)]);
    let mut m = memory();
    m.rollout.stage = Stage::Paused { reason: Pause::Operator };
    let plan = decide(&d, &o, m.clone(), Instant::now());
    assert_eq!(plan.next.rollout.stage, Stage::Paused { reason: Pause::Operator });
    assert_eq!(plan.report.phase, Phase::Paused);
    m.rollout.stage = Stage::Paused { reason: Pause::Failed("x".into()) };
    let plan = decide(&d, &o, m, Instant::now());
    assert_eq!(plan.next.rollout.stage, Stage::Steady, "a failure pause ends when nothing is left to roll");
}

#[test]
fn an_absurd_size_plans_one_batch_at_a_time_without_overflow() {
    let mut d = cattle(u64::MAX);
    d.policy.max_surge = u64::MAX;
    d.policy.meltdown_count = u64::MAX;
    let start = Instant::now();
    let plan = decide(&d, &Observed::default(), memory(), start);
    assert_eq!(provisions(&plan).len(), MAX_PROVISIONS_IN_FLIGHT);
    let more = u64::MAX - MAX_PROVISIONS_IN_FLIGHT as u64;
    assert!(plan.report.waiting.iter().any(|w| w.starts_with(&format!("{more} more members to create"))));
    // Until the batch is listed, nothing more is planned.
    let plan = decide(&d, &Observed::default(), plan.next, start + Duration::from_secs(1));
    assert!(provisions(&plan).is_empty());
    assert_eq!(plan.next.intents.len(), MAX_PROVISIONS_IN_FLIGHT);
}

#[test]
fn a_listed_batch_makes_room_for_the_next() {
    let size = MAX_PROVISIONS_IN_FLIGHT as u64 + 10;
    let d = cattle(size);
    let start = Instant::now();
    let plan = decide(&d, &Observed::default(), memory(), start);
    let batch: Vec<Member> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Provision { token, .. } => {
                let mut m = member(&format!("i-{token}"), NEW, Health::Healthy);
                m.description.tags.insert(PROVISION_TOKEN_TAG.into(), token.to_string());
                Some(Member::new(m.description, Health::Healthy))
            }
            _ => None,
        })
        .collect();
    let plan = decide(&d, &listed(&batch), plan.next, start + Duration::from_secs(1));
    assert_eq!(provisions(&plan).len(), 10);
}

#[test]
fn destroys_restored_from_the_journal_are_sent_again_while_listed_and_affordable() {
    let d = cattle(2);
    let now = Instant::now();
    let mut m = memory();
    for id in ["a", "gone"] {
        let restored = Destroying {
            since: now,
            reason: DestroyReason::RollingUpdate,
            progress: DestroyProgress::Restored,
            logical_id: None,
        };
        m.destroys.insert(id.into(), restored);
    }
    // Without it, the group would be short: the old decision waits.
    let short = listed(&[member("a", OLD, Health::Healthy), member("b", NEW, Health::Healthy)]);
    let plan = decide(&d, &short, m.clone(), now);
    assert!(destroyed(&plan).is_empty());
    assert!(plan.report.waiting.iter().any(|w| w.contains("wait for the group to be available")));
    let o = listed(&[
        member("a", OLD, Health::Healthy),
        member("b", NEW, Health::Healthy),
        member("c", NEW, Health::Healthy),
    ]);
    let plan = decide(&d, &o, m, now);
    assert_eq!(destroyed(&plan), [("a".into(), DestroyReason::RollingUpdate)]);
    assert_eq!(plan.next.destroys.len(), 1, "the unlisted one is forgotten");
    assert_eq!(plan.next.destroys[&InstanceId::from("a")].progress, DestroyProgress::Requested);
    let again = decide(&d, &o, plan.next.clone(), now + Duration::from_secs(1));
    assert!(destroyed(&again).is_empty(), "sent once");
}

#[test]
fn provisions_restored_from_the_journal_are_asked_for_again_only_with_the_promise() {
    let mut d = cattle(1);
    let now = Instant::now();
    let mut m = memory();
    let (token, sequence) = m.tokens.take();
    m.intents.push(Intent {
        token: token.clone(),
        sequence,
        logical_id: None,
        config: NEW.into(),
        cause: Cause::Scale,
        since: now,
        progress: Progress::Restored,
        quick_deaths: 0,
    });
    let plan = decide(&d, &Observed::default(), m.clone(), now);
    assert!(plan.actions.is_empty(), "without the promise, a restored provision is waited for");
    d.promises.idempotent_provision = true;
    let plan = decide(&d, &Observed::default(), m, now);
    assert_eq!(plan.actions, [Action::Provision { token, sequence, logical_id: None, config: NEW.into() }]);
    assert_eq!(plan.next.intents[0].progress, Progress::Requested);
}

#[test]
fn a_retiring_group_destroys_everything_its_own_instance_last_and_creates_nothing() {
    let mut d = cattle(3);
    d.self_id = Some("me".into());
    let me = pet("i-me", "me", NEW, Health::Healthy);
    let all = [member("a", NEW, Health::Healthy), member("b", OLD, Health::Unhealthy), me.clone()];
    let mut m = memory();
    m.retiring = true;
    let now = Instant::now();
    let plan = decide(&d, &listed(&all), m, now);
    let mut gone: Vec<_> = destroyed(&plan).into_iter().map(|(id, _)| id).collect();
    gone.sort();
    assert_eq!(gone, ["a", "b"], "everything but the controller's own instance, at once");
    assert!(provisions(&plan).is_empty());
    assert!(!plan.report.retired);
    let mut m = plan.next;
    m.destroy_finished(&"a".into(), None);
    m.destroy_finished(&"b".into(), None);
    let plan = decide(&d, &listed(std::slice::from_ref(&me)), m, now);
    assert_eq!(destroyed(&plan), [("i-me".to_owned(), DestroyReason::Terminate)], "then its own");
    assert!(!plan.report.retired, "until that destroy returns");
    let mut m = plan.next;
    m.destroy_finished(&"i-me".into(), None);
    let plan = decide(&d, &listed(&[me]), m.clone(), now);
    assert!(plan.actions.is_empty() && plan.report.retired, "a listed instance whose destroy returned is gone");
    let plan = decide(&d, &Observed::default(), plan.next, now);
    assert!(plan.report.retired);
}

#[test]
fn a_retiring_group_waits_for_its_provisions_in_flight() {
    let d = cattle(1);
    let now = Instant::now();
    let plan = decide(&d, &Observed::default(), memory(), now);
    let made = materialize(&plan, NEW);
    let mut m = plan.next;
    m.retiring = true;
    let plan = decide(&d, &Observed::default(), m, now);
    assert!(plan.actions.is_empty() && !plan.report.retired, "the provision may still make an instance");
    let plan = decide(&d, &listed(&made), plan.next, now + Duration::from_secs(1));
    assert_eq!(destroyed(&plan).len(), 1, "destroyed once listed");
}

#[test]
fn a_pet_being_destroyed_holds_the_slot_the_listing_gives_it() {
    let d = pets(&["a", "b"]);
    let now = Instant::now();
    let mut m = memory();
    // Recorded under another logical ID than the one the listing now shows.
    let destroying = Destroying {
        since: now,
        reason: DestroyReason::Terminate,
        progress: DestroyProgress::Requested,
        logical_id: Some("b".into()),
    };
    m.destroys.insert("x".into(), destroying);
    let o = listed(&[pet("x", "a", NEW, Health::Healthy), pet("y", "b", NEW, Health::Healthy)]);
    let plan = decide(&d, &o, m, now);
    assert!(provisions(&plan).is_empty(), "'a' is held by the instance being destroyed: {:?}", plan.actions);
}
