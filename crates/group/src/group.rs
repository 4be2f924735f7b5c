//! One group's task: the only code that changes a group's memory, so a group is never
//! reconciled concurrently with itself.
//!
//! The task wakes on a poll tick, on a command (commit, scale, destroy instances, rollout
//! control, nudge), on a change the instance plugin pushes to a member, and on the end of its
//! running operations, and then runs a pass: observe, [`decide`], journal, execute. It is never
//! told why it runs: every pass looks at the whole group, and a failed pass is retried by the
//! next one.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use infrakit_spi::error::chain;
use infrakit_spi::group::{GroupId, GroupStatus, RolloutStatus};
use infrakit_spi::instance::{Description, DestroyReason, InstanceId, LogicalId, Promises};
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::{Error, Result};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};

use crate::authority::Authority;
use crate::decide::decide;
use crate::events::{EventLog, GroupEvent, WallClock};
use crate::execute::{Executor, Outcome};
use crate::journal::{FailedSpec, Journal, JournalEntry};
use crate::listen::Listener;
use crate::memory::{DestroyProgress, Destroying, Memory, Progress};
use crate::model::Desired;
use crate::observe::observe;
use crate::plan::{Action, EventKind, Plan};
use crate::rollout::{Pause, Rollout};
use crate::target::Target;

/// Commands waiting for a busy group's task; senders wait beyond this.
pub const COMMAND_QUEUE: usize = 64;

/// What every group's task shares.
pub struct Context {
    /// Finds plugins named in journaled specs.
    pub plugins: Arc<dyn PluginLookup>,
    /// Where tasks keep what tags cannot carry.
    pub journal: Arc<dyn Journal>,
    /// Live subscribers to every group's events.
    pub events: broadcast::Sender<GroupEvent>,
    /// The instance running this controller.
    pub self_id: Option<LogicalId>,
    /// The pass interval.
    pub poll_interval: Duration,
    /// The bound on concurrent instance operations when a spec sets none; 0 is no bound.
    pub max_parallel: u64,
    /// Stamps events.
    pub clock: WallClock,
    /// Whether passes may act now.
    pub authority: Arc<dyn Authority>,
}

/// A rollout control.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutOp {
    /// Stop replacing members.
    Pause,
    /// Go on, or retry a rolled-back spec.
    Resume,
    /// Restore the previous spec.
    Abort,
    /// Only report.
    Status,
}

/// A request to a group's task.
pub enum Command {
    /// A new spec (or the same one again).
    Commit {
        /// The spec.
        target: Arc<Target>,
        /// A text replacing the plan's, when the commit is not applied as planned.
        reply: oneshot::Sender<Option<String>>,
    },
    /// Destroy these members and shrink the group by as many.
    DestroyInstances {
        /// The members, as listed.
        instances: Vec<Description>,
        /// When all destroys returned.
        reply: oneshot::Sender<Result<()>>,
    },
    /// Control the rollout.
    Rollout {
        /// What to do.
        op: RolloutOp,
        /// The rollout's status after it.
        reply: oneshot::Sender<Result<RolloutStatus>>,
    },
    /// Run a pass now.
    Nudge,
    /// Stop managing the group; running operations are abandoned.
    Stop {
        /// When stopped.
        reply: oneshot::Sender<()>,
    },
}

/// What readers see of a group without asking its task.
pub struct Snapshot {
    /// The spec being enforced.
    pub target: Arc<Target>,
    /// The last pass's status (decisions are filled from the log on read).
    pub status: GroupStatus,
    /// Whether the last pass found nothing to do.
    pub converged: bool,
    /// Recent events.
    pub log: EventLog,
}

/// A group's snapshot, written by its task, read by anyone.
pub struct Shared(Mutex<Snapshot>);

