//! The manager proper: a group plugin in front of the group controller that keeps every spec.
//!
//! Every mutation goes through here one at a time (the original's single work queue): commits are
//! validated by the controller first, stored, then applied, so a spec the controller rejects is
//! never stored (the original stored it anyway). Sizes changed by `SetSize` or `DestroyInstances`
//! are stored too (the original lost the latter on failover). Reads pass straight through.
//!
//! The manager acts only while its [`Role`] is leader. [`Manager::follow`] turns roles into
//! actions: on becoming leader it commits every stored spec (the controller resumes rollouts from
//! tags and its journal); on losing leadership it frees every group, leaving instances running.
//! A stored spec that no longer validates (a size above a lowered ceiling, say) is skipped and
//! reported as rejected rather than retried: the manager never fails on its own store.

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use infrakit_spi::group::{
    Decision, GroupDescription, GroupId, GroupPlugin, GroupProperties, GroupSpec, GroupStatus, Phase, RolloutStatus,
};
use infrakit_spi::instance::InstanceId;
use infrakit_spi::{Error, Result};
use tokio::sync::{Mutex, watch};
use tracing::{info, warn};

use crate::leader::{Leadership, Role};
use crate::store::{Change, Fence, Store, Version};

/// How often a new leader tries to apply the stored specs before giving up on one (the
/// original's `LeaderCommitSpecsRetries`): plugins started beside the manager may need a moment.
pub const LEADER_COMMIT_ATTEMPTS: u32 = 10;
/// The wait between those attempts (the original's `LeaderCommitSpecsRetryInterval`).
pub const LEADER_COMMIT_RETRY_INTERVAL: Duration = Duration::from_secs(2);

/// The error every mutation gets from a manager that is not the leader (the original's text).
pub fn not_leader() -> Error {
    Error::unavailable("not a leader")
}

/// The manager; cheap to clone.
#[derive(Clone)]
pub struct Manager {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    controller: Arc<dyn GroupPlugin>,
    role: watch::Receiver<Role>,
    /// Where this manager can be reached by other managers and remote clients, if it listens.
    location: Option<String>,
    /// Serializes mutations, so a store write and its controller call are never interleaved with
    /// another's.
    turn: Mutex<()>,
    /// Stored specs that failed validation when this manager became leader, with why.
    rejected: std::sync::Mutex<BTreeMap<GroupId, Rejected>>,
}

/// A stored spec the manager did not apply.
struct Rejected {
    spec: GroupSpec,
    reason: String,
    at: SystemTime,
}

impl Rejected {
    fn description(&self) -> GroupDescription {
        let reason = format!("the stored spec was not applied: {}", self.reason);
        let time = infrakit_spi::time::format_rfc3339(self.at);
        let status = GroupStatus {
            phase: Phase::Rejected,
            last_error: Some(reason.clone()),
            decisions: vec![Decision { time, message: reason }],
            ..GroupStatus::default()
        };
        GroupDescription { instances: Vec::new(), converged: false, status: Some(status) }
    }
}

impl Manager {
    /// A manager over `store` and `controller`, acting when `leadership` says so.
    pub fn new(
        store: Arc<dyn Store>,
        controller: Arc<dyn GroupPlugin>,
        leadership: &dyn Leadership,
        location: Option<String>,
    ) -> Self {
        let inner = Inner {
            store,
            controller,
            role: leadership.watch(),
            location,
            turn: Mutex::new(()),
            rejected: std::sync::Mutex::default(),
        };
        Self { inner: Arc::new(inner) }
    }

    /// Whether this manager is the leader now.
    pub fn is_leader(&self) -> bool {
        self.inner.role.borrow().fence().is_some()
    }

    /// Where this manager can be reached, if it says.
    pub fn location(&self) -> Option<&str> {
        self.inner.location.as_deref()
    }

    /// Where the leader can be reached: this manager's location when it leads.
    pub fn leader_location(&self) -> Option<String> {
        match &*self.inner.role.borrow() {
            Role::Leader { .. } => self.inner.location.clone(),
            Role::Follower { leader } => leader.clone(),
        }
    }

    /// The stored spec of every managed group.
    pub async fn specs(&self) -> Result<Vec<GroupSpec>> {
        Ok(self.inner.store.specs().await?)
    }

    /// Every stored version of a group, oldest first.
    pub async fn history(&self, id: &GroupId) -> Result<Vec<Version>> {
        let history = self.inner.store.history(id).await?;
        if history.is_empty() {
            return Err(Error::not_found(format!("group {id} has no stored versions")));
        }
        Ok(history)
    }

