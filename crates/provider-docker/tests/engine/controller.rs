//! The group controller in process on the docker plugin, and how the tests watch a group.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use infrakit_group::{GroupController, Options};
use infrakit_provider_docker::{DockerHealth, DockerOptions, DockerPlugin};
use infrakit_spi::changes::ChangeStream;
use infrakit_spi::flavor::FlavorPlugin;
use infrakit_spi::group::{GroupDescription, GroupId, GroupPlugin};
use infrakit_spi::instance::{Description, DestroyContext, InstanceId, InstancePlugin, Spec};
use infrakit_spi::lookup::PluginLookup;
use infrakit_spi::types::{PluginName, Tags};
use infrakit_spi::{Error, Result};
use serde_json::Value;

/// How often the tests look at a group.
const LOOK_EVERY: Duration = Duration::from_millis(20);

/// The docker plugin, counting provisions, and its health flavor, as `docker`.
pub struct Engine {
    plugin: DockerPlugin,
    provisions: AtomicUsize,
}

impl Engine {
    /// Provisions asked of the plugin so far.
    pub fn provisions(&self) -> usize {
        self.provisions.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl InstancePlugin for Engine {
    async fn validate(&self, properties: Option<&Value>) -> Result<()> {
        self.plugin.validate(properties).await
    }
    async fn provision(&self, spec: Spec) -> Result<InstanceId> {
        self.provisions.fetch_add(1, Ordering::SeqCst);
        self.plugin.provision(spec).await
    }
    async fn label(&self, id: &InstanceId, labels: &Tags) -> Result<()> {
        self.plugin.label(id, labels).await
    }
    async fn destroy(&self, id: &InstanceId, context: DestroyContext) -> Result<()> {
        self.plugin.destroy(id, context).await
    }
    async fn describe_instances(&self, tags: &Tags, properties: bool) -> Result<Vec<Description>> {
        self.plugin.describe_instances(tags, properties).await
    }
    fn changes(&self) -> Option<ChangeStream> {
        self.plugin.changes()
    }
}

struct Lookup(Arc<Engine>);

impl PluginLookup for Lookup {
    fn instance(&self, name: &PluginName) -> Result<Arc<dyn InstancePlugin>> {
        match name.to_string().as_str() {
            "docker" => Ok(self.0.clone()),
            other => Err(Error::not_found(format!("no plugin {other}"))),
        }
    }
    fn flavor(&self, name: &PluginName) -> Result<Arc<dyn FlavorPlugin>> {
        match name.to_string().as_str() {
            "docker" => Ok(Arc::new(DockerHealth)),
            other => Err(Error::not_found(format!("no plugin {other}"))),
        }
    }
    fn group(&self, name: &PluginName) -> Result<Arc<dyn GroupPlugin>> {
        Err(Error::not_found(format!("no plugin {name}")))
    }
}

/// A group controller polling every `poll`, on the machine's engine.
pub async fn controller(poll: Duration) -> (GroupController, Arc<Engine>) {
    controller_on(DockerOptions::default(), poll).await
}

/// A group controller polling every `poll`, on the engine `options` name.
pub async fn controller_on(options: DockerOptions, poll: Duration) -> (GroupController, Arc<Engine>) {
    let plugin = DockerPlugin::connect(options).await.expect("the docker engine runs here");
    let engine = Arc::new(Engine { plugin, provisions: AtomicUsize::new(0) });
    let options = Options { poll_interval: poll, ..Options::default() };
    (GroupController::new(Arc::new(Lookup(engine.clone())), options), engine)
}

/// Looks at the group until `done`, at most `within`; returns the description and when. A group
/// that cannot be described (its engine is away) is not done.
pub async fn until(
    c: &GroupController,
    group: &str,
    within: Duration,
    mut done: impl FnMut(&GroupDescription) -> bool,
) -> (GroupDescription, Duration) {
    let start = Instant::now();
    let id = GroupId::from(group);
    loop {
        match c.describe_group(&id).await {
            Ok(d) if done(&d) => return (d, start.elapsed()),
            seen => assert!(start.elapsed() < within, "{group} not there within {within:?}: {seen:#?}"),
        }
        tokio::time::sleep(LOOK_EVERY).await;
    }
}

/// Whether the group has `n` members, all running.
pub fn running(d: &GroupDescription, n: usize) -> bool {
    d.instances.len() == n && d.instances.iter().all(|i| i.properties.as_ref().is_some_and(|p| p["State"] == "running"))
}