impl Shared {
    /// Reads or writes the snapshot. Never held across an await.
    pub fn lock(&self) -> MutexGuard<'_, Snapshot> {
        // Writers replace whole fields, so a panic mid-write leaves a readable snapshot.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// What was last journaled, kept light: the specs by their hashes.
struct Saved {
    light: JournalEntry,
    stable: Option<String>,
    failed: Option<(String, String)>,
}

/// A caller waiting for some destroys to return.
struct Waiter {
    pending: HashSet<InstanceId>,
    errors: Vec<String>,
    reply: Option<oneshot::Sender<Result<()>>>,
}

/// The state owned by one group's task.
pub struct GroupTask {
    id: GroupId,
    target: Arc<Target>,
    stable: Option<Arc<Target>>,
    failed: Option<(Arc<Target>, String)>,
    memory: Memory,
    executor: Executor,
    saved: Option<Saved>,
    shared: Arc<Shared>,
    context: Arc<Context>,
    waiters: Vec<Waiter>,
    /// Whether an operation of the running batch failed: then the next pass waits for the tick
    /// rather than retrying at once, so a failing backend is not hammered.
    batch_failed: bool,
    /// Whether a provision or a destroy of the running batch succeeded. Only those change what
    /// the next pass decides (an intent or a destroy is remembered until the listing shows it), so
    /// only they earn a pass before the tick; a batch of labels or drains waits, and a pass never
    /// repeats an action whose effect the listing does not show yet.
    batch_progressed: bool,
    /// Changes the instance plugin pushes, which ask for a pass before the tick.
    listener: Listener,
    /// What the instance plugin promises, once asked: only provisions restored from the journal
    /// need to know.
    promises: Option<Promises>,
}

/// A running group: how to reach its task.
pub struct Handle {
    /// Commands to the task.
    pub commands: mpsc::Sender<Command>,
    /// Its snapshot.
    pub shared: Arc<Shared>,
    /// The task.
    pub task: JoinHandle<()>,
}

impl GroupTask {
    /// Starts managing a group.
    pub fn start(target: Arc<Target>, context: Arc<Context>, token_prefix: String) -> Handle {
        let shared = Arc::new(Shared(Mutex::new(Snapshot {
            target: target.clone(),
            status: GroupStatus::default(),
            converged: false,
            log: EventLog::default(),
        })));
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let max_parallel = target.policy.max_parallel.unwrap_or(context.max_parallel);
        let task = GroupTask {
            id: target.id.clone(),
            target,
            stable: None,
            failed: None,
            memory: Memory::new(token_prefix),
            executor: Executor::new(max_parallel),
            saved: None,
            shared: shared.clone(),
            context,
            waiters: Vec::new(),
            batch_failed: false,
            batch_progressed: false,
            listener: Listener::default(),
            promises: None,
        };
        Handle { commands, shared, task: tokio::spawn(task.run(receiver)) }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        self.restore().await;
        let mut ticker = tokio::time::interval(self.context.poll_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            self.listener.follow(&self.target.instance);
            // Biased: commands first, then outcomes, then changes, then the tick, so a run is
            // reproducible.
            let reconcile = tokio::select! {
                biased;
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Stop { reply }) => {
                        self.executor.abort();
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.handle(command).await,
                },
                Some(outcome) = self.executor.next() => {
                    let progress = matches!(
                        outcome,
                        Outcome::Provisioned { result: Ok(_), .. } | Outcome::Destroyed { result: Ok(()), .. }
                    );
                    self.batch_failed |= !self.apply(outcome);
                    self.batch_progressed |= progress;
                    // One pass when a batch is done, not one per operation.
                    if self.executor.is_idle() {
                        let pass = self.batch_progressed && !self.batch_failed;
                        (self.batch_failed, self.batch_progressed) = (false, false);
                        pass
                    } else {
                        false
                    }
                }
                Some(ours) = self.listener.next(&self.id) => ours,
                _ = ticker.tick() => {
                    self.listener.reopen();
                    true
                }
            };
            if reconcile {
                self.reconcile().await;
                // A pass just looked at everything: the next periodic one is a full interval away.
                ticker.reset();
            }
        }
        self.executor.abort();
    }

