//! The swarm flavor: `Validate`, `Prepare`, `Healthy` and `Drain` of managers and workers.
//!
//! Every question goes to the engine at `Docker.Host` first, then to the engines of the managers
//! the flavor has seen (their manager address with `Docker.Host`'s scheme and port) and, when
//! preparing a manager, to those its group's logical IDs name, so that the flavor keeps working
//! while the node at `Docker.Host` is down or being replaced. A manager
//! replaced under its logical ID (its address) would otherwise leave its dead predecessor in
//! the swarm's manager list, counting against the quorum: `Prepare` demotes and removes it first.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use async_trait::async_trait;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use infrakit_spi::flavor::{FlavorPlugin, Health};
use infrakit_spi::group::{AllocationMethod, Index};
use infrakit_spi::instance::{Description, Spec};
use infrakit_spi::{Error, Result};
use infrakit_template::Engine;
use serde_json::{Value, json};
use tracing::{info, warn};

use crate::link::Link;
use crate::properties::SwarmProperties;
use crate::script::{self, MANAGER_INIT, ScriptContext, WORKER_INIT};
use crate::swarm::{EngineSwarm, Node, NodeRole, SwarmApi, SwarmError, SwarmState};

/// The tag naming the swarm an instance belongs to, as the original wrote it.
pub const SWARM_ID_TAG: &str = "swarm-id";

/// How long `Prepare` waits for a swarm to join (its first manager starting) before failing.
pub const SWARM_WAIT: Duration = Duration::from_secs(60);

/// How often `Prepare` asks again while it waits for a swarm, and `Drain` for tasks to move.
const SWARM_POLL: Duration = Duration::from_millis(500);

/// How long `Drain` waits for a node's tasks to move before removing it anyway.
const TASKS_WAIT: Duration = Duration::from_secs(60);

/// Which members a flavor makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Managers: an odd number of pets, the first of which may initialise the swarm.
    Manager,
    /// Workers.
    Worker,
}

impl Role {
    /// The role's name, as in the link's context and the plugin's object names.
    pub fn name(self) -> &'static str {
        match self {
            Self::Manager => "manager",
            Self::Worker => "worker",
        }
    }
}

/// Opens a swarm through the engine at an address.
pub type Connect = Arc<dyn Fn(&str) -> std::result::Result<Arc<dyn SwarmApi>, SwarmError> + Send + Sync>;

/// The swarm flavor of one role.
#[derive(Clone)]
pub struct SwarmFlavor {
    role: Role,
    templates: Engine,
    connect: Connect,
    /// The engine addresses of the managers seen last, asked when `Docker.Host` does not answer.
    managers: Arc<Mutex<Vec<String>>>,
}

impl std::fmt::Debug for SwarmFlavor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SwarmFlavor").field("role", &self.role).finish_non_exhaustive()
    }
}

impl SwarmFlavor {
    /// A flavor of `role` reaching engines over their API, rendering with `templates`.
    pub fn new(role: Role, templates: Engine) -> Self {
        let connect: Connect = Arc::new(|address| Ok(Arc::new(EngineSwarm::connect(address)?) as Arc<dyn SwarmApi>));
        Self::with_connect(role, templates, connect)
    }

    /// A flavor of `role` reaching swarms through `connect`.
    pub fn with_connect(role: Role, templates: Engine, connect: Connect) -> Self {
        Self { role, templates, connect, managers: Arc::default() }
    }

    /// The engines to ask, in order: `Docker.Host`, the managers seen last, then the engines at
    /// `peers` (addresses).
    fn candidates(&self, properties: &SwarmProperties, peers: &[String]) -> Vec<String> {
        let host = &properties.docker.host;
        let remembered = self.managers.lock().unwrap_or_else(PoisonError::into_inner).clone();
        let named = peers.iter().filter_map(|peer| engine_address(host, &format!("{peer}:0")));
        let mut candidates = vec![host.clone()];
        for address in remembered.into_iter().chain(named) {
            if !candidates.contains(&address) {
                candidates.push(address);
            }
        }
        candidates
    }

