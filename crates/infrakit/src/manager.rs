//! The manager as this binary runs it: the home lock, the spec store (embedded, or etcd for a
//! cluster of managers), a group controller with a file journal, and the `Manager` service,
//! assembled once for `plugin start manager` and for `infrakit up`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use infrakit_group::GroupController;
use infrakit_manager::leader::{DEFAULT_LEASE_TTL, EtcdLeadership};
use infrakit_manager::{EmbeddedStore, EtcdStore, HomeLock, Leadership, Manager, ManagerService, SingleNode, Store};
use infrakit_rpc::{EventBus, plugins_dir};
use infrakit_spi::duration::GoDuration;

use crate::kinds::{controller_options, forward_events, group_controller};
use crate::registry::{Objects, Registry};

/// The object name of all the manager's groups (`<socket>/groups`, as the original). The manager
/// is also the default object (`<socket>`) and, as the original's, an object per group it
/// manages (`<socket>/<gid>`).
const GROUPS_OBJECT: &str = "groups";
/// Where a cluster of managers keeps its keys in etcd.
const ETCD_PREFIX: &str = "infrakit/";
/// The election key; its create revision fences every write.
const ETCD_LEADER_KEY: &str = "infrakit/leader";

/// The environment variables of the store flags of `up` and `plugin start` (see `StoreArgs`).
pub const STORE_ENV: &str = "INFRAKIT_MANAGER_STORE";
pub const ETCD_ENDPOINTS_ENV: &str = "INFRAKIT_ETCD_ENDPOINTS";
pub const LEASE_TTL_ENV: &str = "INFRAKIT_MANAGER_LEASE_TTL";
pub const ADVERTISE_ENV: &str = "INFRAKIT_ADVERTISE";

/// Where specs are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreChoice {
    /// A redb file under the home folder; this manager is the only one.
    Embedded,
    /// etcd, shared with other managers; leadership by election.
    Etcd { endpoints: Vec<String>, lease_ttl: Duration },
}

impl StoreChoice {
    /// From `--store`/`--etcd-endpoints`/`--lease-ttl` values or their environment variables.
    pub fn new(store: Option<&str>, endpoints: Option<&str>, lease_ttl: Option<&str>) -> Result<Self> {
        match store.unwrap_or("embedded") {
            "embedded" => Ok(Self::Embedded),
            "etcd" => {
                let endpoints: Vec<String> =
                    endpoints.unwrap_or_default().split(',').filter(|e| !e.is_empty()).map(str::to_owned).collect();
                if endpoints.is_empty() {
                    bail!("the etcd store needs endpoints: --etcd-endpoints or {ETCD_ENDPOINTS_ENV}");
                }
                let lease_ttl = match lease_ttl.filter(|t| !t.is_empty()) {
                    Some(text) => text.parse::<GoDuration>().context("invalid lease TTL")?.0,
                    None => DEFAULT_LEASE_TTL,
                };
                if lease_ttl < Duration::from_secs(1) {
                    bail!("the lease TTL must be at least 1s (etcd counts leases in seconds)");
                }
                Ok(Self::Etcd { endpoints, lease_ttl })
            }
            other => bail!("unknown store '{other}': embedded or etcd"),
        }
    }
}

/// Where the manager keeps its specs under the home folder.
pub fn store_path(home: &Path) -> PathBuf {
    home.join("manager").join("specs.redb")
}

/// A running manager and the controller it drives.
pub struct Assembled {
    pub manager: Manager,
    pub controller: GroupController,
    pub objects: Objects,
}

/// Locks `home` and builds the manager served as `name`. The lock is held, and leadership
/// followed, until the process exits.
pub async fn assemble(name: &str, home: &Path, choice: &StoreChoice, registry: &Arc<Registry>) -> Result<Assembled> {
    let lock = HomeLock::acquire(home)?;
    let location = std::env::var(ADVERTISE_ENV)
        .ok()
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| format!("unix://{}", plugins_dir().join(name).display()));
    let (store, leadership): (Arc<dyn Store>, Box<dyn Leadership>) = match choice {
        StoreChoice::Embedded => {
            let store = EmbeddedStore::open(&store_path(home)).context("cannot open the manager's spec store")?;
            (Arc::new(store), Box::new(SingleNode::new()))
        }
        StoreChoice::Etcd { endpoints, lease_ttl } => {
            let client = infrakit_etcd::Client::new(endpoints, infrakit_etcd::ClientOptions::default())
                .context("invalid etcd endpoints")?;
            let store = EtcdStore::new(client.clone(), ETCD_PREFIX, ETCD_LEADER_KEY);
            let leadership = EtcdLeadership::start(client, ETCD_LEADER_KEY.to_owned(), location.clone(), *lease_ttl);
            (Arc::new(store), Box::new(leadership))
        }
    };
    let mut options = controller_options(home, name)?;
    options.authority = leadership.authority();
    let controller = group_controller(registry.clone(), options).await?;
    let manager = Manager::new(store, Arc::new(controller.clone()), leadership.as_ref(), Some(location));
    let following = manager.clone();
    tokio::spawn(async move {
        // The lock and the leadership live as long as this task, which follows the leadership
        // until the process ends.
        let _held = (lock, leadership);
        following.follow().await;
    });
    let bus = EventBus::new();
    tokio::spawn(forward_events(controller.subscribe(), bus.clone()));
    let objects = Objects {
        groups: vec![(String::new(), Arc::new(manager.clone())), (GROUPS_OBJECT.to_owned(), Arc::new(manager.clone()))],
        groups_as_objects: Some(Arc::new(manager.clone())),
        services: vec![Arc::new(ManagerService::new(manager.clone()))],
        events: Some(bus),
        ..Objects::default()
    };
    Ok(Assembled { manager, controller, objects })
}

/// Serves remote access to the plugins folder on `listen` in the background, with the home's
/// token, forwarding to `manager`'s leader while it follows.
pub async fn remote_access(
    listen: &str,
    home: &Path,
    tls: Option<&infrakit_remote::TlsFiles>,
    manager: Manager,
) -> Result<()> {
    let token = infrakit_remote::token(home)?;
    infrakit_remote::serve(listen, token, tls, plugins_dir(), Arc::new(Roles(manager))).await?;
    Ok(())
}

/// The manager's roles as the remote-access mux routes by them; the mux knows nothing else of it.
struct Roles(Manager);

impl infrakit_remote::Cluster for Roles {
    fn is_leader(&self) -> bool {
        self.0.is_leader()
    }

    fn leader_location(&self) -> Option<String> {
        self.0.leader_location()
    }

    fn location(&self) -> Option<String> {
        self.0.location().map(str::to_owned)
    }
}