    /// Reads what the last run of this group journaled.
    async fn restore(&mut self) {
        let entry = match self.context.journal.load(&self.id).await {
            Ok(Some(entry)) => entry,
            Ok(None) => return,
            Err(e) => {
                let message = format!("cannot read the journal: {}", chain(&e));
                self.emit(EventKind::Error, None, message, Instant::now());
                return;
            }
        };
        let now = Instant::now();
        entry.restore(&mut self.memory, now, self.target.policy.max_provision_backoff);
        let plugins = self.context.plugins.as_ref();
        self.stable = entry.stable.as_ref().and_then(|s| Target::resolve(s, plugins).ok()).map(Arc::new);
        self.failed = entry
            .failed
            .as_ref()
            .and_then(|f| Some((Arc::new(Target::resolve(&f.spec, plugins).ok()?), f.reason.clone())));
        if let (Some((failed, reason)), Some(stable)) = (self.failed.clone(), self.stable.clone())
            && failed.hash == self.target.hash
        {
            // The manager re-commits its stored spec on start; that spec was rolled back.
            let message = format!("keeping config {} restored by a rollback ({reason})", stable.hash);
            self.target = Arc::new(self.resize(&stable, self.target.properties.allocation.size));
            self.emit(EventKind::Rollout, None, message, now);
        }
        let rollout = match &self.memory.rollout {
            Rollout::Steady => "steady".to_owned(),
            Rollout::Rolling => "rolling".to_owned(),
            Rollout::Paused { .. } | Rollout::RollingBack { .. } => self.memory.rollout.reason().unwrap_or_default(),
        };
        let message = format!(
            "restored from the journal: {} provisions and {} destroys in flight, rollout {rollout}",
            self.memory.intents.len(),
            self.memory.destroys.len(),
        );
        self.emit(EventKind::Rollout, None, message, now);
    }

    /// A copy of `target` with the size of a cattle group replaced.
    fn resize(&self, target: &Target, size: u64) -> Target {
        if target.is_pets() { target.resized(target.properties.allocation.size) } else { target.resized(size) }
    }

    /// Handles a command; returns whether to run a pass now.
    async fn handle(&mut self, command: Command) -> bool {
        match command {
            Command::Commit { target, reply } => {
                let text = self.commit(target);
                let _ = reply.send(text);
                true
            }
            Command::DestroyInstances { instances, reply } => {
                self.destroy_instances(instances, reply).await;
                false
            }
            Command::Rollout { op, reply } => {
                let result = self.control(op);
                if result.is_ok() {
                    self.reconcile().await;
                }
                let _ = reply.send(result.map(|()| self.shared.lock().status.rollout.clone()));
                false
            }
            Command::Nudge => true,
            // Handled by the loop, which owns the receiver.
            Command::Stop { reply } => {
                let _ = reply.send(());
                false
            }
        }
    }

    fn commit(&mut self, target: Arc<Target>) -> Option<String> {
        let now = Instant::now();
        if let Some((failed, reason)) = &self.failed
            && failed.hash == target.hash
            && self.target.hash != target.hash
        {
            let text = format!(
                "Not rolled out again: the rollout of this spec was rolled back ({reason}); resume the rollout to retry it"
            );
            self.target = Arc::new(self.resize(&self.target, target.properties.allocation.size));
            return Some(text);
        }
        if target.hash != self.target.hash {
            if !matches!(self.memory.rollout, Rollout::Paused { reason: Pause::Operator }) {
                self.memory.rollout = Rollout::Steady;
            }
            self.failed = None;
            let message = format!("committed config {} (was {})", target.hash, self.target.hash);
            self.emit(EventKind::Commit, None, message, now);
        }
        self.executor.set_limit(target.policy.max_parallel.unwrap_or(self.context.max_parallel));
        let (from, to) = (self.target.properties.target_size(), target.properties.target_size());
        if from != to {
            self.emit(EventKind::Commit, None, format!("committed size {to} (was {from})"), now);
        }
        if target.hash != self.target.hash || target.properties.allocation != self.target.properties.allocation {
            // Until the next pass has looked, a changed group is not converged (as the original,
            // which set its update plan before answering).
            self.shared.lock().converged = false;
        }
        self.target = target;
        None
    }