    /// The swarm as the first manager that answers sees it, with that manager's engine. The
    /// engines are asked at once: while the swarm elects a leader they can take seconds each.
    async fn survey(&self, properties: &SwarmProperties, peers: &[String]) -> Survey {
        let mut asking: FuturesUnordered<_> = self
            .candidates(properties, peers)
            .into_iter()
            .map(|address| async move {
                let api = (self.connect)(&address)?;
                let state = api.state().await?;
                Ok::<_, SwarmError>((address, state.map(|state| (api, state))))
            })
            .collect();
        let mut unknown = None;
        while let Some(asked) = asking.next().await {
            match asked {
                Ok((_, Some((api, state)))) => {
                    self.remember_managers(&properties.docker.host, &state);
                    return Survey::Found(api, state);
                }
                Ok((address, None)) => info!(engine = %address, "the engine manages no swarm"),
                Err(e) if e.nothing_there => info!(error = %e, "no engine answers"),
                Err(e) => {
                    warn!(error = %e, "cannot ask an engine of the swarm");
                    unknown = Some(e.to_string());
                }
            }
        }
        unknown.map_or(Survey::NoSwarm, Survey::Unknown)
    }

    fn remember_managers(&self, host: &str, state: &SwarmState) {
        let addresses = state
            .nodes
            .iter()
            .filter_map(|n| n.manager_addr.as_deref())
            .filter_map(|addr| engine_address(host, addr))
            .collect();
        *self.managers.lock().unwrap_or_else(PoisonError::into_inner) = addresses;
    }

    /// The node linked to `instance`, and the engine that found it; `Ok(None)` when the swarm
    /// has no such node, an error when no engine answered.
    async fn linked(&self, properties: &SwarmProperties, link: &Link) -> Result<Option<(Arc<dyn SwarmApi>, Node)>> {
        let filter = link.filter();
        let mut asking: FuturesUnordered<_> = self
            .candidates(properties, &[])
            .into_iter()
            .map(|address| {
                let filter = filter.clone();
                async move {
                    let api = (self.connect)(&address)?;
                    let nodes = api.nodes_labelled(&filter).await?;
                    Ok::<_, SwarmError>((api, nodes))
                }
            })
            .collect();
        let mut last = None;
        while let Some(asked) = asking.next().await {
            match asked {
                Ok((api, nodes)) => {
                    if nodes.len() > 1 {
                        warn!(link = %link.value, count = nodes.len(), "more than one node carries a link");
                    }
                    return Ok(nodes.into_iter().next().map(|node| (api, node)));
                }
                Err(e) => last = Some(e),
            }
        }
        let why = last.map_or_else(|| "no engine to ask".to_owned(), |e| e.to_string());
        Err(Error::unavailable(format!("cannot ask the swarm: {why}")))
    }

    /// Demotes and removes the dead managers that held `address`, the member being replaced.
    async fn remove_predecessors(&self, api: &dyn SwarmApi, state: &SwarmState, address: &str) -> Result<()> {
        let dead = state.nodes.iter().filter(|n| {
            n.role == NodeRole::Manager && !n.ready && n.manager_addr.as_deref().and_then(host_of) == Some(address)
        });
        for node in dead {
            info!(node = %node.id, %address, "removing the dead manager this member replaces");
            api.demote(node).await.map_err(|e| Error::failed(e.to_string()))?;
            api.remove(node).await.map_err(|e| Error::failed(e.to_string()))?;
        }
        Ok(())
    }
}

