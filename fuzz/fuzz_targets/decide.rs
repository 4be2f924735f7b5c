//! The group decision over many passes: a desired spec (cattle of 0 to 64, or pets), a backend
//! whose listing the input bends at will (members appear, vanish, change health, carry any
//! config or logical ID), outcomes of the planned actions (provisions and destroys that succeed,
//! fail or never answer), operator pauses, restarts that lose the memory, commits of new specs,
//! and time that advances between passes.
//!
//! After every pass, the plan keeps these invariants (the controller's, as
//! `crates/group/tests/properties.rs` states them for whole runs):
//! - No stranger: decide sees only what the instance plugin lists under the group's tag, so a
//!   stranger's instance is one not in this pass's listing (another group's, or a former member
//!   the memory still remembers). Every destroy, drain and adopt names a listed instance, each at
//!   most once, and no destroy names the instance running the controller.
//! - Surge, cattle: a plan that provisions leaves at most size + MaxSurge instances present or in
//!   flight while rolling, at most size otherwise. Present is every listed instance whose
//!   destroy has not returned (a destroy in flight still occupies its machine); in flight is
//!   every provision not yet listed.
//! - Surge, pets: a provision fills a logical ID of the spec that no present instance and no
//!   other provision holds, so a pet never has two instances because of a create.
//! - Unavailability: a plan that replaces an available member for the rollout leaves at least
//!   size - MaxUnavailable available members that it is not destroying. Available is decide's
//!   own notion: a current-config member past its health gate, an old one while healthy. The
//!   count includes listed members that decide's census sets aside (pets without a logical
//!   ID), so it can only be higher than decide's: a failure here is a real breach. Removing
//!   surplus beyond size + MaxSurge is a scale-down, not a rollout step, and is not bounded by
//!   this floor. The rollout replaces only members of an old config.

#![no_main]

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use arbitrary::Arbitrary;
use infrakit_group::decide::decide;
use infrakit_group::memory::Memory;
use infrakit_group::model::{Allocation, Desired, Member, Observed, PROVISION_TOKEN_TAG};
use infrakit_group::plan::{Action, Plan};
use infrakit_group::policy::Policy;
use infrakit_group::rollout::{Control, Event};
use infrakit_spi::flavor::Health;
use infrakit_spi::group::{
    BOOTSTRAP_CONFIG_HASH, CONFIG_HASH_TAG, ConfigHash, GROUP_TAG, OnFailure, Quantity, Updating,
};
use infrakit_spi::instance::{Description, DestroyReason, InstanceId, LOGICAL_ID_TAG, LogicalId, Promises};
use libfuzzer_sys::fuzz_target;
use tokio::time::Instant;

/// The largest cattle group tried.
const MAX_SIZE: u64 = 64;
/// Logical IDs are drawn from this many names, so that pets collide, go missing and come back.
const LOGICAL_IDS: u8 = 12;
/// Configs are drawn from this many hashes, plus the bootstrap marker.
const CONFIGS: u8 = 3;
const MAX_PASSES: usize = 24;

#[derive(Debug, Arbitrary)]
enum Amount {
    Count(u8),
    Percent(u8),
}

