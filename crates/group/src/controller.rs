//! The group plugin: the original's eight Group methods plus rollout control, over one task per
//! managed group.
//!
//! [`GroupController`] validates and explains commits itself and hands everything that changes
//! a group to that group's task, so calls on different groups never wait on each other and a
//! group never runs two passes at once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use infrakit_spi::duration::GoDuration;
use infrakit_spi::error::chain;
use infrakit_spi::group::{Decision, GroupDescription, GroupId, GroupPlugin, GroupSpec, RolloutStatus};
use infrakit_spi::instance::{InstanceId, LogicalId};
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::{Error, Result};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::authority::{Authority, Unconditional};
use crate::events::{GroupEvent, WallClock};
use crate::explain;
use crate::journal::{Journal, MemoryJournal};
use crate::model::is_current;
use crate::rollout::Control;
use crate::target::Target;
use crate::task::{Command, Context, GroupTask, Handle, Shared};

/// The environment variable with the pass interval, a Go duration.
pub const POLL_INTERVAL_ENV: &str = "INFRAKIT_GROUP_POLL_INTERVAL";
/// The environment variable with the default bound on concurrent instance operations.
pub const MAX_PARALLEL_ENV: &str = "INFRAKIT_GROUP_MAX_PARALLEL_NUM";
/// The environment variable with the logical ID of the instance running the controller.
pub const SELF_LOGICAL_ID_ENV: &str = "INFRAKIT_GROUP_SELF_LOGICAL_ID";
/// The original's poll interval.
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(10);
/// Events a slow live subscriber may lag behind before it loses some; the per-group log still
/// has the recent ones.
pub const EVENT_BROADCAST_CAPACITY: usize = 1024;
/// Decisions shown by `DescribeGroup`.
pub const DESCRIBED_DECISIONS: usize = 20;

/// How the controller runs.
#[derive(Clone)]
pub struct Options {
    /// The interval between passes of every group.
    pub poll_interval: Duration,
    /// The bound on concurrent instance operations per group when a spec sets no
    /// `MaxParallel`; 0 is no bound.
    pub max_parallel: u64,
    /// The logical ID of the instance running the controller: never destroyed by it, updated
    /// last.
    pub self_id: Option<LogicalId>,
    /// Where groups keep what tags cannot carry. In memory by default; give a
    /// [`FileJournal`](crate::journal::FileJournal) to survive a crash without doubling.
    pub journal: Arc<dyn Journal>,
    /// Whether the controller may act now; a manager gives its leadership lease.
    pub authority: Arc<dyn Authority>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            poll_interval: DEFAULT_POLL_INTERVAL,
            max_parallel: 0,
            self_id: None,
            journal: Arc::new(MemoryJournal::default()),
            authority: Arc::new(Unconditional),
        }
    }
}

impl Options {
    /// Options from `INFRAKIT_GROUP_POLL_INTERVAL`, `INFRAKIT_GROUP_MAX_PARALLEL_NUM` and
    /// `INFRAKIT_GROUP_SELF_LOGICAL_ID`, with the original's defaults.
    pub fn from_env() -> Result<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// Options from variables looked up by `var`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut options = Self::default();
        if let Some(text) = var(POLL_INTERVAL_ENV).filter(|t| !t.is_empty()) {
            let interval: GoDuration = text.parse()?;
            if interval.is_zero() {
                return Err(Error::invalid(format!("{POLL_INTERVAL_ENV} must be more than 0s")));
            }
            options.poll_interval = interval.0;
        }
        if let Some(text) = var(MAX_PARALLEL_ENV).filter(|t| !t.is_empty()) {
            options.max_parallel = text
                .parse()
                .map_err(|_| Error::invalid(format!("{MAX_PARALLEL_ENV} must be a number, not '{text}'")))?;
        }
        options.self_id = var(SELF_LOGICAL_ID_ENV).filter(|t| !t.is_empty()).map(LogicalId::from);
        Ok(options)
    }
}

/// The group controller.
#[derive(Clone)]
pub struct GroupController {
    inner: Arc<Inner>,
}