    fn control(&mut self, op: RolloutOp) -> Result<()> {
        let now = Instant::now();
        let id = self.id.clone();
        match (op, &self.memory.rollout) {
            (RolloutOp::Status, _) => return Ok(()),
            (RolloutOp::Pause, Rollout::Paused { .. }) => return Ok(()),
            (RolloutOp::Pause, _) => {
                self.memory.rollout = Rollout::Paused { reason: Pause::Operator };
                self.emit(EventKind::Rollout, None, "rollout paused by an operator".to_owned(), now);
            }
            (RolloutOp::Resume, Rollout::Paused { .. }) => {
                self.memory.rollout = Rollout::Rolling;
                self.fresh_start(now);
                self.emit(EventKind::Rollout, None, "rollout resumed by an operator".to_owned(), now);
            }
            (RolloutOp::Resume, Rollout::Steady) if self.failed.is_some() => {
                let Some((failed, _)) = self.failed.take() else { return Ok(()) };
                self.target = Arc::new(self.resize(&failed, self.target.properties.allocation.size));
                self.fresh_start(now);
                let message = format!("retrying the rollout of config {} by an operator", self.target.hash);
                self.emit(EventKind::Rollout, None, message, now);
            }
            (RolloutOp::Resume, _) => return Err(Error::invalid(format!("the rollout of group '{id}' is not paused"))),
            (RolloutOp::Abort, Rollout::Steady) => {
                return Err(Error::invalid(format!("group '{id}' has no rollout in progress")));
            }
            (RolloutOp::Abort, Rollout::RollingBack { .. }) => {
                return Err(Error::invalid(format!("group '{id}' is already rolling back")));
            }
            (RolloutOp::Abort, Rollout::Rolling | Rollout::Paused { .. }) => {
                let Some(stable) = self.stable.clone().filter(|s| s.hash != self.target.hash) else {
                    return Err(Error::invalid(format!("group '{id}' has no previous spec to roll back to")));
                };
                let reason = "aborted by an operator".to_owned();
                self.failed = Some((self.target.clone(), reason.clone()));
                self.target = Arc::new(self.resize(&stable, self.target.properties.allocation.size));
                self.memory.rollout = Rollout::RollingBack { reason: reason.clone() };
                let message = format!("rollout {reason}; rolling back to config {}", stable.hash);
                self.emit(EventKind::Rollout, None, message, now);
            }
        }
        Ok(())
    }

    /// Gives the current config a fresh start: its breaker closed, its unready members' health
    /// timeouts restarted.
    fn fresh_start(&mut self, now: Instant) {
        self.memory.breakers.remove(&self.target.hash);
        for track in self.memory.tracks.values_mut().filter(|t| t.ready_at.is_none()) {
            track.first_seen = now;
            track.unhealthy_since = None;
        }
    }

    async fn destroy_instances(&mut self, instances: Vec<Description>, reply: oneshot::Sender<Result<()>>) {
        let now = Instant::now();
        let mut actions = Vec::new();
        for instance in instances {
            self.memory.destroys.insert(
                instance.id.clone(),
                Destroying {
                    since: now,
                    reason: DestroyReason::Terminate,
                    progress: DestroyProgress::Requested,
                    logical_id: instance.effective_logical_id(),
                },
            );
            actions.push(Action::Destroy { instance, reason: DestroyReason::Terminate, drain: true });
        }
        let asked = actions.len();
        self.journal(&mut actions, now).await;
        if actions.len() < asked {
            let error = self.memory.last_error.clone().unwrap_or_default();
            let _ = reply.send(Err(Error::unavailable(error)));
            return;
        }
        let mut pending = HashSet::new();
        for action in actions {
            if let Action::Destroy { instance, .. } = &action {
                let message = format!("destroying {}: asked by an operator", instance.id);
                self.emit(EventKind::Destroy, Some(instance.id.as_str()), message, now);
                pending.insert(instance.id.clone());
            }
            self.executor.run(action, self.target.clone());
        }
        let size = self.target.properties.allocation.size.saturating_sub(pending.len() as u64);
        self.target = Arc::new(self.resize(&self.target, size));
        self.shared.lock().target = self.target.clone();
        self.waiters.push(Waiter { pending, errors: Vec::new(), reply: Some(reply) });
    }

