//! What committing a spec will do, worked out by the decision itself (`infrakit plan`).
//!
//! [`forecast`] runs [`decide`] over the group's current listing, carries out each plan in
//! imagination (every provision lands healthy, every destroy returns) and steps forward pass by
//! pass until the group converges. The creates, destroys, batches, peak and duration it reports
//! are the decision's own: there is no second description of the rollout rules to drift from
//! the first.
//!
//! Time moves as the group's task moves it: a pass that provisions waits for its batch to land
//! (the provision time observed for the group), a pass that only destroys is followed at once,
//! and a pass with nothing to do waits for the next poll (new members pass a health gate of
//! several checks one poll at a time).

use std::time::Duration;

use infrakit_spi::flavor::Health;
use infrakit_spi::group::{CONFIG_HASH_TAG, GROUP_TAG, GroupId, GroupProperties};
use infrakit_spi::instance::{Description, DestroyReason, InstanceId, LOGICAL_ID_TAG};
use tokio::time::Instant;

use crate::decide::decide;
use crate::memory::Memory;
use crate::model::{Allocation, Desired, Member, Observed, PROVISION_TOKEN_TAG};
use crate::plan::Action;
use crate::policy::{Gate, Policy};

/// How fast the group moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// The controller's pass interval.
    pub poll: Duration,
    /// How long a provision takes to land.
    pub provision: Duration,
}

/// What the controller will do for a spec.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Forecast {
    /// Instances created.
    pub create: u64,
    /// Instances destroyed.
    pub destroy: u64,
    /// Members replaced because their config changed.
    pub roll: u64,
    /// Passes that replaced members for the rollout.
    pub batches: u64,
    /// The most members replaced in one pass.
    pub batch_size: u64,
    /// The most instances that exist at once.
    pub peak: u64,
    /// About how long until converged.
    pub duration: Duration,
    /// Why the group would stop short of its spec, if it would.
    pub stalled: Option<String>,
}

/// Passes after which a forecast gives up: a group of a million members grows by a thousand a
/// pass, so this is far beyond any real convergence.
pub const MAX_PASSES: u32 = 10_000;

/// Forecasts committing `spec` to group `id`, whose instances are now `listing` (every one
/// taken as healthy).
pub fn forecast(id: &GroupId, spec: &GroupProperties, listing: &[Description], pace: Pace) -> Forecast {
    let pets = !spec.allocation.logical_ids.is_empty();
    let size = spec.target_size();
    let desired = Desired {
        group: id.clone(),
        allocation: match pets {
            true => Allocation::Pets { ids: spec.allocation.logical_ids.clone() },
            false => Allocation::Cattle { size },
        },
        policy: Policy::new(&spec.updating, size, pets, 0),
        self_id: None,
        promises: Default::default(),
    };
    let config = spec.instance_hash();
    let mut members: Vec<Member> = listing.iter().map(|d| Member::new(d.clone(), Health::Healthy)).collect();
    let mut memory = Memory::new("forecast", config.clone());
    let mut result = Forecast { peak: members.len() as u64, ..Forecast::default() };
    let start = Instant::now();
    let mut now = start;
    let mut idle_since = now;
    // Past this without an action, nothing the decision waits for will come.
    let patience =
        desired.policy.health_timeout.saturating_add(gate_span(&desired.policy, pace.poll)).saturating_add(pace.poll);
    for _ in 0..MAX_PASSES {
        let plan = decide(&desired, &Observed { members: members.clone() }, memory, now);
        memory = plan.next;
        if plan.actions.is_empty() {
            if plan.report.converged() {
                result.duration = now.duration_since(start);
                return result;
            }
            if now.duration_since(idle_since) > patience {
                result.stalled = Some(match plan.report.waiting.is_empty() {
                    true => format!("the group stays {:?}", plan.report.phase).to_lowercase(),
                    false => plan.report.waiting.join("; "),
                });
                result.duration = idle_since.duration_since(start);
                return result;
            }
            now += pace.poll;
            continue;
        }
        let (mut provisioned, mut destroyed, mut rolled) = (0, 0, 0);
        for action in plan.actions {
            match action {
                Action::Provision { token, logical_id, config, .. } => {
                    let instance = InstanceId(format!("forecast-{token}"));
                    let mut tags = [
                        (GROUP_TAG.to_owned(), id.to_string()),
                        (CONFIG_HASH_TAG.to_owned(), config.to_string()),
                        (PROVISION_TOKEN_TAG.to_owned(), token.to_string()),
                    ]
                    .into_iter()
                    .collect::<infrakit_spi::types::Tags>();
                    if let Some(lid) = &logical_id {
                        tags.insert(LOGICAL_ID_TAG.to_owned(), lid.to_string());
                    }
                    let description = Description { id: instance.clone(), logical_id, tags, ..Description::default() };
                    members.push(Member::new(description, Health::Healthy));
                    memory.provision_succeeded(&token, instance);
                    provisioned += 1;
                }
                Action::Destroy { instance, reason, .. } => {
                    members.retain(|m| m.id() != &instance.id);
                    memory.destroy_finished(&instance.id, None);
                    destroyed += 1;
                    rolled += u64::from(reason == DestroyReason::RollingUpdate);
                }
                Action::Adopt { instance } => {
                    if let Some(m) = members.iter_mut().find(|m| m.id() == &instance) {
                        m.description.tags.insert(CONFIG_HASH_TAG.to_owned(), config.to_string());
                    }
                }
                Action::Drain { .. } => {}
            }
        }
        // Destroys of a pass run alongside its provisions: until they return, both exist.
        result.peak = result.peak.max(members.len() as u64 + destroyed);
        result.create += provisioned;
        result.destroy += destroyed;
        result.roll += rolled;
        if rolled > 0 {
            result.batches += 1;
            result.batch_size = result.batch_size.max(rolled);
        }
        if provisioned > 0 {
            now += pace.provision;
        }
        idle_since = now;
    }
    result.stalled = Some(format!("not converged after {MAX_PASSES} passes"));
    result.duration = now.duration_since(start);
    result
}