struct Inner {
    context: Arc<Context>,
    groups: Mutex<HashMap<GroupId, Handle>>,
    /// Distinguishes this process's provision tokens from every earlier run's.
    run: String,
    starts: AtomicU64,
}

fn not_watched(id: &GroupId) -> Error {
    Error::not_found(format!("Group '{id}' is not being watched"))
}

fn not_found(id: &GroupId) -> Error {
    Error::not_found(format!("group {id} not found"))
}

fn gone(id: &GroupId) -> Error {
    Error::unavailable(format!("group '{id}' stopped while the call was in progress"))
}

impl GroupController {
    /// A controller that finds plugins through `plugins`.
    pub fn new(plugins: Arc<dyn PluginLookup>, options: Options) -> Self {
        let (events, _) = broadcast::channel(EVENT_BROADCAST_CAPACITY);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_nanos();
        let context = Context {
            plugins,
            journal: options.journal,
            events,
            self_id: options.self_id,
            poll_interval: options.poll_interval,
            max_parallel: options.max_parallel,
            clock: WallClock::new(),
            authority: options.authority,
            listings: Default::default(),
        };
        Self {
            inner: Arc::new(Inner {
                context: Arc::new(context),
                groups: Mutex::new(HashMap::new()),
                run: format!("{nanos:x}"),
                starts: AtomicU64::new(0),
            }),
        }
    }

    fn groups(&self) -> MutexGuard<'_, HashMap<GroupId, Handle>> {
        // The map is only ever inserted into or removed from whole.
        self.inner.groups.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A running group's task. A task that ended by itself (its group destroyed) is forgotten.
    fn reach(&self, id: &GroupId) -> Option<(mpsc::Sender<Command>, Arc<Shared>)> {
        let mut groups = self.groups();
        if groups.get(id).is_some_and(|h| h.task.is_finished()) {
            groups.remove(id);
        }
        groups.get(id).map(|h| (h.commands.clone(), h.shared.clone()))
    }

    async fn ask<T>(&self, id: &GroupId, command: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T> {
        let (commands, _) = self.reach(id).ok_or_else(|| not_watched(id))?;
        let (reply, answer) = oneshot::channel();
        commands.send(command(reply)).await.map_err(|_| gone(id))?;
        answer.await.map_err(|_| gone(id))
    }

    /// Runs a pass of a group now (after a commit elsewhere, or when an instance plugin reports
    /// a change).
    pub fn nudge(&self, id: &GroupId) -> Result<()> {
        let (commands, _) = self.reach(id).ok_or_else(|| not_watched(id))?;
        // A full queue already holds a pass.
        let _ = commands.try_send(Command::Nudge);
        Ok(())
    }

    /// Every group's events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<GroupEvent> {
        self.inner.context.events.subscribe()
    }

    /// A group's recent events, oldest first.
    pub fn events(&self, id: &GroupId) -> Result<Vec<GroupEvent>> {
        let (_, shared) = self.reach(id).ok_or_else(|| not_watched(id))?;
        let events = shared.lock().log.all();
        Ok(events)
    }

    /// Stops managing every group (instances untouched), waiting for their tasks to end.
    pub async fn shutdown(&self) {
        let handles: Vec<Handle> = self.groups().drain().map(|(_, h)| h).collect();
        for handle in handles {
            stop(handle).await;
        }
    }

    /// Starts managing a new group; returns false, starting nothing, when another commit started
    /// the group first (both validated it concurrently), so that one is never replaced mid-call.
    fn start(&self, target: Target) -> bool {
        let mut groups = self.groups();
        if groups.get(target.id()).is_some_and(|h| !h.task.is_finished()) {
            return false;
        }
        let n = self.inner.starts.fetch_add(1, Ordering::Relaxed);
        let prefix = format!("{}.{n}", self.inner.run);
        let id = target.id().clone();
        groups.insert(id, GroupTask::start(Arc::new(target), self.inner.context.clone(), prefix));
        true
    }

