//! One typed object of the simulator (`compute`, `disk`, ...): an instance plugin over its own
//! store, and the handle through which tests turn its knobs and kill its instances.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use infrakit_spi::Error;
use infrakit_spi::group::GROUP_TAG;
use infrakit_spi::instance::{
    Description, DestroyContext, InstanceId, InstancePlugin, PROVISION_TOKEN_TAG, Promises, Spec,
};
use infrakit_spi::types::Tags;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::time::Instant;
use tracing::debug;

use super::control::Control;
use super::ids::next_id;
use super::knobs::Knobs;
use super::store::{NewInstance, Store};

/// The tag the original simulator puts on every instance, naming the plugin.
pub const SIMULATOR_TAG: &str = "simulator";

/// One typed object of a [`Simulator`](super::Simulator): an [`InstancePlugin`] and, through
/// the same value, a handle on its knobs and instances. Clones share the object.
#[derive(Clone)]
pub struct SimulatorObject {
    shared: Arc<Shared>,
}

struct Shared {
    /// The plugin's name, the value of the [`SIMULATOR_TAG`] tag.
    plugin: String,
    /// The object's type name, for logs.
    name: String,
    /// Calls wait until then: the plugin's simulated slow start.
    ready_at: Instant,
    state: Mutex<State>,
}

struct State {
    knobs: Knobs,
    /// Decides which provisions fail; seeded, so a run can be replayed.
    failures: StdRng,
    store: Store,
}

impl SimulatorObject {
    pub(super) fn new(plugin: &str, name: &str, knobs: Knobs, seed: u64, ready_at: Instant) -> Self {
        let state = State { knobs, failures: StdRng::seed_from_u64(seed), store: Store::default() };
        let shared = Shared { plugin: plugin.to_owned(), name: name.to_owned(), ready_at, state: Mutex::new(state) };
        Self { shared: Arc::new(shared) }
    }

    /// The object's type name (`compute`, ...).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The knobs in force.
    pub fn knobs(&self) -> Knobs {
        self.state().knobs.clone()
    }

    /// Changes the knobs; calls already past a delay are not affected by the change.
    pub fn update_knobs(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut self.state().knobs);
    }

    /// Kills a live instance from outside: it vanishes at once, from describe too, as if its
    /// machine died. False if there was no such live instance.
    pub fn kill(&self, id: &InstanceId) -> bool {
        parse_id(id).is_some_and(|id| self.state().store.kill(id))
    }

    /// Every live instance with its properties, listed yet or not, whatever the describe lag.
    pub fn list_all(&self) -> Vec<Description> {
        self.state().store.live_instances()
    }

    /// How many live instances the object holds.
    pub fn live_count(&self) -> usize {
        self.state().store.live_count()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // The lock is never held across a call that can panic midway through a change.
        self.shared.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    async fn ready(&self) {
        if Instant::now() < self.shared.ready_at {
            tokio::time::sleep_until(self.shared.ready_at).await;
        }
    }

    fn not_found(id: &InstanceId) -> Error {
        Error::not_found(format!("not found {id}"))
    }
}

/// Names the object and counts its instances, rather than dumping up to 100,000 of them.
impl fmt::Debug for SimulatorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatorObject")
            .field("plugin", &self.shared.plugin)
            .field("name", &self.shared.name)
            .field("live", &self.live_count())
            .finish()
    }
}

#[async_trait]
impl InstancePlugin for SimulatorObject {
    async fn validate(&self, properties: Option<&Value>) -> infrakit_spi::Result<()> {
        self.ready().await;
        Control::parse(properties).map(drop).map_err(|e| Error::invalid(format!("invalid simulator properties: {e}")))
    }

