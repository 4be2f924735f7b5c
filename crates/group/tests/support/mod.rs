//! Scripted instance and flavor plugins for the controller's tests: in memory, with describe lag,
//! provision latency, failure injection and a log of every call in order.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use infrakit_group::{GroupController, Options};
use infrakit_spi::changes::{ChangeKind, ChangeStream, InstanceChange};
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::group::{
    AllocationMethod, CONFIG_HASH_TAG, GROUP_TAG, GroupDescription, GroupId, GroupPlugin, GroupProperties, GroupSpec,
    Index,
};
use infrakit_spi::instance::{
    Description, DestroyContext, DestroyReason, InstanceId, InstancePlugin, PROVISION_TOKEN_TAG, Promises, Spec,
};
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::types::{PluginName, Tags};
use infrakit_spi::{Error, Result};
use serde_json::{Value, json};
use tokio::sync::broadcast;
use tokio::time::Instant;

/// One call a plugin received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Provision(InstanceId),
    Destroy(InstanceId, DestroyReason),
    Label(InstanceId),
    Drain(InstanceId),
    Prepare(u64),
    Healthy(InstanceId, Health),
}

/// An instance as the scripted backend keeps it.
#[derive(Debug, Clone)]
struct Stored {
    description: Description,
    /// Listed from this time on (describe lag after a provision).
    visible_from: Instant,
    /// Still listed until this time after a destroy (describe lag after a destroy).
    gone_at: Option<Instant>,
}

/// What the scripted backend does.
#[derive(Default)]
struct Backend {
    next_id: u64,
    instances: BTreeMap<InstanceId, Stored>,
    calls: Vec<Call>,
    fail_provisions: u32,
    fail_all_provisions: bool,
    fail_destroy: HashSet<InstanceId>,
    describe_lag: Duration,
    provision_latency: Duration,
    validate_latency: Duration,
    health: Option<HealthScript>,
    health_calls: BTreeMap<InstanceId, Vec<Health>>,
    fail_drain: HashSet<InstanceId>,
    attempts: Vec<Instant>,
    provisioning: usize,
    most_provisioning: usize,
    describes: usize,
    most_existing: usize,
    fewest_healthy: Option<usize>,
    fail_rate: Option<(u32, u64)>,
    audit: Vec<(bool, usize)>,
    changes: Option<broadcast::Sender<InstanceChange>>,
    /// Whether a provision token already carried by an instance returns that instance.
    idempotent: bool,
}

/// A small deterministic generator, so that a failing property case replays exactly.
pub fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

impl Backend {
    /// Healthy in its last check: what the pass that decides a destroy saw, since the destroy
    /// runs before the next pass checks again.
    fn healthy_recently(&self, id: &InstanceId) -> bool {
        self.health_calls.get(id).and_then(|h| h.last()) == Some(&Health::Healthy)
    }

    /// Instances that exist (a destroyed one is gone at once, even if still listed).
    fn existing(&self) -> usize {
        self.instances.values().filter(|s| s.gone_at.is_none()).count()
    }

    /// Existing instances whose last health answer was Healthy.
    fn healthy(&self) -> usize {
        self.instances
            .iter()
            .filter(|(id, s)| {
                s.gone_at.is_none() && self.health_calls.get(*id).and_then(|h| h.last()) == Some(&Health::Healthy)
            })
            .count()
    }
}

/// Decides a member's health from its description and how often it was asked before.
pub type HealthScript = Box<dyn FnMut(&Description, usize) -> Health + Send>;

/// A scripted instance plugin and flavor sharing one backend.
#[derive(Clone, Default)]
pub struct Cloud {
    backend: Arc<Mutex<Backend>>,
}