    /// Starts again the groups whose destroy a crash or a stop interrupted, as the journal
    /// records them, so that they are destroyed to the end. Returns how many. Call once at start,
    /// before the first commit.
    pub async fn resume_destroys(&self) -> Result<usize> {
        let context = &self.inner.context;
        let ids = context.journal.groups().await.map_err(|e| Error::unavailable(chain(&e)))?;
        let mut resumed = 0;
        for id in ids {
            let entry = match context.journal.load(&id).await {
                Ok(Some(entry)) => entry,
                Ok(None) => continue,
                Err(e) => {
                    tracing::warn!(group = %id, "cannot read the journal: {}", chain(&e));
                    continue;
                }
            };
            let Some(spec) = entry.retiring else { continue };
            match Target::resolve(&spec, context.plugins.as_ref(), context.max_parallel) {
                Ok(target) => {
                    tracing::info!(group = %id, "resuming the destroy of the group");
                    resumed += usize::from(self.start(target));
                }
                Err(e) => tracing::warn!(group = %id, "cannot resume the destroy of the group: {e}"),
            }
        }
        Ok(resumed)
    }
}

async fn stop(handle: Handle) {
    let (reply, stopped) = oneshot::channel();
    if handle.commands.send(Command::Stop { reply }).await.is_ok() {
        let _ = stopped.await;
    }
    let _ = handle.task.await;
}

#[async_trait]
impl GroupPlugin for GroupController {
    async fn commit_group(&self, spec: GroupSpec, pretend: bool) -> Result<String> {
        let context = &self.inner.context;
        let target = Target::resolve(&spec, context.plugins.as_ref(), context.max_parallel)?;
        target.validate().await?;
        let Some((commands, shared)) = self.reach(&spec.id) else {
            let text = explain::managing(target.size());
            if !pretend && !self.start(target) {
                // Another first commit won the race: this one is an update of that group.
                return self.commit_group(spec, pretend).await;
            }
            return Ok(text);
        };
        let (current, retiring) = {
            let snapshot = shared.lock();
            (snapshot.target.clone(), snapshot.retiring)
        };
        if retiring {
            return Err(Error::invalid(format!(
                "group '{}' is being destroyed; commit it again once the destroy is done",
                spec.id
            )));
        }
        if current.is_pets() != target.is_pets() {
            return Err(Error::invalid("Changing a group between Size and LogicalIDs is not supported"));
        }
        if target.is_pets() && current.allocation.logical_ids != target.allocation.logical_ids {
            return Err(Error::invalid("Logical ID changes to a quorum is not currently supported"));
        }
        let members = target.config.list().await?;
        let undesired = members.iter().filter(|m| !is_current(&m.tags, target.hash())).count() as u64;
        let text = match target.is_pets() {
            true => explain::rolling_or_noop(undesired),
            false => {
                let desired = members.len() as u64 - undesired;
                explain::cattle_update(current.size(), target.size(), undesired, desired)
            }
        };
        if pretend {
            return Ok(text);
        }
        let (reply, answer) = oneshot::channel();
        let id = &spec.id;
        commands.send(Command::Commit { target: Arc::new(target), reply }).await.map_err(|_| gone(id))?;
        let replaced = answer.await.map_err(|_| gone(id))?;
        Ok(replaced.unwrap_or(text))
    }

    async fn free_group(&self, id: &GroupId) -> Result<()> {
        let handle = self.groups().remove(id).ok_or_else(|| not_watched(id))?;
        stop(handle).await;
        Ok(())
    }

    async fn describe_group(&self, id: &GroupId) -> Result<GroupDescription> {
        let (_, shared) = self.reach(id).ok_or_else(|| not_watched(id))?;
        let target = shared.lock().target.clone();
        let instances = target.config.list().await?;
        let snapshot = shared.lock();
        let mut status = snapshot.status.clone();
        status.decisions = snapshot
            .log
            .recent(DESCRIBED_DECISIONS)
            .map(|e| Decision { time: e.timestamp.clone(), message: e.message.clone() })
            .collect();
        Ok(GroupDescription { instances, converged: snapshot.converged, status: Some(status) })
    }