    async fn provision(&self, spec: Spec) -> infrakit_spi::Result<InstanceId> {
        self.ready().await;
        let provision_delay = self.state().knobs.provision_delay.0;
        pause(provision_delay).await;
        let control = Control::read(spec.properties.as_ref());
        pause(control.delay()).await;

        let mut state = self.state();
        let State { knobs, failures, store } = &mut *state;
        if let Some(token) = spec.tags.get(PROVISION_TOKEN_TAG) {
            let mut made_by = Tags::from([(SIMULATOR_TAG.to_owned(), self.shared.plugin.clone())]);
            made_by.insert(PROVISION_TOKEN_TAG.to_owned(), token.clone());
            made_by.extend(spec.tags.get(GROUP_TAG).map(|group| (GROUP_TAG.to_owned(), group.clone())));
            if let Some(id) = store.first_live(&made_by) {
                debug!(object = %self.shared.name, id, "provision asked again: the instance exists");
                return Ok(InstanceId(id.to_string()));
            }
        }
        // Drawn on every provision, so that the sequence of outcomes depends only on the seed and
        // the number of provisions, not on which of them hit a cap.
        let fails = failures.random_bool(knobs.failure_rate.get());
        let live = store.live_count() as u64;
        let caps = [knobs.capacity.map(|c| c as u64), control.cap()];
        if let Some(cap) = caps.into_iter().flatten().filter(|&cap| live >= cap).min() {
            return Err(Error::unavailable(format!("at capacity {cap}")));
        }
        if fails {
            return Err(Error::failed(format!("simulated provision failure in {}", self.shared.name)));
        }

        let Spec { properties, mut tags, logical_id, .. } = spec;
        tags.insert(SIMULATOR_TAG.to_owned(), self.shared.plugin.clone());
        let id = next_id();
        let visible_from = Instant::now() + knobs.describe_lag.0;
        store.insert(id, NewInstance { tags, logical_id, properties, visible_from });
        debug!(object = %self.shared.name, id, "provisioned simulated instance");
        Ok(InstanceId(id.to_string()))
    }

    async fn label(&self, id: &InstanceId, labels: &Tags) -> infrakit_spi::Result<()> {
        self.ready().await;
        let labelled = parse_id(id).is_some_and(|key| self.state().store.label(key, labels));
        if labelled { Ok(()) } else { Err(Self::not_found(id)) }
    }

    async fn destroy(&self, id: &InstanceId, _context: DestroyContext) -> infrakit_spi::Result<()> {
        self.ready().await;
        let destroy_delay = self.state().knobs.destroy_delay.0;
        pause(destroy_delay).await;
        let mut state = self.state();
        let lag = state.knobs.describe_lag.0;
        let destroyed = parse_id(id).is_some_and(|key| state.store.destroy(key, Instant::now(), lag));
        if destroyed { Ok(()) } else { Err(Self::not_found(id)) }
    }

    async fn describe_instances(&self, tags: &Tags, properties: bool) -> infrakit_spi::Result<Vec<Description>> {
        self.ready().await;
        let describe_delay = self.state().knobs.describe_delay.0;
        pause(describe_delay).await;
        // As in the original, an object lists only what this plugin made.
        let mut query = tags.clone();
        query.insert(SIMULATOR_TAG.to_owned(), self.shared.plugin.clone());
        Ok(self.state().store.describe(&query, Instant::now(), properties))
    }

    /// A repeat of a provision token finds the instance, listed yet or not.
    async fn promises(&self) -> infrakit_spi::Result<Promises> {
        Ok(Promises { idempotent_provision: true })
    }
}

/// Sleeps for `delay` unless it is zero, so that the common undelayed call touches no timer.
async fn pause(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

/// The store key of an ID. IDs not written as this simulator writes them (plain decimal, no
/// sign or leading zero) were never handed out.
fn parse_id(id: &InstanceId) -> Option<u64> {
    let text = id.as_str();
    let canonical = text.bytes().all(|b| b.is_ascii_digit()) && (text == "0" || !text.starts_with('0'));
    if canonical { text.parse().ok() } else { None }
}
