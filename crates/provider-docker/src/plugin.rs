//! The `docker` instance plugin: each instance is a container on the local engine.
//!
//! Tags become container labels and the group finds its members by them; the instance ID is the
//! first 12 characters of the container ID and the logical ID is the container name, as in the
//! original. A container's labels cannot change after it is created, so [`InstancePlugin::label`]
//! keeps the added tags itself, in its labels file when it has one, and describe merges them in
//! (the original did not implement label at all).
//!
//! Describe asks the engine for the containers that carry the requested tags (and the namespace),
//! so a group's listing costs the same however many other containers the engine runs; only a tag
//! that `label` added to some container is matched by the plugin instead.
//!
//! The plugin follows the engine's event stream from the moment it connects (see `follow`), so
//! a killed container is reported through [`InstancePlugin::changes`] as soon as it dies.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{ContainerSummary, Ipam, IpamConfig, NetworkConnectRequest, NetworkCreateRequest};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, ListContainersOptions, RemoveContainerOptions,
};
use futures::StreamExt;
use infrakit_spi::changes::ChangeStream;
use infrakit_spi::duration::GoDuration;
use infrakit_spi::error::chain;
use infrakit_spi::group::GROUP_TAG;
use infrakit_spi::instance::{Description, DestroyContext, InstanceId, InstancePlugin, LogicalId, Spec};
use infrakit_spi::types::Tags;
use infrakit_spi::{Error, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

use crate::error::{Doing, EngineError};
use crate::follow::{Changes, follow};
use crate::init::run_init;
use crate::labels::AddedTags;
use crate::properties::{DockerProperties, NetworkAttachment};
use crate::{instance_id, with_labels};

/// The original's variable with labels that every container of this plugin carries and every
/// listing filters on, as `key=value,key=value`.
pub const NAMESPACE_ENV: &str = "INFRAKIT_DOCKER_NAMESPACE_TAGS";

/// How long Init may run before the provision fails: room for a package install, and a bound
/// on how long a hung script holds a provision.
const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(5 * 60);

/// The container states that count as instances, as the original lists them: a container that
/// exited is dead, whatever its restart policy may later do.
const LIVE_STATES: [&str; 2] = ["created", "running"];

/// Options of the `docker` plugin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DockerOptions {
    /// The engine's address (`unix:///var/run/docker.sock`, `tcp://host:2375`); none means
    /// `DOCKER_HOST` if it names a unix socket, else `/var/run/docker.sock`.
    pub host: Option<String>,
    /// Labels on every container, and the filter of every listing.
    pub namespace: Tags,
    /// How long a spec's Init may run.
    pub init_timeout: GoDuration,
    /// Where the tags added by `label` are kept across restarts of the plugin; none keeps them
    /// in memory only.
    pub labels_file: Option<PathBuf>,
}

impl Default for DockerOptions {
    fn default() -> Self {
        Self { host: None, namespace: Tags::new(), init_timeout: DEFAULT_INIT_TIMEOUT.into(), labels_file: None }
    }
}

impl DockerOptions {
    /// The defaults, with the namespace from [`NAMESPACE_ENV`].
    pub fn from_env() -> Result<Self> {
        let namespace = std::env::var(NAMESPACE_ENV).ok().map(|t| parse_tags(&t)).transpose()?.unwrap_or_default();
        Ok(Self { namespace, ..Self::default() })
    }

    /// The engine client these options name, before it agreed on an API version with the engine.
    fn client(&self) -> Result<Docker> {
        match &self.host {
            Some(host) => Docker::connect_with_host(host)
                .doing(|| format!("cannot configure a docker client for '{host}' (unix://, tcp:// or http://)")),
            None => Docker::connect_with_local_defaults().doing(|| "cannot configure the docker client".to_owned()),
        }
        .map_err(Error::from)
    }
}

/// `key=value,key=value` as tags.
fn parse_tags(text: &str) -> Result<Tags> {
    text.split(',')
        .filter(|pair| !pair.trim().is_empty())
        .map(|pair| match pair.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.trim().to_owned())),
            _ => Err(Error::invalid(format!("{NAMESPACE_ENV}: '{pair}' is not key=value"))),
        })
        .collect()
}