impl Cloud {
    fn backend(&self) -> MutexGuard<'_, Backend> {
        self.backend.lock().unwrap()
    }

    /// The lookup that serves this cloud as `test/compute` and `test-flavor`.
    pub fn lookup(&self) -> Arc<dyn PluginLookup> {
        Arc::new(Lookup(self.clone()))
    }

    /// A controller over this cloud.
    pub fn controller(&self, poll: Duration) -> GroupController {
        self.controller_with(Options { poll_interval: poll, ..Options::default() })
    }

    /// A controller over this cloud with these options.
    pub fn controller_with(&self, options: Options) -> GroupController {
        GroupController::new(self.lookup(), options)
    }

    pub fn set_health(&self, script: impl FnMut(&Description, usize) -> Health + Send + 'static) {
        self.backend().health = Some(Box::new(script));
    }

    pub fn set_describe_lag(&self, lag: Duration) {
        self.backend().describe_lag = lag;
    }

    pub fn set_validate_latency(&self, latency: Duration) {
        self.backend().validate_latency = latency;
    }

    pub fn set_provision_latency(&self, latency: Duration) {
        self.backend().provision_latency = latency;
    }

    pub fn fail_next_provisions(&self, n: u32) {
        self.backend().fail_provisions = n;
    }

    pub fn fail_all_provisions(&self, on: bool) {
        self.backend().fail_all_provisions = on;
    }

    /// Fails this percentage of provisions, drawn from `seed`; 0 stops.
    pub fn fail_randomly(&self, percent: u32, seed: u64) {
        self.backend().fail_rate = (percent > 0).then_some((percent, seed | 1));
    }

    /// For each destroy: whether the destroyed instance was healthy at its last check, and the
    /// instances left that were healthy at theirs.
    pub fn destroy_audit(&self) -> Vec<(bool, usize)> {
        self.backend().audit.clone()
    }

    pub fn fail_destroy(&self, id: &str) {
        self.backend().fail_destroy.insert(id.into());
    }

    /// Lets every destroy succeed again.
    pub fn allow_destroys(&self) {
        self.backend().fail_destroy.clear();
    }

    pub fn fail_drain(&self, id: &str) {
        self.backend().fail_drain.insert(id.into());
    }

    /// Puts an instance in the backend as if made by hand or by an earlier controller.
    pub fn seed(&self, id: &str, tags: &[(&str, &str)]) {
        let mut b = self.backend();
        let description = Description {
            id: id.into(),
            tags: tags.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Description::default()
        };
        b.instances.insert(id.into(), Stored { description, visible_from: Instant::now(), gone_at: None });
    }

    /// Removes an instance behind the controller's back.
    pub fn remove(&self, id: &str) {
        self.backend().instances.remove(&InstanceId::from(id));
    }

    /// Makes the instance plugin push changes (`InstancePlugin::changes`) from now on.
    /// Promises idempotent provisions, and keeps the promise.
    pub fn promise_idempotent_provisions(&self) {
        self.backend().idempotent = true;
    }

    pub fn push_changes(&self) {
        self.backend().changes = Some(broadcast::channel(64).0);
    }

    /// Removes an instance behind the controller's back and, if the plugin pushes changes, says
    /// so as a backend with an event stream would.
    pub fn kill(&self, id: &str) {
        let mut b = self.backend();
        let Some(stored) = b.instances.remove(&InstanceId::from(id)) else { return };
        if let Some(changes) = &b.changes {
            let change = InstanceChange { id: id.into(), tags: stored.description.tags, kind: ChangeKind::Gone };
            let _ = changes.send(change);
        }
    }

    /// Says, as a plugin whose backend was out of reach and is back, that every listener should
    /// look again.
    pub fn resync(&self) {
        if let Some(changes) = &self.backend().changes {
            let _ = changes.send(InstanceChange::resync());
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.backend().calls.clone()
    }

    pub fn provisions(&self) -> usize {
        self.calls().iter().filter(|c| matches!(c, Call::Provision(_))).count()
    }

    pub fn destroys(&self) -> Vec<(String, DestroyReason)> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Destroy(id, reason) => Some((id.to_string(), reason)),
                _ => None,
            })
            .collect()
    }

    pub fn drains(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter_map(|c| match c {
                Call::Drain(id) => Some(id.to_string()),
                _ => None,
            })
            .collect()
    }

    /// When each provision was attempted, failed or not.
    pub fn attempts(&self) -> Vec<Instant> {
        self.backend().attempts.clone()
    }

    /// The most instances that existed at once.
    pub fn most_existing(&self) -> usize {
        self.backend().most_existing
    }

    /// The fewest healthy instances right after a destroy, if any destroy happened.
    pub fn fewest_healthy(&self) -> Option<usize> {
        self.backend().fewest_healthy
    }

    /// Forgets the extremes seen so far.
    pub fn reset_extremes(&self) {
        let mut b = self.backend();
        b.most_existing = b.existing();
        b.fewest_healthy = None;
        b.most_provisioning = 0;
    }

    /// `DescribeInstances` calls so far.
    pub fn describes(&self) -> usize {
        self.backend().describes
    }

    /// The most provisions that ran at once.
    pub fn most_provisioning(&self) -> usize {
        self.backend().most_provisioning
    }

    /// The health answers given for one instance.
    pub fn health_calls(&self, id: &str) -> Vec<Health> {
        self.backend().health_calls.get(&InstanceId::from(id)).cloned().unwrap_or_default()
    }

    /// The instances that exist now (describe lag ignored), with their tags.
    pub fn live(&self) -> Vec<Description> {
        let now = Instant::now();
        self.backend()
            .instances
            .values()
            .filter(|s| s.gone_at.is_none_or(|g| g > now))
            .map(|s| s.description.clone())
            .collect()
    }

    /// How many instances exist now, listed yet or not (a destroyed one is gone at once, even if
    /// still listed).
    pub fn count(&self) -> usize {
        self.backend().instances.values().filter(|s| s.gone_at.is_none()).count()
    }

    /// The config hashes of the live instances, by ID.
    pub fn hashes(&self) -> BTreeMap<String, String> {
        self.live()
            .into_iter()
            .map(|d| (d.id.to_string(), d.tags.get(CONFIG_HASH_TAG).cloned().unwrap_or_default()))
            .collect()
    }
}