impl SwarmFlavor {
    /// What the init script of `member` is rendered from.
    fn context(
        properties: &SwarmProperties,
        member: &Member<'_>,
        link: &Link,
        swarm: Option<SwarmState>,
    ) -> ScriptContext {
        let Member { raw, spec, allocation, index } = *member;
        let logical_id = spec.logical_id.as_ref().map(|id| id.as_str().to_owned()).unwrap_or_default();
        let mut labels: Vec<String> = properties.engine_labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        labels.extend(link.labels().iter().map(|(k, v)| format!("{k}={v}")));
        ScriptContext {
            properties: raw.cloned().unwrap_or(Value::Null),
            logical_id: logical_id.clone(),
            allocation: serde_json::to_value(allocation).unwrap_or(Value::Null),
            index: json!({"Group": index.group, "Sequence": index.sequence}),
            labels,
            link: link.clone(),
            swarm,
            member: json!({"LogicalID": logical_id, "Group": index.group, "Index": index.sequence, "Tags": spec.tags}),
        }
    }

    /// Renders the init script on a blocking thread (templates may read files or the network).
    async fn render(&self, properties: &SwarmProperties, context: ScriptContext) -> Result<String> {
        let (templates, url) = (self.templates.clone(), properties.init_script_template_url.clone());
        let builtin = if self.role == Role::Manager { MANAGER_INIT } else { WORKER_INIT };
        tokio::task::spawn_blocking(move || script::render(&templates, &url, builtin, &context))
            .await
            .map_err(|e| Error::failed(format!("rendering the init script stopped: {e}")))?
            .map_err(|e| Error::unavailable(e.to_string()))
    }
}

/// What the engines said of the swarm.
enum Survey {
    /// A manager answered, with the swarm as it sees it.
    Found(Arc<dyn SwarmApi>, SwarmState),
    /// Every engine answered, or nothing runs where they would: no swarm.
    NoSwarm,
    /// Some engine did not answer (why): there may be a swarm.
    Unknown(String),
}

/// The member being prepared, as `Prepare` is given it.
#[derive(Clone, Copy)]
struct Member<'a> {
    raw: Option<&'a Value>,
    spec: &'a Spec,
    allocation: &'a AllocationMethod,
    index: &'a Index,
}

/// The host of `ip:port`.
fn host_of(addr: &str) -> Option<&str> {
    addr.rsplit_once(':').map(|(host, _)| host)
}

/// The engine address of a manager at `manager_addr` (`ip:2377`): `Docker.Host` with its host
/// replaced.
fn engine_address(docker_host: &str, manager_addr: &str) -> Option<String> {
    let (scheme, rest) = docker_host.split_once("://")?;
    if scheme == "unix" {
        return None;
    }
    let port = rest.trim_end_matches('/').rsplit_once(':').map(|(_, port)| port)?;
    Some(format!("{scheme}://{}:{port}", host_of(manager_addr)?))
}

#[async_trait]
impl FlavorPlugin for SwarmFlavor {
    async fn validate(&self, properties: Option<&Value>, allocation: &AllocationMethod) -> Result<()> {
        let properties = SwarmProperties::parse(properties)?;
        properties.validate_attachments(allocation)?;
        if self.role == Role::Manager && allocation.logical_ids.len().is_multiple_of(2) {
            return Err(Error::invalid("must have odd number for quorum"));
        }
        Ok(())
    }

