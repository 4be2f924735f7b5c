//! One group's task: the only code that changes a group's memory, so a group is never
//! reconciled concurrently with itself.
//!
//! The task wakes on a poll tick, on a command (commit, resize, destroy instances, rollout
//! control, destroy the group, nudge), on a change the instance plugin pushes to a member, and
//! on the end of its running operations, and then runs a pass: observe, [`decide`], journal,
//! execute. It is never told why it runs: every pass looks at the whole group, and a failed pass
//! is retried by the next one.
//!
//! The task decides nothing itself. Commits and rollout controls are events of the rollout
//! ([`crate::rollout`]); what members to create or destroy, including when the whole group is
//! destroyed, is the decision's. The task keeps the configs the rollout names, so that the one
//! it enforces is always the rollout's current one.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use infrakit_spi::error::chain;
use infrakit_spi::group::{ConfigHash, GroupId, GroupSpec, GroupStatus, RolloutStatus};
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
use crate::listing::{Freshness, Listings};
use crate::memory::{DestroyProgress, Destroying, Memory, Progress};
use crate::model::Desired;
use crate::observe::observe;
use crate::plan::{Action, EventKind, Plan};
use crate::rollout::{Control, Event, Failed, Stage};
use crate::target::{Config, Target};

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
    /// Listings shared by the periodic passes of groups on one plugin.
    pub listings: Listings,
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
    /// Set a group of cattle's size.
    Resize {
        /// The new size, already checked.
        size: u64,
        /// When applied.
        reply: oneshot::Sender<()>,
    },
    /// Destroy these members and shrink the group by as many.
    DestroyInstances {
        /// The members, as listed.
        instances: Vec<Description>,
        /// When all destroys returned.
        reply: oneshot::Sender<Result<()>>,
    },
    /// Control the rollout (`None` only reports).
    Rollout {
        /// What to do.
        control: Option<Control>,
        /// The rollout's status after it.
        reply: oneshot::Sender<Result<RolloutStatus>>,
    },
    /// Destroy every member and then stop, as a recorded operation a restart resumes.
    Retire {
        /// When every instance is gone, or when a destroy failed (it is retried by the next
        /// passes).
        reply: oneshot::Sender<Result<()>>,
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
    /// Whether the group is being destroyed.
    pub retiring: bool,
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
#[derive(PartialEq)]
struct Saved {
    light: JournalEntry,
    stable: Option<ConfigHash>,
    failed: Option<Failed>,
    retiring: bool,
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
    /// The rollout's current config with the group's allocation.
    target: Arc<Target>,
    /// The configs the rollout names (current, stable, failed), by hash.
    configs: HashMap<ConfigHash, Arc<Config>>,
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
    /// Callers waiting for the group's destroy.
    retirees: Vec<oneshot::Sender<Result<()>>>,
    /// Set when the group's destroy finished: the task ends.
    retired: bool,
    /// When the listing the last pass used returned: a shared listing must be newer.
    last_listing: Option<Instant>,
    /// The instance plugin whose shared listings this group counts in.
    joined: Option<Arc<Config>>,
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
            retiring: false,
            log: EventLog::default(),
        })));
        let (commands, receiver) = mpsc::channel(COMMAND_QUEUE);
        let task = GroupTask {
            id: target.id().clone(),
            configs: HashMap::from([(target.hash().clone(), target.config.clone())]),
            memory: Memory::new(token_prefix, target.hash().clone()),
            executor: Executor::new(target.policy.max_parallel),
            target,
            saved: None,
            shared: shared.clone(),
            context,
            waiters: Vec::new(),
            batch_failed: false,
            batch_progressed: false,
            listener: Listener::default(),
            promises: None,
            retirees: Vec::new(),
            retired: false,
            last_listing: None,
            joined: None,
        };
        Handle { commands, shared, task: tokio::spawn(task.run(receiver)) }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        self.restore().await;
        self.rejoin();
        let mut ticker = tokio::time::interval(self.context.poll_interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        while !self.retired {
            self.listener.follow(&self.target.config.instance);
            // Biased: commands first, then outcomes, then changes, then the tick, so a run is
            // reproducible.
            let pass = tokio::select! {
                biased;
                command = commands.recv() => match command {
                    None => break,
                    Some(Command::Stop { reply }) => {
                        self.executor.abort();
                        self.leave();
                        let _ = reply.send(());
                        return;
                    }
                    Some(command) => self.handle(command).await.then_some(Freshness::Fresh),
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
                        pass.then_some(Freshness::Fresh)
                    } else {
                        None
                    }
                }
                Some(ours) = self.listener.next(&self.id) => ours.then_some(Freshness::Fresh),
                _ = ticker.tick() => {
                    self.listener.reopen();
                    let max_age = self.context.poll_interval;
                    Some(Freshness::Shared { newer_than: self.last_listing, max_age })
                }
            };
            if let Some(freshness) = pass {
                self.reconcile(freshness).await;
                // A pass just looked at everything: the next periodic one is a full interval away.
                ticker.reset();
            }
        }
        self.executor.abort();
        self.leave();
    }

    /// Counts this group in the shared listings of its current instance plugin.
    fn rejoin(&mut self) {
        let config = self.target.config.clone();
        if self.joined.as_ref().is_some_and(|j| j.instance_spec.plugin == config.instance_spec.plugin) {
            return;
        }
        self.leave();
        self.context.listings.join(&config);
        self.joined = Some(config);
    }

    fn leave(&mut self) {
        if let Some(joined) = self.joined.take() {
            self.context.listings.leave(&joined);
        }
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
        let stable = entry.stable.as_ref().and_then(|spec| self.know(spec));
        let failed = entry.failed.as_ref().and_then(|f| {
            let config = self.know(&f.spec)?;
            Some(Failed { config, reason: f.reason.clone() })
        });
        let transition = self.memory.rollout.restore(entry.rollout.clone(), stable, failed);
        if let Some(message) = transition.message {
            self.emit(EventKind::Rollout, None, message, now);
        }
        self.follow_rollout();
        self.shared.lock().retiring = self.memory.retiring;
        let stage = self.memory.rollout.stage.reason().unwrap_or_else(|| match self.memory.rollout.stage {
            Stage::Rolling => "rolling".to_owned(),
            _ => "steady".to_owned(),
        });
        let retiring = if self.memory.retiring { "; destroying the group" } else { "" };
        let message = format!(
            "restored from the journal: {} provisions and {} destroys in flight, rollout {stage}{retiring}",
            self.memory.intents.len(),
            self.memory.destroys.len(),
        );
        self.emit(EventKind::Rollout, None, message, now);
    }

    /// Resolves a journaled spec's config and keeps it; `None` when its plugins are gone.
    fn know(&mut self, spec: &GroupSpec) -> Option<ConfigHash> {
        let target = Target::resolve(spec, self.context.plugins.as_ref(), self.context.max_parallel).ok()?;
        let hash = target.hash().clone();
        self.configs.insert(hash.clone(), target.config);
        Some(hash)
    }

    /// Makes the rollout's current config the enforced one, keeping the group's allocation, and
    /// forgets configs the rollout no longer names.
    fn follow_rollout(&mut self) {
        let rollout = &self.memory.rollout;
        if rollout.current != *self.target.hash() {
            match self.configs.get(&rollout.current) {
                Some(config) => self.target = Arc::new(self.target.with_config(config.clone())),
                None => {
                    let message = format!("config {} is not known; keeping {}", rollout.current, self.target.hash());
                    tracing::error!(group = %self.id, "{message}");
                    self.memory.rollout.current = self.target.hash().clone();
                }
            }
        }
        let rollout = &self.memory.rollout;
        let named = |hash: &ConfigHash| {
            *hash == rollout.current
                || rollout.stable.as_ref() == Some(hash)
                || rollout.failed.as_ref().is_some_and(|f| f.config == *hash)
        };
        self.configs.retain(|hash, _| named(hash));
        self.executor.set_limit(self.target.policy.max_parallel);
        self.shared.lock().target = self.target.clone();
        self.rejoin();
    }

    /// Handles a command; returns whether to run a pass now.
    async fn handle(&mut self, command: Command) -> bool {
        match command {
            Command::Commit { target, reply } => {
                let text = self.commit(target);
                let _ = reply.send(text);
                true
            }
            Command::Resize { size, reply } => {
                self.resize(self.target.resized(size), Instant::now());
                let _ = reply.send(());
                true
            }
            Command::DestroyInstances { instances, reply } => {
                self.destroy_instances(instances, reply).await;
                false
            }
            Command::Rollout { control, reply } => {
                let result = match control {
                    None => Ok(()),
                    Some(control) => self.control(control),
                };
                if result.is_ok() && control.is_some() {
                    self.reconcile(Freshness::Fresh).await;
                }
                let _ = reply.send(result.map(|()| self.shared.lock().status.rollout.clone()));
                false
            }
            Command::Retire { reply } => {
                if !self.memory.retiring {
                    let now = Instant::now();
                    self.memory.retiring = true;
                    self.shared.lock().retiring = true;
                    // Journaled at once, before any destroy: from here a restart finishes it.
                    self.journal(&mut Vec::new(), now).await;
                    self.emit(EventKind::Destroy, None, "destroying the group".to_owned(), now);
                }
                self.retirees.push(reply);
                true
            }
            Command::Nudge => true,
            // Handled by the loop, which owns the receiver.
            Command::Stop { reply } => {
                let _ = reply.send(());
                false
            }
        }
    }

    /// A commit: its config is an event of the rollout (which may refuse to roll it out again),
    /// its allocation is the group's either way.
    fn commit(&mut self, target: Arc<Target>) -> Option<String> {
        let now = Instant::now();
        // Replaced even when known: the Updating section is not hashed and may have changed.
        self.configs.insert(target.hash().clone(), target.config.clone());
        let (config, refused) = match self.memory.roll(Event::Commit(target.hash().clone()), now) {
            Ok(message) => {
                if let Some(message) = message {
                    self.emit(EventKind::Commit, None, message, now);
                }
                (target.config.clone(), None)
            }
            Err(refused) => (self.target.config.clone(), Some(refused.to_string())),
        };
        self.resize(Target::new(config, target.allocation.clone()), now);
        refused
    }

    /// Makes `target` the enforced one, saying so when its size changed. Until the next pass
    /// has looked, a changed group is not converged (as the original, which set its update plan
    /// before answering).
    fn resize(&mut self, target: Target, now: Instant) {
        let (from, to) = (self.target.size(), target.size());
        if from != to {
            self.emit(EventKind::Commit, None, format!("committed size {to} (was {from})"), now);
        }
        if target.hash() != self.target.hash() || target.allocation != self.target.allocation {
            self.shared.lock().converged = false;
        }
        self.target = Arc::new(target);
        self.follow_rollout();
    }

    fn control(&mut self, control: Control) -> Result<()> {
        let now = Instant::now();
        let message = self
            .memory
            .roll(Event::Operator(control), now)
            .map_err(|refused| Error::invalid(format!("group '{}': {refused}", self.id)))?;
        if let Some(message) = message {
            self.emit(EventKind::Rollout, None, message, now);
        }
        self.follow_rollout();
        Ok(())
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
        let size = self.target.size().saturating_sub(pending.len() as u64);
        self.resize(self.target.resized(size), now);
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
                self.emit(EventKind::Error, Some(token.as_str()), message, now);
                false
            }
            Outcome::Destroyed { id, result } => {
                let error = result.err().map(|e| e.to_string());
                if let Some(e) = &error {
                    self.emit(EventKind::Error, Some(id.as_str()), e.clone(), now);
                    // The destroy goes on at the next passes; its caller hears of the failure now.
                    for retiree in self.retirees.drain(..) {
                        let message =
                            format!("group '{}' is being destroyed; a destroy failed and is retried: {e}", self.id);
                        let _ = retiree.send(Err(Error::failed(message)));
                    }
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
        Desired {
            group: self.id.clone(),
            allocation: self.target.allocation(),
            policy: self.target.policy.clone(),
            self_id: self.context.self_id.clone(),
            promises: self.promises.unwrap_or_default(),
        }
    }

    /// One pass: observe, decide, journal, execute; nothing while the controller may not act.
    /// `freshness` says whether the members may come from another group's listing of the plugin.
    async fn reconcile(&mut self, freshness: Freshness) {
        let now = Instant::now();
        if !self.context.authority.may_act() {
            self.hold();
            return;
        }
        let listing = self.context.listings.members(&self.target.config, freshness).await;
        let observed = match listing {
            Ok((members, completed)) => {
                self.last_listing = Some(completed);
                observe(&self.target.config, members).await
            }
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
            self.promises = match self.target.config.instance.promises().await {
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
        if report.retired {
            return self.retire().await;
        }
        // The actions are the pass's config's; a rollback the pass decided applies from the next.
        let acting = self.target.clone();
        self.follow_rollout();
        self.journal(&mut actions, now).await;
        // Observing and journaling wait on others: leadership may have lapsed meanwhile.
        if !actions.is_empty() && !self.context.authority.may_act() {
            self.hold();
            return;
        }
        for action in actions {
            self.executor.run(action, acting.clone());
        }
        let mut snapshot = self.shared.lock();
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

    /// Ends a destroyed group: its journal goes, its callers hear, the task stops.
    async fn retire(&mut self) {
        let result = match self.context.journal.remove(&self.id).await {
            Ok(()) => Ok(()),
            Err(e) => Err(Error::unavailable(format!("group '{}' destroyed, but {}", self.id, chain(&e)))),
        };
        if result.is_ok() {
            self.emit(EventKind::Destroy, None, "group destroyed".to_owned(), Instant::now());
            self.retired = true;
        }
        for retiree in self.retirees.drain(..) {
            let _ = retiree.send(result.clone());
        }
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

    /// The spec of a config the rollout names, with the group's allocation.
    fn spec_of(&self, hash: &ConfigHash) -> Option<GroupSpec> {
        Some(self.target.with_config(self.configs.get(hash)?.clone()).spec())
    }

    /// Saves the journal if it changed. Provisions and destroys start only once it is saved: a
    /// provision that a crash could forget is one a restart could double, and a forgotten
    /// destroy is a member a restart would count as in service. When saving fails they are held
    /// back (and forgotten) until a later pass saves.
    async fn journal(&mut self, actions: &mut Vec<Action>, now: Instant) {
        // Compare without the specs first: a pass that changed nothing copies no spec.
        let rollout = &self.memory.rollout;
        let saved = Saved {
            light: JournalEntry::capture(&self.memory, None, None, None),
            stable: rollout.stable.clone(),
            failed: rollout.failed.clone(),
            retiring: self.memory.retiring,
        };
        if self.saved.as_ref() == Some(&saved) {
            return;
        }
        let entry = JournalEntry {
            stable: saved.stable.as_ref().and_then(|hash| self.spec_of(hash)),
            failed: saved
                .failed
                .as_ref()
                .and_then(|f| Some(FailedSpec { spec: self.spec_of(&f.config)?, reason: f.reason.clone() })),
            retiring: self.memory.retiring.then(|| self.target.spec()),
            ..saved.light.clone()
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