struct Lookup(Cloud);

impl PluginLookup for Lookup {
    fn instance(&self, name: &PluginName) -> Result<Arc<dyn InstancePlugin>> {
        match name.to_string().as_str() {
            "test/compute" => Ok(Arc::new(self.0.clone())),
            other => Err(Error::not_found(format!("no plugin {other}"))),
        }
    }

    fn flavor(&self, name: &PluginName) -> Result<Arc<dyn FlavorPlugin>> {
        match name.to_string().as_str() {
            "test-flavor" => Ok(Arc::new(self.0.clone())),
            other => Err(Error::not_found(format!("no plugin {other}"))),
        }
    }

    fn group(&self, name: &PluginName) -> Result<Arc<dyn GroupPlugin>> {
        Err(Error::not_found(format!("no plugin {name}")))
    }
}

#[async_trait]
impl InstancePlugin for Cloud {
    async fn validate(&self, properties: Option<&Value>) -> Result<()> {
        let latency = self.backend().validate_latency;
        tokio::time::sleep(latency).await;
        match properties.and_then(|p| p.get("Invalid")) {
            Some(_) => Err(Error::invalid("instance properties are invalid")),
            None => Ok(()),
        }
    }

    async fn provision(&self, spec: Spec) -> Result<InstanceId> {
        let latency = {
            let mut b = self.backend();
            b.attempts.push(Instant::now());
            b.provisioning += 1;
            b.most_provisioning = b.most_provisioning.max(b.provisioning);
            b.provision_latency
        };
        if !latency.is_zero() {
            tokio::time::sleep(latency).await;
        }
        let mut b = self.backend();
        b.provisioning -= 1;
        if b.fail_all_provisions {
            return Err(Error::unavailable("backend quota exceeded"));
        }
        if let Some((percent, mut seed)) = b.fail_rate {
            let roll = xorshift(&mut seed) % 100;
            b.fail_rate = Some((percent, seed));
            if roll < u64::from(percent) {
                return Err(Error::unavailable("backend hiccup"));
            }
        }
        if b.fail_provisions > 0 {
            b.fail_provisions -= 1;
            return Err(Error::unavailable("backend quota exceeded"));
        }
        let token = spec.tags.get(PROVISION_TOKEN_TAG);
        let made =
            b.instances.values().find(|s| token.is_some() && s.description.tags.get(PROVISION_TOKEN_TAG) == token);
        if let Some(made) = made.filter(|_| b.idempotent) {
            return Ok(made.description.id.clone());
        }
        b.next_id += 1;
        let id = InstanceId(format!("i-{:03}", b.next_id + 100));
        let description =
            Description { id: id.clone(), logical_id: spec.logical_id.clone(), tags: spec.tags, properties: None };
        let visible_from = Instant::now() + b.describe_lag;
        b.instances.insert(id.clone(), Stored { description, visible_from, gone_at: None });
        b.calls.push(Call::Provision(id.clone()));
        b.most_existing = b.most_existing.max(b.existing());
        Ok(id)
    }

