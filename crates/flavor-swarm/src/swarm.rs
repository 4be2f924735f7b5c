//! What the flavor asks of a swarm, and its implementation on an engine's API.
//!
//! The flavor needs little: whether an engine manages a swarm, the swarm's ID and join tokens,
//! its nodes (all, or those with an engine label), and to demote, drain and remove a node.
//! [`SwarmApi`] says so, so that the flavor's decisions can be tested with a scripted swarm;
//! [`EngineSwarm`] is the real one, over an engine's HTTP API (bollard).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use bollard::Docker;
use bollard::models::{NodeSpecAvailabilityEnum, NodeSpecRoleEnum, NodeState, Reachability, TaskState};
use bollard::query_parameters::{DeleteNodeOptions, ListNodesOptions, ListTasksOptions, UpdateNodeOptions};

/// How long a call to an engine may take. A manager's engine can be slow to answer while the
/// swarm elects a new leader; an address where no engine runs fails at once (refused, or
/// unreachable once ARP gives up), whatever this is.
const ENGINE_TIMEOUT_SECS: u64 = 10;

/// Why the swarm could not be asked.
#[derive(Debug, thiserror::Error)]
#[error("{doing}: {source}")]
pub struct SwarmError {
    /// What was being done, with which engine.
    pub doing: String,
    /// No engine runs at the address: the connection was refused or the host is unreachable
    /// (as opposed to an engine that failed or was too slow to answer).
    pub nothing_there: bool,
    /// The engine's error.
    #[source]
    pub source: bollard::errors::Error,
}

impl SwarmError {
    fn new(doing: String, source: bollard::errors::Error) -> Self {
        // Refused or unreachable; or something that is not an engine (a proxy that answers
        // for addresses of a network not created yet) saying the API's path does not exist.
        let nothing_there = match &source {
            bollard::errors::Error::HyperLegacyError { err } => err.is_connect(),
            bollard::errors::Error::DockerResponseServerError { status_code: 404, .. } => true,
            _ => false,
        };
        Self { doing, nothing_there, source }
    }
}

/// A node's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeRole {
    /// A manager.
    Manager,
    /// A worker.
    Worker,
}

/// What the flavor knows of a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// The swarm's ID of the node.
    pub id: String,
    /// Its spec's version, which an update must name.
    pub version: u64,
    /// Its role.
    pub role: NodeRole,
    /// True when the node is ready (its state is `ready`).
    pub ready: bool,
    /// True when it is a manager the others reach.
    pub reachable: bool,
    /// True when it leads the swarm's managers.
    pub leader: bool,
    /// Its manager address (`ip:2377`), for managers.
    pub manager_addr: Option<String>,
    /// Its engine's labels.
    pub engine_labels: BTreeMap<String, String>,
}

/// The swarm as one of its managers sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwarmState {
    /// The swarm's ID.
    pub cluster_id: String,
    /// The worker's join token.
    pub worker_token: String,
    /// The manager's join token.
    pub manager_token: String,
    /// Its nodes.
    pub nodes: Vec<Node>,
}

/// What the flavor asks of a swarm, through one engine.
#[async_trait]
pub trait SwarmApi: Send + Sync {
    /// The swarm as this engine sees it, when the engine is a manager of one; `None` when it is
    /// not in a swarm or not a manager.
    async fn state(&self) -> Result<Option<SwarmState>, SwarmError>;

    /// The nodes whose engine has the label `label` (`key=value`).
    async fn nodes_labelled(&self, label: &str) -> Result<Vec<Node>, SwarmError>;

    /// Makes a manager a worker.
    async fn demote(&self, node: &Node) -> Result<(), SwarmError>;

    /// Stops giving the node tasks and moves its tasks elsewhere.
    async fn drain(&self, node: &Node) -> Result<(), SwarmError>;

    /// How many tasks are still to move off `node`: those meant to run on it, and those meant
    /// to run anywhere that are not running yet (its tasks' replacements starting elsewhere).
    async fn tasks_moving(&self, node: &Node) -> Result<usize, SwarmError>;

    /// Removes the node from the swarm.
    async fn remove(&self, node: &Node) -> Result<(), SwarmError>;
}

/// A swarm reached through an engine's API.
#[derive(Debug, Clone)]
pub struct EngineSwarm {
    address: String,
    docker: Docker,
}

impl EngineSwarm {
    /// The engine at `address` (`tcp://host:port`, `http://...` or `unix:///path`).
    pub fn connect(address: &str) -> Result<Self, SwarmError> {
        let doing = || format!("cannot reach the engine at {address}");
        let docker = match address.strip_prefix("unix://") {
            Some(path) => Docker::connect_with_unix(path, ENGINE_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION),
            None => Docker::connect_with_http(address, ENGINE_TIMEOUT_SECS, bollard::API_DEFAULT_VERSION),
        }
        .map_err(|source| SwarmError::new(doing(), source))?;
        Ok(Self { address: address.to_owned(), docker })
    }

