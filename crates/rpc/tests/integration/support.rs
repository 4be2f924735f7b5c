//! What the integration tests share: plugins that keep their state in memory (and can show it,
//! so a test can prove a bad request changed nothing), a harness that serves a plugin on a real
//! unix socket in a temporary directory, and raw HTTP for requests no well-behaved client sends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use infrakit_rpc::{Client, PluginServer, ServeError};
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::group::{
    AllocationMethod, GroupDescription, GroupId, GroupPlugin, GroupSpec, Index, RolloutState, RolloutStatus,
};
use infrakit_spi::instance::{Description, DestroyContext, InstanceId, InstancePlugin, Spec};
use infrakit_spi::types::Tags;
use infrakit_spi::{Error, Result};
use serde_json::Value;
use tokio::net::UnixStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Locks a test mutex; a poisoned one means another assertion already failed.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An instance plugin holding its instances in memory. Properties `{"fail": "why"}` make
/// `validate` fail with that message; an init of `fail` makes `provision` fail.
#[derive(Default)]
pub struct MemoryInstances {
    state: Mutex<InstanceState>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct InstanceState {
    pub next_id: u64,
    pub instances: BTreeMap<InstanceId, Description>,
    pub destroyed: Vec<(InstanceId, DestroyContext)>,
    pub validated: Vec<Option<Value>>,
}

impl MemoryInstances {
    pub fn state(&self) -> InstanceState {
        lock(&self.state).clone()
    }
}

#[async_trait]
impl InstancePlugin for MemoryInstances {
    async fn validate(&self, properties: Option<&Value>) -> Result<()> {
        if let Some(why) = properties.and_then(|p| p.get("fail")).and_then(Value::as_str) {
            return Err(Error::invalid(why));
        }
        lock(&self.state).validated.push(properties.cloned());
        Ok(())
    }

    async fn provision(&self, spec: Spec) -> Result<InstanceId> {
        if spec.init == "fail" {
            return Err(Error::failed("provision failed: the backend said no"));
        }
        let mut state = lock(&self.state);
        state.next_id += 1;
        let id = InstanceId(format!("inst-{}", state.next_id));
        let description =
            Description { id: id.clone(), logical_id: spec.logical_id, tags: spec.tags, properties: spec.properties };
        state.instances.insert(id.clone(), description);
        Ok(id)
    }

    async fn label(&self, id: &InstanceId, labels: &Tags) -> Result<()> {
        let mut state = lock(&self.state);
        let instance =
            state.instances.get_mut(id).ok_or_else(|| Error::not_found(format!("instance {id} not found")))?;
        instance.tags.extend(labels.clone());
        Ok(())
    }

    async fn destroy(&self, id: &InstanceId, context: DestroyContext) -> Result<()> {
        let mut state = lock(&self.state);
        state.instances.remove(id).ok_or_else(|| Error::not_found(format!("instance {id} not found")))?;
        state.destroyed.push((id.clone(), context));
        Ok(())
    }

    async fn describe_instances(&self, tags: &Tags, properties: bool) -> Result<Vec<Description>> {
        let state = lock(&self.state);
        Ok(state
            .instances
            .values()
            .filter(|d| tags.iter().all(|(k, v)| d.tags.get(k) == Some(v)))
            .map(|d| Description { properties: if properties { d.properties.clone() } else { None }, ..d.clone() })
            .collect())
    }
}

/// A flavor that tags what it prepares, judges members by their `health` tag and records
/// drains. A zero allocation is invalid.
#[derive(Default)]
pub struct TaggingFlavor {
    pub drained: Mutex<Vec<(Option<Value>, Description)>>,
}

#[async_trait]
impl FlavorPlugin for TaggingFlavor {
    async fn validate(&self, _properties: Option<&Value>, allocation: &AllocationMethod) -> Result<()> {
        if allocation.size == 0 && allocation.logical_ids.is_empty() {
            return Err(Error::invalid("Allocation must not be blank"));
        }
        Ok(())
    }