    /// Destroys every member (drained first, the controller's own instance last, within
    /// `MaxParallel`) through the group's task, its decision and its journal: a crash mid-destroy
    /// is resumed by [`GroupController::resume_destroys`]. Returns when every instance is gone,
    /// or with the error of a destroy that failed (the destroy goes on at the next passes).
    async fn destroy_group(&self, id: &GroupId) -> Result<()> {
        self.ask(id, |reply| Command::Retire { reply }).await??;
        let handle = self.groups().remove(id);
        if let Some(handle) = handle {
            let _ = handle.task.await;
        }
        Ok(())
    }

    async fn inspect_groups(&self) -> Result<Vec<GroupSpec>> {
        let mut specs: Vec<GroupSpec> = self
            .groups()
            .values()
            .filter(|h| !h.task.is_finished())
            .filter_map(|h| {
                let snapshot = h.shared.lock();
                (!snapshot.retiring).then(|| snapshot.target.spec())
            })
            .collect();
        specs.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(specs)
    }

    async fn destroy_instances(&self, id: &GroupId, instances: &[InstanceId]) -> Result<()> {
        let (_, shared) = self.reach(id).ok_or_else(|| not_watched(id))?;
        let target = shared.lock().target.clone();
        if target.is_pets() {
            return Err(Error::invalid("cannot set size if logic ids are explicitly set"));
        }
        let members = target.config.list().await?;
        let mut found = Vec::new();
        let mut unknown = Vec::new();
        for wanted in instances {
            match members.iter().find(|m| &m.id == wanted) {
                Some(m) => found.push(m.clone()),
                None => unknown.push(wanted.to_string()),
            }
        }
        if !unknown.is_empty() {
            return Err(Error::not_found(format!("not members of group '{id}': {}", unknown.join(", "))));
        }
        self.ask(id, |reply| Command::DestroyInstances { instances: found, reply }).await?
    }

    async fn size(&self, id: &GroupId) -> Result<u64> {
        let (_, shared) = self.reach(id).ok_or_else(|| not_found(id))?;
        let size = shared.lock().target.size();
        Ok(size)
    }

    async fn set_size(&self, id: &GroupId, size: u64) -> Result<()> {
        let (_, shared) = self.reach(id).ok_or_else(|| not_found(id))?;
        let target = shared.lock().target.clone();
        if target.is_pets() {
            return Err(Error::invalid("cannot set size if logic ids are explicitly set"));
        }
        target.check_size(size)?;
        self.ask(id, |reply| Command::Resize { size, reply }).await
    }

    async fn pause_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.ask(id, |reply| Command::Rollout { control: Some(Control::Pause), reply }).await?
    }

    async fn resume_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.ask(id, |reply| Command::Rollout { control: Some(Control::Resume), reply }).await?
    }

    async fn abort_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.ask(id, |reply| Command::Rollout { control: Some(Control::Abort), reply }).await?
    }

    async fn rollout_status(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.ask(id, |reply| Command::Rollout { control: None, reply }).await?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_read_the_originals_variables() {
        let vars =
            HashMap::from([(POLL_INTERVAL_ENV, "500ms"), (MAX_PARALLEL_ENV, "4"), (SELF_LOGICAL_ID_ENV, "10.0.0.1")]);
        let options = Options::from_vars(|n| vars.get(n).map(|v| v.to_string())).unwrap();
        assert_eq!(options.poll_interval, Duration::from_millis(500));
        assert_eq!(options.max_parallel, 4);
        assert_eq!(options.self_id, Some("10.0.0.1".into()));
        let defaults = Options::from_vars(|_| None).unwrap();
        assert_eq!((defaults.poll_interval, defaults.max_parallel, defaults.self_id), (DEFAULT_POLL_INTERVAL, 0, None));
        assert!(Options::from_vars(|n| (n == MAX_PARALLEL_ENV).then(|| "x".to_owned())).is_err());
        assert!(Options::from_vars(|n| (n == POLL_INTERVAL_ENV).then(|| "0s".to_owned())).is_err());
    }
}