impl Amount {
    fn quantity(&self) -> Quantity {
        match *self {
            Self::Count(n) => Quantity::Count(u64::from(n % 8)),
            Self::Percent(p) => Quantity::Percent(u64::from(p % 101)),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct SpecInput {
    /// Logical IDs as a bitmask over the pool; cattle when `None`.
    pets: Option<u16>,
    size: u8,
    config: u8,
    previous: Option<u8>,
    surge: Option<Amount>,
    unavailable: Option<Amount>,
    gate_count: u8,
    gate_seconds: u8,
    health_timeout_seconds: Option<u16>,
    grace_seconds: Option<u16>,
    roll_back_on_failure: bool,
    skip_drain: bool,
    replacements: Option<u8>,
    meltdown_percent: Option<u8>,
    meltdown_count: Option<u8>,
    backoff_seconds: Option<u16>,
    self_id: Option<u8>,
    idempotent: bool,
}

fn config(n: u8) -> ConfigHash {
    ConfigHash(format!("config{}", n % CONFIGS))
}

fn logical_id(n: u8) -> LogicalId {
    LogicalId::from(format!("pet-{}", n % LOGICAL_IDS).as_str())
}

impl SpecInput {
    fn desired(&self) -> Desired {
        let ids: Vec<LogicalId> =
            (0..LOGICAL_IDS).filter(|n| self.pets.is_some_and(|mask| mask & (1 << n) != 0)).map(logical_id).collect();
        let pets = self.pets.is_some();
        let allocation = match pets {
            true => Allocation::Pets { ids },
            false => Allocation::Cattle { size: u64::from(self.size) % (MAX_SIZE + 1) },
        };
        let seconds = |s: u16| infrakit_spi::duration::GoDuration(Duration::from_secs(u64::from(s)));
        let updating = Updating {
            count: u64::from(self.gate_count % 4),
            duration: seconds(u16::from(self.gate_seconds % 4) * 10),
            max_surge: self.surge.as_ref().map(Amount::quantity),
            max_unavailable: self.unavailable.as_ref().map(Amount::quantity),
            health_timeout: self.health_timeout_seconds.map(seconds),
            unhealthy_grace_period: self.grace_seconds.map(seconds),
            on_failure: Some(if self.roll_back_on_failure { OnFailure::Rollback } else { OnFailure::Pause }),
            skip_before_instance_destroy: self.skip_drain.then(|| "drain".to_owned()),
            max_unhealthy_replacements: self.replacements.map(|n| u64::from(n % 4)),
            meltdown_percent: self.meltdown_percent.map(|p| u64::from(p % 101)),
            meltdown_count: self.meltdown_count.map(|n| u64::from(n % 8)),
            max_provision_backoff: self.backoff_seconds.map(seconds),
            ..Updating::default()
        };
        let size = match &allocation {
            Allocation::Cattle { size } => *size,
            Allocation::Pets { ids } => ids.len() as u64,
        };
        Desired {
            group: "g".into(),
            policy: Policy::new(&updating, size, pets, 0),
            allocation,
            self_id: self.self_id.map(logical_id),
            promises: Promises { idempotent_provision: self.idempotent },
        }
    }
}

/// What happens to the backend before a pass.
#[derive(Debug, Arbitrary)]
enum Change {
    /// An instance appears (or is replaced) with these traits.
    Appear { id: u8, config: Option<u8>, bootstrap: bool, logical_id: Option<u8>, in_tag: bool },
    /// An instance disappears.
    Vanish { id: u8 },
    /// An instance reports another health.
    Health { id: u8, health: u8 },
    /// An instance loses or changes its config tag.
    Retag { id: u8, config: Option<u8> },
}

/// What happens to each planned action, in order; missing entries mean success.
#[derive(Debug, Clone, Copy, Arbitrary)]
enum Outcome {
    Succeeds,
    Fails,
    /// No answer: a crash or a timeout.
    Silent,
    /// Succeeds, but the listing does not show it yet (describe lag).
    Lags,
}

#[derive(Debug, Arbitrary)]
struct PassInput {
    seconds: u16,
    changes: Vec<Change>,
    outcomes: Vec<Outcome>,
    recommit: Option<SpecInput>,
    restart: bool,
    operator: Option<bool>,
}

#[derive(Debug, Arbitrary)]
struct Scenario {
    spec: SpecInput,
    passes: Vec<PassInput>,
}

/// The backend: every instance of the group, listed or lagging.
#[derive(Default)]
struct Backend {
    /// Each instance, its health, and whether the listing shows it yet.
    instances: BTreeMap<InstanceId, (Description, Health, bool)>,
    /// Destroyed, but still listed until the next pass has seen them.
    leaving: Vec<InstanceId>,
    created: u64,
}

impl Backend {
    fn listing(&self) -> Observed {
        let members = self
            .instances
            .values()
            .filter(|(_, _, visible)| *visible)
            .map(|(d, health, _)| Member::new(d.clone(), *health))
            .collect();
        Observed { members }
    }

    fn change(&mut self, change: &Change) {
        let id = |n: u8| InstanceId::from(format!("i-{}", n % 96).as_str());
        match *change {
            Change::Appear { id: n, config: c, bootstrap, logical_id: lid, in_tag } => {
                let mut d = Description { id: id(n), ..Description::default() };
                d.tags.insert(GROUP_TAG.into(), "g".into());
                if let Some(c) = c {
                    d.tags.insert(CONFIG_HASH_TAG.into(), config(c).0);
                }
                if bootstrap {
                    d.tags.insert(CONFIG_HASH_TAG.into(), BOOTSTRAP_CONFIG_HASH.into());
                }
                match (lid, in_tag) {
                    (Some(l), true) => {
                        d.tags.insert(LOGICAL_ID_TAG.into(), logical_id(l).to_string());
                    }
                    (Some(l), false) => d.logical_id = Some(logical_id(l)),
                    (None, _) => {}
                }
                self.instances.insert(d.id.clone(), (d, Health::Unknown, true));
            }
            Change::Vanish { id: n } => {
                self.instances.remove(&id(n));
            }
            Change::Health { id: n, health } => {
                if let Some(entry) = self.instances.get_mut(&id(n)) {
                    entry.1 = Health::from(health % 3);
                    entry.2 = true;
                }
            }
            Change::Retag { id: n, config: c } => {
                if let Some((d, _, _)) = self.instances.get_mut(&id(n)) {
                    match c {
                        Some(c) => d.tags.insert(CONFIG_HASH_TAG.into(), config(c).0),
                        None => d.tags.remove(CONFIG_HASH_TAG),
                    };
                }
            }
        }
    }

    /// Runs a plan's actions as the controller's executor would, with the given outcomes.
    fn execute(&mut self, plan: &Plan, memory: &mut Memory, outcomes: &[Outcome], now: Instant) {
        let cap = Duration::from_secs(300);
        for (n, action) in plan.actions.iter().enumerate() {
            let outcome = outcomes.get(n).copied().unwrap_or(Outcome::Succeeds);
            match action {
                Action::Provision { token, logical_id, config, .. } => match outcome {
                    Outcome::Succeeds | Outcome::Lags => {
                        self.created += 1;
                        let mut d =
                            Description { id: format!("p-{}", self.created).as_str().into(), ..Description::default() };
                        d.tags.insert(GROUP_TAG.into(), "g".into());
                        d.tags.insert(CONFIG_HASH_TAG.into(), config.to_string());
                        d.tags.insert(PROVISION_TOKEN_TAG.into(), token.to_string());
                        d.logical_id = logical_id.clone();
                        memory.provision_succeeded(token, d.id.clone());
                        let visible = matches!(outcome, Outcome::Succeeds);
                        self.instances.insert(d.id.clone(), (d, Health::Unknown, visible));
                    }
                    Outcome::Fails => {
                        memory.provision_failed(token, "no capacity", now, cap);
                    }
                    Outcome::Silent => {}
                },
                Action::Destroy { instance, .. } => match outcome {
                    Outcome::Succeeds => {
                        self.instances.remove(&instance.id);
                        memory.destroy_finished(&instance.id, None);
                    }
                    Outcome::Lags => {
                        self.leaving.push(instance.id.clone());
                        memory.destroy_finished(&instance.id, None);
                    }
                    Outcome::Fails => memory.destroy_finished(&instance.id, Some("busy")),
                    Outcome::Silent => {}
                },
                Action::Drain { .. } => {}
                Action::Adopt { instance } => {
                    if let Some((d, _, _)) = self.instances.get_mut(instance) {
                        d.tags.insert(CONFIG_HASH_TAG.into(), plan.report.rollout.target.clone());
                    }
                }
            }
        }
    }
}

/// The test's own notion of current, written apart from the decision's.
fn is_current(config: &ConfigHash, m: &Member) -> bool {
    m.config() == Some(config.as_str()) || m.is_bootstrap()
}

/// Checks a plan decided for `config`, the rollout's current config when the pass began.
fn check(desired: &Desired, config: &ConfigHash, observed: &Observed, plan: &Plan) {
    let listed: HashSet<&InstanceId> = observed.members.iter().map(Member::id).collect();
    let size = desired.size();
    let policy = &desired.policy;

    // No stranger, nothing twice, never the controller's own instance.
    let mut acted = HashSet::new();
    for action in &plan.actions {
        let (id, destroyed_lid) = match action {
            Action::Destroy { instance, .. } => (&instance.id, Some(instance.effective_logical_id())),
            Action::Drain { instance } => (&instance.id, None),
            Action::Adopt { instance } => (instance, None),
            Action::Provision { .. } => continue,
        };
        assert!(listed.contains(id), "{action:?} acts on an instance that is not listed");
        assert!(acted.insert((id.clone(), std::mem::discriminant(action))), "{action:?} twice in one plan");
        if let (Some(lid), Some(me)) = (destroyed_lid, &desired.self_id) {
            assert_ne!(lid.as_ref(), Some(me), "destroys the controller's own instance");
        }
    }

    let present: Vec<&Member> =
        observed.members.iter().filter(|m| !plan.next.destroys.get(m.id()).is_some_and(|d| d.is_done())).collect();
    let provisions: Vec<(&str, Option<&LogicalId>)> = plan
        .actions
        .iter()
        .filter_map(|a| match a {
            Action::Provision { token, logical_id, .. } => Some((token.as_str(), logical_id.as_ref())),
            _ => None,
        })
        .collect();

    // Surge.
    match &desired.allocation {
        Allocation::Cattle { .. } if !provisions.is_empty() => {
            let slack = if plan.next.rollout.stage.is_moving() { policy.max_surge } else { 0 };
            let total = present.len() as u64 + plan.next.intents.len() as u64;
            assert!(total <= size + slack, "{total} present or in flight, above {size} + {slack}");
        }
        Allocation::Cattle { .. } => {}
        Allocation::Pets { ids } => {
            let new: HashSet<&str> = provisions.iter().map(|(token, _)| *token).collect();
            let mut filled = HashSet::new();
            for (_, lid) in &provisions {
                let lid = lid.expect("a pet's provision names its logical ID");
                assert!(ids.contains(lid), "provisions '{lid}', which is not in the spec");
                assert!(filled.insert(lid), "provisions '{lid}' twice");
                assert!(
                    !present.iter().any(|m| m.logical_id.as_ref() == Some(lid)),
                    "provisions '{lid}' while an instance of it is present"
                );
                assert!(
                    !plan
                        .next
                        .intents
                        .iter()
                        .any(|i| i.logical_id.as_ref() == Some(lid) && !new.contains(i.token.as_str())),
                    "provisions '{lid}' while another provision of it is in flight"
                );
            }
        }
    }

    // Unavailability.
    let available = |m: &Member| {
        let track = &plan.next.tracks[m.id()];
        match is_current(config, m) {
            true => track.is_ready(),
            false => track.health == Health::Healthy,
        }
    };
    let mut replaced_available = false;
    for action in &plan.actions {
        if let Action::Destroy { instance, reason: DestroyReason::RollingUpdate, .. } = action {
            let member = observed.members.iter().find(|m| m.id() == &instance.id).expect("listed, checked above");
            assert!(!is_current(config, member), "the rollout replaces {} of the current config", instance.id);
            replaced_available |= available(member);
        }
    }
    if replaced_available {
        let floor = size.saturating_sub(policy.max_unavailable);
        let left = observed.members.iter().filter(|m| !plan.next.destroys.contains_key(m.id()) && available(m)).count();
        assert!(left as u64 >= floor, "the rollout leaves {left} available, below {floor}");
    }
}

/// A fresh memory on the spec's config, with its previous config as the one a rollback
/// restores (as a journal would have it).
fn memory(spec: &SpecInput, prefix: String) -> Memory {
    let mut memory = Memory::new(prefix, config(spec.config));
    memory.rollout.stable = spec.previous.map(config);
    memory
}

fn run(scenario: &Scenario) {
    let mut desired = scenario.spec.desired();
    let mut backend = Backend::default();
    let mut memory = memory(&scenario.spec, "fuzz".to_owned());
    let mut now = Instant::now();
    for pass in scenario.passes.iter().take(MAX_PASSES) {
        now += Duration::from_secs(u64::from(pass.seconds % 900));
        if let Some(spec) = &pass.recommit {
            desired = spec.desired();
            // A commit of the config a rollback restored from is refused, as the controller's.
            let _ = memory.roll(Event::Commit(config(spec.config)), now);
        }
        if pass.restart {
            let rollout = memory.rollout.clone();
            memory = Memory::new(format!("fuzz{}", backend.created), rollout.current.clone());
            memory.rollout = rollout;
        }
        // Operator controls are refused when they do not apply; that is part of what is tried.
        let _ = match pass.operator {
            Some(true) => memory.roll(Event::Operator(Control::Pause), now),
            Some(false) => memory.roll(Event::Operator(Control::Resume), now),
            None => Ok(None),
        };
        for change in &pass.changes {
            backend.change(change);
        }
        let observed = backend.listing();
        let lagging: Vec<InstanceId> =
            backend.instances.iter().filter(|(_, entry)| !entry.2).map(|(id, _)| id.clone()).collect();
        for id in std::mem::take(&mut backend.leaving) {
            backend.instances.remove(&id);
        }
        let current = memory.rollout.current.clone();
        let plan = decide(&desired, &observed, memory, now);
        check(&desired, &current, &observed, &plan);
        memory = plan.next.clone();
        backend.execute(&plan, &mut memory, &pass.outcomes, now);
        for id in lagging {
            if let Some(entry) = backend.instances.get_mut(&id) {
                entry.2 = true;
            }
        }
    }
}

fuzz_target!(|scenario: Scenario| run(&scenario));
