//! The decision: from what the spec wants, what the plugins report and what the controller
//! remembers, to the actions of one pass. Pure and synchronous: no clock (time comes in as
//! `now`), no I/O, no randomness (provision tokens come from the memory), so every rule below is
//! tested by tables and by properties, and executing a plan leaves no choice to make.
//!
//! One pass, in order:
//! 1. Bookkeeping: match listed instances to in-flight provisions (by token tag or returned ID),
//!    ask again for provisions restored from the journal that are not listed (when the plugin
//!    promises idempotent provisions), forget destroys that are gone, notice members that
//!    vanished, update health histories.
//! 2. Census: which listed members count (pets: known logical IDs, one per ID), which run an old
//!    config, which are ready, what is physically present (in-flight provisions and destroys
//!    included, so surge is never exceeded even for a moment); destroys restored from the
//!    journal whose instances are still listed are sent again while the group can spare them.
//! 3. Rollout: derive `Rolling` from old-config members, detect failure (a new member not ready
//!    within `HealthTimeout`, unhealthy past the grace period, or provisions that keep failing).
//! 4. Brakes: the meltdown brake and the crash-loop breaker of the current config.
//! 5. Actions: adopt bootstrap instances; remove strays (unknown or duplicate pets) and surplus;
//!    replace old-config members within MaxSurge/MaxUnavailable; create what is missing; replace
//!    members unhealthy past the grace period; drain the controller's own instance when it is
//!    the last one on an old config.

use std::cmp::Reverse;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use infrakit_spi::duration::GoDuration;
use infrakit_spi::flavor::Health;
use infrakit_spi::group::{ConfigHash, Counts, Phase, RolloutState, RolloutStatus};
use infrakit_spi::instance::{DestroyReason, InstanceId, LogicalId};
use tokio::time::Instant;

use crate::brakes::{Breaker, Meltdown};
use crate::memory::{
    DESTROY_VISIBILITY_TIMEOUT, DestroyProgress, Destroying, Intent, Memory, PROVISION_VISIBILITY_TIMEOUT, Progress,
    Vanished,
};
use crate::model::{Allocation, Desired, Member, Observed};
use crate::plan::{Action, EventKind, Note, Plan, Report};
use crate::rollout::{Event, Progress as RolloutProgress, Stage, Surge};
use crate::track::{Cause, Track};

/// How long a vanished member counts towards the meltdown brake. BOSH's `time_threshold`: a loss
/// older than this is taken as permanent and healed even if the brake would still hold.
pub const MELTDOWN_WINDOW: Duration = Duration::from_secs(600);
/// A member this controller created that vanishes within this long of being listed died quickly,
/// as Docker's restart policy counts a container that ran less than 10s. One quick death is
/// healed at once (users and chaos tests kill instances); a slot whose replacement dies quickly
/// again is a crash loop, and its next replacement waits for the config's breaker, as the
/// kubelet's CrashLoopBackOff restarts at once and then doubles its wait.
pub const CRASH_LOOP_WINDOW: Duration = Duration::from_secs(10);
/// Quick deaths in a row of one slot from which its replacement backs off.
pub const CRASH_LOOP_DEATHS: u32 = 2;
/// A rollout fails when provisions of its config fail this many times in a row: once is bad
/// luck, three times is a broken spec or an exhausted quota.
pub const ROLLOUT_MAX_PROVISION_FAILURES: u32 = 3;
/// The most provisions in flight for one group. A pass creates at most this many, counting those
/// still unlisted, so a group of any size costs memory for its members and not for its gap: a
/// group committed at 100,000 from nothing grows a batch per pass, and each batch that lands
/// earns the next pass at once.
pub const MAX_PROVISIONS_IN_FLIGHT: usize = 1_000;

/// Decides one pass for a group. The memory is taken by value (the plan returns the next one)
/// so that a pass does not copy every member's history.
pub fn decide(desired: &Desired, observed: &Observed, memory: Memory, now: Instant) -> Plan {
    let mut pass = Pass {
        d: desired,
        config: memory.rollout.current.clone(),
        now,
        next: memory,
        actions: Vec::new(),
        notes: Vec::new(),
        waiting: Vec::new(),
    };
    pass.bookkeep(observed);
    let tracks = std::mem::take(&mut pass.next.tracks);
    let report = match pass.next.retiring {
        true => pass.retire(observed),
        false => pass.plan(observed, &tracks),
    };
    pass.next.tracks = tracks;
    Plan { actions: pass.actions, next: pass.next, report }
}