    async fn prepare(
        &self,
        raw: Option<&Value>,
        mut spec: Spec,
        allocation: &AllocationMethod,
        index: &Index,
    ) -> Result<Spec> {
        let properties = SwarmProperties::parse(raw)?;
        let logical_id = spec.logical_id.as_ref().map(|id| id.as_str().to_owned()).unwrap_or_default();
        let peers: Vec<String> = match self.role {
            Role::Manager => allocation.logical_ids.iter().map(|id| id.as_str().to_owned()).collect(),
            Role::Worker => Vec::new(),
        };
        let deadline = Instant::now() + SWARM_WAIT;
        let (script, cluster, link) = loop {
            let swarm = match self.survey(&properties, &peers).await {
                Survey::Found(api, state) => {
                    if self.role == Role::Manager && !logical_id.is_empty() {
                        self.remove_predecessors(api.as_ref(), &state, &logical_id).await?;
                    }
                    Some(state)
                }
                Survey::NoSwarm => None,
                // An engine that did not answer may manage the swarm: deciding now could
                // initialise a second one.
                Survey::Unknown(why) if Instant::now() < deadline => {
                    info!(%why, "waiting for the swarm's managers to answer");
                    tokio::time::sleep(SWARM_POLL).await;
                    continue;
                }
                Survey::Unknown(why) => {
                    return Err(Error::unavailable(format!("cannot tell whether the swarm exists: {why}")));
                }
            };
            let found = swarm.is_some();
            let cluster = swarm.as_ref().map_or_else(|| "?".to_owned(), |s| s.cluster_id.clone());
            let link = Link::new(&cluster, self.role.name());
            let member = Member { raw, spec: &spec, allocation, index };
            let context = Self::context(&properties, &member, &link, swarm);
            match self.render(&properties, context).await {
                Ok(script) => break (script, cluster, link),
                // Without a swarm the template may well need one (to join it): the first
                // manager is probably starting; ask again, as the original did, for a while.
                Err(e) if !found && Instant::now() < deadline => {
                    info!(error = %e, "waiting for the swarm to be initialised");
                    tokio::time::sleep(SWARM_POLL).await;
                }
                Err(e) => return Err(e),
            }
        };
        spec.init = script;
        spec.attachments.extend(properties.attachments_of(spec.logical_id.as_ref().map(|id| id.as_str())));
        spec.tags.insert(SWARM_ID_TAG.to_owned(), cluster);
        spec.tags.extend(link.labels());
        Ok(spec)
    }

    async fn healthy(&self, properties: Option<&Value>, instance: &Description) -> Result<Health> {
        let properties = SwarmProperties::parse(properties)?;
        let tags = instance.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let Some(link) = Link::from_tags(&tags) else {
            info!(instance = %instance.id, "unhealthy: the instance has no link to a swarm node");
            return Ok(Health::Unhealthy);
        };
        let Some((_, node)) = self.linked(&properties, &link).await? else { return Ok(Health::Unknown) };
        let healthy = node.ready && (node.role == NodeRole::Worker || node.reachable);
        Ok(if healthy { Health::Healthy } else { Health::Unhealthy })
    }

    async fn drain(&self, properties: Option<&Value>, instance: &Description) -> Result<()> {
        let properties = SwarmProperties::parse(properties)?;
        let tags = instance.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let link = Link::from_tags(&tags)
            .ok_or_else(|| Error::invalid(format!("Unable to drain {} without an association tag", instance.id)))?;
        let Some((api, node)) = self.linked(&properties, &link).await? else {
            warn!(instance = %instance.id, "nothing to drain: no swarm node is linked to the instance");
            return Ok(());
        };
        let failed = |e: SwarmError| Error::failed(e.to_string());
        if node.role == NodeRole::Manager {
            api.demote(&node).await.map_err(failed)?;
        }
        api.drain(&node).await.map_err(failed)?;
        // The node's tasks are running elsewhere before it goes, so that a service loses at most
        // the replicas of one node at a time, and only while the swarm moves them.
        let deadline = Instant::now() + TASKS_WAIT;
        loop {
            let left = api.tasks_moving(&node).await.map_err(failed)?;
            if left == 0 {
                break;
            }
            if Instant::now() >= deadline {
                warn!(node = %node.id, tasks = left, "removing a node although tasks did not settle within {TASKS_WAIT:?}");
                break;
            }
            tokio::time::sleep(SWARM_POLL).await;
        }
        api.remove(&node).await.map_err(failed)?;
        info!(instance = %instance.id, node = %node.id, "drained and removed from the swarm");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};

    use infrakit_spi::group::GroupId;
    use infrakit_spi::instance::{InstanceId, LogicalId};

    use super::*;

    /// A scripted swarm: which engines answer, what the managers see, what was asked of it.
    #[derive(Default)]
    struct World {
        /// Addresses where no engine runs.
        down: BTreeSet<String>,
        /// Engines that do not answer in time.
        slow: BTreeSet<String>,
        /// The answers of `tasks_on`, last first.
        tasks: Vec<usize>,
        state: Option<SwarmState>,
        calls: Vec<String>,
    }