/// How long a new member takes to pass the health gate once listed.
fn gate_span(policy: &Policy, poll: Duration) -> Duration {
    match policy.gate {
        Gate::Once => Duration::ZERO,
        Gate::Count(n) => poll.saturating_mul(u32::try_from(n.saturating_sub(1)).unwrap_or(u32::MAX)),
        Gate::Duration(d) => d,
    }
}

#[cfg(test)]
mod tests {
    use infrakit_spi::group::{ConfigHash, GroupSpec};
    use serde_json::json;

    use super::*;

    const PACE: Pace = Pace { poll: Duration::from_secs(10), provision: Duration::from_secs(5) };

    fn spec(mut properties: serde_json::Value) -> GroupProperties {
        properties["Instance"] = json!({"Plugin": "simulator"});
        properties["Flavor"] = json!({"Plugin": "vanilla"});
        GroupProperties::parse(&GroupSpec { id: GroupId("g".into()), properties: Some(properties) }).unwrap()
    }

    /// `n` members of group `g` on `config`, pets when `pets` names them.
    fn listing(n: usize, config: &str, pets: &[&str]) -> Vec<Description> {
        (0..n)
            .map(|i| {
                let mut tags = infrakit_spi::types::Tags::from([
                    (GROUP_TAG.to_owned(), "g".to_owned()),
                    (CONFIG_HASH_TAG.to_owned(), config.to_owned()),
                ]);
                if let Some(lid) = pets.get(i) {
                    tags.insert(LOGICAL_ID_TAG.to_owned(), (*lid).to_owned());
                }
                Description { id: format!("i-{i}").into(), tags, ..Description::default() }
            })
            .collect()
    }

    #[test]
    fn a_rollout_of_cattle_surges_one_at_a_time_by_default() {
        let plan = forecast(&"g".into(), &spec(json!({"Allocation": {"Size": 3}})), &listing(3, "old", &[]), PACE);
        let expected = Forecast {
            create: 3,
            destroy: 3,
            roll: 3,
            batches: 3,
            batch_size: 1,
            peak: 4,
            duration: Duration::from_secs(15),
            stalled: None,
        };
        assert_eq!(plan, expected);
    }

    #[test]
    fn surge_unavailability_and_the_gate_shape_the_rollout() {
        let properties =
            json!({"Allocation": {"Size": 6}, "Updating": {"MaxSurge": 2, "MaxUnavailable": 1, "Count": 3}});
        let plan = forecast(&"g".into(), &spec(properties), &listing(4, "old", &[]), PACE);
        assert_eq!((plan.create, plan.destroy, plan.roll, plan.peak, plan.stalled.clone()), (6, 4, 4, 8, None));
        assert!(plan.batches >= 2 && plan.batch_size <= 3, "{plan:?}");
        // Each batch waits for its provisions and two more checks of the gate.
        assert!(plan.duration >= Duration::from_secs(2 * 25), "{plan:?}");
    }

    #[test]
    fn scaling_only_creates_or_destroys() {
        let up = forecast(&"g".into(), &spec(json!({"Allocation": {"Size": 5}})), &listing(3, "x", &[]), PACE);
        let hash = spec(json!({"Allocation": {"Size": 5}})).instance_hash();
        let current = listing(3, hash.as_str(), &[]);
        let up_current = forecast(&"g".into(), &spec(json!({"Allocation": {"Size": 5}})), &current, PACE);
        assert_eq!((up_current.create, up_current.destroy, up_current.roll, up_current.peak), (2, 0, 0, 5));
        assert_eq!(up_current.duration, PACE.provision);
        assert_eq!(up.roll, 3, "members of another config are rolled as well");
        let down = forecast(&"g".into(), &spec(json!({"Allocation": {"Size": 1}})), &current, PACE);
        assert_eq!((down.create, down.destroy, down.peak, down.duration), (0, 2, 3, Duration::ZERO));
        let pets = spec(json!({"Allocation": {"LogicalIDs": ["a", "b"]}}));
        let plan = forecast(&"g".into(), &pets, &listing(2, "old", &["a", "b"]), PACE);
        assert_eq!((plan.roll, plan.batches, plan.batch_size, plan.peak), (2, 2, 1, 2));
    }

    #[test]
    fn absurd_policies_end_in_a_stall_not_a_hang_or_an_overflow() {
        let updating = json!({"MaxSurge": u64::MAX, "MaxUnavailable": u64::MAX, "Count": u64::MAX});
        let properties = spec(json!({"Allocation": {"Size": 3}, "Updating": updating}));
        let plan = forecast(&"g".into(), &properties, &listing(3, "old", &[]), PACE);
        assert_eq!(plan.peak, 6);
        assert!(plan.stalled.is_some(), "new members never pass a gate of u64::MAX checks: {plan:?}");
        assert_ne!(properties.instance_hash(), ConfigHash::from("old"));
    }
}