    async fn prepare(
        &self,
        properties: Option<&Value>,
        mut spec: Spec,
        allocation: &AllocationMethod,
        index: &Index,
    ) -> Result<Spec> {
        spec.tags.insert("flavor".into(), "tagging".into());
        spec.tags.insert("sequence".into(), index.sequence.to_string());
        spec.tags.insert("group".into(), index.group.to_string());
        spec.tags.insert("size".into(), allocation.size.to_string());
        if let Some(init) = properties.and_then(|p| p.get("Init")).and_then(Value::as_str) {
            spec.init = init.to_owned();
        }
        Ok(spec)
    }

    async fn healthy(&self, _properties: Option<&Value>, instance: &Description) -> Result<Health> {
        Ok(match instance.tags.get("health").map(String::as_str) {
            Some("ok") => Health::Healthy,
            Some("bad") => Health::Unhealthy,
            _ => Health::Unknown,
        })
    }

    async fn drain(&self, properties: Option<&Value>, instance: &Description) -> Result<()> {
        lock(&self.drained).push((properties.cloned(), instance.clone()));
        Ok(())
    }
}

/// A group plugin that remembers committed specs and sizes, with the original controller's
/// messages for unknown groups.
#[derive(Default)]
pub struct MemoryGroups {
    state: Mutex<GroupState>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct GroupState {
    pub specs: BTreeMap<GroupId, GroupSpec>,
    pub paused: Vec<GroupId>,
    pub sizes: BTreeMap<GroupId, u64>,
    pub destroyed_instances: Vec<(GroupId, Vec<InstanceId>)>,
}

impl MemoryGroups {
    pub fn state(&self) -> GroupState {
        lock(&self.state).clone()
    }

    fn watched(state: &GroupState, id: &GroupId) -> Result<()> {
        if state.specs.contains_key(id) {
            Ok(())
        } else {
            Err(Error::not_found(format!("Group '{id}' is not being watched")))
        }
    }
}

#[async_trait]
impl GroupPlugin for MemoryGroups {
    async fn commit_group(&self, spec: GroupSpec, pretend: bool) -> Result<String> {
        if spec.id.as_str().is_empty() {
            return Err(Error::invalid("Group ID must not be blank"));
        }
        let size = spec.properties.as_ref().and_then(|p| p["Allocation"]["Size"].as_u64()).unwrap_or_default();
        if !pretend {
            let mut state = lock(&self.state);
            state.sizes.insert(spec.id.clone(), size);
            state.specs.insert(spec.id.clone(), spec);
        }
        Ok(format!("Managing {size} instances"))
    }

    async fn free_group(&self, id: &GroupId) -> Result<()> {
        let mut state = lock(&self.state);
        Self::watched(&state, id)?;
        state.specs.remove(id);
        Ok(())
    }

    async fn describe_group(&self, id: &GroupId) -> Result<GroupDescription> {
        let state = lock(&self.state);
        Self::watched(&state, id)?;
        let instances = (0..state.sizes[id])
            .map(|i| Description { id: InstanceId(format!("{id}-{i}")), ..Description::default() })
            .collect();
        Ok(GroupDescription { instances, converged: true, ..GroupDescription::default() })
    }

    async fn destroy_group(&self, id: &GroupId) -> Result<()> {
        let mut state = lock(&self.state);
        Self::watched(&state, id)?;
        state.specs.remove(id);
        state.sizes.remove(id);
        Ok(())
    }

    async fn inspect_groups(&self) -> Result<Vec<GroupSpec>> {
        Ok(lock(&self.state).specs.values().cloned().collect())
    }

    async fn destroy_instances(&self, id: &GroupId, instances: &[InstanceId]) -> Result<()> {
        let mut state = lock(&self.state);
        Self::watched(&state, id)?;
        state.destroyed_instances.push((id.clone(), instances.to_vec()));
        Ok(())
    }

    async fn size(&self, id: &GroupId) -> Result<u64> {
        let state = lock(&self.state);
        Self::watched(&state, id)?;
        Ok(state.sizes[id])
    }