    /// Commits the spec of an earlier version again: `version`, or by default the spec before
    /// the current one. Returns the new version's number and the controller's plan.
    pub async fn rollback(&self, id: &GroupId, version: Option<u64>) -> Result<(u64, String)> {
        let history = self.history(id).await?;
        let target = match version {
            Some(number) => history
                .iter()
                .find(|v| v.number == number)
                .ok_or_else(|| Error::not_found(format!("group {id} has no version {number}")))?,
            None => {
                let current = history.last().and_then(|v| v.change.spec());
                history
                    .iter()
                    .rev()
                    .skip(1)
                    .find(|v| v.change.spec().is_some() && v.change.spec() != current)
                    .ok_or_else(|| Error::not_found(format!("group {id} has no earlier spec to roll back to")))?
            }
        };
        let Some(spec) = target.change.spec().cloned() else {
            return Err(Error::invalid(format!(
                "version {} of group {id} is a {}, which has no spec",
                target.number,
                target.change.action()
            )));
        };
        let to = target.number;
        let text = self.commit(spec.clone(), Change::Rollback { spec, to }).await?;
        let number = self.inner.store.history(id).await?.last().map_or(0, |v| v.number);
        Ok((number, text))
    }

    /// Follows the leadership until its source goes away: applies the stored specs on becoming
    /// leader, frees every group on losing it.
    pub async fn follow(self) {
        let mut role = self.inner.role.clone();
        let mut leading = false;
        loop {
            let now = role.borrow_and_update().fence().is_some();
            if now && !leading {
                info!("leading: applying the stored specs");
                self.assume_leadership().await;
            } else if !now && leading {
                warn!("no longer leading: freeing every group; instances keep running");
                self.stand_down().await;
            }
            leading = now;
            if role.changed().await.is_err() {
                return;
            }
        }
    }

    async fn assume_leadership(&self) {
        let _turn = self.inner.turn.lock().await;
        let specs = match self.with_retries("load the stored specs", || self.inner.store.specs()).await {
            Some(specs) => specs,
            None => return,
        };
        self.rejections().clear();
        for spec in specs {
            let id = spec.id.clone();
            if !self.is_leader() {
                return;
            }
            if let Err(e) = GroupProperties::parse(&spec) {
                warn!(group = %id, "not applying the stored spec: {e}; commit a valid spec to manage the group again");
                self.rejections().insert(id, Rejected { spec, reason: e.to_string(), at: SystemTime::now() });
                continue;
            }
            let commit = || async { self.inner.controller.commit_group(spec.clone(), false).await };
            if let Some(text) = self.with_retries(&format!("apply the stored spec of {id}"), commit).await {
                info!(group = %id, "{text}");
            }
        }
    }

    fn rejections(&self) -> std::sync::MutexGuard<'_, BTreeMap<GroupId, Rejected>> {
        // Writers insert or remove whole entries, so a panic mid-write leaves a readable map.
        self.inner.rejected.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn with_retries<T, E: std::fmt::Display, F: Future<Output = std::result::Result<T, E>>>(
        &self,
        what: &str,
        mut attempt: impl FnMut() -> F,
    ) -> Option<T> {
        for n in 1..=LEADER_COMMIT_ATTEMPTS {
            match attempt().await {
                Ok(value) => return Some(value),
                Err(e) if n < LEADER_COMMIT_ATTEMPTS => {
                    warn!(attempt = n, "cannot {what}: {e}; retrying");
                    tokio::time::sleep(LEADER_COMMIT_RETRY_INTERVAL).await;
                }
                Err(e) => warn!("cannot {what}: {e}; giving up"),
            }
        }
        None
    }

    async fn stand_down(&self) {
        let _turn = self.inner.turn.lock().await;
        let groups = match self.inner.controller.inspect_groups().await {
            Ok(groups) => groups,
            Err(e) => return warn!("cannot list the groups to free: {e}"),
        };
        for spec in groups {
            if let Err(e) = self.inner.controller.free_group(&spec.id).await {
                warn!(group = %spec.id, "cannot free: {e}");
            }
        }
    }

    fn fence(&self) -> Result<Fence> {
        self.inner.role.borrow().fence().ok_or_else(not_leader)
    }

