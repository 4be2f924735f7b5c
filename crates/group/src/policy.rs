//! A group's `Updating` section resolved against its size, with every default in one place.
//!
//! The spec says `MaxSurge: 25%`; the decision needs "2 members". Resolving once per commit keeps
//! percentages, defaults and the pets-cannot-surge rule out of the decision itself.

use std::time::Duration;

use infrakit_spi::group::{OnFailure, Updating};

/// Cattle default: one extra member, so the replacement is healthy before the old one goes.
pub const DEFAULT_MAX_SURGE: u64 = 1;
/// Cattle default: never below the size during a rollout.
pub const DEFAULT_MAX_UNAVAILABLE: u64 = 0;
/// Pets cannot surge, so one of them is out of service while it is replaced, as in the original.
pub const PETS_MAX_UNAVAILABLE: u64 = 1;
/// Long enough for a VM to boot and install its software; a new member that is not healthy
/// after this is taken as broken (the original waited forever).
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(600);
/// Six polls at the default interval: a restarting service or one lost probe never costs an
/// instance.
pub const DEFAULT_UNHEALTHY_GRACE: Duration = Duration::from_secs(60);
/// Replace unhealthy members one at a time unless told otherwise.
pub const DEFAULT_MAX_UNHEALTHY_REPLACEMENTS: u64 = 1;
/// BOSH's resurrector threshold: more than 20% of the group down at once is an outage, not a
/// set of broken machines.
pub const DEFAULT_MELTDOWN_PERCENT: u64 = 20;
/// BOSH's floor: five or fewer members down never engage the brake, so small groups still heal.
pub const DEFAULT_MELTDOWN_COUNT: u64 = 5;
/// The longest wait between provisions of a config that keeps failing.
pub const DEFAULT_MAX_PROVISION_BACKOFF: Duration = Duration::from_secs(300);

/// When a new member counts as ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Healthy on one check (the original with neither `Count` nor `Duration`).
    Once,
    /// Healthy on this many consecutive checks.
    Count(u64),
    /// Healthy continuously for this long.
    Duration(Duration),
}

/// The resolved rollout, remediation and brake policy of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// When a member counts as ready.
    pub gate: Gate,
    /// Members a rollout may add above the size.
    pub max_surge: u64,
    /// Members a rollout may take below the size.
    pub max_unavailable: u64,
    /// How long a new member has to become ready during a rollout.
    pub health_timeout: Duration,
    /// What a failed rollout does.
    pub on_failure: OnFailure,
    /// Whether to drain a member before a rolling-update destroy.
    pub drain_on_rollout: bool,
    /// How long a member must stay unhealthy before it is replaced.
    pub unhealthy_grace: Duration,
    /// How many unhealthy members may be in replacement at once.
    pub max_unhealthy_replacements: u64,
    /// The meltdown brake's share threshold, in percent of the size.
    pub meltdown_percent: u64,
    /// The meltdown brake's count threshold.
    pub meltdown_count: u64,
    /// The longest backoff between failing provisions.
    pub max_provision_backoff: Duration,
    /// The most instance operations in flight: the spec's `MaxParallel`, else the controller's
    /// default; 0 is no limit.
    pub max_parallel: u64,
}

impl Policy {
    /// Resolves `updating` for a group of `size` members; `pets` forbids surging;
    /// `default_parallel` is the controller's bound for specs that set none.
    pub fn new(updating: &Updating, size: u64, pets: bool, default_parallel: u64) -> Self {
        let gate = match (updating.count, updating.duration.0) {
            (0, d) if d.is_zero() => Gate::Once,
            (0, d) => Gate::Duration(d),
            (n, _) => Gate::Count(n),
        };
        let (max_surge, max_unavailable) = if pets {
            (0, updating.max_unavailable.map_or(PETS_MAX_UNAVAILABLE, |q| q.resolve(size, false).max(1)))
        } else {
            let surge = updating.max_surge.map_or(DEFAULT_MAX_SURGE, |q| q.resolve(size, true));
            let unavailable = updating.max_unavailable.map_or(DEFAULT_MAX_UNAVAILABLE, |q| q.resolve(size, false));
            // A percentage of a small group can round both to zero; surge one so the rollout moves.
            if surge == 0 && unavailable == 0 { (1, 0) } else { (surge, unavailable) }
        };
        Self {
            gate,
            max_surge,
            max_unavailable,
            health_timeout: updating.health_timeout.map_or(DEFAULT_HEALTH_TIMEOUT, |d| d.0),
            on_failure: updating.on_failure.unwrap_or_default(),
            drain_on_rollout: updating.skip_before_instance_destroy.as_deref() != Some("drain"),
            unhealthy_grace: updating.unhealthy_grace_period.map_or(DEFAULT_UNHEALTHY_GRACE, |d| d.0),
            max_unhealthy_replacements: updating
                .max_unhealthy_replacements
                .unwrap_or(DEFAULT_MAX_UNHEALTHY_REPLACEMENTS),
            meltdown_percent: updating.meltdown_percent.unwrap_or(DEFAULT_MELTDOWN_PERCENT),
            meltdown_count: updating.meltdown_count.unwrap_or(DEFAULT_MELTDOWN_COUNT),
            max_provision_backoff: updating.max_provision_backoff.map_or(DEFAULT_MAX_PROVISION_BACKOFF, |d| d.0),
            max_parallel: updating.max_parallel.unwrap_or(default_parallel),
        }
    }

    /// The policy of a group spec with no `Updating` section.
    pub fn cattle_default(size: u64) -> Self {
        Self::new(&Updating::default(), size, false, 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use infrakit_spi::duration::GoDuration;
    use infrakit_spi::group::Quantity;

    #[test]
    fn cattle_surge_one_and_pets_replace_one_at_a_time() {
        let cattle = Policy::cattle_default(10);
        assert_eq!((cattle.max_surge, cattle.max_unavailable, cattle.gate), (1, 0, Gate::Once));
        let pets = Policy::new(&Updating::default(), 3, true, 0);
        assert_eq!((pets.max_surge, pets.max_unavailable), (0, 1));
    }

    #[test]
    fn percentages_resolve_against_the_size() {
        let updating = Updating {
            max_surge: Some(Quantity::Percent(25)),
            max_unavailable: Some(Quantity::Percent(25)),
            count: 2,
            ..Updating::default()
        };
        let p = Policy::new(&updating, 10, false, 0);
        assert_eq!((p.max_surge, p.max_unavailable, p.gate), (3, 2, Gate::Count(2)));
        let tiny = Updating {
            max_surge: Some(Quantity::Percent(10)),
            max_unavailable: Some(Quantity::Percent(10)),
            duration: GoDuration(Duration::from_secs(5)),
            ..Updating::default()
        };
        let p = Policy::new(&tiny, 3, false, 0);
        assert_eq!((p.max_surge, p.max_unavailable, p.gate), (1, 0, Gate::Duration(Duration::from_secs(5))));
    }
}
