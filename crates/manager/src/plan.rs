//! What committing a spec will do, worked out before anything changes (`infrakit plan`).
//!
//! The counts follow the controller's contract (`docs/group-controller.md`): a config change
//! replaces every member, at most `MaxSurge` above and `MaxUnavailable` below the size at a time,
//! each batch waiting for its new members to pass the health gate. The duration is an estimate:
//! per batch, the provision time the group was observed to take plus its health gate.

use std::time::Duration;

use infrakit_group::policy::{Gate, Policy};
use infrakit_spi::group::GroupProperties;

/// A group's members as they are now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Members {
    /// Every member.
    pub total: u64,
    /// Those not on the new spec's config.
    pub outdated: u64,
}

/// How fast the group has been observed to move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pace {
    /// The controller's pass interval.
    pub poll: Duration,
    /// The time a provision took, when the group has made some.
    pub provision: Option<Duration>,
}

/// What the controller will do for a spec.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Estimate {
    /// Instances to create.
    pub create: u64,
    /// Instances to destroy.
    pub destroy: u64,
    /// Members replaced because their config changed.
    pub roll: u64,
    /// Batches of the rollout.
    pub batches: u64,
    /// The members replaced at most per batch.
    pub batch_size: u64,
    /// The most instances that exist at once.
    pub peak: u64,
    /// About how long until converged.
    pub duration: Duration,
}

/// Estimates committing `spec` to a group whose members are `members`.
pub fn estimate(spec: &GroupProperties, members: Members, pace: Pace) -> Estimate {
    let size = spec.target_size();
    let pets = !spec.allocation.logical_ids.is_empty();
    let policy = Policy::new(&spec.updating, size, pets);
    let current = members.total - members.outdated;
    let roll = members.outdated.min(size);
    let batch_size = policy.max_surge.saturating_add(policy.max_unavailable).max(1);
    let batches = roll.div_ceil(batch_size);
    let create = size.saturating_sub(current);
    let destroy = members.outdated + current.saturating_sub(size);
    let peak = match roll {
        0 => members.total.max(size),
        _ => members.total.max(size.saturating_add(policy.max_surge)),
    };
    let gate = match policy.gate {
        Gate::Once => Duration::ZERO,
        Gate::Count(n) => pace.poll.saturating_mul(u32::try_from(n.saturating_sub(1)).unwrap_or(u32::MAX)),
        Gate::Duration(d) => d,
    };
    let step = pace.provision.unwrap_or_default().saturating_add(gate);
    let steps = batches.saturating_add(u64::from(create > roll));
    let duration = step.saturating_mul(u32::try_from(steps).unwrap_or(u32::MAX));
    Estimate { create, destroy, roll, batches, batch_size, peak, duration }
}

#[cfg(test)]
mod tests {
    use infrakit_spi::group::{GroupId, GroupSpec};
    use serde_json::json;

    use super::*;

    fn spec(mut properties: serde_json::Value) -> GroupProperties {
        properties["Instance"] = json!({"Plugin": "simulator"});
        properties["Flavor"] = json!({"Plugin": "vanilla"});
        GroupProperties::parse(&GroupSpec { id: GroupId("g".into()), properties: Some(properties) }).unwrap()
    }

    const PACE: Pace = Pace { poll: Duration::from_secs(10), provision: Some(Duration::from_secs(5)) };

    #[test]
    fn a_rollout_of_cattle_surges_one_at_a_time_by_default() {
        let plan = estimate(&spec(json!({"Allocation": {"Size": 3}})), Members { total: 3, outdated: 3 }, PACE);
        assert_eq!(
            plan,
            Estimate {
                create: 3,
                destroy: 3,
                roll: 3,
                batches: 3,
                batch_size: 1,
                peak: 4,
                duration: Duration::from_secs(15)
            }
        );
    }

    #[test]
    fn surge_and_gate_shape_batches_peak_and_duration() {
        let properties =
            json!({"Allocation": {"Size": 6}, "Updating": {"MaxSurge": 2, "MaxUnavailable": 1, "Count": 3}});
        let plan = estimate(&spec(properties), Members { total: 4, outdated: 4 }, PACE);
        assert_eq!((plan.create, plan.destroy, plan.roll, plan.batches, plan.peak), (6, 4, 4, 2, 8));
        // Two batches and the growth, each a provision plus two more checks.
        assert_eq!(plan.duration, Duration::from_secs(3 * 25));
    }

    #[test]
    fn scaling_only_creates_or_destroys() {
        let up = estimate(&spec(json!({"Allocation": {"Size": 5}})), Members { total: 3, outdated: 0 }, PACE);
        assert_eq!((up.create, up.destroy, up.roll, up.peak), (2, 0, 0, 5));
        let down = estimate(&spec(json!({"Allocation": {"Size": 1}})), Members { total: 3, outdated: 0 }, PACE);
        assert_eq!((down.create, down.destroy, down.peak, down.duration), (0, 2, 3, Duration::ZERO));
        let pets = spec(json!({"Allocation": {"LogicalIDs": ["a", "b"]}}));
        let plan = estimate(&pets, Members { total: 2, outdated: 2 }, PACE);
        assert_eq!((plan.batches, plan.batch_size, plan.peak), (2, 1, 2));
    }

    #[test]
    fn absurd_policies_saturate_instead_of_overflowing() {
        let updating = json!({"MaxSurge": u64::MAX, "MaxUnavailable": u64::MAX, "Count": u64::MAX});
        let plan = estimate(
            &spec(json!({"Allocation": {"Size": 3}, "Updating": updating})),
            Members { total: 3, outdated: 3 },
            PACE,
        );
        assert_eq!((plan.batch_size, plan.peak), (u64::MAX, u64::MAX));
        assert!(plan.duration > Duration::from_secs(u64::from(u32::MAX)), "one batch gated by u64::MAX checks");
    }
}