    async fn set_size(&self, id: &GroupId, size: u64) -> Result<()> {
        let mut state = lock(&self.state);
        Self::watched(&state, id)?;
        state.sizes.insert(id.clone(), size);
        Ok(())
    }

    async fn pause_rollout(&self, id: &GroupId) -> Result<RolloutStatus> {
        let mut state = lock(&self.state);
        Self::watched(&state, id)?;
        state.paused.push(id.clone());
        Ok(RolloutStatus {
            state: RolloutState::Paused,
            reason: Some("paused by an operator".into()),
            ..Default::default()
        })
    }
}

/// One of each memory plugin, served together.
#[derive(Clone, Default)]
pub struct Plugins {
    pub instances: Arc<MemoryInstances>,
    pub computes: Arc<MemoryInstances>,
    pub flavor: Arc<TaggingFlavor>,
    pub groups: Arc<MemoryGroups>,
    pub workers: Arc<MemoryGroups>,
}

impl Plugins {
    /// A server of: the default instance object and `compute`, the default flavor, and the
    /// default group object and `workers`.
    pub fn server(&self, name: &str) -> PluginServer {
        PluginServer::new(name)
            .instance("", self.instances.clone())
            .instance("compute", self.computes.clone())
            .flavor("", self.flavor.clone())
            .group("", self.groups.clone())
            .group("workers", self.workers.clone())
    }

    /// Everything the plugins hold, to compare before and after.
    pub fn snapshot(&self) -> String {
        format!(
            "{:?}{:?}{:?}{:?}{:?}",
            self.instances.state(),
            self.computes.state(),
            lock(&self.flavor.drained),
            self.groups.state(),
            self.workers.state()
        )
    }
}

/// A plugin served on a real socket in its own temporary directory.
pub struct Running {
    pub dir: tempfile::TempDir,
    pub socket: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::result::Result<(), ServeError>>>,
}

impl Running {
    /// Binds in a fresh directory and serves in the background.
    pub async fn start(server: PluginServer) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("plugins");
        let (socket, stop, task) = serve_in(&path, server).await.expect("bind");
        Self { dir, socket, stop: Some(stop), task: Some(task) }
    }

    /// The plugins directory.
    pub fn plugins_dir(&self) -> PathBuf {
        self.dir.path().join("plugins")
    }

    /// A client of this plugin.
    pub fn client(&self) -> Client {
        Client::unix(&self.socket)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        self.stop_server().await;
    }

    /// Stops the server and waits for it, keeping the directory.
    pub async fn stop_server(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("serve");
        }
    }
}

/// Binds `server` in `dir` and serves it in the background until the sender fires.
pub async fn serve_in(
    dir: &Path,
    server: PluginServer,
) -> std::result::Result<(PathBuf, oneshot::Sender<()>, JoinHandle<std::result::Result<(), ServeError>>), ServeError> {
    let bound = server.bind(dir).await?;
    let socket = bound.socket_path().to_owned();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(bound.serve(async move {
        let _ = stopped.await;
    }));
    Ok((socket, stop, task))
}

/// A raw HTTP response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl RawResponse {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends one request over a fresh connection, exactly as given.
pub async fn raw(socket: &Path, method: &str, path: &str, content_type: Option<&str>, body: Vec<u8>) -> RawResponse {
    let stream = UnixStream::connect(socket).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(connection);
    let mut request = Request::builder().method(method).uri(path).header("host", "rpc");
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response =
        sender.send_request(request.body(Full::new(Bytes::from(body))).expect("request")).await.expect("send");
    let (parts, body) = response.into_parts();
    RawResponse { status: parts.status, headers: parts.headers, body: body.collect().await.expect("body").to_bytes() }
}

/// `POST /` with a JSON body.
pub async fn post(socket: &Path, body: &str) -> RawResponse {
    raw(socket, "POST", "/", Some("application/json"), body.as_bytes().to_vec()).await
}