    /// Validates with the controller, stores unless unchanged, then applies.
    async fn commit(&self, spec: GroupSpec, change: Change) -> Result<String> {
        let fence = self.fence()?;
        let _turn = self.inner.turn.lock().await;
        self.inner.controller.commit_group(spec.clone(), true).await?;
        let id = spec.id.clone();
        if self.inner.store.spec(&id).await?.as_ref() != Some(&spec) {
            self.inner.store.record(&id, change, fence).await?;
        }
        self.rejections().remove(&id);
        self.inner.controller.commit_group(spec, false).await
    }

    /// Stores the group's removal, then tells the controller.
    async fn remove(&self, id: &GroupId, change: Change) -> Result<()> {
        let fence = self.fence()?;
        let _turn = self.inner.turn.lock().await;
        if self.inner.store.spec(id).await?.is_some() {
            self.inner.store.record(id, change.clone(), fence).await?;
        }
        if self.rejections().remove(id).is_some() {
            // The controller never managed it, so it cannot destroy what the spec described.
            warn!(group = %id, "removed the rejected spec; instances it may have had are left running");
            return Ok(());
        }
        match change {
            Change::Destroy => self.inner.controller.destroy_group(id).await,
            _ => self.inner.controller.free_group(id).await,
        }
    }
}

#[async_trait]
impl GroupPlugin for Manager {
    async fn commit_group(&self, spec: GroupSpec, pretend: bool) -> Result<String> {
        if pretend {
            return self.inner.controller.commit_group(spec, true).await;
        }
        self.commit(spec.clone(), Change::Commit { spec }).await
    }

    async fn free_group(&self, id: &GroupId) -> Result<()> {
        self.remove(id, Change::Free).await
    }

    async fn describe_group(&self, id: &GroupId) -> Result<GroupDescription> {
        if let Some(rejected) = self.rejections().get(id) {
            return Ok(rejected.description());
        }
        self.inner.controller.describe_group(id).await
    }

    async fn destroy_group(&self, id: &GroupId) -> Result<()> {
        self.remove(id, Change::Destroy).await
    }

    async fn inspect_groups(&self) -> Result<Vec<GroupSpec>> {
        let mut specs = self.inner.controller.inspect_groups().await?;
        specs.extend(self.rejections().values().map(|r| r.spec.clone()));
        Ok(specs)
    }

    async fn destroy_instances(&self, id: &GroupId, instances: &[InstanceId]) -> Result<()> {
        let fence = self.fence()?;
        let _turn = self.inner.turn.lock().await;
        self.inner.controller.destroy_instances(id, instances).await?;
        let Some(stored) = self.inner.store.spec(id).await? else {
            return Ok(());
        };
        let spec = stored.clone().with_size(self.inner.controller.size(id).await?)?;
        if spec != stored {
            self.inner.store.record(id, Change::Scale { spec }, fence).await?;
        }
        Ok(())
    }

    async fn size(&self, id: &GroupId) -> Result<u64> {
        self.inner.controller.size(id).await
    }

    async fn set_size(&self, id: &GroupId, size: u64) -> Result<()> {
        match self.inner.store.spec(id).await? {
            Some(stored) => {
                let spec = stored.with_size(size)?;
                self.commit(spec.clone(), Change::Scale { spec }).await.map(drop)
            }
            None => {
                self.fence()?;
                self.inner.controller.set_size(id, size).await
            }
        }
    }