    async fn label(&self, id: &InstanceId, labels: &Tags) -> Result<()> {
        let mut b = self.backend();
        b.calls.push(Call::Label(id.clone()));
        let stored = b.instances.get_mut(id).ok_or_else(|| Error::not_found(format!("no instance {id}")))?;
        stored.description.tags.extend(labels.clone());
        Ok(())
    }

    async fn destroy(&self, id: &InstanceId, context: DestroyContext) -> Result<()> {
        let mut b = self.backend();
        if b.fail_destroy.contains(id) {
            return Err(Error::failed(format!("backend refuses to destroy {id}")));
        }
        b.calls.push(Call::Destroy(id.clone(), context.reason));
        let lag = b.describe_lag;
        match b.instances.get_mut(id) {
            Some(stored) if !lag.is_zero() => stored.gone_at = Some(Instant::now() + lag),
            Some(_) => {
                b.instances.remove(id);
            }
            None => return Err(Error::not_found(format!("no instance {id}"))),
        }
        let healthy = b.healthy();
        b.fewest_healthy = Some(b.fewest_healthy.map_or(healthy, |f| f.min(healthy)));
        let was_healthy = b.healthy_recently(id);
        let left = b.instances.keys().filter(|i| b.instances[*i].gone_at.is_none() && b.healthy_recently(i)).count();
        b.audit.push((was_healthy, left));
        Ok(())
    }

    async fn describe_instances(&self, tags: &Tags, _properties: bool) -> Result<Vec<Description>> {
        let now = Instant::now();
        let mut b = self.backend();
        b.describes += 1;
        b.instances.retain(|_, s| s.gone_at.is_none_or(|g| g > now));
        Ok(b.instances
            .values()
            .filter(|s| s.visible_from <= now)
            .filter(|s| tags.iter().all(|(k, v)| s.description.tags.get(k) == Some(v)))
            .map(|s| s.description.clone())
            .collect())
    }

    async fn promises(&self) -> Result<Promises> {
        Ok(Promises { idempotent_provision: self.backend().idempotent })
    }

    fn changes(&self) -> Option<ChangeStream> {
        let receiver = self.backend().changes.as_ref()?.subscribe();
        Some(Box::pin(futures::stream::unfold(receiver, |mut r| async move { Some((r.recv().await.ok()?, r)) })))
    }
}

#[async_trait]
impl FlavorPlugin for Cloud {
    async fn validate(&self, properties: Option<&Value>, _allocation: &AllocationMethod) -> Result<()> {
        match properties.and_then(|p| p.get("Invalid")) {
            Some(_) => Err(Error::invalid("flavor properties are invalid")),
            None => Ok(()),
        }
    }