    struct Scripted {
        address: String,
        world: Arc<Mutex<World>>,
    }

    fn unreachable(address: &str, nothing_there: bool) -> SwarmError {
        let source = bollard::errors::Error::RequestTimeoutError;
        SwarmError { doing: format!("cannot ask {address}"), nothing_there, source }
    }

    impl World {
        fn answer(&self, address: &str) -> std::result::Result<(), SwarmError> {
            match (self.down.contains(address), self.slow.contains(address)) {
                (true, _) => Err(unreachable(address, true)),
                (_, true) => Err(unreachable(address, false)),
                _ => Ok(()),
            }
        }
    }

    #[async_trait]
    impl SwarmApi for Scripted {
        async fn state(&self) -> std::result::Result<Option<SwarmState>, SwarmError> {
            let mut world = self.world.lock().unwrap();
            world.calls.push(format!("state {}", self.address));
            world.answer(&self.address)?;
            Ok(world.state.clone())
        }
        async fn nodes_labelled(&self, label: &str) -> std::result::Result<Vec<Node>, SwarmError> {
            let world = self.world.lock().unwrap();
            world.answer(&self.address)?;
            let (key, value) = label.split_once('=').unwrap();
            let nodes = world.state.iter().flat_map(|s| &s.nodes);
            Ok(nodes.filter(|n| n.engine_labels.get(key).map(String::as_str) == Some(value)).cloned().collect())
        }
        async fn demote(&self, node: &Node) -> std::result::Result<(), SwarmError> {
            self.world.lock().unwrap().calls.push(format!("demote {}", node.id));
            Ok(())
        }
        async fn drain(&self, node: &Node) -> std::result::Result<(), SwarmError> {
            self.world.lock().unwrap().calls.push(format!("drain {}", node.id));
            Ok(())
        }
        async fn tasks_moving(&self, node: &Node) -> std::result::Result<usize, SwarmError> {
            let mut world = self.world.lock().unwrap();
            world.calls.push(format!("tasks {}", node.id));
            Ok(world.tasks.pop().unwrap_or(0))
        }
        async fn remove(&self, node: &Node) -> std::result::Result<(), SwarmError> {
            self.world.lock().unwrap().calls.push(format!("remove {}", node.id));
            Ok(())
        }
    }

    fn flavor(role: Role, world: &Arc<Mutex<World>>) -> SwarmFlavor {
        let world = world.clone();
        let connect: Connect =
            Arc::new(move |address| Ok(Arc::new(Scripted { address: address.to_owned(), world: world.clone() }) as _));
        SwarmFlavor::with_connect(role, Engine::default(), connect)
    }

    fn properties() -> Value {
        json!({"SwarmJoinIP": "10.0.0.11", "Docker": {"Host": "tcp://10.0.0.11:2375"}, "EngineLabels": {"zone": "a"}})
    }

    fn manager(ip: &str, ready: bool, leader: bool, link: &str) -> Node {
        Node {
            id: format!("node-{ip}"),
            version: 1,
            role: NodeRole::Manager,
            ready,
            reachable: ready,
            leader,
            manager_addr: Some(format!("{ip}:2377")),
            engine_labels: BTreeMap::from([("infrakit-link".to_owned(), link.to_owned())]),
        }
    }

    fn swarm(nodes: Vec<Node>) -> SwarmState {
        SwarmState { cluster_id: "c1".into(), worker_token: "SWMTKN-w".into(), manager_token: "SWMTKN-m".into(), nodes }
    }

    fn pets(ids: &[&str]) -> AllocationMethod {
        AllocationMethod {
            logical_ids: ids.iter().map(|id| LogicalId((*id).to_owned())).collect(),
            ..Default::default()
        }
    }

    async fn prepare(flavor: &SwarmFlavor, logical_id: Option<&str>) -> Result<Spec> {
        let spec = Spec { logical_id: logical_id.map(|id| LogicalId(id.to_owned())), ..Spec::default() };
        let index = Index { group: GroupId("g".into()), sequence: 0 };
        flavor.prepare(Some(&properties()), spec, &pets(&["10.0.0.11", "10.0.0.12", "10.0.0.13"]), &index).await
    }