    fn error<'a>(&'a self, doing: &'a str) -> impl FnOnce(bollard::errors::Error) -> SwarmError + 'a {
        move |source| SwarmError::new(format!("{doing} at {}", self.address), source)
    }

    async fn list(&self, filters: Option<HashMap<String, Vec<String>>>) -> Result<Vec<Node>, SwarmError> {
        let nodes = self
            .docker
            .list_nodes(Some(ListNodesOptions { filters }))
            .await
            .map_err(self.error("cannot list the swarm's nodes"))?;
        Ok(nodes.into_iter().map(node).collect())
    }

    async fn update(&self, node: &Node, change: impl FnOnce(&mut bollard::models::NodeSpec)) -> Result<(), SwarmError> {
        let current = self.docker.inspect_node(&node.id).await.map_err(self.error("cannot inspect a node"))?;
        let mut spec = current.spec.unwrap_or_default();
        change(&mut spec);
        let version = current.version.and_then(|v| v.index).unwrap_or(node.version);
        self.docker
            .update_node(&node.id, spec, UpdateNodeOptions { version: version as i64 })
            .await
            .map_err(self.error("cannot update a node"))
    }
}

#[async_trait]
impl SwarmApi for EngineSwarm {
    async fn state(&self) -> Result<Option<SwarmState>, SwarmError> {
        // Only a manager answers this; `/info` is avoided, as it can block while the swarm
        // elects a leader.
        let swarm = match self.docker.inspect_swarm().await {
            Ok(swarm) => swarm,
            Err(bollard::errors::Error::DockerResponseServerError { status_code: 503 | 406, .. }) => return Ok(None),
            Err(e) => return Err(self.error("cannot inspect the swarm")(e)),
        };
        let tokens = swarm.join_tokens.unwrap_or_default();
        Ok(Some(SwarmState {
            cluster_id: swarm.id.unwrap_or_default(),
            worker_token: tokens.worker.unwrap_or_default(),
            manager_token: tokens.manager.unwrap_or_default(),
            nodes: self.list(None).await?,
        }))
    }

    async fn nodes_labelled(&self, label: &str) -> Result<Vec<Node>, SwarmError> {
        self.list(Some(HashMap::from([("label".to_owned(), vec![label.to_owned()])]))).await
    }

    async fn demote(&self, node: &Node) -> Result<(), SwarmError> {
        self.update(node, |spec| spec.role = Some(NodeSpecRoleEnum::WORKER)).await
    }

    async fn drain(&self, node: &Node) -> Result<(), SwarmError> {
        self.update(node, |spec| spec.availability = Some(NodeSpecAvailabilityEnum::DRAIN)).await
    }

    async fn tasks_moving(&self, node: &Node) -> Result<usize, SwarmError> {
        let filters = HashMap::from([("desired-state".to_owned(), vec!["running".to_owned()])]);
        let tasks = self
            .docker
            .list_tasks(Some(ListTasksOptions { filters: Some(filters) }))
            .await
            .map_err(self.error("cannot list the swarm's tasks"))?;
        let moving = tasks.iter().filter(|task| {
            let running = task.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING);
            task.node_id.as_deref() == Some(node.id.as_str()) || !running
        });
        Ok(moving.count())
    }

    async fn remove(&self, node: &Node) -> Result<(), SwarmError> {
        self.docker
            .delete_node(&node.id, Some(DeleteNodeOptions { force: true }))
            .await
            .map_err(self.error("cannot remove a node"))
    }
}

fn node(node: bollard::models::Node) -> Node {
    let spec = node.spec.unwrap_or_default();
    let manager = node.manager_status.unwrap_or_default();
    Node {
        id: node.id.unwrap_or_default(),
        version: node.version.and_then(|v| v.index).unwrap_or_default(),
        role: match spec.role {
            Some(NodeSpecRoleEnum::MANAGER) => NodeRole::Manager,
            _ => NodeRole::Worker,
        },
        ready: node.status.and_then(|s| s.state) == Some(NodeState::READY),
        reachable: manager.reachability == Some(Reachability::REACHABLE),
        leader: manager.leader.unwrap_or(false),
        manager_addr: manager.addr,
        engine_labels: node
            .description
            .and_then(|d| d.engine)
            .and_then(|e| e.labels)
            .unwrap_or_default()
            .into_iter()
            .collect(),
    }
}