/// The state of one decision in progress.
struct Pass<'a> {
    d: &'a Desired,
    /// The config this pass enforces: the rollout's current one when the pass began. A rollback
    /// decided by the pass takes effect at the next.
    config: ConfigHash,
    now: Instant,
    next: Memory,
    actions: Vec<Action>,
    notes: Vec<Note>,
    waiting: Vec<String>,
}

/// Which listed members count, and how.
struct Census<'a> {
    /// Members that count towards the size: not being destroyed; for pets, one per known ID.
    members: Vec<&'a Member>,
    /// Listed instances that physically exist (destroys not yet returned included).
    listed_present: u64,
}

fn go(d: Duration) -> GoDuration {
    GoDuration(Duration::from_secs(d.as_secs()))
}

fn short(hash: &str) -> &str {
    hash.get(..8).unwrap_or(hash)
}

impl<'a> Pass<'a> {
    fn note(&mut self, kind: EventKind, instance: Option<&str>, message: String) {
        self.notes.push(Note { kind, instance: instance.map(str::to_owned), message });
    }

    fn is_current(&self, m: &Member) -> bool {
        m.is_current(&self.config)
    }

    /// In service: a current-config member once it passed its gate (and is not unhealthy); an
    /// old-config member while it is healthy. Old members are not gated: after a restart they
    /// have no history, and taking them as unavailable would let a rollout remove healthy ones.
    fn available(&self, m: &Member, track: &Track) -> bool {
        match self.is_current(m) {
            true => track.is_ready(),
            false => track.health == Health::Healthy,
        }
    }

    fn is_self(&self, m: &Member) -> bool {
        self.d.self_id.is_some() && m.logical_id == self.d.self_id
    }

    /// Step 1: reconcile the memory with the listing.
    fn bookkeep(&mut self, observed: &Observed) {
        let now = self.now;
        let listed: HashMap<&InstanceId, &Member> = observed.members.iter().map(|m| (m.id(), m)).collect();
        let by_token: HashMap<&str, &Member> = observed.members.iter().filter_map(|m| Some((m.token()?, m))).collect();

        let lost: Vec<(InstanceId, Track)> = self
            .next
            .tracks
            .iter()
            .filter(|(id, _)| !listed.contains_key(id) && !self.next.destroys.contains_key(*id))
            .map(|(id, t)| (id.clone(), t.clone()))
            .collect();
        for (id, track) in lost {
            self.note(EventKind::Lost, Some(id.as_str()), format!("{id} vanished"));
            let lived = now.duration_since(track.first_seen);
            let quick_deaths = match track.cause.is_some() && lived < CRASH_LOOP_WINDOW {
                true => track.quick_deaths.saturating_add(1),
                false => 0,
            };
            if quick_deaths >= CRASH_LOOP_DEATHS {
                let message = format!(
                    "{id} vanished {} after it was listed: {quick_deaths} quick deaths in a row of its slot",
                    GoDuration(lived)
                );
                let cap = self.d.policy.max_provision_backoff;
                self.next.breakers.entry(self.config.clone()).or_default().record_failure(message.clone(), now, cap);
                self.next.last_error = Some(message);
            }
            self.next.vanished.insert(id, Vanished { at: now, logical_id: track.logical_id, quick_deaths });
        }
        self.next.vanished.retain(|id, v| !listed.contains_key(id) && now.duration_since(v.at) < MELTDOWN_WINDOW);

        let mut causes: HashMap<InstanceId, (Cause, u32)> = HashMap::new();
        let mut resolved: Vec<ConfigHash> = Vec::new();
        let mut lost_intents: Vec<Intent> = Vec::new();
        let mut redriven: Vec<Intent> = Vec::new();
        // A group being destroyed creates nothing: its restored provisions are waited for.
        let redrive = self.d.promises.idempotent_provision && !self.next.retiring;
        self.next.intents.retain(|intent| {
            let by_id = match &intent.progress {
                Progress::Provisioned(id) => listed.get(id).copied(),
                Progress::Requested | Progress::Restored => None,
            };
            if let Some(member) = by_token.get(intent.token.as_str()).copied().or(by_id) {
                causes.insert(member.id().clone(), (intent.cause, intent.quick_deaths));
                resolved.push(intent.config.clone());
                return false;
            }
            if redrive && intent.progress == Progress::Restored {
                redriven.push(intent.clone());
                return false;
            }
            if now.duration_since(intent.since) >= PROVISION_VISIBILITY_TIMEOUT {
                lost_intents.push(intent.clone());
                return false;
            }
            true
        });
        for intent in redriven {
            self.redrive(intent);
        }
        for config in resolved {
            if let Some(breaker) = self.next.breakers.get_mut(&config) {
                breaker.listed(now);
            }
        }
        let served: Vec<(ConfigHash, u32)> = self
            .next
            .breakers
            .iter()
            .filter(|(_, b)| b.served(now, CRASH_LOOP_WINDOW))
            .map(|(config, b)| (config.clone(), b.failures()))
            .collect();
        for (config, failures) in served {
            self.next.breakers.remove(&config);
            self.note(
                EventKind::Brake,
                None,
                format!("provisions of config {} recovered after {failures} failures", config.short()),
            );
        }
        let cap = self.d.policy.max_provision_backoff;
        for intent in lost_intents {
            let message = format!(
                "provision {} was not listed within {}",
                intent.token,
                GoDuration(PROVISION_VISIBILITY_TIMEOUT)
            );
            if intent.progress != Progress::Restored {
                self.next.breakers.entry(intent.config.clone()).or_default().record_failure(message.clone(), now, cap);
                self.next.last_error = Some(message.clone());
            }
            self.note(EventKind::Error, None, message);
        }

        self.next.destroys.retain(|id, d| match (listed.contains_key(id), d.progress) {
            (false, progress) => progress == DestroyProgress::Requested,
            (true, DestroyProgress::Requested) => true,
            (true, _) => now.duration_since(d.since) < DESTROY_VISIBILITY_TIMEOUT,
        });
        // The listing is the truth about which pet an instance being destroyed is: the slot it
        // holds stays occupied until it is gone.
        for (id, destroying) in &mut self.next.destroys {
            if let Some(member) = listed.get(id) {
                destroying.logical_id.clone_from(&member.logical_id);
            }
        }
        let gate = self.d.policy.gate;
        for m in &observed.members {
            let track = self.next.tracks.entry(m.id().clone()).or_insert_with(|| {
                let created = causes.get(m.id()).copied();
                let mut track = Track::new(now, m.logical_id.clone(), created.map(|(cause, _)| cause));
                track.quick_deaths = created.map_or(0, |(_, deaths)| deaths);
                track
            });
            track.observe(m.health, gate, now);
        }
        self.next.tracks.retain(|id, _| listed.contains_key(id));
    }