    #[tokio::test]
    async fn managers_need_an_odd_number_of_logical_ids() {
        let world = Arc::default();
        let managers = flavor(Role::Manager, &world);
        let error = managers.validate(Some(&properties()), &pets(&["a", "b"])).await.unwrap_err();
        assert_eq!(error.to_string(), "must have odd number for quorum");
        managers.validate(Some(&properties()), &pets(&["a", "b", "c"])).await.unwrap();
        flavor(Role::Worker, &world).validate(Some(&properties()), &AllocationMethod::default()).await.unwrap();
    }

    #[tokio::test]
    async fn the_first_manager_initialises_the_swarm() {
        let world = Arc::new(Mutex::new(World {
            down: BTreeSet::from(["tcp://10.0.0.11:2375".to_owned()]),
            ..World::default()
        }));
        let first = prepare(&flavor(Role::Manager, &world), Some("10.0.0.11")).await.unwrap();
        assert!(first.init.contains("docker swarm init --advertise-addr 10.0.0.11"), "{}", first.init);
        assert_eq!(first.tags[SWARM_ID_TAG], "?");
        let link = Link::from_tags(&first.tags).unwrap();
        assert!(
            first.init.contains(&format!("infrakit-link={}", link.value)),
            "the engine gets the link: {}",
            first.init
        );
        assert!(first.init.contains("zone=a"), "and the EngineLabels");
    }