    async fn prepare(
        &self,
        properties: Option<&Value>,
        mut spec: Spec,
        _allocation: &AllocationMethod,
        index: &Index,
    ) -> Result<Spec> {
        self.backend().calls.push(Call::Prepare(index.sequence));
        if let Some(init) = properties.and_then(|p| p.get("Init")).and_then(Value::as_str) {
            spec.init = init.to_owned();
        }
        spec.tags.insert("flavor".into(), "test".into());
        Ok(spec)
    }

    async fn healthy(&self, _properties: Option<&Value>, instance: &Description) -> Result<Health> {
        let mut b = self.backend();
        let asked = b.health_calls.get(&instance.id).map_or(0, Vec::len);
        let health = match b.health.as_mut() {
            Some(script) => script(instance, asked),
            None => Health::Healthy,
        };
        b.health_calls.entry(instance.id.clone()).or_default().push(health);
        b.calls.push(Call::Healthy(instance.id.clone(), health));
        Ok(health)
    }

    async fn drain(&self, _properties: Option<&Value>, instance: &Description) -> Result<()> {
        let mut b = self.backend();
        b.calls.push(Call::Drain(instance.id.clone()));
        if b.fail_drain.contains(&instance.id) {
            return Err(Error::failed(format!("cannot drain {}", instance.id)));
        }
        Ok(())
    }
}

/// A group spec over the scripted plugins; `version` changes the config hash.
/// The poll interval of the controllers under test.
pub const POLL: Duration = Duration::from_secs(1);

/// A group ID.
pub fn id(s: &str) -> GroupId {
    GroupId::from(s)
}

/// True when the cloud holds exactly `n` instances, all created from config `hash`.
pub fn all_on(cloud: &Cloud, hash: &str, n: usize) -> bool {
    let hashes = cloud.hashes();
    hashes.len() == n && hashes.values().all(|h| h == hash)
}

pub fn spec(id: &str, size: u64, version: &str) -> GroupSpec {
    spec_with(id, json!({"Allocation": {"Size": size}}), version, json!({}))
}

/// A pets group spec.
pub fn pets_spec(id: &str, ids: &[&str], version: &str) -> GroupSpec {
    spec_with(id, json!({"Allocation": {"LogicalIDs": ids}}), version, json!({}))
}

/// A group spec with an allocation, a version and an Updating section.
pub fn spec_with(id: &str, allocation: Value, version: &str, updating: Value) -> GroupSpec {
    let mut properties = json!({
        "Instance": {"Plugin": "test/compute", "Properties": {"Version": version}},
        "Flavor": {"Plugin": "test-flavor", "Properties": {"Init": format!("echo {version}")}},
        "Updating": updating,
    });
    properties["Allocation"] = allocation["Allocation"].clone();
    GroupSpec { id: id.into(), properties: Some(properties) }
}

/// The config hash of a spec.
pub fn hash(spec: &GroupSpec) -> String {
    GroupProperties::parse(spec).unwrap().instance_hash().0
}

/// Member tags of a group at a config hash.
pub fn member_tags<'a>(group: &'a str, hash: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![(GROUP_TAG, group), (CONFIG_HASH_TAG, hash)]
}

/// Advances controlled time one poll at a time until `done` holds, at most `polls` times.
/// Returns the last description.
pub async fn until(
    controller: &GroupController,
    id: &str,
    poll: Duration,
    polls: usize,
    mut done: impl FnMut(&GroupDescription) -> bool,
) -> GroupDescription {
    let id = GroupId::from(id);
    for _ in 0..polls {
        let description = controller.describe_group(&id).await.unwrap();
        if done(&description) {
            return description;
        }
        tokio::time::sleep(poll).await;
    }
    let description = controller.describe_group(&id).await.unwrap();
    assert!(done(&description), "not reached after {polls} polls: {:#?}", description.status);
    description
}

/// Lets the controller run for `polls` polls.
pub async fn polls(poll: Duration, polls: u32) {
    tokio::time::sleep(poll * polls).await;
}