    /// Asks again for a provision restored from the journal and not listed: the plugin promises
    /// that the same token never makes a second instance, so asking is safe where waiting would
    /// hold a slot for the visibility timeout. One of another config than the current one is
    /// forgotten instead: if it did happen, its instance is an old-config member like any other.
    fn redrive(&mut self, intent: Intent) {
        if intent.config != self.config {
            let message = format!("forgot provision {}: its config is no longer wanted", intent.token);
            return self.note(EventKind::Provision, Some(intent.token.as_str()), message);
        }
        let message = format!("asking again for provision {}, restored from the journal", intent.token);
        self.note(EventKind::Provision, Some(intent.token.as_str()), message);
        self.actions.push(Action::Provision {
            token: intent.token.clone(),
            sequence: intent.sequence,
            logical_id: intent.logical_id.clone(),
            config: intent.config.clone(),
        });
        self.next.intents.push(Intent { since: self.now, progress: Progress::Requested, ..intent });
    }

    /// Step 2: which members count. Strays (pets with unknown or duplicate IDs) are removed here.
    fn census<'o>(&mut self, observed: &'o Observed, tracks: &HashMap<InstanceId, Track>) -> Census<'o> {
        let listed_present = observed
            .members
            .iter()
            .filter(|m| !self.next.destroys.get(m.id()).is_some_and(Destroying::is_done))
            .count() as u64;
        let active: Vec<&'o Member> =
            observed.members.iter().filter(|m| !self.next.destroys.contains_key(m.id())).collect();
        let members = match &self.d.allocation {
            Allocation::Cattle { .. } => active,
            Allocation::Pets { ids } => {
                let wanted: HashSet<&LogicalId> = ids.iter().collect();
                let mut by_id: HashMap<&LogicalId, Vec<&'o Member>> = HashMap::new();
                for m in active {
                    match &m.logical_id {
                        None => self.waiting.push(format!("{} has no logical ID; left alone", m.id())),
                        Some(lid) if !wanted.contains(lid) => {
                            if !self.is_self(m) {
                                let why = format!("destroying {}: logical ID '{lid}' is not in the spec", m.id());
                                self.destroy(m, DestroyReason::Terminate, true, EventKind::Destroy, why);
                            }
                        }
                        Some(lid) => by_id.entry(lid).or_default().push(m),
                    }
                }
                let mut members = Vec::new();
                for lid in ids {
                    let Some(mut twins) = by_id.remove(lid) else { continue };
                    // Keep the best of duplicates: current config, ready, oldest, lowest ID.
                    twins.sort_by_key(|m| {
                        let t = &tracks[m.id()];
                        (!self.is_current(m), !t.is_ready(), t.first_seen, m.id().clone())
                    });
                    let keep = twins.remove(0);
                    for extra in twins {
                        if !self.is_self(extra) {
                            let why = format!("destroying {}: a second instance of logical ID '{lid}'", extra.id());
                            self.destroy(extra, DestroyReason::Terminate, true, EventKind::Destroy, why);
                        }
                    }
                    members.push(keep);
                }
                members
            }
        };
        Census { members, listed_present }
    }

    fn destroy(&mut self, m: &Member, reason: DestroyReason, drain: bool, kind: EventKind, why: String) {
        self.next.destroys.insert(
            m.id().clone(),
            Destroying {
                since: self.now,
                reason,
                progress: DestroyProgress::Requested,
                logical_id: m.logical_id.clone(),
            },
        );
        self.actions.push(Action::Destroy { instance: m.description.clone(), reason, drain });
        self.note(kind, Some(m.id().as_str()), why);
    }

    /// Steps 2 to 5.
    fn plan(&mut self, observed: &Observed, tracks: &HashMap<InstanceId, Track>) -> Report {
        let d = self.d;
        let policy = &d.policy;
        let now = self.now;
        let size = d.size();
        let census = self.census(observed, tracks);
        let track = |m: &Member| &tracks[m.id()];
        self.destroy_restored(observed, &census.members, tracks, size);

        let (current, old): (Vec<&Member>, Vec<&Member>) = census.members.iter().partition(|m| self.is_current(m));
        let self_old = old.iter().any(|m| self.is_self(m));
        let old_others: Vec<&Member> = old.iter().copied().filter(|m| !self.is_self(m)).collect();
        let current_intents = self.next.intents.iter().filter(|i| i.config == self.config).count() as u64;
        let new_unready = current.iter().filter(|m| !track(m).is_ready()).count() as u64 + current_intents;

        // Step 3: the rollout.
        let progress = RolloutProgress {
            old: old_others.len() as u64,
            self_old,
            settled: new_unready == 0 && self.next.intents.is_empty(),
            max_surge: policy.max_surge,
            max_unavailable: policy.max_unavailable,
        };
        self.roll_rollout(Event::Observed(progress));
        let mut halt = false;
        if self.next.rollout.stage.is_moving()
            && let Some(failure) = self.rollout_failure(&current, tracks)
        {
            halt = true;
            self.roll_rollout(Event::Failed { failure, on_failure: policy.on_failure });
        }

        // Step 4: the meltdown brake.
        let grace = policy.unhealthy_grace;
        let unhealthy_past_grace = |m: &&&Member| track(m).unhealthy_for(now).is_some_and(|u| u >= grace);
        let down = census.members.iter().filter(unhealthy_past_grace).count() as u64 + self.next.vanished.len() as u64;
        let engaged = Meltdown::exceeded(down, size, policy.meltdown_count, policy.meltdown_percent);
        match (&self.next.meltdown, engaged) {
            (Meltdown::Released, true) => {
                let reason = format!(
                    "meltdown brake: {down} of {size} members down (more than {} and more than {}%); healing stopped",
                    policy.meltdown_count, policy.meltdown_percent
                );
                self.note(EventKind::Brake, None, reason.clone());
                self.next.meltdown = Meltdown::Engaged { reason };
            }
            (Meltdown::Engaged { .. }, false) => {
                self.note(EventKind::Brake, None, format!("meltdown brake released: {down} of {size} members down"));
                self.next.meltdown = Meltdown::Released;
            }
            _ => {}
        }
        if let Meltdown::Engaged { reason } = &self.next.meltdown {
            self.waiting.push(reason.clone());
        }

        // Step 5: actions.
        for m in census.members.iter().filter(|m| m.is_bootstrap()) {
            self.actions.push(Action::Adopt { instance: m.id().clone() });
            let message = format!("adopting bootstrap instance {} into config {}", m.id(), self.config.short());
            self.note(EventKind::Adopt, Some(m.id().as_str()), message);
        }
        let mut members: Vec<&Member> = census.members.clone();
        if !halt {
            if let Allocation::Cattle { .. } = d.allocation {
                self.remove_surplus(&mut members, tracks, size);
            }
            self.create(&members, census.listed_present, size, self_old);
            if self.next.rollout.stage.is_moving() && !engaged {
                self.roll(&members, tracks, size);
            }
            if !self.next.rollout.stage.is_moving() && !engaged {
                self.remediate(&members, tracks, size);
            }
        }
        if self_old && old_others.is_empty() {
            self.drain_self(&members);
        }
        self.report(observed, &members, tracks, size)
    }

    /// Sends again the destroys restored from the journal whose instances are still listed: such
    /// a call may never have been sent, and waiting would keep the instance for the visibility
    /// timeout. Sending it again is safe with any plugin (the instance was to go; a second destroy
    /// of a gone one changes nothing), but the decision was taken before the restart, against
    /// health this controller no longer knows: it is carried out only while the members that
    /// count, which already leave these instances out, are enough on their own.
    fn destroy_restored(
        &mut self,
        observed: &Observed,
        members: &[&Member],
        tracks: &HashMap<InstanceId, Track>,
        size: u64,
    ) {
        let restored: Vec<&Member> = observed
            .members
            .iter()
            .filter(|m| self.next.destroys.get(m.id()).is_some_and(|d| d.progress == DestroyProgress::Restored))
            .collect();
        if restored.is_empty() {
            return;
        }
        let available = members.iter().filter(|m| self.available(m, &tracks[m.id()])).count() as u64;
        if available < size.saturating_sub(self.d.policy.max_unavailable) {
            let message =
                format!("{} destroys restored from the journal wait for the group to be available", restored.len());
            return self.waiting.push(message);
        }
        for member in restored {
            self.destroy_again(member);
        }
    }

    /// Sends again the destroy of `member` restored from the journal: it is in flight from now.
    fn destroy_again(&mut self, member: &Member) {
        let Some(destroying) = self.next.destroys.get_mut(member.id()) else { return };
        (destroying.since, destroying.progress) = (self.now, DestroyProgress::Requested);
        let reason = destroying.reason;
        self.actions.push(Action::Destroy { instance: member.description.clone(), reason, drain: true });
        let message = format!("destroying {} again: restored from the journal", member.id());
        self.note(EventKind::Destroy, Some(member.id().as_str()), message);
    }

    /// Why the rollout has failed, if it has.
    fn rollout_failure(&self, current: &[&Member], tracks: &HashMap<InstanceId, Track>) -> Option<String> {
        let policy = &self.d.policy;
        for m in current {
            let t = &tracks[m.id()];
            if let Some(waited) = t.waiting_for(self.now)
                && waited >= policy.health_timeout
            {
                return Some(format!("{} not healthy within {}", m.id(), go(policy.health_timeout)));
            }
            if t.ready_at.is_none()
                && let Some(unhealthy) = t.unhealthy_for(self.now)
                && unhealthy >= policy.unhealthy_grace
            {
                return Some(format!("{} unhealthy for {}", m.id(), go(unhealthy)));
            }
        }
        match self.next.breakers.get(&self.config) {
            Some(Breaker::Open { failures, last_error, .. }) if *failures >= ROLLOUT_MAX_PROVISION_FAILURES => {
                Some(format!("provisions of the new config failed {failures} times in a row: {last_error}"))
            }
            _ => None,
        }
    }

    /// A group being destroyed: every listed instance is drained and destroyed, the controller's
    /// own instance last, within the executor's bound like any destroy; nothing is created and
    /// nothing rolls. Provisions still in flight are waited for (they may yet make an instance,
    /// which is destroyed once listed). Retired once nothing is listed but instances whose
    /// destroy returned, and nothing is in flight.
    fn retire(&mut self, observed: &Observed) -> Report {
        let others_left = observed.members.iter().any(|m| !self.is_self(m));
        for m in &observed.members {
            if self.is_self(m) && others_left {
                continue;
            }
            match self.next.destroys.get(m.id()).map(|d| d.progress) {
                None => {
                    let why = format!("destroying {}: the group is being destroyed", m.id());
                    self.destroy(m, DestroyReason::Terminate, true, EventKind::Destroy, why);
                }
                Some(DestroyProgress::Restored) => self.destroy_again(m),
                Some(_) => {}
            }
        }
        let left = observed
            .members
            .iter()
            .filter(|m| !self.next.destroys.get(m.id()).is_some_and(Destroying::is_done))
            .count();
        let retired = left == 0 && self.next.intents.is_empty() && self.next.destroys_in_flight() == 0;
        if !retired {
            self.waiting.push(format!(
                "destroying the group: {left} instances left, {} provisions in flight",
                self.next.intents.len()
            ));
        }
        Report {
            phase: Phase::Scaling,
            counts: Counts {
                desired: 0,
                actual: observed.members.len() as u64,
                healthy: observed.members.iter().filter(|m| m.health == Health::Healthy).count() as u64,
                old_config: 0,
                in_flight: self.next.intents.len() as u64,
            },
            rollout: RolloutStatus {
                state: RolloutState::Steady,
                target: self.config.to_string(),
                updated: 0,
                total: 0,
                reason: None,
            },
            notes: std::mem::take(&mut self.notes),
            waiting: std::mem::take(&mut self.waiting),
            retired,
        }
    }

    /// Feeds the rollout one event. A failure becomes the group's last error; the decision's
    /// own events are never refused.
    fn roll_rollout(&mut self, event: Event) {
        let failed = matches!(event, Event::Failed { .. });
        if let Ok(Some(message)) = self.next.roll(event, self.now) {
            if failed {
                self.next.last_error = Some(message.clone());
            }
            self.note(EventKind::Rollout, None, message);
        }
    }

    /// Scale-down: old config first, then unhealthy or unready, then the newest; never self.
    fn remove_surplus(&mut self, members: &mut Vec<&Member>, tracks: &HashMap<InstanceId, Track>, size: u64) {
        let slack = match self.next.rollout.stage.surge() {
            Surge::None => 0,
            Surge::Keep | Surge::Create => self.d.policy.max_surge,
        };
        // Only listed members count here: a provision still in flight may never materialize (it
        // may have been lost in a crash), and a member must not go to make room for it. One
        // that does materialize beyond the size is removed once listed.
        let surplus = (members.len() as u64).saturating_sub(size.saturating_add(slack));
        if surplus == 0 {
            return;
        }
        let mut candidates: Vec<&Member> = members.iter().copied().filter(|m| !self.is_self(m)).collect();
        candidates.sort_by_key(|m| {
            let t = &tracks[m.id()];
            let health_rank = match (t.health, t.is_ready()) {
                (Health::Unhealthy, _) => 0,
                (_, false) => 1,
                (_, true) => 2,
            };
            (self.is_current(m), health_rank, Reverse(t.first_seen), m.id().clone())
        });
        for victim in candidates.into_iter().take(surplus as usize) {
            let why = format!("destroying {}: scaling down to {size}", victim.id());
            self.destroy(victim, DestroyReason::Terminate, true, EventKind::Destroy, why);
            members.retain(|m| m.id() != victim.id());
        }
    }

    /// Creates what is missing, within surge, brakes and backoff.
    fn create(&mut self, members: &[&Member], listed_present: u64, size: u64, self_old: bool) {
        let d = self.d;
        let moving = self.next.rollout.stage.surge() == Surge::Create;
        let present = listed_present + self.next.intents.len() as u64;
        let room = MAX_PROVISIONS_IN_FLIGHT.saturating_sub(self.next.intents.len());
        // Each create is a logical ID to fill (pets) or none (cattle); heals come first. Only a
        // batch of `room` is planned, and `missing` counts the rest without listing it.
        let missing: u64;
        let mut wanted: Vec<(Option<LogicalId>, bool)> = match &d.allocation {
            Allocation::Cattle { .. } => {
                let current = members.iter().filter(|m| self.is_current(m)).count() as u64;
                let new_total = current + self.next.intents.iter().filter(|i| i.config == self.config).count() as u64;
                let want_new = size - u64::from(self_old && size > 0);
                let cap = size.saturating_add(if moving { d.policy.max_surge } else { 0 });
                missing = want_new.saturating_sub(new_total).min(cap.saturating_sub(present));
                let batch = missing.min(room as u64);
                let heals = (self.next.vanished.len() as u64).min(batch);
                (0..batch).map(|n| (None, n < heals)).collect()
            }
            Allocation::Pets { ids } => {
                let occupied: HashSet<&LogicalId> = members
                    .iter()
                    .filter_map(|m| m.logical_id.as_ref())
                    .chain(self.next.intents.iter().filter_map(|i| i.logical_id.as_ref()))
                    .chain(self.next.destroys.values().filter(|x| !x.is_done()).filter_map(|x| x.logical_id.as_ref()))
                    .collect();
                let vanished: HashSet<&LogicalId> =
                    self.next.vanished.values().filter_map(|v| v.logical_id.as_ref()).collect();
                let empty = || ids.iter().filter(|lid| !occupied.contains(lid));
                missing = empty().count() as u64;
                empty().take(room).map(|lid| (Some(lid.clone()), vanished.contains(lid))).collect()
            }
        };
        if missing > wanted.len() as u64 {
            self.waiting.push(format!(
                "{} more members to create once the {MAX_PROVISIONS_IN_FLIGHT} in flight are listed",
                missing - wanted.len() as u64
            ));
        }
        if wanted.is_empty() {
            return;
        }
        if let Meltdown::Engaged { .. } = self.next.meltdown {
            let held = wanted.iter().filter(|(_, heal)| *heal).count();
            if held > 0 {
                self.waiting.push(format!("{held} replacements of vanished members held by the meltdown brake"));
            }
            wanted.retain(|(_, heal)| !heal);
        }
        match self.next.breakers.get(&self.config) {
            Some(Breaker::Open { failures, until, last_error }) if self.now < *until => {
                self.waiting.push(format!(
                    "provisions of config {} back off for {} after {failures} failures: {last_error}",
                    self.config.short(),
                    go(until.duration_since(self.now))
                ));
                return;
            }
            Some(Breaker::Open { .. }) => {
                // Half-open: one probe at a time until a provision succeeds.
                let probing = self.next.intents.iter().any(|i| i.config == self.config);
                wanted.truncate(usize::from(!probing));
            }
            _ => {}
        }
        let rolling_cause = moving && !members.iter().all(|m| self.is_current(m));
        for (logical_id, heal) in wanted {
            let mut quick_deaths = 0;
            let cause = if heal {
                quick_deaths = self.consume_vanished(logical_id.as_ref());
                Cause::Heal
            } else if rolling_cause {
                Cause::Rollout
            } else {
                Cause::Scale
            };
            let (token, counter) = self.next.tokens.take();
            // A pet's sequence is its place in the spec, stable across replacements.
            let sequence = match (&d.allocation, &logical_id) {
                (Allocation::Pets { ids }, Some(lid)) => ids.iter().position(|i| i == lid).unwrap_or_default() as u64,
                _ => counter,
            };
            let why = match (&logical_id, cause) {
                (Some(lid), Cause::Heal) => format!("provisioning '{lid}' to replace its vanished instance"),
                (Some(lid), _) => format!("provisioning '{lid}' with config {}", self.config.short()),
                (None, Cause::Heal) => "provisioning a replacement for a vanished member".to_owned(),
                (None, Cause::Rollout) => {
                    format!("provisioning a member of config {} for the rollout", self.config.short())
                }
                (None, _) => format!("provisioning a member to reach size {size}"),
            };
            self.note(EventKind::Provision, Some(token.as_str()), why);
            self.actions.push(Action::Provision {
                token: token.clone(),
                sequence,
                logical_id: logical_id.clone(),
                config: self.config.clone(),
            });
            self.next.intents.push(Intent {
                token,
                sequence,
                logical_id,
                config: self.config.clone(),
                cause,
                since: self.now,
                progress: Progress::Requested,
                quick_deaths,
            });
        }
    }

    /// Forgets the vanished member a replacement is for; returns its slot's quick deaths.
    fn consume_vanished(&mut self, logical_id: Option<&LogicalId>) -> u32 {
        let key = match logical_id {
            Some(lid) => self.next.vanished.iter().find(|(_, v)| v.logical_id.as_ref() == Some(lid)),
            None => self.next.vanished.iter().min_by_key(|(_, v)| v.at),
        }
        .map(|(id, _)| id.clone());
        key.and_then(|key| self.next.vanished.remove(&key)).map_or(0, |v| v.quick_deaths)
    }

    /// Replaces old-config members within MaxUnavailable, counting unready new members as
    /// unavailable (the rule of Kubernetes Deployments): unready old members go first.
    fn roll(&mut self, members: &[&Member], tracks: &HashMap<InstanceId, Track>, size: u64) {
        let policy = &self.d.policy;
        let min_available = size.saturating_sub(policy.max_unavailable);
        let intents = self.next.intents.iter().filter(|i| i.config == self.config).count() as u64;
        let all = members.len() as u64 + self.next.intents.len() as u64;
        let new_unready =
            members.iter().filter(|m| self.is_current(m) && !tracks[m.id()].is_ready()).count() as u64 + intents;
        let mut budget = all.saturating_sub(min_available).saturating_sub(new_unready);
        let mut available = members.iter().filter(|m| self.available(m, &tracks[m.id()])).count() as u64;
        let mut old: Vec<&Member> =
            members.iter().copied().filter(|m| !self.is_current(m) && !self.is_self(m)).collect();
        let order: HashMap<&LogicalId, usize> = match &self.d.allocation {
            Allocation::Pets { ids } => ids.iter().enumerate().map(|(i, lid)| (lid, i)).collect(),
            Allocation::Cattle { .. } => HashMap::new(),
        };
        old.sort_by_key(|m| {
            let position = m.logical_id.as_ref().and_then(|l| order.get(l)).copied().unwrap_or(usize::MAX);
            (self.available(m, &tracks[m.id()]), position, m.id().clone())
        });
        let drain = policy.drain_on_rollout;
        for victim in old {
            if budget == 0 {
                break;
            }
            if self.available(victim, &tracks[victim.id()]) {
                if available <= min_available {
                    break;
                }
                available -= 1;
            }
            budget -= 1;
            let why =
                format!("replacing {} (config {}) for the rollout", victim.id(), victim.config().map_or("none", short));
            self.destroy(victim, DestroyReason::RollingUpdate, drain, EventKind::Destroy, why);
        }
        if new_unready > 0 {
            self.waiting.push(format!("{new_unready} new members have not passed the health gate yet"));
        }
    }

    /// Replaces members unhealthy past the grace period, a few at a time, only while the group
    /// is otherwise whole.
    fn remediate(&mut self, members: &[&Member], tracks: &HashMap<InstanceId, Track>, size: u64) {
        let policy = &self.d.policy;
        let whole = self.next.intents.is_empty()
            && self.next.destroys_in_flight() == 0
            && members.len() as u64 >= size
            && !self.actions.iter().any(|a| matches!(a, Action::Provision { .. } | Action::Destroy { .. }));
        let mut victims: Vec<(&Member, Duration)> = members
            .iter()
            .copied()
            .filter(|m| !self.is_self(m))
            .filter_map(|m| Some((m, tracks[m.id()].unhealthy_for(self.now)?)))
            .filter(|(_, unhealthy)| *unhealthy >= policy.unhealthy_grace)
            .collect();
        if victims.is_empty() {
            return;
        }
        if !whole {
            self.waiting.push(format!("{} unhealthy members wait for the group to be whole", victims.len()));
            return;
        }
        victims.sort_by_key(|(m, unhealthy)| (Reverse(*unhealthy), m.id().clone()));
        let cap = policy.max_provision_backoff;
        for (victim, unhealthy) in victims.into_iter().take(policy.max_unhealthy_replacements as usize) {
            if tracks[victim.id()].ready_at.is_none()
                && let Some(config) = victim.config()
            {
                let message = format!("{} never became healthy", victim.id());
                self.next.breakers.entry(ConfigHash::from(config)).or_default().record_failure(message, self.now, cap);
            }
            let why = format!("replaced {}: unhealthy for {}", victim.id(), go(unhealthy));
            self.destroy(victim, DestroyReason::Terminate, true, EventKind::Remediate, why);
        }
    }

    fn drain_self(&mut self, members: &[&Member]) {
        let Some(me) = members.iter().find(|m| self.is_self(m)) else { return };
        self.waiting
            .push(format!("{} runs this controller and an older config: another controller must replace it", me.id()));
        if self.next.drained_self.as_ref() == Some(me.id()) || !self.d.policy.drain_on_rollout {
            return;
        }
        self.next.drained_self = Some(me.id().clone());
        self.actions.push(Action::Drain { instance: me.description.clone() });
        self.note(
            EventKind::Drain,
            Some(me.id().as_str()),
            format!("draining {}: the last member on an older config is this controller's own", me.id()),
        );
    }

    fn report(
        &mut self,
        observed: &Observed,
        members: &[&Member],
        tracks: &HashMap<InstanceId, Track>,
        size: u64,
    ) -> Report {
        let current = members.iter().filter(|m| self.is_current(m)).count() as u64;
        let counts = Counts {
            desired: size,
            actual: observed.members.len() as u64,
            healthy: observed.members.iter().filter(|m| m.health == Health::Healthy).count() as u64,
            old_config: members.len() as u64 - current,
            in_flight: self.next.intents.len() as u64,
        };
        let unhealthy = members.iter().any(|m| tracks[m.id()].health == Health::Unhealthy);
        let backing_off = matches!(self.next.breakers.get(&self.config), Some(Breaker::Open { .. }));
        let busy = !self.actions.is_empty()
            || !self.next.intents.is_empty()
            || self.next.destroys_in_flight() > 0
            || (members.len() as u64) < size;
        let phase = match &self.next.rollout.stage {
            Stage::Paused { .. } => Phase::Paused,
            Stage::Rolling | Stage::RollingBack { .. } => Phase::Rolling,
            Stage::Steady if self.next.meltdown != Meltdown::Released || backing_off || unhealthy => Phase::Degraded,
            Stage::Steady if busy => Phase::Scaling,
            Stage::Steady => Phase::Converged,
        };
        if phase == Phase::Converged {
            self.next.last_error = None;
        }
        let state = match &self.next.rollout.stage {
            Stage::Steady => RolloutState::Steady,
            Stage::Rolling => RolloutState::Rolling,
            Stage::Paused { .. } => RolloutState::Paused,
            Stage::RollingBack { .. } => RolloutState::RollingBack,
        };
        Report {
            phase,
            counts,
            rollout: RolloutStatus {
                state,
                target: self.config.to_string(),
                updated: current,
                total: size,
                reason: self.next.rollout.stage.reason(),
            },
            notes: std::mem::take(&mut self.notes),
            waiting: std::mem::take(&mut self.waiting),
            retired: false,
        }
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