    async fn pause_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.fence()?;
        self.inner.controller.pause_rollout(id).await
    }

    async fn resume_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.fence()?;
        self.inner.controller.resume_rollout(id).await
    }

    async fn abort_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.fence()?;
        self.inner.controller.abort_rollout(id).await
    }

    async fn rollout_status(&self, id: &GroupId) -> Result<RolloutStatus> {
        self.inner.controller.rollout_status(id).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex as StdMutex;

    use serde_json::json;

    use super::*;
    use crate::store::EmbeddedStore;

    /// A controller that records calls, rejects specs with `"Bad": true`, and tracks sizes.
    #[derive(Default)]
    struct Recorder {
        calls: StdMutex<Vec<String>>,
        sizes: StdMutex<std::collections::HashMap<GroupId, u64>>,
    }

    impl Recorder {
        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }
        fn log(&self, call: String) {
            self.calls.lock().unwrap().push(call);
        }
    }

    #[async_trait]
    impl GroupPlugin for Recorder {
        async fn commit_group(&self, spec: GroupSpec, pretend: bool) -> Result<String> {
            let properties = spec.properties.clone().unwrap_or_default();
            if properties["Bad"] == json!(true) {
                return Err(Error::invalid("bad spec"));
            }
            if !pretend {
                self.log(format!("commit {}", spec.id));
                let size = properties["Allocation"]["Size"].as_u64().unwrap_or(0);
                self.sizes.lock().unwrap().insert(spec.id, size);
            }
            Ok("planned".into())
        }
        async fn free_group(&self, id: &GroupId) -> Result<()> {
            self.log(format!("free {id}"));
            self.sizes.lock().unwrap().remove(id);
            Ok(())
        }
        async fn describe_group(&self, _: &GroupId) -> Result<GroupDescription> {
            Ok(GroupDescription::default())
        }
        async fn destroy_group(&self, id: &GroupId) -> Result<()> {
            self.log(format!("destroy {id}"));
            Ok(())
        }
        async fn inspect_groups(&self) -> Result<Vec<GroupSpec>> {
            let sizes = self.sizes.lock().unwrap();
            Ok(sizes.keys().map(|id| GroupSpec { id: id.clone(), properties: None }).collect())
        }
        async fn destroy_instances(&self, id: &GroupId, instances: &[InstanceId]) -> Result<()> {
            *self.sizes.lock().unwrap().get_mut(id).unwrap() -= instances.len() as u64;
            Ok(())
        }
        async fn size(&self, id: &GroupId) -> Result<u64> {
            Ok(self.sizes.lock().unwrap()[id])
        }
        async fn set_size(&self, _: &GroupId, _: u64) -> Result<()> {
            unreachable!("the manager scales by committing")
        }
    }

    struct Switch(watch::Sender<Role>);

    impl Leadership for Switch {
        fn watch(&self) -> watch::Receiver<Role> {
            self.0.subscribe()
        }
        fn authority(&self) -> Arc<dyn infrakit_group::authority::Authority> {
            Arc::new(infrakit_group::authority::Unconditional)
        }
    }

    fn leader() -> Role {
        Role::Leader { fence: Fence(1) }
    }

    fn follower() -> Role {
        Role::Follower { leader: Some("http://elsewhere:24864".into()) }
    }

    fn spec(size: u64) -> GroupSpec {
        let properties = json!({
            "Allocation": {"Size": size},
            "Instance": {"Plugin": "simulator/compute"},
            "Flavor": {"Plugin": "vanilla"},
        });
        GroupSpec { id: GroupId("web".into()), properties: Some(properties) }
    }

    fn setup(role: Role) -> (Manager, Arc<Recorder>, Arc<EmbeddedStore>, Switch, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(EmbeddedStore::open(&dir.path().join("specs.redb")).unwrap());
        let controller = Arc::new(Recorder::default());
        let switch = Switch(watch::Sender::new(role));
        let manager = Manager::new(store.clone(), controller.clone(), &switch, Some("http://me:24864".into()));
        (manager, controller, store, switch, dir)
    }

    fn actions(history: &[Version]) -> Vec<&'static str> {
        history.iter().map(|v| v.change.action()).collect()
    }

    #[tokio::test]
    async fn a_rejected_spec_is_never_stored_and_an_unchanged_one_adds_no_version() {
        let (manager, controller, store, _switch, _dir) = setup(leader());
        let mut bad = spec(2);
        bad.properties.as_mut().unwrap()["Bad"] = json!(true);
        assert!(manager.commit_group(bad, false).await.is_err());
        assert!(store.specs().await.unwrap().is_empty());
        manager.commit_group(spec(2), false).await.unwrap();
        manager.commit_group(spec(2), false).await.unwrap();
        manager.commit_group(spec(3), true).await.unwrap();
        assert_eq!(store.specs().await.unwrap(), vec![spec(2)]);
        assert_eq!(actions(&manager.history(&spec(2).id).await.unwrap()), vec!["commit"]);
        assert_eq!(controller.calls(), vec!["commit web", "commit web"]);
    }

    #[tokio::test]
    async fn sizes_changed_by_set_size_and_destroy_instances_are_stored() {
        let (manager, _controller, store, _switch, _dir) = setup(leader());
        let id = spec(3).id;
        manager.commit_group(spec(3), false).await.unwrap();
        manager.set_size(&id, 5).await.unwrap();
        manager.destroy_instances(&id, &[InstanceId("i-1".into()), InstanceId("i-2".into())]).await.unwrap();
        assert_eq!(store.spec(&id).await.unwrap(), Some(spec(3)));
        assert_eq!(actions(&manager.history(&id).await.unwrap()), vec!["commit", "scale", "scale"]);
    }

    #[tokio::test]
    async fn rollback_restores_an_earlier_spec_as_a_new_version() {
        let (manager, _controller, store, _switch, _dir) = setup(leader());
        let id = spec(1).id;
        for size in [1, 2, 3] {
            manager.commit_group(spec(size), false).await.unwrap();
        }
        assert_eq!(manager.rollback(&id, None).await.unwrap().0, 4);
        assert_eq!(store.spec(&id).await.unwrap(), Some(spec(2)));
        assert_eq!(manager.rollback(&id, Some(1)).await.unwrap().0, 5);
        assert_eq!(store.spec(&id).await.unwrap(), Some(spec(1)));
        assert_eq!(manager.history(&id).await.unwrap()[4].change, Change::Rollback { spec: spec(1), to: 1 });
        assert!(manager.rollback(&id, Some(9)).await.is_err());
        manager.free_group(&id).await.unwrap();
        assert_eq!(store.spec(&id).await.unwrap(), None);
        assert_eq!(
            manager.rollback(&id, Some(6)).await.unwrap_err().message(),
            "version 6 of group web is a free, which has no spec"
        );
    }

    #[tokio::test]
    async fn a_follower_refuses_mutations_and_names_the_leader() {
        let (manager, controller, store, _switch, _dir) = setup(follower());
        assert_eq!(manager.commit_group(spec(1), false).await.unwrap_err(), not_leader());
        assert_eq!(manager.destroy_group(&spec(1).id).await.unwrap_err(), not_leader());
        assert!(!manager.is_leader());
        assert_eq!(manager.leader_location().as_deref(), Some("http://elsewhere:24864"));
        assert!(store.specs().await.unwrap().is_empty());
        assert!(controller.calls().is_empty());
    }

    #[tokio::test]
    async fn leadership_applies_the_stored_specs_and_losing_it_frees_the_groups() {
        let (manager, controller, store, switch, _dir) = setup(follower());
        store.record(&spec(2).id, Change::Commit { spec: spec(2) }, Fence(0)).await.unwrap();
        let following = tokio::spawn(manager.clone().follow());
        tokio::task::yield_now().await;
        assert!(controller.calls().is_empty());
        switch.0.send(leader()).unwrap();
        wait_for(&controller, 1).await;
        assert_eq!(controller.calls(), vec!["commit web"]);
        assert_eq!(manager.leader_location().as_deref(), Some("http://me:24864"));
        switch.0.send(follower()).unwrap();
        wait_for(&controller, 2).await;
        assert_eq!(controller.calls(), vec!["commit web", "free web"]);
        drop(switch);
        following.await.unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_stored_spec_that_no_longer_validates_is_skipped_and_reported() {
        let (manager, controller, store, switch, _dir) = setup(follower());
        let oversize = GroupSpec { id: GroupId("huge".into()), ..spec(2_000_000_000) };
        store.record(&oversize.id, Change::Commit { spec: oversize.clone() }, Fence(0)).await.unwrap();
        store.record(&spec(2).id, Change::Commit { spec: spec(2) }, Fence(0)).await.unwrap();
        let following = tokio::spawn(manager.clone().follow());
        let started = tokio::time::Instant::now();
        switch.0.send(leader()).unwrap();
        wait_for(&controller, 1).await;
        assert_eq!(started.elapsed(), Duration::ZERO, "no retries of a spec that cannot become valid");
        assert_eq!(controller.calls(), vec!["commit web"]);

        let listed: Vec<GroupId> = manager.inspect_groups().await.unwrap().into_iter().map(|s| s.id).collect();
        assert_eq!(listed, [GroupId("web".into()), GroupId("huge".into())]);
        let status = manager.describe_group(&oversize.id).await.unwrap().status.unwrap();
        assert_eq!(status.phase, Phase::Rejected);
        let reason = status.last_error.unwrap();
        assert!(reason.contains("Size 2000000000 exceeds the limit of 100000"), "{reason}");
        assert_eq!(status.decisions.len(), 1);

        // A valid commit manages the group again.
        manager.commit_group(GroupSpec { id: oversize.id.clone(), ..spec(3) }, false).await.unwrap();
        assert_eq!(controller.calls(), vec!["commit web", "commit huge"]);
        assert_ne!(manager.describe_group(&oversize.id).await.unwrap().status.map(|s| s.phase), Some(Phase::Rejected));
        drop(switch);
        following.await.unwrap();
    }

    async fn wait_for(controller: &Recorder, calls: usize) {
        while controller.calls().len() < calls {
            tokio::task::yield_now().await;
        }
    }
}