    #[tokio::test(start_paused = true)]
    async fn a_manager_that_does_not_answer_may_hold_the_swarm_so_nothing_is_initialised() {
        let world = Arc::new(Mutex::new(World {
            down: BTreeSet::from(["tcp://10.0.0.11:2375".to_owned()]),
            slow: BTreeSet::from(["tcp://10.0.0.12:2375".to_owned()]),
            ..World::default()
        }));
        let error = prepare(&flavor(Role::Manager, &world), Some("10.0.0.11")).await.unwrap_err();
        assert!(error.to_string().contains("cannot tell whether the swarm exists"), "{error}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_joining_member_waits_for_the_swarm_then_gives_up() {
        let world = Arc::new(Mutex::new(World::default()));
        let workers = flavor(Role::Worker, &world);
        let started = tokio::time::Instant::now();
        let error = prepare(&workers, None).await.unwrap_err();
        let message = error.to_string();
        assert!(matches!(error, Error::Unavailable(_)) && message.contains("is the swarm initialised"), "{message}");
        assert!(started.elapsed() >= SWARM_WAIT, "it waited {:?}", started.elapsed());

        let later = world.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            later.lock().unwrap().state = Some(swarm(vec![manager("10.0.0.11", true, true, "l1")]));
        });
        let started = tokio::time::Instant::now();
        let joined = prepare(&workers, None).await.unwrap();
        assert!(joined.init.contains("SWMTKN-w"), "{}", joined.init);
        assert!(started.elapsed() < Duration::from_secs(7), "joined once the swarm was there: {:?}", started.elapsed());
    }

    #[tokio::test]
    async fn members_join_at_the_leader_through_any_manager_that_answers() {
        let nodes = vec![manager("10.0.0.11", true, false, "l1"), manager("10.0.0.12", true, true, "l2")];
        let world = Arc::new(Mutex::new(World { state: Some(swarm(nodes)), ..World::default() }));
        let workers = flavor(Role::Worker, &world);
        let worker = prepare(&workers, None).await.unwrap();
        assert!(worker.init.contains("docker swarm join --token SWMTKN-w 10.0.0.12:2377"), "{}", worker.init);
        assert_eq!(worker.tags[SWARM_ID_TAG], "c1");
        assert!(worker.tags["infrakit-link-context"].ends_with("::worker"));

        world.lock().unwrap().down.insert("tcp://10.0.0.11:2375".to_owned());
        world.lock().unwrap().calls.clear();
        let again = prepare(&workers, None).await.unwrap();
        assert!(again.init.contains("SWMTKN-w"), "asked a manager it had seen: {}", again.init);
        assert!(world.lock().unwrap().calls.contains(&"state tcp://10.0.0.12:2375".to_owned()));

        let second = prepare(&flavor(Role::Manager, &world), Some("10.0.0.13")).await.unwrap();
        assert!(second.init.contains("--advertise-addr 10.0.0.13 --token SWMTKN-m 10.0.0.12:2377"), "{}", second.init);
    }

    #[tokio::test]
    async fn a_replaced_manager_takes_its_dead_predecessor_out_of_the_swarm() {
        let nodes = vec![manager("10.0.0.11", false, false, "old"), manager("10.0.0.12", true, true, "l2")];
        let world = Arc::new(Mutex::new(World { state: Some(swarm(nodes)), ..World::default() }));
        let replacement = prepare(&flavor(Role::Manager, &world), Some("10.0.0.11")).await.unwrap();
        assert!(replacement.init.contains("docker swarm join"), "the swarm exists: join it, not a new one");
        let calls = world.lock().unwrap().calls.clone();
        let changes: Vec<_> = calls.iter().filter(|c| !c.starts_with("state")).collect();
        assert_eq!(changes, ["demote node-10.0.0.11", "remove node-10.0.0.11"]);
    }

    fn instance(link: Option<&str>) -> Description {
        let mut tags = BTreeMap::new();
        if let Some(link) = link {
            tags.insert("infrakit-link".to_owned(), link.to_owned());
        }
        Description { id: InstanceId("i".into()), logical_id: None, tags: tags.into_iter().collect(), properties: None }
    }

    #[tokio::test]
    async fn health_is_the_linked_nodes() {
        let nodes = vec![manager("10.0.0.11", true, true, "up"), manager("10.0.0.12", false, false, "down")];
        let world = Arc::new(Mutex::new(World { state: Some(swarm(nodes)), ..World::default() }));
        let managers = flavor(Role::Manager, &world);
        let health = |link| {
            let managers = managers.clone();
            async move { managers.healthy(Some(&properties()), &instance(link)).await.unwrap() }
        };
        assert_eq!(health(Some("up")).await, Health::Healthy);
        assert_eq!(health(Some("down")).await, Health::Unhealthy, "a manager that is not ready or reachable");
        assert_eq!(health(Some("absent")).await, Health::Unknown, "not joined yet");
        assert_eq!(health(None).await, Health::Unhealthy, "no link");
        world.lock().unwrap().down.insert("tcp://10.0.0.11:2375".to_owned());
        let error = managers.healthy(Some(&properties()), &instance(Some("up"))).await.unwrap_err();
        assert!(matches!(error, Error::Unavailable(_)), "no engine answered: {error}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_drained_manager_is_demoted_first_and_a_node_goes_once_its_tasks_moved() {
        let mut worker = manager("10.0.0.14", true, false, "w");
        worker.role = NodeRole::Worker;
        let nodes = vec![manager("10.0.0.11", true, true, "m"), worker];
        // The manager's two tasks move after two looks; the worker has none.
        let world = Arc::new(Mutex::new(World { state: Some(swarm(nodes)), tasks: vec![0, 1, 2], ..World::default() }));
        flavor(Role::Manager, &world).drain(Some(&properties()), &instance(Some("m"))).await.unwrap();
        flavor(Role::Worker, &world).drain(Some(&properties()), &instance(Some("w"))).await.unwrap();
        flavor(Role::Worker, &world).drain(Some(&properties()), &instance(Some("gone"))).await.unwrap();
        assert_eq!(
            world.lock().unwrap().calls,
            [
                "demote node-10.0.0.11",
                "drain node-10.0.0.11",
                "tasks node-10.0.0.11",
                "tasks node-10.0.0.11",
                "tasks node-10.0.0.11",
                "remove node-10.0.0.11",
                "drain node-10.0.0.14",
                "tasks node-10.0.0.14",
                "remove node-10.0.0.14"
            ]
        );
    }
}