    /// Applies the outcome of one operation to the memory; returns whether it succeeded.
    fn apply(&mut self, outcome: Outcome) -> bool {
        let now = Instant::now();
        match outcome {
            Outcome::Provisioned { token, result: Ok(id) } => {
                let message = format!("provisioned {id}");
                self.emit(EventKind::Provision, Some(id.as_str()), message, now);
                self.memory.provision_succeeded(&token, id);
                true
            }
            Outcome::Provisioned { token, result: Err(e) } => {
                let cap = self.target.policy.max_provision_backoff;
                let failures = self.memory.provision_failed(&token, e.message(), now, cap);
                let message = format!("provision {token} failed ({failures} in a row): {e}");
                self.emit(EventKind::Error, Some(&token), message, now);
                false
            }
            Outcome::Destroyed { id, result } => {
                let error = result.err().map(|e| e.to_string());
                if let Some(e) = &error {
                    self.emit(EventKind::Error, Some(id.as_str()), e.clone(), now);
                }
                self.memory.destroy_finished(&id, error.as_deref());
                let ok = error.is_none();
                self.settle_waiters(&id, error);
                ok
            }
            Outcome::Drained { id, result: Err(e) } | Outcome::Adopted { id, result: Err(e) } => {
                self.memory.last_error = Some(e.to_string());
                self.emit(EventKind::Error, Some(id.as_str()), e.to_string(), now);
                false
            }
            Outcome::Drained { .. } | Outcome::Adopted { .. } => true,
        }
    }

    fn settle_waiters(&mut self, id: &InstanceId, error: Option<String>) {
        for waiter in &mut self.waiters {
            if waiter.pending.remove(id) {
                waiter.errors.extend(error.clone());
                if waiter.pending.is_empty()
                    && let Some(reply) = waiter.reply.take()
                {
                    let result = match waiter.errors.is_empty() {
                        true => Ok(()),
                        false => Err(Error::failed(waiter.errors.join("; "))),
                    };
                    let _ = reply.send(result);
                }
            }
        }
        self.waiters.retain(|w| w.reply.is_some());
    }

    fn desired(&self) -> Desired {
        let target = &self.target;
        Desired {
            group: self.id.clone(),
            config: target.hash.clone(),
            previous: self.stable.as_ref().filter(|s| s.hash != target.hash).map(|s| s.hash.clone()),
            allocation: target.allocation(),
            policy: target.policy.clone(),
            self_id: self.context.self_id.clone(),
            promises: self.promises.unwrap_or_default(),
        }
    }

    /// One pass: observe, decide, journal, execute; nothing while the controller may not act.
    async fn reconcile(&mut self) {
        let now = Instant::now();
        if !self.context.authority.may_act() {
            self.hold();
            return;
        }
        let observed = match observe(&self.target).await {
            Ok(observed) => observed,
            Err(e) => {
                let message = format!("cannot list the members of group '{}': {e}", self.id);
                if self.memory.last_error.as_ref() != Some(&message) {
                    self.emit(EventKind::Error, None, message.clone(), now);
                }
                self.memory.last_error = Some(message.clone());
                let mut snapshot = self.shared.lock();
                snapshot.status.last_error = Some(message);
                snapshot.converged = false;
                return;
            }
        };
        if self.promises.is_none() && self.memory.intents.iter().any(|i| i.progress == Progress::Restored) {
            self.promises = match self.target.instance.promises().await {
                Ok(promises) => Some(promises),
                Err(e) => {
                    tracing::warn!(group = %self.id, "cannot ask the instance plugin what it promises: {e}");
                    None
                }
            };
        }
        let memory = std::mem::take(&mut self.memory);
        let Plan { mut actions, next, report } = decide(&self.desired(), &observed, memory, now);
        self.memory = next;
        for note in &report.notes {
            self.emit(note.kind, note.instance.as_deref(), note.message.clone(), now);
        }
        if report.roll_back {
            self.roll_back();
        }
        if self.memory.rollout == Rollout::Steady && report.counts.old_config == 0 {
            self.stable = Some(self.target.clone());
        }
        self.journal(&mut actions, now).await;
        // Observing and journaling wait on others: leadership may have lapsed meanwhile.
        if !actions.is_empty() && !self.context.authority.may_act() {
            self.hold();
            return;
        }
        for action in actions {
            self.executor.run(action, self.target.clone());
        }
        let mut snapshot = self.shared.lock();
        snapshot.target = self.target.clone();
        snapshot.converged = report.converged();
        snapshot.status = GroupStatus {
            phase: report.phase,
            counts: report.counts,
            rollout: report.rollout,
            waiting: report.waiting,
            last_error: self.memory.last_error.clone(),
            decisions: Vec::new(),
        };
    }