/// The `docker` instance plugin.
#[derive(Clone)]
pub struct DockerPlugin {
    inner: Arc<Inner>,
}

struct Inner {
    /// The client as configured, before it agreed on an API version with the engine.
    configured: Docker,
    /// The client at the API version the engine agreed to, once it has.
    negotiated: OnceCell<Docker>,
    namespace: Tags,
    init_timeout: Duration,
    /// Tags added by `label`: containers' own labels are fixed at creation.
    added: Arc<AddedTags>,
    changes: Changes,
    follower: JoinHandle<()>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.follower.abort();
    }
}

impl DockerPlugin {
    /// A plugin on the local engine (`DOCKER_HOST`, else `/var/run/docker.sock`) that is known
    /// to answer now.
    pub async fn connect(options: DockerOptions) -> Result<Self> {
        let plugin = Self::new(options)?;
        plugin.engine().await?;
        Ok(plugin)
    }

    /// A plugin on the engine the options name, which is first called when needed (an engine
    /// that is down now may be up by then); starts following its events. Needs a tokio runtime.
    /// Fails if the labels file cannot be read.
    pub fn new(options: DockerOptions) -> Result<Self> {
        let configured = options.client()?;
        let added = Arc::new(match &options.labels_file {
            Some(file) => AddedTags::load(file.clone())?,
            None => AddedTags::in_memory(),
        });
        let changes = Changes::new();
        let follower =
            tokio::spawn(follow(configured.clone(), options.namespace.clone(), changes.clone(), added.clone()));
        let inner = Inner {
            configured,
            negotiated: OnceCell::new(),
            namespace: options.namespace,
            init_timeout: options.init_timeout.0,
            added,
            changes,
            follower,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// The engine client, at the newest API version both sides speak (the engine may be older
    /// than the client library); agreed on the first call that succeeds.
    async fn engine(&self) -> Result<&Docker> {
        let inner = &self.inner;
        let docker = inner
            .negotiated
            .get_or_try_init(|| inner.configured.clone().negotiate_version())
            .await
            .doing(|| "cannot reach the docker engine".to_owned())?;
        Ok(docker)
    }

    /// Makes sure the engine has `image`, pulling it if not (as the original); says clearly when
    /// it cannot.
    async fn ensure_image(&self, image: &str) -> Result<()> {
        let docker = self.engine().await?;
        match docker.inspect_image(image).await {
            Ok(_) => return Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {}
            Err(e) => return Err(EngineError { doing: format!("cannot inspect image '{image}'"), source: e }.into()),
        }
        let options = CreateImageOptions { from_image: Some(image.to_owned()), ..Default::default() };
        let mut pull = docker.create_image(Some(options), None, None);
        while let Some(progress) = pull.next().await {
            if let Err(e) = progress {
                let why = match e {
                    bollard::errors::Error::DockerResponseServerError { message, .. } => message,
                    other => other.to_string(),
                };
                return Err(Error::failed(format!("image '{image}' is not on the engine and cannot be pulled: {why}")));
            }
        }
        Ok(())
    }

    /// Creates the container, reclaiming its name from a dead member of the same group (a pet
    /// that died keeps its name until removed).
    async fn create(&self, name: Option<&LogicalId>, properties: &DockerProperties, labels: &Tags) -> Result<String> {
        let docker = self.engine().await?;
        let options = CreateContainerOptions { name: name.map(ToString::to_string), ..Default::default() };
        let body = properties.create_body(labels, name.map(LogicalId::as_str));
        let doing = || format!("cannot create a container of image '{}'", properties.image());
        match docker.create_container(Some(options.clone()), body.clone()).await.doing(doing) {
            Ok(created) => Ok(created.id),
            Err(e) if e.status() == Some(409) && self.reclaim(name, labels).await? => {
                Ok(docker.create_container(Some(options), body).await.doing(doing)?.id)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Removes the stopped container called `name` if it belongs to the same group; true if it
    /// did.
    async fn reclaim(&self, name: Option<&LogicalId>, labels: &Tags) -> Result<bool> {
        let Some(name) = name else { return Ok(false) };
        let docker = self.engine().await?;
        let existing =
            docker.inspect_container(name.as_str(), None).await.doing(|| format!("cannot inspect {name}"))?;
        let running = existing.state.as_ref().and_then(|s| s.running).unwrap_or(false);
        let theirs = existing.config.as_ref().and_then(|c| c.labels.as_ref());
        let same_group = theirs.and_then(|l| l.get(GROUP_TAG)) == labels.get(GROUP_TAG);
        if running || !same_group {
            return Ok(false);
        }
        tracing::info!(container = %name, "removing the dead container that holds the name");
        self.remove(name.as_str()).await?;
        Ok(true)
    }

    /// Starts the container, connects the networks it did not start on and runs Init.
    async fn start(&self, container: &str, properties: &DockerProperties, spec: &Spec) -> Result<()> {
        let docker = self.engine().await?;
        let logical_id = spec.logical_id.as_ref().map(LogicalId::as_str);
        let others =
            properties.network_attachments.iter().filter(|n| Some(n.name.as_str()) != properties.network_mode());
        for network in others {
            let request = NetworkConnectRequest {
                container: container.to_owned(),
                endpoint_config: network.endpoint(logical_id),
            };
            docker
                .connect_network(&network.name, request)
                .await
                .doing(|| format!("cannot connect container {container} to network '{}'", network.name))?;
        }
        docker.start_container(container, None).await.doing(|| format!("cannot start container {container}"))?;
        if !spec.init.is_empty() {
            run_init(docker, container, &spec.init, self.inner.init_timeout)
                .await
                .map_err(|e| Error::failed(format!("container {container} removed: {}", chain(&e))))?;
        }
        Ok(())
    }

    async fn ensure_network(&self, network: &NetworkAttachment) -> Result<()> {
        let docker = self.engine().await?;
        let name = &network.name;
        match docker.inspect_network(name, None).await {
            Ok(_) => Ok(()),
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
                let subnet = (!network.subnet.is_empty()).then(|| Ipam {
                    config: Some(vec![IpamConfig { subnet: Some(network.subnet.clone()), ..Default::default() }]),
                    ..Default::default()
                });
                let request = NetworkCreateRequest {
                    name: name.to_owned(),
                    driver: (!network.driver.is_empty()).then(|| network.driver.clone()),
                    attachable: Some(true),
                    ipam: subnet,
                    ..Default::default()
                };
                docker.create_network(request).await.doing(|| format!("cannot create network '{name}'"))?;
                Ok(())
            }
            Err(e) => Err(EngineError { doing: format!("cannot inspect network '{name}'"), source: e }.into()),
        }
    }

    async fn remove(&self, container: &str) -> Result<()> {
        let options = RemoveContainerOptions { force: true, v: true, ..Default::default() };
        self.engine()
            .await?
            .remove_container(container, Some(options))
            .await
            .doing(|| format!("cannot remove container {container}"))?;
        Ok(())
    }

    /// The description of a listed container, tags merged with those added by `label`.
    fn describe(&self, container: ContainerSummary, properties: bool) -> Description {
        let id = instance_id(container.id.as_deref().unwrap_or_default());
        let mut tags: Tags = container.labels.clone().unwrap_or_default().into_iter().collect();
        tags.extend(self.inner.added.of(&id).unwrap_or_default());
        let name = container.names.iter().flatten().next().map(|n| n.trim_start_matches('/').to_owned());
        let properties = properties.then(|| {
            let status = container.status.clone().unwrap_or_default();
            json!({
                "Id": container.id,
                "Name": name,
                "Image": container.image,
                "State": container.state.map(|s| s.to_string()),
                "Status": status,
                "Health": health_of(&status),
            })
        });
        Description { id, logical_id: name.map(LogicalId), tags, properties }
    }
}

/// The HEALTHCHECK status in a listing's status text (`Up 3 minutes (unhealthy)`): the engine
/// this plugin targets (API 1.41) lists no health field.
fn health_of(status: &str) -> Option<&'static str> {
    if status.ends_with("(healthy)") {
        Some("healthy")
    } else if status.ends_with("(unhealthy)") {
        Some("unhealthy")
    } else if status.ends_with("(health: starting)") {
        Some("starting")
    } else {
        None
    }
}

#[async_trait]
impl InstancePlugin for DockerPlugin {
    async fn validate(&self, properties: Option<&Value>) -> Result<()> {
        DockerProperties::parse(properties).map(drop)
    }

    async fn provision(&self, spec: Spec) -> Result<InstanceId> {
        let properties = DockerProperties::parse(spec.properties.as_ref())?;
        let mut labels = properties.tags.clone();
        labels.extend(spec.tags.clone());
        labels.extend(self.inner.namespace.clone());
        self.ensure_image(properties.image()).await?;
        for network in &properties.network_attachments {
            self.ensure_network(network).await?;
        }
        let container = self.create(spec.logical_id.as_ref(), &properties, &labels).await?;
        if let Err(e) = self.start(&container, &properties, &spec).await {
            // Nothing half-made stays behind: the group would not count it, and would make another.
            if let Err(removing) = self.remove(&container).await {
                tracing::warn!(%container, error = %removing, "cannot remove a container that failed to start");
            }
            return Err(e);
        }
        let id = instance_id(&container);
        tracing::info!(instance = %id, image = properties.image(), "container running");
        Ok(id)
    }

    async fn label(&self, id: &InstanceId, labels: &Tags) -> Result<()> {
        let container =
            self.engine().await?.inspect_container(id.as_str(), None).await.doing(|| format!("cannot label {id}"))?;
        // Added tags are kept by the short ID, as describe names the container.
        let id = instance_id(container.id.as_deref().unwrap_or(id.as_str()));
        self.inner.added.add(&id, labels).await
    }

    async fn destroy(&self, id: &InstanceId, _context: DestroyContext) -> Result<()> {
        self.remove(id.as_str()).await?;
        self.inner.added.forget(id).await
    }

    async fn describe_instances(&self, tags: &Tags, properties: bool) -> Result<Vec<Description>> {
        // The engine matches a container's own labels; a key that `label` added to some container
        // may match through the added tags, so the plugin matches those keys itself.
        let added_keys = self.inner.added.keys();
        let by_engine = tags.iter().filter(|(k, _)| !added_keys.contains(*k));
        let live = HashMap::from([("status".to_owned(), LIVE_STATES.map(str::to_owned).to_vec())]);
        let filters = with_labels(live, self.inner.namespace.iter().chain(by_engine));
        let options = ListContainersOptions { all: true, filters: Some(filters), ..Default::default() };
        let listed =
            self.engine().await?.list_containers(Some(options)).await.doing(|| "cannot list containers".into())?;
        let changes = &self.inner.changes;
        Ok(listed
            .into_iter()
            .map(|container| self.describe(container, properties))
            .filter(|d| !changes.is_dead(&d.id))
            .filter(|d| tags.iter().all(|(k, v)| d.tags.get(k) == Some(v)))
            .collect())
    }

    fn changes(&self) -> Option<ChangeStream> {
        Some(self.inner.changes.stream())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_read_as_key_value_pairs() {
        let tags = parse_tags("a=1, b = 2,").unwrap();
        assert_eq!(tags, Tags::from([("a".to_owned(), "1".to_owned()), ("b".to_owned(), "2".to_owned())]));
        assert!(parse_tags("a").is_err());
    }

    #[test]
    fn health_is_read_from_the_status_text() {
        assert_eq!(health_of("Up 2 seconds (healthy)"), Some("healthy"));
        assert_eq!(health_of("Up 2 minutes (unhealthy)"), Some("unhealthy"));
        assert_eq!(health_of("Up 1 second (health: starting)"), Some("starting"));
        assert_eq!(health_of("Up 1 second"), None);
    }
}