    /// Says that the group is held: its controller may not act now.
    fn hold(&mut self) {
        const HELD: &str = "holding: this controller's leadership is not confirmed";
        let mut snapshot = self.shared.lock();
        if snapshot.status.waiting.iter().all(|w| w != HELD) {
            tracing::warn!(group = %self.id, "{HELD}");
        }
        snapshot.converged = false;
        snapshot.status.waiting = vec![HELD.to_owned()];
    }

    /// Restores the stable spec after a failed rollout.
    fn roll_back(&mut self) {
        let reason = self.memory.rollout.reason().unwrap_or_default();
        if let Some(stable) = self.stable.clone().filter(|s| s.hash != self.target.hash) {
            self.failed = Some((self.target.clone(), reason));
            self.target = Arc::new(self.resize(&stable, self.target.properties.allocation.size));
        }
    }

    /// Saves the journal if it changed. Provisions and destroys start only once it is saved: a
    /// provision that a crash could forget is one a restart could double, and a forgotten
    /// destroy is a member a restart would count as in service. When saving fails they are held
    /// back (and forgotten) until a later pass saves.
    async fn journal(&mut self, actions: &mut Vec<Action>, now: Instant) {
        // Compare without the specs first: a pass that changed nothing copies no spec.
        let light = JournalEntry::capture(&self.memory, None, None);
        let stable = self.stable.as_ref().map(|s| s.hash.as_str());
        let failed = self.failed.as_ref().map(|(t, reason)| (t.hash.as_str(), reason.as_str()));
        if let Some(saved) = &self.saved
            && saved.light == light
            && saved.stable.as_deref() == stable
            && saved.failed.as_ref().map(|(h, r)| (h.as_str(), r.as_str())) == failed
        {
            return;
        }
        let saved = Saved {
            stable: stable.map(str::to_owned),
            failed: failed.map(|(h, r)| (h.to_owned(), r.to_owned())),
            light: light.clone(),
        };
        let entry = JournalEntry {
            stable: self.stable.as_ref().map(|s| s.spec.clone()),
            failed: self.failed.as_ref().map(|(t, reason)| FailedSpec { spec: t.spec.clone(), reason: reason.clone() }),
            ..light
        };
        let error = match self.context.journal.save(&self.id, &entry).await {
            Ok(()) => {
                self.saved = Some(saved);
                return;
            }
            Err(e) => chain(&e),
        };
        let before = actions.len();
        actions.retain(|action| match action {
            Action::Provision { token, .. } => {
                self.memory.intents.retain(|i| &i.token != token);
                false
            }
            Action::Destroy { instance, .. } => {
                self.memory.destroys.remove(&instance.id);
                false
            }
            Action::Drain { .. } | Action::Adopt { .. } => true,
        });
        let message = format!("cannot save the journal, {} operations held: {error}", before - actions.len());
        self.memory.last_error = Some(message.clone());
        self.emit(EventKind::Error, None, message, now);
    }

    fn emit(&self, kind: EventKind, instance: Option<&str>, message: String, at: Instant) {
        tracing::info!(group = %self.id, kind = kind.as_str(), "{message}");
        let event = GroupEvent {
            topic: format!("{}/{}", self.id, kind.as_str()),
            r#type: kind,
            id: instance.unwrap_or(self.id.as_str()).to_owned(),
            message,
            timestamp: self.context.clock.stamp(at),
        };
        self.shared.lock().log.push(event.clone());
        // Nobody listening is fine.
        let _ = self.context.events.send(event);
    }
}
